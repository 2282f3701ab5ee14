//! A tiny runner + API server + kubelet for multi-sync scenarios (the [E2E] rows of §9).

use jiff::Timestamp;
use runlet_api::labels::JOB_TRACKING_FINALIZER;
use runlet_codec::{Job, JobStatus, OwnerReference, Pod, PodStatus, Time};

use super::{PodBuilder, at};
use crate::job::driver::{Created, Effects, drive};
use crate::job::{BackoffRecord, DeletionStep, FailurePolicyAction, JobEvent, Plan, PodDeletion, PodRef, SyncInput};

pub(crate) struct Sim {
    pub job: Job,
    pub pods: Vec<Pod>,
    pub backoff: BackoffRecord,
    pub now: i64,
    pub events: Vec<JobEvent>,
    /// What [`Effects::failures_handled`] reported, in order.
    pub failures_handled: Vec<FailurePolicyAction>,
    next_id: usize,
}

impl Sim {
    pub fn new(job: Job) -> Sim {
        Sim {
            job,
            pods: Vec::new(),
            backoff: BackoffRecord::default(),
            now: 0,
            events: Vec::new(),
            failures_handled: Vec::new(),
            next_id: 0,
        }
    }

    fn ts(&self) -> Timestamp {
        at(self.now)
    }

    pub fn status(&self) -> JobStatus {
        self.job.status.clone().unwrap_or_default()
    }

    pub fn advance(&mut self, secs: i64) {
        self.now += secs;
    }

    /// One reconcile with every API call succeeding, through the driver the Job controller runs. The input
    /// is a snapshot of the cluster, as the controller's informer caches are.
    pub fn sync(&mut self) -> Plan {
        let (job, pods, backoff) = (self.job.clone(), super::shared(&self.pods), self.backoff.clone());
        let input = SyncInput {
            job: &job,
            pods: &pods,
            now: self.ts(),
            backoff: &backoff,
            expectations_satisfied: true,
            pending_finalizer_removals: &[],
        };
        let synced = now_or_never(drive(&input, self)).expect("sync");
        self.collect_garbage();
        synced.plan
    }

    fn pod_mut(&mut self, uid: &str) -> &mut Pod {
        self.pods.iter_mut().find(|p| p.metadata.uid.as_deref() == Some(uid)).expect("pod exists")
    }

    /// Deleted pods without finalizers disappear once they stopped.
    fn collect_garbage(&mut self) {
        self.pods.retain(|p| {
            let stopped = matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
            !(p.metadata.deletion_timestamp.is_some()
                && p.metadata.finalizers.iter().flatten().next().is_none()
                && stopped)
        });
    }

    /// Kubelet: pending pods start and become ready.
    pub fn start_pods(&mut self) {
        let now = self.now;
        for pod in self.pods.iter_mut().filter(|p| phase(p) == "Pending" && p.metadata.deletion_timestamp.is_none()) {
            *pod = PodBuilder(pod.clone()).running().pod_condition("Ready", "True", now).build();
        }
    }

    /// Kubelet: deleted pods are killed (SIGTERM → exit 143, phase Failed).
    pub fn stop_deleted_pods(&mut self) {
        let now = self.now;
        for pod in self.pods.iter_mut().filter(|p| p.metadata.deletion_timestamp.is_some() && !terminal(p)) {
            *pod = stopped(pod, "Failed", 143, now);
        }
        self.collect_garbage();
    }

