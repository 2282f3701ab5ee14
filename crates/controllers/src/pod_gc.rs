//! The pod garbage collector, carried out against the API: pods bound to nodes that are gone, terminating pods
//! on out-of-service nodes and terminating pods never scheduled ([`podgc`]) are marked `Failed` (if they had
//! not finished) and deleted with grace 0, since no agent will confirm their end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use runlet_api::taints::OUT_OF_SERVICE;
use runlet_api::vocab::ConditionStatus;
use runlet_codec::{Node, Pod};
use serde_json::json;

use crate::nodelifecycle::health::ready_status;
use crate::nodelifecycle::podgc::{self, Collect, NodeState, QUARANTINE};
use runlet_client::Informer;

/// How often the collector looks without being woken (upstream's `gcCheckPeriod`).
const CHECK_PERIOD: Duration = Duration::from_secs(20);

pub struct PodGarbageCollector {
    client: Client,
    pods: Arc<Informer<Pod>>,
    nodes: Arc<Informer<Node>>,
}

impl PodGarbageCollector {
    pub fn new(client: Client, pods: Arc<Informer<Pod>>, nodes: Arc<Informer<Node>>) -> Self {
        PodGarbageCollector { client, pods, nodes }
    }

    pub async fn run(self) {
        let mut node_changes = self.nodes.subscribe();
        let mut pod_changes = self.pods.subscribe();
        self.nodes.ready().await;
        self.pods.ready().await;
        // Nodes that pods name but the cache lacks, since when (this collector's clock).
        let mut missing: HashMap<String, Timestamp> = HashMap::new();
        loop {
            let wake = self.pass(&mut missing).await;
            tokio::select! {
                _ = node_changes.recv() => {}
                _ = pod_changes.recv() => {}
                _ = tokio::time::sleep(wake) => {}
            }
            while node_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }

    /// Collects what is due; returns when to look again.
    async fn pass(&self, missing: &mut HashMap<String, Timestamp>) -> Duration {
        let now = Timestamp::now();
        let nodes: HashMap<String, Arc<Node>> =
            self.nodes.store.state().into_iter().map(|n| (n.name_any(), n)).collect();
        let pods = self.pods.store.state();
        let bound = |p: &Pod| p.spec.as_ref()?.node_name.clone().filter(|n| !n.is_empty());
        missing.retain(|name, _| !nodes.contains_key(name) && pods.iter().any(|p| bound(p).as_ref() == Some(name)));
        let mut wake = CHECK_PERIOD;
        for pod in &pods {
            let state = bound(pod).map(|name| match nodes.get(&name) {
                Some(node) => NodeState::Present {
                    ready: ready_status(node) == Some(ConditionStatus::True),
                    out_of_service: node
                        .spec
                        .as_ref()
                        .and_then(|s| s.taints.as_ref())
                        .is_some_and(|ts| ts.iter().any(|t| t.key == OUT_OF_SERVICE)),
                },
                None => NodeState::Missing { since: *missing.entry(name).or_insert(now) },
            });
            match podgc::collect(pod, state, now) {
                Some(why) => {
                    if why == Collect::Orphaned && self.node_exists(bound(pod).as_deref().unwrap_or_default()).await {
                        continue;
                    }
                    self.collect(pod, why, now).await;
                }
                None => {
                    if let Some(NodeState::Missing { since }) = state {
                        let due = Duration::try_from((since + QUARANTINE).duration_since(now)).unwrap_or_default();
                        wake = wake.min(due.max(Duration::from_millis(100)));
                    }
                }
            }
        }
        wake
    }

    /// A fresh read: the cache may not have caught up with a node registered again.
    async fn node_exists(&self, name: &str) -> bool {
        let api: Api<Node> = Api::all(self.client.clone());
        !matches!(api.get_opt(name).await, Ok(None))
    }

    async fn collect(&self, pod: &Pod, why: Collect, now: Timestamp) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        if let Some((phase, condition)) = podgc::failed_status(pod, why, now) {
            let mut status = json!({"phase": phase.as_str()});
            if let Some(condition) = condition {
                status["conditions"] = json!([condition]);
            }
            let patch = json!({"status": status});
            if let Err(error) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                tracing::debug!(pod = %name, %error, "could not mark the pod failed; next pass");
                return;
            }
        }
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &params).await {
            Ok(_) => tracing::info!(pod = %name, reason = ?why, "pod garbage collected"),
            Err(error) => tracing::debug!(pod = %name, %error, "could not delete the pod; next pass"),
        }
    }
}
