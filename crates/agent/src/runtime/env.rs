//! The environment of a container process, resolved the way the kubelet resolves it: `envFrom` sources first
//! (ConfigMaps and Secrets, with their prefix), then `env` in order, each plain value `$(VAR)`-expanded
//! against the variables defined before it, `valueFrom` read from the pod (downward API) or from a
//! ConfigMap or Secret. A missing source that is not optional keeps the container waiting with
//! `CreateContainerConfigError` (the worker tries again until it appears). The expanded environment is
//! bounded ([`MAX_ENV_BYTES`]), so self-referencing values cannot make the agent allocate without end.

use std::collections::BTreeMap;

use runlet_api::expand::{TooLong, expand_bounded};
use runlet_codec::{Container, EnvVar, Pod};

use super::resources::{Allocatable, resource_value};
use super::sources::{Kind, Sources};

/// The most bytes a container's own variables (names, values) and its expanded command may take.
pub const MAX_ENV_BYTES: usize = 1024 * 1024;

/// Node-side facts the downward API can expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
    /// For `resourceFieldRef` limits a container leaves unset.
    pub allocatable: Allocatable,
}

#[cfg(test)]
impl NodeFacts {
    /// A node for tests: pod IP loopback, 1 core and 1 GiB allocatable.
    pub(crate) fn example(node_name: &str, host_ip: &str) -> NodeFacts {
        NodeFacts {
            node_name: node_name.into(),
            host_ip: host_ip.into(),
            pod_ip: "127.0.0.1".into(),
            allocatable: Allocatable { cpu_millis: 1000, memory_bytes: 1 << 30, ephemeral_storage_bytes: 0 },
        }
    }
}

/// Why an environment could not be built; the text is the container's waiting message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A missing object or key (the kubelet's own words).
    #[error("{0}")]
    Missing(String),
    #[error("the environment of container {container:?} is larger than {limit} bytes after $(VAR) expansion")]
    TooLarge { container: String, limit: usize },
}

/// Variables in definition order.
pub type Vars = Vec<(String, String)>;

/// The container's own variables (not the base `PATH`/`HOSTNAME`), in definition order, later definitions
/// of a name replacing earlier ones in place; and the names `envFrom` skipped as invalid.
pub fn container_env(
    pod: &Pod,
    container: &Container,
    node: &NodeFacts,
    sources: &Sources,
) -> Result<(Vars, Vec<String>), EnvError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut budget = MAX_ENV_BYTES;
    let too_large = || EnvError::TooLarge { container: container.name.clone(), limit: MAX_ENV_BYTES };
    let define = |vars: &mut Vec<(String, String)>, budget: &mut usize, name: String, value: String| {
        *budget = budget.checked_sub(name.len() + value.len()).ok_or_else(too_large)?;
        match vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
        Ok::<(), EnvError>(())
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, optional) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(r), _) => (Kind::ConfigMap, r.name.clone(), r.optional == Some(true)),
            (None, Some(r)) => (Kind::Secret, r.name.clone(), r.optional == Some(true)),
            (None, None) => continue,
        };
        let data = match sources.data(kind, &name) {
            Ok(data) => data,
            Err(_) if optional => continue,
            Err(message) => return Err(EnvError::Missing(message)),
        };
        let mut invalid = Vec::new();
        for (key, value) in data {
            let var = format!("{prefix}{key}");
            if !runlet_api::names::env_var_name(&var).is_empty() {
                invalid.push(key);
                continue;
            }
            define(&mut vars, &mut budget, var, String::from_utf8_lossy(&value).into_owned())?;
        }
        if !invalid.is_empty() {
            warnings.push(format!(
                "Keys [{}] from the EnvFrom {} {}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", "),
                match kind {
                    Kind::ConfigMap => "configMap",
                    Kind::Secret => "secret",
                },
                sources.namespace
            ));
        }
    }
    for var in container.env.iter().flatten() {
        match resolve(pod, container, var, node, &vars, sources, budget) {
            Ok(Some(value)) => define(&mut vars, &mut budget, var.name.clone(), value)?,
            Ok(None) => {}
            Err(Resolve::TooLong) => return Err(too_large()),
            Err(Resolve::Env(e)) => return Err(e),
        }
    }
    Ok((vars, warnings))
}

enum Resolve {
    TooLong,
    Env(EnvError),
}

impl From<TooLong> for Resolve {
    fn from(_: TooLong) -> Self {
        Resolve::TooLong
    }
}

impl From<EnvError> for Resolve {
    fn from(e: EnvError) -> Self {
        Resolve::Env(e)
    }
}

/// A variable's value; `None` when an optional source is missing (the variable is then not set at all).
fn resolve(
    pod: &Pod,
    container: &Container,
    var: &EnvVar,
    node: &NodeFacts,
    defined: &[(String, String)],
    sources: &Sources,
    budget: usize,
) -> Result<Option<String>, Resolve> {
    let Some(from) = &var.value_from else {
        let value = var.value.as_deref().unwrap_or("");
        return Ok(Some(expand_bounded(value, |name| lookup(defined, name), budget)?));
    };
    if let Some(field) = &from.field_ref {
        return Ok(Some(field_value(pod, &field.field_path, node)?));
    }
    if let Some(selector) = &from.resource_field_ref {
        let value = resource_value(pod, Some(container), selector, &node.allocatable).map_err(EnvError::Missing)?;
        return Ok(Some(value));
    }
    let (kind, name, key, optional) = match (&from.config_map_key_ref, &from.secret_key_ref) {
        (Some(r), _) => (Kind::ConfigMap, &r.name, &r.key, r.optional == Some(true)),
        (None, Some(r)) => (Kind::Secret, &r.name, &r.key, r.optional == Some(true)),
        (None, None) => return Ok(Some(String::new())),
    };
    let data = match sources.data(kind, name) {
        Ok(data) => data,
        Err(_) if optional => return Ok(None),
        Err(message) => return Err(EnvError::Missing(message).into()),
    };
    match data.get(key) {
        Some(value) => Ok(Some(String::from_utf8_lossy(value).into_owned())),
        None if optional => Ok(None),
        None => {
            Err(EnvError::Missing(format!("couldn't find key {key} in {} {}/{name}", kind.title(), sources.namespace))
                .into())
        }
    }
}

fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// `command` and `args` with `$(VAR)` expanded against the container's variables, bounded like the
/// environment.
pub fn expand_command(container: &Container, vars: &[(String, String)]) -> Result<Vec<String>, EnvError> {
    let mut budget = MAX_ENV_BYTES;
    let mut argv = Vec::new();
    for s in container.command.iter().flatten().chain(container.args.iter().flatten()) {
        let arg = expand_bounded(s, |name| lookup(vars, name), budget)
            .map_err(|_| EnvError::TooLarge { container: container.name.clone(), limit: MAX_ENV_BYTES })?;
        budget -= arg.len();
        argv.push(arg);
    }
    Ok(argv)
}

/// `$(VAR)` in a `subPathExpr`, against the container's variables.
pub fn expand_value(value: &str, vars: &[(String, String)]) -> String {
    expand_bounded(value, |name| lookup(vars, name), MAX_ENV_BYTES).unwrap_or_default()
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
        NodeFacts::example("node-a", "10.0.0.1")
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
        let (vars, _) = container_env(&pod(), &container, &node(), &Sources::default()).unwrap();
        let want: Vec<(String, String)> =
            [("A", "again"), ("B", "a-b"), ("C", "$(D)-c"), ("D", "d"), ("POD", "pi-x"), ("E", "pi-x/$(A)")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(vars, want);
        assert_eq!(expand_command(&container, &vars).unwrap(), ["echo", "again", "a-b", "$(NOPE)", "$(B)"]);
    }

    fn sources() -> Sources {
        use runlet_codec::k8s_openapi::ByteString;
        use runlet_codec::{ConfigMap, Secret};
        let cm = ConfigMap {
            data: Some([("mode".to_string(), "fast".to_string()), ("a=b".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        let secret = Secret {
            data: Some([("password".to_string(), ByteString(b"s3cret".to_vec()))].into()),
            ..Default::default()
        };
        Sources {
            namespace: "default".into(),
            config_maps: [("settings".to_string(), Some(cm)), ("gone".to_string(), None)].into(),
            secrets: [("creds".to_string(), Some(secret))].into(),
        }
    }

    fn key_ref(name: &str, kind: Kind, object: &str, key: &str, optional: bool) -> EnvVar {
        use runlet_codec::k8s_openapi::api::core::v1::{ConfigMapKeySelector, SecretKeySelector};
        let mut var = value(name, "");
        var.value = None;
        var.value_from = Some(match kind {
            Kind::ConfigMap => EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: object.into(),
                    key: key.into(),
                    optional: Some(optional),
                }),
                ..Default::default()
            },
            Kind::Secret => EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: object.into(),
                    key: key.into(),
                    optional: Some(optional),
                }),
                ..Default::default()
            },
        });
        var
    }

    #[test]
    fn config_maps_and_secrets_like_the_kubelet() {
        use runlet_codec::k8s_openapi::api::core::v1::{ConfigMapEnvSource, EnvFromSource, SecretEnvSource};
        let container = Container {
            name: "c".into(),
            env_from: Some(vec![
                EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource { name: "settings".into(), optional: None }),
                    prefix: Some("CFG_".into()),
                    ..Default::default()
                },
                EnvFromSource {
                    secret_ref: Some(SecretEnvSource { name: "missing".into(), optional: Some(true) }),
                    ..Default::default()
                },
            ]),
            env: Some(vec![
                key_ref("MODE", Kind::ConfigMap, "settings", "mode", false),
                key_ref("PASS", Kind::Secret, "creds", "password", false),
                key_ref("OPT", Kind::ConfigMap, "gone", "x", true),
                value("BOTH", "$(MODE):$(CFG_mode)"),
            ]),
            ..Default::default()
        };
        let (vars, warnings) = container_env(&pod(), &container, &node(), &sources()).unwrap();
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, [("CFG_mode", "fast"), ("MODE", "fast"), ("PASS", "s3cret"), ("BOTH", "fast:fast")]);
        assert_eq!(
            warnings,
            [
                "Keys [a=b] from the EnvFrom configMap default/settings were skipped since they are considered invalid environment variable names."
            ]
        );

        let cases = [
            (key_ref("X", Kind::ConfigMap, "gone", "x", false), "configmap \"gone\" not found"),
            (key_ref("X", Kind::Secret, "nope", "x", false), "secret \"nope\" not found"),
            (key_ref("X", Kind::Secret, "creds", "user", false), "couldn't find key user in Secret default/creds"),
        ];
        for (var, want) in cases {
            let c = Container { name: "c".into(), env: Some(vec![var]), ..Default::default() };
            assert_eq!(container_env(&pod(), &c, &node(), &sources()).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn self_referencing_values_hit_the_cap() {
        let mut env = vec![value("V0", "0123456789")];
        for i in 1..1000 {
            env.push(value(&format!("V{i}"), &format!("$(V{})$(V{})", i - 1, i - 1)));
        }
        let container = Container { name: "c".into(), env: Some(env), ..Default::default() };
        assert_eq!(
            container_env(&pod(), &container, &node(), &Sources::default()).unwrap_err().to_string(),
            "the environment of container \"c\" is larger than 1048576 bytes after $(VAR) expansion"
        );
    }
}
