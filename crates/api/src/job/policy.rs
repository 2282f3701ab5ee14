//! `spec.podFailurePolicy` and `spec.successPolicy` validation (upstream `validatePodFailurePolicy`,
//! `validateSuccessPolicy`).

use crate::vocab::ConditionStatus;
use std::collections::BTreeSet;

use runlet_codec::{
    JobSpec, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    SuccessPolicyRule,
};

use crate::field::{ErrorKind, FieldError, quote};
use crate::intervals::IndexSet;
use crate::meta::{duplicate, gofmt, nonnegative, too_long, too_many};
use crate::names;

const MAX_RULES: usize = 20;
const MAX_EXIT_CODE_VALUES: usize = 255;
const MAX_CONDITION_PATTERNS: usize = 20;
const MAX_SUCCESS_RULES: usize = 20;
const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;

/// Sorted, as upstream lists set members.
const ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];
const CONDITION_STATUSES: [&str; 3] =
    [ConditionStatus::False.as_str(), ConditionStatus::True.as_str(), ConditionStatus::Unknown.as_str()];
const OPERATORS: [&str; 2] = ["In", "NotIn"];

pub(crate) fn validate_pod_failure_policy(spec: &JobSpec) -> Vec<FieldError> {
    let Some(policy) = &spec.pod_failure_policy else { return Vec::new() };
    let rules_path = "spec.podFailurePolicy.rules";
    let mut errs = Vec::new();
    if policy.rules.len() > MAX_RULES {
        errs.push(too_many(rules_path, policy.rules.len(), MAX_RULES));
    }
    let pod_spec = spec.template.spec.as_ref();
    let container_names: BTreeSet<&str> = pod_spec
        .map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    for (i, rule) in policy.rules.iter().enumerate() {
        errs.extend(validate_rule(spec, rule, &format!("{rules_path}[{i}]"), &container_names));
    }
    errs
}

fn validate_rule(
    spec: &JobSpec,
    rule: &PodFailurePolicyRule,
    path: &str,
    containers: &BTreeSet<&str>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let action_path = format!("{path}.action");
    match rule.action.as_str() {
        "" => errs.push(FieldError::required(&action_path, format!("valid values: {}", gofmt::quoted_list(&ACTIONS)))),
        "FailIndex" if spec.backoff_limit_per_index.is_none() => errs.push(FieldError::invalid(
            &action_path,
            quote("FailIndex"),
            "requires the backoffLimitPerIndex to be set",
        )),
        action if !ACTIONS.contains(&action) => errs.push(FieldError::unsupported(&action_path, action, &ACTIONS)),
        _ => {}
    }
    let conditions = rule.on_pod_conditions.as_deref().unwrap_or_default();
    if let Some(on_exit_codes) = &rule.on_exit_codes {
        errs.extend(validate_on_exit_codes(on_exit_codes, &format!("{path}.onExitCodes"), containers));
    }
    if !conditions.is_empty() {
        errs.extend(validate_on_pod_conditions(conditions, &format!("{path}.onPodConditions")));
    }
    match (rule.on_exit_codes.is_some(), !conditions.is_empty()) {
        (true, true) => errs.push(FieldError::new(
            ErrorKind::Invalid,
            path,
            None,
            "specifying both OnExitCodes and OnPodConditions is not supported",
        )),
        (false, false) => errs.push(FieldError::new(
            ErrorKind::Invalid,
            path,
            None,
            "specifying one of OnExitCodes and OnPodConditions is required",
        )),
        _ => {}
    }
    errs
}

fn validate_on_pod_conditions(patterns: &[PodFailurePolicyOnPodConditionsPattern], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if patterns.len() > MAX_CONDITION_PATTERNS {
        errs.push(too_many(path, patterns.len(), MAX_CONDITION_PATTERNS));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let item = format!("{path}[{j}]");
        errs.extend(
            names::qualified_name(&pattern.type_)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{item}.type"), quote(&pattern.type_), m)),
        );
        let status_path = format!("{item}.status");
        match pattern.status.as_str() {
            "" => errs.push(FieldError::required(
                &status_path,
                format!("valid values: {}", gofmt::quoted_list(&CONDITION_STATUSES)),
            )),
            s if !CONDITION_STATUSES.contains(&s) => {
                errs.push(FieldError::unsupported(&status_path, s, &CONDITION_STATUSES))
            }
            _ => {}
        }
    }
    errs
}

