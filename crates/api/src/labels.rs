//! Well-known label, annotation and finalizer keys used by Jobs and their pods.

pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_NAME: &str = "job-name";
pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
pub const JOB_INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
pub const JOB_INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
/// Finalizer the Job controller puts on every pod it creates (exactly-once counting).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Env var carrying the completion index of an Indexed Job's pod.
pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The value of `spec.managedBy` meaning "the built-in Job controller".
pub const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";
/// Garbage-collector finalizers set by Foreground and Orphan deletes.
pub const FOREGROUND_DELETION_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The annotation `kubectl apply` keeps its last manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
