//! The node lifecycle controller, carried out against the API: every node monitor period it compares each node's
//! Lease renewals and Ready heartbeats with what it saw before ([`health`]), turns a silent node's conditions
//! `Unknown`, keeps the `not-ready`/`unreachable` taints in line with `Ready` ([`taints`]), and evicts the pods
//! of tainted nodes when their tolerations run out ([`eviction`]): `DisruptionTarget` first, then a graceful
//! delete, as upstream's taint manager. The decisions are pure; [`monitor_node`] and [`evict`] are the sequences
//! of steps that carry them out, written against [`Effects`]: the controller runs them against the API, the
//! tests against an in-memory log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, EventType};
use runlet_codec::k8s_openapi::api::core::v1::Taint;
use runlet_codec::{Lease, Node, NodeCondition, ObjectReference, Pod, PodCondition};
use serde_json::json;

use crate::nodelifecycle::eviction::{self, BY_TAINT_MANAGER, BY_TAINT_MANAGER_MESSAGE};
use crate::nodelifecycle::health::{self, Grace, Observation};
use crate::nodelifecycle::taints;
use runlet_client::Informer;
use runlet_client::events::{Recorder, reference};

/// Where agents keep their Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The event reasons this controller records (upstream's).
pub const NODE_NOT_READY: &str = "NodeNotReady";
pub const TAINT_MANAGER_EVICTION: &str = "TaintManagerEviction";

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

/// The controller's side effects.
#[allow(async_fn_in_trait)] // Used with concrete types only.
pub trait Effects {
    type Error: std::fmt::Display;

    /// Replaces the node's conditions, compare-and-swap on the version `node` was read at: a heartbeat that
    /// lands first wins and is seen next pass.
    async fn write_conditions(&mut self, node: &Node, conditions: &[NodeCondition]) -> Result<(), Self::Error>;
    /// Replaces the node's taints, compare-and-swap as above.
    async fn write_taints(&mut self, node: &Node, taints: &[Taint]) -> Result<(), Self::Error>;
    /// Adds the condition to the pod's status.
    async fn mark(&mut self, pod: &Pod, condition: &PodCondition) -> Result<(), Self::Error>;
    /// Deletes this very pod (uid precondition), gracefully.
    async fn delete(&mut self, pod: &Pod) -> Result<(), Self::Error>;
    /// Records an event (never waits for it to be written).
    fn record(&mut self, about: ObjectReference, type_: EventType, reason: &str, message: String);
}

/// One node's monitor step: what is known of its heartbeats is updated in `observed`; a node silent past its
/// grace period gets its conditions `Unknown` (and the `NodeNotReady` event); then its lifecycle taints follow
/// its `Ready` status. When the conditions cannot be written the taints wait for the next pass, so they never
/// run ahead of the condition they stand for.
pub async fn monitor_node<E: Effects>(
    fx: &mut E,
    node: &Node,
    lease: Option<&Lease>,
    observed: &mut HashMap<String, Observation>,
    grace: Grace,
    now: Timestamp,
) -> Result<(), E::Error> {
    let name = node.name_any();
    let seen = health::observe(observed.get(&name), node, lease, now);
    let stale = health::stale_conditions(node, &seen, grace, now);
    observed.insert(name.clone(), seen);
    let mut ready = health::ready_status(node);
    if let Some(conditions) = stale {
        fx.write_conditions(node, &conditions).await?;
        tracing::warn!(node = %name, "node stopped posting status: Ready is Unknown");
        let message = format!("Node {name} status is now: {NODE_NOT_READY}");
        fx.record(reference(node), EventType::Normal, NODE_NOT_READY, message);
        ready = Some(ConditionStatus::Unknown);
    }
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    if let Some(wanted) = taints::reconcile(&current, ready, now) {
        fx.write_taints(node, &wanted).await?;
        tracing::info!(node = %name, taints = ?wanted.iter().map(|t| &t.key).collect::<Vec<_>>(), "node taints updated");
    }
    Ok(())
}

