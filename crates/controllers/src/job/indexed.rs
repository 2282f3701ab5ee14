//! Indexed Jobs (upstream `indexed_job_utils.go`): succeeded and failed indexes, which indexes to
//! create next, which duplicate or stray pods to delete, and the per-index failure counters.

use std::collections::{BTreeMap, BTreeSet};

use runlet_api::names::{GENERATE_NAME_RANDOM_LENGTH, MAX_GENERATED_NAME_LENGTH};
use runlet_api::vocab::PodPhase;

use super::failure_policy::{self, Action};
use super::pods::{JobPod, deletion_order};
use super::spec::JobFacts;
use runlet_api::intervals::IndexSet;

/// `set` plus `more`.
pub(crate) fn with(set: &IndexSet, more: impl IntoIterator<Item = i32>) -> IndexSet {
    let mut out = set.clone();
    out.extend(more);
    out
}

/// Succeeded indexes: those already in `status.completedIndexes` (first) and those plus the indexes
/// of succeeded pods not counted yet (second).
pub(crate) fn succeeded_indexes(job: &JobFacts<'_>, completed: &str, pods: &[JobPod<'_>]) -> (IndexSet, IndexSet) {
    let prev = IndexSet::parse_clipped(completed, job.index_limit());
    let new: BTreeSet<i32> = pods
        .iter()
        .filter(|p| p.phase == Some(PodPhase::Succeeded) && p.tracked && job.index_in_range(p.index))
        .filter_map(|p| p.index)
        .collect();
    let all = with(&prev, new);
    (prev, all)
}

/// Failed indexes (per-index backoff): `status.failedIndexes` plus indexes whose latest uncounted
/// failure exhausted the index's budget or matched a `FailIndex` rule.
pub(crate) fn failed_indexes(job: &JobFacts<'_>, failed: Option<&str>, pods: &[JobPod<'_>]) -> IndexSet {
    let prev = failed.map(|text| IndexSet::parse_clipped(text, job.index_limit())).unwrap_or_default();
    let new: BTreeSet<i32> = pods
        .iter()
        .filter(|p| p.tracked && job.index_in_range(p.index) && is_index_failed(job, p))
        .filter_map(|p| p.index)
        .collect();
    with(&prev, new)
}

/// Upstream `isIndexFailed`: the pod failed and either matched `FailIndex`, or counted and its
/// `job-index-failure-count` already reached `backoffLimitPerIndex`.
fn is_index_failed(job: &JobFacts<'_>, pod: &JobPod<'_>) -> bool {
    if !pod.is_failed(job.only_replace_failed()) {
        return false;
    }
    let verdict = failure_policy::evaluate(job.pod_failure_policy, pod);
    if verdict.action == Some(Action::FailIndex) {
        return true;
    }
    let limit = job.backoff_limit_per_index.unwrap_or(i32::MAX);
    verdict.counts && pod.index_failure_count() >= limit
}

