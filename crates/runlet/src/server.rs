//! `runlet server`: wires the store (SQLite, or etcd shared with other servers), the API server, the
//! controllers (leader-elected when servers share a store) and the local agent together.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context, bail};
use runlet_apiserver::limits::InflightLimits;
use runlet_apiserver::observe::audit::{AuditLog, Policy, Rotation};
use runlet_apiserver::observe::health::Check;
use runlet_apiserver::{ApiState, namespaces, pki, resources, server, shared_pki};
use runlet_client::leader::{ElectionConfig, LeaderElection};
use runlet_store::{EtcdBackend, EtcdOptions, EtcdTls, KeySpace, Store, StoreOptions};

use crate::controllers::{self, Controllers};
use runlet_api::taints::DefaultTolerationSeconds;
use runlet_apiserver::strategy::Admission;
use runlet_controllers::manager::ManagerConfig;
use runlet_controllers::node_lifecycle_controller::NodeLifecycleConfig;
use runlet_controllers::nodelifecycle::health::Grace;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Data directory: store, certificates, token, kubeconfig, pod logs
    /// [env: RUNLET_DATA_DIR] [default: the user's data dir]/runlet
    #[arg(long, env = "RUNLET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the kubeconfig holds the real one).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Do not run a node agent in this process (pods then need `runlet agent` elsewhere).
    #[arg(long)]
    pub no_agent: bool,
    /// Name of the local node [default: the host name]
    #[arg(long)]
    pub node_name: Option<String>,
    /// Most pods the local node runs at once.
    #[arg(long, default_value_t = crate::node::DEFAULT_MAX_PODS)]
    pub max_pods: u32,
    /// Let pods mount host directories with `hostPath` volumes.
    #[arg(long)]
    pub allow_host_path: bool,
    #[command(flatten)]
    pub pods: crate::node::PodFlags,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The audit log (kube-apiserver's flag names); off unless `--audit-log-path` is given.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AuditArgs {
    /// Write an audit.k8s.io/v1 Event per request to this file, as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub audit_log_path: Option<PathBuf>,
    /// An audit.k8s.io/v1 Policy (YAML or JSON) giving each request its level: None, Metadata or Request
    /// [default: Metadata for every request]
    #[arg(long, value_name = "FILE", requires = "audit_log_path")]
    pub audit_policy_file: Option<PathBuf>,
    /// Size in megabytes at which the log is rotated.
    #[arg(long, default_value_t = 100, value_name = "MB")]
    pub audit_log_maxsize: u64,
    /// Rotated files kept (FILE.1 is the newest).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub audit_log_maxbackup: usize,
}

impl AuditArgs {
    /// The audit log the flags ask for, opened now.
    fn open(&self) -> anyhow::Result<Option<std::sync::Arc<AuditLog>>> {
        let Some(path) = &self.audit_log_path else { return Ok(None) };
        let policy = match &self.audit_policy_file {
            Some(file) => {
                let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                Policy::parse(&text).with_context(|| format!("--audit-policy-file {}", file.display()))?
            }
            None => Policy::metadata_for_all(),
        };
        let rotation = Rotation {
            max_bytes: self.audit_log_maxsize.saturating_mul(1024 * 1024),
            max_backups: self.audit_log_maxbackup,
        };
        Ok(Some(AuditLog::open(path, policy, rotation)?))
    }
}

/// Request limits of the API listener (kube-apiserver's flags and defaults).
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct LimitArgs {
    /// Most non-mutating requests served at once from the network (watches and logs not counted); past it a
    /// request gets 429 with Retry-After. 0 means no limit.
    #[arg(long, default_value_t = runlet_apiserver::limits::DEFAULT_MAX_REQUESTS_INFLIGHT)]
    pub max_requests_inflight: usize,
    /// Most mutating requests (create, update, patch, delete) served at once from the network. 0 means no
    /// limit.
    #[arg(long, default_value_t = runlet_apiserver::limits::DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT)]
    pub max_mutating_requests_inflight: usize,
}

