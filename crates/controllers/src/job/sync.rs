//! One reconcile of a Job (§3.2, upstream `syncJob`), split at the pod I/O: [`decide`] works out what
//! to do with pods; [`conclude`] turns what actually happened into the status step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use runlet_api::vocab::{ConditionStatus, JobConditionType, PodPhase};
use runlet_codec::{JobCondition, JobStatus, Time, UncountedTerminatedPods};

use super::backoff::BackoffRecord;
use super::claim::{Claim, claim};
use super::conditions::{self as cond, new_condition};
use super::failure_policy;
use super::indexed;
use super::manage::{Manage, manage};
use super::pods::JobPod;
use super::spec::JobFacts;
use super::success_policy;
use super::tracking;
use super::{DeletionStep, JobEvent, PodIoOutcome, SyncError, SyncInput, Tracking};
use runlet_api::intervals::IndexSet;

/// Indexed-Job state of one sync.
#[derive(Debug, Clone)]
pub(crate) struct IndexState {
    /// From `status.completedIndexes` alone.
    pub prev_succeeded: IndexSet,
    /// Including indexes of succeeded pods not counted yet.
    pub succeeded: IndexSet,
    /// Per-index backoff only.
    pub failed: Option<IndexSet>,
    /// Per-index backoff: failed pods kept until their index has a replacement (position into pods).
    pub delayed: BTreeMap<i32, usize>,
}

/// Everything decided before the pod I/O.
pub(crate) struct Decision<'a> {
    pub job: JobFacts<'a>,
    pub pods: Vec<JobPod<'a>>,
    pub adopt: Vec<super::PodRef>,
    pub release: Vec<super::PodRef>,
    pub now: Timestamp,
    pub expectations_satisfied: bool,
    /// Working status: uncounted lists present, `startTime` set when starting.
    pub status: JobStatus,
    pub uncounted_succeeded: BTreeSet<String>,
    pub uncounted_failed: BTreeSet<String>,
    /// Pods whose finalizer removal is already in flight (finalizer expectations).
    pub pending_removals: BTreeSet<&'a str>,
    /// Positions of active pods.
    pub active: Vec<usize>,
    pub ready: i64,
    pub terminating: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub indexes: Option<IndexState>,
    /// The finishing condition before pod I/O: `FailureTarget`, `SuccessCriteriaMet` (existing or
    /// new) or `Failed` (from an existing `FailureTarget`).
    pub finished: Option<JobCondition>,
    /// Set when the Job finishes: DELETE these active pods, keeping their finalizers.
    pub delete_for_finish: Vec<usize>,
    /// `None` when manageJob did not run.
    pub manage: Option<Manage>,
    pub requeue_after: Option<Duration>,
    pub backoff: BackoffRecord,
}

impl Decision<'_> {
    /// Counted toward the Job at all (upstream `getValidPodsWithFilter`): still tracked, no finalizer
    /// removal in flight, and for Indexed Jobs a valid index.
    pub(crate) fn countable(&self, pod: &JobPod<'_>) -> bool {
        pod.tracked
            && !self.pending_removals.contains(pod.uid)
            && (!self.job.indexed() || self.job.index_in_range(pod.index))
    }

    fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |cur| cur.min(after)));
    }
}

/// Upstream `syncJob` up to the pod I/O. The Job must be ours, unfinished, with a known mode.
pub(crate) fn decide<'a>(input: &SyncInput<'a>) -> Result<Decision<'a>, SyncError> {
    let job = JobFacts::new(input.job)?;
    let Claim { pods, adopt, release } = claim(&job, input.pods)?;
    let mut status = input.job.status.clone().unwrap_or_default();
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    let uncounted_succeeded: BTreeSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
    let uncounted_failed: BTreeSet<String> = uncounted.failed.iter().flatten().cloned().collect();
    let active: Vec<usize> = (0..pods.len()).filter(|&i| pods[i].is_active()).collect();
    let mut d = Decision {
        ready: active.iter().filter(|&&i| pods[i].ready).count() as i64,
        terminating: pods.iter().filter(|p| p.is_terminating()).count() as i64,
        active,
        pending_removals: input.pending_finalizer_removals.iter().map(String::as_str).collect(),
        job,
        pods,
        adopt,
        release,
        now: input.now,
        expectations_satisfied: input.expectations_satisfied,
        status,
        uncounted_succeeded,
        uncounted_failed,
        succeeded: 0,
        failed: 0,
        indexes: None,
        finished: None,
        delete_for_finish: Vec::new(),
        manage: None,
        requeue_after: None,
        backoff: BackoffRecord::default(),
    };
    let only_failed = d.job.only_replace_failed();
    let new_succeeded: Vec<&JobPod<'_>> = d
        .pods
        .iter()
        .filter(|p| d.countable(p) && !d.uncounted_succeeded.contains(p.uid) && p.phase == Some(PodPhase::Succeeded))
        .collect();
    let new_failed: Vec<&JobPod<'_>> = d
        .pods
        .iter()
        .filter(|p| d.countable(p) && !d.uncounted_failed.contains(p.uid) && p.is_failed(only_failed))
        .collect();
    let not_ignored =
        new_failed.iter().filter(|p| failure_policy::evaluate(d.job.pod_failure_policy, p).counts).count();
    d.succeeded =
        i64::from(d.status.succeeded.unwrap_or(0)) + new_succeeded.len() as i64 + d.uncounted_succeeded.len() as i64;
    d.failed = i64::from(d.status.failed.unwrap_or(0)) + not_ignored as i64 + d.uncounted_failed.len() as i64;
    if d.status.start_time.is_none() && !d.job.suspended {
        d.status.start_time = Some(Time(d.now));
    }
    d.backoff = input.backoff.updated(&new_succeeded, &new_failed);

    decide_finish(&mut d);
    if d.job.indexed() {
        decide_indexes(&mut d);
    }
    if d.finished.is_some() {
        d.delete_for_finish = d.active.clone();
    } else if d.expectations_satisfied && !d.job.deleting {
        let decided = manage(&d);
        if let Manage::Wait(after) = decided {
            d.requeue(after);
        }
        d.manage = Some(decided);
    }
    Ok(d)
}

