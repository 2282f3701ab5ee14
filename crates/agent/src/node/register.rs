//! The Node object this agent stands for, and its heartbeat (a `coordination.k8s.io/v1` Lease renewed every
//! few seconds, plus the Node's Ready condition).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use runlet_api::vocab::{ConditionStatus, NodeConditionType};
use runlet_client::ApiErrorExt;
use runlet_codec::k8s_openapi::api::core::v1::{DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeSystemInfo};
use runlet_codec::{Lease, Node, NodeCondition, NodeStatus, ObjectMeta, Quantity, Time};
use serde_json::json;

use super::claim::{NodeInUse, next_lease};

/// Kubernetes' namespace for node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_SECONDS: i32 = 40;
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// What a node offers to the scheduler.
#[derive(Debug, Clone)]
pub struct Capacity {
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    pub pods: u32,
}

impl Capacity {
    /// This machine's cores and memory, with `pods` as the pod limit.
    pub fn of_this_machine(pods: u32) -> Capacity {
        let cpu_cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
        let memory_bytes = crate::runtime::resources::machine_memory_bytes();
        Capacity { cpu_cores, memory_bytes, pods }
    }

    fn quantities(&self) -> BTreeMap<String, Quantity> {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(self.cpu_cores.to_string())),
            ("memory".to_string(), Quantity(format!("{}Ki", self.memory_bytes / 1024))),
            ("pods".to_string(), Quantity(self.pods.to_string())),
        ])
    }
}

/// What the agent tells about its node besides its name.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub capacity: Capacity,
    pub endpoint: Option<LogEndpoint>,
    /// Why pods cannot be sandboxed here, if they cannot.
    pub sandbox_missing: Option<String>,
}

/// The Node condition that says whether pods run in sandboxes (`True` means they do not: like the pressure
/// conditions, it is a problem when set).
pub const SANDBOX_CONDITION: &str = "PodSandboxUnavailable";

