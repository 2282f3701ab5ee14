//! Pod garbage collection (upstream's PodGC controller): which pods are force-deleted because no agent will
//! ever confirm their end. A pod bound to a node that no longer exists (after a quarantine, so a node being
//! re-registered is not mistaken for a gone one), a terminating pod on a node its administrator marked
//! out of service (and that is not ready), and a terminating pod that was never scheduled. A pod that has not
//! finished is first marked `Failed` (orphans also get `DisruptionTarget`, reason `DeletionByPodGC`), so a Job
//! counts it as failed and its `podFailurePolicy` can match the condition.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use runlet_api::taints::OUT_OF_SERVICE;
use runlet_api::vocab::{ConditionStatus, PodPhase};
use runlet_codec::{Node, Pod, PodCondition};

use super::eviction::disruption_condition;
use super::health::ready_status;

pub const BY_POD_GC: &str = "DeletionByPodGC";
pub const NODE_GONE_MESSAGE: &str = "PodGC: node no longer exists";

/// How long a node must be missing before its pods are collected (upstream's `quarantineTime`, 40 s).
pub const QUARANTINE: SignedDuration = SignedDuration::from_secs(40);

/// What the collector knows of the node a pod is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Not in the node cache since `since` (this collector's clock).
    Missing {
        since: Timestamp,
    },
    Present {
        ready: bool,
        out_of_service: bool,
    },
}

/// Why a pod is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collect {
    Orphaned,
    OutOfService,
    UnscheduledTerminating,
}

/// How often the collector looks without being woken (upstream's `gcCheckPeriod`).
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);

/// What one pass of the collector found.
#[derive(Debug)]
pub struct Pass {
    /// The pods to collect, and why.
    pub collect: Vec<(Arc<Pod>, Collect)>,
    /// When to look again: the check period, or sooner when a missing node's quarantine ends.
    pub wake: Duration,
}

/// One pass over the cached pods and nodes. `missing` remembers since when (this collector's clock) each node
/// that pods name has been missing from the cache; nodes that came back or that no pod names are forgotten.
pub fn pass(
    pods: &[Arc<Pod>],
    nodes: &HashMap<String, Arc<Node>>,
    missing: &mut HashMap<String, Timestamp>,
    now: Timestamp,
) -> Pass {
    let bound = |p: &Pod| p.spec.as_ref()?.node_name.clone().filter(|n| !n.is_empty());
    missing.retain(|name, _| !nodes.contains_key(name) && pods.iter().any(|p| bound(p).as_ref() == Some(name)));
    let mut out = Pass { collect: Vec::new(), wake: CHECK_PERIOD };
    for pod in pods {
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
        match collect(pod, state, now) {
            Some(why) => out.collect.push((pod.clone(), why)),
            None => {
                if let Some(NodeState::Missing { since }) = state {
                    let due = Duration::try_from((since + QUARANTINE).duration_since(now)).unwrap_or_default();
                    out.wake = out.wake.min(due.max(Duration::from_millis(100)));
                }
            }
        }
    }
    out
}

/// Whether `pod` is collected, given the state of its node (None: the pod is not bound).
pub fn collect(pod: &Pod, node: Option<NodeState>, now: Timestamp) -> Option<Collect> {
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if terminating && pod.metadata.deletion_grace_period_seconds == Some(0) {
        // Already deleted for good; only finalizers hold it.
        return None;
    }
    match node {
        None => terminating.then_some(Collect::UnscheduledTerminating),
        Some(NodeState::Missing { since }) => (now.duration_since(since) >= QUARANTINE).then_some(Collect::Orphaned),
        Some(NodeState::Present { ready, out_of_service }) => {
            (terminating && out_of_service && !ready).then_some(Collect::OutOfService)
        }
    }
}

