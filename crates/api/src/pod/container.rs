//! Container-level pod validation: names, images, ports, env, volume mounts, pull policy, resources, security
//! context and probes (upstream `validateContainers`, `validateInitContainers`, `validateContainerCommon`).

use std::collections::BTreeSet;

use runlet_codec::Container;
use runlet_codec::k8s_openapi::api::core::v1::{ContainerPort, EnvVar, VolumeMount};

use super::probes::{ProbeKind, validate_probe};
use super::resources::validate_resources;
use super::security::validate_security_context;
use super::volumes::{local_descending_path, object_field_selector, resource_field_selector};
use crate::field::{FieldError, quote};
use crate::meta::{duplicate, not_found};
use crate::names;

fn dns_label(value: &str, path: &str) -> Vec<FieldError> {
    names::dns1123_label(value).into_iter().map(|m| FieldError::invalid(path, quote(value), m)).collect()
}

/// What every container of a pod is checked against.
pub(crate) struct PodContext<'a> {
    /// Names of the pod's valid volumes.
    pub volumes: &'a BTreeSet<String>,
    /// The pod runs in the host's user namespace.
    pub host_users: bool,
}

fn validate_probes(c: &Container, path: &str) -> Vec<FieldError> {
    let mut errs = validate_probe(c.liveness_probe.as_ref(), ProbeKind::Liveness, &format!("{path}.livenessProbe"));
    errs.extend(validate_probe(c.readiness_probe.as_ref(), ProbeKind::Readiness, &format!("{path}.readinessProbe")));
    errs.extend(validate_probe(c.startup_probe.as_ref(), ProbeKind::Startup, &format!("{path}.startupProbe")));
    errs
}

/// Regular containers: at least one, names unique, per-container rules.
pub(crate) fn validate_containers(containers: &[Container], pod: &PodContext<'_>, path: &str) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("{path}[{i}]");
        errs.extend(validate_container_common(c, pod, &path));
        if !seen.insert(c.name.as_str()) {
            errs.push(duplicate(format!("{path}.name"), quote(&c.name)));
        }
        errs.extend(validate_probes(c, &path));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(format!("{path}.restartPolicy"), "may not be set for non-init containers"));
        }
    }
    errs
}

