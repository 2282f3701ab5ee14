//! Taint-based eviction (upstream's taint eviction controller): a pod bound to a node with `NoExecute` taints is
//! deleted at once if it does not tolerate one of them, after the shortest `tolerationSeconds` of the
//! tolerations it uses if it tolerates them all, and never if those tolerations have no time limit. Before the
//! deletion the pod gets the `DisruptionTarget` condition, so a Job's `podFailurePolicy` can tell an eviction
//! from a failure of its own.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use runlet_api::taints::tolerates;
use runlet_api::vocab::{ConditionStatus, PodConditionType, TaintEffect};
use runlet_codec::k8s_openapi::api::core::v1::{Taint, Toleration};
use runlet_codec::{Node, Pod, PodCondition, Time};

pub const BY_TAINT_MANAGER: &str = "DeletionByTaintManager";
pub const BY_TAINT_MANAGER_MESSAGE: &str = "Taint manager: deleting due to NoExecute taint";

/// When a pod on a tainted node goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// No `NoExecute` taint, or tolerations without a time limit.
    Never,
    At(Timestamp),
}

/// When the pod with `tolerations` is evicted from a node with `taints`. Deadlines count from the earliest
/// `timeAdded` of the node's `NoExecute` taints (from `now` for a taint without one), so a new leader computes
/// the same deadline as the old one.
pub fn eviction(taints: &[Taint], tolerations: &[Toleration], now: Timestamp) -> Eviction {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == TaintEffect::NoExecute).collect();
    if no_execute.is_empty() {
        return Eviction::Never;
    }
    let since = no_execute.iter().map(|t| t.time_added.as_ref().map_or(now, |t| t.0)).min().unwrap_or(now);
    let mut shortest: Option<i64> = None;
    for taint in &no_execute {
        let used: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if used.is_empty() {
            return Eviction::At(since);
        }
        for seconds in used.iter().filter_map(|t| t.toleration_seconds) {
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    match shortest {
        None => Eviction::Never,
        Some(seconds) => Eviction::At(since + SignedDuration::from_secs(seconds.max(0))),
    }
}

/// What one eviction pass found: the pods whose time is up, and how long until the next one's is.
#[derive(Debug, Default)]
pub struct Due {
    pub pods: Vec<Arc<Pod>>,
    pub next: Option<Duration>,
}

/// The pods to evict now, from the caches. `evicted` holds the uids already evicted whose deletion the cache
/// does not show yet (they are not evicted twice); uids the cache shows deleting or gone are forgotten.
pub fn due(
    nodes: &HashMap<String, Arc<Node>>,
    pods: &[Arc<Pod>],
    evicted: &mut HashSet<String>,
    now: Timestamp,
) -> Due {
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    evicted.retain(|u| pods.iter().any(|p| &uid(p) == u && p.metadata.deletion_timestamp.is_none()));
    let mut out = Due::default();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() || evicted.contains(&uid(pod)) {
            continue;
        }
        let spec = pod.spec.as_ref();
        let Some(node) = spec.and_then(|s| s.node_name.as_deref()).and_then(|n| nodes.get(n)) else { continue };
        let node_taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
        let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        match eviction(node_taints, tolerations, now) {
            Eviction::Never => {}
            Eviction::At(at) if at <= now => out.pods.push(pod.clone()),
            Eviction::At(at) => {
                let wait = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::from_secs(1));
                out.next = Some(out.next.map_or(wait, |n| n.min(wait)));
            }
        }
    }
    out
}

