//! The one sequence of steps that carries out a Job's plan (the numbered steps of this module's parent), written
//! once against [`Effects`]: the Job controller runs it against the API, the tests' simulator against an
//! in-memory cluster, so the two cannot drift apart. The ordering invariants live here: nothing but the status
//! step while the plan holds pod I/O back (expectations), never creations and deletions in one sync, the
//! status written before any tracking finalizer is removed.

use std::time::Duration;

use runlet_codec::{Job, JobStatus, OwnerReference, Pod};

use super::{
    BackoffRecord, BackoffUpdate, DeletionStep, FailedDeletion, FailurePolicyAction, JobEvent, Plan, PodDeletion,
    PodIoOutcome, PodRef, Skip, SyncError, SyncInput, controller_of, controller_ref, finish_tracking,
    has_tracking_finalizer, plan,
};

/// What happened to one pod creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Created under this name.
    Named(String),
    /// Refused because the namespace is being deleted: counts as created, and is no error (upstream).
    NamespaceTerminating,
    /// Failed with the server's message.
    Failed(String),
}

/// The side effects of a Job sync. Implementations decide how (API calls, an in-memory cluster) and keep
/// whatever bookkeeping goes with them (expectations, the finalizer removals in flight).
#[allow(async_fn_in_trait)] // Used with concrete types only; the runner's futures are checked `Send` there.
pub trait Effects {
    type Error;

    /// A fresh (uncached) read: the Job still exists with the same uid and is not being deleted (§2.3).
    async fn may_adopt(&mut self, job: &Job) -> Result<bool, Self::Error>;
    /// Gives an orphan the Job's controller reference and the tracking finalizer; a pod gone is no error.
    async fn adopt(&mut self, pod: &PodRef, owner: &OwnerReference) -> Result<(), Self::Error>;
    /// Removes the Job's controller reference (uid `job_uid`) from the pod; a pod gone is no error.
    async fn release(&mut self, pod: &PodRef, job_uid: &str) -> Result<(), Self::Error>;
    /// Deletes the pods (removing the tracking finalizer first where asked), each result in order.
    async fn delete_pods(&mut self, deletions: &[PodDeletion]) -> Vec<Result<(), (DeletionStep, String)>>;
    /// Creates one slow-start batch, each result in order.
    async fn create_pods(&mut self, batch: &[Pod]) -> Vec<Created>;
    /// Replaces the Job's status, compare-and-swap on the version `base` was read at; returns the Job stored.
    async fn write_status(&mut self, base: &Job, status: JobStatus) -> Result<Job, Self::Error>;
    /// Removes the tracking finalizer from each pod; `true` for each one removed (or gone).
    async fn remove_finalizers(&mut self, pods: &[PodRef]) -> Vec<bool>;
    /// Records an event on the Job (never waits for it to be written).
    fn record(&mut self, event: &JobEvent);
    /// Keeps the Job's back-off record for the next sync.
    fn keep_backoff(&mut self, record: BackoffRecord);
    /// Failed pods a `podFailurePolicy` rule matched were accounted for (their finalizer is gone), one action
    /// each: every such pod is reported exactly once.
    fn failures_handled(&mut self, actions: &[FailurePolicyAction]);
}

/// Why a sync did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Failure<E> {
    #[error("{0}")]
    Effect(E),
    #[error("{0}")]
    Core(#[from] SyncError),
    /// Some pod creation, deletion or finalizer removal failed; the rest went through.
    #[error("some pod operations failed")]
    PodIo,
}

/// What a sync did.
#[derive(Debug)]
pub struct Synced {
    pub plan: Plan,
    /// Sync again after this long.
    pub requeue_after: Option<Duration>,
}

