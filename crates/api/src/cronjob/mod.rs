//! CronJob defaulting and validation: what the v1.33 API server does to a `batch/v1` CronJob on create, update
//! and status update (upstream `SetDefaults_CronJob`, `pkg/registry/batch/cronjob/strategy.go`,
//! `ValidateCronJobCreate`/`ValidateCronJobUpdate`).
//!
//! Create: decode → [`default_cronjob`] → [`prepare_for_create`] → [`validate_create`] (+ [`create_warnings`]).
//! Update: decode → [`default_cronjob`] → [`prepare_for_update`] → [`validate_update`]. Status: decode →
//! [`default_cronjob`] → [`prepare_for_status_update`] → [`validate_status_update`].

mod validate;

#[cfg(test)]
mod tests;

use runlet_codec::{CronJob, CronJobStatus};

use crate::field::FieldError;
use crate::meta::dedupe;
use crate::pod::default_pod_spec;

/// `spec.concurrencyPolicy` values.
pub const ALLOW: &str = "Allow";
pub const FORBID: &str = "Forbid";
pub const REPLACE: &str = "Replace";
pub const CONCURRENCY_POLICIES: [&str; 3] = [ALLOW, FORBID, REPLACE];

pub const DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT: i32 = 3;
pub const DEFAULT_FAILED_JOBS_HISTORY_LIMIT: i32 = 1;

/// Longest CronJob name: its Jobs are named `<name>-<minutes since the epoch>` (11 more characters) and must
/// stay within 63.
pub const MAX_NAME_LENGTH: usize = 52;

/// The annotation on a scheduled Job holding its scheduled time (RFC 3339, in the CronJob's time zone).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Upstream `SetDefaults_CronJob`, plus pod-template defaults (the Job template's own fields are not defaulted:
/// the Jobs made from it are).
pub fn default_cronjob(cj: &mut CronJob) {
    let spec = cj.spec.get_or_insert_with(Default::default);
    if spec.concurrency_policy.as_deref().is_none_or(str::is_empty) {
        spec.concurrency_policy = Some(ALLOW.to_string());
    }
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT);
    spec.failed_jobs_history_limit.get_or_insert(DEFAULT_FAILED_JOBS_HISTORY_LIMIT);
    let job_spec = spec.job_template.spec.get_or_insert_with(Default::default);
    default_pod_spec(job_spec.template.spec.get_or_insert_with(Default::default));
}

/// The registry's create preparation: status cleared, generation 1.
pub fn prepare_for_create(cj: &mut CronJob) {
    cj.status = Some(CronJobStatus::default());
    cj.metadata.generation = Some(1);
}

/// The registry's update preparation: status kept from the stored CronJob; generation bumped iff the spec changed.
pub fn prepare_for_update(new: &mut CronJob, old: &CronJob) {
    new.status.clone_from(&old.status);
    let old_generation = old.metadata.generation.unwrap_or(0);
    let changed = spec_json(new) != spec_json(old);
    new.metadata.generation = Some(if changed { old_generation + 1 } else { old_generation });
}

/// The spec as JSON, for semantic comparison (through `codec`, which owns the serde of the big types).
fn spec_json(cj: &CronJob) -> serde_json::Value {
    let stub = CronJob { spec: cj.spec.clone(), ..Default::default() };
    let encoded = runlet_codec::encode_cron_job(&stub).ok().and_then(|v| v.get("spec").cloned());
    crate::meta::semantic_json(encoded.unwrap_or_default())
}

/// A status update takes only `status` from the request; everything else stays as stored. The request's
/// `resourceVersion` is kept so the caller's precondition check still sees it.
pub fn prepare_for_status_update(new: &mut CronJob, old: &CronJob) {
    let status = new.status.take();
    let resource_version = new.metadata.resource_version.take();
    *new = CronJob { status, ..old.clone() };
    new.metadata.resource_version = resource_version;
}

/// Upstream `ValidateCronJobCreate`, duplicates removed.
pub fn validate_create(cj: &CronJob) -> Vec<FieldError> {
    dedupe(validate::validate_create(cj))
}

/// Upstream `ValidateCronJobUpdate`: metadata update rules and the spec rules (the name length is not checked,
/// so that older, longer-named CronJobs can still be changed and deleted), duplicates removed.
pub fn validate_update(new: &CronJob, old: &CronJob) -> Vec<FieldError> {
    dedupe(validate::validate_update(new, old))
}

/// Status updates only have the metadata update rules (upstream validates nothing else there).
pub fn validate_status_update(new: &CronJob, old: &CronJob) -> Vec<FieldError> {
    dedupe(crate::meta::validate_object_meta_update(&new.metadata, &old.metadata))
}

/// Warnings returned with a successful create: the name (used in pod names) and the Job template's.
pub fn create_warnings(cj: &CronJob) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = cj.metadata.name.as_deref().unwrap_or("");
    let msgs = crate::names::dns1123_label(name);
    if !msgs.is_empty() {
        warnings.push(format!("{}{}", crate::job::JOB_NAME_WARNING_PREFIX, crate::meta::gofmt::plain_list(&msgs)));
    }
    if let Some(spec) = cj.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()) {
        let template = crate::job::template_spec_warnings(spec);
        warnings.extend(template.into_iter().map(|w| format!("spec.jobTemplate.{w}")));
    }
    warnings
}
