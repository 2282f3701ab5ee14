//! Exactly-once counting with the tracking finalizer (§3.4, upstream
//! `trackJobStatusAndRemoveFinalizers`, `flushUncountedAndRemoveFinalizers`, `enactJobFinished`).
//!
//! A finished pod is first recorded in `status.uncountedTerminatedPods` (or, for Indexed successes,
//! in `completedIndexes`), that status is written, then the pod's finalizer is removed, and only a
//! pod whose finalizer is gone moves from the uncounted lists into `succeeded`/`failed`.

use std::collections::BTreeSet;

use runlet_api::vocab::{ConditionStatus, JobConditionType, PodPhase};
use runlet_codec::{JobCondition, JobStatus, UncountedTerminatedPods};

use super::conditions::{self as cond, new_condition};
use super::failure_policy;
use super::indexed;
use super::sync::{Decision, clamp};
use super::{Finish, JobEvent, PodRef, Tracking};

/// At most this many pods enter the uncounted lists per sync (upstream `MaxUncountedPods`).
pub const MAX_UNCOUNTED_PODS: usize = 500;

pub(crate) fn track(
    d: &Decision<'_>,
    mut status: JobStatus,
    finished: Option<JobCondition>,
    mut needs_flush: bool,
    events: Vec<JobEvent>,
) -> Tracking {
    let job = &d.job;
    let mut order: Vec<usize> = (0..d.pods.len()).collect();
    if job.indexed() {
        // Completed indexes are introduced in order.
        order.sort_by_key(|&i| d.pods[i].index.unwrap_or(-1));
    }
    let with_finalizer: BTreeSet<String> =
        d.pods.iter().filter(|p| p.tracked && !d.pending_removals.contains(p.uid)).map(|p| p.uid.to_string()).collect();
    needs_flush |= count_removed(&mut status, &with_finalizer);

    let only_failed = job.only_replace_failed();
    let is_success = finished
        .as_ref()
        .is_some_and(|c| c.type_ == JobConditionType::SuccessCriteriaMet && c.status == ConditionStatus::True);
    let mut remove = Vec::new();
    let mut handled = Vec::new();
    let mut new_indexes: Vec<i32> = Vec::new();
    let mut reached_max = false;
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    for &i in &order {
        let pod = &d.pods[i];
        if !pod.tracked || d.pending_removals.contains(pod.uid) {
            continue;
        }
        let considered_failed = pod.is_failed(only_failed);
        if !can_remove_finalizer(d, finished.is_some(), i, considered_failed) {
            continue;
        }
        remove.push(PodRef::of(pod.pod));
        if pod.phase == Some(PodPhase::Succeeded) && !d.uncounted_failed.contains(pod.uid) {
            if let Some(ix) = &d.indexes {
                // The index alone avoids recounting; no UID needed.
                if let Some(index) =
                    pod.index.filter(|&x| job.index_in_range(Some(x)) && !ix.prev_succeeded.contains(x))
                {
                    new_indexes.push(index);
                    needs_flush = true;
                }
            } else if !d.uncounted_succeeded.contains(pod.uid) {
                uncounted.succeeded.get_or_insert_with(Vec::new).push(pod.uid.to_string());
                needs_flush = true;
            }
        } else if considered_failed || (finished.is_some() && !is_success) {
            // A failing Job counts every pod it stops as failed.
            let index_ok = !job.indexed() || job.index_in_range(pod.index);
            if !d.uncounted_failed.contains(pod.uid) && index_ok {
                let verdict = failure_policy::evaluate(job.pod_failure_policy, pod);
                if let Some(action) = verdict.action {
                    handled.push((pod.uid.to_string(), action));
                }
                if verdict.counts {
                    uncounted.failed.get_or_insert_with(Vec::new).push(pod.uid.to_string());
                    needs_flush = true;
                }
            }
        }
        let entries = new_indexes.len()
            + uncounted.succeeded.iter().flatten().count()
            + uncounted.failed.iter().flatten().count();
        if entries >= MAX_UNCOUNTED_PODS {
            reached_max = true;
            break;
        }
    }
    if let Some(ix) = &d.indexes {
        let succeeded = indexed::with(&ix.succeeded, new_indexes);
        let text = succeeded.to_string();
        needs_flush |= status.completed_indexes.as_deref().unwrap_or_default() != text;
        status.succeeded = Some(clamp(succeeded.len() as i64));
        status.completed_indexes = Some(text);
        let failed_text = ix.failed.as_ref().map(ToString::to_string);
        if status.failed_indexes != failed_text {
            status.failed_indexes = failed_text;
            needs_flush = true;
        }
    }
    let mut finishing = finished;
    if let Some(target) = finishing.as_ref().filter(|c| c.type_ == JobConditionType::FailureTarget) {
        // The interim condition is written before any finalizer goes; the terminal one waits.
        let failed = new_condition(
            JobConditionType::Failed,
            ConditionStatus::True,
            cond::reason(target),
            cond::message(target),
            d.now,
        );
        status.conditions.get_or_insert_with(Vec::new).push(target.clone());
        needs_flush = true;
        finishing = Some(failed);
    }
    if let Some(met) = finishing.as_ref().filter(|_| is_success) {
        let complete = new_condition(
            JobConditionType::Complete,
            ConditionStatus::True,
            cond::reason(met),
            cond::message(met),
            d.now,
        );
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if cond::find_true(conditions, JobConditionType::SuccessCriteriaMet).is_none() {
            conditions.push(met.clone());
            needs_flush = true;
        }
        finishing = Some(complete);
    }
    Tracking {
        status: normalized(status),
        write_status: needs_flush,
        remove_finalizers: remove,
        events,
        finishing,
        reached_max_uncounted: reached_max,
        handled_by_failure_policy: handled,
        with_finalizer,
        completions: job.completions,
        now: d.now,
    }
}

