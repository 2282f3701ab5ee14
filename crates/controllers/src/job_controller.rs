//! The Job controller's runner: watches Jobs and Pods through the API, and for each Job key runs the pure
//! reconcile core ([`crate::job::sync`]) and carries out its plan (job-semantics §3). All state that matters
//! lives in the API (status, pod finalizers); what is kept here in memory (back-off records, expectations) is
//! rebuilt or harmlessly lost on restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use runlet_api::labels::JOB_TRACKING_FINALIZER;
use runlet_codec::{Job, JobStatus, Pod};
use serde_json::json;

use crate::events::{Recorder, reference};
use crate::job::{
    self, BackoffRecord, BackoffUpdate, DeletionStep, FailedDeletion, JobEvent, PodIoOutcome, PodRef, Skip, SyncInput,
    Tracking,
};
use crate::runtime::informer::Change;
use crate::runtime::{Informer, WorkQueue};

/// A Job's namespace and name.
pub type JobKey = (String, String);

/// How long unobserved creations/deletions hold back the next create/delete (upstream `ExpectationsTimeout`).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);
/// Concurrent syncs (of different Jobs).
const WORKERS: usize = 4;

/// What the runner remembers about one Job between syncs.
#[derive(Default)]
struct Memory {
    /// The Job this is about: a Job deleted and created again under the same name starts afresh.
    job_uid: String,
    backoff: BackoffRecord,
    /// Names of pods created and not yet seen in the pod cache.
    expect_created: HashSet<String>,
    /// UIDs of pods deleted and still in the pod cache without a deletionTimestamp.
    expect_gone: HashSet<String>,
    expect_since: Option<Instant>,
    /// UIDs whose tracking finalizer was removed but the cache still shows it.
    finalizers_removed: HashSet<String>,
}

pub struct JobController {
    client: Client,
    jobs: Arc<Informer<Job>>,
    pods: Arc<Informer<Pod>>,
    queue: WorkQueue<JobKey>,
    memory: Mutex<HashMap<JobKey, Memory>>,
    /// UIDs of pods the orphan worker is releasing right now.
    orphans_in_flight: Mutex<HashSet<String>>,
    recorder: Recorder,
}

