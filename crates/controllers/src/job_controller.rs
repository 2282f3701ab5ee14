//! The Job controller's runner: watches Jobs and Pods through the API, and for each Job key gathers the Job and
//! its candidate pods from the caches and hands them to the driver ([`crate::job::driver::drive`]), which runs
//! the pure reconcile core and carries out its plan through [`ApiEffects`] (job-semantics §3). All state that matters
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
use runlet_client::ApiErrorExt;
use runlet_codec::{Job, JobStatus, ObjectReference, OwnerReference, Pod};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use runlet_client::events::{Recorder, reference};
use runlet_client::informer::Change;
use runlet_client::{Informer, WorkQueue};

use crate::job::driver::{self, Created, Effects, Failure};
use crate::job::{
    self, BackoffRecord, DeletionStep, FailurePolicyAction, JobEvent, PodDeletion, PodRef, SyncInput, controller_of,
    has_tracking_finalizer,
};
use crate::pod_index::{Filed, PodIndex};

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
    written: Option<Written>,
}

/// The Job as this controller's last status write returned it, and the resourceVersions its writes replaced on
/// the way there. While the cache still shows one of those, the next sync starts from the returned Job instead
/// of writing over a stale one and getting a conflict (and a retry after back-off) for every burst of changes.
#[derive(Debug)]
struct Written {
    replaced: Vec<String>,
    stored: Arc<Job>,
}

impl Written {
    /// A status write over `base` returned `stored`.
    fn record(last: &mut Option<Written>, base: &Job, stored: Arc<Job>) {
        let Some(base_version) = base.metadata.resource_version.clone() else {
            *last = None;
            return;
        };
        let mut replaced = match last.take() {
            // Written over our own last write: the versions before it are still behind it.
            Some(w) if w.stored.metadata.resource_version.as_ref() == Some(&base_version) => w.replaced,
            _ => Vec::new(),
        };
        replaced.push(base_version);
        *last = Some(Written { replaced, stored });
    }

