//! Pod spec, pod template and pod create validation (upstream `ValidatePodSpec`, `ValidatePodTemplateSpec`,
//! `ValidatePodCreate`), with upstream's messages and in upstream's order. Container rules live in
//! [`super::container`].

use std::collections::BTreeSet;

use runlet_codec::k8s_openapi::api::core::v1::{PodSchedulingGate, Toleration};
use runlet_codec::{Pod, PodSpec, PodTemplateSpec};

use super::container::{PodContext, validate_containers, validate_init_containers};
use super::security::{host_users, validate_pod_security_context};
use super::volumes::validate_volumes;
use crate::field::{FieldError, quote};
use crate::meta::{self, duplicate};
use crate::names;
use crate::vocab::{TaintEffect, TolerationOperator};

fn checked(value: &str, path: &str, check: meta::NameCheck) -> Vec<FieldError> {
    check(value).into_iter().map(|m| FieldError::invalid(path, quote(value), m)).collect()
}

fn validate_enum(value: Option<&str>, path: &str, allowed: &[&str]) -> Vec<FieldError> {
    match value.unwrap_or("") {
        "" => vec![FieldError::required(path, "")],
        v if allowed.contains(&v) => Vec::new(),
        v => vec![FieldError::unsupported(path, v, allowed)],
    }
}

/// Upstream `ValidateTolerations`.
pub(crate) fn validate_tolerations(tolerations: &[Toleration], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let item = format!("{path}[{i}]");
        let key = t.key.as_deref().unwrap_or("");
        let operator = t.operator.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(checked(key, &format!("{item}.key"), names::qualified_name));
        }
        if key.is_empty() && operator != TolerationOperator::Exists {
            errs.push(FieldError::invalid(
                format!("{item}.operator"),
                quote(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != TaintEffect::NoExecute {
            errs.push(FieldError::invalid(
                format!("{item}.effect"),
                quote(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match (operator.is_empty()).then_some(TolerationOperator::Equal).or_else(|| TolerationOperator::parse(operator))
        {
            Some(TolerationOperator::Equal) => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(format!("{item}.operator"), quote(value), msgs.join(";")));
                }
            }
            Some(TolerationOperator::Exists) => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{item}.operator"),
                        quote(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            None => {
                let allowed: Vec<&str> = TolerationOperator::ALL.iter().map(|o| o.as_str()).collect();
                errs.push(FieldError::unsupported(format!("{item}.operator"), operator, &allowed))
            }
        }
        if !effect.is_empty() && TaintEffect::parse(effect).is_none() {
            let allowed: Vec<&str> = TaintEffect::ALL.iter().map(|e| e.as_str()).collect();
            errs.push(FieldError::unsupported(format!("{item}.effect"), effect, &allowed));
        }
    }
    errs
}

fn validate_scheduling_gates(gates: &[PodSchedulingGate], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, gate) in gates.iter().enumerate() {
        let item = format!("{path}[{i}]");
        errs.extend(checked(&gate.name, &item, names::qualified_name));
        if !seen.insert(gate.name.as_str()) {
            errs.push(duplicate(&item, quote(&gate.name)));
        }
    }
    errs
}

fn validate_dns_config(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    if spec.dns_policy.as_deref() != Some("None") {
        return Vec::new();
    }
    match &spec.dns_config {
        None => vec![FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None")],
        Some(config) if config.nameservers.as_deref().is_none_or(<[String]>::is_empty) => vec![FieldError::required(
            format!("{path}.nameservers"),
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        )],
        Some(_) => Vec::new(),
    }
}

/// Upstream `ValidatePodSpec` for the fields runlet cares about; `path` is where the spec sits (`spec`,
/// `spec.template.spec`). Negative `terminationGracePeriodSeconds` is accepted, as upstream does.
pub fn validate_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(format!("{path}.terminationGracePeriodSeconds"), ""));
    }
    let (volumes, volume_errs) =
        validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &format!("{path}.volumes"));
    errs.extend(volume_errs);
    let pod = PodContext { volumes: &volumes, host_users: host_users(spec) };
    errs.extend(validate_containers(&spec.containers, &pod, &format!("{path}.containers")));
    errs.extend(validate_init_containers(
        spec.init_containers.as_deref().unwrap_or_default(),
        &spec.containers,
        &pod,
        &format!("{path}.initContainers"),
    ));
    errs.extend(validate_enum(
        spec.restart_policy.as_deref(),
        &format!("{path}.restartPolicy"),
        &["Always", "OnFailure", "Never"],
    ));
    errs.extend(validate_enum(
        spec.dns_policy.as_deref(),
        &format!("{path}.dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ));
    errs.extend(meta::validate_labels(spec.node_selector.as_ref(), &format!("{path}.nodeSelector")));
    errs.extend(validate_pod_security_context(spec, &format!("{path}.securityContext")));
    errs.extend(validate_dns_config(spec, &format!("{path}.dnsConfig")));
    errs.extend(validate_scheduling_gates(
        spec.scheduling_gates.as_deref().unwrap_or_default(),
        &format!("{path}.schedulingGates"),
    ));
    for (field, value) in [("serviceAccountName", &spec.service_account_name), ("nodeName", &spec.node_name)] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(checked(value, &format!("{path}.{field}"), names::dns1123_subdomain));
        }
    }
    if let Some(deadline) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            deadline.to_string(),
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(checked(value, &format!("{path}.{field}"), names::dns1123_label));
        }
    }
    errs.extend(validate_tolerations(spec.tolerations.as_deref().unwrap_or_default(), &format!("{path}.tolerations")));
    if let Some(class) = spec.priority_class_name.as_deref().filter(|c| !c.is_empty()) {
        errs.extend(checked(class, &format!("{path}.priorityClassName"), names::dns1123_subdomain));
    }
    // Unlike the priority class, a present-but-empty runtime class name is an error.
    if let Some(class) = spec.runtime_class_name.as_deref() {
        errs.extend(checked(class, &format!("{path}.runtimeClassName"), names::dns1123_subdomain));
    }
    if let Some(policy) = spec.preemption_policy.as_deref() {
        errs.extend(validate_enum(
            Some(policy),
            &format!("{path}.preemptionPolicy"),
            &["PreemptLowerPriority", "Never"],
        ));
    }
    errs
}

