//! The garbage collector for ownerReferences (job-semantics §5.2), for the owner/dependent pairs runlet has:
//! Jobs and their Pods.
//!
//! - A pod whose owners are all gone is deleted (Background): what `kubectl delete job` relies on.
//! - An owner marked with the `foregroundDeletion` finalizer has its dependents deleted; once none that block
//!   owner deletion is left, the finalizer is removed and the owner disappears.
//! - An owner marked with the `orphan` finalizer has its ownerReference removed from every dependent, then the
//!   finalizer is removed.
//!
//! Absence of an owner is confirmed with a live GET before anything is deleted, so a lagging cache never
//! deletes a pod whose Job exists; the delete itself carries the pod's uid as a precondition, so a pod created
//! since under the same name is never the one deleted.
//!
//! A pass runs on every Job or Pod change. Without changes it runs again after [`IDLE_RESYNC`], or after
//! [`PENDING_RESYNC`] while an owner waits on its dependents or a write failed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::{Client, ResourceExt};
use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_codec::{Job, Pod};
use serde_json::{Value, json};

use crate::runtime::Informer;

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

/// The collector's part in deleting `job`, if any. `orphan` wins when both finalizers are set (upstream).
pub fn owner_deletion(job: &Job) -> Option<OwnerDeletion> {
    job.metadata.deletion_timestamp.as_ref()?;
    let finalizers = job.finalizers();
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
}

impl GarbageCollector {
    pub fn new(client: Client, jobs: Arc<Informer<Job>>, pods: Arc<Informer<Pod>>) -> Self {
        GarbageCollector { client, jobs, pods }
    }

    /// Runs forever, reacting to changes of Jobs and Pods.
    pub async fn run(self) {
        self.jobs.ready().await;
        self.pods.ready().await;
        let mut job_changes = self.jobs.subscribe();
        let mut pod_changes = self.pods.subscribe();
        loop {
            let pending = self.collect().await;
            tokio::select! {
                _ = job_changes.recv() => {}
                _ = pod_changes.recv() => {}
                _ = tokio::time::sleep(resync_after(pending)) => {}
            }
            // Let a burst of changes settle into one pass.
            tokio::time::sleep(Duration::from_millis(20)).await;
            while job_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }

    /// One pass over every owner and dependent. True when something is still in progress: an owner waits on
    /// its dependents, or a write failed.
    pub async fn collect(&self) -> bool {
        let jobs = self.jobs.store.state();
        let live_uids: HashSet<String> = jobs.iter().filter_map(|j| j.metadata.uid.clone()).collect();
        let pods = self.pods.store.state();
        let mut pending = false;

        let deleting: Vec<(&Arc<Job>, OwnerDeletion)> =
            jobs.iter().filter_map(|j| owner_deletion(j).map(|d| (j, d))).collect();
        if !deleting.is_empty() {
            pending = true;
            let mut dependents: HashMap<&str, Vec<&Arc<Pod>>> = HashMap::new();
            for p in pods.iter() {
                for o in p.owner_references() {
                    dependents.entry(o.uid.as_str()).or_default().push(p);
                }
            }
            for (job, deletion) in deleting {
                let Some(uid) = job.metadata.uid.as_deref() else { continue };
                let mine = dependents.get(uid).map(Vec::as_slice).unwrap_or_default();
                match deletion {
                    OwnerDeletion::Orphan => self.orphan(job, uid, mine).await,
                    OwnerDeletion::Foreground => self.foreground(job, mine).await,
                }
            }
        }

        for pod in pods.iter() {
            let owners = pod.owner_references();
            if owners.is_empty() || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if owners.iter().any(|o| o.kind != "Job" || live_uids.contains(&o.uid)) {
                continue;
            }
            // Every owner looks gone in the cache: confirm with the API before deleting.
            match self.any_owner_exists(pod).await {
                Some(false) => {}
                Some(true) => continue,
                // When in doubt, keep the pod (and look again soon).
                None => {
                    pending = true;
                    continue;
                }
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            match api.delete(&pod.name_any(), &dependent_delete(pod.metadata.uid.clone())).await {
                Ok(_) => tracing::debug!(pod = %pod.name_any(), "deleted pod whose owner is gone"),
                // Gone already, or the name is another pod's now.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => {
                    tracing::debug!(pod = %pod.name_any(), error = %e, "could not delete orphaned dependent");
                    pending = true;
                }
            }
        }
        pending
    }

    /// Whether the API has any of the pod's owners; None when a read failed.
    async fn any_owner_exists(&self, pod: &Pod) -> Option<bool> {
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
        for o in pod.owner_references() {
            match api.get_opt(&o.name).await {
                Ok(Some(j)) if j.metadata.uid.as_deref() == Some(o.uid.as_str()) => return Some(true),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(pod = %pod.name_any(), error = %e, "could not read the pod's owner");
                    return None;
                }
            }
        }
        Some(false)
    }

    async fn orphan(&self, job: &Job, uid: &str, dependents: &[&Arc<Pod>]) {
        let mut all_released = true;
        for pod in dependents {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            let patch = release_patch(uid, pod.metadata.uid.as_deref());
            match api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    tracing::debug!(pod = %pod.name_any(), error = %e, "could not orphan dependent");
                    all_released = false;
                }
            }
        }
        if all_released {
            self.remove_finalizer(job, ORPHAN_FINALIZER).await;
        }
    }

    async fn foreground(&self, job: &Job, dependents: &[&Arc<Pod>]) {
        let mut blocking = 0;
        for pod in dependents {
            let blocks = pod.owner_references().iter().any(|o| o.block_owner_deletion == Some(true));
            if blocks {
                blocking += 1;
            }
            if pod.metadata.deletion_timestamp.is_none() {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
                if let Err(e) = api.delete(&pod.name_any(), &dependent_delete(pod.metadata.uid.clone())).await {
                    tracing::debug!(pod = %pod.name_any(), error = %e, "could not delete dependent");
                }
            }
        }
        if blocking == 0 {
            self.remove_finalizer(job, FOREGROUND_DELETION_FINALIZER).await;
        }
    }

    async fn remove_finalizer(&self, job: &Job, finalizer: &str) {
        let api: Api<Job> = Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer], "uid": job.metadata.uid}});
        if let Err(e) = api.patch(&job.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            tracing::debug!(job = %job.name_any(), error = %e, "could not remove finalizer");
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
