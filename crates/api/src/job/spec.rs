//! Job validation shared by create and update (upstream `ValidateJob`, `validateGeneratedSelector`,
//! `ValidateJobSpec`, `validateJobSpec`), in upstream's order so that multi-error messages match.

use runlet_codec::{Job, JobSpec};

use super::policy::{validate_pod_failure_policy, validate_success_policy};
use super::{INDEXED, NON_INDEXED, POD_REPLACEMENT_FAILED, POD_REPLACEMENT_TERMINATING_OR_FAILED};
use crate::field::{FieldError, quote};
use crate::labels::{CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME};
use crate::meta::{self, gofmt, nonnegative, too_long};
use crate::names;
use crate::pod::validate_pod_template_spec;

/// The `metadata.name` create warning up to the list of reasons.
pub const JOB_NAME_WARNING_PREFIX: &str = "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: ";

const MAX_PARALLELISM_FOR_INDEXED: i32 = 100_000;
const MAX_FAILED_INDEXES_FOR_INDEXED: i32 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_MANAGED_BY_LENGTH: usize = 63;

/// Upstream `JobValidationOptions`, the parts that vary.
pub(crate) struct JobOptions {
    /// The template must carry the `batch.kubernetes.io/` labels (always on create; on update only if the stored
    /// Job already had them).
    pub require_prefixed_labels: bool,
    /// Scheduling directives of the template may change (the stored Job is suspended and never started).
    pub allow_mutable_scheduling_directives: bool,
}

impl JobOptions {
    pub fn for_create() -> Self {
        JobOptions { require_prefixed_labels: true, allow_mutable_scheduling_directives: false }
    }

    pub fn for_update(old: &Job) -> Self {
        let spec = old.spec.as_ref();
        let labels = spec.and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.as_ref());
        let has = |key: &str| labels.is_some_and(|l| l.contains_key(key));
        let suspended = spec.and_then(|s| s.suspend) == Some(true);
        let never_started = old.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none();
        JobOptions {
            require_prefixed_labels: has(JOB_NAME) && has(CONTROLLER_UID),
            allow_mutable_scheduling_directives: suspended && never_started,
        }
    }
}

pub(crate) fn is_indexed(spec: &JobSpec) -> bool {
    spec.completion_mode.as_deref() == Some(INDEXED)
}

/// Upstream `ValidateJob`.
pub(crate) fn validate_job(job: &Job, opts: &JobOptions) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&job.metadata, true, names::dns1123_subdomain);
    let empty = JobSpec::default();
    let spec = job.spec.as_ref().unwrap_or(&empty);
    errs.extend(validate_generated_selector(job, spec, opts.require_prefixed_labels));
    errs.extend(validate_job_spec_with_selector(spec));
    let name = job.metadata.name.as_deref().unwrap_or("");
    if is_indexed(spec)
        && let Some(completions) = spec.completions.filter(|c| *c > 0)
    {
        // Pods of an Indexed Job are named and hostnamed `<job>-<index>`.
        let max_hostname = format!("{name}-{}", completions - 1);
        if !names::dns1123_label(&max_hostname).is_empty() {
            errs.push(FieldError::invalid(
                "metadata.name",
                quote(name),
                format!("will not able to create pod with invalid DNS label: {max_hostname}"),
            ));
        }
    }
    errs
}

