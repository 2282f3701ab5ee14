//! Wiring of the node agent: the local agent inside `runlet server`, and `runlet agent` on another machine with
//! its HTTPS endpoint that serves container logs to the API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use runlet_agent::ShimCommand;
use runlet_agent::node::{AgentConfig, Capacity, LogEndpoint, NodeAgent};
use runlet_apiserver::ApiError;
use runlet_apiserver::negotiate::Query;
use serde_json::Value;

/// The pod limit a node advertises by default.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// The small executable built next to `runlet` that only supervises containers.
pub const SHIM_EXECUTABLE: &str = "runlet-shim";

/// What supervises each container: `runlet-shim` next to the `runlet` executable when it was built from the same
/// sources, else the `runlet` binary itself re-executed as `runlet shim ...` (`cargo run --bin runlet` builds only
/// `runlet`). Both run the same code; `runlet-shim` is a few megabytes instead of the whole server, so one is
/// started and relocated per container in a fraction of the time (see BENCHMARKS.md).
pub fn shim_command() -> anyhow::Result<ShimCommand> {
    let runlet = std::env::current_exe().context("locating the runlet binary for the container shim")?;
    let fallback = ShimCommand { program: runlet.clone(), args: vec!["shim".into()] };
    let Some(sibling) = runlet.parent().map(|dir| dir.join(SHIM_EXECUTABLE)) else { return Ok(fallback) };
    if !sibling.is_file() {
        return Ok(fallback);
    }
    let small = ShimCommand { program: sibling, args: Vec::new() };
    match small.is_this_build() {
        Ok(true) => Ok(small),
        Ok(false) => {
            tracing::warn!(
                shim = %small.program.display(),
                "{SHIM_EXECUTABLE} was built from other sources than this runlet; containers are supervised by \
                 `runlet shim` instead (slower to start; build both with `cargo build --release`)"
            );
            Ok(fallback)
        }
        Err(e) => {
            tracing::warn!(shim = %small.program.display(), error = %e, "cannot use {SHIM_EXECUTABLE}; using `runlet shim`");
            Ok(fallback)
        }
    }
}

/// This machine's host name, the default node name.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.to_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "runlet-node".into())
}

/// How pods run on a node, from the flags `runlet server` and `runlet agent` share.
#[derive(clap::Args, Clone, Debug)]
pub struct PodFlags {
    /// Run pods as plain host processes even where a sandbox is possible (what a node without root gets).
    #[arg(long)]
    pub no_sandbox: bool,
    /// Largest size of a container log file before it is rotated (bytes; the kubelet's containerLogMaxSize).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub container_log_max_size: u64,
    /// Log files kept per container run, the current one included (the kubelet's containerLogMaxFiles).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub container_log_max_files: u32,
    /// How often volumes from ConfigMaps and Secrets are brought up to date while pods run (the kubelet's
    /// syncFrequency), e.g. `1m`, `10s`
    #[arg(long, default_value = "1m", value_parser = parse_period)]
    pub sync_frequency: std::time::Duration,
    /// The runtime handler of pods that name no RuntimeClass: `process` (the command runs on the host) or
    /// `oci` (the image is pulled and run)
    #[arg(long, default_value = "process", value_parser = ["process", "oci"])]
    pub default_runtime_handler: String,
    /// A registry (`host:port`) to pull from over plain HTTP; loopback registries always are (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
}

/// A positive duration such as `1m`, `90s` or `1m30s`.
fn parse_period(text: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = text.parse().map_err(|e| format!("{text:?} is not a duration: {e}"))?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?}: the sync frequency must be positive"))
}

impl Default for PodFlags {
    fn default() -> Self {
        let limits = runlet_agent::runtime::logfile::LogLimits::default();
        PodFlags {
            no_sandbox: false,
            container_log_max_size: limits.max_size,
            container_log_max_files: limits.max_files,
            sync_frequency: runlet_agent::worker::DEFAULT_SYNC_PERIOD,
            default_runtime_handler: "process".to_string(),
            insecure_registries: Vec::new(),
        }
    }
}

pub fn agent_config(
    node_name: String,
    root: PathBuf,
    max_pods: u32,
    allow_host_path: bool,
    flags: &PodFlags,
    hidden: Vec<PathBuf>,
) -> anyhow::Result<AgentConfig> {
    Ok(AgentConfig {
        node_name,
        root,
        shim: shim_command()?,
        capacity: Capacity::of_this_machine(max_pods),
        allow_host_path,
        log_endpoint: None,
        sandbox: !flags.no_sandbox,
        hidden,
        log_limits: runlet_agent::runtime::logfile::LogLimits {
            max_size: flags.container_log_max_size,
            max_files: flags.container_log_max_files,
        },
        sync_period: flags.sync_frequency,
        default_handler: flags.default_runtime_handler.clone(),
        insecure_registries: flags.insecure_registries.clone(),
    })
}

