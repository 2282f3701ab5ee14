//! Job status-subresource validation (upstream `ValidateJobStatusUpdate` with the options the registry sets when
//! JobManagedBy is on: most rules only fire when a field they guard changes, so a controller can fix a bad
//! status step by step).

use crate::vocab::{ConditionStatus, JobConditionType};
use std::collections::BTreeSet;

use runlet_codec::{Job, JobSpec, JobStatus, UncountedTerminatedPods};

use super::spec::is_indexed;
use crate::field::{ErrorKind, FieldError, quote};
use crate::intervals::IndexSet;
use crate::meta::{duplicate, gofmt, nonnegative};

const COMPLETE: JobConditionType = JobConditionType::Complete;
const FAILED: JobConditionType = JobConditionType::Failed;
const FAILURE_TARGET: JobConditionType = JobConditionType::FailureTarget;
const SUCCESS_CRITERIA_MET: JobConditionType = JobConditionType::SuccessCriteriaMet;

fn condition_true(status: &JobStatus, type_: JobConditionType) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == type_ && c.status == ConditionStatus::True)
}

fn condition_false(status: &JobStatus, type_: JobConditionType) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == type_ && c.status == ConditionStatus::False)
}

fn finished(status: &JobStatus) -> bool {
    condition_true(status, COMPLETE) || condition_true(status, FAILED)
}

/// `status.conditions: Invalid value: <detail>` (upstream omits the value for condition errors).
fn conditions_error(detail: impl Into<String>) -> FieldError {
    FieldError::new(ErrorKind::Invalid, "status.conditions", None, detail)
}

/// Which rules apply to this update (upstream `getStatusValidationOptions`).
struct Checks {
    decreasing_succeeded: bool,
    completed_indexes: bool,
    failed_indexes: bool,
    finished_with_active: bool,
    finished_without_start: bool,
    finished_with_uncounted: bool,
    start_time_removed: bool,
    completion_before_start: bool,
    not_complete_with_completion_time: bool,
    complete_without_completion_time: bool,
    complete_with_failed: bool,
    complete_with_failure_target: bool,
    finished_with_terminating: bool,
    more_ready_than_active: bool,
    failed_without_failure_target: bool,
    complete_without_success_criteria: bool,
}

impl Checks {
    fn new(spec: &JobSpec, new: &JobStatus, old: &JobStatus) -> Self {
        let changed = |f: fn(&JobStatus) -> bool| f(new) != f(old);
        let finished_changed = changed(finished);
        let complete_changed = changed(|s| condition_true(s, COMPLETE));
        let completed_indexes_changed =
            new.completed_indexes.as_deref().unwrap_or("") != old.completed_indexes.as_deref().unwrap_or("");
        let failed_indexes_changed = new.failed_indexes != old.failed_indexes;
        let active_changed = new.active.unwrap_or(0) != old.active.unwrap_or(0);
        let start_changed = new.start_time != old.start_time;
        let completion_changed = new.completion_time != old.completion_time;
        let uncounted = |s: &JobStatus| {
            s.uncounted_terminated_pods.clone().map(|u| (u.succeeded.unwrap_or_default(), u.failed.unwrap_or_default()))
        };
        let uncounted_changed = uncounted(new) != uncounted(old);
        Checks {
            // Elastic Indexed Jobs (completions == parallelism) may scale down their succeeded count.
            decreasing_succeeded: !is_indexed(spec) || spec.completions != spec.parallelism,
            completed_indexes: completed_indexes_changed,
            failed_indexes: failed_indexes_changed,
            finished_with_active: finished_changed || active_changed,
            finished_without_start: finished_changed || start_changed,
            finished_with_uncounted: finished_changed || uncounted_changed,
            start_time_removed: start_changed,
            completion_before_start: start_changed || completion_changed,
            not_complete_with_completion_time: complete_changed || completion_changed,
            complete_without_completion_time: complete_changed || completion_changed,
            complete_with_failed: complete_changed || changed(|s| condition_true(s, FAILED)),
            complete_with_failure_target: complete_changed || changed(|s| condition_true(s, FAILURE_TARGET)),
            finished_with_terminating: finished_changed || new.terminating != old.terminating,
            more_ready_than_active: active_changed || new.ready != old.ready,
            failed_without_failure_target: changed(|s| condition_true(s, FAILED)) || failed_indexes_changed,
            complete_without_success_criteria: complete_changed || changed(|s| condition_true(s, SUCCESS_CRITERIA_MET)),
        }
    }
}

fn uncounted_go(u: &UncountedTerminatedPods) -> String {
    format!(
        "batch.UncountedTerminatedPods{{Succeeded:{}, Failed:{}}}",
        gofmt::string_slice("types.UID", u.succeeded.as_deref()),
        gofmt::string_slice("types.UID", u.failed.as_deref())
    )
}