    /// Kubelet: every running pod chosen by `outcome` ends; `outcome` gives phase and exit code.
    pub fn finish_pods(&mut self, outcome: impl Fn(&Pod) -> Option<(&'static str, i32)>) {
        let now = self.now;
        for pod in self.pods.iter_mut().filter(|p| !terminal(p) && p.metadata.deletion_timestamp.is_none()) {
            if let Some((phase, code)) = outcome(pod) {
                *pod = stopped(pod, phase, code, now);
            }
        }
    }

    /// Eviction: a `DisruptionTarget` condition, then the pod is deleted.
    pub fn evict_running_pods(&mut self) {
        let now = self.now;
        for pod in self.pods.iter_mut().filter(|p| phase(p) == "Running") {
            let mut evicted = PodBuilder(pod.clone()).pod_condition("DisruptionTarget", "True", now).build();
            evicted.metadata.deletion_timestamp = Some(Time(at(now)));
            evicted.metadata.deletion_grace_period_seconds = Some(30);
            *pod = evicted;
        }
    }

    pub fn pods_in_phase(&self, wanted: &str) -> usize {
        self.pods.iter().filter(|p| phase(p) == wanted).count()
    }

    pub fn event_reasons(&self) -> Vec<String> {
        self.events.iter().map(|e| e.reason.clone()).collect()
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

fn terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn stopped(pod: &Pod, phase: &str, code: i32, now: i64) -> Pod {
    let mut pod = pod.clone();
    if let Some(status) = pod.status.as_mut() {
        status.container_statuses = None;
        if let Some(conditions) = status.conditions.as_mut() {
            conditions.retain(|c| c.type_ != "Ready");
        }
    }
    PodBuilder(pod)
        .phase(phase)
        .container_exit("main-container", code, now)
        .pod_condition("Ready", "False", now)
        .build()
}

fn remove_finalizer(pod: &mut Pod) {
    if let Some(list) = pod.metadata.finalizers.as_mut() {
        list.retain(|f| f != JOB_TRACKING_FINALIZER);
    }
}

/// The in-memory cluster as the driver's effects: every call succeeds at once.
impl Effects for Sim {
    type Error = std::convert::Infallible;

    async fn may_adopt(&mut self, _job: &Job) -> Result<bool, Self::Error> {
        Ok(true)
    }

    async fn adopt(&mut self, pod: &PodRef, owner: &OwnerReference) -> Result<(), Self::Error> {
        let pod = self.pod_mut(&pod.uid);
        pod.metadata.owner_references.get_or_insert_with(Vec::new).push(owner.clone());
        pod.metadata.finalizers.get_or_insert_with(Vec::new).push(JOB_TRACKING_FINALIZER.to_string());
        Ok(())
    }

    async fn release(&mut self, pod: &PodRef, job_uid: &str) -> Result<(), Self::Error> {
        if let Some(refs) = self.pod_mut(&pod.uid).metadata.owner_references.as_mut() {
            refs.retain(|r| r.uid != job_uid);
        }
        Ok(())
    }

    async fn delete_pods(&mut self, deletions: &[PodDeletion]) -> Vec<Result<(), (DeletionStep, String)>> {
        let now = Time(self.ts());
        for deletion in deletions {
            let pod = self.pod_mut(&deletion.pod.uid);
            if deletion.remove_finalizer_first {
                remove_finalizer(pod);
            }
            if pod.metadata.deletion_timestamp.is_none() {
                pod.metadata.deletion_timestamp = Some(now.clone());
                pod.metadata.deletion_grace_period_seconds = Some(30);
            }
        }
        deletions.iter().map(|_| Ok(())).collect()
    }

    async fn create_pods(&mut self, batch: &[Pod]) -> Vec<Created> {
        let now = Time(self.ts());
        let mut created = Vec::new();
        for new in batch {
            let mut pod = new.clone();
            let name = format!("{}{}", pod.metadata.generate_name.clone().unwrap_or_default(), self.next_id);
            pod.metadata.uid = Some(format!("{name}-uid"));
            pod.metadata.name = Some(name.clone());
            pod.metadata.creation_timestamp = Some(now.clone());
            pod.status = Some(PodStatus { phase: Some("Pending".into()), ..Default::default() });
            self.next_id += 1;
            self.pods.push(pod);
            created.push(Created::Named(name));
        }
        created
    }

    async fn write_status(&mut self, base: &Job, status: JobStatus) -> Result<Job, Self::Error> {
        let mut stored = base.clone();
        stored.status = Some(status);
        self.job.status = stored.status.clone();
        Ok(stored)
    }

    async fn remove_finalizers(&mut self, pods: &[PodRef]) -> Vec<bool> {
        for p in pods {
            if let Some(pod) = self.pods.iter_mut().find(|q| q.metadata.uid.as_deref() == Some(p.uid.as_str())) {
                remove_finalizer(pod);
            }
        }
        pods.iter().map(|_| true).collect()
    }

    fn record(&mut self, event: &JobEvent) {
        self.events.push(event.clone());
    }

    fn keep_backoff(&mut self, record: BackoffRecord) {
        self.backoff = record;
    }

    fn failures_handled(&mut self, actions: &[FailurePolicyAction]) {
        self.failures_handled.extend_from_slice(actions);
    }
}

/// Runs a future that never waits (the in-memory effects answer at once) to its end.
pub(crate) fn now_or_never<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the in-memory effects never wait"),
    }
}
