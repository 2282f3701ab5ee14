//! How many pods to create or delete (§3.3, upstream `manageJob`). Deletion wins: a sync never both
//! creates and deletes.

use std::time::Duration;

use super::backoff::index_remaining;
use super::indexed;
use super::pods::deletion_order;
use super::sync::Decision;
use super::template::NewPod;

/// At most this many pods are created or deleted in one sync (upstream `MaxPodCreateDeletePerSync`).
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// A delayed requeue is never sooner than this (upstream `syncJobBatchPeriod`).
pub(crate) const MIN_REQUEUE: Duration = Duration::from_secs(1);

/// What manageJob decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Manage {
    Nothing,
    /// Remove the tracking finalizer, then DELETE (the pods are not counted); positions into the pods.
    Remove(Vec<usize>),
    Create(Vec<NewPod>),
    /// Replacements are due but their backoff has not elapsed.
    Wait(Duration),
}

pub(crate) fn manage(d: &Decision<'_>) -> Manage {
    let job = &d.job;
    let active = d.active.len() as i64;
    if job.suspended {
        return Manage::Remove(removal_order(d, d.active.len()));
    }
    let want_active = match job.completions {
        // Work queue: keep whatever runs once any pod succeeded.
        None if d.succeeded > 0 => active,
        None => i64::from(job.parallelism),
        Some(completions) => (i64::from(completions) - d.succeeded).min(i64::from(job.parallelism)).max(0),
    };
    let rm_at_least = (active - want_active).max(0) as usize;
    let mut remove = removal_order(d, rm_at_least);
    remove.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
    if !remove.is_empty() {
        return Manage::Remove(remove);
    }
    let terminating = if job.only_replace_failed() { d.terminating } else { 0 };
    let diff = want_active - terminating - active;
    if diff <= 0 {
        return Manage::Nothing;
    }
    if job.backoff_limit_per_index.is_none() {
        let remaining = d.backoff.remaining(d.now);
        if !remaining.is_zero() {
            return Manage::Wait(remaining.max(MIN_REQUEUE));
        }
    }
    let diff = (diff as usize).min(MAX_POD_CREATE_DELETE_PER_SYNC);
    let Some(ix) = d.indexes.as_ref() else {
        return Manage::Create(vec![NewPod { index: None, failure_counts: None }; diff]);
    };
    let pending = indexed::first_pending_indexes(job, &d.pods, &ix.succeeded, ix.failed.as_ref(), diff);
    if job.backoff_limit_per_index.is_none() {
        return Manage::Create(
            pending.into_iter().map(|index| NewPod { index: Some(index), failure_counts: None }).collect(),
        );
    }
    // Per-index backoff: each index waits on its own last failure.
    let replaced = |index: i32| ix.delayed.get(&index).map(|&i| &d.pods[i]);
    let (ready, waiting): (Vec<i32>, Vec<i32>) =
        pending.into_iter().partition(|&index| index_remaining(replaced(index), d.now).is_zero());
    if ready.is_empty() {
        return match waiting.iter().map(|&index| index_remaining(replaced(index), d.now)).min() {
            Some(remaining) => Manage::Wait(remaining.max(MIN_REQUEUE)),
            None => Manage::Nothing,
        };
    }
    Manage::Create(
        ready
            .into_iter()
            .map(|index| NewPod {
                index: Some(index),
                failure_counts: Some(indexed::new_index_failure_counts(job, replaced(index))),
            })
            .collect(),
    )
}

/// Active pods to delete, most deletable first: for Indexed Jobs every stray (no index, index out of
/// range, duplicate) regardless of `rm_at_least`, then the preferred active pods up to `rm_at_least`
/// (upstream `activePodsForRemoval`).
fn removal_order(d: &Decision<'_>, rm_at_least: usize) -> Vec<usize> {
    let (mut remove, mut rest) = match d.indexes {
        Some(_) => indexed::strays_and_rest(&d.pods, &d.active, d.job.index_limit()),
        None => (Vec::new(), d.active.clone()),
    };
    if remove.len() < rm_at_least {
        rest.sort_by(|&a, &b| deletion_order(&d.pods[a], &d.pods[b]));
        let more = (rm_at_least - remove.len()).min(rest.len());
        remove.extend_from_slice(&rest[..more]);
    }
    remove
}

/// Slow-start batch sizes for `n` creations: 1, 2, 4, 8, … (upstream `SlowStartInitialBatchSize`);
/// the runner stops after the first batch with a failure.
pub fn slow_start_batches(n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut left, mut size) = (n, 1usize);
    while left > 0 {
        let batch = size.min(left);
        sizes.push(batch);
        left -= batch;
        size = batch.saturating_mul(2);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_doubles() {
        let cases: &[(usize, &[usize])] =
            &[(0, &[]), (1, &[1]), (2, &[1, 1]), (3, &[1, 2]), (10, &[1, 2, 4, 3]), (100, &[1, 2, 4, 8, 16, 32, 37])];
        for (n, want) in cases {
            assert_eq!(slow_start_batches(*n), *want, "{n}");
        }
    }
}