/// The lowest `count` indexes below `completions` that are not succeeded, not failed, not held by an
/// active pod and, when only failed pods are replaced, not held by a terminating pod.
pub(crate) fn first_pending_indexes(
    job: &JobFacts<'_>,
    pods: &[JobPod<'_>],
    succeeded: &IndexSet,
    failed: Option<&IndexSet>,
    count: usize,
) -> Vec<i32> {
    if count == 0 {
        return Vec::new();
    }
    let held = |keep: &dyn Fn(&JobPod<'_>) -> bool| {
        pods.iter().filter(|p| keep(p)).filter_map(|p| p.index).collect::<BTreeSet<i32>>()
    };
    let mut taken = with(succeeded, held(&|p| p.is_active()));
    if job.only_replace_failed() {
        taken.extend(held(&|p| p.is_terminating()));
    }
    if let Some(failed) = failed {
        taken = taken.union(failed);
    }
    let completions = i64::from(job.index_limit());
    let mut out = Vec::with_capacity(count.min(1024));
    let mut candidate: i64 = 0;
    let take_until = |end: i64, out: &mut Vec<i32>, candidate: &mut i64| {
        while *candidate < completions.min(end) && out.len() < count {
            out.push(*candidate as i32);
            *candidate += 1;
        }
    };
    for &(first, last) in taken.runs() {
        take_until(i64::from(first), &mut out, &mut candidate);
        candidate = candidate.max(i64::from(last) + 1);
    }
    take_until(completions, &mut out, &mut candidate);
    out
}

/// Splits active pods (positions into `pods`) into those to delete regardless of scale (no index,
/// index out of range, all but the most advanced pod of a duplicated index) and the rest (upstream
/// `appendDuplicatedIndexPodsForRemoval`, including its order of the first list).
pub(crate) fn strays_and_rest(pods: &[JobPod<'_>], active: &[usize], completions: i32) -> (Vec<usize>, Vec<usize>) {
    let mut sorted = active.to_vec();
    sorted.sort_by_key(|&i| pods[i].index.unwrap_or(-1));
    let (mut rm, mut left) = (Vec::new(), Vec::new());
    let mut groups: Vec<(Option<i32>, Vec<usize>)> = Vec::new();
    let mut out_of_range = Vec::new();
    for &i in &sorted {
        let ix = pods[i].index;
        if ix.is_some_and(|ix| ix >= completions) {
            out_of_range.push(i);
            continue;
        }
        match groups.last_mut() {
            Some((group_ix, members)) if *group_ix == ix => members.push(i),
            _ => groups.push((ix, vec![i])),
        }
    }
    // Upstream flushes the last in-range group only after the out-of-range pods.
    let last_group = groups.pop();
    for (ix, members) in groups {
        split_group(pods, ix, members, &mut rm, &mut left);
    }
    rm.extend(out_of_range);
    if let Some((ix, members)) = last_group {
        split_group(pods, ix, members, &mut rm, &mut left);
    }
    (rm, left)
}

fn split_group(
    pods: &[JobPod<'_>],
    ix: Option<i32>,
    mut members: Vec<usize>,
    rm: &mut Vec<usize>,
    left: &mut Vec<usize>,
) {
    if ix.is_none() {
        rm.extend(members);
        return;
    }
    members.sort_by(|&a, &b| deletion_order(&pods[a], &pods[b]));
    if let Some(keep) = members.pop() {
        rm.extend(members);
        left.push(keep);
    }
}

/// Failed pods whose finalizer is kept until their index has a replacement, so the replacement can
/// inherit the failure counters (upstream `getPodsWithDelayedDeletionPerIndex`). Keyed by index; the
/// value is a position into `pods`. `eligible` says whether a pod is uncounted and trackable.
pub(crate) fn delayed_deletions(
    job: &JobFacts<'_>,
    pods: &[JobPod<'_>],
    eligible: impl Fn(&JobPod<'_>) -> bool,
    succeeded: &IndexSet,
    failed: &IndexSet,
) -> BTreeMap<i32, usize> {
    let active: BTreeSet<i32> = pods.iter().filter(|p| p.is_active()).filter_map(|p| p.index).collect();
    let mut out: BTreeMap<i32, usize> = BTreeMap::new();
    for (i, pod) in pods.iter().enumerate() {
        let Some(ix) = pod.index.filter(|_| eligible(pod) && pod.is_failed(job.only_replace_failed())) else {
            continue;
        };
        if succeeded.contains(ix) || failed.contains(ix) || active.contains(&ix) {
            continue;
        }
        match out.get(&ix) {
            Some(&kept) => {
                let kept = &pods[kept];
                if kept.index_absolute_failure_count() <= pod.index_absolute_failure_count()
                    && pod.finish_time() >= kept.finish_time()
                {
                    out.insert(ix, i);
                }
            }
            None => {
                out.insert(ix, i);
            }
        }
    }
    out
}

/// The failure counters for the pod replacing `replaced` (upstream `getNewIndexFailureCounts`): the
/// replaced pod's counters plus its own failure, counted or ignored by the pod failure policy.
pub(crate) fn new_index_failure_counts(job: &JobFacts<'_>, replaced: Option<&JobPod<'_>>) -> (i32, i32) {
    let Some(pod) = replaced else { return (0, 0) };
    let (counted, ignored) = (pod.index_failure_count(), pod.index_ignored_failure_count());
    if failure_policy::evaluate(job.pod_failure_policy, pod).counts {
        (counted.saturating_add(1), ignored)
    } else {
        (counted, ignored.saturating_add(1))
    }
}

/// `generateName` of an Indexed pod: `<job>-<index>-`, with the Job name cut so the prefix leaves
/// room for the random suffix (upstream `podGenerateNameWithIndex`).
pub(crate) fn generate_name_with_index(job_name: &str, index: i32) -> String {
    let suffix = format!("-{index}-");
    let max = MAX_GENERATED_NAME_LENGTH - GENERATE_NAME_RANDOM_LENGTH;
    let full = format!("{job_name}{suffix}");
    if full.len() <= max {
        return full;
    }
    let keep = max.saturating_sub(suffix.len());
    // Job names are ASCII (validated); stay on a char boundary anyway.
    let cut = (0..=keep.min(job_name.len())).rev().find(|&n| job_name.is_char_boundary(n)).unwrap_or(0);
    format!("{}{suffix}", &job_name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_name_keeps_the_index_when_truncating() {
        let long = "a".repeat(60);
        let cases = [
            ("pi", 0, "pi-0-".to_string()),
            ("pi", 12, "pi-12-".to_string()),
            (&"b".repeat(55)[..], 0, format!("{}-0-", "b".repeat(55))),
            (&"b".repeat(56)[..], 0, format!("{}-0-", "b".repeat(55))),
            (&long[..], 123, format!("{}-123-", "a".repeat(53))),
        ];
        for (name, ix, want) in cases {
            let got = generate_name_with_index(name, ix);
            assert_eq!(got, want, "{name} {ix}");
            assert!(got.len() <= 58);
        }
    }
}