fn sandbox_condition(missing: Option<&str>, now: jiff::Timestamp) -> NodeCondition {
    let (status, reason, message) = match missing {
        None => (
            ConditionStatus::False,
            "PodSandboxesAvailable",
            "pods run in their own mount and PID namespaces (host network)".to_string(),
        ),
        Some(why) => (
            ConditionStatus::True,
            "PodSandboxUnavailable",
            format!(
                "pods run as plain host processes of the agent's user and can read what it can read: {why}; \
                 pods that need isolation (mount paths outside the pod directory, runAsUser, ...) are refused"
            ),
        ),
    };
    NodeCondition {
        type_: SANDBOX_CONDITION.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The reason of the Ready condition an agent posts (the kubelet's).
const READY_REASON: &str = "KubeletReady";

fn ready_condition(now: jiff::Timestamp) -> NodeCondition {
    NodeCondition {
        type_: NodeConditionType::Ready.into(),
        status: ConditionStatus::True.into(),
        reason: Some(READY_REASON.into()),
        message: Some("runlet agent is posting ready status".into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The node's Ready condition is the one this agent posts (and not, say, `Unknown` from the node lifecycle
/// controller).
fn posted_by_us(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == NodeConditionType::Ready));
    ready.is_some_and(|c| c.status == ConditionStatus::True && c.reason.as_deref() == Some(READY_REASON))
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Where this node's agent serves container logs to the API server, and the SHA-256 of its self-signed
/// certificate (the server pins it instead of trusting a CA).
#[derive(Debug, Clone)]
pub struct LogEndpoint {
    pub address: String,
    pub port: u16,
    pub cert_sha256: String,
}

/// The annotation carrying [`LogEndpoint::cert_sha256`].
pub const LOG_CERT_ANNOTATION: &str = "runlet.dev/log-endpoint-cert-sha256";

/// The Node as this agent registers it.
pub fn node_object(name: &str, facts: &NodeFacts, now: jiff::Timestamp) -> Node {
    let capacity = &facts.capacity;
    let endpoint = facts.endpoint.as_ref();
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), std::env::consts::OS.to_string()),
        ("kubernetes.io/arch".to_string(), go_arch().to_string()),
    ]);
    let address = endpoint.map_or("127.0.0.1".to_string(), |e| e.address.clone());
    let annotations = endpoint.map(|e| BTreeMap::from([(LOG_CERT_ANNOTATION.to_string(), e.cert_sha256.clone())]));
    let daemon_endpoints =
        endpoint.map(|e| NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(e.port) }) });
    Node {
        metadata: ObjectMeta { name: Some(name.into()), labels: Some(labels), annotations, ..Default::default() },
        spec: None,
        status: Some(NodeStatus {
            capacity: Some(capacity.quantities()),
            allocatable: Some(capacity.quantities()),
            conditions: Some(vec![ready_condition(now), sandbox_condition(facts.sandbox_missing.as_deref(), now)]),
            addresses: Some(vec![
                NodeAddress { type_: "InternalIP".into(), address },
                NodeAddress { type_: "Hostname".into(), address: name.into() },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: go_arch().into(),
                container_runtime_version: format!("runlet-process://{}", env!("CARGO_PKG_VERSION")),
                kubelet_version: "v1.33.0-runlet".into(),
                kube_proxy_version: String::new(),
                operating_system: std::env::consts::OS.into(),
                os_image: "runlet process runtime".into(),
                kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().into(),
                machine_id: String::new(),
                system_uuid: String::new(),
                boot_id: String::new(),
                ..Default::default()
            }),
            daemon_endpoints,
            // The handlers every runlet node has (each named by a RuntimeClass of the same name).
            runtime_handlers: Some(
                runlet_api::runtime_class::HANDLERS
                    .iter()
                    .map(|h| runlet_codec::k8s_openapi::api::core::v1::NodeRuntimeHandler {
                        name: Some((*h).to_string()),
                        features: Some(runlet_codec::k8s_openapi::api::core::v1::NodeRuntimeHandlerFeatures {
                            recursive_read_only_mounts: Some(false),
                            user_namespaces: Some(false),
                        }),
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
    }
}

/// Creates the Node, or refreshes its status if it exists (an agent restart).
pub async fn register(client: &Client, name: &str, facts: &NodeFacts) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let endpoint = facts.endpoint.as_ref();
    let node = node_object(name, facts, jiff::Timestamp::now());
    if api.get_opt(name).await?.is_none() {
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    // Only our annotation: null removes a stale endpoint, other annotations (a user's) stay.
    let cert = endpoint.map(|e| e.cert_sha256.clone());
    let annotations = json!({"metadata": {"annotations": {LOG_CERT_ANNOTATION: cert}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&annotations)).await?;
    let status = json!({"status": node.status});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

/// Why the node's Lease could not be taken or renewed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    InUse(#[from] NodeInUse),
    #[error("writing the node's Lease: {0}")]
    Api(#[from] kube::Error),
}

/// Takes or renews the node's Lease for this agent, atomically: the Lease is created (when there is none) or
/// replaced with the `resourceVersion` it was read at, so of two agents claiming the same node at the same
/// instant one write fails (AlreadyExists or Conflict); that agent reads the Lease again and finds it held.
pub async fn claim_lease(leases: &Api<Lease>, name: &str, agent_id: &str) -> Result<(), ClaimError> {
    // Each lost race means another writer got in between; a handful cannot happen without a live holder.
    const ATTEMPTS: usize = 5;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let held = leases.get_opt(name).await?;
        let lease = next_lease(name, held.as_ref(), agent_id, jiff::Timestamp::now(), LEASE_SECONDS)?;
        let written = match held {
            None => leases.create(&PostParams::default(), &lease).await,
            Some(_) => leases.replace(name, &PostParams::default(), &lease).await,
        };
        match written {
            Ok(_) => return Ok(()),
            Err(e) if (e.is_already_exists() || e.is_conflict()) && attempt < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Renews the node's Lease and Ready heartbeat forever; registers the Node again if someone deleted it.
pub async fn heartbeat(client: Client, name: String, agent_id: String, facts: NodeFacts) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let nodes: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(RENEW_EVERY);
    loop {
        tick.tick().await;
        let now = jiff::Timestamp::now();
        let renewed = match claim_lease(&leases, &name, &agent_id).await {
            Err(ClaimError::InUse(taken)) => {
                // Another agent took the node while this one was away: leave it its Lease.
                tracing::error!(error = %taken, "not renewing the node's Lease");
                Ok(())
            }
            Err(ClaimError::Api(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew the node lease");
        }
        // Merged by `type`: only the heartbeat time changes, the transition time stays.
        let patch = json!({"status": {"conditions": [{"type": NodeConditionType::Ready.as_str(),
            "status": ConditionStatus::True.as_str(), "lastHeartbeatTime": Time(now)}]}});
        match nodes.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(node) if !posted_by_us(&node) => {
                // Someone else wrote Ready (the node lifecycle controller's Unknown while we were away): we are
                // back, which is a transition.
                let ready = json!({"status": {"conditions": [ready_condition(now)]}});
                if let Err(e) = nodes.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&ready)).await {
                    tracing::warn!(error = %e, "could not post the node's ready status");
                } else {
                    tracing::info!(node = %name, "the node is back: Ready again");
                }
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                if let Err(e) = register(&nodes.clone().into_client(), &name, &facts).await {
                    tracing::warn!(error = %e, "could not register the node again");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not post the node's ready status"),
        }
    }
}