/// Failure criteria, in upstream's order (§3.2 step 10 a–e).
fn decide_finish(d: &mut Decision<'_>) {
    let now = d.now;
    let conditions = d.status.conditions.as_deref().unwrap_or_default();
    if let Some(met) = cond::find_true(conditions, JobConditionType::SuccessCriteriaMet) {
        d.finished = Some(met.clone());
        return;
    }
    if let Some(target) = cond::find_true(conditions, JobConditionType::FailureTarget) {
        d.finished = Some(new_condition(
            JobConditionType::Failed,
            ConditionStatus::True,
            cond::reason(target),
            cond::message(target),
            now,
        ));
        return;
    }
    if d.job.pod_failure_policy.is_some() {
        let only_failed = d.job.only_replace_failed();
        let message = d
            .pods
            .iter()
            .filter(|p| p.is_failed(only_failed))
            .find_map(|p| failure_policy::evaluate(d.job.pod_failure_policy, p).fail_job_message);
        if let Some(message) = message {
            d.finished = Some(new_condition(
                FAILURE_TARGET,
                ConditionStatus::True,
                cond::REASON_POD_FAILURE_POLICY,
                &message,
                now,
            ));
            return;
        }
    }
    if d.failed > i64::from(d.job.backoff_limit) || past_backoff_limit_on_failure(d) {
        d.finished = Some(failure(cond::REASON_BACKOFF_LIMIT_EXCEEDED, cond::MESSAGE_BACKOFF_LIMIT_EXCEEDED, now));
        return;
    }
    let (Some(seconds), Some(start)) = (d.job.active_deadline_seconds, d.status.start_time.as_ref()) else { return };
    if d.job.suspended {
        return;
    }
    let allowed = SignedDuration::from_secs(seconds);
    let elapsed = now.duration_since(start.0);
    if elapsed >= allowed {
        d.finished = Some(failure(cond::REASON_DEADLINE_EXCEEDED, cond::MESSAGE_DEADLINE_EXCEEDED, now));
    } else if let Ok(left) = Duration::try_from(allowed - elapsed) {
        d.requeue(left);
    }
}

const FAILURE_TARGET: JobConditionType = JobConditionType::FailureTarget;

/// `FailureTarget`: terminal conditions are delayed in v1.33 (JobManagedBy/JobPodReplacementPolicy on).
fn failure(reason: &str, message: &str, now: Timestamp) -> JobCondition {
    new_condition(FAILURE_TARGET, ConditionStatus::True, reason, message, now)
}

/// `restartPolicy: OnFailure`: the restarts of pending and running pods count as failures; the Job
/// fails when they reach `backoffLimit` (any restart when it is 0). This is the fix of #54870.
fn past_backoff_limit_on_failure(d: &Decision<'_>) -> bool {
    if !d.job.restart_on_failure {
        return false;
    }
    let restarts: i64 = d
        .pods
        .iter()
        .filter(|p| matches!(p.phase, Some(PodPhase::Pending | PodPhase::Running)))
        .map(|p| p.restart_sum())
        .sum();
    match d.job.backoff_limit {
        0 => restarts > 0,
        limit => restarts >= i64::from(limit),
    }
}