#[derive(Debug, thiserror::Error)]
enum SyncFailure {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Core(#[from] job::SyncError),
    #[error("some pod operations failed")]
    PodIo,
}

impl JobController {
    pub fn new(client: Client, jobs: Arc<Informer<Job>>, pods: Arc<Informer<Pod>>) -> Arc<Self> {
        Arc::new(JobController {
            recorder: Recorder::new(client.clone(), "job-controller"),
            client,
            jobs,
            pods,
            queue: WorkQueue::new(Duration::from_millis(50), Duration::from_secs(60)),
            memory: Mutex::new(HashMap::new()),
            orphans_in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Runs the controller forever.
    pub async fn run(self: Arc<Self>) {
        let mut job_changes = self.jobs.subscribe();
        let mut pod_changes = self.pods.subscribe();
        self.jobs.ready().await;
        self.pods.ready().await;
        for j in self.jobs.store.state() {
            self.queue.add(key_of(&j));
        }
        for _ in 0..WORKERS {
            let me = self.clone();
            tokio::spawn(async move { me.work().await });
        }
        loop {
            tokio::select! {
                c = job_changes.recv() => match c {
                    Ok(Change::Applied(j)) | Ok(Change::Deleted(j)) => self.queue.add(key_of(&j)),
                    Ok(Change::Relisted) | Err(_) => self.resync_all(),
                },
                c = pod_changes.recv() => match c {
                    Ok(Change::Applied(p)) => self.pod_changed(&p, true),
                    Ok(Change::Deleted(p)) => self.pod_changed(&p, false),
                    Ok(Change::Relisted) | Err(_) => self.resync_all(),
                },
            }
        }
    }

    fn resync_all(&self) {
        for j in self.jobs.store.state() {
            self.queue.add(key_of(&j));
        }
    }

    /// A pod change wakes its controlling Job, or every Job of the namespace that may adopt it; a pod whose
    /// tracking finalizer nobody will remove any more goes to the orphan worker.
    fn pod_changed(self: &Arc<Self>, pod: &Pod, exists: bool) {
        let ns = pod.namespace().unwrap_or_default();
        match controller_of(pod) {
            Some(r) if r.kind == "Job" => self.queue.add((ns.clone(), r.name.clone())),
            Some(_) => {}
            None => {
                for j in self.jobs.store.state().iter().filter(|j| j.namespace().as_deref() == Some(ns.as_str())) {
                    self.queue.add(key_of(j));
                }
            }
        }
        if exists && self.is_orphan_in_cache(pod) {
            self.release_orphan(PodRef::of(pod));
        }
    }

    /// Cheap first look (the orphan worker confirms with fresh reads): the pod keeps a tracking finalizer but no
    /// live, unfinished Job of ours controls it.
    fn is_orphan_in_cache(&self, pod: &Pod) -> bool {
        let owner = controller_of(pod).filter(|r| r.kind == "Job").and_then(|r| {
            let ns = pod.namespace().unwrap_or_default();
            self.jobs.store.get(&ObjectRef::new(&r.name).within(&ns))
        });
        job::orphan_finalizer_removable(pod, owner.as_deref())
    }

    /// Strips the tracking finalizer from an orphan in the background, once per pod at a time.
    fn release_orphan(self: &Arc<Self>, pod: PodRef) {
        {
            let mut in_flight = self.orphans_in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if !in_flight.insert(pod.uid.clone()) {
                return;
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            release_orphan_finalizer(&me.client, &pod).await;
            me.orphans_in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&pod.uid);
        });
    }

    async fn work(self: Arc<Self>) {
        while let Some(key) = self.queue.next().await {
            match self.sync(&key).await {
                Ok(requeue) => {
                    self.queue.forget(&key);
                    if let Some(after) = requeue {
                        self.queue.add_after(key.clone(), after);
                    }
                }
                Err(e) => {
                    tracing::debug!(namespace = %key.0, job = %key.1, error = %e, "job sync failed; retrying");
                    self.queue.add_rate_limited(key.clone());
                }
            }
            self.queue.done(&key);
        }
    }

    fn memory<T>(&self, key: &JobKey, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut all = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(key.clone()).or_default())
    }

    /// Expectations are satisfied once the cache shows every creation and deletion made (or they timed out).
    fn expectations_satisfied(&self, key: &JobKey, pods: &[Pod]) -> bool {
        self.memory(key, |m| {
            let names: HashSet<&str> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
            m.expect_created.retain(|n| !names.contains(n.as_str()));
            m.expect_gone.retain(|uid| {
                pods.iter().any(|p| p.metadata.uid.as_deref() == Some(uid) && p.metadata.deletion_timestamp.is_none())
            });
            let pending = !m.expect_created.is_empty() || !m.expect_gone.is_empty();
            if !pending {
                m.expect_since = None;
                return true;
            }
            if m.expect_since.is_some_and(|t| t.elapsed() > EXPECTATIONS_TIMEOUT) {
                // Give up on what was never observed, so later expectations get their own full timeout.
                m.expect_created.clear();
                m.expect_gone.clear();
                m.expect_since = None;
                return true;
            }
            false
        })
    }

    async fn sync(self: &Arc<Self>, key: &JobKey) -> Result<Option<Duration>, SyncFailure> {
        let (ns, name) = key;
        let Some(job) = self.jobs.store.get(&ObjectRef::new(name).within(ns)) else {
            self.memory.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
            self.release_pods_of_gone_job(ns, name);
            return Ok(None);
        };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        self.memory(key, |m| {
            if m.job_uid != uid {
                *m = Memory { job_uid: uid.clone(), ..Memory::default() };
            }
        });
        // Candidates: pods this Job controls, and orphans it may adopt.
        let pods: Vec<Pod> = self
            .pods
            .store
            .state()
            .iter()
            .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
            .filter(|p| controller_of(p).is_none_or(|r| r.uid == uid))
            .map(|p| (**p).clone())
            .collect();
        let satisfied = self.expectations_satisfied(key, &pods);
        let (backoff, removed_before) = self.memory(key, |m| {
            m.finalizers_removed.retain(|u| {
                pods.iter().any(|p| {
                    p.metadata.uid.as_deref() == Some(u) && p.finalizers().iter().any(|f| f == JOB_TRACKING_FINALIZER)
                })
            });
            (m.backoff.clone(), m.finalizers_removed.iter().cloned().collect::<Vec<_>>())
        });
        let input = SyncInput {
            job: &job,
            pods: &pods,
            now: jiff::Timestamp::now(),
            backoff: &backoff,
            expectations_satisfied: satisfied,
            pending_finalizer_removals: &removed_before,
        };
        let plan = job::sync(&input)?;
        let about = reference(job.as_ref());

        if let Some(skip) = &plan.skip {
            self.emit(&about, &plan.tracking.events).await;
            if let BackoffUpdate::Forget = plan.backoff {
                self.memory(key, |m| m.backoff = BackoffRecord::default());
            }
            if *skip == Skip::Finished {
                // Pods this finished Job controls are never counted again: let them go. (Orphans that only match
                // its selector are left to whoever adopts them.)
                let mut failed = false;
                for p in
                    pods.iter().filter(|p| has_tracking_finalizer(p) && controller_of(p).is_some_and(|r| r.uid == uid))
                {
                    failed |= !remove_tracking_finalizer(&self.client, &PodRef::of(p)).await;
                }
                if failed {
                    return Err(SyncFailure::PodIo);
                }
            }
            return Ok(None);
        }

        if !self.adopt_and_release(&job, &plan.adopt, &plan.release).await? {
            return Ok(None);
        }
        let outcome = self.pod_io(key, &job, &plan).await;
        let all_ok = outcome.failed_deletions.is_empty() && outcome.created == plan.creation_count();
        let tracking = if all_ok { plan.tracking.clone() } else { job::tracking_after_pod_io(&input, &outcome)? };
        self.emit(&about, &tracking.events).await;

        let written = self.write_tracking(&job, &tracking).await?;
        if let BackoffUpdate::StoreIfStatusWritten(rec) = &plan.backoff {
            self.memory(key, |m| m.backoff = rec.clone());
        }

        let mut removed = Vec::new();
        let mut failed = Vec::new();
        let results =
            join_all(tracking.remove_finalizers.iter().map(|p| remove_tracking_finalizer(&self.client, p))).await;
        for (p, ok) in tracking.remove_finalizers.iter().zip(results) {
            if ok { removed.push(p.uid.clone()) } else { failed.push(p.uid.clone()) }
        }
        self.memory(key, |m| m.finalizers_removed.extend(removed.iter().cloned()));

        let finish = job::finish_tracking(&tracking, &written.status, &removed, &failed);
        if finish.write_status {
            let base = written.job.unwrap_or_else(|| (*job).clone());
            self.write_status(&base, finish.status.clone()).await?;
            self.emit(&about, &finish.events).await;
        }
        if !all_ok || !failed.is_empty() {
            return Err(SyncFailure::PodIo);
        }
        Ok(plan.requeue_after)
    }

    /// Adoption needs a fresh read confirming the Job is not being deleted and is the same Job (§2.3).
    async fn adopt_and_release(&self, job: &Job, adopt: &[PodRef], release: &[PodRef]) -> Result<bool, SyncFailure> {
        let uid = job.metadata.uid.clone().unwrap_or_default();
        if !adopt.is_empty() {
            let api: Api<Job> = Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
            match api.get_opt(&job.name_any()).await? {
                Some(fresh)
                    if fresh.metadata.uid.as_deref() == Some(uid.as_str())
                        && fresh.metadata.deletion_timestamp.is_none() => {}
                _ => return Ok(false),
            }
        }
        for p in adopt {
            let owner = job::controller_ref(job);
            let patch =
                json!({"metadata": {"ownerReferences": [owner], "finalizers": [JOB_TRACKING_FINALIZER], "uid": p.uid}});
            match pod_api(&self.client, &p.namespace)
                .patch(&p.name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => {}
                // Gone since the cache saw it: nothing to adopt.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for p in release {
            let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": p.uid}});
            match pod_api(&self.client, &p.namespace)
                .patch(&p.name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Deletions or creations (never both), with events and expectations.
    async fn pod_io(&self, key: &JobKey, job: &Job, plan: &job::Plan) -> PodIoOutcome {
        let about = reference(job);
        let mut outcome = PodIoOutcome::default();
        if !plan.deletions.is_empty() {
            self.memory(key, |m| {
                m.expect_gone.extend(plan.deletions.iter().map(|d| d.pod.uid.clone()));
                m.expect_since.get_or_insert_with(Instant::now);
            });
            let results = join_all(plan.deletions.iter().map(|d| async move {
                if d.remove_finalizer_first && !remove_tracking_finalizer(&self.client, &d.pod).await {
                    return Err((
                        DeletionStep::RemovingFinalizer,
                        "removing the tracking finalizer failed".to_string(),
                    ));
                }
                let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
                match pod_api(&self.client, &d.pod.namespace).delete(&d.pod.name, &dp).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(&e) => Ok(()),
                    Err(e) => Err((DeletionStep::Deleting, api_message(&e))),
                }
            }))
            .await;
            for (d, r) in plan.deletions.iter().zip(results) {
                match r {
                    Ok(()) => self.event(&about, &JobEvent::deleted_pod(&d.pod.name)).await,
                    Err((step, err)) => {
                        self.memory(key, |m| m.expect_gone.remove(&d.pod.uid));
                        self.event(&about, &JobEvent::failed_delete(&err)).await;
                        outcome.failed_deletions.push(FailedDeletion { uid: d.pod.uid.clone(), step });
                    }
                }
            }
            return outcome;
        }
        let ns = job.namespace().unwrap_or_default();
        let api = pod_api(&self.client, &ns);
        let pp = PostParams::default();
        for batch in &plan.creations {
            let results = join_all(batch.iter().map(|p| api.create(&pp, p))).await;
            let mut batch_failed = false;
            for r in results {
                match r {
                    Ok(created) => {
                        outcome.created += 1;
                        let name = created.name_any();
                        self.memory(key, |m| {
                            m.expect_created.insert(name.clone());
                            m.expect_since.get_or_insert_with(Instant::now);
                        });
                        self.event(&about, &JobEvent::created_pod(&name)).await;
                    }
                    Err(e) if is_namespace_terminating(&e) => outcome.created += 1,
                    Err(e) => {
                        batch_failed = true;
                        self.event(&about, &JobEvent::failed_create(&api_message(&e))).await;
                    }
                }
            }
            if batch_failed {
                break;
            }
        }
        outcome
    }

    async fn write_tracking(&self, job: &Job, tracking: &Tracking) -> Result<Written, SyncFailure> {
        if !tracking.write_status {
            return Ok(Written { status: tracking.status.clone(), job: None });
        }
        let stored = self.write_status(job, tracking.status.clone()).await?;
        Ok(Written { status: stored.status.clone().unwrap_or_default(), job: Some(stored) })
    }

    /// Replaces the Job's status, compare-and-swap on the resourceVersion `base` was read at.
    async fn write_status(&self, base: &Job, status: JobStatus) -> Result<Job, SyncFailure> {
        let mut next = base.clone();
        next.status = Some(status);
        next.metadata.managed_fields = None;
        let api: Api<Job> = Api::namespaced(self.client.clone(), &base.namespace().unwrap_or_default());
        Ok(api.replace_status(&base.name_any(), &PostParams::default(), &next).await?)
    }

    async fn emit(&self, about: &runlet_codec::ObjectReference, events: &[JobEvent]) {
        for e in events {
            self.event(about, e).await;
        }
    }

    async fn event(&self, about: &runlet_codec::ObjectReference, e: &JobEvent) {
        self.recorder.record(about, e.type_, &e.reason, &e.message).await;
    }

    /// A Job named `name` went away: pods it controlled will never be counted, so the orphan worker releases them.
    fn release_pods_of_gone_job(self: &Arc<Self>, ns: &str, name: &str) {
        for p in self.pods.store.state().iter().filter(|p| {
            p.namespace().as_deref() == Some(ns) && controller_of(p).is_some_and(|r| r.kind == "Job" && r.name == name)
        }) {
            if self.is_orphan_in_cache(p) {
                self.release_orphan(PodRef::of(p));
            }
        }
    }
}

struct Written {
    status: JobStatus,
    job: Option<Job>,
}

/// The owner reference with `controller: true`, if any.
fn controller_of(pod: &Pod) -> Option<&runlet_codec::OwnerReference> {
    pod.metadata.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))
}

fn key_of(job: &Job) -> JobKey {
    (job.namespace().unwrap_or_default(), job.name_any())
}

fn pod_api(client: &Client, ns: &str) -> Api<Pod> {
    Api::namespaced(client.clone(), ns)
}

fn has_tracking_finalizer(p: &Pod) -> bool {
    p.finalizers().iter().any(|f| f == JOB_TRACKING_FINALIZER)
}

/// The orphan worker (upstream `syncOrphanPod`): re-reads the pod and the Job its controller reference names,
/// and strips the tracking finalizer only if the pod is still an orphan, with a resourceVersion precondition so
/// that an adoption racing with it keeps its finalizer. Failures are left to the pod's next change.
async fn release_orphan_finalizer(client: &Client, pod: &PodRef) {
    let pods = pod_api(client, &pod.namespace);
    let fresh = match pods.get_opt(&pod.name).await {
        Ok(Some(p)) if p.metadata.uid.as_deref() == Some(pod.uid.as_str()) => p,
        _ => return,
    };
    let owner = match controller_of(&fresh).filter(|r| r.kind == "Job") {
        Some(r) => match Api::<Job>::namespaced(client.clone(), &pod.namespace).get_opt(&r.name).await {
            Ok(j) => j,
            // Unsure whether the owner lives: keep the finalizer.
            Err(_) => return,
        },
        None => None,
    };
    if !job::orphan_finalizer_removable(&fresh, owner.as_ref()) {
        return;
    }
    let rest: Vec<&String> = fresh.finalizers().iter().filter(|f| *f != JOB_TRACKING_FINALIZER).collect();
    let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": fresh.metadata.resource_version}});
    match pods.patch(&pod.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::debug!(pod = %pod.name, error = %e, "orphan worker could not remove the tracking finalizer"),
    }
}

/// Removes the tracking finalizer (job-semantics §3.4 step 3); NotFound counts as removed.
async fn remove_tracking_finalizer(client: &Client, pod: &PodRef) -> bool {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER], "uid": pod.uid}});
    match pod_api(client, &pod.namespace).patch(&pod.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => true,
        Err(e) => {
            tracing::debug!(pod = %pod.name, error = %e, "could not remove the tracking finalizer");
            false
        }
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The message an event shows for a failed API call: the server's own words when it answered.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn is_namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"))
}
