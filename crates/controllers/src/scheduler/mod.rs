//! The scheduler: binds each pending pod to a node with room ([`fit`], pure), or marks it `PodScheduled=False`
//! with the reason none fits, and tries again when nodes or pods change. [`schedule_pending`] is the pass,
//! written against [`Effects`]: the scheduler runs it against the API, the tests against an in-memory log.

pub mod fit;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, PodConditionType, PodPhase};
use runlet_codec::{Node, Pod};
use serde_json::json;

use fit::Resources;
use runlet_client::Informer;

/// Pods naming another scheduler are left alone.
use runlet_api::pod::defaults::DEFAULT_SCHEDULER_NAME as SCHEDULER_NAME;
/// The reason of `PodScheduled=False` (upstream `PodReasonUnschedulable`).
const UNSCHEDULABLE: &str = "Unschedulable";
const RESYNC: Duration = Duration::from_secs(5);

pub struct Scheduler {
    client: Client,
    pods: Arc<Informer<Pod>>,
    nodes: Arc<Informer<Node>>,
}

fn needs_scheduling(p: &Pod) -> bool {
    let spec = p.spec.as_ref();
    let unbound = spec.and_then(|s| s.node_name.as_deref()).unwrap_or("").is_empty();
    let ours = spec.and_then(|s| s.scheduler_name.as_deref()).is_none_or(|n| n == SCHEDULER_NAME);
    let gated = spec.and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty());
    let terminal = PodPhase::of(p.status.as_ref()).is_some_and(PodPhase::is_terminal);
    unbound && ours && !gated && !terminal && p.metadata.deletion_timestamp.is_none()
}

fn is_active_on_node(p: &Pod) -> Option<&str> {
    let node = p.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())?;
    let terminal = PodPhase::of(p.status.as_ref()).is_some_and(PodPhase::is_terminal);
    (!terminal).then_some(node)
}

/// What the scheduler remembers between passes.
#[derive(Debug, Default)]
pub struct Memory {
    /// Reasons already posted, so an unschedulable pod is not patched again on every pass.
    pub posted: HashMap<String, String>,
    /// Pods bound but not yet seen bound in the cache ("assumed"), with their node: they count against that
    /// node and are not scheduled again meanwhile.
    pub assumed: HashMap<String, String>,
}

/// The scheduler's side effects.
#[allow(async_fn_in_trait)] // Used with concrete types only.
pub trait Effects {
    type Error: std::fmt::Display;

    /// Binds the pod: sets `spec.nodeName` (allowed once, from empty) and `PodScheduled=True`.
    async fn bind(&mut self, pod: &Pod, node: &str) -> Result<(), Self::Error>;
    /// Posts `PodScheduled=False`, reason `Unschedulable`, with why no node fits.
    async fn mark_unschedulable(&mut self, pod: &Pod, why: &str) -> Result<(), Self::Error>;
}

/// One scheduling pass over the cached pods and nodes, oldest pending pod first, as a FIFO queue would. Each
/// pod bound counts against its node for the pods after it; a pod whose binding fails takes nothing and is
/// tried again next pass.
pub async fn schedule_pending<E: Effects>(
    fx: &mut E,
    pods: &[Arc<Pod>],
    nodes: &[Node],
    memory: &mut Memory,
    now: jiff::Timestamp,
) {
    let pending_uid = |uid: &str| pods.iter().any(|p| p.uid().as_deref() == Some(uid) && needs_scheduling(p));
    // Forget assumptions the cache has caught up with (or whose pod is gone).
    memory.assumed.retain(|uid, _| pending_uid(uid));
    let mut pending: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| needs_scheduling(p) && !p.uid().is_some_and(|u| memory.assumed.contains_key(&u)))
        .collect();
    if pending.is_empty() {
        return;
    }
    pending.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    let mut used: BTreeMap<String, Resources> = BTreeMap::new();
    for p in pods {
        let node = is_active_on_node(p).or_else(|| p.uid().and_then(|u| memory.assumed.get(&u).map(|n| n.as_str())));
        if let Some(node) = node {
            let e = used.entry(node.to_string()).or_default();
            *e = *e + fit::pod_requests(p);
        }
    }
    for pod in pending {
        let uid = pod.uid().unwrap_or_default();
        match fit::pick(pod, nodes, &used, now) {
            Ok(node) => {
                let node_name = node.name_any();
                match fx.bind(pod, &node_name).await {
                    Ok(()) => {
                        let e = used.entry(node_name.clone()).or_default();
                        *e = *e + fit::pod_requests(pod);
                        memory.posted.remove(&uid);
                        memory.assumed.insert(uid, node_name);
                    }
                    Err(error) => tracing::debug!(pod = %pod.name_any(), %error, "binding failed"),
                }
            }
            Err(reason) => {
                if memory.posted.get(&uid) == Some(&reason) {
                    continue;
                }
                match fx.mark_unschedulable(pod, &reason).await {
                    Ok(()) => {
                        memory.posted.insert(uid, reason);
                    }
                    Err(error) => {
                        tracing::debug!(pod = %pod.name_any(), %error, "could not mark the pod unschedulable")
                    }
                }
            }
        }
    }
    memory.posted.retain(|uid, _| pending_uid(uid));
}

