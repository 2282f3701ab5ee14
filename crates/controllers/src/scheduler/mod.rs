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
use runlet_client::informer::Change;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

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

    /// Binds each pod to its node: sets `spec.nodeName` (allowed once, from empty) and `PodScheduled=True`.
    /// The bindings of one pass are independent writes, made concurrently (upstream's binding cycle runs apart
    /// from the scheduling cycle for the same reason: a durable write per pod must not serialize the pass).
    async fn bind(&mut self, binds: &[(&Pod, &str)]) -> Vec<Result<(), Self::Error>>;
    /// Posts `PodScheduled=False`, reason `Unschedulable`, with why no node fits.
    async fn mark_unschedulable(&mut self, pod: &Pod, why: &str) -> Result<(), Self::Error>;
}

/// The pods a scheduling pass looks at, kept up to date from the pod informer's changes: those waiting for a
/// node and those holding room on one. Finished pods are in neither, so a pass costs nothing for the pods kept
/// after they ran (a Job's thousands of completed pods).
#[derive(Debug, Default)]
pub struct Waiting {
    pending: HashMap<String, Arc<Pod>>,
    /// Active pods bound to a node: the node and what they take of it.
    active: HashMap<String, (String, Resources)>,
}

impl Waiting {
    /// The view of `pods` (a cache's whole content).
    pub fn of(pods: &[Arc<Pod>]) -> Waiting {
        let mut view = Waiting::default();
        for p in pods {
            view.apply(p);
        }
        view
    }

    /// A pod was added or changed.
    pub fn apply(&mut self, pod: &Arc<Pod>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if needs_scheduling(pod) {
            self.active.remove(&uid);
            self.pending.insert(uid, pod.clone());
        } else {
            self.pending.remove(&uid);
            match is_active_on_node(pod) {
                Some(node) => {
                    self.active.insert(uid, (node.to_string(), fit::pod_requests(pod)));
                }
                None => {
                    self.active.remove(&uid);
                }
            }
        }
    }

    /// A pod was deleted.
    pub fn remove(&mut self, pod: &Pod) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        self.pending.remove(uid);
        self.active.remove(uid);
    }
}

