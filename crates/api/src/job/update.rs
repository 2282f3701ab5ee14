//! What may change in a Job's spec after creation (upstream `ValidateJobSpecUpdate`).

use runlet_codec::k8s_openapi::api::core::v1::Affinity;
use runlet_codec::{Job, JobSpec, PodTemplateSpec};
use serde_json::Value;

use super::spec::{JobOptions, is_indexed, validate_job_spec_with_selector};
use crate::field::FieldError;
use crate::meta::{self, IMMUTABLE_MESSAGE, gofmt, semantic_json};

/// The spec as Kubernetes compares it: missing and empty collections are equal. (Encoding k8s-openapi types
/// cannot fail; if it ever did, both sides would compare as null.)
pub(super) fn spec_json(spec: &JobSpec) -> Value {
    let stub = Job { spec: Some(spec.clone()), ..Default::default() };
    let encoded = runlet_codec::encode_job(&stub).unwrap_or(Value::Null);
    semantic_json(encoded.get("spec").cloned().unwrap_or(Value::Null))
}

fn template_json(template: &PodTemplateSpec) -> Value {
    let spec = JobSpec { template: template.clone(), ..Default::default() };
    spec_json(&spec).get("template").cloned().unwrap_or(Value::Null)
}

pub(crate) fn validate_job_update(new: &Job, old: &Job, opts: &JobOptions) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    let empty = JobSpec::default();
    let spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);
    errs.extend(validate_job_spec_with_selector(spec));
    errs.extend(validate_completions(spec, old_spec));

    let (new_json, old_json) = (spec_json(spec), spec_json(old_spec));
    let changed = |key: &str| new_json.get(key) != old_json.get(key);
    if changed("selector") {
        errs.push(immutable("spec.selector", gofmt::opt_label_selector(spec.selector.as_ref())));
    }
    errs.extend(validate_template_update(spec, old_spec, opts));
    if changed("completionMode") {
        errs.push(immutable("spec.completionMode", gofmt::opt_string(spec.completion_mode.as_deref())));
    }
    if changed("podFailurePolicy") {
        errs.push(immutable(
            "spec.podFailurePolicy",
            struct_or_null(spec.pod_failure_policy.is_some(), "batch.PodFailurePolicy"),
        ));
    }
    if changed("backoffLimitPerIndex") {
        errs.push(immutable("spec.backoffLimitPerIndex", gofmt::opt_number(spec.backoff_limit_per_index)));
    }
    if changed("managedBy") {
        errs.push(immutable("spec.managedBy", gofmt::opt_string(spec.managed_by.as_deref())));
    }
    if changed("successPolicy") {
        errs.push(immutable(
            "spec.successPolicy",
            struct_or_null(spec.success_policy.is_some(), "batch.SuccessPolicy"),
        ));
    }
    errs
}

fn immutable(path: &str, value: String) -> FieldError {
    FieldError::invalid(path, value, IMMUTABLE_MESSAGE)
}

/// Structs holding pointers print abbreviated (see [`gofmt`]); a nil pointer prints as `"null"`.
fn struct_or_null(present: bool, type_name: &str) -> String {
    if present { format!("{type_name}{{...}}") } else { gofmt::opt_string(None) }
}

/// NonIndexed: `completions` is frozen. Indexed (elastic): it may change, but only to the new `parallelism`.
fn validate_completions(spec: &JobSpec, old: &JobSpec) -> Vec<FieldError> {
    let path = "spec.completions";
    if !is_indexed(spec) {
        return if spec.completions != old.completions {
            vec![immutable(path, gofmt::opt_number(spec.completions))]
        } else {
            Vec::new()
        };
    }
    match spec.completions {
        // A missing value is reported by the Indexed rules already.
        Some(completions) if spec.completions != old.completions && Some(completions) != spec.parallelism => {
            vec![FieldError::invalid(
                path,
                completions.to_string(),
                "can only be modified in tandem with spec.parallelism",
            )]
        }
        _ => Vec::new(),
    }
}

/// The template is frozen, except that a suspended Job that never started may change its scheduling
/// directives: node selector, node affinity, tolerations, scheduling gates, template labels and annotations.
fn validate_template_update(spec: &JobSpec, old: &JobSpec, opts: &JobOptions) -> Vec<FieldError> {
    let template = &spec.template;
    let mut old_template = old.template.clone();
    if opts.allow_mutable_scheduling_directives {
        let new_pod = template.spec.clone().unwrap_or_default();
        let old_pod = old_template.spec.get_or_insert_with(Default::default);
        match (&new_pod.affinity, old_pod.affinity.as_mut()) {
            (None, Some(old_affinity)) => {
                // The affinity may be dropped if node affinity was all it held.
                old_affinity.node_affinity = None;
                if *old_affinity == Affinity::default() {
                    old_pod.affinity = None;
                }
            }
            (Some(new_affinity), None) => {
                old_pod.affinity =
                    Some(Affinity { node_affinity: new_affinity.node_affinity.clone(), ..Default::default() });
            }
            (Some(new_affinity), Some(old_affinity)) => {
                old_affinity.node_affinity.clone_from(&new_affinity.node_affinity)
            }
            (None, None) => {}
        }
        old_pod.node_selector.clone_from(&new_pod.node_selector);
        old_pod.tolerations.clone_from(&new_pod.tolerations);
        old_pod.scheduling_gates.clone_from(&new_pod.scheduling_gates);
        let new_meta = template.metadata.clone().unwrap_or_default();
        let old_meta = old_template.metadata.get_or_insert_with(Default::default);
        old_meta.annotations = new_meta.annotations;
        old_meta.labels = new_meta.labels;
    }
    if template_json(template) != template_json(&old_template) {
        // Upstream prints the whole internal struct with %#v; runlet abbreviates it.
        vec![immutable("spec.template", "core.PodTemplateSpec{...}".to_string())]
    } else {
        Vec::new()
    }
}
