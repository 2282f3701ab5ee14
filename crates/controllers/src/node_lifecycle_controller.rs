//! The node lifecycle controller, carried out against the API: every node monitor period it compares each node's
//! Lease renewals and Ready heartbeats with what it saw before ([`health`]), turns a silent node's conditions
//! `Unknown`, keeps the `not-ready`/`unreachable` taints in line with `Ready` ([`taints`]), and evicts the pods
//! of tainted nodes when their tolerations run out ([`eviction`]): `DisruptionTarget` first, then a graceful
//! delete, as upstream's taint manager.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, EventType};
use runlet_codec::{Lease, Node, Pod};
use serde_json::json;

use crate::nodelifecycle::eviction::{self, BY_TAINT_MANAGER, BY_TAINT_MANAGER_MESSAGE, Eviction};
use crate::nodelifecycle::health::{self, Grace, Observation};
use crate::nodelifecycle::taints;
use runlet_client::Informer;
use runlet_client::events::{Recorder, reference};

/// Where agents keep their Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// kube-controller-manager's node lifecycle settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLifecycleConfig {
    pub grace: Grace,
    /// How often nodes are checked (`--node-monitor-period`, 5 s).
    pub monitor_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig { grace: Grace::default(), monitor_period: Duration::from_secs(5) }
    }
}

pub struct NodeLifecycleController {
    client: Client,
    nodes: Arc<Informer<Node>>,
    leases: Arc<Informer<Lease>>,
    pods: Arc<Informer<Pod>>,
    config: NodeLifecycleConfig,
    recorder: Recorder,
}

impl NodeLifecycleController {
    pub fn new(
        client: Client,
        nodes: Arc<Informer<Node>>,
        leases: Arc<Informer<Lease>>,
        pods: Arc<Informer<Pod>>,
        config: NodeLifecycleConfig,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), "node-controller");
        NodeLifecycleController { client, nodes, leases, pods, config, recorder }
    }

    pub async fn run(self) {
        let mut node_changes = self.nodes.subscribe();
        let mut pod_changes = self.pods.subscribe();
        self.nodes.ready().await;
        self.leases.ready().await;
        self.pods.ready().await;
        let mut observed: HashMap<String, Observation> = HashMap::new();
        // Pods already evicted, until the cache shows them deleting (or gone).
        let mut evicted: HashSet<String> = HashSet::new();
        let mut next_monitor = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_monitor {
                self.monitor(&mut observed).await;
                next_monitor = tokio::time::Instant::now() + self.config.monitor_period;
            }
            let next_eviction = self.evict_due(&mut evicted).await;
            let wake = next_eviction.map_or(next_monitor, |d| next_monitor.min(tokio::time::Instant::now() + d));
            tokio::select! {
                _ = node_changes.recv() => {}
                _ = pod_changes.recv() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            while node_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }

    /// One node monitor pass: conditions of silent nodes, then taints.
    async fn monitor(&self, observed: &mut HashMap<String, Observation>) {
        let now = Timestamp::now();
        let leases: HashMap<String, Arc<Lease>> = self
            .leases
            .store
            .state()
            .into_iter()
            .filter(|l| l.namespace().as_deref() == Some(NODE_LEASE_NAMESPACE))
            .map(|l| (l.name_any(), l))
            .collect();
        let nodes = self.nodes.store.state();
        observed.retain(|name, _| nodes.iter().any(|n| &n.name_any() == name));
        for node in nodes {
            let name = node.name_any();
            let seen = health::observe(observed.get(&name), &node, leases.get(&name).map(Arc::as_ref), now);
            let stale = health::stale_conditions(&node, &seen, self.config.grace, now);
            observed.insert(name.clone(), seen);
            let mut ready = health::ready_status(&node);
            if let Some(conditions) = stale {
                if self.write_conditions(&node, &conditions).await {
                    ready = Some(ConditionStatus::Unknown);
                } else {
                    continue;
                }
            }
            let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            if let Some(wanted) = taints::reconcile(&current, ready, now) {
                self.write_taints(&node, &wanted).await;
            }
        }
    }

    async fn write_conditions(&self, node: &Node, conditions: &[runlet_codec::NodeCondition]) -> bool {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.name_any();
        // The whole list, compare-and-swap: a heartbeat that lands first wins and is seen next pass.
        let patch = json!({
            "metadata": {"resourceVersion": node.resource_version()},
            "status": {"conditions": conditions}
        });
        match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                tracing::warn!(node = %name, "node stopped posting status: Ready is Unknown");
                self.recorder.record(
                    &reference(node),
                    EventType::Normal,
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                );
                true
            }
            Err(error) => {
                tracing::debug!(node = %name, %error, "could not mark the node Unknown; next pass");
                false
            }
        }
    }

    async fn write_taints(&self, node: &Node, taints: &[runlet_codec::k8s_openapi::api::core::v1::Taint]) {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.name_any();
        let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": taints}});
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                tracing::info!(node = %name, taints = ?taints.iter().map(|t| &t.key).collect::<Vec<_>>(), "node taints updated")
            }
            Err(error) => tracing::debug!(node = %name, %error, "could not update the node's taints; next pass"),
        }
    }

    /// Evicts every pod whose time is up; returns how long until the next one is.
    async fn evict_due(&self, evicted: &mut HashSet<String>) -> Option<Duration> {
        let now = Timestamp::now();
        let nodes: HashMap<String, Arc<Node>> =
            self.nodes.store.state().into_iter().map(|n| (n.name_any(), n)).collect();
        let pods = self.pods.store.state();
        evicted.retain(|uid| {
            pods.iter().any(|p| p.uid().as_deref() == Some(uid.as_str()) && p.metadata.deletion_timestamp.is_none())
        });
        let mut next: Option<Duration> = None;
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some() || pod.uid().is_some_and(|u| evicted.contains(&u)) {
                continue;
            }
            let spec = pod.spec.as_ref();
            let Some(node) = spec.and_then(|s| s.node_name.as_deref()).and_then(|n| nodes.get(n)) else { continue };
            let node_taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
            let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
            match eviction::eviction(node_taints, tolerations, now) {
                Eviction::Never => {}
                Eviction::At(at) if at <= now => {
                    if self.evict(&pod).await
                        && let Some(uid) = pod.uid()
                    {
                        evicted.insert(uid);
                    }
                }
                Eviction::At(at) => {
                    let wait = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::from_secs(1));
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
            }
        }
        next
    }

    /// `DisruptionTarget`, then a graceful delete of this very pod (uid precondition).
    async fn evict(&self, pod: &Pod) -> bool {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        let condition = eviction::disruption_condition(BY_TAINT_MANAGER, BY_TAINT_MANAGER_MESSAGE, Timestamp::now());
        let patch = json!({"status": {"conditions": [condition]}});
        if let Err(error) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            tracing::debug!(pod = %name, %error, "could not mark the pod for eviction; next pass");
            return false;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &params).await {
            Ok(_) => {
                let namespace = pod.namespace().unwrap_or_default();
                tracing::info!(pod = %name, %namespace, "evicted from a tainted node");
                self.recorder.record(
                    &reference(pod),
                    EventType::Normal,
                    "TaintManagerEviction",
                    &format!("Marking for deletion Pod {namespace}/{name}"),
                );
                true
            }
            Err(error) => {
                tracing::debug!(pod = %name, %error, "could not evict the pod; next pass");
                false
            }
        }
    }
}