/// Upstream `ValidatePodTemplateSpec`: template labels and annotations, then the spec.
pub fn validate_pod_template_spec(template: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let metadata = template.metadata.as_ref();
    let mut errs = meta::validate_labels(metadata.and_then(|m| m.labels.as_ref()), &format!("{path}.labels"));
    errs.extend(meta::validate_annotations(
        metadata.and_then(|m| m.annotations.as_ref()),
        &format!("{path}.annotations"),
    ));
    let empty = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&empty);
    errs.extend(validate_pod_spec(spec, &format!("{path}.spec")));
    if spec.ephemeral_containers.as_deref().is_some_and(|e| !e.is_empty()) {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Metadata and spec of a pod, create or update (upstream `validatePodMetadataAndSpec`).
pub(crate) fn validate_pod_metadata_and_spec(pod: &Pod) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&pod.metadata, true, names::dns1123_subdomain);
    let empty = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    errs.extend(validate_pod_spec(spec, "spec"));
    for (list, field) in [(Some(&spec.containers), "containers"), (spec.init_containers.as_ref(), "initContainers")] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.len() != image.trim().len() {
                errs.push(FieldError::invalid(
                    format!("spec.{field}[{i}].image"),
                    quote(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodCreate`.
pub(crate) fn validate_pod_create(pod: &Pod) -> Vec<FieldError> {
    let mut errs = validate_pod_metadata_and_spec(pod);
    if let Some(spec) = &pod.spec {
        if spec.ephemeral_containers.as_deref().is_some_and(|e| !e.is_empty()) {
            errs.push(FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create"));
        }
        if spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
            && spec.scheduling_gates.as_deref().is_some_and(|g| !g.is_empty())
        {
            errs.push(FieldError::forbidden(
                "spec.nodeName",
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
    }
    errs
}