impl LimitArgs {
    fn inflight(&self) -> InflightLimits {
        InflightLimits {
            read_only: self.max_requests_inflight,
            mutating: self.max_mutating_requests_inflight,
            ..InflightLimits::default()
        }
    }
}

/// Running several servers on one etcd (kube-apiserver's and kube-controller-manager's flag names).
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Keep the store in etcd at these client URLs (comma-separated) instead of SQLite in the data dir.
    /// Servers on the same etcd serve the same cluster and share its CA and token.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub etcd_servers: Vec<String>,
    /// Where in etcd the cluster's keys live.
    #[arg(long, default_value = "/registry", value_name = "PREFIX")]
    pub etcd_prefix: String,
    /// The CA certificate (PEM) that signed etcd's serving certificate: TLS to etcd, for https:// URLs.
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// This server's client certificate (PEM), when etcd authenticates clients by certificate.
    #[arg(long, value_name = "FILE", requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// The key (PEM) of --etcd-certfile.
    #[arg(long, value_name = "FILE", requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
    /// How often old revisions are compacted away in etcd (0 = never; another server or etcd itself does it).
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub etcd_compaction_interval: Duration,
    /// Run the controllers only while this server holds the `kube-system/runlet-controller-manager` Lease
    /// [default: true with --etcd-servers, false otherwise]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub leader_elect: Option<bool>,
    /// How long other servers wait after the leader's last renewal before taking over.
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps its controllers running without renewing.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub leader_elect_renew_deadline: Duration,
    /// Time between attempts to acquire or renew the lease.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub leader_elect_retry_period: Duration,
    /// How long a node may go without renewing its Lease or posting status before its Ready condition turns
    /// Unknown and it is tainted unreachable.
    #[arg(long, default_value = "50s", value_parser = parse_duration, value_name = "DURATION")]
    pub node_monitor_grace_period: Duration,
    /// The same for a node that has never posted its Ready condition, counted from its creation.
    #[arg(long, default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    pub node_startup_grace_period: Duration,
    /// How often the node lifecycle controller checks the nodes.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub node_monitor_period: Duration,
    /// The tolerationSeconds of the not-ready:NoExecute toleration added to every new pod that has none.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub default_not_ready_toleration_seconds: i64,
    /// The tolerationSeconds of the unreachable:NoExecute toleration added to every new pod that has none.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub default_unreachable_toleration_seconds: i64,
}

impl Default for ClusterArgs {
    /// One server on SQLite, controllers always on.
    fn default() -> Self {
        let election = ElectionConfig::default();
        ClusterArgs {
            etcd_servers: Vec::new(),
            etcd_prefix: "/registry".into(),
            etcd_cafile: None,
            etcd_certfile: None,
            etcd_keyfile: None,
            etcd_compaction_interval: Duration::from_secs(300),
            leader_elect: None,
            leader_elect_lease_duration: election.lease_duration,
            leader_elect_renew_deadline: election.renew_deadline,
            leader_elect_retry_period: election.retry_period,
            node_monitor_grace_period: Duration::from_secs(50),
            node_startup_grace_period: Duration::from_secs(60),
            node_monitor_period: Duration::from_secs(5),
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
        }
    }
}

