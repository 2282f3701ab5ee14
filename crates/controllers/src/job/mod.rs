//! The pure reconcile core of the Job controller: Kubernetes v1.33 `syncJob` semantics
//! (`shared/spec/job-semantics.md` §2–§4, §6.1) as functions of the Job, its pods and the time.
//!
//! One reconcile, carried out by [`driver::drive`] through an [`driver::Effects`] implementation (the API-backed
//! one of `job_controller`, or the in-memory one of the simulator in the tests; both run this same sequence):
//!
//! 1. [`plan`] → [`Planned`] (its [`Plan`] is what [`sync`] returns). If [`Plan::skip`] is set nothing else
//!    applies (apart from [`Plan::backoff`], [`Tracking::events`], and releasing a finished Job's pods).
//! 2. Adopt and release ([`Plan::adopt`], [`Plan::release`]); adoption needs a fresh (uncached) read
//!    confirming the Job is not being deleted and has the same UID. If one of these fails (other than
//!    NotFound) stop here and retry with rate-limited backoff.
//! 3. Pod I/O: either [`Plan::deletions`] or [`Plan::creations`], never both. Creations go in
//!    slow-start batches; stop after the first batch with a failure (a namespace-terminating refusal
//!    counts as created and is not an error).
//! 4. Status step: [`Planned::after_pod_io`] with what happened ([`Plan::tracking`] if every pod action
//!    succeeded). Emit [`Tracking::events`]; write
//!    [`Tracking::status`] if [`Tracking::write_status`] (stop on error), then store the backoff record;
//!    remove the tracking finalizer from [`Tracking::remove_finalizers`] (NotFound counts as removed).
//! 5. [`finish_tracking`] with the status the API server returned and the removal results; write its
//!    status if asked, and emit its events once that write succeeded.
//! 6. Requeue after [`Plan::requeue_after`]; return an error (rate-limited requeue) if any pod action
//!    or finalizer removal failed.

mod backoff;
mod claim;
pub mod conditions;
pub mod driver;
mod failure_policy;
mod indexed;
mod manage;
mod pods;
mod spec;
mod success_policy;
mod sync;
mod template;
mod tracking;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use runlet_codec::{Job, JobCondition, JobStatus, Pod};

pub use backoff::{BackoffRecord, MAX_POD_FAILURE_BACKOFF, POD_FAILURE_BACKOFF};
pub use claim::{controller_of, controller_ref, orphan_finalizer_removable};
pub use failure_policy::Action as FailurePolicyAction;
pub use manage::{MAX_POD_CREATE_DELETE_PER_SYNC, slow_start_batches};
pub use pods::has_tracking_finalizer;
pub use tracking::MAX_UNCOUNTED_PODS;

/// What one reconcile looks at.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The Job as stored (defaulted).
    pub job: &'a Job,
    /// Pods in the Job's namespace that the Job owns or that match its selector, shared with the informer's
    /// cache (a sync of a big Job must not copy every pod).
    pub pods: &'a [Arc<Pod>],
    pub now: Timestamp,
    /// The in-memory backoff record of this Job (§3.5).
    pub backoff: &'a BackoffRecord,
    /// No pod creations/deletions of this Job are still unobserved (§3.1).
    pub expectations_satisfied: bool,
    /// UIDs whose finalizer removal was requested but not yet observed (upstream finalizer
    /// expectations); such pods are neither counted nor processed again.
    pub pending_finalizer_removals: &'a [String],
}

/// A pod named for an API call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    pub fn of(pod: &Pod) -> PodRef {
        let meta = &pod.metadata;
        PodRef {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }
}

/// A pod to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDeletion {
    pub pod: PodRef,
    /// Remove the tracking finalizer first, so the pod is never counted (suspend, scale-down, strays).
    /// `false` when the Job is finishing: the pod keeps its finalizer and is counted by the tracking.
    pub remove_finalizer_first: bool,
}

/// Why a sync does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `spec.managedBy` names another controller: no status, no pods, no finalizers.
    ManagedBy(String),
    /// The Job already has `Complete` or `Failed`.
    Finished,
    /// `spec.completionMode` is not one this version knows (a Warning event is emitted).
    UnknownCompletionMode,
}

/// What to do with the Job's in-memory backoff record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackoffUpdate {
    Keep,
    /// Drop it (the Job finished).
    Forget,
    /// Store it once the tracking's first status write went through (upstream only persists it when
    /// that write happens).
    StoreIfStatusWritten(BackoffRecord),
}