impl Scheduler {
    pub fn new(client: Client, pods: Arc<Informer<Pod>>, nodes: Arc<Informer<Node>>) -> Self {
        Scheduler { client, pods, nodes }
    }

    pub async fn run(self) {
        let mut pod_changes = self.pods.subscribe();
        let mut node_changes = self.nodes.subscribe();
        self.pods.ready().await;
        self.nodes.ready().await;
        let mut memory = Memory::default();
        let mut fx = ApiEffects { client: self.client.clone() };
        loop {
            let nodes: Vec<Node> = self.nodes.store.state().iter().map(|n| (**n).clone()).collect();
            let pods = self.pods.store.state();
            schedule_pending(&mut fx, &pods, &nodes, &mut memory, jiff::Timestamp::now()).await;
            tokio::select! {
                _ = pod_changes.recv() => {}
                _ = node_changes.recv() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            while pod_changes.try_recv().is_ok() {}
            while node_changes.try_recv().is_ok() {}
        }
    }
}

/// The effects carried out against the API.
struct ApiEffects {
    client: Client,
}

impl Effects for ApiEffects {
    type Error = kube::Error;

    async fn bind(&mut self, pod: &Pod, node: &str) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"uid": pod.uid()}, "spec": {"nodeName": node}});
        api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        let now = runlet_codec::Time(jiff::Timestamp::now());
        let status = json!({"status": {"conditions": [
            {"type": PodConditionType::PodScheduled.as_str(), "status": ConditionStatus::True.as_str(),
             "lastProbeTime": null, "lastTransitionTime": now}]}});
        // The binding is what counts; the condition is informational (the agent's status writes follow).
        if let Err(error) = api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&status)).await
        {
            tracing::debug!(pod = %pod.name_any(), %error, "could not set PodScheduled");
        }
        Ok(())
    }

    async fn mark_unschedulable(&mut self, pod: &Pod, why: &str) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let now = runlet_codec::Time(jiff::Timestamp::now());
        let status = json!({"status": {"conditions": [{"type": PodConditionType::PodScheduled.as_str(),
            "status": ConditionStatus::False.as_str(), "reason": UNSCHEDULABLE, "message": why,
            "lastProbeTime": null, "lastTransitionTime": now}]}});
        api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&status)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:40Z".parse().unwrap()
    }

    fn node(name: &str, cpu: &str) -> Node {
        runlet_codec::decode_node(&json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap()
        .object
    }

    fn pod(name: &str, created: &str, cpu: &str, extra: Value) -> Arc<Pod> {
        let mut v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "uid": name, "creationTimestamp": created},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]}});
        if let Value::Object(extra) = extra {
            for (k, val) in extra {
                v["spec"][k] = val;
            }
        }
        Arc::new(runlet_codec::decode_pod(&v).unwrap().object)
    }

    /// An in-memory API that logs each call; bindings of the pods in `refuse` fail.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        refuse: Vec<&'static str>,
    }

    impl Effects for Log {
        type Error = String;

        async fn bind(&mut self, pod: &Pod, node: &str) -> Result<(), String> {
            let name = pod.name_any();
            self.calls.push(format!("bind {name} {node}"));
            if self.refuse.contains(&name.as_str()) { Err("conflict".into()) } else { Ok(()) }
        }

        async fn mark_unschedulable(&mut self, pod: &Pod, why: &str) -> Result<(), String> {
            self.calls.push(format!("unschedulable {}: {why}", pod.name_any()));
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_oldest_pod_takes_the_room_and_the_other_is_told_once() {
        let nodes = [node("n1", "1")];
        let pods = [
            pod("young", "2026-01-01T00:00:02Z", "600m", json!({})),
            pod("old", "2026-01-01T00:00:01Z", "600m", json!({})),
        ];
        let mut fx = Log::default();
        let mut memory = Memory::default();
        schedule_pending(&mut fx, &pods, &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls, ["bind old n1", "unschedulable young: 0/1 nodes are available: 1 Insufficient cpu."]);
        assert_eq!(memory.assumed.get("old").map(String::as_str), Some("n1"));

        // The cache has not caught up: the assumed pod still takes its room, and the reason is not posted again.
        fx.calls.clear();
        schedule_pending(&mut fx, &pods, &nodes, &mut memory, now()).await;
        assert!(fx.calls.is_empty(), "{:?}", fx.calls);

        // The cache shows it bound: the assumption is forgotten, the room stays taken.
        let bound = pod("old", "2026-01-01T00:00:01Z", "600m", json!({"nodeName": "n1"}));
        let caught_up = [pods[0].clone(), bound];
        schedule_pending(&mut fx, &caught_up, &nodes, &mut memory, now()).await;
        assert!(fx.calls.is_empty(), "{:?}", fx.calls);
        assert!(memory.assumed.is_empty());
    }

    #[tokio::test]
    async fn a_failed_binding_takes_no_room() {
        let nodes = [node("n1", "1")];
        let pods =
            [pod("a", "2026-01-01T00:00:01Z", "600m", json!({})), pod("b", "2026-01-01T00:00:02Z", "600m", json!({}))];
        let mut fx = Log { refuse: vec!["a"], ..Log::default() };
        let mut memory = Memory::default();
        schedule_pending(&mut fx, &pods, &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls, ["bind a n1", "bind b n1"]);
        assert_eq!(memory.assumed.keys().collect::<Vec<_>>(), ["b"]);
    }
}