/// The condition set on a pod before the taint manager deletes it.
pub fn disruption_condition(reason: &str, message: &str, now: Timestamp) -> PodCondition {
    PodCondition {
        type_: PodConditionType::DisruptionTarget.into(),
        status: ConditionStatus::True.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(Time(now)),
        last_probe_time: None,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::taints::{NOT_READY, UNREACHABLE};
    use serde_json::json;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const NO_EXECUTE: TaintEffect = TaintEffect::NoExecute;
    const NO_SCHEDULE: TaintEffect = TaintEffect::NoSchedule;

    fn taint(key: &str, effect: TaintEffect, added: Option<i64>) -> Taint {
        Taint { key: key.into(), value: None, effect: effect.into(), time_added: added.map(|s| Time(at(s))) }
    }

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        serde_json::from_value(
            json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}),
        )
        .unwrap()
    }

    #[test]
    fn when_pods_are_evicted() {
        let unreachable = taint(UNREACHABLE, NO_EXECUTE, Some(10));
        let defaults = [toleration(NOT_READY, Some(300)), toleration(UNREACHABLE, Some(300))];
        let cases: [(&str, Vec<Taint>, Vec<Toleration>, Eviction); 8] = [
            ("no taints", vec![], defaults.to_vec(), Eviction::Never),
            ("only NoSchedule", vec![taint(UNREACHABLE, NO_SCHEDULE, None)], vec![], Eviction::Never),
            ("the default five minutes", vec![unreachable.clone()], defaults.to_vec(), Eviction::At(at(310))),
            (
                "not tolerated: at once",
                vec![unreachable.clone()],
                vec![toleration(NOT_READY, Some(300))],
                Eviction::At(at(10)),
            ),
            ("tolerated for ever", vec![unreachable.clone()], vec![toleration(UNREACHABLE, None)], Eviction::Never),
            (
                "the shortest toleration wins",
                vec![unreachable.clone()],
                vec![toleration(UNREACHABLE, Some(30)), toleration("", Some(5))],
                Eviction::At(at(15)),
            ),
            (
                "a negative toleration is zero",
                vec![unreachable.clone()],
                vec![toleration(UNREACHABLE, Some(-3))],
                Eviction::At(at(10)),
            ),
            (
                "one untolerated taint among tolerated ones",
                vec![unreachable, taint("runlet.dev/drain", NO_EXECUTE, Some(20))],
                defaults.to_vec(),
                Eviction::At(at(10)),
            ),
        ];
        for (name, taints, tolerations, want) in cases {
            assert_eq!(eviction(&taints, &tolerations, at(50)), want, "{name}");
        }
        assert_eq!(
            eviction(&[taint(UNREACHABLE, NO_EXECUTE, None)], &[toleration(UNREACHABLE, Some(7))], at(50)),
            Eviction::At(at(57)),
            "a taint without timeAdded counts from now"
        );
    }

    #[test]
    fn a_pass_picks_due_pods_once() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
            "spec": {"taints": [taint(UNREACHABLE, NO_EXECUTE, Some(10))]}}))
        .unwrap();
        let nodes = HashMap::from([("n1".to_string(), Arc::new(node))]);
        let pod = |name: &str, seconds: Option<i64>, deleting: bool| -> Arc<Pod> {
            let tolerations: Vec<Toleration> = seconds.map(|s| toleration(UNREACHABLE, Some(s))).into_iter().collect();
            let mut meta = json!({"name": name, "uid": name});
            if deleting {
                meta["deletionTimestamp"] = json!(at(0).to_string());
            }
            Arc::new(
                serde_json::from_value(json!({"metadata": meta,
                    "spec": {"nodeName": "n1", "containers": [], "tolerations": tolerations}}))
                .unwrap(),
            )
        };
        let pods = [
            pod("now", None, false),
            pod("later", Some(300), false),
            pod("sooner", Some(100), false),
            pod("going", None, true),
            pod("done", None, false),
        ];
        let mut evicted = HashSet::from(["done".to_string(), "gone".to_string(), "going".to_string()]);
        let found = due(&nodes, &pods, &mut evicted, at(50));
        let names: Vec<String> = found.pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["now"], "pods being deleted or already evicted are not evicted again");
        assert_eq!(found.next, Some(Duration::from_secs(60)), "sooner's deadline: 10 + 100 s");
        assert_eq!(evicted, HashSet::from(["done".to_string()]), "deleting or gone: forgotten");
    }
}