/// Indexed Jobs: succeeded/failed indexes, per-index failure criteria, then the success policy.
fn decide_indexes(d: &mut Decision<'_>) {
    let completed = d.status.completed_indexes.clone().unwrap_or_default();
    let (prev_succeeded, succeeded) = indexed::succeeded_indexes(&d.job, &completed, &d.pods);
    d.succeeded = succeeded.len() as i64;
    let mut state = IndexState { prev_succeeded, succeeded, failed: None, delayed: BTreeMap::new() };
    if d.job.backoff_limit_per_index.is_some() {
        let failed = indexed::failed_indexes(&d.job, d.status.failed_indexes.as_deref(), &d.pods);
        if d.finished.is_none() {
            let (n_failed, n_succeeded) = (failed.len() as i64, state.succeeded.len() as i64);
            if d.job.max_failed_indexes.is_some_and(|max| n_failed > i64::from(max)) {
                d.finished = Some(failure(
                    cond::REASON_MAX_FAILED_INDEXES_EXCEEDED,
                    cond::MESSAGE_MAX_FAILED_INDEXES_EXCEEDED,
                    d.now,
                ));
            } else if n_failed > 0 && n_failed + n_succeeded >= i64::from(d.job.index_limit()) {
                d.finished = Some(failure(cond::REASON_FAILED_INDEXES, cond::MESSAGE_FAILED_INDEXES, d.now));
            }
        }
        let eligible = |p: &JobPod<'_>| d.countable(p);
        state.delayed = indexed::delayed_deletions(&d.job, &d.pods, eligible, &state.succeeded, &failed);
        state.failed = Some(failed);
    }
    if d.finished.is_none()
        && let Some(message) =
            success_policy::matched_rule_message(d.job.success_policy, d.job.index_limit(), &state.succeeded)
    {
        d.finished = Some(new_condition(
            JobConditionType::SuccessCriteriaMet,
            ConditionStatus::True,
            cond::REASON_SUCCESS_POLICY,
            &message,
            d.now,
        ));
    }
    d.indexes = Some(state);
}

/// The rest of `syncJob` once the pod I/O is done: counters, completion, `Suspended`, and tracking.
pub(crate) fn conclude(d: &Decision<'_>, outcome: &PodIoOutcome) -> Tracking {
    let failures: BTreeMap<&str, DeletionStep> =
        outcome.failed_deletions.iter().map(|f| (f.uid.as_str(), f.step)).collect();
    let mut active = d.active.len() as i64;
    let (mut ready, mut terminating) = (d.ready, d.terminating);
    let mut status = d.status.clone();
    let mut finished = d.finished.clone();
    let mut events = Vec::new();
    let mut suspend_changed = false;
    if finished.is_some() {
        let deleted = d.delete_for_finish.iter().filter(|&&i| !failures.contains_key(d.pods[i].uid)).count() as i64;
        // Upstream counts ready pods among the deletions whether or not the DELETE went through.
        let deleted_ready = d.delete_for_finish.iter().filter(|&&i| d.pods[i].ready).count() as i64;
        if deleted != active || !d.expectations_satisfied {
            // Not all active pods are going away (or the cache may be behind): finish later.
            finished = None;
        }
        active -= deleted;
        terminating += deleted;
        ready -= deleted_ready;
    } else {
        match &d.manage {
            Some(Manage::Remove(list)) => {
                let removed = list.iter().filter(|&&i| !failures.contains_key(d.pods[i].uid)).count() as i64;
                let removed_ready = list
                    .iter()
                    .filter(|&&i| {
                        d.pods[i].ready && failures.get(d.pods[i].uid) != Some(&DeletionStep::RemovingFinalizer)
                    })
                    .count() as i64;
                active -= removed;
                terminating += removed;
                ready -= removed_ready;
            }
            Some(Manage::Create(new)) => active += outcome.created.min(new.len()) as i64,
            Some(Manage::Nothing | Manage::Wait(_)) | None => {}
        }
        let complete = match d.job.completions {
            None => d.succeeded > 0 && active == 0,
            Some(completions) => d.succeeded >= i64::from(completions) && active == 0,
        };
        if complete {
            finished = Some(new_condition(
                JobConditionType::SuccessCriteriaMet,
                ConditionStatus::True,
                cond::REASON_COMPLETIONS_REACHED,
                cond::MESSAGE_COMPLETIONS_REACHED,
                d.now,
            ));
        } else if d.manage.is_some() {
            suspend_changed = update_suspended(d, &mut status, &mut events);
        }
    }
    let original = d.job.job.status.as_ref();
    let needs_update = suspend_changed
        || active != i64::from(original.and_then(|s| s.active).unwrap_or(0))
        || Some(ready) != original.and_then(|s| s.ready).map(i64::from)
        || Some(terminating) != original.and_then(|s| s.terminating).map(i64::from);
    status.active = Some(clamp(active));
    status.ready = Some(clamp(ready));
    status.terminating = Some(clamp(terminating));
    tracking::track(d, status, finished, needs_update, events)
}

/// Keeps the `Suspended` condition in step with `spec.suspend`; resuming restarts the deadline clock.
fn update_suspended(d: &Decision<'_>, status: &mut JobStatus, events: &mut Vec<JobEvent>) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let (state, reason, message, event) = if d.job.suspended {
        (ConditionStatus::True, cond::REASON_SUSPENDED, cond::MESSAGE_SUSPENDED, "Suspended")
    } else {
        (ConditionStatus::False, cond::REASON_RESUMED, cond::MESSAGE_RESUMED, "Resumed")
    };
    let changed = cond::ensure_status(conditions, JobConditionType::Suspended, state, reason, message, d.now);
    if changed {
        events.push(JobEvent::normal(event, message));
        if !d.job.suspended {
            status.start_time = Some(Time(d.now));
        }
    }
    changed
}

pub(crate) fn clamp(n: i64) -> i32 {
    n.clamp(0, i64::from(i32::MAX)) as i32
}