/// Init containers: names unique across init and regular containers; probes and lifecycle only for restartable
/// (sidecar) init containers.
pub(crate) fn validate_init_containers(
    init: &[Container],
    regular: &[Container],
    pod: &PodContext<'_>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in init.iter().enumerate() {
        let path = format!("{path}[{i}]");
        errs.extend(validate_container_common(c, pod, &path));
        let mut restart_always = false;
        if let Some(policy) = c.restart_policy.as_deref() {
            restart_always = policy == "Always";
            if !restart_always {
                errs.push(FieldError::unsupported(format!("{path}.restartPolicy"), policy, &["Always"]));
            }
        }
        if seen.contains(c.name.as_str()) {
            errs.push(duplicate(format!("{path}.name"), quote(&c.name)));
        } else if !c.name.is_empty() {
            seen.insert(c.name.as_str());
        }
        if restart_always {
            errs.extend(validate_probes(c, &path));
        } else {
            let forbidden = [
                ("lifecycle", c.lifecycle.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ];
            for (field, set) in forbidden {
                if set {
                    errs.push(FieldError::forbidden(
                        format!("{path}.{field}"),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

fn validate_container_common(c: &Container, pod: &PodContext<'_>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if c.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        errs.extend(dns_label(&c.name, &format!("{path}.name")));
    }
    if c.image.as_deref().is_none_or(str::is_empty) {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    match c.termination_message_policy.as_deref().unwrap_or("") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(format!("{path}.terminationMessagePolicy"), "")),
        other => errs.push(FieldError::unsupported(
            format!("{path}.terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_ports(c.ports.as_deref().unwrap_or_default(), &format!("{path}.ports")));
    errs.extend(validate_env(c.env.as_deref().unwrap_or_default(), &format!("{path}.env")));
    errs.extend(validate_volume_mounts(
        c.volume_mounts.as_deref().unwrap_or_default(),
        pod.volumes,
        c,
        &format!("{path}.volumeMounts"),
    ));
    match c.image_pull_policy.as_deref().unwrap_or("") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(format!("{path}.imagePullPolicy"), "")),
        other => errs.push(FieldError::unsupported(
            format!("{path}.imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs.extend(validate_resources(c.resources.as_ref(), &format!("{path}.resources")));
    errs.extend(validate_security_context(
        c.security_context.as_ref(),
        pod.host_users,
        &format!("{path}.securityContext"),
    ));
    errs
}

fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream `IsValidPortName`.
pub(crate) fn port_name_messages(name: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if name.len() > 15 {
        msgs.push(names::max_len_message(15));
    }
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
        msgs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !name.bytes().any(|c| c.is_ascii_lowercase()) {
        msgs.push("must contain at least one letter (a-z)".to_string());
    }
    if name.contains("--") {
        msgs.push("must not contain consecutive hyphens".to_string());
    }
    if name.starts_with('-') || name.ends_with('-') {
        msgs.push("must not begin or end with a hyphen".to_string());
    }
    msgs
}

fn validate_ports(ports: &[ContainerPort], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names_seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("{path}[{i}]");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = port_name_messages(name);
            if !msgs.is_empty() {
                errs.extend(msgs.into_iter().map(|m| FieldError::invalid(format!("{path}.name"), quote(name), m)));
            } else if !names_seen.insert(name) {
                errs.push(duplicate(format!("{path}.name"), quote(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(format!("{path}.containerPort"), ""));
        } else if !(1..=65535).contains(&port.container_port) {
            errs.push(FieldError::invalid(
                format!("{path}.containerPort"),
                port.container_port.to_string(),
                inclusive_range(1, 65535),
            ));
        }
        if let Some(host_port) = port.host_port.filter(|p| *p != 0)
            && !(1..=65535).contains(&host_port)
        {
            errs.push(FieldError::invalid(
                format!("{path}.hostPort"),
                host_port.to_string(),
                inclusive_range(1, 65535),
            ));
        }
        match port.protocol.as_deref().unwrap_or("") {
            "TCP" | "UDP" | "SCTP" => {}
            "" => errs.push(FieldError::required(format!("{path}.protocol"), "")),
            other => errs.push(FieldError::unsupported(format!("{path}.protocol"), other, &["SCTP", "TCP", "UDP"])),
        }
    }
    errs
}

/// Field paths `env[].valueFrom.fieldRef` may name without a subscript (sorted, as upstream lists them).
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn validate_env(vars: &[EnvVar], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let path = format!("{path}[{i}]");
        if var.name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            errs.extend(
                names::env_var_name(&var.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{path}.name"), quote(&var.name), m)),
            );
        }
        errs.extend(validate_env_value_from(var, &format!("{path}.valueFrom")));
    }
    errs
}

fn validate_env_value_from(var: &EnvVar, path: &str) -> Vec<FieldError> {
    let Some(from) = var.value_from.as_ref() else { return Vec::new() };
    let mut errs = Vec::new();
    let mut sources = 0;
    if let Some(field_ref) = from.field_ref.as_ref() {
        sources += 1;
        errs.extend(object_field_selector(field_ref, &ENV_FIELD_PATHS, &format!("{path}.fieldRef")));
    }
    if let Some(resource_ref) = from.resource_field_ref.as_ref() {
        sources += 1;
        errs.extend(resource_field_selector(resource_ref, &format!("{path}.resourceFieldRef"), false));
    }
    for (field, selector) in [
        ("configMapKeyRef", from.config_map_key_ref.as_ref().map(|s| (&s.name, &s.key))),
        ("secretKeyRef", from.secret_key_ref.as_ref().map(|s| (&s.name, &s.key))),
    ] {
        let Some((name, key)) = selector else { continue };
        sources += 1;
        let path = format!("{path}.{field}");
        errs.extend(
            names::dns1123_subdomain(name)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{path}.name"), quote(name), m)),
        );
        if key.is_empty() {
            errs.push(FieldError::required(format!("{path}.key"), ""));
        }
    }
    let has_value = var.value.as_deref().is_some_and(|v| !v.is_empty());
    if sources == 0 {
        errs.push(FieldError::invalid(
            path,
            quote(""),
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if has_value {
        errs.push(FieldError::invalid(path, quote(""), "may not be specified when `value` is not empty"));
    } else if sources > 1 {
        errs.push(FieldError::invalid(path, quote(""), "may not have more than one field specified at a time"));
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<String>,
    container: &Container,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let item = format!("{path}[{i}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(format!("{item}.name"), ""));
        }
        if !volumes.contains(&m.name) {
            errs.push(not_found(format!("{item}.name"), quote(&m.name)));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(format!("{item}.mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(format!("{item}.mountPath"), quote(&m.mount_path), "must be unique"));
        }
        let sub_path = m.sub_path.as_deref().unwrap_or("");
        let sub_path_expr = m.sub_path_expr.as_deref().unwrap_or("");
        // Upstream reports these on the list path, not the item path.
        if !sub_path.is_empty() {
            errs.extend(local_descending_path(sub_path, &format!("{path}.subPath")));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{item}.subPathExpr"),
                    quote(sub_path_expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(sub_path_expr, &format!("{path}.subPathExpr")));
        }
        if let Some(propagation) = m.mount_propagation.as_deref() {
            errs.extend(validate_mount_propagation(propagation, container, &format!("{path}.mountPropagation")));
        }
        errs.extend(validate_recursive_read_only(m, &format!("{path}.recursiveReadOnly")));
    }
    errs
}

/// Upstream `validateMountPropagation` (reported on the list path, as upstream does).
fn validate_mount_propagation(propagation: &str, container: &Container, path: &str) -> Vec<FieldError> {
    const SUPPORTED: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];
    let mut errs = Vec::new();
    if !SUPPORTED.contains(&propagation) {
        errs.push(FieldError::unsupported(path, propagation, &SUPPORTED));
    }
    let privileged = container.security_context.as_ref().and_then(|s| s.privileged) == Some(true);
    if propagation == "Bidirectional" && !privileged {
        errs.push(FieldError::forbidden(
            path,
            "Bidirectional mount propagation is available only to privileged containers",
        ));
    }
    errs
}

/// Upstream `validateMountRecursiveReadOnly`.
fn validate_recursive_read_only(m: &VolumeMount, path: &str) -> Vec<FieldError> {
    const SUPPORTED: [&str; 3] = ["Disabled", "Enabled", "IfPossible"];
    match m.recursive_read_only.as_deref() {
        None | Some("Disabled") => Vec::new(),
        Some("Enabled" | "IfPossible") => {
            let mut errs = Vec::new();
            if m.read_only != Some(true) {
                errs.push(FieldError::forbidden(path, "may only be specified when readOnly is true"));
            }
            if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                errs.push(FieldError::forbidden(
                    path,
                    "may only be specified when mountPropagation is None or not specified",
                ));
            }
            errs
        }
        Some(other) => vec![FieldError::unsupported(path, other, &SUPPORTED)],
    }
}
