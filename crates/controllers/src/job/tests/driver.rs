//! The driver's ordering invariants (ARCHITECTURE.md, Invariants), checked against effects that log each call.

use runlet_codec::{Job, JobStatus, OwnerReference, Pod};

use super::sim::now_or_never;
use super::{job, pod, pods};
use crate::job::driver::{Created, Effects, drive};
use crate::job::{BackoffRecord, DeletionStep, FailurePolicyAction, JobEvent, PodDeletion, PodRef, SyncInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    Delete,
    WriteStatus,
    RemoveFinalizers,
}

/// Effects that succeed and remember the order of the calls that change something.
#[derive(Default)]
struct Log(Vec<Call>);

impl Effects for Log {
    type Error = std::convert::Infallible;

    async fn may_adopt(&mut self, _job: &Job) -> Result<bool, Self::Error> {
        Ok(true)
    }
    async fn adopt(&mut self, _pod: &PodRef, _owner: &OwnerReference) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn release(&mut self, _pod: &PodRef, _job_uid: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn delete_pods(&mut self, deletions: &[PodDeletion]) -> Vec<Result<(), (DeletionStep, String)>> {
        self.0.push(Call::Delete);
        deletions.iter().map(|_| Ok(())).collect()
    }
    async fn create_pods(&mut self, batch: &[Pod]) -> Vec<Created> {
        self.0.push(Call::Create);
        batch.iter().enumerate().map(|(i, _)| Created::Named(format!("p{i}"))).collect()
    }
    async fn write_status(&mut self, base: &Job, status: JobStatus) -> Result<Job, Self::Error> {
        self.0.push(Call::WriteStatus);
        Ok(Job { status: Some(status), ..base.clone() })
    }
    async fn remove_finalizers(&mut self, pods: &[PodRef]) -> Vec<bool> {
        if !pods.is_empty() {
            self.0.push(Call::RemoveFinalizers);
        }
        pods.iter().map(|_| true).collect()
    }
    fn record(&mut self, _event: &JobEvent) {}
    fn keep_backoff(&mut self, _record: BackoffRecord) {}
    fn failures_handled(&mut self, _actions: &[FailurePolicyAction]) {}
}

fn calls(job: &Job, pods: &[Pod], expectations_satisfied: bool) -> Vec<Call> {
    let backoff = BackoffRecord::default();
    let pods = super::shared(pods);
    let input = SyncInput {
        job,
        pods: &pods,
        now: super::at(super::NOW),
        backoff: &backoff,
        expectations_satisfied,
        pending_finalizer_removals: &[],
    };
    let mut log = Log::default();
    now_or_never(drive(&input, &mut log)).expect("sync");
    log.0
}

#[test]
fn the_status_is_written_before_any_finalizer_is_removed() {
    let job = job(2, Some(2)).started(10).build();
    let done = [pod("a").succeeded().build(), pod("b").running().build()];
    let log = calls(&job, &done, true);
    let write = log.iter().position(|c| *c == Call::WriteStatus).expect("the uncounted pod is written");
    let removal = log.iter().position(|c| *c == Call::RemoveFinalizers).expect("its finalizer goes");
    assert!(write < removal, "{log:?}");
}

#[test]
fn a_sync_creates_or_deletes_never_both() {
    let cases: [(&str, Job, Vec<Pod>, Call); 2] = [
        ("too few pods", job(3, Some(6)).started(10).build(), pods("run", 1, "Running"), Call::Create),
        ("too many pods", job(1, Some(6)).started(10).build(), pods("run", 3, "Running"), Call::Delete),
    ];
    for (name, job, pods, want) in cases {
        let log = calls(&job, &pods, true);
        assert!(log.contains(&want), "{name}: {log:?}");
        assert!(!(log.contains(&Call::Create) && log.contains(&Call::Delete)), "{name}: {log:?}");
    }
}

#[test]
fn no_pod_is_created_or_deleted_while_expectations_are_unmet() {
    let cases: [(&str, Job, Vec<Pod>); 2] = [
        ("too few pods", job(3, Some(6)).started(10).build(), pods("run", 1, "Running")),
        ("too many pods", job(1, Some(6)).started(10).build(), pods("run", 3, "Running")),
    ];
    for (name, job, pods) in cases {
        let log = calls(&job, &pods, false);
        assert!(!log.contains(&Call::Create) && !log.contains(&Call::Delete), "{name}: {log:?}");
    }
}
