//! The Job controller's metrics, under upstream's names: sync latency and count, finished Jobs, and finished
//! pods, recorded from the status the controller writes (the one place a Job's counts and conditions change).

use std::time::Duration;

use std::collections::HashSet;

use runlet_api::vocab::{ConditionStatus, JobConditionType, PodPhase};
use runlet_codec::{Job, JobStatus, Pod};
use runlet_metrics::{EventLabels, FailurePolicyLabels, FinishedLabels, PodsFinishedLabels, SyncLabels};

use crate::job::{FailurePolicyAction, has_tracking_finalizer};

fn completion_mode(job: &Job) -> &'static str {
    match job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) {
        Some("Indexed") => "Indexed",
        _ => "NonIndexed",
    }
}

/// One sync of `job` (None when it was gone) that took `elapsed`.
pub fn record_sync(job: Option<&Job>, ok: bool, elapsed: Duration) {
    let labels = SyncLabels {
        completion_mode: job.map_or("NonIndexed", completion_mode),
        result: if ok { "success" } else { "error" },
        action: "reconciling",
    };
    let metrics = &runlet_metrics::global().job_controller;
    metrics.syncs.get_or_create(&labels).inc();
    metrics.sync_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
}

/// The condition (`Complete` or `Failed`, True) that finishes a Job, with its reason.
fn finished(status: Option<&JobStatus>) -> Option<(&'static str, String)> {
    let conditions = status?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == ConditionStatus::True).find_map(|c| {
        match JobConditionType::parse(&c.type_)? {
            JobConditionType::Complete => Some(("succeeded", c.reason.clone().unwrap_or_default())),
            JobConditionType::Failed => Some(("failed", c.reason.clone().unwrap_or_default())),
            _ => None,
        }
    })
}

/// What changed between the status `base` had and the `written` one: newly counted pods, and the finish.
pub fn record_status_change(base: &Job, written: &JobStatus) {
    let metrics = &runlet_metrics::global().job_controller;
    let mode = completion_mode(base);
    let old = base.status.as_ref();
    let delta =
        |now: Option<i32>, before: Option<i32>| u64::try_from(now.unwrap_or(0) - before.unwrap_or(0)).unwrap_or(0);
    let succeeded = delta(written.succeeded, old.and_then(|s| s.succeeded));
    let failed = delta(written.failed, old.and_then(|s| s.failed));
    for (result, count) in [("succeeded", succeeded), ("failed", failed)] {
        if count > 0 {
            metrics.pods_finished.get_or_create(&PodsFinishedLabels { completion_mode: mode, result }).inc_by(count);
        }
    }
    if finished(old).is_none()
        && let Some((result, reason)) = finished(Some(written))
    {
        metrics.finished.get_or_create(&FinishedLabels { completion_mode: mode, result, reason }).inc();
    }
}

/// Failed pods handled by a `podFailurePolicy` rule, one action each, counted as they are accounted for.
pub fn record_failures_handled(actions: &[FailurePolicyAction]) {
    let family = &runlet_metrics::global().job_controller.failure_policy;
    for action in actions {
        family.get_or_create(&FailurePolicyLabels { action: action.as_str() }).inc();
    }
}

/// The pods seen finished (`Succeeded` or `Failed`) that still have the tracking finalizer, by uid, for
/// `job_controller_terminated_pods_tracking_finalizer_total`: `add` when a pod becomes one, `delete` when it
/// stops being one (its finalizer removed, or it is gone), as upstream counts from its pod informer.
#[derive(Default)]
pub struct FinishedWithFinalizer(HashSet<String>);

impl FinishedWithFinalizer {
    /// `pod` changed (`exists`) or was deleted; returns the event counted, if any.
    pub fn observe(&mut self, pod: &Pod, exists: bool) -> Option<&'static str> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let finished = PodPhase::of(pod.status.as_ref()).is_some_and(PodPhase::is_terminal);
        let is = exists && finished && has_tracking_finalizer(pod);
        let was = if is { !self.0.insert(uid) } else { self.0.remove(&uid) };
        let event = match (was, is) {
            (false, true) => "add",
            (true, false) => "delete",
            _ => return None,
        };
        count_event(event);
        Some(event)
    }

    /// After a relist: `pods` is everything there is; what vanished meanwhile counts as `delete`.
    pub fn resync<'p>(&mut self, pods: impl IntoIterator<Item = &'p Pod>) {
        let mut present = HashSet::new();
        for pod in pods {
            self.observe(pod, true);
            present.insert(pod.metadata.uid.clone().unwrap_or_default());
        }
        let before = self.0.len();
        self.0.retain(|uid| present.contains(uid));
        for _ in self.0.len()..before {
            count_event("delete");
        }
    }
}

fn count_event(event: &'static str) {
    runlet_metrics::global().job_controller.tracking_finalizer.get_or_create(&EventLabels { event }).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_handled_count_under_the_rules_action() {
        let family = &runlet_metrics::global().job_controller.failure_policy;
        let count = |action| family.get_or_create(&FailurePolicyLabels { action }).get();
        let (ignore, fail_index) = (count("Ignore"), count("FailIndex"));
        record_failures_handled(&[FailurePolicyAction::Ignore, FailurePolicyAction::Ignore]);
        record_failures_handled(&[FailurePolicyAction::FailIndex]);
        // Other tests of this process may count too, but never backwards.
        assert!(count("Ignore") >= ignore + 2, "Ignore moved by less than 2");
        assert!(count("FailIndex") > fail_index, "FailIndex did not move");
    }

    #[test]
    fn finished_pods_with_the_finalizer_are_added_and_deleted_once() {
        let pod = |phase: &str, finalizer: bool| {
            let mut pod = Pod::default();
            pod.metadata.uid = Some("u1".into());
            if finalizer {
                pod.metadata.finalizers = Some(vec![runlet_api::labels::JOB_TRACKING_FINALIZER.to_string()]);
            }
            pod.status = Some(runlet_codec::PodStatus { phase: Some(phase.into()), ..Default::default() });
            pod
        };
        let mut seen = FinishedWithFinalizer::default();
        let steps = [
            (pod("Running", true), true, None),
            (pod("Failed", true), true, Some("add")),
            (pod("Failed", true), true, None),
            (pod("Failed", false), true, Some("delete")),
            (pod("Succeeded", true), true, Some("add")),
            (pod("Succeeded", true), false, Some("delete")),
            (pod("Succeeded", true), false, None),
        ];
        for (i, (pod, exists, want)) in steps.into_iter().enumerate() {
            assert_eq!(seen.observe(&pod, exists), want, "step {i}");
        }
        // A relist that no longer has the pod forgets it (its deletion was missed).
        seen.observe(&pod("Failed", true), true);
        seen.resync([]);
        assert_eq!(seen.observe(&pod("Failed", true), true), Some("add"), "forgotten by the relist");
    }
}
