//! What the controller reads off a pod: phase, readiness, deletion, completion index, tracking finalizer,
//! finish time (§3.5) and the order in which active pods are deleted first (§3.3).

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use runlet_api::labels::JOB_TRACKING_FINALIZER;
use runlet_api::labels::{JOB_COMPLETION_INDEX, JOB_INDEX_FAILURE_COUNT, JOB_INDEX_IGNORED_FAILURE_COUNT};
use runlet_api::vocab::{ConditionStatus, PodConditionType, PodPhase, RestartPolicy};
use runlet_codec::{ContainerStatus, Pod, PodCondition};

/// Deletion preference: `Pending < Unknown < Running` (upstream `podPhaseToOrdinal`); a missing or
/// unrecognised phase ranks with `Pending` (upstream's zero ordinal).
fn deletion_ordinal(phase: Option<PodPhase>) -> u8 {
    match phase {
        Some(PodPhase::Unknown) => 1,
        Some(PodPhase::Running) => 2,
        _ => 0,
    }
}

/// A pod the Job owns (after claiming), with the facts every rule needs precomputed.
#[derive(Debug, Clone)]
pub(crate) struct JobPod<'a> {
    pub pod: &'a Pod,
    pub uid: &'a str,
    pub name: &'a str,
    /// `None` when missing or unrecognised: treated like `Pending` (not terminal).
    pub phase: Option<PodPhase>,
    /// Has a `deletionTimestamp`.
    pub deleting: bool,
    /// Carries the tracking finalizer (pods adopted in this sync count as carrying it).
    pub tracked: bool,
    /// Completion index from the annotation; `None` when missing, unparsable or negative.
    pub index: Option<i32>,
    pub ready: bool,
}

impl<'a> JobPod<'a> {
    pub(crate) fn new(pod: &'a Pod, adopted: bool) -> Self {
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        JobPod {
            pod,
            uid: meta.uid.as_deref().unwrap_or_default(),
            name: meta.name.as_deref().unwrap_or_default(),
            phase: PodPhase::of(status),
            deleting: meta.deletion_timestamp.is_some(),
            tracked: adopted || has_tracking_finalizer(pod),
            index: completion_index(pod),
            ready: ready_condition(pod).is_some_and(|c| c.status == ConditionStatus::True),
        }
    }

    /// `Succeeded` or `Failed`.
    pub(crate) fn is_terminal(&self) -> bool {
        self.phase.is_some_and(PodPhase::is_terminal)
    }

    /// Not terminal and not being deleted (upstream `IsPodActive`).
    pub(crate) fn is_active(&self) -> bool {
        !self.is_terminal() && !self.deleting
    }

    /// Being deleted but not yet terminal (upstream `IsPodTerminating`).
    pub(crate) fn is_terminating(&self) -> bool {
        !self.is_terminal() && self.deleting
    }

    /// Upstream `isPodFailed`: phase `Failed`, or, unless only failed pods are replaced, any pod being
    /// deleted that has not succeeded (it may never get the chance to report a phase).
    pub(crate) fn is_failed(&self, only_replace_failed: bool) -> bool {
        if self.phase == Some(PodPhase::Failed) {
            return true;
        }
        !only_replace_failed && self.deleting && self.phase != Some(PodPhase::Succeeded)
    }

    pub(crate) fn annotation(&self, key: &str) -> Option<&'a str> {
        self.pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// `job-index-failure-count`: counted failures of the index before this pod.
    pub(crate) fn index_failure_count(&self) -> i32 {
        self.annotation(JOB_INDEX_FAILURE_COUNT).map_or(0, parse_count)
    }

    /// `job-index-ignored-failure-count`: failures ignored by the pod failure policy before this pod.
    pub(crate) fn index_ignored_failure_count(&self) -> i32 {
        self.annotation(JOB_INDEX_IGNORED_FAILURE_COUNT).map_or(0, parse_count)
    }

    /// Both counters together, the per-index backoff exponent (upstream `getIndexAbsoluteFailureCount`).
    pub(crate) fn index_absolute_failure_count(&self) -> i64 {
        i64::from(self.index_failure_count()) + i64::from(self.index_ignored_failure_count())
    }

