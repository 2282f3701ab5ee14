//! Job defaulting and validation: what the v1.33 API server does to a `batch/v1` Job on create, update and
//! status update (upstream `pkg/apis/batch/v1/defaults.go`, `pkg/registry/batch/job/strategy.go`,
//! `pkg/apis/batch/validation/validation.go`).
//!
//! Typical create path: decode → [`default_job`] → [`prepare_for_create`] → [`validate_create`] (+
//! [`create_warnings`]). Update: decode → [`default_job`] → [`prepare_for_update`] → [`validate_update`]. Status:
//! decode → [`default_job`] → [`prepare_for_status_update`] → [`validate_status_update`].

mod policy;
mod spec;
mod status;
mod update;

use crate::vocab::ConditionStatus;
use std::collections::BTreeMap;

use runlet_codec::{Job, JobStatus, LabelSelector};

use crate::field::FieldError;
use crate::labels::{CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME};
use crate::meta::dedupe;
use crate::names;
use crate::pod::default_pod_spec;

pub use spec::JOB_NAME_WARNING_PREFIX;

pub const NON_INDEXED: &str = "NonIndexed";
pub const INDEXED: &str = "Indexed";
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
pub const POD_REPLACEMENT_FAILED: &str = "Failed";
pub const POD_REPLACEMENT_TERMINATING_OR_FAILED: &str = "TerminatingOrFailed";

/// Upstream `SetDefaults_Job` plus pod-template defaults.
pub fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    if spec.backoff_limit.is_none() {
        // Per-index backoff makes the global limit meaningless unless set explicitly.
        spec.backoff_limit =
            Some(if spec.backoff_limit_per_index.is_some() { i32::MAX } else { DEFAULT_BACKOFF_LIMIT });
    }
    if let Some(template_labels) = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref())
        && job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
    {
        job.metadata.labels = Some(template_labels.clone());
    }
    spec.completion_mode.get_or_insert_with(|| NON_INDEXED.to_string());
    spec.suspend.get_or_insert(false);
    spec.manual_selector.get_or_insert(false);
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() {
            POD_REPLACEMENT_FAILED
        } else {
            POD_REPLACEMENT_TERMINATING_OR_FAILED
        };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    for rule in spec.pod_failure_policy.iter_mut().flat_map(|p| p.rules.iter_mut()) {
        for pattern in rule.on_pod_conditions.iter_mut().flatten() {
            if pattern.status.is_empty() {
                pattern.status = ConditionStatus::True.into();
            }
        }
    }
    default_pod_spec(spec.template.spec.get_or_insert_with(Default::default));
}

/// The registry's create preparation: uid set, selector and template labels generated (unless
/// `manualSelector`), status cleared, generation 1.
///
/// Upstream's defaulting shares one label map between the Job and its template when the Job has no labels, so
/// the generated labels show on the Job too; that sharing is reproduced here: Job labels equal to the template
/// labels (or absent) receive the generated labels as well. (A Job whose own labels merely happen to equal the
/// template's is treated the same; upstream would not add the generated labels to it.)
pub fn prepare_for_create(job: &mut Job, uid: &str) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = uid.to_string();
    let spec = job.spec.get_or_insert_with(Default::default);
    let template_meta = spec.template.metadata.get_or_insert_with(Default::default);
    let labels_shared = match (&job.metadata.labels, &template_meta.labels) {
        (None, _) => true,
        (Some(job_labels), _) if job_labels.is_empty() => true,
        (Some(job_labels), Some(template_labels)) => job_labels == template_labels,
        (Some(_), None) => false,
    };
    if spec.manual_selector != Some(true) {
        let template_labels = template_meta.labels.get_or_insert_with(BTreeMap::new);
        for (key, value) in
            [(LEGACY_JOB_NAME, &name), (JOB_NAME, &name), (LEGACY_CONTROLLER_UID, &uid), (CONTROLLER_UID, &uid)]
        {
            template_labels.entry(key.to_string()).or_insert_with(|| value.clone());
        }
        let selector = spec.selector.get_or_insert_with(LabelSelector::default);
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .entry(CONTROLLER_UID.to_string())
            .or_insert_with(|| uid.clone());
    }
    if labels_shared && let Some(template_labels) = &template_meta.labels {
        job.metadata.labels = Some(template_labels.clone());
    }
    job.metadata.uid = Some(uid);
    job.status = Some(JobStatus::default());
    job.metadata.generation = Some(1);
}

/// The registry's update preparation: status kept from the stored Job; generation bumped iff the spec changed
/// (clients cannot set it).
pub fn prepare_for_update(new: &mut Job, old: &Job) {
    new.status.clone_from(&old.status);
    let old_generation = old.metadata.generation.unwrap_or(0);
    let changed = new.spec.as_ref().map(update::spec_json) != old.spec.as_ref().map(update::spec_json);
    new.metadata.generation = Some(if changed { old_generation + 1 } else { old_generation });
}

/// A status update takes only `status` from the request; everything else stays as stored. The request's
/// `resourceVersion` is kept so the caller's precondition check still sees it.
pub fn prepare_for_status_update(new: &mut Job, old: &Job) {
    let status = new.status.take();
    let resource_version = new.metadata.resource_version.take();
    *new = Job { status, ..old.clone() };
    new.metadata.resource_version = resource_version;
}

/// Create validation (after [`prepare_for_create`]), duplicates removed.
pub fn validate_create(job: &Job) -> Vec<FieldError> {
    dedupe(spec::validate_job(job, &spec::JobOptions::for_create()))
}

/// Update validation: every create rule plus what may not change (upstream `ValidateUpdate`), duplicates removed.
pub fn validate_update(new: &Job, old: &Job) -> Vec<FieldError> {
    let opts = spec::JobOptions::for_update(old);
    let mut errs = spec::validate_job(new, &opts);
    errs.extend(update::validate_job_update(new, old, &opts));
    dedupe(errs)
}

/// Status-subresource validation (upstream `ValidateJobUpdateStatus` with the JobManagedBy-era options: most
/// rules only fire when the fields they guard change).
pub fn validate_status_update(new: &Job, old: &Job) -> Vec<FieldError> {
    let mut errs = crate::meta::validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(status::validate_status_update(new, old));
    dedupe(errs)
}

/// Warnings returned with a successful create.
pub fn create_warnings(job: &Job) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = job.metadata.name.as_deref().unwrap_or("");
    let msgs = names::dns1123_label(name);
    if !msgs.is_empty() {
        warnings.push(format!("{JOB_NAME_WARNING_PREFIX}{}", crate::meta::gofmt::plain_list(&msgs)));
    }
    if let Some(spec) = &job.spec {
        warnings.extend(spec::spec_warnings(spec));
    }
    warnings
}

/// The rules a CronJob's `jobTemplate.spec` must follow (upstream `validateJobSpec`: no selector rules, paths
/// under `spec`).
pub(crate) fn validate_template_spec(spec: &runlet_codec::JobSpec) -> Vec<FieldError> {
    spec::validate_job_spec(spec)
}

/// The warnings of a Job spec, paths under `spec` (for a CronJob's template).
pub(crate) fn template_spec_warnings(spec: &runlet_codec::JobSpec) -> Vec<String> {
    spec::spec_warnings(spec)
}

#[cfg(test)]
mod tests;
