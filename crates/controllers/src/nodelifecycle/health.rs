//! When a node counts as gone: upstream's `tryUpdateNodeHealth`. The controller remembers, per node, the last
//! Lease renewal and Ready heartbeat it saw and *its own clock's* time when either last changed (the probe
//! time), so a skewed clock on the node cannot keep it alive or kill it. A node whose probe time is older than
//! the node monitor grace period gets its `Ready` (and pressure) conditions set to `Unknown`.

use jiff::{SignedDuration, Timestamp};
use runlet_api::vocab::{ConditionStatus, NodeConditionType};
use runlet_codec::{Lease, MicroTime, Node, NodeCondition, Time};

/// The conditions a kubelet posts that turn `Unknown` when it stops posting (upstream's list; of these, runlet's
/// agents post only `Ready`, but a user's tools may post the others).
pub const KUBELET_CONDITIONS: &[NodeConditionType] = NodeConditionType::ALL;

/// Reason and message upstream gives a condition the kubelet stopped posting.
pub const STATUS_UNKNOWN: &str = "NodeStatusUnknown";
pub const STATUS_UNKNOWN_MESSAGE: &str = "Kubelet stopped posting node status.";
/// ... and one it never posted.
pub const NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
pub const NEVER_UPDATED_MESSAGE: &str = "Kubelet never posted node status.";

/// What the controller last saw of a node's heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub lease_renewed: Option<MicroTime>,
    pub ready_heartbeat: Option<Time>,
    /// This controller's time when the node last showed a sign of life.
    pub probed_at: Timestamp,
}

fn ready_heartbeat(node: &Node) -> Option<Time> {
    ready_condition(node)?.last_heartbeat_time.clone()
}

pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == NodeConditionType::Ready)
}

/// The `Ready` condition's status, or None when the node has not posted one (or posted a status this version
/// does not know).
pub fn ready_status(node: &Node) -> Option<ConditionStatus> {
    ready_condition(node).and_then(|c| ConditionStatus::parse(&c.status))
}

/// Updates what is known of a node's heartbeats. A node seen for the first time is probed now: a new
/// controller (after a restart or a change of leader) gives every node a full grace period.
pub fn observe(previous: Option<&Observation>, node: &Node, lease: Option<&Lease>, now: Timestamp) -> Observation {
    let lease_renewed = lease.and_then(|l| l.spec.as_ref()?.renew_time.clone());
    let ready_heartbeat = ready_heartbeat(node);
    let probed_at = match previous {
        Some(p) if p.lease_renewed == lease_renewed && p.ready_heartbeat == ready_heartbeat => p.probed_at,
        _ => now,
    };
    Observation { lease_renewed, ready_heartbeat, probed_at }
}

/// The grace periods (kube-controller-manager's `--node-monitor-grace-period`, 50 s since 1.32, and
/// `--node-startup-grace-period`, 1 min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace {
    pub monitor: SignedDuration,
    pub startup: SignedDuration,
}

impl Default for Grace {
    fn default() -> Self {
        Grace { monitor: SignedDuration::from_secs(50), startup: SignedDuration::from_secs(60) }
    }
}

