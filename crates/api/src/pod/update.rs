//! Pod updates: what may change in a pod's spec after creation (upstream `ValidatePodUpdate`), the status
//! subresource's rules (`ValidatePodStatusUpdate`), and the registry's update preparation.
//!
//! Deviation: runlet has no `pods/binding` subresource yet, so setting `spec.nodeName` once, from empty to a
//! node, is allowed through a plain update.

use crate::vocab::{PodConditionType, RestartPolicy};
use std::collections::BTreeMap;

use runlet_codec::k8s_openapi::api::core::v1::{ContainerStatus, Toleration};
use runlet_codec::{Container, Pod, PodSpec};
use serde_json::Value;

use super::validate::{validate_pod_metadata_and_spec, validate_tolerations};
use crate::field::{FieldError, quote};
use crate::meta::{self, IMMUTABLE_MESSAGE, gofmt};
use crate::names;

/// The fields upstream names in its refusal, joined by `,` as upstream joins them.
const UPDATABLE_POD_SPEC_FIELDS: [&str; 5] = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// Image changes are fine; adding or removing containers is not. `true` means stop validating.
fn validate_container_updates(new: &[Container], old: &[Container], path: &str) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (vec![FieldError::forbidden(path, "pod updates may not add or remove containers")], true);
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = c.image.as_deref().unwrap_or("");
        if image.is_empty() {
            errs.push(FieldError::required(format!("{path}[{i}].image"), ""));
        }
        if image.trim().len() != image.len() {
            errs.push(FieldError::invalid(
                format!("{path}[{i}].image"),
                quote(image),
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

/// Existing tolerations stay (their `tolerationSeconds` may change); new ones may be added.
fn validate_only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &str) -> Vec<FieldError> {
    for existing in old {
        let kept = new.iter().any(|t| {
            let mut probe = existing.clone();
            probe.toleration_seconds = t.toleration_seconds;
            same_toleration(&probe, t)
        });
        if !kept {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

fn same_toleration(a: &Toleration, b: &Toleration) -> bool {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    s(&a.key) == s(&b.key)
        && s(&a.operator) == s(&b.operator)
        && s(&a.value) == s(&b.value)
        && s(&a.effect) == s(&b.effect)
        && a.toleration_seconds == b.toleration_seconds
}

/// Scheduling gates may only be removed.
fn validate_only_deleted_gates(new: &PodSpec, old: &PodSpec, path: &str) -> Vec<FieldError> {
    let old_names: Vec<&str> = old.scheduling_gates.iter().flatten().map(|g| g.name.as_str()).collect();
    let mut added: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, gate) in new.scheduling_gates.iter().flatten().enumerate() {
        added.insert(gate.name.as_str(), i);
    }
    added.retain(|name, _| !old_names.contains(name));
    added
        .into_iter()
        .map(|(name, i)| {
            FieldError::forbidden(
                format!("{path}[{i}].name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            )
        })
        .collect()
}

fn spec_json(spec: &PodSpec) -> Value {
    let pod = Pod { spec: Some(spec.clone()), ..Default::default() };
    let encoded = runlet_codec::encode_pod(&pod).unwrap_or(Value::Null);
    meta::semantic_json(encoded.get("spec").cloned().unwrap_or(Value::Null))
}

/// A short `cmp.Diff`-like listing of the top-level spec fields that differ (upstream prints a full Go diff of
/// the internal structs; runlet prints JSON values of the changed fields only).
fn spec_diff(old: &Value, new: &Value) -> String {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  core.PodSpec{\n");
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        let mut name = key.clone();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        if let Some(a) = a {
            out.push_str(&format!("- \t{name}: {a},\n"));
        }
        if let Some(b) = b {
            out.push_str(&format!("+ \t{name}: {b},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

/// Gated pods may gain node-selector entries but not lose or change them.
fn node_selector_additions_only(new: &PodSpec, old: &PodSpec, path: &str) -> Vec<FieldError> {
    let empty = BTreeMap::new();
    let new_selector = new.node_selector.as_ref().unwrap_or(&empty);
    for (k, v) in old.node_selector.iter().flatten() {
        if new_selector.get(k) != Some(v) {
            return vec![FieldError::invalid(
                path,
                gofmt::string_map(new.node_selector.as_ref()),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            )];
        }
    }
    Vec::new()
}

/// Upstream `ValidatePodUpdate`, plus the binding deviation described in the module docs.
pub(crate) fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod_metadata_and_spec(new));
    let empty = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);

    let (container_errs, stop) =
        validate_container_updates(&new_spec.containers, &old_spec.containers, "spec.containers");
    errs.extend(container_errs);
    if stop {
        return errs;
    }
    let (init_errs, stop) = validate_container_updates(
        new_spec.init_containers.as_deref().unwrap_or_default(),
        old_spec.init_containers.as_deref().unwrap_or_default(),
        "spec.initContainers",
    );
    errs.extend(init_errs);
    if stop {
        return errs;
    }
    match (new_spec.active_deadline_seconds, old_spec.active_deadline_seconds) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline.to_string(),
                    format!("must be between 0 and {}, inclusive", i32::MAX),
                ));
                return errs;
            }
            if old_deadline.is_some_and(|old| old < new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline.to_string(),
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            gofmt::opt_number::<i64>(None),
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    errs.extend(validate_only_added_tolerations(
        new_spec.tolerations.as_deref().unwrap_or_default(),
        old_spec.tolerations.as_deref().unwrap_or_default(),
        "spec.tolerations",
    ));
    errs.extend(validate_only_deleted_gates(new_spec, old_spec, "spec.schedulingGates"));

    let old_json = spec_json(old_spec);
    if spec_json(new_spec) == old_json {
        return errs;
    }
    let mut munged = new_spec.clone();
    for (c, old_c) in munged.containers.iter_mut().zip(&old_spec.containers) {
        c.image.clone_from(&old_c.image);
    }
    for (c, old_c) in munged.init_containers.iter_mut().flatten().zip(old_spec.init_containers.iter().flatten()) {
        c.image.clone_from(&old_c.image);
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged.scheduling_gates.clone_from(&old_spec.scheduling_gates);
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    // Binding (see module docs).
    if old_spec.node_name.as_deref().is_none_or(str::is_empty) {
        munged.node_name.clone_from(&old_spec.node_name);
    }
    if old_spec.scheduling_gates.as_deref().is_some_and(|g| !g.is_empty())
        && munged.node_selector != old_spec.node_selector
    {
        errs.extend(node_selector_additions_only(&munged, old_spec, "spec.nodeSelector"));
        munged.node_selector.clone_from(&old_spec.node_selector);
    }
    let munged_json = spec_json(&munged);
    if munged_json != old_json {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                spec_diff(&old_json, &munged_json)
            ),
        ));
    }
    errs
}

/// Terminated containers of a pod that does not restart them may not come back (upstream
/// `ValidateContainerStateTransition`).
fn validate_state_transitions(
    new: &[ContainerStatus],
    old: &[ContainerStatus],
    path: &str,
    restart_policy: &str,
) -> Vec<FieldError> {
    if restart_policy == RestartPolicy::Always {
        return Vec::new();
    }
    let mut errs = Vec::new();
    for (i, old_status) in old.iter().enumerate() {
        let Some(terminated) = old_status.state.as_ref().and_then(|s| s.terminated.as_ref()) else { continue };
        if terminated.exit_code != 0 && restart_policy == RestartPolicy::OnFailure {
            continue;
        }
        for new_status in new {
            let still_terminated = new_status.state.as_ref().is_some_and(|s| s.terminated.is_some());
            if new_status.name == old_status.name && !still_terminated {
                errs.push(FieldError::forbidden(
                    format!("{path}[{i}].state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodStatusUpdate`, for the fields runlet's agent writes.
pub fn validate_pod_status_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    let new_status = new.status.clone().unwrap_or_default();
    let old_status = old.status.clone().unwrap_or_default();
    const SYSTEM_CONDITIONS: [PodConditionType; 3] =
        [PodConditionType::PodScheduled, PodConditionType::Ready, PodConditionType::Initialized];
    for (i, c) in new_status.conditions.iter().flatten().enumerate() {
        if !SYSTEM_CONDITIONS.iter().any(|t| c.type_ == *t) {
            // Upstream's path really starts at metadata here.
            let path = format!("metadata.conditions[{i}].Type");
            errs.extend(
                names::qualified_name(&c.type_).into_iter().map(|m| FieldError::invalid(&path, quote(&c.type_), m)),
            );
        }
    }
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    if node(new) != node(old) {
        errs.push(FieldError::forbidden("status.nodeName", "may not be changed directly"));
    }
    if new_status.qos_class.as_deref().unwrap_or("") != old_status.qos_class.as_deref().unwrap_or("") {
        errs.push(FieldError::invalid(
            "status.qosClass",
            quote(new_status.qos_class.as_deref().unwrap_or("")),
            IMMUTABLE_MESSAGE,
        ));
    }
    let restart_policy = old.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_default();
    errs.extend(validate_state_transitions(
        new_status.container_statuses.as_deref().unwrap_or_default(),
        old_status.container_statuses.as_deref().unwrap_or_default(),
        "status.containerStatuses",
        &restart_policy,
    ));
    errs
}

/// An update through the main resource keeps the stored status (upstream pod `PrepareForUpdate`).
pub fn prepare_for_pod_update(new: &mut Pod, old: &Pod) {
    new.status.clone_from(&old.status);
}

/// A status update takes only `status` from the request; everything else stays as stored. The request's
/// `resourceVersion` is kept so the caller's precondition check still sees it.
pub fn prepare_for_pod_status_update(new: &mut Pod, old: &Pod) {
    let status = new.status.take();
    let resource_version = new.metadata.resource_version.take();
    *new = Pod { status, ..old.clone() };
    new.metadata.resource_version = resource_version;
}
