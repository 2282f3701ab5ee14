//! Container-level pod validation: names, images, ports, env, volume mounts, pull policy and resources
//! (upstream `validateContainers`, `validateInitContainers`, `validateContainerCommon`).

use std::collections::BTreeSet;

use runlet_codec::Container;
use runlet_codec::k8s_openapi::api::core::v1::{ContainerPort, EnvVar, VolumeMount};

use super::resources::validate_resources;
use crate::field::{FieldError, quote};
use crate::meta::{duplicate, not_found};
use crate::names;

fn dns_label(value: &str, path: &str) -> Vec<FieldError> {
    names::dns1123_label(value).into_iter().map(|m| FieldError::invalid(path, quote(value), m)).collect()
}

/// Regular containers: at least one, names unique, per-container rules.
pub(crate) fn validate_containers(containers: &[Container], volumes: &BTreeSet<String>, path: &str) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("{path}[{i}]");
        errs.extend(validate_container_common(c, volumes, &path));
        if !seen.insert(c.name.as_str()) {
            errs.push(duplicate(format!("{path}.name"), quote(&c.name)));
        }
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
    volumes: &BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in init.iter().enumerate() {
        let path = format!("{path}[{i}]");
        errs.extend(validate_container_common(c, volumes, &path));
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
        if !restart_always {
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

fn validate_container_common(c: &Container, volumes: &BTreeSet<String>, path: &str) -> Vec<FieldError> {
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
        volumes,
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
    errs
}

fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream `IsValidPortName`.
fn port_name_messages(name: &str) -> Vec<String> {
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

/// Field labels the v1 downward API converts (upstream `ConvertDownwardAPIFieldLabel`).
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (head, key) = inner.split_once("['")?;
    Some((head, key))
}

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
        let path = format!("{path}.fieldRef");
        let api_version = field_ref.api_version.as_deref().unwrap_or("");
        if api_version.is_empty() {
            errs.push(FieldError::required(format!("{path}.apiVersion"), ""));
        } else if field_ref.field_path.is_empty() {
            errs.push(FieldError::required(format!("{path}.fieldPath"), ""));
        } else {
            errs.extend(validate_field_ref(api_version, &field_ref.field_path, &path));
        }
    }
    if let Some(resource_ref) = from.resource_field_ref.as_ref() {
        sources += 1;
        if resource_ref.resource.is_empty() {
            errs.push(FieldError::required(format!("{path}.resourceFieldRef.resource"), ""));
        }
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

fn validate_field_ref(api_version: &str, field_path: &str, path: &str) -> Vec<FieldError> {
    let fp_path = format!("{path}.fieldPath");
    let base = split_subscript(field_path).map_or(field_path, |(head, _)| head);
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if !CONVERTIBLE_FIELD_PATHS.contains(&base) {
        Some(format!("field label not supported: {field_path}"))
    } else {
        None
    };
    if let Some(err) = conversion_error {
        return vec![FieldError::invalid(fp_path, quote(field_path), format!("error converting fieldPath: {err}"))];
    }
    match split_subscript(field_path) {
        Some((head, key)) => {
            let key = if head == "metadata.annotations" { key.to_lowercase() } else { key.to_string() };
            match head {
                "metadata.annotations" | "metadata.labels" => {
                    names::qualified_name(&key).into_iter().map(|m| FieldError::invalid(path, quote(&key), m)).collect()
                }
                _ => vec![FieldError::invalid(path, quote(head), "does not support subscript")],
            }
        }
        None if !ENV_FIELD_PATHS.contains(&field_path) => {
            vec![FieldError::unsupported(fp_path, field_path, &ENV_FIELD_PATHS)]
        }
        None => Vec::new(),
    }
}

fn validate_volume_mounts(mounts: &[VolumeMount], volumes: &BTreeSet<String>, path: &str) -> Vec<FieldError> {
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
            errs.extend(validate_local_descending_path(sub_path, &format!("{path}.subPath")));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{item}.subPathExpr"),
                    quote(sub_path_expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(sub_path_expr, &format!("{path}.subPathExpr")));
        }
    }
    errs
}

/// Upstream `validateLocalDescendingPath`: relative, no `..` component.
fn validate_local_descending_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, quote(target), "must be a relative path"));
    }
    if target.split(['/', '\\']).any(|part| part == "..") {
        errs.push(FieldError::invalid(path, quote(target), "must not contain '..'"));
    }
    errs
}
