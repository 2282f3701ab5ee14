//! The garbage collector for ownerReferences (job-semantics §5.2), for the owner/dependent pairs runlet has:
//! CronJobs and their Jobs, Jobs and their Pods.
//!
//! - A dependent whose owners are all gone is deleted (Background): what `kubectl delete job` (and `delete
//!   cronjob`) relies on.
//! - An owner marked with the `foregroundDeletion` finalizer has its dependents deleted; once none that block
//!   owner deletion is left, the finalizer is removed and the owner disappears.
//! - An owner marked with the `orphan` finalizer has its ownerReference removed from every dependent, then the
//!   finalizer is removed.
//!
//! Absence of an owner is confirmed with a live GET before anything is deleted, so a lagging cache never
//! deletes a dependent whose owner exists; the delete itself carries the dependent's uid as a precondition, so one
//! created since under the same name is never the one deleted.
//!
//! The collector looks only at what a change touched, never at every object on every change (with thousands of
//! pods kept, that pass was a large share of the controllers' CPU): a changed dependent is judged alone
//! ([`decide::dependent_verdict`]); an owner being deleted is looked at with the dependents that
//! [`index::Dependents`] files under it, again whenever one of them changes; a deleted owner's dependents are
//! judged again. Everything is looked at after a relist or a missed change, and every [`IDLE_RESYNC`] as a
//! safety net; what failed or still waits is looked at again after [`PENDING_RESYNC`].

pub mod decide;
pub mod index;

use std::collections::HashSet;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_client::informer::Change;
use runlet_client::{ApiErrorExt, Informer};
use runlet_codec::k8s_openapi::NamespaceResourceScope;
use runlet_codec::{CronJob, Job, ObjectMeta, OwnerReference, Pod};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use decide::{Effects, Failed, Target};
use index::{Dependents, Key, key_of};

/// How long the collector waits for a change before it looks again anyway.
pub const IDLE_RESYNC: Duration = Duration::from_secs(30);
/// How soon it looks again while something is in progress (an owner waiting on its dependents, a failed write).
pub const PENDING_RESYNC: Duration = Duration::from_secs(2);

/// What a Job being deleted waits for from the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerDeletion {
    /// `orphan` finalizer: release the dependents, then remove it.
    Orphan,
    /// `foregroundDeletion` finalizer: delete the dependents, then remove it.
    Foreground,
}

/// The collector's part in deleting `owner`, if any. `orphan` wins when both finalizers are set (upstream).
pub fn owner_deletion<K: Resource>(owner: &K) -> Option<OwnerDeletion> {
    owner_deletion_of(owner.meta())
}

/// [`owner_deletion`] of the object `meta` describes.
pub fn owner_deletion_of(meta: &ObjectMeta) -> Option<OwnerDeletion> {
    meta.deletion_timestamp.as_ref()?;
    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        Some(OwnerDeletion::Orphan)
    } else if finalizers.iter().any(|f| f == FOREGROUND_DELETION_FINALIZER) {
        Some(OwnerDeletion::Foreground)
    } else {
        None
    }
}

/// The strategic-merge patch removing the owner reference with `owner_uid` from a pod, and only that one (a
/// concurrent change to the pod's other references is kept), with the pod's uid as precondition.
pub fn release_patch(owner_uid: &str, pod_uid: Option<&str>) -> Value {
    let mut patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}]}});
    if let Some(uid) = pod_uid {
        // The uid in a patch is a precondition: a pod created since under the same name is left alone.
        patch["metadata"]["uid"] = json!(uid);
    }
    patch
}

/// A Background delete of exactly the pod with `uid`.
pub fn dependent_delete(uid: Option<String>) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: uid.map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
        ..Default::default()
    }
}

/// How long to wait for a change before the next pass.
pub fn resync_after(pending: bool) -> Duration {
    if pending { PENDING_RESYNC } else { IDLE_RESYNC }
}

/// A namespaced object kind the collector handles as owner or dependent.
trait Object:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}
impl<K> Object for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// The collector's effects through the API, for owners of kind `O` and dependents of kind `D`.
struct ApiEffects<O, D> {
    client: Client,
    kinds: PhantomData<fn() -> (O, D)>,
}

