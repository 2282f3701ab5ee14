//! The facts about a Job's spec the reconcile needs, read once with the API server's defaults applied
//! where a stored Job might lack them.

use runlet_api::labels::JOB_CONTROLLER_NAME;
use runlet_api::vocab::RestartPolicy;
use runlet_codec::{Job, JobSpec, PodFailurePolicy, SuccessPolicy};

use super::SyncError;

/// Default `backoffLimit` (upstream `defaults.go`), and its value when `backoffLimitPerIndex` is set.
const DEFAULT_BACKOFF_LIMIT: i32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompletionMode {
    NonIndexed,
    Indexed,
}

/// A read-only view of the Job with defaults resolved.
#[derive(Debug, Clone)]
pub(crate) struct JobFacts<'a> {
    pub job: &'a Job,
    pub spec: &'a JobSpec,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub parallelism: i32,
    /// `None` for a work-queue Job. Always `Some` for Indexed Jobs.
    pub completions: Option<i32>,
    pub mode: CompletionMode,
    pub backoff_limit: i32,
    pub backoff_limit_per_index: Option<i32>,
    pub max_failed_indexes: Option<i32>,
    pub suspended: bool,
    /// `restartPolicy: OnFailure` (restart counts count toward `backoffLimit`).
    pub restart_on_failure: bool,
    pub pod_failure_policy: Option<&'a PodFailurePolicy>,
    pub success_policy: Option<&'a SuccessPolicy>,
    pub active_deadline_seconds: Option<i64>,
    /// The Job has a `deletionTimestamp`.
    pub deleting: bool,
}

impl<'a> JobFacts<'a> {
    pub(crate) fn new(job: &'a Job) -> Result<Self, SyncError> {
        let spec = job.spec.as_ref().ok_or(SyncError::MissingField("spec"))?;
        let meta = &job.metadata;
        let mode = match spec.completion_mode.as_deref() {
            None | Some("NonIndexed") => CompletionMode::NonIndexed,
            Some("Indexed") => CompletionMode::Indexed,
            Some(_) => return Err(SyncError::UnknownCompletionMode),
        };
        if mode == CompletionMode::Indexed && spec.completions.is_none() {
            return Err(SyncError::MissingField("spec.completions"));
        }
        // Per-index backoff only exists for Indexed Jobs (validation enforces it; be defensive).
        let per_index = spec.backoff_limit_per_index.filter(|_| mode == CompletionMode::Indexed);
        let default_limit = if per_index.is_some() { i32::MAX } else { DEFAULT_BACKOFF_LIMIT };
        let pod_spec = spec.template.spec.as_ref();
        Ok(JobFacts {
            job,
            spec,
            name: meta.name.as_deref().unwrap_or_default(),
            namespace: meta.namespace.as_deref().unwrap_or_default(),
            uid: meta.uid.as_deref().unwrap_or_default(),
            parallelism: spec.parallelism.unwrap_or(1),
            completions: spec.completions,
            mode,
            backoff_limit: spec.backoff_limit.unwrap_or(default_limit),
            backoff_limit_per_index: per_index,
            max_failed_indexes: spec.max_failed_indexes,
            suspended: spec.suspend == Some(true),
            restart_on_failure: pod_spec.and_then(|s| s.restart_policy.as_deref())
                == Some(RestartPolicy::OnFailure.as_str()),
            pod_failure_policy: spec.pod_failure_policy.as_ref(),
            success_policy: spec.success_policy.as_ref(),
            active_deadline_seconds: spec.active_deadline_seconds,
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    pub(crate) fn indexed(&self) -> bool {
        self.mode == CompletionMode::Indexed
    }

    /// Completions of an Indexed Job (validation makes it present; 0 otherwise).
    pub(crate) fn index_limit(&self) -> i32 {
        self.completions.unwrap_or(0)
    }

    /// Whether `index` is a valid completion index of this Job.
    pub(crate) fn index_in_range(&self, index: Option<i32>) -> bool {
        index.is_some_and(|ix| ix < self.index_limit())
    }

    /// Replacement pods wait for terminating pods to reach a terminal phase (upstream
    /// `onlyReplaceFailedPods`): `podReplacementPolicy: Failed`, which a pod failure policy forces.
    pub(crate) fn only_replace_failed(&self) -> bool {
        self.spec.pod_replacement_policy.as_deref() == Some(runlet_api::job::POD_REPLACEMENT_FAILED)
            || self.pod_failure_policy.is_some()
    }
}

/// `spec.managedBy` names a controller other than the built-in one: the Job is not ours to touch.
pub(crate) fn managed_by_other(job: &Job) -> Option<&str> {
    let managed_by = job.spec.as_ref()?.managed_by.as_deref()?;
    (managed_by != JOB_CONTROLLER_NAME).then_some(managed_by)
}

/// `spec.completionMode` is unset or one this version knows.
pub(crate) fn known_completion_mode(job: &Job) -> bool {
    let mode = job.spec.as_ref().and_then(|s| s.completion_mode.as_deref());
    matches!(mode, None | Some("NonIndexed") | Some("Indexed"))
}