/// UIDs non-empty and unique across both lists.
fn validate_uncounted(u: &UncountedTerminatedPods) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (field, list) in [("succeeded", &u.succeeded), ("failed", &u.failed)] {
        for (i, uid) in list.iter().flatten().enumerate() {
            let path = format!("status.uncountedTerminatedPods.{field}[{i}]");
            if uid.is_empty() {
                errs.push(FieldError::invalid(path, quote(uid), "must not be empty"));
            } else if !seen.insert(uid.as_str()) {
                errs.push(duplicate(path, quote(uid)));
            }
        }
    }
    errs
}

/// The first index in both sets, as upstream's interval walk reports it.
fn overlap(completed: &str, failed: &str, completions: i32) -> Option<i32> {
    let completed = IndexSet::parse_clipped(completed, completions);
    let failed = IndexSet::parse_clipped(failed, completions);
    completed.first_common(&failed)
}

/// Upstream `validateJobStatus`.
fn validate_status(job: &Job, status: &JobStatus, checks: &Checks) -> Vec<FieldError> {
    let empty = JobSpec::default();
    let spec = job.spec.as_ref().unwrap_or(&empty);
    let mut errs = Vec::new();
    let active = status.active.unwrap_or(0);
    for (field, value) in [
        ("active", Some(active)),
        ("succeeded", Some(status.succeeded.unwrap_or(0))),
        ("failed", Some(status.failed.unwrap_or(0))),
        ("ready", status.ready),
        ("terminating", status.terminating),
    ] {
        if let Some(value) = value {
            errs.extend(nonnegative(i64::from(value), &format!("status.{field}")));
        }
    }
    if let Some(u) = &status.uncounted_terminated_pods {
        errs.extend(validate_uncounted(u));
    }
    let complete = condition_true(status, COMPLETE);
    let failed = condition_true(status, FAILED);
    let failure_target = condition_true(status, FAILURE_TARGET);
    let success_criteria_met = condition_true(status, SUCCESS_CRITERIA_MET);
    let is_finished = complete || failed;
    if checks.complete_with_failed && complete && failed {
        errs.push(conditions_error("cannot set Complete=True and Failed=true conditions"));
    }
    if checks.complete_with_failure_target && complete && failure_target {
        errs.push(conditions_error("cannot set Complete=True and FailureTarget=true conditions"));
    }
    if checks.not_complete_with_completion_time && status.completion_time.is_some() && !complete {
        errs.push(FieldError::invalid(
            "status.completionTime",
            gofmt::opt_time(status.completion_time.as_ref()),
            "cannot set completionTime when there is no Complete=True condition",
        ));
    }
    if checks.complete_without_completion_time && status.completion_time.is_none() && complete {
        errs.push(FieldError::required("status.completionTime", "completionTime is required for Complete jobs"));
    }
    if checks.completion_before_start
        && let (Some(start), Some(completion)) = (&status.start_time, &status.completion_time)
        && completion < start
    {
        errs.push(FieldError::invalid(
            "status.completionTime",
            gofmt::time(completion),
            "completionTime cannot be set before startTime",
        ));
    }
    if checks.failed_without_failure_target && failed && !failure_target {
        errs.push(conditions_error("cannot set Failed=True condition without the FailureTarget=true condition"));
    }
    if checks.complete_without_success_criteria && complete && !success_criteria_met {
        errs.push(conditions_error("cannot set Complete=True condition without the SuccessCriteriaMet=true condition"));
    }
    if checks.finished_with_active && active > 0 && is_finished {
        errs.push(FieldError::invalid("status.active", active.to_string(), "active>0 is invalid for finished job"));
    }
    if checks.finished_without_start && status.start_time.is_none() && is_finished {
        errs.push(FieldError::required("status.startTime", "startTime is required for finished job"));
    }
    if checks.finished_with_uncounted
        && is_finished
        && let Some(u) = &status.uncounted_terminated_pods
        && u.succeeded.iter().flatten().count() + u.failed.iter().flatten().count() > 0
    {
        errs.push(FieldError::invalid(
            "status.uncountedTerminatedPods",
            uncounted_go(u),
            "uncountedTerminatedPods needs to be empty for finished job",
        ));
    }
    let completed_indexes = status.completed_indexes.as_deref().unwrap_or("");
    if checks.completed_indexes
        && let Some(completions) = spec.completions
        && let Err(e) = IndexSet::parse(completed_indexes, completions)
    {
        errs.push(FieldError::invalid(
            "status.completedIndexes",
            quote(completed_indexes),
            format!("error parsing completedIndexes: {e}"),
        ));
    }
    if checks.failed_indexes
        && let (Some(completions), Some(_), Some(failed_indexes)) =
            (spec.completions, spec.backoff_limit_per_index, status.failed_indexes.as_deref())
        && let Err(e) = IndexSet::parse(failed_indexes, completions)
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            quote(failed_indexes),
            format!("error parsing failedIndexes: {e}"),
        ));
    }
    if checks.completed_indexes && !completed_indexes.is_empty() && !is_indexed(spec) {
        errs.push(FieldError::invalid(
            "status.completedIndexes",
            quote(completed_indexes),
            "cannot set non-empty completedIndexes when non-indexed completion mode",
        ));
    }
    if checks.failed_indexes
        && spec.backoff_limit_per_index.is_none()
        && let Some(failed_indexes) = status.failed_indexes.as_deref()
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            quote(failed_indexes),
            "cannot set non-null failedIndexes when backoffLimitPerIndex is null",
        ));
    }
    if (checks.failed_indexes || checks.completed_indexes)
        && let (Some(completions), Some(failed_indexes)) = (spec.completions, status.failed_indexes.as_deref())
        && let Some(index) = overlap(completed_indexes, failed_indexes, completions)
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            quote(failed_indexes),
            format!("failedIndexes and completedIndexes overlap at index: {index}"),
        ));
    }
    if checks.finished_with_terminating
        && let Some(terminating) = status.terminating.filter(|t| *t > 0)
        && is_finished
    {
        errs.push(FieldError::invalid(
            "status.terminating",
            terminating.to_string(),
            "terminating>0 is invalid for finished job",
        ));
    }
    if checks.more_ready_than_active
        && let Some(ready) = status.ready.filter(|r| *r > active)
    {
        errs.push(FieldError::invalid("status.ready", ready.to_string(), "cannot set more ready pods than active"));
    }
    if success_criteria_met && failed {
        errs.push(conditions_error("cannot set SuccessCriteriaMet=True and Failed=true conditions"));
    }
    if success_criteria_met && failure_target {
        errs.push(conditions_error("cannot set SuccessCriteriaMet=True and FailureTarget=true conditions"));
    }
    if spec.success_policy.is_some() && !success_criteria_met && complete {
        errs.push(conditions_error(
            "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True",
        ));
    }
    errs
}