impl<O: Object, D: Object> Effects for ApiEffects<O, D> {
    async fn any_owner_exists(&mut self, dependent: &Target, owners: &[OwnerReference]) -> Option<bool> {
        let api: Api<O> = Api::namespaced(self.client.clone(), &dependent.namespace);
        for o in owners {
            match api.get_opt(&o.name).await {
                Ok(Some(owner)) if owner.meta().uid.as_deref() == Some(o.uid.as_str()) => return Some(true),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(name = %dependent.name, error = %e, "could not read the owner");
                    return None;
                }
            }
        }
        Some(false)
    }

    async fn delete_dependent(&mut self, dependent: &Target) -> Result<(), Failed> {
        let api: Api<D> = Api::namespaced(self.client.clone(), &dependent.namespace);
        match api.delete(&dependent.name, &dependent_delete(dependent.uid.clone())).await {
            Ok(_) => Ok(()),
            // Gone already, or the name is another object's now.
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(Failed(e.to_string())),
        }
    }

    async fn release(&mut self, dependent: &Target, owner_uid: &str) -> Result<(), Failed> {
        let api: Api<D> = Api::namespaced(self.client.clone(), &dependent.namespace);
        let patch = release_patch(owner_uid, dependent.uid.as_deref());
        match api.patch(&dependent.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(Failed(e.to_string())),
        }
    }

    async fn remove_finalizer(&mut self, owner: &Target, finalizer: &str) -> Result<(), Failed> {
        let api: Api<O> = Api::namespaced(self.client.clone(), &owner.namespace);
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer], "uid": owner.uid}});
        match api.patch(&owner.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => Ok(()),
            // Gone, or replaced by another object of the same name (whose own deletion is looked at anew).
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(Failed(e.to_string())),
        }
    }
}

/// One owner kind and one dependent kind: their caches, the index of dependents by owner, and what to look at.
struct Pair<O: Object, D: Object> {
    owners: Arc<Informer<O>>,
    dependents: Arc<Informer<D>>,
    index: Dependents,
    /// Owners to look at (being deleted, or waiting on a dependent that changed).
    owners_dirty: HashSet<Key>,
    /// Dependents to judge (changed, or their owner went away).
    dependents_dirty: HashSet<Key>,
    /// What failed or still waits, for the next retry.
    owners_retry: HashSet<Key>,
    dependents_retry: HashSet<Key>,
    fx: ApiEffects<O, D>,
}

fn object_ref<K: Object>(namespace: &str, name: &str) -> ObjectRef<K> {
    ObjectRef::new(name).within(namespace)
}

impl<O: Object, D: Object> Pair<O, D> {
    fn new(client: Client, owners: Arc<Informer<O>>, dependents: Arc<Informer<D>>) -> Self {
        Pair {
            owners,
            dependents,
            index: Dependents::default(),
            owners_dirty: HashSet::new(),
            dependents_dirty: HashSet::new(),
            owners_retry: HashSet::new(),
            dependents_retry: HashSet::new(),
            fx: ApiEffects { client, kinds: PhantomData },
        }
    }

    /// Everything is to be looked at, with the index rebuilt from the cache (at start, after a relist or a
    /// missed change, and every [`IDLE_RESYNC`]).
    fn everything(&mut self) {
        let dependents = self.dependents.store.state();
        self.index.rebuild(dependents.iter().map(|d| d.meta()));
        self.dependents_dirty.extend(dependents.iter().map(|d| key_of(d.meta())));
        let owners = self.owners.store.state();
        self.owners_dirty
            .extend(owners.iter().filter(|o| owner_deletion(o.as_ref()).is_some()).map(|o| key_of(o.meta())));
    }

    fn owner_changed(&mut self, change: &Change<O>) {
        match change {
            Change::Applied(owner) => {
                if owner_deletion(owner.as_ref()).is_some() {
                    self.owners_dirty.insert(key_of(owner.meta()));
                }
            }
            Change::Deleted(owner) => {
                if let Some(uid) = owner.meta().uid.as_deref() {
                    self.dependents_dirty.extend(self.index.of(uid));
                }
            }
            Change::Relisted => self.everything(),
        }
    }

    fn dependent_changed(&mut self, change: &Change<D>) {
        match change {
            Change::Applied(dependent) => {
                self.index.apply(dependent.meta());
                self.dependents_dirty.insert(key_of(dependent.meta()));
                self.owners_waiting_on(dependent.meta());
            }
            Change::Deleted(dependent) => {
                self.index.delete(dependent.meta());
                self.owners_waiting_on(dependent.meta());
            }
            Change::Relisted => self.everything(),
        }
    }

