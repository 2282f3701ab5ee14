//! The taints a node's `Ready` condition implies (upstream's taint-based evictions and `TaintNodesByCondition`):
//! `Ready=False` → `not-ready`, `Ready=Unknown` → `unreachable`, each as `NoExecute` (pods that do not tolerate
//! it are evicted) and `NoSchedule` (no new pods). `Ready=True` removes them. Other taints (a user's, the
//! out-of-service taint) are left alone.

use jiff::Timestamp;
use runlet_api::taints::{NOT_READY, UNREACHABLE};
use runlet_api::vocab::{ConditionStatus, TaintEffect};
use runlet_codec::Time;
use runlet_codec::k8s_openapi::api::core::v1::Taint;

/// The lifecycle taint key for a `Ready` status: None when the node is ready (or has not said yet: upstream
/// treats a node without `Ready` as `Unknown` only once the startup grace period has turned it so).
pub fn key_for(ready: Option<ConditionStatus>) -> Option<&'static str> {
    match ready? {
        ConditionStatus::False => Some(NOT_READY),
        ConditionStatus::Unknown => Some(UNREACHABLE),
        ConditionStatus::True => None,
    }
}

fn is_lifecycle(taint: &Taint) -> bool {
    (taint.key == NOT_READY || taint.key == UNREACHABLE)
        && (taint.effect == TaintEffect::NoExecute || taint.effect == TaintEffect::NoSchedule)
}

/// The node's taints with the lifecycle ones matching `ready`; None when they already do. A taint that stays
/// keeps its `timeAdded` (eviction deadlines count from it); a new `NoExecute` taint is stamped `now`.
pub fn reconcile(current: &[Taint], ready: Option<ConditionStatus>, now: Timestamp) -> Option<Vec<Taint>> {
    let key = key_for(ready);
    let wanted = |t: &Taint| Some(t.key.as_str()) == key;
    let mut taints: Vec<Taint> = current.iter().filter(|t| !is_lifecycle(t) || wanted(t)).cloned().collect();
    if let Some(key) = key {
        for effect in [TaintEffect::NoSchedule, TaintEffect::NoExecute] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                let time_added = (effect == TaintEffect::NoExecute).then_some(Time(now));
                taints.push(Taint { key: key.into(), value: None, effect: effect.into(), time_added });
            }
        }
    }
    (taints != current).then_some(taints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const NO_EXECUTE: TaintEffect = TaintEffect::NoExecute;
    const NO_SCHEDULE: TaintEffect = TaintEffect::NoSchedule;

    fn taint(key: &str, effect: TaintEffect, added: Option<i64>) -> Taint {
        Taint { key: key.into(), value: None, effect: effect.into(), time_added: added.map(|s| Time(at(s))) }
    }

    #[test]
    fn lifecycle_taints_follow_ready() {
        let user = taint("dedicated", NO_SCHEDULE, None);
        let unreachable = [taint(UNREACHABLE, NO_SCHEDULE, None), taint(UNREACHABLE, NO_EXECUTE, Some(5))];
        // (case, current taints, Ready, the taints to write or None when they are right)
        type Case = (&'static str, Vec<Taint>, Option<ConditionStatus>, Option<Vec<Taint>>);
        let cases: [Case; 7] = [
            ("ready and untainted", vec![user.clone()], Some(ConditionStatus::True), None),
            ("no Ready yet", vec![], None, None),
            (
                "unknown: unreachable added, user taint kept",
                vec![user.clone()],
                Some(ConditionStatus::Unknown),
                Some(vec![
                    user.clone(),
                    taint(UNREACHABLE, NO_SCHEDULE, None),
                    taint(UNREACHABLE, NO_EXECUTE, Some(9)),
                ]),
            ),
            ("still unknown: the time added stays", unreachable.to_vec(), Some(ConditionStatus::Unknown), None),
            (
                "not ready instead: swapped",
                unreachable.to_vec(),
                Some(ConditionStatus::False),
                Some(vec![taint(NOT_READY, NO_SCHEDULE, None), taint(NOT_READY, NO_EXECUTE, Some(9))]),
            ),
            ("ready again: removed", unreachable.to_vec(), Some(ConditionStatus::True), Some(vec![])),
            (
                "the out-of-service taint is the administrator's",
                vec![taint(runlet_api::taints::OUT_OF_SERVICE, NO_EXECUTE, Some(1))],
                Some(ConditionStatus::True),
                None,
            ),
        ];
        for (name, current, ready, want) in cases {
            assert_eq!(reconcile(&current, ready, at(9)), want, "{name}");
        }
    }
}