/// The node's conditions once its silence is taken into account: None when nothing changes (it is within its
/// grace period, or already `Unknown`). A node that never posted `Ready` gets the startup grace period from its
/// creation.
pub fn stale_conditions(
    node: &Node,
    observed: &Observation,
    grace: Grace,
    now: Timestamp,
) -> Option<Vec<NodeCondition>> {
    let never_posted = ready_condition(node).is_none();
    let (since, allowed) = if never_posted {
        let created = node.metadata.creation_timestamp.as_ref().map_or(observed.probed_at, |t| t.0);
        (created.max(observed.probed_at), grace.startup)
    } else {
        (observed.probed_at, grace.monitor)
    };
    if now.duration_since(since) <= allowed {
        return None;
    }
    let mut conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let mut changed = false;
    for &kind in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) if c.status == ConditionStatus::Unknown => {}
            Some(c) => {
                c.status = ConditionStatus::Unknown.into();
                c.reason = Some(STATUS_UNKNOWN.into());
                c.message = Some(STATUS_UNKNOWN_MESSAGE.into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            // runlet's agents post no pressure conditions: only a missing Ready is added (upstream adds all four,
            // which its kubelet posts).
            None if kind != NodeConditionType::Ready => {}
            None => {
                conditions.push(NodeCondition {
                    type_: kind.into(),
                    status: ConditionStatus::Unknown.into(),
                    reason: Some(NEVER_UPDATED.into()),
                    message: Some(NEVER_UPDATED_MESSAGE.into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn node(conditions: Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n2", "creationTimestamp": at(0).to_string()},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    fn lease(renewed: i64) -> Lease {
        serde_json::from_value(json!({"metadata": {"name": "n2"}, "spec": {"renewTime": MicroTime(at(renewed))}}))
            .unwrap()
    }

    fn ready(status: &str, heartbeat: i64) -> Value {
        json!({"type": "Ready", "status": status, "lastHeartbeatTime": at(heartbeat).to_string(),
               "lastTransitionTime": at(0).to_string(), "reason": "KubeletReady"})
    }

    #[test]
    fn the_probe_time_moves_only_when_a_heartbeat_changes() {
        let n = node(json!([ready("True", 10)]));
        let first = observe(None, &n, Some(&lease(10)), at(100));
        assert_eq!(first.probed_at, at(100), "first sight: probed now, whatever the node's clock says");
        let cases = [
            ("nothing new", n.clone(), Some(lease(10)), at(100)),
            ("lease renewed", n.clone(), Some(lease(20)), at(130)),
            ("ready heartbeat", node(json!([ready("True", 20)])), Some(lease(10)), at(130)),
            ("lease deleted", n.clone(), None, at(130)),
        ];
        for (name, n, l, want) in cases {
            assert_eq!(observe(Some(&first), &n, l.as_ref(), at(130)).probed_at, want, "{name}");
        }
    }

    #[test]
    fn conditions_turn_unknown_after_the_grace_period() {
        let grace = Grace::default();
        let probed = |t: i64| Observation { lease_renewed: None, ready_heartbeat: None, probed_at: at(t) };
        let with_pressure = node(json!([ready("True", 0), {"type": "MemoryPressure", "status": "False"}]));
        // (case, node, probed at, now, the conditions' (type, status, reason) or None when nothing changes)
        type Case = (&'static str, Node, i64, i64, Option<Vec<(&'static str, &'static str, &'static str)>>);
        let cases: [Case; 5] = [
            ("within the grace period", with_pressure.clone(), 100, 150, None),
            (
                "silent past the grace period",
                with_pressure.clone(),
                100,
                151,
                Some(vec![("Ready", "Unknown", STATUS_UNKNOWN), ("MemoryPressure", "Unknown", STATUS_UNKNOWN)]),
            ),
            (
                "already unknown: nothing to write",
                node(json!([
                    {"type": "Ready", "status": "Unknown"}, {"type": "MemoryPressure", "status": "Unknown"},
                    {"type": "DiskPressure", "status": "Unknown"}, {"type": "PIDPressure", "status": "Unknown"}
                ])),
                0,
                500,
                None,
            ),
            ("never posted: the startup grace period from creation", node(json!([])), 0, 60, None),
            (
                "never posted, past the startup grace",
                node(json!([])),
                0,
                61,
                Some(vec![("Ready", "Unknown", NEVER_UPDATED)]),
            ),
        ];
        for (name, n, probed_at, now, want) in cases {
            let got = stale_conditions(&n, &probed(probed_at), grace, at(now));
            let got: Option<Vec<(String, String, String)>> =
                got.map(|cs| cs.into_iter().map(|c| (c.type_, c.status, c.reason.unwrap_or_default())).collect());
            let want = want.map(|w| w.into_iter().map(|(a, b, c)| (a.into(), b.into(), c.into())).collect());
            assert_eq!(got, want, "{name}");
        }
    }
}
