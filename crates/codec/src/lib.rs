//! Serde of the Kubernetes object types runlet stores, behind a few non-generic functions.
//!
//! Deserializing `Job` or `Pod` instantiates a great deal of generic serde code. Doing it here, once per
//! kind, keeps that cost out of `api` (validation) and `apiserver`, which change often: they call `decode_job`
//! and `encode_job` instead of `serde_json::from_value::<Job>`. The API clients (`kube::Api<Job>`, the
//! informers of `client`, `controllers`, `agent`) do not go through here: kube-rs compiles their serde in
//! their own crates.
//!
//! Decoding also reports every field the type does not know, as a Kubernetes-style path
//! (`spec.template.spec.containers[0].foo`), which is what `fieldValidation=Strict` needs.

use serde::Deserialize;
use serde_json::Value;

pub use k8s_openapi;
pub use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
pub use k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, CronJobStatus, Job, JobCondition, JobSpec, JobStatus, JobTemplateSpec, PodFailurePolicy,
    PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    SuccessPolicy, SuccessPolicyRule, UncountedTerminatedPods,
};
pub use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
pub use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, EnvVar, EnvVarSource, Event, EventSource, Namespace, NamespaceSpec, NamespaceStatus, Node,
    NodeCondition, NodeSpec, NodeStatus, ObjectFieldSelector, ObjectReference, Pod, PodCondition, PodSpec, PodStatus,
    PodTemplateSpec, ResourceRequirements, Secret, Volume,
};
pub use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
pub use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, LabelSelector, LabelSelectorRequirement, MicroTime, ObjectMeta, OwnerReference, Preconditions,
    Status, StatusCause, StatusDetails, Time,
};

/// A decoded object and the paths of the fields its type does not know.
#[derive(Debug, Clone)]
pub struct Decoded<T> {
    pub object: T,
    /// Unknown fields, e.g. `spec.foo` or `spec.template.spec.containers[0].bogus`, in document order.
    pub unknown_fields: Vec<String>,
}

/// The JSON did not have the shape of the type (a string where a number belongs, and so on).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// The object could not be turned into JSON (no k8s-openapi type does this in practice).
#[derive(Debug, Clone, thiserror::Error)]
#[error("encoding failed: {0}")]
pub struct EncodeError(pub String);

fn format_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            format_path(parent, out);
            out.push('[');
            out.push_str(&index.to_string());
            out.push(']');
        }
        Path::Map { parent, key } => {
            format_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            format_path(parent, out)
        }
    }
}

fn decode<T: for<'de> Deserialize<'de>>(value: &Value) -> Result<Decoded<T>, DecodeError> {
    let mut unknown_fields = Vec::new();
    let object = serde_ignored::deserialize(value, |path| {
        let mut s = String::new();
        format_path(&path, &mut s);
        unknown_fields.push(s);
    })
    .map_err(|e| DecodeError(e.to_string()))?;
    Ok(Decoded { object, unknown_fields })
}

fn encode<T: serde::Serialize>(object: &T) -> Result<Value, EncodeError> {
    serde_json::to_value(object).map_err(|e| EncodeError(e.to_string()))
}

macro_rules! codec {
    ($ty:ty, $decode:ident, $encode:ident) => {
        #[doc = concat!("Decodes a `", stringify!($ty), "` from JSON, collecting unknown fields.")]
        pub fn $decode(value: &Value) -> Result<Decoded<$ty>, DecodeError> {
            decode::<$ty>(value)
        }
        #[doc = concat!("Encodes a `", stringify!($ty), "` as JSON (with `apiVersion` and `kind`).")]
        pub fn $encode(object: &$ty) -> Result<Value, EncodeError> {
            encode(object)
        }
    };
}

codec!(Job, decode_job, encode_job);
codec!(CronJob, decode_cron_job, encode_cron_job);
codec!(Pod, decode_pod, encode_pod);
codec!(Namespace, decode_namespace, encode_namespace);
codec!(Event, decode_event, encode_event);
codec!(Node, decode_node, encode_node);
codec!(Lease, decode_lease, encode_lease);
codec!(ConfigMap, decode_config_map, encode_config_map);
codec!(Secret, decode_secret, encode_secret);
codec!(RuntimeClass, decode_runtime_class, encode_runtime_class);
codec!(Scale, decode_scale, encode_scale);
codec!(DeleteOptions, decode_delete_options, encode_delete_options);
codec!(ObjectMeta, decode_object_meta, encode_object_meta);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_with_kubernetes_paths() {
        let v = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {"foo": 1, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "pi", "image": "perl", "bogus": true}]}}}
        });
        let d = decode_job(&v).unwrap();
        assert_eq!(d.unknown_fields, vec!["spec.foo", "spec.template.spec.containers[0].bogus"]);
        assert_eq!(d.object.metadata.name.as_deref(), Some("pi"));
    }

    #[test]
    fn wrong_types_are_errors() {
        let v = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": "two"}});
        assert!(decode_job(&v).is_err());
    }

    #[test]
    fn encode_carries_type_meta() {
        let v = encode_pod(&Pod::default()).unwrap();
        assert_eq!(v["kind"], "Pod");
        assert_eq!(v["apiVersion"], "v1");
    }
}
