//! The Job controller's runner: watches Jobs and Pods through the API, and for each Job key runs the pure
//! reconcile core ([`crate::job::sync`]) and carries out its plan (job-semantics §3). All state that matters
//! lives in the API (status, pod finalizers); what is kept here in memory (back-off records, expectations) is
//! rebuilt or harmlessly lost on restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use runlet_api::labels::JOB_TRACKING_FINALIZER;
use runlet_api::selector::LabelSelector;
use runlet_codec::{Job, JobStatus, Pod};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::events::{Recorder, reference};
use crate::job::{
    self, BackoffRecord, BackoffUpdate, DeletionStep, FailedDeletion, JobEvent, PodIoOutcome, PodRef, Skip, SyncInput,
    Tracking,
};
use crate::runtime::informer::Change;
use crate::runtime::pod_index::Filed;
use crate::runtime::{Informer, PodIndex, WorkQueue};

/// A Job's namespace and name.
pub type JobKey = (String, String);

/// How long unobserved creations/deletions hold back the next create/delete (upstream `ExpectationsTimeout`).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);
/// Concurrent syncs (of different Jobs).
const WORKERS: usize = 4;
/// Concurrent orphan-finalizer removals (of different pods).
const ORPHAN_WORKERS: usize = 2;

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
    /// The pod cache by namespace and controller, kept from the pod changes this controller receives.
    pod_index: Mutex<PodIndex>,
    queue: WorkQueue<JobKey>,
    memory: Mutex<HashMap<JobKey, Memory>>,
    /// Pods whose tracking finalizer may be nobody's to remove any more (upstream's orphan queue).
    orphans: WorkQueue<PodRef>,
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
            pod_index: Mutex::new(PodIndex::new()),
            queue: WorkQueue::new(Duration::from_millis(50), Duration::from_secs(60)),
            memory: Mutex::new(HashMap::new()),
            orphans: WorkQueue::new(Duration::from_millis(50), Duration::from_secs(60)),
        })
    }

    /// Runs the controller forever.
    pub async fn run(self: Arc<Self>) {
        let mut job_changes = self.jobs.subscribe();
        let mut pod_changes = self.pods.subscribe();
        self.jobs.ready().await;
        self.pods.ready().await;
        // The initial list may have been stored before we subscribed: index what the store has now (the
        // changes still queued only repeat it).
        self.resync_pods();
        for _ in 0..WORKERS {
            let me = self.clone();
            tokio::spawn(async move {
                let queue = me.queue.clone();
                queue.run_worker("job sync", |key| me.timed_sync(key)).await
            });
        }
        for _ in 0..ORPHAN_WORKERS {
            let me = self.clone();
            tokio::spawn(async move {
                let queue = me.orphans.clone();
                queue.run_worker("orphan finalizer removal", |pod| release_orphan_finalizer(&me.client, pod)).await
            });
        }
        loop {
            tokio::select! {
                c = job_changes.recv() => match c {
                    Ok(Change::Applied(j)) | Ok(Change::Deleted(j)) => self.queue.add(key_of(&j)),
                    Ok(Change::Relisted) | Err(RecvError::Lagged(_)) => self.resync_jobs(),
                    Err(RecvError::Closed) => return,
                },
                c = pod_changes.recv() => match c {
                    Ok(Change::Applied(p)) => {
                        let before = self.index().apply(&p);
                        self.pod_changed(&p, before, true);
                    }
                    Ok(Change::Deleted(p)) => {
                        let before = self.index().delete(&p);
                        self.pod_changed(&p, before, false);
                    }
                    // A relist, or changes missed: the index starts again from the store.
                    Ok(Change::Relisted) | Err(RecvError::Lagged(_)) => self.resync_pods(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, PodIndex> {
        self.pod_index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resync_jobs(&self) {
        for j in self.jobs.store.state() {
            self.queue.add(key_of(&j));
        }
    }

    /// Rebuilds the pod index from the store and looks at everything again.
    fn resync_pods(&self) {
        let pods = self.pods.store.state();
        self.index().rebuild(pods.iter().map(|p| p.as_ref()));
        for p in pods.iter().filter(|p| self.is_orphan_in_cache(p)) {
            self.orphans.add(PodRef::of(p));
        }
        self.resync_jobs();
    }

    /// A pod change wakes its controlling Job, or the Jobs of the namespace whose selector matches it (they may
    /// adopt it), and the Job that controlled it before if that changed; a pod whose tracking finalizer nobody
    /// will remove any more goes to the orphan worker. `before` is where the index had it filed.
    fn pod_changed(&self, pod: &Pod, before: Option<Filed>, exists: bool) {
        let ns = pod.namespace().unwrap_or_default();
        let controller = controller_of(pod);
        match controller {
            Some(r) if r.kind == "Job" => self.queue.add((ns.clone(), r.name.clone())),
            Some(_) => {}
            None => self.wake_selecting_jobs(&ns, pod),
        }
        if let Some(Filed::Controlled(old)) = before
            && controller.is_none_or(|r| r.uid != old)
        {
            // Released or taken over: the Job that had it stops counting it.
            let jobs = self.jobs.store.state();
            let had_it = |j: &&Arc<Job>| {
                j.namespace().as_deref() == Some(ns.as_str()) && j.metadata.uid.as_deref() == Some(old.as_str())
            };
            if let Some(j) = jobs.iter().find(had_it) {
                self.queue.add(key_of(j));
            }
        }
        if exists && self.is_orphan_in_cache(pod) {
            self.orphans.add(PodRef::of(pod));
        }
    }

    /// Wakes the Jobs of `ns` that would adopt the orphan `pod` (a missing or unparsable selector adopts nothing).
    fn wake_selecting_jobs(&self, ns: &str, pod: &Pod) {
        let no_labels = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
        for j in self.jobs.store.state().iter().filter(|j| j.namespace().as_deref() == Some(ns)) {
            let selector = j.spec.as_ref().and_then(|s| s.selector.as_ref()).map(LabelSelector::from_api);
            if let Some(Ok(selector)) = selector
                && selector.matches(labels)
            {
                self.queue.add(key_of(j));
            }
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

    /// A sync, measured for `job_controller_job_syncs_total` and `job_controller_job_sync_duration_seconds`.
    async fn timed_sync(&self, key: JobKey) -> Result<Option<Duration>, SyncFailure> {
        let started = std::time::Instant::now();
        let job = self.jobs.store.get(&ObjectRef::new(&key.1).within(&key.0));
        let result = self.sync(key).await;
        crate::job_metrics::record_sync(job.as_deref(), result.is_ok(), started.elapsed());
        result
    }

    async fn sync(&self, key: JobKey) -> Result<Option<Duration>, SyncFailure> {
        let key = &key;
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
        // Candidates: pods this Job controls, and orphans it may adopt. The store may be ahead of the index:
        // check again what the index filed them by.
        let names = {
            let index = self.index();
            let mut names = index.controlled_by(ns, &uid);
            names.extend(index.orphans(ns));
            names
        };
        let pods: Vec<Pod> = names
            .iter()
            .filter_map(|n| self.pods.store.get(&ObjectRef::new(n).within(ns)))
            .filter(|p| controller_of(p).is_none_or(|r| r.uid == uid))
            .map(|p| (*p).clone())
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
            self.emit(&about, &plan.tracking.events);
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
        self.emit(&about, &tracking.events);

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
            self.emit(&about, &finish.events);
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
        let owner = job::controller_ref(job);
        for p in adopt {
            let patch =
                json!({"metadata": {"ownerReferences": [owner], "finalizers": [JOB_TRACKING_FINALIZER], "uid": p.uid}});
            self.patch_unless_gone(p, &patch).await?;
        }
        for p in release {
            let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": p.uid}});
            self.patch_unless_gone(p, &patch).await?;
        }
        Ok(true)
    }

    /// A strategic-merge patch of a pod; a pod gone since the cache saw it needs nothing.
    async fn patch_unless_gone(&self, p: &PodRef, patch: &serde_json::Value) -> Result<(), SyncFailure> {
        match pod_api(&self.client, &p.namespace)
            .patch(&p.name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
                    Ok(()) => self.event(&about, &JobEvent::deleted_pod(&d.pod.name)),
                    Err((step, err)) => {
                        self.memory(key, |m| m.expect_gone.remove(&d.pod.uid));
                        self.event(&about, &JobEvent::failed_delete(&err));
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
                        self.event(&about, &JobEvent::created_pod(&name));
                    }
                    Err(e) if is_namespace_terminating(&e) => outcome.created += 1,
                    Err(e) => {
                        batch_failed = true;
                        self.event(&about, &JobEvent::failed_create(&api_message(&e)));
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
        let stored = api.replace_status(&base.name_any(), &PostParams::default(), &next).await?;
        crate::job_metrics::record_status_change(base, stored.status.as_ref().unwrap_or(&JobStatus::default()));
        Ok(stored)
    }

    /// Queues events for the recorder's writer (never waits for them to be written).
    fn emit(&self, about: &runlet_codec::ObjectReference, events: &[JobEvent]) {
        for e in events {
            self.event(about, e);
        }
    }

    fn event(&self, about: &runlet_codec::ObjectReference, e: &JobEvent) {
        self.recorder.record(about, e.type_, &e.reason, &e.message);
    }

    /// A Job named `name` went away: pods it controlled will never be counted, so the orphan worker releases them.
    /// (By name: the pods may belong to an earlier Job of that name this controller never knew the uid of.)
    fn release_pods_of_gone_job(&self, ns: &str, name: &str) {
        let names = self.index().in_namespace(ns);
        for p in names.iter().filter_map(|n| self.pods.store.get(&ObjectRef::new(n).within(ns))) {
            if controller_of(&p).is_some_and(|r| r.kind == "Job" && r.name == name) && self.is_orphan_in_cache(&p) {
                self.orphans.add(PodRef::of(&p));
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
/// that an adoption racing with it keeps its finalizer. An error (including that conflict) retries the pod with
/// back-off; the retry reads again.
async fn release_orphan_finalizer(client: &Client, pod: PodRef) -> Result<Option<Duration>, kube::Error> {
    let pods = pod_api(client, &pod.namespace);
    let fresh = match pods.get_opt(&pod.name).await? {
        Some(p) if p.metadata.uid.as_deref() == Some(pod.uid.as_str()) => p,
        // Gone, or another pod by now.
        _ => return Ok(None),
    };
    let owner = match controller_of(&fresh).filter(|r| r.kind == "Job") {
        // An error here means unsure whether the owner lives: keep the finalizer and retry.
        Some(r) => Api::<Job>::namespaced(client.clone(), &pod.namespace).get_opt(&r.name).await?,
        None => None,
    };
    if !job::orphan_finalizer_removable(&fresh, owner.as_ref()) {
        return Ok(None);
    }
    let rest: Vec<&String> = fresh.finalizers().iter().filter(|f| *f != JOB_TRACKING_FINALIZER).collect();
    let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": fresh.metadata.resource_version}});
    match pods.patch(&pod.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(None),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
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

pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The message an event shows for a failed API call: the server's own words when it answered.
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A create refused because the name is taken.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.reason == "AlreadyExists")
}

pub(crate) fn is_namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"))
}
