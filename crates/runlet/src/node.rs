//! Wiring of the node agent: the local agent inside `runlet server`, `runlet agent` on another machine, and the
//! log source that serves `pods/{name}/log` from the agent's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;
use runlet_agent::ShimCommand;
use runlet_agent::logs::{LogError, LogOptions as AgentLogOptions, read_logs};
use runlet_agent::node::{AgentConfig, Capacity, NodeAgent};
use runlet_apiserver::ApiError;
use runlet_apiserver::logs::{LogOptions, LogSource, LogStream};
use serde_json::Value;

/// The pod limit a node advertises by default.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// The `runlet` binary re-executed as `runlet shim ...` supervises each container.
pub fn shim_command() -> anyhow::Result<ShimCommand> {
    let program = std::env::current_exe().context("locating the runlet binary for the container shim")?;
    Ok(ShimCommand { program, args: vec!["shim".into()] })
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

pub fn agent_config(
    node_name: String,
    root: PathBuf,
    max_pods: u32,
    allow_host_path: bool,
) -> anyhow::Result<AgentConfig> {
    Ok(AgentConfig {
        node_name,
        root,
        shim: shim_command()?,
        capacity: Capacity::of_this_machine(max_pods),
        allow_host_path,
    })
}

/// Serves logs of pods on this node from the agent's files.
pub struct LocalLogs {
    pub agent: Arc<NodeAgent>,
}

impl LogSource for LocalLogs {
    fn logs(&self, pod: &Value, opts: LogOptions) -> BoxFuture<'static, Result<LogStream, ApiError>> {
        let agent = self.agent.clone();
        let pod = runlet_codec::decode_pod(pod).map(|d| d.object);
        Box::pin(async move {
            let pod = pod.map_err(|e| ApiError::internal(e.to_string()))?;
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
            if node != agent.node_name {
                return Err(ApiError::bad_request(format!(
                    "pod is on node {node:?}; this server reads logs only from its local node {:?}",
                    agent.node_name
                )));
            }
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let paths = agent.runtime.pod_paths(&uid);
            let options = AgentLogOptions {
                follow: opts.follow,
                tail_lines: opts.tail_lines,
                since_time: opts.since_time,
                since_seconds: opts.since_seconds,
                timestamps: opts.timestamps,
                previous: opts.previous,
                limit_bytes: opts.limit_bytes,
            };
            read_logs(&paths, &pod, &opts.container, options).await.map_err(|e| match e {
                LogError::InvalidContainer { .. } | LogError::Unavailable(_) => ApiError::bad_request(e.to_string()),
                LogError::Io(io) => ApiError::internal(io.to_string()),
            })
        })
    }
}

/// `runlet agent`: a node agent on this machine for the server named by `kubeconfig`.
pub fn run_agent(kubeconfig: &Path, node_name: Option<String>, root: PathBuf, max_pods: u32) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let text = std::fs::read_to_string(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
        let kc = kube::config::Kubeconfig::from_yaml(&text).context("parsing the kubeconfig")?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("using the kubeconfig")?;
        let client = kube::Client::try_from(config).context("building the API client")?;
        let name = node_name.unwrap_or_else(host_name);
        let agent = NodeAgent::start(client, agent_config(name.clone(), root, max_pods, false)?).await?;
        eprintln!("runlet agent running node {}", agent.node_name);
        crate::server::shutdown_signal().await;
        anyhow::Ok(())
    })
}