    /// The written Job, if the cache's copy is one this controller has already written over.
    fn newer_than(&self, cached: &Job) -> Option<Arc<Job>> {
        let version = cached.metadata.resource_version.as_ref()?;
        self.replaced.contains(version).then(|| self.stored.clone())
    }
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
    /// For `job_controller_terminated_pods_tracking_finalizer_total`.
    finished_with_finalizer: Mutex<crate::job_metrics::FinishedWithFinalizer>,
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
            finished_with_finalizer: Mutex::default(),
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
        self.finished_with_finalizer.lock().unwrap_or_else(|e| e.into_inner()).resync(pods.iter().map(|p| p.as_ref()));
        for p in pods.iter().filter(|p| self.is_orphan_in_cache(p)) {
            self.orphans.add(PodRef::of(p));
        }
        self.resync_jobs();
    }

    /// A pod change wakes its controlling Job, or the Jobs of the namespace whose selector matches it (they may
    /// adopt it), and the Job that controlled it before if that changed; a pod whose tracking finalizer nobody
    /// will remove any more goes to the orphan worker. `before` is where the index had it filed.
    fn pod_changed(&self, pod: &Pod, before: Option<Filed>, exists: bool) {
        self.finished_with_finalizer.lock().unwrap_or_else(|e| e.into_inner()).observe(pod, exists);
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
    fn expectations_satisfied(&self, key: &JobKey, pods: &[Arc<Pod>]) -> bool {
        self.memory(key, |m| {
            // Sets built only when something is expected: most syncs of a big Job expect nothing.
            if !m.expect_created.is_empty() {
                let names: HashSet<&str> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
                m.expect_created.retain(|n| !names.contains(n.as_str()));
            }
            if !m.expect_gone.is_empty() {
                let live: HashSet<&str> = pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.uid.as_deref())
                    .collect();
                m.expect_gone.retain(|uid| live.contains(uid.as_str()));
            }
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
        let Some(cached) = self.jobs.store.get(&ObjectRef::new(name).within(ns)) else {
            self.memory.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
            self.release_pods_of_gone_job(ns, name);
            return Ok(None);
        };
        let uid = cached.metadata.uid.clone().unwrap_or_default();
        let job = self.memory(key, |m| {
            if m.job_uid != uid {
                *m = Memory { job_uid: uid.clone(), ..Memory::default() };
            }
            match m.written.as_ref().and_then(|w| w.newer_than(&cached)) {
                Some(stored) => stored,
                None => {
                    m.written = None;
                    cached.clone()
                }
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
        let pods: Vec<Arc<Pod>> = names
            .iter()
            .filter_map(|n| self.pods.store.get(&ObjectRef::new(n).within(ns)))
            .filter(|p| controller_of(p).is_none_or(|r| r.uid == uid))
            .collect();
        let satisfied = self.expectations_satisfied(key, &pods);
        let (backoff, removed_before) = self.memory(key, |m| {
            if !m.finalizers_removed.is_empty() {
                // A set, not a scan of the pods per uid: a Job may have 100,000 pods.
                let tracked: HashSet<&str> = pods
                    .iter()
                    .filter(|p| has_tracking_finalizer(p))
                    .filter_map(|p| p.metadata.uid.as_deref())
                    .collect();
                m.finalizers_removed.retain(|u| tracked.contains(u.as_str()));
            }
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
        let mut fx = ApiEffects { ctl: self, key, about: reference(job.as_ref()) };
        match driver::drive(&input, &mut fx).await {
            Ok(synced) => Ok(synced.requeue_after),
            Err(Failure::Effect(e)) => Err(SyncFailure::Api(e)),
            Err(Failure::Core(e)) => Err(SyncFailure::Core(e)),
            Err(Failure::PodIo) => Err(SyncFailure::PodIo),
        }
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

/// The driver's effects against the API, with this controller's expectations and finalizer bookkeeping.
struct ApiEffects<'c> {
    ctl: &'c JobController,
    key: &'c JobKey,
    about: ObjectReference,
}

impl Effects for ApiEffects<'_> {
    type Error = kube::Error;

    async fn may_adopt(&mut self, job: &Job) -> Result<bool, kube::Error> {
        let api: Api<Job> = Api::namespaced(self.ctl.client.clone(), &job.namespace().unwrap_or_default());
        Ok(match api.get_opt(&job.name_any()).await? {
            Some(fresh) => fresh.metadata.uid == job.metadata.uid && fresh.metadata.deletion_timestamp.is_none(),
            None => false,
        })
    }

    async fn adopt(&mut self, pod: &PodRef, owner: &OwnerReference) -> Result<(), kube::Error> {
        let patch =
            json!({"metadata": {"ownerReferences": [owner], "finalizers": [JOB_TRACKING_FINALIZER], "uid": pod.uid}});
        patch_unless_gone(&self.ctl.client, pod, &patch).await
    }

    async fn release(&mut self, pod: &PodRef, job_uid: &str) -> Result<(), kube::Error> {
        let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": job_uid}], "uid": pod.uid}});
        patch_unless_gone(&self.ctl.client, pod, &patch).await
    }

    async fn delete_pods(&mut self, deletions: &[PodDeletion]) -> Vec<Result<(), (DeletionStep, String)>> {
        let client = &self.ctl.client;
        self.ctl.memory(self.key, |m| {
            m.expect_gone.extend(deletions.iter().map(|d| d.pod.uid.clone()));
            m.expect_since.get_or_insert_with(Instant::now);
        });
        let results = join_all(deletions.iter().map(|d| async move {
            if d.remove_finalizer_first && !remove_tracking_finalizer(client, &d.pod).await {
                return Err((DeletionStep::RemovingFinalizer, "removing the tracking finalizer failed".to_string()));
            }
            let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
            match pod_api(client, &d.pod.namespace).delete(&d.pod.name, &dp).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err((DeletionStep::Deleting, e.api_message())),
            }
        }))
        .await;
        for (d, r) in deletions.iter().zip(&results) {
            if r.is_err() {
                self.ctl.memory(self.key, |m| m.expect_gone.remove(&d.pod.uid));
            }
        }
        results
    }

    async fn create_pods(&mut self, batch: &[Pod]) -> Vec<Created> {
        let api = pod_api(&self.ctl.client, &self.key.0);
        let pp = PostParams::default();
        let results = join_all(batch.iter().map(|p| api.create(&pp, p))).await;
        let mut created = Vec::with_capacity(results.len());
        for r in results {
            created.push(match r {
                Ok(pod) => {
                    let name = pod.name_any();
                    self.ctl.memory(self.key, |m| {
                        m.expect_created.insert(name.clone());
                        m.expect_since.get_or_insert_with(Instant::now);
                    });
                    Created::Named(name)
                }
                Err(e) if e.is_namespace_terminating() => Created::NamespaceTerminating,
                Err(e) => Created::Failed(e.api_message()),
            });
        }
        created
    }

    async fn write_status(&mut self, base: &Job, status: JobStatus) -> Result<Job, kube::Error> {
        let mut next = base.clone();
        next.status = Some(status);
        next.metadata.managed_fields = None;
        let api: Api<Job> = Api::namespaced(self.ctl.client.clone(), &base.namespace().unwrap_or_default());
        let stored = api.replace_status(&base.name_any(), &PostParams::default(), &next).await?;
        crate::job_metrics::record_status_change(base, stored.status.as_ref().unwrap_or(&JobStatus::default()));
        let remembered = Arc::new(stored.clone());
        self.ctl.memory(self.key, |m| Written::record(&mut m.written, base, remembered));
        Ok(stored)
    }

    async fn remove_finalizers(&mut self, pods: &[PodRef]) -> Vec<bool> {
        let results = join_all(pods.iter().map(|p| remove_tracking_finalizer(&self.ctl.client, p))).await;
        let removed: Vec<String> =
            pods.iter().zip(&results).filter(|(_, ok)| **ok).map(|(p, _)| p.uid.clone()).collect();
        self.ctl.memory(self.key, |m| m.finalizers_removed.extend(removed));
        results
    }

    fn record(&mut self, event: &JobEvent) {
        self.ctl.recorder.record(&self.about, event.type_, &event.reason, &event.message);
    }

    fn keep_backoff(&mut self, record: BackoffRecord) {
        self.ctl.memory(self.key, |m| m.backoff = record);
    }

    fn failures_handled(&mut self, actions: &[FailurePolicyAction]) {
        crate::job_metrics::record_failures_handled(actions);
    }
}

/// A strategic-merge patch of a pod; a pod gone since the cache saw it needs nothing.
async fn patch_unless_gone(client: &Client, p: &PodRef, patch: &serde_json::Value) -> Result<(), kube::Error> {
    match pod_api(client, &p.namespace).patch(&p.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

fn key_of(job: &Job) -> JobKey {
    (job.namespace().unwrap_or_default(), job.name_any())
}

fn pod_api(client: &Client, ns: &str) -> Api<Pod> {
    Api::namespaced(client.clone(), ns)
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
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the tracking finalizer (job-semantics §3.4 step 3); NotFound counts as removed.
async fn remove_tracking_finalizer(client: &Client, pod: &PodRef) -> bool {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER], "uid": pod.uid}});
    match pod_api(client, &pod.namespace).patch(&pod.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => true,
        Err(e) => {
            tracing::debug!(pod = %pod.name, error = %e, "could not remove the tracking finalizer");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: &str) -> Arc<Job> {
        let mut job = Job::default();
        job.metadata.resource_version = Some(version.into());
        Arc::new(job)
    }

    #[test]
    fn a_sync_starts_from_its_own_write_until_the_cache_catches_up() {
        let mut written = None;
        Written::record(&mut written, &at("5"), at("6"));
        Written::record(&mut written, &at("6"), at("9"));
        let w = written.as_ref().unwrap();
        // (what the cache shows, whether the sync starts from the write)
        let cases = [("5", true), ("6", true), ("9", false), ("12", false)];
        for (cached, from_write) in cases {
            let newest = w.newer_than(&at(cached));
            assert_eq!(newest.is_some(), from_write, "cache at {cached}");
            if let Some(job) = newest {
                assert_eq!(job.metadata.resource_version.as_deref(), Some("9"));
            }
        }
        // A write over someone else's version starts a new chain: the old versions no longer count.
        Written::record(&mut written, &at("12"), at("13"));
        assert!(written.as_ref().unwrap().newer_than(&at("5")).is_none());
        assert!(written.as_ref().unwrap().newer_than(&at("12")).is_some());
    }
}
