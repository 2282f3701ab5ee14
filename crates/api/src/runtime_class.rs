//! RuntimeClass (`node.k8s.io/v1`): validation (upstream `ValidateRuntimeClass` and its update rule), the
//! classes every runlet cluster has, and what the RuntimeClass admission plugin does to a pod that names one.

use std::collections::BTreeMap;

use runlet_codec::k8s_openapi::api::core::v1::Toleration;
use runlet_codec::{PodSpec, ResourceRequirements, RuntimeClass};

use crate::field::{FieldError, quote};
use crate::meta::{self, IMMUTABLE_MESSAGE, dedupe};
use crate::names;

/// The handler of today's runtime: the container's command runs as a process of the node, the image recorded.
pub const HANDLER_PROCESS: &str = "process";
/// The handler that pulls the container's image and runs it in an OCI container.
pub const HANDLER_OCI: &str = "oci";
/// The handlers every runlet node has; each has a RuntimeClass of the same name.
pub const HANDLERS: [&str; 2] = [HANDLER_PROCESS, HANDLER_OCI];

/// Upstream `ValidateRuntimeClass`: metadata, a DNS-label handler, the overhead as resource limits, the
/// scheduling node selector as labels and its tolerations.
pub fn validate_runtime_class(rc: &RuntimeClass) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&rc.metadata, false, names::dns1123_subdomain);
    for msg in names::dns1123_label(&rc.handler) {
        errs.push(FieldError::invalid("handler", quote(&rc.handler), msg));
    }
    if let Some(overhead) = &rc.overhead {
        let as_limits = ResourceRequirements { limits: overhead.pod_fixed.clone(), ..Default::default() };
        errs.extend(crate::pod::validate_resources(Some(&as_limits), "overhead"));
    }
    if let Some(scheduling) = &rc.scheduling {
        errs.extend(meta::validate_labels(scheduling.node_selector.as_ref(), "scheduling.nodeSelector"));
        errs.extend(crate::pod::validate_tolerations(
            scheduling.tolerations.as_deref().unwrap_or_default(),
            "scheduling.tolerations",
        ));
    }
    dedupe(errs)
}

/// Upstream `ValidateRuntimeClassUpdate`: metadata rules and an immutable handler (the rest of the object is
/// not validated again, as upstream).
pub fn validate_runtime_class_update(new: &RuntimeClass, old: &RuntimeClass) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    if new.handler != old.handler {
        errs.push(FieldError::invalid("handler", quote(&new.handler), IMMUTABLE_MESSAGE));
    }
    dedupe(errs)
}

/// Why the RuntimeClass admission plugin refuses a pod; the text follows `pods "x" is forbidden: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodRejected {
    #[error("pod rejected: RuntimeClass {} not found", quote(.0))]
    ClassNotFound(String),
    #[error("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")]
    OverheadMismatch,
    #[error("pod rejected: Overhead set without corresponding RuntimeClass defined Overhead")]
    OverheadWithoutClass,
    #[error(
        "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {class_value}; pod.spec.nodeSelector[{key}] = {pod_value}"
    )]
    NodeSelectorConflict { key: String, class_value: String, pod_value: String },
}