impl ClusterArgs {
    /// TLS to etcd from the --etcd-*file flags, read now.
    fn etcd_tls(&self) -> anyhow::Result<Option<EtcdTls>> {
        let read = |path: &PathBuf| fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
        let Some(ca) = &self.etcd_cafile else {
            if self.etcd_certfile.is_some() {
                bail!("--etcd-certfile needs --etcd-cafile (client certificates are only sent over TLS)");
            }
            if self.etcd_servers.iter().any(|url| url.starts_with("https://")) {
                bail!("https:// etcd URLs need --etcd-cafile, the CA that signed etcd's certificate");
            }
            return Ok(None);
        };
        let client = match (&self.etcd_certfile, &self.etcd_keyfile) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            _ => None,
        };
        Ok(Some(EtcdTls { ca_pem: read(ca)?, client }))
    }

    /// The controllers' settings from the node lifecycle flags.
    fn controllers(&self) -> anyhow::Result<ManagerConfig> {
        let signed = |d: Duration, flag: &str| {
            jiff::SignedDuration::try_from(d).with_context(|| format!("--{flag} is too long"))
        };
        if self.node_monitor_period.is_zero() {
            bail!("--node-monitor-period must be more than 0");
        }
        let grace = Grace {
            monitor: signed(self.node_monitor_grace_period, "node-monitor-grace-period")?,
            startup: signed(self.node_startup_grace_period, "node-startup-grace-period")?,
        };
        let node_lifecycle = NodeLifecycleConfig { grace, monitor_period: self.node_monitor_period };
        Ok(ManagerConfig { node_lifecycle })
    }

    /// What admission adds to new pods, from the default toleration flags.
    fn admission(&self) -> anyhow::Result<Admission> {
        for (flag, value) in [
            ("default-not-ready-toleration-seconds", self.default_not_ready_toleration_seconds),
            ("default-unreachable-toleration-seconds", self.default_unreachable_toleration_seconds),
        ] {
            if value < 0 {
                bail!("--{flag} must not be negative");
            }
        }
        let default_tolerations = DefaultTolerationSeconds {
            not_ready: self.default_not_ready_toleration_seconds,
            unreachable: self.default_unreachable_toleration_seconds,
        };
        Ok(Admission { default_tolerations })
    }

    fn election(&self) -> anyhow::Result<Option<ElectionConfig>> {
        if !self.leader_elect.unwrap_or(!self.etcd_servers.is_empty()) {
            return Ok(None);
        }
        let config = ElectionConfig {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        };
        config.validate().context("--leader-elect-*")?;
        Ok(Some(config))
    }
}

/// A Go-style duration as the Kubernetes components take them: `15s`, `5m`, `1m30s`, `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let parsed: jiff::SignedDuration =
        text.parse().map_err(|e| format!("{text:?} is not a duration like 15s or 5m: {e}"))?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

/// The namespace and name of the Lease the controllers are elected on.
pub const LEADER_LEASE_NAMESPACE: &str = "kube-system";
pub const LEADER_LEASE_NAME: &str = "runlet-controller-manager";

/// What the local node agent looks like, when there is one.
pub struct LocalAgent {
    pub node_name: String,
    pub max_pods: u32,
    pub allow_host_path: bool,
    pub pods: crate::node::PodFlags,
}

/// The data dir from the flag/env, else `<user data dir>/runlet`.
pub fn data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(d) => Ok(d),
        None => runlet_cli::default_data_dir().context("no user data directory; pass --data-dir"),
    }
}

pub fn kubeconfig_path(dir: &Path) -> PathBuf {
    dir.join("kubeconfig")
}

pub fn print_kubeconfig_path(flag: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = data_dir(flag)?;
    let path = kubeconfig_path(&dir);
    if !path.exists() {
        bail!("no kubeconfig at {}: start `runlet server --data-dir {}` first", path.display(), dir.display());
    }
    println!("{}", path.display());
    Ok(())
}

/// Holds the data dir's lock for as long as it lives: a second server on the same dir refuses to start.
pub struct DataDirLock {
    _lock: nix::fcntl::Flock<fs::File>,
}

pub fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    use std::io::{Read, Seek, Write};
    fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    set_private_dir(dir)?;
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            write!(lock, "{}", std::process::id())?;
            Ok(DataDirLock { _lock: lock })
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            bail!(
                "data dir {} is in use by another runlet server (pid {}); stop it or pass another --data-dir",
                dir.display(),
                pid.trim()
            )
        }
    }
}

fn set_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting permissions of {}", dir.display()))
}

/// A running API server: its address, its kubeconfig, and the task serving it.
pub struct Running {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    /// An in-process client of this server.
    pub client: kube::Client,
    pub controllers: Controllers,
    /// This server's name in the leader election, when there is one.
    pub identity: Option<String>,
}

const STORE_OPTIONS: StoreOptions = StoreOptions { history: 20_000 };

