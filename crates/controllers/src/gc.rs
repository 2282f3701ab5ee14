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
//! A pass runs on every CronJob, Job or Pod change. Without changes it runs again after [`IDLE_RESYNC`], or after
//! [`PENDING_RESYNC`] while an owner waits on its dependents or a write failed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use std::fmt::Debug;

use kube::{Client, Resource, ResourceExt};
use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_client::ApiErrorExt;
use runlet_codec::k8s_openapi::NamespaceResourceScope;
use runlet_codec::{CronJob, Job, Pod};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use runlet_client::Informer;

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
    owner.meta().deletion_timestamp.as_ref()?;
    let finalizers = owner.finalizers();
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

pub struct GarbageCollector {
    client: Client,
    jobs: Arc<Informer<Job>>,
    pods: Arc<Informer<Pod>>,
    cronjobs: Arc<Informer<CronJob>>,
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

impl GarbageCollector {
    pub fn new(
        client: Client,
        jobs: Arc<Informer<Job>>,
        pods: Arc<Informer<Pod>>,
        cronjobs: Arc<Informer<CronJob>>,
    ) -> Self {
        GarbageCollector { client, jobs, pods, cronjobs }
    }

    /// Runs forever, reacting to changes of CronJobs, Jobs and Pods.
    pub async fn run(self) {
        self.jobs.ready().await;
        self.pods.ready().await;
        self.cronjobs.ready().await;
        let mut job_changes = self.jobs.subscribe();
        let mut pod_changes = self.pods.subscribe();
        let mut cronjob_changes = self.cronjobs.subscribe();
        loop {
            let pending = self.collect().await;
            tokio::select! {
                _ = job_changes.recv() => {}
                _ = pod_changes.recv() => {}
                _ = cronjob_changes.recv() => {}
                _ = tokio::time::sleep(resync_after(pending)) => {}
            }
            // Let a burst of changes settle into one pass.
            tokio::time::sleep(Duration::from_millis(20)).await;
            while job_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
            while cronjob_changes.try_recv().is_ok() {}
        }
    }

    /// One pass over every owner and dependent: CronJobs and their Jobs, then Jobs and their Pods. True when
    /// something is still in progress: an owner waits on its dependents, or a write failed.
    pub async fn collect(&self) -> bool {
        let cronjobs = self.cronjobs.store.state();
        let jobs = self.jobs.store.state();
        let pods = self.pods.store.state();
        let jobs_pending = self.collect_pair(&cronjobs, &jobs).await;
        let pods_pending = self.collect_pair(&jobs, &pods).await;
        jobs_pending || pods_pending
    }

    /// Owners of kind `O` being deleted, and dependents of kind `D` whose owners (of kind `O`) are all gone.
    async fn collect_pair<O: Object, D: Object>(&self, owners: &[Arc<O>], dependents: &[Arc<D>]) -> bool {
        let owner_kind = O::kind(&());
        let live_uids: HashSet<String> = owners.iter().filter_map(|o| o.meta().uid.clone()).collect();
        let mut pending = false;

        let deleting: Vec<(&Arc<O>, OwnerDeletion)> =
            owners.iter().filter_map(|o| owner_deletion(o.as_ref()).map(|d| (o, d))).collect();
        if !deleting.is_empty() {
            pending = true;
            let mut by_owner: HashMap<&str, Vec<&Arc<D>>> = HashMap::new();
            for d in dependents {
                for o in d.owner_references() {
                    by_owner.entry(o.uid.as_str()).or_default().push(d);
                }
            }
            for (owner, deletion) in deleting {
                let Some(uid) = owner.meta().uid.as_deref() else { continue };
                let mine = by_owner.get(uid).map(Vec::as_slice).unwrap_or_default();
                match deletion {
                    OwnerDeletion::Orphan => self.orphan(owner.as_ref(), uid, mine).await,
                    OwnerDeletion::Foreground => self.foreground(owner.as_ref(), mine).await,
                }
            }
        }

        for dependent in dependents {
            let owners = dependent.owner_references();
            if owners.is_empty() || dependent.meta().deletion_timestamp.is_some() {
                continue;
            }
            if owners.iter().any(|o| o.kind != owner_kind || live_uids.contains(&o.uid)) {
                continue;
            }
            // Every owner looks gone in the cache: confirm with the API before deleting.
            match self.any_owner_exists::<O, D>(dependent).await {
                Some(false) => {}
                Some(true) => continue,
                // When in doubt, keep the dependent (and look again soon).
                None => {
                    pending = true;
                    continue;
                }
            }
            let api: Api<D> = Api::namespaced(self.client.clone(), &dependent.namespace().unwrap_or_default());
            match api.delete(&dependent.name_any(), &dependent_delete(dependent.meta().uid.clone())).await {
                Ok(_) => tracing::debug!(name = %dependent.name_any(), "deleted a dependent whose owner is gone"),
                // Gone already, or the name is another object's now.
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => {
                    tracing::debug!(name = %dependent.name_any(), error = %e, "could not delete orphaned dependent");
                    pending = true;
                }
            }
        }
        pending
    }

    /// Whether the API has any of the dependent's owners; None when a read failed.
    async fn any_owner_exists<O: Object, D: Object>(&self, dependent: &D) -> Option<bool> {
        let ns = dependent.namespace().unwrap_or_default();
        let api: Api<O> = Api::namespaced(self.client.clone(), &ns);
        for o in dependent.owner_references() {
            match api.get_opt(&o.name).await {
                Ok(Some(owner)) if owner.meta().uid.as_deref() == Some(o.uid.as_str()) => return Some(true),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(name = %dependent.name_any(), error = %e, "could not read the owner");
                    return None;
                }
            }
        }
        Some(false)
    }

    async fn orphan<O: Object, D: Object>(&self, owner: &O, uid: &str, dependents: &[&Arc<D>]) {
        let mut all_released = true;
        for d in dependents {
            let api: Api<D> = Api::namespaced(self.client.clone(), &d.namespace().unwrap_or_default());
            let patch = release_patch(uid, d.meta().uid.as_deref());
            match api.patch(&d.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::debug!(name = %d.name_any(), error = %e, "could not orphan dependent");
                    all_released = false;
                }
            }
        }
        if all_released {
            self.remove_finalizer(owner, ORPHAN_FINALIZER).await;
        }
    }

    async fn foreground<O: Object, D: Object>(&self, owner: &O, dependents: &[&Arc<D>]) {
        let mut blocking = 0;
        for d in dependents {
            let blocks = d.owner_references().iter().any(|o| o.block_owner_deletion == Some(true));
            if blocks {
                blocking += 1;
            }
            if d.meta().deletion_timestamp.is_none() {
                let api: Api<D> = Api::namespaced(self.client.clone(), &d.namespace().unwrap_or_default());
                if let Err(e) = api.delete(&d.name_any(), &dependent_delete(d.meta().uid.clone())).await {
                    tracing::debug!(name = %d.name_any(), error = %e, "could not delete dependent");
                }
            }
        }
        if blocking == 0 {
            self.remove_finalizer(owner, FOREGROUND_DELETION_FINALIZER).await;
        }
    }

    async fn remove_finalizer<O: Object>(&self, owner: &O, finalizer: &str) {
        let api: Api<O> = Api::namespaced(self.client.clone(), &owner.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer], "uid": owner.meta().uid}});
        if let Err(e) = api.patch(&owner.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            tracing::debug!(name = %owner.name_any(), error = %e, "could not remove finalizer");
        }
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