/// Everything one reconcile wants done, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub skip: Option<Skip>,
    /// Orphans to adopt: add the controller reference ([`controller_ref`]) and the tracking finalizer.
    pub adopt: Vec<PodRef>,
    /// Pods to release: remove the controller reference.
    pub release: Vec<PodRef>,
    /// Pods to delete, in order (at most [`MAX_POD_CREATE_DELETE_PER_SYNC`] except when suspending).
    pub deletions: Vec<PodDeletion>,
    /// Pods to create, in slow-start batches of 1, 2, 4, 8, …
    pub creations: Vec<Vec<Pod>>,
    /// Sync again after this long (pod-failure backoff, remaining active deadline); the earliest wins.
    pub requeue_after: Option<Duration>,
    pub backoff: BackoffUpdate,
    /// The status step, assuming every adoption, deletion and creation succeeds.
    pub tracking: Tracking,
}

impl Plan {
    /// Total number of pods to create.
    pub fn creation_count(&self) -> usize {
        self.creations.iter().map(Vec::len).sum()
    }

    /// Every deletion succeeded and every creation was made (or refused by a terminating namespace).
    pub fn went_as_planned(&self, outcome: &PodIoOutcome) -> bool {
        outcome.failed_deletions.is_empty() && outcome.created == self.creation_count()
    }
}

/// What happened to the plan's pod actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIoOutcome {
    /// Pods created (including creations refused because the namespace is terminating).
    pub created: usize,
    /// Deletions that failed (NotFound is not a failure).
    pub failed_deletions: Vec<FailedDeletion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDeletion {
    pub uid: String,
    pub step: DeletionStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionStep {
    /// Removing the tracking finalizer failed; the DELETE was not attempted.
    RemovingFinalizer,
    Deleting,
}

/// The status step of a reconcile (§3.4 steps 1–3).
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    /// The status to write first: counters, new uncounted UIDs, indexes, interim conditions.
    pub status: JobStatus,
    /// Whether [`Tracking::status`] differs from the stored status and must be written.
    pub write_status: bool,
    /// Pods to remove the tracking finalizer from, after that write.
    pub remove_finalizers: Vec<PodRef>,
    /// Events the sync itself causes (`Suspended`, `Resumed`, `UnknownCompletionMode`).
    pub events: Vec<JobEvent>,
    /// The terminal condition (`Complete`/`Failed`) [`finish_tracking`] adds once allowed.
    pub finishing: Option<JobCondition>,
    /// The uncounted lists filled up ([`MAX_UNCOUNTED_PODS`]); the Job cannot finish this round.
    pub reached_max_uncounted: bool,
    /// Failed pods among [`Tracking::remove_finalizers`] that a `podFailurePolicy` rule matched, by uid, with the
    /// rule's action (upstream counts these in `job_controller_pod_failures_handled_by_failure_policy_total`).
    pub handled_by_failure_policy: Vec<(String, FailurePolicyAction)>,
    with_finalizer: std::collections::BTreeSet<String>,
    completions: Option<i32>,
    now: Timestamp,
}

/// The last status step (§3.4 steps 4–5).
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub status: JobStatus,
    pub write_status: bool,
    /// The terminal condition was added.
    pub finished: bool,
    /// `Completed`/`TooManySucceededPods` or the failure reason; emit after the write succeeded.
    pub events: Vec<JobEvent>,
}

pub use runlet_api::event::EventType;

/// An event to record on the Job (source component `job-controller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

impl JobEvent {
    pub fn normal(reason: &str, message: &str) -> JobEvent {
        JobEvent { type_: EventType::Normal, reason: reason.to_string(), message: message.to_string() }
    }

    pub fn warning(reason: &str, message: &str) -> JobEvent {
        JobEvent { type_: EventType::Warning, reason: reason.to_string(), message: message.to_string() }
    }

    /// `SuccessfulCreate`, after a pod was created.
    pub fn created_pod(pod_name: &str) -> JobEvent {
        JobEvent::normal("SuccessfulCreate", &format!("Created pod: {pod_name}"))
    }

    /// `FailedCreate` (not for a terminating namespace).
    pub fn failed_create(error: &str) -> JobEvent {
        JobEvent::warning("FailedCreate", &format!("Error creating: {error}"))
    }

    /// `SuccessfulDelete`, after a pod was deleted.
    pub fn deleted_pod(pod_name: &str) -> JobEvent {
        JobEvent::normal("SuccessfulDelete", &format!("Deleted pod: {pod_name}"))
    }