    /// The dependent's owners that are being deleted may be waiting on it (a foreground deletion ends when the
    /// last blocking dependent is gone).
    fn owners_waiting_on(&mut self, dependent: &ObjectMeta) {
        let namespace = dependent.namespace.as_deref().unwrap_or_default();
        for r in dependent.owner_references.iter().flatten() {
            let owner = self.owners.store.get(&object_ref(namespace, &r.name));
            if owner.is_some_and(|o| {
                o.meta().uid.as_deref() == Some(r.uid.as_str()) && owner_deletion(o.as_ref()).is_some()
            }) {
                self.owners_dirty.insert((namespace.to_string(), r.name.clone()));
            }
        }
    }

    /// What failed or waited is looked at again.
    fn retry(&mut self) {
        self.owners_dirty.extend(self.owners_retry.drain());
        self.dependents_dirty.extend(self.dependents_retry.drain());
    }

    fn has_retries(&self) -> bool {
        !self.owners_retry.is_empty() || !self.dependents_retry.is_empty()
    }

    /// Looks at what is dirty, as the cache has it now.
    async fn work(&mut self) {
        for key in std::mem::take(&mut self.owners_dirty) {
            let Some(owner) = self.owners.store.get(&object_ref(&key.0, &key.1)) else { continue };
            let Some(uid) = owner.meta().uid.as_deref() else { continue };
            // The index may trail the cache: keep only the dependents that still name this owner.
            let dependents: Vec<Arc<D>> = self
                .index
                .of(uid)
                .iter()
                .filter_map(|(ns, name)| self.dependents.store.get(&object_ref(ns, name)))
                .filter(|d| d.owner_references().iter().any(|r| r.uid == uid))
                .collect();
            let metas: Vec<&ObjectMeta> = dependents.iter().map(|d| d.meta()).collect();
            if decide::settle_owner(&mut self.fx, owner.meta(), &metas).await {
                self.owners_retry.insert(key);
            }
        }
        let owner_kind = O::kind(&());
        for key in std::mem::take(&mut self.dependents_dirty) {
            let Some(dependent) = self.dependents.store.get(&object_ref(&key.0, &key.1)) else { continue };
            let owners = &self.owners.store;
            let cached = |r: &OwnerReference| {
                owners
                    .get(&object_ref(&key.0, &r.name))
                    .is_some_and(|o| o.meta().uid.as_deref() == Some(r.uid.as_str()))
            };
            if decide::settle_dependent(&mut self.fx, dependent.meta(), &owner_kind, cached).await {
                self.dependents_retry.insert(key);
            }
        }
    }
}

pub struct GarbageCollector {
    jobs: Arc<Informer<Job>>,
    pods: Arc<Informer<Pod>>,
    cronjobs: Arc<Informer<CronJob>>,
    /// CronJobs and their Jobs.
    cronjob_jobs: Pair<CronJob, Job>,
    /// Jobs and their Pods.
    job_pods: Pair<Job, Pod>,
}