/// Upstream `ValidateJobStatusUpdate` (metadata is checked by the caller).
pub(crate) fn validate_status_update(new: &Job, old: &Job) -> Vec<FieldError> {
    let empty_spec = JobSpec::default();
    let spec = new.spec.as_ref().unwrap_or(&empty_spec);
    let status = new.status.clone().unwrap_or_default();
    let old_status = old.status.clone().unwrap_or_default();
    let checks = Checks::new(spec, &status, &old_status);
    let mut errs = validate_status(new, &status, &checks);

    for type_ in [FAILED, COMPLETE, FAILURE_TARGET] {
        if condition_true(&old_status, type_) && !condition_true(&status, type_) {
            errs.push(conditions_error(format!("cannot disable the terminal {type_}=True condition")));
        }
    }
    let (failed, old_failed) = (status.failed.unwrap_or(0), old_status.failed.unwrap_or(0));
    if failed < old_failed {
        errs.push(FieldError::invalid("status.failed", failed.to_string(), "cannot decrease the failed counter"));
    }
    let (succeeded, old_succeeded) = (status.succeeded.unwrap_or(0), old_status.succeeded.unwrap_or(0));
    if checks.decreasing_succeeded && succeeded < old_succeeded {
        errs.push(FieldError::invalid(
            "status.succeeded",
            succeeded.to_string(),
            "cannot decrease the succeeded counter",
        ));
    }
    if let (Some(completion), Some(old_completion)) = (&status.completion_time, &old_status.completion_time)
        && completion != old_completion
    {
        errs.push(FieldError::invalid(
            "status.completionTime",
            gofmt::time(completion),
            "completionTime cannot be mutated",
        ));
    }
    // A resume resets startTime in the same write that flips Suspended to False (the fix of upstream issue
    // #134521); any other change of a running Job's startTime is refused.
    let resuming = condition_true(&old_status, JobConditionType::Suspended)
        && condition_false(&status, JobConditionType::Suspended);
    if checks.start_time_removed && old_status.start_time.is_some() && spec.suspend != Some(true) && !resuming {
        errs.push(FieldError::required("status.startTime", "startTime cannot be removed for unsuspended job"));
    }
    if condition_true(&old_status, SUCCESS_CRITERIA_MET) && !condition_true(&status, SUCCESS_CRITERIA_MET) {
        errs.push(conditions_error("cannot disable the SuccessCriteriaMet=True condition"));
    }
    if condition_true(&old_status, COMPLETE)
        && !condition_true(&old_status, SUCCESS_CRITERIA_MET)
        && condition_true(&status, SUCCESS_CRITERIA_MET)
    {
        errs.push(conditions_error("cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"));
    }
    errs
}
