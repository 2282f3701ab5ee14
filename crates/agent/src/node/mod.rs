//! The API-facing half of the node agent: registers the Node, keeps its Lease fresh, and runs the pods bound to
//! it through the process runtime. The same code serves the agent inside `runlet server` (over an in-process
//! client) and `runlet agent` on another machine (over HTTPS).

pub mod claim;
mod decide;
pub mod pods;
pub mod register;

use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;

use crate::runtime::{ProcessRuntime, RuntimeConfig, RuntimeError, ShimCommand};
use crate::worker::WorkerOptions;
pub use register::{Capacity, LOG_CERT_ANNOTATION, LogEndpoint};

/// How to run a node agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// Pod directories and logs go under `<root>/pods/`.
    pub root: PathBuf,
    /// How to start the per-container supervisor (the `runlet` binary with `shim`).
    pub shim: ShimCommand,
    pub capacity: Capacity,
    pub allow_host_path: bool,
    /// Where this agent serves logs to the API server (None: the server reads them in-process).
    pub log_endpoint: Option<LogEndpoint>,
    /// Run pods in sandboxes when possible; false simulates a node that cannot.
    pub sandbox: bool,
    /// Host paths no pod may see besides the agent's root (the server's data dir, the kubeconfig).
    pub hidden: Vec<PathBuf>,
    pub log_limits: crate::runtime::logfile::LogLimits,
    /// How often volumes from ConfigMaps and Secrets are refreshed (the kubelet's `syncFrequency`).
    pub sync_period: std::time::Duration,
    /// The runtime handler of pods without a RuntimeClass (`process` or `oci`).
    pub default_handler: String,
    /// Registries (`host:port`) pulled from over plain HTTP, besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// When unused images are collected.
    pub image_gc: crate::runtime::oci::gc::Thresholds,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("starting the process runtime: {0}")]
    Runtime(#[from] RuntimeError),
    #[error("registering the node: {0}")]
    Register(#[from] kube::Error),
    #[error("reading or writing the agent's id in its directory: {0}")]
    Id(std::io::Error),
    #[error(transparent)]
    NodeInUse(#[from] claim::NodeInUse),
}

/// A running agent; its runtime serves pod logs.
pub struct NodeAgent {
    pub runtime: ProcessRuntime,
    pub node_name: String,
}

impl NodeAgent {
    /// Registers the node and starts the heartbeat and the pod loop on the current tokio runtime.
    pub async fn start(client: Client, config: AgentConfig) -> Result<Arc<NodeAgent>, AgentError> {
        let mut rc = RuntimeConfig::new(&config.root, config.shim.clone(), &config.node_name);
        rc.allow_host_path = config.allow_host_path;
        rc.sandbox = config.sandbox;
        rc.hidden = config.hidden.clone();
        rc.log_limits = config.log_limits;
        rc.default_handler = config.default_handler.clone();
        rc.images = match runlet_image::ImageStore::open(config.root.join("images")) {
            Ok(store) => {
                let options = runlet_image::PullOptions { insecure_registries: config.insecure_registries.clone() };
                Some(crate::runtime::oci::ImageService::new(store, options))
            }
            Err(e) => {
                tracing::warn!(error = %e, "no image store: pods of the oci runtime handler cannot start");
                None
            }
        };
        // What the Node says it has is what unset limits resolve to.
        rc.allocatable.cpu_millis = i128::from(config.capacity.cpu_cores) * 1000;
        rc.allocatable.memory_bytes = i128::from(config.capacity.memory_bytes);
        let runtime = ProcessRuntime::new(rc)?;
        if let Some(images) = runtime.images() {
            tokio::spawn(crate::runtime::oci::gc::run(images.clone(), config.root.clone(), config.image_gc));
        }
        let facts = register::NodeFacts {
            capacity: config.capacity.clone(),
            endpoint: config.log_endpoint.clone(),
            sandbox_missing: runtime.sandbox_missing().map(str::to_string),
        };
        let agent_id = claim::agent_id(&config.root).map_err(AgentError::Id)?;
        let leases: kube::Api<runlet_codec::Lease> = kube::Api::namespaced(client.clone(), register::LEASE_NAMESPACE);
        // The Lease first: a node already run by another live agent is refused before anything of it is touched.
        register::claim_lease(&leases, &config.node_name, &agent_id).await.map_err(|e| match e {
            register::ClaimError::InUse(taken) => AgentError::NodeInUse(taken),
            register::ClaimError::Api(e) => AgentError::Register(e),
        })?;
        register::register(&client, &config.node_name, &facts).await?;
        tokio::spawn(register::heartbeat(client.clone(), config.node_name.clone(), agent_id, facts));
        let options = WorkerOptions {
            objects: Some(std::sync::Arc::new(pods::ApiObjects { client: client.clone() })),
            sync_period: Some(config.sync_period),
            ..WorkerOptions::default()
        };
        let pods = pods::PodManager::new(client, config.node_name.clone(), runtime.clone(), options);
        tokio::spawn(pods.run());
        Ok(Arc::new(NodeAgent { runtime, node_name: config.node_name }))
    }
}