/// The next change already queued on `rx`, if any.
fn queued<K: Clone>(rx: &mut tokio::sync::broadcast::Receiver<Change<K>>) -> Option<Result<Change<K>, RecvError>> {
    match rx.try_recv() {
        Ok(change) => Some(Ok(change)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
    }
}

/// A change, or [`Change::Relisted`] for changes missed; None once the informer is gone.
fn change_or_relist<K>(received: Result<Change<K>, RecvError>) -> Option<Change<K>> {
    match received {
        Ok(change) => Some(change),
        Err(RecvError::Lagged(_)) => Some(Change::Relisted),
        Err(RecvError::Closed) => None,
    }
}

impl GarbageCollector {
    pub fn new(
        client: Client,
        jobs: Arc<Informer<Job>>,
        pods: Arc<Informer<Pod>>,
        cronjobs: Arc<Informer<CronJob>>,
    ) -> Self {
        GarbageCollector {
            cronjob_jobs: Pair::new(client.clone(), cronjobs.clone(), jobs.clone()),
            job_pods: Pair::new(client, jobs.clone(), pods.clone()),
            jobs,
            pods,
            cronjobs,
        }
    }

    /// Runs forever, reacting to changes of CronJobs, Jobs and Pods.
    pub async fn run(mut self) {
        self.jobs.ready().await;
        self.pods.ready().await;
        self.cronjobs.ready().await;
        let mut job_changes = self.jobs.subscribe();
        let mut pod_changes = self.pods.subscribe();
        let mut cronjob_changes = self.cronjobs.subscribe();
        self.cronjob_jobs.everything();
        self.job_pods.everything();
        let mut last_full = tokio::time::Instant::now();
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            self.cronjob_jobs.work().await;
            self.job_pods.work().await;
            if retry_at.is_none() && (self.cronjob_jobs.has_retries() || self.job_pods.has_retries()) {
                retry_at = Some(tokio::time::Instant::now() + resync_after(true));
            }
            let wake = retry_at.unwrap_or(last_full + resync_after(false));
            let open = tokio::select! {
                received = job_changes.recv() => self.job_changed(received),
                received = pod_changes.recv() => self.pod_changed(received),
                received = cronjob_changes.recv() => self.cronjob_changed(received),
                _ = tokio::time::sleep_until(wake) => true,
            };
            if !open {
                return;
            }
            // A burst of changes is one round of work.
            while let Some(received) = queued(&mut job_changes) {
                if !self.job_changed(received) {
                    return;
                }
            }
            while let Some(received) = queued(&mut pod_changes) {
                if !self.pod_changed(received) {
                    return;
                }
            }
            while let Some(received) = queued(&mut cronjob_changes) {
                if !self.cronjob_changed(received) {
                    return;
                }
            }
            let now = tokio::time::Instant::now();
            if retry_at.is_some_and(|at| at <= now) {
                retry_at = None;
                self.cronjob_jobs.retry();
                self.job_pods.retry();
            }
            if now >= last_full + resync_after(false) {
                last_full = now;
                self.cronjob_jobs.everything();
                self.job_pods.everything();
            }
        }
    }

    /// False once the informer is gone.
    fn job_changed(&mut self, received: Result<Change<Job>, RecvError>) -> bool {
        let Some(change) = change_or_relist(received) else { return false };
        self.cronjob_jobs.dependent_changed(&change);
        self.job_pods.owner_changed(&change);
        true
    }

    fn pod_changed(&mut self, received: Result<Change<Pod>, RecvError>) -> bool {
        let Some(change) = change_or_relist(received) else { return false };
        self.job_pods.dependent_changed(&change);
        true
    }

    fn cronjob_changed(&mut self, received: Result<Change<CronJob>, RecvError>) -> bool {
        let Some(change) = change_or_relist(received) else { return false };
        self.cronjob_jobs.owner_changed(&change);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(meta: Value) -> Job {
        let v = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta});
        runlet_codec::decode_job(&v).unwrap().object
    }

    #[test]
    fn owner_deletion_cases() {
        let at = "2026-01-01T00:00:00Z";
        let cases = [
            (json!({"name": "j"}), None),
            (json!({"name": "j", "finalizers": ["orphan"]}), None),
            (json!({"name": "j", "deletionTimestamp": at}), None),
            (json!({"name": "j", "deletionTimestamp": at, "finalizers": ["example.com/keep"]}), None),
            (json!({"name": "j", "deletionTimestamp": at, "finalizers": ["orphan"]}), Some(OwnerDeletion::Orphan)),
            (
                json!({"name": "j", "deletionTimestamp": at, "finalizers": ["foregroundDeletion"]}),
                Some(OwnerDeletion::Foreground),
            ),
            (
                json!({"name": "j", "deletionTimestamp": at, "finalizers": ["foregroundDeletion", "orphan"]}),
                Some(OwnerDeletion::Orphan),
            ),
        ];
        for (i, (meta, want)) in cases.into_iter().enumerate() {
            assert_eq!(owner_deletion(&job(meta)), want, "case {i}");
        }
    }

    #[test]
    fn release_deletes_one_list_element_by_uid() {
        // A `$patch: delete` element, not a whole new list: the other references are the server's to keep.
        let patch = release_patch("job-uid", Some("pod-uid"));
        assert_eq!(
            patch,
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "job-uid"}], "uid": "pod-uid"}})
        );
        assert_eq!(
            release_patch("job-uid", None),
            json!({"metadata": {"ownerReferences": [patch["metadata"]["ownerReferences"][0]]}})
        );
    }

    #[test]
    fn dependent_deletes_name_the_pods_uid() {
        let dp = dependent_delete(Some("u1".into()));
        assert_eq!(dp.propagation_policy, Some(PropagationPolicy::Background));
        assert_eq!(dp.preconditions, Some(Preconditions { uid: Some("u1".into()), resource_version: None }));
        assert_eq!(dependent_delete(None).preconditions, None);
    }

    #[test]
    fn resyncs_slowly_when_idle() {
        assert_eq!(resync_after(false), IDLE_RESYNC);
        assert_eq!(resync_after(true), PENDING_RESYNC);
        assert!(IDLE_RESYNC >= Duration::from_secs(30) && PENDING_RESYNC < IDLE_RESYNC);
    }
}