/// One scheduling pass over the waiting pods and the nodes, oldest pending pod first, as a FIFO queue would.
/// Each pod bound counts against its node for the pods after it; a pod whose binding fails takes nothing and
/// is tried again next pass.
pub async fn schedule_pending<E: Effects>(
    fx: &mut E,
    pods: &Waiting,
    nodes: &[Node],
    memory: &mut Memory,
    now: jiff::Timestamp,
) {
    // Forget assumptions the cache has caught up with (or whose pod is gone).
    memory.assumed.retain(|uid, _| pods.pending.contains_key(uid));
    let mut pending: Vec<&Arc<Pod>> =
        pods.pending.iter().filter(|(uid, _)| !memory.assumed.contains_key(*uid)).map(|(_, p)| p).collect();
    if pending.is_empty() {
        memory.posted.clear();
        return;
    }
    // Oldest first; the name breaks ties so that a pass does not depend on the map's order.
    pending.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    let mut used: BTreeMap<String, Resources> = BTreeMap::new();
    for (node, requests) in pods.active.values() {
        let e = used.entry(node.clone()).or_default();
        *e = *e + *requests;
    }
    for (uid, node) in &memory.assumed {
        if let Some(p) = pods.pending.get(uid) {
            let e = used.entry(node.clone()).or_default();
            *e = *e + fit::pod_requests(p);
        }
    }
    // Pods are placed one after the other (each takes room from the ones after it) and assumed bound; the
    // bindings are written together afterwards, and a failed one gives its room back for the next pass.
    let mut binds: Vec<(&Pod, String)> = Vec::new();
    for pod in pending {
        let uid = pod.uid().unwrap_or_default();
        match fit::pick(pod, nodes, &used, now) {
            Ok(node) => {
                let node_name = node.name_any();
                let e = used.entry(node_name.clone()).or_default();
                *e = *e + fit::pod_requests(pod);
                memory.posted.remove(&uid);
                memory.assumed.insert(uid, node_name.clone());
                binds.push((pod, node_name));
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
    let requests: Vec<(&Pod, &str)> = binds.iter().map(|(p, n)| (*p, n.as_str())).collect();
    let results = fx.bind(&requests).await;
    for ((pod, _), result) in binds.iter().zip(results) {
        if let Err(error) = result {
            tracing::debug!(pod = %pod.name_any(), %error, "binding failed");
            memory.assumed.remove(pod.metadata.uid.as_deref().unwrap_or_default());
        }
    }
    memory.posted.retain(|uid, _| pods.pending.contains_key(uid));
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
        // Built after subscribing: changes queued meanwhile only repeat what the store already shows.
        let mut waiting = Waiting::of(&self.pods.store.state());
        loop {
            let nodes: Vec<Node> = self.nodes.store.state().iter().map(|n| (**n).clone()).collect();
            schedule_pending(&mut fx, &waiting, &nodes, &mut memory, jiff::Timestamp::now()).await;
            let mut relist = false;
            let mut note = |change: Result<Change<Pod>, RecvError>, waiting: &mut Waiting| match change {
                Ok(Change::Applied(p)) => waiting.apply(&p),
                Ok(Change::Deleted(p)) => waiting.remove(&p),
                Ok(Change::Relisted) | Err(RecvError::Lagged(_)) => relist = true,
                Err(RecvError::Closed) => {}
            };
            tokio::select! {
                c = pod_changes.recv() => note(c, &mut waiting),
                _ = node_changes.recv() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            loop {
                match pod_changes.try_recv() {
                    Ok(c) => note(Ok(c), &mut waiting),
                    Err(TryRecvError::Lagged(n)) => note(Err(RecvError::Lagged(n)), &mut waiting),
                    Err(_) => break,
                }
            }
            while node_changes.try_recv().is_ok() {}
            if relist {
                waiting = Waiting::of(&self.pods.store.state());
            }
        }
    }
}

/// The effects carried out against the API.
struct ApiEffects {
    client: Client,
}

impl Effects for ApiEffects {
    type Error = kube::Error;

    async fn bind(&mut self, binds: &[(&Pod, &str)]) -> Vec<Result<(), kube::Error>> {
        futures::future::join_all(binds.iter().map(|(pod, node)| bind(&self.client, pod, node))).await
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

/// One binding: `spec.nodeName`, then `PodScheduled=True` (informational: the agent's status writes follow).
async fn bind(client: &Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"uid": pod.uid()}, "spec": {"nodeName": node}});
    api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let now = runlet_codec::Time(jiff::Timestamp::now());
    let status = json!({"status": {"conditions": [
        {"type": PodConditionType::PodScheduled.as_str(), "status": ConditionStatus::True.as_str(),
         "lastProbeTime": null, "lastTransitionTime": now}]}});
    if let Err(error) = api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&status)).await {
        tracing::debug!(pod = %pod.name_any(), %error, "could not set PodScheduled");
    }
    Ok(())
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

        async fn bind(&mut self, binds: &[(&Pod, &str)]) -> Vec<Result<(), String>> {
            let mut results = Vec::new();
            for (pod, node) in binds {
                let name = pod.name_any();
                self.calls.push(format!("bind {name} {node}"));
                results.push(if self.refuse.contains(&name.as_str()) { Err("conflict".into()) } else { Ok(()) });
            }
            results
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
        schedule_pending(&mut fx, &Waiting::of(&pods), &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls, ["unschedulable young: 0/1 nodes are available: 1 Insufficient cpu.", "bind old n1"]);
        assert_eq!(memory.assumed.get("old").map(String::as_str), Some("n1"));

        // The cache has not caught up: the assumed pod still takes its room, and the reason is not posted again.
        fx.calls.clear();
        schedule_pending(&mut fx, &Waiting::of(&pods), &nodes, &mut memory, now()).await;
        assert!(fx.calls.is_empty(), "{:?}", fx.calls);

        // The cache shows it bound: the assumption is forgotten, the room stays taken.
        let bound = pod("old", "2026-01-01T00:00:01Z", "600m", json!({"nodeName": "n1"}));
        let caught_up = [pods[0].clone(), bound];
        schedule_pending(&mut fx, &Waiting::of(&caught_up), &nodes, &mut memory, now()).await;
        assert!(fx.calls.is_empty(), "{:?}", fx.calls);
        assert!(memory.assumed.is_empty());
    }

    #[tokio::test]
    async fn a_failed_binding_gives_its_room_back_for_the_next_pass() {
        let nodes = [node("n1", "1")];
        let pods =
            [pod("a", "2026-01-01T00:00:01Z", "600m", json!({})), pod("b", "2026-01-01T00:00:02Z", "600m", json!({}))];
        let mut fx = Log { refuse: vec!["a"], ..Log::default() };
        let mut memory = Memory::default();
        schedule_pending(&mut fx, &Waiting::of(&pods), &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls, ["unschedulable b: 0/1 nodes are available: 1 Insufficient cpu.", "bind a n1"]);
        assert!(memory.assumed.is_empty(), "{:?}", memory.assumed);

        // a is gone meanwhile: b gets the room a never took.
        fx.calls.clear();
        schedule_pending(&mut fx, &Waiting::of(&pods[1..]), &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls, ["bind b n1"]);
        assert_eq!(memory.assumed.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[tokio::test]
    async fn the_bindings_of_a_pass_are_made_together_after_every_pod_is_placed() {
        let nodes = [node("n1", "1"), node("n2", "1")];
        let pods = [
            pod("a", "2026-01-01T00:00:01Z", "600m", json!({})),
            pod("b", "2026-01-01T00:00:02Z", "600m", json!({})),
            pod("c", "2026-01-01T00:00:03Z", "600m", json!({})),
        ];
        let mut fx = Log::default();
        let mut memory = Memory::default();
        schedule_pending(&mut fx, &Waiting::of(&pods), &nodes, &mut memory, now()).await;
        assert_eq!(fx.calls.len(), 3, "{:?}", fx.calls);
        assert!(
            fx.calls[0].starts_with("unschedulable c: 0/2 nodes are available: 2 Insufficient cpu."),
            "{:?}",
            fx.calls
        );
        let mut bound: Vec<&str> = fx.calls[1..].iter().map(|c| c.rsplit(' ').next().unwrap()).collect();
        bound.sort();
        assert_eq!(bound, ["n1", "n2"], "a and b on different nodes: {:?}", fx.calls);
    }

    #[test]
    fn the_view_keeps_only_waiting_and_active_pods() {
        let pending = pod("p", "2026-01-01T00:00:01Z", "100m", json!({}));
        let running = pod("r", "2026-01-01T00:00:01Z", "200m", json!({"nodeName": "n1"}));
        let mut done = (*pod("d", "2026-01-01T00:00:01Z", "300m", json!({"nodeName": "n1"}))).clone();
        done.status = Some(runlet_codec::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        let done = Arc::new(done);
        let mut view = Waiting::of(&[pending.clone(), running.clone(), done]);
        assert_eq!(view.pending.keys().collect::<Vec<_>>(), ["p"]);
        assert_eq!(view.active.keys().collect::<Vec<_>>(), ["r"]);
        assert_eq!(view.active["r"].1.cpu_milli, 200);
        // p is bound: it moves over; r is deleted: it goes.
        view.apply(&pod("p", "2026-01-01T00:00:01Z", "100m", json!({"nodeName": "n1"})));
        view.remove(&running);
        assert!(view.pending.is_empty());
        assert_eq!(view.active.keys().collect::<Vec<_>>(), ["p"]);
    }
}
