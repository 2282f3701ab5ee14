//! The pod garbage collector, carried out against the API: pods bound to nodes that are gone, terminating pods
//! on out-of-service nodes and terminating pods never scheduled ([`podgc`], pure) are marked `Failed` (if they
//! had not finished) and deleted with grace 0, since no agent will confirm their end. [`collect`] is the one
//! sequence of steps for a pod, written against [`Effects`]: the collector runs it against the API, the tests
//! against an in-memory log.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use runlet_api::vocab::PodPhase;
use runlet_client::{ApiErrorExt, Informer};
use runlet_codec::{Node, Pod, PodCondition};
use serde_json::json;

use crate::nodelifecycle::podgc::{self, Collect};

/// The collector's side effects.
#[allow(async_fn_in_trait)] // Used with concrete types only.
pub trait Effects {
    type Error: std::fmt::Display;

    /// A fresh (uncached) read: whether the node exists.
    async fn node_exists(&mut self, name: &str) -> Result<bool, Self::Error>;
    /// Writes the pod's phase and, if given, a condition to its status.
    async fn mark(&mut self, pod: &Pod, phase: PodPhase, condition: Option<&PodCondition>) -> Result<(), Self::Error>;
    /// Deletes this very pod (uid precondition) with grace 0.
    async fn force_delete(&mut self, pod: &Pod) -> Result<(), Self::Error>;
}

/// What became of a pod the pass chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    Deleted,
    /// An orphan whose node a fresh read finds again (the cache had not caught up): left alone.
    NodeBack,
}

/// Collects one pod: for an orphan, a fresh read of its node first; then `Failed` (unless it finished), and only
/// once that is written the forced deletion, so a Job counts the pod as failed, never as vanished.
pub async fn collect<E: Effects>(fx: &mut E, pod: &Pod, why: Collect, now: Timestamp) -> Result<Collected, E::Error> {
    if why == Collect::Orphaned {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        if fx.node_exists(node).await? {
            return Ok(Collected::NodeBack);
        }
    }
    if let Some((phase, condition)) = podgc::failed_status(pod, why, now) {
        fx.mark(pod, phase, condition.as_ref()).await?;
    }
    fx.force_delete(pod).await?;
    Ok(Collected::Deleted)
}

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
        let mut fx = ApiEffects { client: self.client.clone() };
        // Nodes that pods name but the cache lacks, since when (this collector's clock).
        let mut missing: HashMap<String, Timestamp> = HashMap::new();
        loop {
            let now = Timestamp::now();
            let nodes: HashMap<String, Arc<Node>> =
                self.nodes.store.state().into_iter().map(|n| (n.name_any(), n)).collect();
            let pass = podgc::pass(&self.pods.store.state(), &nodes, &mut missing, now);
            for (pod, why) in &pass.collect {
                match collect(&mut fx, pod, *why, now).await {
                    Ok(Collected::Deleted) => {
                        tracing::info!(pod = %pod.name_any(), reason = ?why, "pod garbage collected")
                    }
                    Ok(Collected::NodeBack) => {}
                    Err(error) => {
                        tracing::debug!(pod = %pod.name_any(), %error, "could not collect the pod; next pass")
                    }
                }
            }
            let wake = tokio::time::Instant::now() + pass.wake;
            tokio::select! {
                _ = node_changes.recv() => {}
                _ = pod_changes.recv() => {
                    // Every pass looks at every pod: pod changes wake it at most once per spacing.
                    tokio::select! {
                        _ = node_changes.recv() => {}
                        _ = tokio::time::sleep_until(wake.min(tokio::time::Instant::now() + crate::POD_CHANGE_SPACING)) => {}
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            while node_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }
}

/// The effects carried out against the API.
struct ApiEffects {
    client: Client,
}

impl Effects for ApiEffects {
    type Error = kube::Error;

    async fn node_exists(&mut self, name: &str) -> Result<bool, kube::Error> {
        match Api::<Node>::all(self.client.clone()).get(name).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn mark(&mut self, pod: &Pod, phase: PodPhase, condition: Option<&PodCondition>) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let mut status = json!({"phase": phase.as_str()});
        if let Some(condition) = condition {
            status["conditions"] = json!([condition]);
        }
        let patch = json!({"status": status});
        api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await.map(|_| ())
    }

    async fn force_delete(&mut self, pod: &Pod) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
            ..DeleteParams::default()
        };
        api.delete(&pod.name_any(), &params).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn pod(phase: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"nodeName": "n1", "containers": []}, "status": {"phase": phase}}))
        .unwrap()
    }

    /// An in-memory API that logs each call, with the answers a test sets.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        node_there: bool,
        node_read_fails: bool,
        mark_fails: bool,
    }

    impl Effects for Log {
        type Error = String;

        async fn node_exists(&mut self, name: &str) -> Result<bool, String> {
            self.calls.push(format!("read node {name}"));
            if self.node_read_fails { Err("unreachable".into()) } else { Ok(self.node_there) }
        }

        async fn mark(&mut self, pod: &Pod, phase: PodPhase, condition: Option<&PodCondition>) -> Result<(), String> {
            let condition = condition.map(|c| format!(" {}={}", c.type_, c.status)).unwrap_or_default();
            self.calls.push(format!("mark {} {phase}{condition}", pod.name_any()));
            if self.mark_fails { Err("conflict".into()) } else { Ok(()) }
        }

        async fn force_delete(&mut self, pod: &Pod) -> Result<(), String> {
            self.calls.push(format!("delete {} uid {}", pod.name_any(), pod.uid().unwrap_or_default()));
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_steps_of_a_collection() {
        // (case, the API's answers, the pod's phase, why it is collected, the result, the calls in order)
        type Case = (&'static str, Log, &'static str, Collect, Result<Collected, String>, &'static [&'static str]);
        let cases: [Case; 6] = [
            (
                "an orphan: its node read fresh, marked Failed with DisruptionTarget, then deleted",
                Log::default(),
                "Running",
                Collect::Orphaned,
                Ok(Collected::Deleted),
                &["read node n1", "mark p Failed DisruptionTarget=True", "delete p uid u"],
            ),
            (
                "the node is back: nothing",
                Log { node_there: true, ..Log::default() },
                "Running",
                Collect::Orphaned,
                Ok(Collected::NodeBack),
                &["read node n1"],
            ),
            (
                "the node cannot be read: nothing this pass",
                Log { node_read_fails: true, ..Log::default() },
                "Running",
                Collect::Orphaned,
                Err("unreachable".into()),
                &["read node n1"],
            ),
            (
                "the mark fails: no deletion (the pod would vanish uncounted)",
                Log { mark_fails: true, ..Log::default() },
                "Running",
                Collect::OutOfService,
                Err("conflict".into()),
                &["mark p Failed"],
            ),
            (
                "finished: its phase stands, deleted only",
                Log::default(),
                "Succeeded",
                Collect::OutOfService,
                Ok(Collected::Deleted),
                &["delete p uid u"],
            ),
            (
                "never scheduled: no node to read",
                Log::default(),
                "Pending",
                Collect::UnscheduledTerminating,
                Ok(Collected::Deleted),
                &["mark p Failed", "delete p uid u"],
            ),
        ];
        for (name, mut fx, phase, why, want, calls) in cases {
            let got = collect(&mut fx, &pod(phase), why, at(0)).await;
            assert_eq!(got, want, "{name}");
            assert_eq!(fx.calls, calls, "{name}");
        }
    }
}
