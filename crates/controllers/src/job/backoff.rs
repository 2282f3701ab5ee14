//! The delay before replacement pods are created after failures (§3.5, upstream `backoff_utils.go`):
//! 10 s doubling per consecutive failure, capped at 10 minutes.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::pods::JobPod;

/// Delay after the first failure (upstream `DefaultJobPodFailureBackOff`).
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// Cap of the delay (upstream `MaxJobPodFailureBackOff`; the docs' "six minutes" is outdated).
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(600);

/// The controller's in-memory record of recent failures of one Job. It is lost on restart; the times
/// it needs come from the pods themselves, so a restart only shortens one delay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Failed pods since the last success (failures that finished before it are forgiven).
    pub failures_after_last_success: i32,
    /// Finish time of the latest of those failures.
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// The record after this sync's newly finished pods (upstream `newBackoffRecord`). A success
    /// resets the count to the failures that finished after it.
    pub(crate) fn updated(&self, new_succeeded: &[&JobPod<'_>], new_failed: &[&JobPod<'_>]) -> BackoffRecord {
        let latest = |pods: &[&JobPod<'_>]| pods.iter().map(|p| p.finish_time()).max();
        let Some(last_success) = latest(new_succeeded) else {
            let Some(last_failure) = latest(new_failed) else { return self.clone() };
            let added = i32::try_from(new_failed.len()).unwrap_or(i32::MAX);
            return BackoffRecord {
                failures_after_last_success: self.failures_after_last_success.saturating_add(added),
                last_failure_time: Some(last_failure),
            };
        };
        let after: Vec<Timestamp> = new_failed.iter().map(|p| p.finish_time()).filter(|t| *t > last_success).collect();
        BackoffRecord {
            failures_after_last_success: i32::try_from(after.len()).unwrap_or(i32::MAX),
            last_failure_time: after.into_iter().max(),
        }
    }

    /// How long replacement pods must still wait at `now`; zero means create now.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        remaining_for_failures(i64::from(self.failures_after_last_success), self.last_failure_time, now)
    }
}

/// The wait of an index whose last failed pod is `last_failed` (per-index backoff): the exponent is
/// that pod's failure counters plus its own failure.
pub(crate) fn index_remaining(last_failed: Option<&JobPod<'_>>, now: Timestamp) -> Duration {
    let Some(pod) = last_failed else { return Duration::ZERO };
    remaining_for_failures(pod.index_absolute_failure_count() + 1, Some(pod.finish_time()), now)
}

/// `10s × 2^(n−1)` capped at 10 minutes, minus the time since the last failure (upstream
/// `getRemainingTimeForFailuresCount`).
pub(crate) fn remaining_for_failures(failures: i64, last_failure: Option<Timestamp>, now: Timestamp) -> Duration {
    let Some(last_failure) = last_failure.filter(|_| failures > 0) else { return Duration::ZERO };
    let mut delay = POD_FAILURE_BACKOFF;
    for _ in 1..failures {
        delay *= 2;
        if delay >= MAX_POD_FAILURE_BACKOFF {
            delay = MAX_POD_FAILURE_BACKOFF;
            break;
        }
    }
    let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
    let elapsed = now.duration_since(last_failure);
    if delay < elapsed {
        return Duration::ZERO;
    }
    // A finish time in the future (clock skew) lengthens the wait, as upstream.
    Duration::try_from(delay - elapsed).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn delay_doubles_from_ten_seconds_and_caps_at_ten_minutes() {
        let cases = [(0, 0), (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 320), (7, 600), (8, 600), (100, 600)];
        for (failures, secs) in cases {
            assert_eq!(remaining_for_failures(failures, Some(at(0)), at(0)), Duration::from_secs(secs), "{failures}");
        }
    }

    #[test]
    fn remaining_counts_down_from_the_last_failure() {
        let cases = [(0, 10), (4, 6), (10, 0), (11, 0), (-5, 15)];
        for (elapsed, secs) in cases {
            assert_eq!(remaining_for_failures(1, Some(at(0)), at(elapsed)), Duration::from_secs(secs), "{elapsed}");
        }
        assert_eq!(remaining_for_failures(3, None, at(0)), Duration::ZERO);
    }

    #[test]
    fn record_remaining_uses_its_fields() {
        let record = BackoffRecord { failures_after_last_success: 2, last_failure_time: Some(at(0)) };
        assert_eq!(record.remaining(at(5)), Duration::from_secs(15));
        assert_eq!(BackoffRecord::default().remaining(at(5)), Duration::ZERO);
    }
}