/// The status written before the forced deletion: `Failed`, with `DisruptionTarget` for an orphan; None for a
/// pod that already finished (its phase stands).
pub fn failed_status(pod: &Pod, why: Collect, now: Timestamp) -> Option<(PodPhase, Option<PodCondition>)> {
    if PodPhase::of(pod.status.as_ref()).is_some_and(PodPhase::is_terminal) {
        return None;
    }
    let condition = (why == Collect::Orphaned).then(|| disruption_condition(BY_POD_GC, NODE_GONE_MESSAGE, now));
    Some((PodPhase::Failed, condition))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::vocab::PodConditionType;
    use serde_json::{Value, json};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn pod(meta: Value, phase: &str) -> Pod {
        serde_json::from_value(json!({"metadata": meta, "status": {"phase": phase}})).unwrap()
    }

    #[test]
    fn which_pods_are_collected() {
        let running = pod(json!({"name": "a"}), "Running");
        let deleting = pod(json!({"name": "a", "deletionTimestamp": at(0).to_string()}), "Running");
        let deleting_done = pod(json!({"name": "a", "deletionTimestamp": at(0).to_string()}), "Succeeded");
        let forced = pod(
            json!({"name": "a", "deletionTimestamp": at(0).to_string(), "deletionGracePeriodSeconds": 0}),
            "Failed",
        );
        let missing = |s: i64| Some(NodeState::Missing { since: at(s) });
        let present = |ready, out_of_service| Some(NodeState::Present { ready, out_of_service });
        let cases = [
            ("unbound and live", &running, None, None),
            ("unbound and terminating", &deleting, None, Some(Collect::UnscheduledTerminating)),
            ("node missing within the quarantine", &running, missing(61), None),
            ("node missing past the quarantine", &running, missing(60), Some(Collect::Orphaned)),
            ("already force-deleted, held by a finalizer", &forced, missing(0), None),
            ("on a healthy node", &deleting, present(true, false), None),
            ("terminating on an unreachable node: waits for it", &deleting, present(false, false), None),
            ("terminating on an out-of-service node", &deleting, present(false, true), Some(Collect::OutOfService)),
            ("out of service but ready: its agent will finish it", &deleting, present(true, true), None),
            ("running on an out-of-service node: evicted first", &running, present(false, true), None),
            ("finished pods too (nothing to mark)", &deleting_done, present(false, true), Some(Collect::OutOfService)),
        ];
        for (name, p, node, want) in cases {
            assert_eq!(collect(p, node, at(100)), want, "{name}");
        }
    }

    #[test]
    fn a_pass_remembers_missing_nodes_and_wakes_when_their_quarantine_ends() {
        let on = |name: &str, node: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": []},
                                          "status": {"phase": "Running"}}))
            .unwrap()
        };
        let nodes: HashMap<String, Arc<Node>> = HashMap::from([(
            "here".to_string(),
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "here"}})).unwrap()),
        )]);
        let pods = vec![Arc::new(on("a", "gone")), Arc::new(on("b", "here"))];
        let mut missing = HashMap::from([("forgotten".to_string(), at(0))]);
        let first = pass(&pods, &nodes, &mut missing, at(100));
        assert!(first.collect.is_empty(), "the quarantine has just begun");
        assert_eq!(missing, HashMap::from([("gone".to_string(), at(100))]), "nodes no pod names are forgotten");
        assert_eq!(first.wake, Duration::from_secs(20), "the check period comes before the quarantine's end");
        let later = pass(&pods, &nodes, &mut missing, at(125));
        assert_eq!(later.wake, Duration::from_secs(15), "woken when the quarantine ends");
        let due = pass(&pods, &nodes, &mut missing, at(140));
        let collected: Vec<(String, Collect)> =
            due.collect.iter().map(|(p, why)| (p.metadata.name.clone().unwrap_or_default(), *why)).collect();
        assert_eq!(collected, [("a".to_string(), Collect::Orphaned)]);
    }

    #[test]
    fn the_status_written_before_the_deletion() {
        let running = pod(json!({"name": "a"}), "Running");
        let (phase, condition) = failed_status(&running, Collect::Orphaned, at(1)).expect("marked");
        assert_eq!(phase, PodPhase::Failed);
        let condition = condition.expect("orphans get DisruptionTarget");
        assert_eq!(
            (condition.type_.as_str(), condition.reason.as_deref()),
            (PodConditionType::DisruptionTarget.as_str(), Some(BY_POD_GC))
        );
        assert_eq!(failed_status(&running, Collect::OutOfService, at(1)), Some((PodPhase::Failed, None)));
        assert_eq!(failed_status(&pod(json!({}), "Succeeded"), Collect::Orphaned, at(1)), None);
    }
}
