//! Wiring of the node agent: the local agent inside `runlet server`, and `runlet agent` on another machine with
//! its HTTPS endpoint that serves container logs to the API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use runlet_agent::ShimCommand;
use runlet_agent::node::{AgentConfig, Capacity, LogEndpoint, NodeAgent};
use runlet_api::vocab::StatusReason;
use runlet_apiserver::ApiError;
use runlet_apiserver::negotiate::Query;

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
    /// Disk use (percent of the image store's file system) at which unused images are collected; 100 never
    /// (the kubelet's imageGCHighThresholdPercent)
    #[arg(long, default_value_t = runlet_agent::runtime::oci::gc::HIGH_PERCENT)]
    pub image_gc_high_threshold: u8,
    /// Disk use (percent) image collection brings the file system down to (the kubelet's
    /// imageGCLowThresholdPercent)
    #[arg(long, default_value_t = runlet_agent::runtime::oci::gc::LOW_PERCENT)]
    pub image_gc_low_threshold: u8,
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
            image_gc_high_threshold: runlet_agent::runtime::oci::gc::HIGH_PERCENT,
            image_gc_low_threshold: runlet_agent::runtime::oci::gc::LOW_PERCENT,
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
        image_gc: runlet_agent::runtime::oci::gc::Thresholds::new(
            flags.image_gc_high_threshold,
            flags.image_gc_low_threshold,
        )
        .map_err(anyhow::Error::msg)?,
    })
}

/// Options of `runlet agent`.
pub struct AgentArgs {
    pub joining: crate::join::Joining,
    pub node_name: Option<String>,
    pub dir: PathBuf,
    pub max_pods: u32,
    /// Where to serve container logs to the API server.
    pub listen: SocketAddr,
    /// The address the API server reaches this agent at [default: the listen address, or 127.0.0.1].
    pub address: Option<String>,
    pub pods: PodFlags,
}

/// `runlet agent`: a node agent on this machine for the server it joins (or the kubeconfig's).
pub fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let credential = crate::join::credential(&args.dir, &args.joining, args.node_name.as_deref()).await?;
        let parts = crate::join::kubeconfig_parts(&credential.kubeconfig)?;
        let ca_pem = parts.ca_pem.context(
            "the kubeconfig has no certificate-authority-data: the agent needs the cluster CA to recognise the server's log requests",
        )?;
        let kc = kube::config::Kubeconfig::from_yaml(&credential.kubeconfig).context("parsing the kubeconfig")?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("using the kubeconfig")?;
        let client = kube::Client::try_from(config).context("building the API client")?;
        let name = credential.node.clone().or_else(|| args.node_name.clone()).unwrap_or_else(host_name);

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
            token: String::new(),
        };
        let endpoint = LogEndpoint {
            address: address.clone(),
            port: bound.port(),
            cert_sha256: crate::logs::sha256_hex(cert.cert.der()),
        };
        // The agent's credential (and a kubeconfig given) stay out of every pod's view.
        let mut hidden = vec![std::fs::canonicalize(&credential.path).unwrap_or_else(|_| credential.path.clone())];
        if let crate::join::Joining::Kubeconfig(given) = &args.joining {
            hidden.push(std::fs::canonicalize(given).unwrap_or_else(|_| given.clone()));
        }
        let mut config = agent_config(name, args.dir.clone(), args.max_pods, false, &args.pods, hidden)?;
        config.log_endpoint = Some(endpoint);
        let agent = NodeAgent::start(client.clone(), config).await?;
        let router = axum::Router::new()
            .route("/containerLogs/{ns}/{pod}/{container}", axum::routing::get(serve_log))
            .with_state(LogState { client, agent: agent.clone() })
            .layer(axum::middleware::from_fn(only_the_api_server));
        // Only clients with a certificate from the cluster CA get past the handshake; the layer above then
        // admits the API server's alone (nodes hold certificates from the same CA).
        let tls = runlet_apiserver::server::tls_config_with(
            &pki,
            runlet_apiserver::server::ClientCerts::Required(&ca_pem),
        )?;
        tokio::spawn(runlet_apiserver::server::serve_tls(listener, tls, router));
        eprintln!("runlet agent running node {} (logs served on {address}:{})", agent.node_name, bound.port());
        crate::server::shutdown_signal().await;
        anyhow::Ok(())
    })
}

/// Admits only the API server's client certificate (verified against the cluster CA in the handshake).
async fn only_the_api_server(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let holder = req.extensions().get::<runlet_apiserver::auth::PeerCertificate>().map(|p| p.0.username.clone());
    if holder.as_deref() == Some(runlet_apiserver::auth::certs::APISERVER_LOG_CLIENT) {
        return next.run(req).await;
    }
    let who = holder.unwrap_or_default();
    ApiError::new(
        403,
        StatusReason::Forbidden,
        format!("forbidden: User {who:?} cannot get path {:?}: only the API server reads logs here", req.uri().path()),
    )
    .into_response()
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
            .ok_or_else(|| ApiError::new(404, StatusReason::NotFound, format!("pods \"{name}\" not found")))?;
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

    /// Agents with different ids claiming one node at the same instant, over an in-process API server: the
    /// Lease writes are compare-and-swap, so exactly one wins and the others are told the node is in use.
    #[tokio::test]
    async fn of_agents_claiming_a_node_at_once_exactly_one_wins() {
        use runlet_agent::node::register::{ClaimError, LEASE_NAMESPACE, claim_lease};
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            runlet_store::Store::open_sqlite(&dir.path().join("store.db"), Default::default()).await.expect("store");
        let state = runlet_apiserver::ApiState::new(store);
        runlet_apiserver::namespaces::ensure_system_namespaces(&state).await.expect("namespaces");
        let client = kube::Client::new(runlet_apiserver::server::router(state), "default");
        let leases: kube::Api<runlet_codec::Lease> = kube::Api::namespaced(client, LEASE_NAMESPACE);
        for round in 0..5 {
            let node = format!("n{round}");
            let claims = (0..8).map(|agent| {
                let (leases, node) = (leases.clone(), node.clone());
                tokio::spawn(async move { claim_lease(&leases, &node, &format!("agent-{agent}")).await })
            });
            let results = futures::future::join_all(claims).await;
            let mut won = 0;
            for result in results {
                match result.expect("claim task") {
                    Ok(()) => won += 1,
                    Err(ClaimError::InUse(_)) => {}
                    Err(ClaimError::Api(e)) => panic!("{node}: {e}"),
                }
            }
            assert_eq!(won, 1, "{node}: one agent holds the node");
        }
    }

    #[test]
    fn sync_frequencies() {
        assert_eq!(parse_period("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_period("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_period("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_period("0s").unwrap_err().contains("must be positive"));
        assert!(parse_period("often").is_err());
    }
}
