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
//! deletes a pod whose Job exists.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::{Client, ResourceExt};
use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_codec::{Job, Pod};
use serde_json::json;

use crate::runtime::Informer;

/// How often the collector looks again when nothing tells it to.
const RESYNC: Duration = Duration::from_secs(2);

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
            self.collect().await;
            tokio::select! {
                _ = job_changes.recv() => {}
                _ = pod_changes.recv() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            // Let a burst of changes settle into one pass.
            tokio::time::sleep(Duration::from_millis(20)).await;
            while job_changes.try_recv().is_ok() {}
            while pod_changes.try_recv().is_ok() {}
        }
    }

    /// One pass over every owner and dependent.
    pub async fn collect(&self) {
        let jobs = self.jobs.store.state();
        let live_uids: HashSet<String> = jobs.iter().filter_map(|j| j.metadata.uid.clone()).collect();
        let pods = self.pods.store.state();

        for job in jobs.iter().filter(|j| j.metadata.deletion_timestamp.is_some()) {
            let finalizers = job.finalizers();
            let Some(uid) = job.metadata.uid.as_deref() else { continue };
            let dependents: Vec<&Arc<Pod>> = pods.iter().filter(|p| owned_by(p, uid)).collect();
            if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
                self.orphan(job, uid, &dependents).await;
            } else if finalizers.iter().any(|f| f == FOREGROUND_DELETION_FINALIZER) {
                self.foreground(job, &dependents).await;
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
            if self.any_owner_exists(pod).await {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
            match api.delete(&pod.name_any(), &dp).await {
                Ok(_) => tracing::debug!(pod = %pod.name_any(), "deleted pod whose owner is gone"),
                Err(e) => tracing::debug!(pod = %pod.name_any(), error = %e, "could not delete orphaned dependent"),
            }
        }
    }

    async fn any_owner_exists(&self, pod: &Pod) -> bool {
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
        for o in pod.owner_references() {
            match api.get_opt(&o.name).await {
                Ok(Some(j)) if j.metadata.uid.as_deref() == Some(o.uid.as_str()) => return true,
                Ok(_) => {}
                // When in doubt, keep the pod.
                Err(_) => return true,
            }
        }
        false
    }

    async fn orphan(&self, job: &Job, uid: &str, dependents: &[&Arc<Pod>]) {
        let mut all_released = true;
        for pod in dependents {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            let remaining: Vec<_> = pod.owner_references().iter().filter(|o| o.uid != uid).cloned().collect();
            let patch = json!({"metadata": {"ownerReferences": remaining, "uid": pod.metadata.uid}});
            if let Err(e) = api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::debug!(pod = %pod.name_any(), error = %e, "could not orphan dependent");
                all_released = false;
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
                let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
                if let Err(e) = api.delete(&pod.name_any(), &dp).await {
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

fn owned_by(pod: &Pod, uid: &str) -> bool {
    pod.owner_references().iter().any(|o| o.uid == uid)
}
