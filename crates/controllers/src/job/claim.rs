//! Which pods the Job owns (§2.3, upstream `PodControllerRefManager.ClaimPods`): owned pods that still
//! match the selector are kept, owned pods that no longer match are released, matching orphans are
//! adopted. Pods controlled by anything else are ignored.

use std::collections::BTreeMap;
use std::sync::Arc;

use runlet_api::selector::LabelSelector;
use runlet_codec::{OwnerReference, Pod};

use super::pods::JobPod;
use super::spec::JobFacts;
use super::{PodRef, SyncError};

/// The claimed pods and the ownership changes the runner must make before anything else.
pub(crate) struct Claim<'a> {
    pub pods: Vec<JobPod<'a>>,
    /// Orphans to adopt: add the controller reference and the tracking finalizer.
    pub adopt: Vec<PodRef>,
    /// Owned pods to release: remove the controller reference.
    pub release: Vec<PodRef>,
}

pub(crate) fn claim<'a>(job: &JobFacts<'_>, pods: &'a [Arc<Pod>]) -> Result<Claim<'a>, SyncError> {
    // Converted before looking at pods, so a bad selector is an error even without pods (upstream).
    // A missing selector matches nothing.
    let selector = match job.spec.selector.as_ref() {
        Some(api) => Some(LabelSelector::from_api(api).map_err(|e| SyncError::Selector(e.to_string()))?),
        None => None,
    };
    let no_labels = BTreeMap::new();
    let matches =
        |pod: &Pod| selector.as_ref().is_some_and(|s| s.matches(pod.metadata.labels.as_ref().unwrap_or(&no_labels)));
    let mut claim = Claim { pods: Vec::new(), adopt: Vec::new(), release: Vec::new() };
    for pod in pods {
        match controller_of(pod) {
            Some(owner) if owner.uid != job.uid => {}
            Some(_) => {
                if matches(pod) {
                    claim.pods.push(JobPod::new(pod, false));
                } else if !job.deleting {
                    claim.release.push(PodRef::of(pod));
                }
            }
            None => {
                let same_namespace =
                    job.namespace.is_empty() || pod.metadata.namespace.as_deref() == Some(job.namespace);
                if !job.deleting && pod.metadata.deletion_timestamp.is_none() && same_namespace && matches(pod) {
                    claim.adopt.push(PodRef::of(pod));
                    // Upstream only assumes the new finalizer when no owner reference names the Job.
                    let referenced = pod.metadata.owner_references.iter().flatten().any(|r| r.uid == job.uid);
                    claim.pods.push(JobPod::new(pod, !referenced));
                }
            }
        }
    }
    Ok(claim)
}

/// The owner reference marked `controller: true`, if any (upstream `GetControllerOf`).
pub fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    runlet_api::meta::controller_of(&pod.metadata)
}

/// The controller reference every pod of the Job carries (upstream `NewControllerRef`).
pub fn controller_ref(job: &runlet_codec::Job) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".to_string(),
        kind: "Job".to_string(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the orphan worker should strip the tracking finalizer from `pod` (upstream `syncOrphanPod`):
/// the pod has it, and its controller is not a live, unfinished Job of ours. `owner` is the Job the
/// pod's controller reference names, if it exists with the same UID.
pub fn orphan_finalizer_removable(pod: &Pod, owner: Option<&runlet_codec::Job>) -> bool {
    if !super::pods::has_tracking_finalizer(pod) {
        return false;
    }
    let Some(reference) = controller_of(pod) else { return true };
    if reference.kind != "Job" || reference.api_version != "batch/v1" {
        // Owned by something else: not ours to touch.
        return false;
    }
    match owner.filter(|job| job.metadata.uid.as_deref() == Some(reference.uid.as_str())) {
        Some(job) if super::spec::managed_by_other(job).is_some() => false,
        Some(job) => super::conditions::is_finished(job),
        None => true,
    }
}