/// Evicts one pod: `DisruptionTarget` first (a Job's `podFailurePolicy` can tell an eviction from a failure),
/// and only once that is written the graceful delete of this very pod.
pub async fn evict<E: Effects>(fx: &mut E, pod: &Pod, now: Timestamp) -> Result<(), E::Error> {
    let condition = eviction::disruption_condition(BY_TAINT_MANAGER, BY_TAINT_MANAGER_MESSAGE, now);
    fx.mark(pod, &condition).await?;
    fx.delete(pod).await?;
    let (namespace, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    tracing::info!(pod = %name, %namespace, "evicted from a tainted node");
    let message = format!("Marking for deletion Pod {namespace}/{name}");
    fx.record(reference(pod), EventType::Normal, TAINT_MANAGER_EVICTION, message);
    Ok(())
}

pub struct NodeLifecycleController {
    nodes: Arc<Informer<Node>>,
    leases: Arc<Informer<Lease>>,
    pods: Arc<Informer<Pod>>,
    config: NodeLifecycleConfig,
    fx: ApiEffects,
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
        NodeLifecycleController { nodes, leases, pods, config, fx: ApiEffects { client, recorder } }
    }

    pub async fn run(mut self) {
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
            let pass_started = tokio::time::Instant::now();
            tokio::select! {
                _ = node_changes.recv() => {}
                _ = pod_changes.recv() => {
                    // Every eviction pass looks at every pod: pod changes wake it at most once per spacing.
                    tokio::select! {
                        _ = node_changes.recv() => {}
                        _ = tokio::time::sleep_until(wake.min(pass_started + crate::POD_CHANGE_SPACING)) => {}
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            while node_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }

    /// One node monitor pass over the cached nodes.
    async fn monitor(&mut self, observed: &mut HashMap<String, Observation>) {
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
            let lease = leases.get(&node.name_any()).map(Arc::as_ref);
            if let Err(error) = monitor_node(&mut self.fx, &node, lease, observed, self.config.grace, now).await {
                tracing::debug!(node = %node.name_any(), %error, "could not update the node; next pass");
            }
        }
    }

    /// Evicts every pod whose time is up; returns how long until the next one is.
    async fn evict_due(&mut self, evicted: &mut HashSet<String>) -> Option<Duration> {
        let now = Timestamp::now();
        let nodes: HashMap<String, Arc<Node>> =
            self.nodes.store.state().into_iter().map(|n| (n.name_any(), n)).collect();
        let due = eviction::due(&nodes, &self.pods.store.state(), evicted, now);
        for pod in &due.pods {
            match evict(&mut self.fx, pod, now).await {
                Ok(()) => {
                    evicted.insert(pod.uid().unwrap_or_default());
                }
                Err(error) => tracing::debug!(pod = %pod.name_any(), %error, "could not evict the pod; next pass"),
            }
        }
        due.next
    }
}

/// The effects carried out against the API.
struct ApiEffects {
    client: Client,
    recorder: Recorder,
}

impl Effects for ApiEffects {
    type Error = kube::Error;

    async fn write_conditions(&mut self, node: &Node, conditions: &[NodeCondition]) -> Result<(), kube::Error> {
        // The whole list, compare-and-swap.
        let patch = json!({
            "metadata": {"resourceVersion": node.resource_version()},
            "status": {"conditions": conditions}
        });
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch_status(&node.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
    }

    async fn write_taints(&mut self, node: &Node, taints: &[Taint]) -> Result<(), kube::Error> {
        let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": taints}});
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch(&node.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
    }

    async fn mark(&mut self, pod: &Pod, condition: &PodCondition) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = json!({"status": {"conditions": [condition]}});
        api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await.map(|_| ())
    }

    async fn delete(&mut self, pod: &Pod) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
            ..DeleteParams::default()
        };
        api.delete(&pod.name_any(), &params).await.map(|_| ())
    }

    fn record(&mut self, about: ObjectReference, type_: EventType, reason: &str, message: String) {
        self.recorder.record(&about, type_, reason, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::taints::UNREACHABLE;
    use serde_json::Value;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    /// An in-memory API that logs each call in order; the writes named in `failing` fail.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        failing: Vec<&'static str>,
    }

    impl Log {
        fn answer(&mut self, call: &'static str, what: String) -> Result<(), String> {
            self.calls.push(format!("{call} {what}"));
            if self.failing.contains(&call) { Err(format!("{call} refused")) } else { Ok(()) }
        }
    }

    impl Effects for Log {
        type Error = String;

        async fn write_conditions(&mut self, node: &Node, conditions: &[NodeCondition]) -> Result<(), String> {
            let listed: Vec<String> = conditions.iter().map(|c| format!("{}={}", c.type_, c.status)).collect();
            self.answer("conditions", format!("{} {}", node.name_any(), listed.join(",")))
        }

        async fn write_taints(&mut self, node: &Node, taints: &[Taint]) -> Result<(), String> {
            let listed: Vec<String> = taints.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect();
            self.answer("taints", format!("{} [{}]", node.name_any(), listed.join(",")))
        }

        async fn mark(&mut self, pod: &Pod, condition: &PodCondition) -> Result<(), String> {
            self.answer("mark", format!("{} {}={}", pod.name_any(), condition.type_, condition.status))
        }

        async fn delete(&mut self, pod: &Pod) -> Result<(), String> {
            self.answer("delete", format!("{} uid {}", pod.name_any(), pod.uid().unwrap_or_default()))
        }

        fn record(&mut self, about: ObjectReference, type_: EventType, reason: &str, _message: String) {
            self.calls.push(format!("event {type_} {reason} on {}", about.name.unwrap_or_default()));
        }
    }

    fn node(ready: &str, taints: Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": at(0).to_string()},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": at(0).to_string()}]}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_node_monitor_step() {
        let unreachable = json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
                                 {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": at(0).to_string()}]);
        let probed = |t: i64| Observation { lease_renewed: None, ready_heartbeat: None, probed_at: at(t) };
        // (case, the node, when it was last probed, the writes that fail, the calls in order)
        type Case = (&'static str, Node, i64, Vec<&'static str>, &'static [&'static str]);
        let cases: [Case; 4] = [
            (
                "silent past its grace: Unknown, the event, then the unreachable taints",
                node("True", json!([])),
                0,
                vec![],
                &[
                    "conditions n1 Ready=Unknown",
                    "event Normal NodeNotReady on n1",
                    "taints n1 [node.kubernetes.io/unreachable:NoSchedule,node.kubernetes.io/unreachable:NoExecute]",
                ],
            ),
            (
                "the conditions write loses: no event, and the taints wait",
                node("True", json!([])),
                0,
                vec!["conditions"],
                &["conditions n1 Ready=Unknown"],
            ),
            ("heard from within its grace: nothing", node("True", json!([])), 90, vec![], &[]),
            ("ready again: the lifecycle taints go", node("True", unreachable), 90, vec![], &["taints n1 []"]),
        ];
        for (name, n, probed_at, failing, calls) in cases {
            let mut fx = Log { failing, ..Log::default() };
            // The node's heartbeat already seen, so only the probe time decides.
            let heartbeat = health::ready_condition(&n).and_then(|c| c.last_heartbeat_time.clone());
            let seen = Observation { ready_heartbeat: heartbeat, ..probed(probed_at) };
            let mut observed = HashMap::from([("n1".to_string(), seen)]);
            let result = monitor_node(&mut fx, &n, None, &mut observed, Grace::default(), at(100)).await;
            assert_eq!(result.is_err(), !fx.failing.is_empty(), "{name}");
            assert_eq!(fx.calls, calls, "{name}");
            assert_eq!(observed.get("n1").map(|o| o.probed_at), Some(at(probed_at)), "{name}: the probe time stands");
        }
    }

    #[tokio::test]
    async fn an_eviction_marks_before_it_deletes() {
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}})).unwrap();
        let cases: [(&str, Vec<&'static str>, &[&str]); 3] = [
            (
                "evicted",
                vec![],
                &["mark p DisruptionTarget=True", "delete p uid u", "event Normal TaintManagerEviction on p"],
            ),
            ("the mark fails: no deletion", vec!["mark"], &["mark p DisruptionTarget=True"]),
            ("the deletion fails: no event", vec!["delete"], &["mark p DisruptionTarget=True", "delete p uid u"]),
        ];
        for (name, failing, calls) in cases {
            let mut fx = Log { failing, ..Log::default() };
            let result = evict(&mut fx, &pod, at(0)).await;
            assert_eq!(result.is_err(), !fx.failing.is_empty(), "{name}");
            assert_eq!(fx.calls, calls, "{name}");
        }
    }
}