    /// `FailedDelete` (not for NotFound).
    pub fn failed_delete(error: &str) -> JobEvent {
        JobEvent::warning("FailedDelete", &format!("Error deleting: {error}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A field the API server always sets (or validation requires) is missing.
    #[error("job has no {0}")]
    MissingField(&'static str),
    /// Internal: [`sync`] turns this into [`Skip::UnknownCompletionMode`].
    #[error("unknown completion mode")]
    UnknownCompletionMode,
    /// `spec.selector` cannot be turned into a label selector.
    #[error("couldn't convert Job selector: {0}")]
    Selector(String),
}

/// A plan together with what its later steps need: the decisions it was made from, so that the status step
/// after pod I/O that did not all succeed ([`Planned::after_pod_io`]) is computed from the same facts.
pub struct Planned<'a> {
    pub plan: Plan,
    /// `None` for a skipped Job (nothing was decided).
    decision: Option<sync::Decision<'a>>,
}

impl Planned<'_> {
    /// The status step given what happened to the plan's pod actions: [`Plan::tracking`] when everything
    /// went as planned (or the Job was skipped), else the tracking recomputed for what did happen.
    pub fn after_pod_io(&self, outcome: &PodIoOutcome) -> Tracking {
        match &self.decision {
            Some(d) if !self.plan.went_as_planned(outcome) => sync::conclude(d, outcome),
            _ => self.plan.tracking.clone(),
        }
    }
}

/// Reconciles one Job: what to do with its pods, and the status step assuming all of it succeeds.
pub fn sync(input: &SyncInput<'_>) -> Result<Plan, SyncError> {
    plan(input).map(|p| p.plan)
}

/// [`sync`], keeping what [`Planned::after_pod_io`] needs.
pub fn plan<'a>(input: &SyncInput<'a>) -> Result<Planned<'a>, SyncError> {
    if let Some(plan) = skip_plan(input) {
        return Ok(Planned { plan, decision: None });
    }
    let d = sync::decide(input)?;
    let deletions = match &d.manage {
        Some(manage::Manage::Remove(list)) => deletions(&d, list, true),
        _ => deletions(&d, &d.delete_for_finish, false),
    };
    let creations = match &d.manage {
        Some(manage::Manage::Create(new)) => {
            let mut pods = new.iter().map(|&n| template::pod_from_template(&d.job, n));
            slow_start_batches(new.len()).into_iter().map(|size| pods.by_ref().take(size).collect()).collect()
        }
        _ => Vec::new(),
    };
    let outcome = PodIoOutcome { created: creations.iter().map(Vec::len).sum(), failed_deletions: Vec::new() };
    let tracking = sync::conclude(&d, &outcome);
    let plan = Plan {
        skip: None,
        adopt: d.adopt.clone(),
        release: d.release.clone(),
        deletions,
        creations,
        requeue_after: d.requeue_after,
        backoff: BackoffUpdate::StoreIfStatusWritten(d.backoff.clone()),
        tracking,
    };
    Ok(Planned { plan, decision: Some(d) })
}

/// The status after the finalizer removals: UIDs whose finalizer is gone are counted, and the terminal
/// condition is added when nothing is uncounted or terminating. `written` is the status the API server
/// returned for the first write (or [`Tracking::status`] if nothing was written); `removed` are the
/// UIDs whose finalizer is gone; `failed` those whose removal failed.
pub fn finish_tracking(tracking: &Tracking, written: &JobStatus, removed: &[String], failed: &[String]) -> Finish {
    tracking::finish(tracking, written, removed, failed)
}

fn deletions(d: &sync::Decision<'_>, list: &[usize], remove_finalizer_first: bool) -> Vec<PodDeletion> {
    list.iter().map(|&i| PodDeletion { pod: PodRef::of(d.pods[i].pod), remove_finalizer_first }).collect()
}

/// Jobs the controller leaves alone (§3.2 steps 2–4).
fn skip_plan(input: &SyncInput<'_>) -> Option<Plan> {
    let job = input.job;
    let (skip, backoff, events) = if let Some(other) = spec::managed_by_other(job) {
        (Skip::ManagedBy(other.to_string()), BackoffUpdate::Keep, Vec::new())
    } else if conditions::is_finished(job) {
        (Skip::Finished, BackoffUpdate::Forget, Vec::new())
    } else if !spec::known_completion_mode(job) {
        let event = JobEvent::warning("UnknownCompletionMode", "Skipped Job sync because completion mode is unknown");
        (Skip::UnknownCompletionMode, BackoffUpdate::Keep, vec![event])
    } else {
        return None;
    };
    let status = job.status.clone().unwrap_or_default();
    Some(Plan {
        skip: Some(skip),
        adopt: Vec::new(),
        release: Vec::new(),
        deletions: Vec::new(),
        creations: Vec::new(),
        requeue_after: None,
        backoff,
        tracking: Tracking {
            status,
            write_status: false,
            remove_finalizers: Vec::new(),
            events,
            finishing: None,
            reached_max_uncounted: false,
            handled_by_failure_policy: Vec::new(),
            with_finalizer: Default::default(),
            completions: None,
            now: input.now,
        },
    })
}