/// Upstream `canRemoveFinalizer`: always when the Job is deleted or finishing or the pod succeeded;
/// otherwise only for failed pods, except a per-index pod kept until its replacement exists.
fn can_remove_finalizer(d: &Decision<'_>, finishing: bool, i: usize, considered_failed: bool) -> bool {
    let pod = &d.pods[i];
    if d.job.deleting || finishing || pod.phase == Some(PodPhase::Succeeded) {
        return true;
    }
    if !considered_failed {
        return false;
    }
    let delayed = d.indexes.as_ref().zip(pod.index).and_then(|(ix, index)| ix.delayed.get(&index));
    delayed != Some(&i)
}

/// The status step after the finalizer removals (upstream: the end of
/// `flushUncountedAndRemoveFinalizers`, then `enactJobFinished`).
pub(crate) fn finish(t: &Tracking, written: &JobStatus, removed: &[String], failed: &[String]) -> Finish {
    let mut status = written.clone();
    let mut with_finalizer = t.with_finalizer.clone();
    for uid in removed {
        with_finalizer.remove(uid);
    }
    let mut write = count_removed(&mut status, &with_finalizer);
    if !failed.is_empty() {
        // Partial progress is written; the Job is not declared finished this round.
        return Finish { status: normalized(status), write_status: write, finished: false, events: Vec::new() };
    }
    let mut events = Vec::new();
    let finished = !t.reached_max_uncounted && enact_finished(t, &mut status, &mut events);
    write |= finished;
    Finish { status: normalized(status), write_status: write, finished, events }
}

/// Adds the terminal condition once nothing is uncounted and nothing is terminating.
fn enact_finished(t: &Tracking, status: &mut JobStatus, events: &mut Vec<JobEvent>) -> bool {
    let Some(finishing) = t.finishing.as_ref() else { return false };
    let uncounted = status.uncounted_terminated_pods.as_ref();
    let pending = uncounted.map_or(0, |u| u.succeeded.iter().flatten().count() + u.failed.iter().flatten().count());
    if pending > 0 || status.terminating.unwrap_or(0) > 0 {
        return false;
    }
    // The terminal condition is always one this core made (`Failed` or `Complete`).
    let Some(type_) = JobConditionType::parse(&finishing.type_) else { return false };
    let (reason, message) = (cond::reason(finishing), cond::message(finishing));
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    cond::ensure_status(conditions, type_, ConditionStatus::True, reason, message, t.now);
    if type_ == JobConditionType::Complete {
        status.completion_time = finishing.last_transition_time.clone();
        if t.completions.is_some_and(|c| status.succeeded.unwrap_or(0) > c) {
            events.push(JobEvent::warning(
                "TooManySucceededPods",
                "Too many succeeded pods running after completion count reached",
            ));
        }
        events.push(JobEvent::normal("Completed", "Job completed"));
    } else {
        events.push(JobEvent::warning(reason, message));
    }
    true
}

/// Moves uncounted UIDs whose finalizer is gone into the counters (upstream
/// `cleanUncountedPodsWithoutFinalizers`). Returns whether anything moved.
fn count_removed(status: &mut JobStatus, with_finalizer: &BTreeSet<String>) -> bool {
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    let moved = |list: &mut Option<Vec<String>>| {
        let before = list.as_ref().map_or(0, Vec::len);
        if let Some(uids) = list.as_mut() {
            uids.retain(|uid| with_finalizer.contains(uid));
        }
        before - list.as_ref().map_or(0, Vec::len)
    };
    let (succeeded, failed) = (moved(&mut uncounted.succeeded), moved(&mut uncounted.failed));
    status.succeeded = Some(status.succeeded.unwrap_or(0).saturating_add(clamp(succeeded as i64)));
    status.failed = Some(status.failed.unwrap_or(0).saturating_add(clamp(failed as i64)));
    succeeded + failed > 0
}

/// The status as the Go API types serialize it: zero counters and empty strings and lists omitted,
/// `ready`/`terminating`/`uncountedTerminatedPods` always present.
pub(crate) fn normalized(mut status: JobStatus) -> JobStatus {
    let nonzero = |n: Option<i32>| n.filter(|&n| n != 0);
    status.active = nonzero(status.active);
    status.succeeded = nonzero(status.succeeded);
    status.failed = nonzero(status.failed);
    status.completed_indexes = status.completed_indexes.filter(|s| !s.is_empty());
    status.conditions = status.conditions.filter(|c| !c.is_empty());
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    uncounted.succeeded = uncounted.succeeded.take().filter(|l| !l.is_empty());
    uncounted.failed = uncounted.failed.take().filter(|l| !l.is_empty());
    status
}