/// The template must carry the generated labels and the selector must select them (upstream
/// `validateGeneratedSelector`).
fn validate_generated_selector(job: &Job, spec: &JobSpec, require_prefixed: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.manual_selector == Some(true) {
        return errs;
    }
    let Some(selector) = spec.selector.as_ref() else { return errs };
    let uid = job.metadata.uid.as_deref().unwrap_or("");
    let name = job.metadata.name.as_deref().unwrap_or("");
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let mut expected = vec![(LEGACY_CONTROLLER_UID, uid), (LEGACY_JOB_NAME, name)];
    if require_prefixed {
        expected.extend([(CONTROLLER_UID, uid), (JOB_NAME, name)]);
    }
    let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    for (key, want) in &expected {
        let path = format!("spec.template.metadata.labels[{key}]");
        match labels.and_then(|l| l.get(*key)) {
            None => errs.push(FieldError::required(path, format!("must be '{want}'"))),
            Some(actual) if actual != want => {
                errs.push(FieldError::invalid(path, gofmt::string_map(labels), format!("must be '{want}'")))
            }
            Some(_) => {}
        }
    }
    let expected_labels = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if meta::selector_matches(Some(selector), Some(&expected_labels)) == Some(false) {
        errs.push(FieldError::invalid(
            "spec.selector",
            gofmt::label_selector(selector),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream `ValidateJobSpec`: the spec rules, then the selector.
pub(crate) fn validate_job_spec_with_selector(spec: &JobSpec) -> Vec<FieldError> {
    let mut errs = validate_job_spec(spec);
    match &spec.selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(selector) => errs.extend(validate_label_selector(selector, "spec.selector")),
    }
    let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if meta::selector_matches(spec.selector.as_ref(), template_labels) == Some(false) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            gofmt::string_map(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs
}

/// Upstream `ValidateLabelSelector`.
fn validate_label_selector(selector: &runlet_codec::LabelSelector, path: &str) -> Vec<FieldError> {
    let mut errs = meta::validate_labels(selector.match_labels.as_ref(), &format!("{path}.matchLabels"));
    for (i, r) in selector.match_expressions.iter().flatten().enumerate() {
        let item = format!("{path}.matchExpressions[{i}]");
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{item}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{item}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{item}.operator"),
                quote(other),
                "not a valid selector operator",
            )),
        }
        errs.extend(
            names::qualified_name(&r.key)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{item}.key"), quote(&r.key), m)),
        );
        for (j, value) in values.iter().enumerate() {
            errs.extend(
                names::label_value(value)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{item}.values[{j}]"), quote(value), m)),
            );
        }
    }
    errs
}

/// Upstream `IsDomainPrefixedPath` for `spec.managedBy`.
fn validate_domain_prefixed_path(value: &str, path: &str) -> Vec<FieldError> {
    let Some((host, rest)) = value.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty()) else {
        return vec![FieldError::invalid(
            path,
            quote(value),
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: Vec<FieldError> =
        names::dns1123_subdomain(host).into_iter().map(|m| FieldError::invalid(path, quote(host), m)).collect();
    let path_ok = rest.bytes().all(|c| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c));
    if !path_ok {
        errs.push(FieldError::invalid(
            path,
            quote(rest),
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
    errs
}

/// Upstream `validateJobSpec`.
pub(crate) fn validate_job_spec(spec: &JobSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, value) in [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        ("ttlSecondsAfterFinished", spec.ttl_seconds_after_finished.map(i64::from)),
        ("backoffLimitPerIndex", spec.backoff_limit_per_index.map(i64::from)),
    ] {
        if let Some(value) = value {
            errs.extend(nonnegative(value, &format!("spec.{field}")));
        }
    }
    if let Some(max_failed) = spec.max_failed_indexes {
        errs.extend(nonnegative(i64::from(max_failed), "spec.maxFailedIndexes"));
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required("spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"));
        }
    }
    if let Some(managed_by) = &spec.managed_by {
        errs.extend(validate_domain_prefixed_path(managed_by, "spec.managedBy"));
        if managed_by.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(too_long("spec.managedBy", MAX_MANAGED_BY_LENGTH));
        }
    }
    if let Some(mode) = spec.completion_mode.as_deref() {
        if mode != NON_INDEXED && mode != INDEXED {
            errs.push(FieldError::unsupported("spec.completionMode", mode, &[NON_INDEXED, INDEXED]));
        }
        if mode == INDEXED {
            errs.extend(validate_indexed_limits(spec));
        }
    }
    if spec.completion_mode.as_deref().is_none_or(|m| m == NON_INDEXED) {
        for (field, value) in
            [("backoffLimitPerIndex", spec.backoff_limit_per_index), ("maxFailedIndexes", spec.max_failed_indexes)]
        {
            if let Some(value) = value {
                errs.push(FieldError::invalid(
                    format!("spec.{field}"),
                    value.to_string(),
                    "requires indexed completion mode",
                ));
            }
        }
    }
    if spec.pod_failure_policy.is_some() {
        errs.extend(validate_pod_failure_policy(spec));
    }
    if spec.success_policy.is_some() {
        if is_indexed(spec) {
            errs.extend(validate_success_policy(spec));
        } else {
            errs.push(FieldError::invalid(
                "spec.successPolicy",
                "batch.SuccessPolicy{...}",
                "requires indexed completion mode",
            ));
        }
    }
    errs.extend(validate_pod_replacement_policy(spec));
    errs.extend(validate_pod_template_spec(&spec.template, "spec.template"));
    errs.extend(validate_job_restart_policy(spec));
    errs
}

/// The Indexed-only limits of `validateJobSpec`.
fn validate_indexed_limits(spec: &JobSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.completions.is_none() {
        errs.push(FieldError::required("spec.completions", format!("when completion mode is {INDEXED}")));
    }
    if let Some(parallelism) = spec.parallelism.filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED) {
        errs.push(FieldError::invalid(
            "spec.parallelism",
            parallelism.to_string(),
            format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED} when completion mode is {INDEXED}"),
        ));
    }
    if let (Some(completions), Some(max_failed)) = (spec.completions, spec.max_failed_indexes)
        && max_failed > completions
    {
        errs.push(FieldError::invalid(
            "spec.maxFailedIndexes",
            max_failed.to_string(),
            "must be less than or equal to completions",
        ));
    }
    if let Some(max_failed) = spec.max_failed_indexes.filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED) {
        errs.push(FieldError::invalid(
            "spec.maxFailedIndexes",
            max_failed.to_string(),
            format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED}"),
        ));
    }
    if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && spec.backoff_limit_per_index.is_some() {
        let high = format!("when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index");
        if spec.max_failed_indexes.is_none() {
            errs.push(FieldError::required(
                "spec.maxFailedIndexes",
                format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
            ));
        }
        if let Some(parallelism) = spec.parallelism.filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS) {
            errs.push(FieldError::invalid(
                "spec.parallelism",
                parallelism.to_string(),
                format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} {high}"),
            ));
        }
        if let Some(max_failed) = spec.max_failed_indexes.filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS)
        {
            errs.push(FieldError::invalid(
                "spec.maxFailedIndexes",
                max_failed.to_string(),
                format!("must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} {high}"),
            ));
        }
    }
    errs
}

