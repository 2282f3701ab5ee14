//! The scheduler: binds each pending pod to a node with room ([`fit`]), or marks it `PodScheduled=False`
//! with the reason none fits, and tries again when nodes or pods change.

pub mod fit;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, PodConditionType, PodPhase};
use runlet_codec::{Node, Pod};
use serde_json::json;

use crate::runtime::Informer;
use fit::Resources;

/// Pods naming another scheduler are left alone.
const SCHEDULER_NAME: &str = "default-scheduler";
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

impl Scheduler {
    pub fn new(client: Client, pods: Arc<Informer<Pod>>, nodes: Arc<Informer<Node>>) -> Self {
        Scheduler { client, pods, nodes }
    }

    pub async fn run(self) {
        let mut pod_changes = self.pods.subscribe();
        let mut node_changes = self.nodes.subscribe();
        self.pods.ready().await;
        self.nodes.ready().await;
        // Reasons already posted, so an unschedulable pod is not patched again on every pass.
        let mut posted: HashMap<String, String> = HashMap::new();
        // Pods bound but not yet seen bound in the cache ("assumed"), with their node: they count against that
        // node and are not scheduled again meanwhile.
        let mut assumed: HashMap<String, String> = HashMap::new();
        loop {
            self.schedule_pending(&mut posted, &mut assumed).await;
            tokio::select! {
                _ = pod_changes.recv() => {}
                _ = node_changes.recv() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            while pod_changes.try_recv().is_ok() {}
            while node_changes.try_recv().is_ok() {}
        }
    }

    async fn schedule_pending(&self, posted: &mut HashMap<String, String>, assumed: &mut HashMap<String, String>) {
        let pods = self.pods.store.state();
        // Forget assumptions the cache has caught up with (or whose pod is gone).
        assumed.retain(|uid, _| pods.iter().any(|p| p.uid().as_deref() == Some(uid.as_str()) && needs_scheduling(p)));
        let mut pending: Vec<&Arc<Pod>> =
            pods.iter().filter(|p| needs_scheduling(p) && !p.uid().is_some_and(|u| assumed.contains_key(&u))).collect();
        if pending.is_empty() {
            return;
        }
        // Oldest first, as a FIFO queue would.
        pending.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
        let nodes: Vec<Node> = self.nodes.store.state().iter().map(|n| (**n).clone()).collect();
        let mut used: BTreeMap<String, Resources> = BTreeMap::new();
        for p in pods.iter() {
            let node = is_active_on_node(p).or_else(|| p.uid().and_then(|u| assumed.get(&u).map(|n| n.as_str())));
            if let Some(node) = node {
                let e = used.entry(node.to_string()).or_default();
                *e = *e + fit::pod_requests(p);
            }
        }
        for pod in pending {
            let uid = pod.uid().unwrap_or_default();
            match fit::pick(pod, &nodes, &used, jiff::Timestamp::now()) {
                Ok(node) => {
                    let node_name = node.name_any();
                    if self.bind(pod, &node_name).await {
                        let e = used.entry(node_name.clone()).or_default();
                        *e = *e + fit::pod_requests(pod);
                        posted.remove(&uid);
                        assumed.insert(uid, node_name);
                    }
                }
                Err(reason) => {
                    if posted.get(&uid) != Some(&reason) && self.mark_unschedulable(pod, &reason).await {
                        posted.insert(uid, reason);
                    }
                }
            }
        }
        posted.retain(|uid, _| pods.iter().any(|p| p.uid().as_deref() == Some(uid.as_str()) && needs_scheduling(p)));
    }

    /// Binds by setting `spec.nodeName` (allowed once, from empty) and `PodScheduled=True`.
    async fn bind(&self, pod: &Pod, node: &str) -> bool {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"uid": pod.uid()}, "spec": {"nodeName": node}});
        if let Err(e) = api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::debug!(pod = %pod.name_any(), error = %e, "binding failed");
            return false;
        }
        let now = runlet_codec::Time(jiff::Timestamp::now());
        let status = json!({"status": {"conditions": [
            {"type": PodConditionType::PodScheduled.as_str(), "status": ConditionStatus::True.as_str(),
             "lastProbeTime": null, "lastTransitionTime": now}]}});
        let _ = api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&status)).await;
        true
    }

    /// Posts `PodScheduled=False` with the reason; false when the write failed (tried again next pass).
    async fn mark_unschedulable(&self, pod: &Pod, reason: &str) -> bool {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let now = runlet_codec::Time(jiff::Timestamp::now());
        let status = json!({"status": {"conditions": [{"type": PodConditionType::PodScheduled.as_str(), "status": ConditionStatus::False.as_str(),
            "reason": "Unschedulable", "message": reason, "lastProbeTime": null, "lastTransitionTime": now}]}});
        match api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&status)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(pod = %pod.name_any(), error = %e, "could not mark the pod unschedulable");
                false
            }
        }
    }
}