/// The server's client certificate for agents is issued afresh at each start; a year is far more than it needs.
const LOG_CLIENT_CERT_DAYS: i64 = 365;

/// How long a starting server waits for etcd to answer.
const ETCD_WAIT: Duration = Duration::from_secs(60);

/// Opens the store on etcd, waiting for it to come up; also starts its compaction.
async fn open_etcd(cluster: &ClusterArgs) -> anyhow::Result<Store> {
    let keys = KeySpace::new("/registry", &cluster.etcd_prefix).context("--etcd-prefix")?;
    let mut options = EtcdOptions::new(cluster.etcd_servers.clone(), keys);
    options.tls = cluster.etcd_tls()?;
    let deadline = std::time::Instant::now() + ETCD_WAIT;
    let backend = loop {
        match EtcdBackend::connect(options.clone()).await {
            Ok(backend) => break backend,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "waiting for etcd");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("connecting to etcd at {}", cluster.etcd_servers.join(",")));
            }
        }
    };
    if !cluster.etcd_compaction_interval.is_zero() {
        tokio::spawn(backend.compactor().run(cluster.etcd_compaction_interval));
    }
    Ok(Store::with_backend(backend, STORE_OPTIONS).await?)
}

/// Starts everything `runlet server` runs, in the current tokio runtime: one server on SQLite.
pub async fn start(dir: &Path, listen: SocketAddr, agent: Option<LocalAgent>) -> anyhow::Result<Running> {
    start_with(dir, listen, agent, &ClusterArgs::default(), InflightLimits::default()).await
}

/// Starts a server of the cluster `cluster` describes.
pub async fn start_with(
    dir: &Path,
    listen: SocketAddr,
    agent: Option<LocalAgent>,
    cluster: &ClusterArgs,
    inflight: InflightLimits,
) -> anyhow::Result<Running> {
    start_audited(dir, listen, agent, cluster, inflight, &AuditArgs::default()).await
}

/// How long the local agent's Lease may go unrenewed before the `local-agent` check fails (upstream's
/// node-monitor grace period; the agent renews every 10 s).
const AGENT_GRACE: Duration = Duration::from_secs(40);

/// The `local-agent` readiness check: the node's Lease was renewed within [`AGENT_GRACE`].
fn agent_check(state: &ApiState, node: &str) -> Check {
    let store = state.store.clone();
    let key = resources::RESOURCES
        .iter()
        .find(|r| r.plural == "leases")
        .map(|r| r.key(Some(runlet_agent::node::register::LEASE_NAMESPACE), node));
    Check::new("local-agent", false, move || {
        let lease = key.as_deref().and_then(|k| store.get(k));
        async move {
            let lease = lease.ok_or("the local node has no Lease yet")?;
            let renewed = lease.value.pointer("/spec/renewTime").and_then(|t| t.as_str()).unwrap_or("");
            let renewed: jiff::Timestamp = renewed.parse().map_err(|_| "the local node's Lease has no renewTime")?;
            let age = jiff::Timestamp::now().duration_since(renewed);
            if age.as_secs_f64() > AGENT_GRACE.as_secs_f64() {
                return Err(format!("the local agent last heartbeat {}s ago", age.as_secs()));
            }
            Ok(())
        }
    })
}

