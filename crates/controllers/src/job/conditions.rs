//! Job conditions: reasons, messages (§3.11, §6.1) and the list operations upstream uses. The condition types
//! and statuses themselves are `runlet_api::vocab`'s.

use jiff::Timestamp;
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::{Job, JobCondition, Time};

pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
pub const MESSAGE_BACKOFF_LIMIT_EXCEEDED: &str = "Job has reached the specified backoff limit";
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub const MESSAGE_DEADLINE_EXCEEDED: &str = "Job was active longer than specified deadline";
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
pub const REASON_MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
pub const MESSAGE_MAX_FAILED_INDEXES_EXCEEDED: &str = "Job has exceeded the specified maximal number of failed indexes";
pub const REASON_FAILED_INDEXES: &str = "FailedIndexes";
pub const MESSAGE_FAILED_INDEXES: &str = "Job has failed indexes";
pub const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";
pub const MESSAGE_COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";
pub const REASON_SUSPENDED: &str = "JobSuspended";
pub const MESSAGE_SUSPENDED: &str = "Job suspended";
pub const REASON_RESUMED: &str = "JobResumed";
pub const MESSAGE_RESUMED: &str = "Job resumed";

/// A condition with both times set to `now` (upstream `newCondition`).
pub(crate) fn new_condition(
    type_: JobConditionType,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
        reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        message: Some(message.to_string()).filter(|m| !m.is_empty()),
    }
}

/// The first condition of `type_` (upstream `findConditionByType`).
pub(crate) fn find(conditions: &[JobCondition], type_: JobConditionType) -> Option<&JobCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The first condition of `type_`, if its status is `True`.
pub(crate) fn find_true(conditions: &[JobCondition], type_: JobConditionType) -> Option<&JobCondition> {
    find(conditions, type_).filter(|c| c.status == ConditionStatus::True)
}

pub(crate) fn reason(c: &JobCondition) -> &str {
    c.reason.as_deref().unwrap_or_default()
}

pub(crate) fn message(c: &JobCondition) -> &str {
    c.message.as_deref().unwrap_or_default()
}

/// Whether the Job has finished: any `Complete` or `Failed` condition with status `True`.
pub fn is_finished(job: &Job) -> bool {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions.iter().any(|c| {
        (c.type_ == JobConditionType::Complete || c.type_ == JobConditionType::Failed)
            && c.status == ConditionStatus::True
    })
}

/// Upstream `ensureJobConditionStatus`: replaces the existing condition of `type_` when its status,
/// reason or message differ, appends one otherwise, except that a `False` condition is never
/// appended (going from nothing to false says nothing). Returns whether the list changed.
pub(crate) fn ensure_status(
    conditions: &mut Vec<JobCondition>,
    type_: JobConditionType,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let same = existing.status == status
            && existing.reason.as_deref().unwrap_or_default() == reason
            && existing.message.as_deref().unwrap_or_default() == message;
        if same {
            return false;
        }
        *existing = new_condition(type_, status, reason, message, now);
        return true;
    }
    if status == ConditionStatus::False {
        return false;
    }
    conditions.push(new_condition(type_, status, reason, message, now));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn ensure_status_appends_replaces_or_keeps() {
        let mut list = Vec::new();
        use ConditionStatus::{False, True};
        const SUSPENDED: JobConditionType = JobConditionType::Suspended;
        assert!(!ensure_status(&mut list, SUSPENDED, False, REASON_RESUMED, MESSAGE_RESUMED, at(0)));
        assert!(list.is_empty(), "False is never appended");

        assert!(ensure_status(&mut list, SUSPENDED, True, REASON_SUSPENDED, MESSAGE_SUSPENDED, at(1)));
        assert_eq!(list, vec![new_condition(SUSPENDED, True, REASON_SUSPENDED, MESSAGE_SUSPENDED, at(1))]);

        assert!(!ensure_status(&mut list, SUSPENDED, True, REASON_SUSPENDED, MESSAGE_SUSPENDED, at(2)));
        assert_eq!(list[0].last_transition_time, Some(Time(at(1))), "unchanged keeps its time");

        assert!(ensure_status(&mut list, SUSPENDED, False, REASON_RESUMED, MESSAGE_RESUMED, at(3)));
        assert_eq!(list, vec![new_condition(SUSPENDED, False, REASON_RESUMED, MESSAGE_RESUMED, at(3))]);
    }

    #[test]
    fn find_true_ignores_false_conditions() {
        let target = JobConditionType::FailureTarget;
        let list = vec![new_condition(target, ConditionStatus::False, "x", "y", at(0))];
        assert!(find(&list, target).is_some());
        assert!(find_true(&list, target).is_none());
    }
}
