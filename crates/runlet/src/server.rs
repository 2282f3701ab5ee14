//! `runlet server`: wires the store, the API server and (later) controllers and the local agent together.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use runlet_apiserver::{ApiState, namespaces, pki, server};
use runlet_store::{Store, StoreOptions};

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
}

/// What the local node agent looks like, when there is one.
pub struct LocalAgent {
    pub node_name: String,
    pub max_pods: u32,
    pub allow_host_path: bool,
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
}

/// Starts everything `runlet server` runs, in the current tokio runtime.
pub async fn start(dir: &Path, listen: SocketAddr, agent: Option<LocalAgent>) -> anyhow::Result<Running> {
    let pki = pki::ensure(&dir.join("pki"), Some(listen.ip())).context("preparing TLS certificates and token")?;
    let store = Store::open_sqlite(&dir.join("store.db"), StoreOptions { history: 20_000 })
        .await
        .context("opening the store")?;
    let mut state = ApiState::new(store);
    namespaces::ensure_system_namespaces(&state).await.context("creating the system namespaces")?;

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
        let config = crate::node::agent_config(a.node_name, dir.join("agent"), a.max_pods, a.allow_host_path)?;
        let node =
            runlet_agent::node::NodeAgent::start(client.clone(), config).await.context("starting the node agent")?;
        local = Some(node);
    }
    let logs = crate::logs::ClusterLogs { local, client: client.clone(), token: pki.token.clone() };
    state = state.with_logs(std::sync::Arc::new(logs));
    let tls = server::tls_config(&pki)?;
    let app = server::authenticated_router(state.clone(), &pki.token);
    tokio::spawn(server::serve_tls(listener, tls, app));
    tokio::spawn(namespaces::run_finalizer(state.clone()));
    tokio::spawn(runlet_apiserver::events_ttl::run(state.clone(), runlet_apiserver::events_ttl::EVENT_TTL));
    // The in-process client must see the log source too (it serves `kubectl logs` only through the router).
    let client = kube::Client::new(server::router(state.clone()), "default");
    runlet_controllers::manager::spawn_all(client.clone());
    Ok(Running { addr, kubeconfig, client })
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
        });
        let running = start(&dir, args.listen, agent).await?;
        tracing::info!(addr = %running.addr, "runlet API server listening");
        eprintln!("runlet server listening on https://{}", running.addr);
        eprintln!("kubeconfig: {}", running.kubeconfig.display());
        eprintln!("  export KUBECONFIG={}", running.kubeconfig.display());
        shutdown_signal().await;
        tracing::info!("shutting down");
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
