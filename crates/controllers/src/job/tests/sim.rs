//! A tiny runner + API server + kubelet for multi-sync scenarios (the [E2E] rows of §9).

use jiff::Timestamp;
use runlet_api::labels::JOB_TRACKING_FINALIZER;
use runlet_codec::{Job, JobStatus, Pod, PodStatus, Time};

use super::{PodBuilder, at};
use crate::job::{BackoffRecord, BackoffUpdate, JobEvent, Plan, SyncInput, finish_tracking, sync};

pub(crate) struct Sim {
    pub job: Job,
    pub pods: Vec<Pod>,
    pub backoff: BackoffRecord,
    pub now: i64,
    pub events: Vec<JobEvent>,
    next_id: usize,
}

impl Sim {
    pub fn new(job: Job) -> Sim {
        Sim { job, pods: Vec::new(), backoff: BackoffRecord::default(), now: 0, events: Vec::new(), next_id: 0 }
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

    /// One reconcile with every API call succeeding.
    pub fn sync(&mut self) -> Plan {
        let input = SyncInput {
            job: &self.job,
            pods: &self.pods,
            now: self.ts(),
            backoff: &self.backoff,
            expectations_satisfied: true,
            pending_finalizer_removals: &[],
        };
        let plan = sync(&input).expect("sync");
        let now = Time(self.ts());
        for deletion in &plan.deletions {
            let pod = self.pod_mut(&deletion.pod.uid);
            if deletion.remove_finalizer_first {
                remove_finalizer(pod);
            }
            if pod.metadata.deletion_timestamp.is_none() {
                pod.metadata.deletion_timestamp = Some(now.clone());
                pod.metadata.deletion_grace_period_seconds = Some(30);
            }
            self.events.push(JobEvent::deleted_pod(&deletion.pod.name));
        }
        for new in plan.creations.iter().flatten() {
            let mut pod = new.clone();
            let name = format!("{}{}", pod.metadata.generate_name.clone().unwrap_or_default(), self.next_id);
            pod.metadata.uid = Some(format!("{name}-uid"));
            pod.metadata.name = Some(name.clone());
            pod.metadata.creation_timestamp = Some(now.clone());
            pod.status = Some(PodStatus { phase: Some("Pending".into()), ..Default::default() });
            self.next_id += 1;
            self.pods.push(pod);
            self.events.push(JobEvent::created_pod(&name));
        }
        let tracking = &plan.tracking;
        self.events.extend(tracking.events.iter().cloned());
        if tracking.write_status {
            self.job.status = Some(tracking.status.clone());
        }
        match &plan.backoff {
            BackoffUpdate::StoreIfStatusWritten(record) if tracking.write_status => self.backoff = record.clone(),
            BackoffUpdate::Forget => self.backoff = BackoffRecord::default(),
            _ => {}
        }
        let written = tracking.status.clone();
        let mut removed = Vec::new();
        for r in &tracking.remove_finalizers {
            remove_finalizer(self.pod_mut(&r.uid));
            removed.push(r.uid.clone());
        }
        let finish = finish_tracking(tracking, &written, &removed, &[]);
        if finish.write_status {
            self.job.status = Some(finish.status);
            self.events.extend(finish.events);
        }
        self.collect_garbage();
        plan
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