    fn container_statuses(&self) -> &'a [ContainerStatus] {
        self.pod.status.as_ref().and_then(|s| s.container_statuses.as_deref()).unwrap_or_default()
    }

    fn init_container_statuses(&self) -> &'a [ContainerStatus] {
        self.pod.status.as_ref().and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default()
    }

    /// Sum of init and regular container restarts (the `OnFailure` backoff-limit rule, §3.6).
    pub(crate) fn restart_sum(&self) -> i64 {
        self.init_container_statuses().iter().chain(self.container_statuses()).map(|c| i64::from(c.restart_count)).sum()
    }

    fn max_container_restarts(&self) -> i32 {
        self.container_statuses().iter().map(|c| c.restart_count).max().unwrap_or(0).max(0)
    }

    fn ready_since(&self) -> Option<Timestamp> {
        if !self.ready {
            return None;
        }
        ready_condition(self.pod).and_then(|c| c.last_transition_time.as_ref()).map(|t| t.0)
    }

    fn node_name(&self) -> &'a str {
        self.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default()
    }

    fn created(&self) -> Option<Timestamp> {
        self.pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
    }

    /// When the pod finished (§3.5, upstream `getFinishedTime`): the latest container `finishedAt`
    /// if every container (and sidecar) terminated; else the `Ready=False` transition; else
    /// `deletionTimestamp - deletionGracePeriodSeconds`; else the creation time.
    pub(crate) fn finish_time(&self) -> Timestamp {
        if let Some(t) = self.finish_time_from_containers() {
            return t;
        }
        if let Some(c) = ready_condition(self.pod).filter(|c| c.status == ConditionStatus::False)
            && let Some(t) = c.last_transition_time.as_ref()
        {
            return t.0;
        }
        let meta = &self.pod.metadata;
        if let Some(deleted) = meta.deletion_timestamp.as_ref() {
            let grace = SignedDuration::from_secs(meta.deletion_grace_period_seconds.unwrap_or(0));
            return deleted.0.checked_sub(grace).unwrap_or(deleted.0);
        }
        // Go's zero time when even the creation time is missing: earlier than anything.
        self.created().unwrap_or(Timestamp::MIN)
    }

    fn finish_time_from_containers(&self) -> Option<Timestamp> {
        let latest = latest_finish_time(None, self.container_statuses().iter());
        // Sidecars (restartable init containers) stop after the regular containers. As upstream, the
        // sidecar pass starts over from "no time" when a regular container has not terminated.
        let sidecars: Vec<&str> = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some(RestartPolicy::Always.as_str()))
            .map(|c| c.name.as_str())
            .collect();
        let sidecar_statuses = self.init_container_statuses().iter().filter(|s| sidecars.contains(&s.name.as_str()));
        latest_finish_time(latest, sidecar_statuses)
    }
}

/// Upstream `latestFinishTime`: `None` as soon as one status has no termination time. With no
/// statuses at all the previous value stands.
fn latest_finish_time<'s>(
    prev: Option<Timestamp>,
    statuses: impl Iterator<Item = &'s ContainerStatus>,
) -> Option<Timestamp> {
    let mut latest = prev;
    for status in statuses {
        let finished = status.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()?.0;
        latest = Some(latest.map_or(finished, |l| l.max(finished)));
    }
    latest
}

/// Preference for deletion among active pods, most deletable first (upstream `controller.ActivePods`):
/// unscheduled before scheduled; `Pending < Unknown < Running`; not ready before ready; ready more
/// recently before ready longer; more container restarts first; newer first (missing times first).
pub(crate) fn deletion_order(a: &JobPod<'_>, b: &JobPod<'_>) -> Ordering {
    let (node_a, node_b) = (a.node_name(), b.node_name());
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() { Ordering::Less } else { Ordering::Greater };
    }
    let by_phase = deletion_ordinal(a.phase).cmp(&deletion_ordinal(b.phase));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    if a.ready != b.ready {
        return if a.ready { Ordering::Greater } else { Ordering::Less };
    }
    if a.ready && b.ready {
        let by_ready = after_or_zero(a.ready_since(), b.ready_since());
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let by_restarts = b.max_container_restarts().cmp(&a.max_container_restarts());
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    after_or_zero(a.created(), b.created())
}

/// Upstream `afterOrZero` as an ordering: a missing time sorts first, then later times first.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// The pod carries the Job tracking finalizer (§3.4).
pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == JOB_TRACKING_FINALIZER)
}

/// The completion index annotation (upstream `getCompletionIndex`). Indexes beyond `i32` are kept as
/// `i32::MAX`, which is out of range for every Job, as the original value would be.
pub(crate) fn completion_index(pod: &Pod) -> Option<i32> {
    let value = pod.metadata.annotations.as_ref()?.get(JOB_COMPLETION_INDEX)?;
    let ix = value.parse::<i64>().ok().filter(|ix| *ix >= 0)?;
    Some(i32::try_from(ix).unwrap_or(i32::MAX))
}

/// Upstream `parseInt32` for the failure-count annotations: unparsable or out of range counts as 0.
fn parse_count(value: &str) -> i32 {
    value.parse::<i64>().ok().and_then(|v| i32::try_from(v).ok()).filter(|v| *v >= 0).unwrap_or(0)
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == PodConditionType::Ready)
}