/// Starts a server of the cluster `cluster` describes, auditing requests as `audit` says.
pub async fn start_audited(
    dir: &Path,
    listen: SocketAddr,
    agent: Option<LocalAgent>,
    cluster: &ClusterArgs,
    inflight: InflightLimits,
    audit: &AuditArgs,
) -> anyhow::Result<Running> {
    let election = cluster.election()?;
    let audit = audit.open().context("opening the audit log")?;
    let controller_config = cluster.controllers()?;
    let admission = cluster.admission()?;
    let (store, pki) = if cluster.etcd_servers.is_empty() {
        let pki = pki::ensure(&dir.join("pki"), Some(listen.ip())).context("preparing TLS certificates and token")?;
        let store = Store::open_sqlite(&dir.join("store.db"), STORE_OPTIONS).await.context("opening the store")?;
        (store, pki)
    } else {
        let store = open_etcd(cluster).await.context("opening the store")?;
        let pki = shared_pki::ensure_shared(&store, &dir.join("pki"), Some(listen.ip()))
            .await
            .context("preparing TLS certificates and token")?;
        (store, pki)
    };
    let mut state = ApiState::new(store);
    // The cluster CA signs nodes' client certificates and this server's own, for the agents' log endpoints.
    let signer = runlet_apiserver::auth::certs::Signer::load(&dir.join("pki")).context("loading the cluster CA")?;
    let log_client = runlet_apiserver::auth::certs::Subject {
        common_name: runlet_apiserver::auth::certs::APISERVER_LOG_CLIENT.into(),
        organizations: Vec::new(),
    };
    let (cert_pem, key_pem) =
        signer.issue(&log_client, LOG_CLIENT_CERT_DAYS).context("issuing the server's client certificate")?;
    let log_client = std::sync::Arc::new(crate::logs::ClientCert { cert_pem, key_pem });
    state.signer = Some(std::sync::Arc::new(signer));
    if let Some(audit) = audit {
        state = state.with_audit(audit);
    }
    state.admission = admission;
    namespaces::ensure_system_namespaces(&state).await.context("creating the system namespaces")?;
    runlet_apiserver::runtime_classes::ensure_builtin_runtime_classes(&state)
        .await
        .context("creating the RuntimeClasses of runlet's handlers")?;

    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let client_host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let url = if addr.is_ipv6() && client_host.contains(':') {
        format!("https://[{client_host}]:{}", addr.port())
    } else {
        format!("https://{client_host}:{}", addr.port())
    };
    let kubeconfig = kubeconfig_path(dir);
    pki::write_private(&kubeconfig, pki::kubeconfig(&pki, &url).as_bytes()).context("writing the kubeconfig")?;

    // Controllers and the local agent are API clients like any other; in-process they reach the router
    // without a socket.
    let client = kube::Client::new(server::router(state.clone()), "default");
    let mut local = None;
    if let Some(a) = agent {
        // The whole data dir (store, keys, token, every pod's files) stays out of every pod's view.
        let hidden = vec![std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())];
        let config =
            crate::node::agent_config(a.node_name, dir.join("agent"), a.max_pods, a.allow_host_path, &a.pods, hidden)?;
        state.health.register(agent_check(&state, &config.node_name));
        let node =
            runlet_agent::node::NodeAgent::start(client.clone(), config).await.context("starting the node agent")?;
        local = Some(node);
    }
    let logs = crate::logs::ClusterLogs { local, client: client.clone(), client_cert: log_client };
    state = state.with_logs(std::sync::Arc::new(logs));
    // Client certificates from the cluster CA (the agents') are verified; token holders need none.
    let tls = server::tls_config_with(&pki, server::ClientCerts::Optional(&pki.ca_pem))?;
    // The web UI shares the port and TLS; it checks its own sign-in before forwarding to the API routes.
    let app = runlet_ui::router(server::router(state.clone()), &pki.token).merge(server::authenticated_router_with(
        state.clone(),
        &pki.token,
        inflight,
    ));
    tokio::spawn(server::serve_tls(listener, tls, app));
    // The in-process client must see the log source too (it serves `kubectl logs` only through the router).
    let client = kube::Client::new(server::router(state.clone()), "default");
    let election = election.map(|config| {
        let identity = format!("{}_{}", crate::node::host_name(), uuid::Uuid::new_v4());
        LeaderElection::new(client.clone(), LEADER_LEASE_NAMESPACE, LEADER_LEASE_NAME, identity, config)
    });
    let identity = election.as_ref().map(|e| e.identity().to_owned());
    let controllers = controllers::spawn(client.clone(), state, election, controller_config);
    Ok(Running { addr, kubeconfig, client, controllers, identity })
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let dir = data_dir(args.data_dir)?;
    let _lock = lock_data_dir(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let agent = (!args.no_agent).then(|| LocalAgent {
            node_name: args.node_name.clone().unwrap_or_else(crate::node::host_name),
            max_pods: args.max_pods,
            allow_host_path: args.allow_host_path,
            pods: args.pods.clone(),
        });
        let running =
            start_audited(&dir, args.listen, agent, &args.cluster, args.limits.inflight(), &args.audit).await?;
        tracing::info!(addr = %running.addr, "runlet API server listening");
        eprintln!("runlet server listening on https://{}", running.addr);
        if let Some(identity) = &running.identity {
            eprintln!("leader election identity: {identity}");
        }
        eprintln!("kubeconfig: {}", running.kubeconfig.display());
        eprintln!("  export KUBECONFIG={}", running.kubeconfig.display());
        shutdown_signal().await;
        tracing::info!("shutting down");
        running.controllers.shutdown().await;
        anyhow::Ok(())
    })
}

pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_the_kubernetes_flags_take_them() {
        let s = Duration::from_secs;
        let cases: Vec<(&str, Option<Duration>)> = vec![
            ("15s", Some(s(15))),
            ("5m", Some(s(300))),
            ("1m30s", Some(s(90))),
            ("2h", Some(s(7200))),
            ("500ms", Some(Duration::from_millis(500))),
            ("0", Some(Duration::ZERO)),
            ("0s", Some(Duration::ZERO)),
            ("-5s", None),
            ("soon", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn etcd_tls_flags_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let path = dir.path().join(name);
            fs::write(&path, format!("{name} pem")).unwrap();
            Some(path)
        };
        let https = || ClusterArgs { etcd_servers: vec!["https://10.0.0.1:2379".into()], ..ClusterArgs::default() };
        let http = || ClusterArgs { etcd_servers: vec!["http://127.0.0.1:2379".into()], ..ClusterArgs::default() };
        // (flags, Ok(client certificate sent) or Err(the message's start))
        let cases: Vec<(ClusterArgs, Result<Option<bool>, &str>)> = vec![
            (http(), Ok(None)),
            (https(), Err("https:// etcd URLs need --etcd-cafile")),
            (ClusterArgs { etcd_cafile: file("ca"), ..https() }, Ok(Some(false))),
            (
                ClusterArgs {
                    etcd_cafile: file("ca"),
                    etcd_certfile: file("crt"),
                    etcd_keyfile: file("key"),
                    ..https()
                },
                Ok(Some(true)),
            ),
            (
                ClusterArgs { etcd_certfile: file("crt"), etcd_keyfile: file("key"), ..https() },
                Err("--etcd-certfile needs --etcd-cafile"),
            ),
            (ClusterArgs { etcd_cafile: Some(dir.path().join("missing")), ..https() }, Err("reading ")),
        ];
        for (args, want) in cases {
            let got = args.etcd_tls();
            match (&got, want) {
                (Ok(tls), Ok(client)) => {
                    assert_eq!(tls.as_ref().map(|t| t.client.is_some()), client, "{args:?}");
                    if let Some(tls) = tls {
                        assert_eq!(tls.ca_pem, "ca pem");
                    }
                }
                (Err(e), Err(start)) => assert!(e.to_string().starts_with(start), "{args:?}: {e}"),
                _ => panic!("{args:?}: got {:?}", got.map(|t| t.is_some())),
            }
        }
    }

    #[test]
    fn leader_election_is_on_with_etcd_unless_turned_off() {
        let etcd = || ClusterArgs { etcd_servers: vec!["http://127.0.0.1:2379".into()], ..ClusterArgs::default() };
        let cases: Vec<(ClusterArgs, Result<bool, ()>)> = vec![
            (ClusterArgs::default(), Ok(false)),
            (etcd(), Ok(true)),
            (ClusterArgs { leader_elect: Some(false), ..etcd() }, Ok(false)),
            (ClusterArgs { leader_elect: Some(true), ..ClusterArgs::default() }, Ok(true)),
            (ClusterArgs { leader_elect_renew_deadline: Duration::from_secs(20), ..etcd() }, Err(())),
        ];
        for (args, want) in cases {
            let got = args.election().map(|e| e.is_some()).map_err(|_| ());
            assert_eq!(got, want, "{args:?}");
        }
    }
}