fn validate_on_exit_codes(
    req: &PodFailurePolicyOnExitCodesRequirement,
    path: &str,
    containers: &BTreeSet<&str>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let operator_path = format!("{path}.operator");
    match req.operator.as_str() {
        "" => {
            errs.push(FieldError::required(&operator_path, format!("valid values: {}", gofmt::quoted_list(&OPERATORS))))
        }
        op if !OPERATORS.contains(&op) => errs.push(FieldError::unsupported(&operator_path, op, &OPERATORS)),
        _ => {}
    }
    if let Some(name) = req.container_name.as_deref()
        && !containers.contains(name)
    {
        errs.push(FieldError::invalid(
            format!("{path}.containerName"),
            quote(name),
            "must be one of the container or initContainer names in the pod template",
        ));
    }
    let values_path = format!("{path}.values");
    if req.values.is_empty() {
        errs.push(FieldError::invalid(&values_path, gofmt::int32_slice(&req.values), "at least one value is required"));
    } else if req.values.len() > MAX_EXIT_CODE_VALUES {
        errs.push(too_many(&values_path, req.values.len(), MAX_EXIT_CODE_VALUES));
    }
    let mut seen = BTreeSet::new();
    for (j, value) in req.values.iter().enumerate() {
        let item = format!("{values_path}[{j}]");
        if req.operator == "In" && *value == 0 {
            errs.push(FieldError::invalid(&item, "0", "must not be 0 for the In operator"));
        }
        if !seen.insert(*value) {
            errs.push(duplicate(&item, value.to_string()));
        }
    }
    if req.values.windows(2).any(|w| w[0] > w[1]) {
        errs.push(FieldError::invalid(&values_path, gofmt::int32_slice(&req.values), "must be ordered"));
    }
    errs
}

pub(crate) fn validate_success_policy(spec: &JobSpec) -> Vec<FieldError> {
    let Some(policy) = &spec.success_policy else { return Vec::new() };
    let rules_path = "spec.successPolicy.rules";
    let mut errs = Vec::new();
    if policy.rules.is_empty() {
        errs.push(FieldError::required(
            rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if policy.rules.len() > MAX_SUCCESS_RULES {
        errs.push(too_many(rules_path, policy.rules.len(), MAX_SUCCESS_RULES));
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        errs.extend(validate_success_rule(spec.completions, rule, &format!("{rules_path}[{i}]")));
    }
    errs
}

/// `completions` is required for Indexed Jobs (reported elsewhere); without it the bounds checks are skipped.
fn validate_success_rule(completions: Option<i32>, rule: &SuccessPolicyRule, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
        errs.push(FieldError::required(path, "at least one of succeededCount or succeededIndexes must be specified"));
    }
    let mut total_indexes: i64 = 0;
    if let Some(indexes) = rule.succeeded_indexes.as_deref() {
        let indexes_path = format!("{path}.succeededIndexes");
        if indexes.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
            errs.push(too_long(&indexes_path, MAX_SUCCEEDED_INDEXES_LENGTH));
        }
        if let Some(completions) = completions {
            match IndexSet::parse(indexes, completions) {
                Ok(set) => total_indexes = set.len() as i64,
                Err(e) => errs.push(FieldError::invalid(
                    &indexes_path,
                    quote(indexes),
                    format!("error parsing succeededIndexes: {e}"),
                )),
            }
        }
    }
    if let Some(count) = rule.succeeded_count {
        let count_path = format!("{path}.succeededCount");
        errs.extend(nonnegative(i64::from(count), &count_path));
        if let Some(completions) = completions
            && count > completions
        {
            errs.push(FieldError::invalid(
                &count_path,
                count.to_string(),
                format!("must be less than or equal to {completions} (the number of specified completions)"),
            ));
        }
        if rule.succeeded_indexes.is_some() && i64::from(count) > total_indexes {
            errs.push(FieldError::invalid(
                &count_path,
                count.to_string(),
                format!(
                    "must be less than or equal to {total_indexes} (the number of indexes in the specified succeededIndexes field)"
                ),
            ));
        }
    }
    errs
}