/// One reconcile of the Job in `input`, carried out through `fx`.
pub async fn drive<E: Effects>(input: &SyncInput<'_>, fx: &mut E) -> Result<Synced, Failure<E::Error>> {
    let planned = plan(input)?;
    let plan = &planned.plan;
    let job = input.job;
    let job_uid = job.metadata.uid.as_deref().unwrap_or_default();

    if let Some(skip) = &plan.skip {
        record_all(fx, &plan.tracking.events);
        if let BackoffUpdate::Forget = plan.backoff {
            fx.keep_backoff(BackoffRecord::default());
        }
        if *skip == Skip::Finished {
            // Pods this finished Job controls are never counted again: let them go. (Orphans that only match
            // its selector are left to whoever adopts them.)
            let ours: Vec<PodRef> = input
                .pods
                .iter()
                .filter(|p| has_tracking_finalizer(p) && controller_of(p).is_some_and(|r| r.uid == job_uid))
                .map(|p| PodRef::of(p))
                .collect();
            if fx.remove_finalizers(&ours).await.contains(&false) {
                return Err(Failure::PodIo);
            }
        }
        return Ok(Synced { requeue_after: None, plan: planned.plan });
    }

    if !plan.adopt.is_empty() && !fx.may_adopt(job).await.map_err(Failure::Effect)? {
        return Ok(Synced { requeue_after: None, plan: planned.plan });
    }
    let owner = controller_ref(job);
    for p in &plan.adopt {
        fx.adopt(p, &owner).await.map_err(Failure::Effect)?;
    }
    for p in &plan.release {
        fx.release(p, job_uid).await.map_err(Failure::Effect)?;
    }

    let outcome = pod_io(plan, fx).await;
    let all_ok = plan.went_as_planned(&outcome);
    let tracking = planned.after_pod_io(&outcome);
    record_all(fx, &tracking.events);

    // The status goes first: a pod's uid is recorded as uncounted before its finalizer can go.
    let (written, stored) = if tracking.write_status {
        let stored = fx.write_status(job, tracking.status.clone()).await.map_err(Failure::Effect)?;
        (stored.status.clone().unwrap_or_default(), Some(stored))
    } else {
        (tracking.status.clone(), None)
    };
    if let BackoffUpdate::StoreIfStatusWritten(record) = &plan.backoff {
        fx.keep_backoff(record.clone());
    }

    let results = fx.remove_finalizers(&tracking.remove_finalizers).await;
    let (mut removed, mut failed) = (Vec::new(), Vec::new());
    for (p, ok) in tracking.remove_finalizers.iter().zip(results) {
        if ok { removed.push(p.uid.clone()) } else { failed.push(p.uid.clone()) }
    }
    // Once its finalizer is gone a pod is never looked at again, so each is reported once.
    let handled: Vec<FailurePolicyAction> = tracking
        .handled_by_failure_policy
        .iter()
        .filter(|(uid, _)| removed.contains(uid))
        .map(|(_, action)| *action)
        .collect();
    if !handled.is_empty() {
        fx.failures_handled(&handled);
    }

    let finish = finish_tracking(&tracking, &written, &removed, &failed);
    if finish.write_status {
        let base = stored.unwrap_or_else(|| job.clone());
        fx.write_status(&base, finish.status.clone()).await.map_err(Failure::Effect)?;
        record_all(fx, &finish.events);
    }
    if !all_ok || !failed.is_empty() {
        return Err(Failure::PodIo);
    }
    Ok(Synced { requeue_after: plan.requeue_after, plan: planned.plan })
}

/// Deletions or creations (the plan never holds both), with their events.
async fn pod_io<E: Effects>(plan: &Plan, fx: &mut E) -> PodIoOutcome {
    let mut outcome = PodIoOutcome::default();
    if !plan.deletions.is_empty() {
        let results = fx.delete_pods(&plan.deletions).await;
        for (d, r) in plan.deletions.iter().zip(results) {
            match r {
                Ok(()) => fx.record(&JobEvent::deleted_pod(&d.pod.name)),
                Err((step, error)) => {
                    fx.record(&JobEvent::failed_delete(&error));
                    outcome.failed_deletions.push(FailedDeletion { uid: d.pod.uid.clone(), step });
                }
            }
        }
        return outcome;
    }
    for batch in &plan.creations {
        let mut batch_failed = false;
        for created in fx.create_pods(batch).await {
            match created {
                Created::Named(name) => {
                    outcome.created += 1;
                    fx.record(&JobEvent::created_pod(&name));
                }
                Created::NamespaceTerminating => outcome.created += 1,
                Created::Failed(error) => {
                    batch_failed = true;
                    fx.record(&JobEvent::failed_create(&error));
                }
            }
        }
        if batch_failed {
            break;
        }
    }
    outcome
}

fn record_all<E: Effects>(fx: &mut E, events: &[JobEvent]) {
    for e in events {
        fx.record(e);
    }
}