/// What the RuntimeClass admission plugin does to a pod being created: `class` is the RuntimeClass the pod's
/// `runtimeClassName` names, `None` when there is none of that name. The class's fixed overhead becomes the
/// pod's, and its scheduling constraints are added to the pod's node selector and tolerations.
pub fn admit_pod(spec: &mut PodSpec, class: Option<&RuntimeClass>) -> Result<(), PodRejected> {
    let Some(name) = spec.runtime_class_name.clone() else {
        return match spec.overhead {
            Some(_) => Err(PodRejected::OverheadWithoutClass),
            None => Ok(()),
        };
    };
    let Some(class) = class else { return Err(PodRejected::ClassNotFound(name)) };
    if let Some(fixed) = class.overhead.as_ref().and_then(|o| o.pod_fixed.as_ref()) {
        match &spec.overhead {
            Some(existing) if existing != fixed => return Err(PodRejected::OverheadMismatch),
            _ => spec.overhead = Some(fixed.clone()),
        }
    } else if spec.overhead.is_some() {
        return Err(PodRejected::OverheadWithoutClass);
    }
    let Some(scheduling) = &class.scheduling else { return Ok(()) };
    if let Some(class_selector) = &scheduling.node_selector {
        let pod_selector = spec.node_selector.get_or_insert_with(BTreeMap::new);
        for (key, class_value) in class_selector {
            match pod_selector.get(key) {
                Some(pod_value) if pod_value != class_value => {
                    return Err(PodRejected::NodeSelectorConflict {
                        key: key.clone(),
                        class_value: class_value.clone(),
                        pod_value: pod_value.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    pod_selector.insert(key.clone(), class_value.clone());
                }
            }
        }
    }
    if let Some(class_tolerations) = &scheduling.tolerations {
        let tolerations: &mut Vec<Toleration> = spec.tolerations.get_or_insert_with(Vec::new);
        for t in class_tolerations {
            if !tolerations.contains(t) {
                tolerations.push(t.clone());
            }
        }
    }
    Ok(())
}

/// The RuntimeClass the server creates for a handler of every node: named as the handler.
pub fn builtin_class(handler: &str) -> RuntimeClass {
    RuntimeClass {
        metadata: runlet_codec::ObjectMeta { name: Some(handler.to_string()), ..Default::default() },
        handler: handler.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::k8s_openapi::api::node::v1::{Overhead, Scheduling};
    use runlet_codec::{ObjectMeta, Quantity};

    fn class(name: &str, handler: &str) -> RuntimeClass {
        RuntimeClass {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            handler: handler.into(),
            ..Default::default()
        }
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(FieldError::cause_message).map(|m| m.to_string()).collect()
    }

    #[test]
    fn validation_follows_upstream() {
        let cases: Vec<(RuntimeClass, Vec<&str>)> = vec![
            (class("oci", "oci"), vec![]),
            (class("gvisor", "runsc-1"), vec![]),
            (
                class("x", "Not_A_Label"),
                vec![
                    "Invalid value: \"Not_A_Label\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                ],
            ),
            (
                RuntimeClass {
                    overhead: Some(Overhead { pod_fixed: Some([("cpu".to_string(), Quantity("-1".into()))].into()) }),
                    ..class("x", "oci")
                },
                vec!["Invalid value: \"-1\": must be greater than or equal to 0"],
            ),
        ];
        for (rc, want) in cases {
            let got = messages(&validate_runtime_class(&rc));
            assert_eq!(got, want, "{rc:?}");
        }
        let empty = validate_runtime_class(&class("x", ""));
        assert_eq!(empty.first().map(|e| e.path.as_str()), Some("handler"));
    }

    #[test]
    fn handler_is_immutable() {
        let errs = validate_runtime_class_update(&class("x", "runc"), &class("x", "oci"));
        assert_eq!(messages(&errs), ["Invalid value: \"runc\": field is immutable"]);
        assert!(validate_runtime_class_update(&class("x", "oci"), &class("x", "oci")).is_empty());
    }

    #[test]
    fn admission_refuses_unknown_classes_and_applies_known_ones() {
        let mut spec = PodSpec { runtime_class_name: Some("gpu".into()), ..Default::default() };
        assert_eq!(
            admit_pod(&mut spec, None).map_err(|e| e.to_string()),
            Err("pod rejected: RuntimeClass \"gpu\" not found".to_string())
        );

        let fixed: BTreeMap<String, Quantity> = [("memory".to_string(), Quantity("64Mi".into()))].into();
        let rich = RuntimeClass {
            overhead: Some(Overhead { pod_fixed: Some(fixed.clone()) }),
            scheduling: Some(Scheduling {
                node_selector: Some([("runtime".to_string(), "oci".to_string())].into()),
                tolerations: Some(vec![Toleration { key: Some("oci".into()), ..Default::default() }]),
            }),
            ..class("oci", "oci")
        };
        let mut spec = PodSpec { runtime_class_name: Some("oci".into()), ..Default::default() };
        assert_eq!(admit_pod(&mut spec, Some(&rich)), Ok(()));
        assert_eq!(spec.overhead, Some(fixed));
        assert_eq!(spec.node_selector.as_ref().and_then(|s| s.get("runtime")).map(String::as_str), Some("oci"));
        assert_eq!(spec.tolerations.as_ref().map(Vec::len), Some(1));
        // Admitting the same pod again changes nothing (a replayed create).
        let again = spec.clone();
        assert_eq!(admit_pod(&mut spec, Some(&rich)), Ok(()));
        assert_eq!(spec, again);

        let mut conflicting = PodSpec {
            runtime_class_name: Some("oci".into()),
            node_selector: Some([("runtime".to_string(), "process".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(
            admit_pod(&mut conflicting, Some(&rich)).map_err(|e| e.to_string()),
            Err("conflict: runtimeClass.scheduling.nodeSelector[runtime] = oci; pod.spec.nodeSelector[runtime] = process"
                .to_string())
        );

        let mut other_overhead = PodSpec {
            runtime_class_name: Some("oci".into()),
            overhead: Some([("memory".to_string(), Quantity("1Gi".into()))].into()),
            ..Default::default()
        };
        assert_eq!(admit_pod(&mut other_overhead, Some(&rich)), Err(PodRejected::OverheadMismatch));
        let mut no_class =
            PodSpec { overhead: Some([("cpu".to_string(), Quantity("1".into()))].into()), ..Default::default() };
        assert_eq!(admit_pod(&mut no_class, None), Err(PodRejected::OverheadWithoutClass));
        let mut plain = PodSpec::default();
        assert_eq!(admit_pod(&mut plain, None), Ok(()));
        assert_eq!(plain, PodSpec::default());
    }

    #[test]
    fn builtin_classes_are_valid() {
        for handler in HANDLERS {
            let rc = builtin_class(handler);
            assert!(validate_runtime_class(&rc).is_empty(), "{handler}");
            assert_eq!(rc.metadata.name.as_deref(), Some(handler));
        }
    }
}