/// Options of `runlet agent`.
pub struct AgentArgs {
    pub kubeconfig: PathBuf,
    pub node_name: Option<String>,
    pub dir: PathBuf,
    pub max_pods: u32,
    /// Where to serve container logs to the API server.
    pub listen: SocketAddr,
    /// The address the API server reaches this agent at [default: the listen address, or 127.0.0.1].
    pub address: Option<String>,
    pub pods: PodFlags,
}

/// The bearer token of a kubeconfig's first user (the agent accepts the server's own token for log requests).
fn kubeconfig_token(text: &str) -> anyhow::Result<String> {
    let v: Value = serde_saphyr::from_str(text).context("parsing the kubeconfig")?;
    v.pointer("/users/0/user/token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .context("the kubeconfig has no user token")
}

/// `runlet agent`: a node agent on this machine for the server named by the kubeconfig.
pub fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let text = std::fs::read_to_string(&args.kubeconfig)
            .with_context(|| format!("reading {}", args.kubeconfig.display()))?;
        let token = kubeconfig_token(&text)?;
        let kc = kube::config::Kubeconfig::from_yaml(&text).context("parsing the kubeconfig")?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("using the kubeconfig")?;
        let client = kube::Client::try_from(config).context("building the API client")?;
        let name = args.node_name.clone().unwrap_or_else(host_name);

        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let bound = listener.local_addr()?;
        let address = match (&args.address, bound.ip().is_unspecified()) {
            (Some(a), _) => a.clone(),
            (None, false) => bound.ip().to_string(),
            (None, true) => anyhow::bail!(
                "--listen {} accepts connections on every address; also pass --address with the one the server should use",
                args.listen
            ),
        };
        // A fresh self-signed certificate each start; its fingerprint goes on the Node for the server to pin.
        let cert = rcgen::generate_simple_self_signed(vec![address.clone(), "localhost".into()])
            .context("generating the log endpoint certificate")?;
        let pki = runlet_apiserver::pki::Pki {
            ca_pem: cert.cert.pem(),
            cert_pem: cert.cert.pem(),
            key_pem: cert.signing_key.serialize_pem(),
            token: token.clone(),
        };
        let endpoint = LogEndpoint {
            address: address.clone(),
            port: bound.port(),
            cert_sha256: crate::logs::sha256_hex(cert.cert.der()),
        };
        // The kubeconfig holds the server's token: no pod may read it.
        let hidden = vec![std::fs::canonicalize(&args.kubeconfig).unwrap_or_else(|_| args.kubeconfig.clone())];
        let mut config = agent_config(name, args.dir.clone(), args.max_pods, false, &args.pods, hidden)?;
        config.log_endpoint = Some(endpoint);
        let agent = NodeAgent::start(client.clone(), config).await?;
        let router = axum::Router::new()
            .route("/containerLogs/{ns}/{pod}/{container}", axum::routing::get(serve_log))
            .with_state(LogState { client, agent: agent.clone() });
        let router = runlet_apiserver::server::require_bearer_token(router, &token);
        let tls = runlet_apiserver::server::tls_config(&pki)?;
        tokio::spawn(runlet_apiserver::server::serve_tls(listener, tls, router));
        eprintln!("runlet agent running node {} (logs served on {address}:{})", agent.node_name, bound.port());
        crate::server::shutdown_signal().await;
        anyhow::Ok(())
    })
}

#[derive(Clone)]
struct LogState {
    client: kube::Client,
    agent: Arc<NodeAgent>,
}

/// `GET /containerLogs/{ns}/{pod}/{container}?...`: what the API server asks an agent on another machine.
async fn serve_log(
    axum::extract::State(state): axum::extract::State<LogState>,
    axum::extract::Path((ns, name, container)): axum::extract::Path<(String, String, String)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let result = async {
        let pods: kube::Api<runlet_codec::Pod> = kube::Api::namespaced(state.client.clone(), &ns);
        let pod = pods
            .get_opt(&name)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::new(404, "NotFound", format!("pods \"{name}\" not found")))?;
        let value = runlet_codec::encode_pod(&pod).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut opts = runlet_apiserver::logs::parse_options(&Query::parse(query.as_deref()), &value)?;
        opts.container = container;
        crate::logs::read_local(&state.agent, &pod, &opts).await
    }
    .await;
    match result {
        Ok(stream) => {
            ([(http::header::CONTENT_TYPE, "text/plain")], axum::body::Body::from_stream(stream)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_period;
    use std::time::Duration;

    #[test]
    fn sync_frequencies() {
        assert_eq!(parse_period("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_period("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_period("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_period("0s").unwrap_err().contains("must be positive"));
        assert!(parse_period("often").is_err());
    }
}