fn validate_pod_replacement_policy(spec: &JobSpec) -> Vec<FieldError> {
    let Some(policy) = spec.pod_replacement_policy.as_deref() else { return Vec::new() };
    let path = "spec.podReplacementPolicy";
    if spec.pod_failure_policy.is_some() {
        if policy != POD_REPLACEMENT_FAILED {
            return vec![FieldError::unsupported(path, policy, &[POD_REPLACEMENT_FAILED])];
        }
    } else if policy != POD_REPLACEMENT_FAILED && policy != POD_REPLACEMENT_TERMINATING_OR_FAILED {
        return vec![FieldError::unsupported(
            path,
            policy,
            &[POD_REPLACEMENT_FAILED, POD_REPLACEMENT_TERMINATING_OR_FAILED],
        )];
    }
    Vec::new()
}

/// Jobs run pods to completion: `Always` (what an omitted policy defaults to) is refused.
fn validate_job_restart_policy(spec: &JobSpec) -> Vec<FieldError> {
    let path = "spec.template.spec.restartPolicy";
    let policy = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("");
    match policy {
        "" | "Always" => vec![FieldError::required(path, "valid values: \"OnFailure\", \"Never\"")],
        "OnFailure" | "Never" => {
            if spec.pod_failure_policy.is_some() && policy != "Never" {
                vec![FieldError::invalid(
                    path,
                    quote(policy),
                    "only \"Never\" is supported when podFailurePolicy is specified",
                )]
            } else {
                Vec::new()
            }
        }
        other => vec![FieldError::unsupported(path, other, &["OnFailure", "Never"])],
    }
}

/// Upstream `WarningsForJobSpec` (the Job part; pod-template warnings are not reproduced).
pub(crate) fn spec_warnings(spec: &JobSpec) -> Vec<String> {
    let mut warnings = Vec::new();
    if is_indexed(spec)
        && spec.completions.unwrap_or(0) > COMPLETIONS_SOFT_LIMIT
        && spec.parallelism.unwrap_or(0) > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS
    {
        warnings.push(
            "spec: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail"
                .to_string(),
        );
    }
    warnings
}
