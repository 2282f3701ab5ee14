//! The environment of a container process, resolved the way the kubelet resolves it: `env` in order, each
//! plain value `$(VAR)`-expanded against the variables defined before it, `valueFrom.fieldRef` read from the
//! pod (downward API). Sources this agent cannot read (Secrets, ConfigMaps, resource fields) are errors that
//! keep the container waiting with `CreateContainerConfigError`, as a missing ConfigMap does on a kubelet.

use std::collections::BTreeMap;

use runlet_codec::{Container, EnvVar, Pod};

use super::expand::expand;

/// Node-side facts the downward API can expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
}

/// Why an environment could not be built; the text is the container's waiting message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    #[error("env {name}: {source_kind} is not supported by the runlet process runtime")]
    UnsupportedSource { name: String, source_kind: &'static str },
    #[error("envFrom is not supported by the runlet process runtime")]
    EnvFrom,
}

/// The container's own variables (not the base `PATH`/`HOSTNAME`), in definition order, later definitions
/// of a name replacing earlier ones in place.
pub fn container_env(pod: &Pod, container: &Container, node: &NodeFacts) -> Result<Vec<(String, String)>, EnvError> {
    if container.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(EnvError::EnvFrom);
    }
    let mut vars: Vec<(String, String)> = Vec::new();
    for var in container.env.iter().flatten() {
        let value = resolve(pod, var, node, &vars)?;
        match vars.iter_mut().find(|(name, _)| *name == var.name) {
            Some(slot) => slot.1 = value,
            None => vars.push((var.name.clone(), value)),
        }
    }
    Ok(vars)
}

fn resolve(pod: &Pod, var: &EnvVar, node: &NodeFacts, defined: &[(String, String)]) -> Result<String, EnvError> {
    let Some(from) = &var.value_from else {
        let value = var.value.as_deref().unwrap_or("");
        return Ok(expand(value, |name| lookup(defined, name)));
    };
    let unsupported = |source_kind| EnvError::UnsupportedSource { name: var.name.clone(), source_kind };
    if let Some(field) = &from.field_ref {
        return field_value(pod, &field.field_path, node);
    }
    if from.resource_field_ref.is_some() {
        return Err(unsupported("resourceFieldRef"));
    }
    if from.config_map_key_ref.is_some() {
        return Err(unsupported("configMapKeyRef"));
    }
    if from.secret_key_ref.is_some() {
        return Err(unsupported("secretKeyRef"));
    }
    Ok(String::new())
}

fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// `command` and `args` with `$(VAR)` expanded against the container's variables.
pub fn expand_command(container: &Container, vars: &[(String, String)]) -> Vec<String> {
    container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|s| expand(s, |name| lookup(vars, name)))
        .collect()
}

/// The value of a downward-API field path (`metadata.labels['app']`, `status.podIP`, ...).
pub fn field_value(pod: &Pod, path: &str, node: &NodeFacts) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_else(|| node.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => node.host_ip.clone(),
        "status.podIP" | "status.podIPs" => node.pod_ip.clone(),
        _ => {
            let subscript = |prefix: &str| path.strip_prefix(prefix).and_then(|rest| rest.strip_suffix("']"));
            if let Some(key) = subscript("metadata.labels['") {
                meta.labels.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else if let Some(key) = subscript("metadata.annotations['") {
                meta.annotations.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else {
                return Err(EnvError::UnsupportedFieldPath(path.to_string()));
            }
        }
    };
    Ok(value)
}

/// All labels or annotations as the downward API renders them: sorted `key="value"` lines.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", runlet_api::field::quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{EnvVarSource, ObjectFieldSelector, ObjectMeta, PodSpec};

    fn node() -> NodeFacts {
        NodeFacts { node_name: "node-a".into(), host_ip: "10.0.0.1".into(), pod_ip: "127.0.0.1".into() }
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("pi-x".into()),
                namespace: Some("default".into()),
                uid: Some("u-1".into()),
                labels: Some([("app".to_string(), "pi".to_string()), ("tier".to_string(), "a\"b".to_string())].into()),
                annotations: Some([("batch.kubernetes.io/job-completion-index".to_string(), "3".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-a".into()),
                service_account_name: Some("default".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn value(name: &str, value: &str) -> EnvVar {
        EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
    }

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: path.into(), api_version: None }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn field_paths_table() {
        let cases = [
            ("metadata.name", "pi-x"),
            ("metadata.namespace", "default"),
            ("metadata.uid", "u-1"),
            ("metadata.labels['app']", "pi"),
            ("metadata.labels['missing']", ""),
            ("metadata.annotations['batch.kubernetes.io/job-completion-index']", "3"),
            ("metadata.labels", "app=\"pi\"\ntier=\"a\\\"b\""),
            ("spec.nodeName", "node-a"),
            ("spec.serviceAccountName", "default"),
            ("status.podIP", "127.0.0.1"),
            ("status.hostIP", "10.0.0.1"),
        ];
        for (path, want) in cases {
            assert_eq!(field_value(&pod(), path, &node()).as_deref(), Ok(want), "path {path}");
        }
        assert_eq!(
            field_value(&pod(), "spec.containers", &node()),
            Err(EnvError::UnsupportedFieldPath("spec.containers".into()))
        );
    }

    #[test]
    fn env_is_expanded_in_order_like_the_kubelet() {
        let container = Container {
            name: "c".into(),
            env: Some(vec![
                value("A", "a"),
                value("B", "$(A)-b"),
                value("C", "$(D)-c"),
                value("D", "d"),
                field("POD", "metadata.name"),
                value("E", "$(POD)/$$(A)"),
                value("A", "again"),
            ]),
            command: Some(vec!["echo".into(), "$(A)".into()]),
            args: Some(vec!["$(B)".into(), "$(NOPE)".into(), "$$(B)".into()]),
            ..Default::default()
        };
        let vars = container_env(&pod(), &container, &node()).unwrap();
        let want: Vec<(String, String)> =
            [("A", "again"), ("B", "a-b"), ("C", "$(D)-c"), ("D", "d"), ("POD", "pi-x"), ("E", "pi-x/$(A)")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(vars, want);
        assert_eq!(expand_command(&container, &vars), ["echo", "again", "a-b", "$(NOPE)", "$(B)"]);
    }

    #[test]
    fn unsupported_sources_are_config_errors() {
        let mut secret = field("S", "x");
        secret.value_from = Some(EnvVarSource { secret_key_ref: Some(Default::default()), ..Default::default() });
        let container = Container { name: "c".into(), env: Some(vec![secret]), ..Default::default() };
        assert_eq!(
            container_env(&pod(), &container, &node()).unwrap_err().to_string(),
            "env S: secretKeyRef is not supported by the runlet process runtime"
        );
        let container = Container { name: "c".into(), env_from: Some(vec![Default::default()]), ..Default::default() };
        assert_eq!(container_env(&pod(), &container, &node()), Err(EnvError::EnvFrom));
    }
}
