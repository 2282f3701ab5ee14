//! Which pods the Job owns (§2.3, upstream `PodControllerRefManager.ClaimPods`): owned pods that still
//! match the selector are kept, owned pods that no longer match are released, matching orphans are
//! adopted. Pods controlled by anything else are ignored.

use std::collections::BTreeMap;

use runlet_codec::{OwnerReference, Pod};

use super::PodRef;
use super::pods::JobPod;
use super::selector::{self, SelectorError};
use super::spec::JobFacts;

/// The claimed pods and the ownership changes the runner must make before anything else.
pub(crate) struct Claim<'a> {
    pub pods: Vec<JobPod<'a>>,
    /// Orphans to adopt: add the controller reference and the tracking finalizer.
    pub adopt: Vec<PodRef>,
    /// Owned pods to release: remove the controller reference.
    pub release: Vec<PodRef>,
}

pub(crate) fn claim<'a>(job: &JobFacts<'_>, pods: &'a [Pod]) -> Result<Claim<'a>, SelectorError> {
    let no_labels = BTreeMap::new();
    // Surface a bad selector even when there are no pods, as upstream converts it before listing.
    selector::matches(job.spec.selector.as_ref(), &no_labels)?;
    let mut claim = Claim { pods: Vec::new(), adopt: Vec::new(), release: Vec::new() };
    for pod in pods {
        let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
        let matches = || selector::matches(job.spec.selector.as_ref(), labels);
        match controller_of(pod) {
            Some(owner) if owner.uid != job.uid => {}
            Some(_) => {
                if matches()? {
                    claim.pods.push(JobPod::new(pod, false));
                } else if !job.deleting {
                    claim.release.push(PodRef::of(pod));
                }
            }
            None => {
                let same_namespace =
                    job.namespace.is_empty() || pod.metadata.namespace.as_deref() == Some(job.namespace);
                let adoptable = !job.deleting && pod.metadata.deletion_timestamp.is_none() && same_namespace;
                if adoptable && matches()? {
                    claim.adopt.push(PodRef::of(pod));
                    claim.pods.push(JobPod::new(pod, true));
                }
            }
        }
    }
    Ok(claim)
}

/// The owner reference marked `controller: true`, if any (upstream `GetControllerOf`).
pub(crate) fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true))
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
