//! Decoding of the Kubernetes protobuf request bodies that kubectl's typed clients send
//! (`kubectl create namespace x`, `kubectl create job NAME --image=...`, kubectl-wire.md §11).
//!
//! Only what those commands send is modelled: a `runtime.Unknown` envelope carrying a Namespace, a ConfigMap, a
//! Secret, or a Job whose template has containers with name, image, command, args, workingDir and plain env values. The decoded object is
//! turned into JSON and then goes through the same path as a JSON body. Field numbers are those of the upstream
//! `generated.proto` files; unknown fields are skipped by prost.

use std::collections::HashMap;

use prost::Message;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    raw: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    kind: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    namespace: Option<String>,
    #[prost(map = "string, string", tag = "11")]
    labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "12")]
    annotations: HashMap<String, String>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
}

#[derive(Clone, PartialEq, Message)]
struct Job {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<JobSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct JobSpec {
    #[prost(int32, optional, tag = "1")]
    parallelism: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    completions: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    active_deadline_seconds: Option<i64>,
    #[prost(message, optional, tag = "6")]
    template: Option<PodTemplateSpec>,
    #[prost(int32, optional, tag = "7")]
    backoff_limit: Option<i32>,
    #[prost(int32, optional, tag = "8")]
    ttl_seconds_after_finished: Option<i32>,
    #[prost(bool, optional, tag = "10")]
    suspend: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct PodTemplateSpec {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<PodSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct PodSpec {
    #[prost(message, repeated, tag = "2")]
    containers: Vec<Container>,
    #[prost(string, optional, tag = "3")]
    restart_policy: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Container {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    image: Option<String>,
    #[prost(string, repeated, tag = "3")]
    command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    args: Vec<String>,
    #[prost(string, optional, tag = "5")]
    working_dir: Option<String>,
    #[prost(message, repeated, tag = "7")]
    env: Vec<EnvVar>,
}

#[derive(Clone, PartialEq, Message)]
struct EnvVar {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

/// `kubectl create configmap`.
#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(map = "string, string", tag = "2")]
    data: HashMap<String, String>,
    #[prost(map = "string, bytes", tag = "3")]
    binary_data: HashMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

/// `kubectl create secret generic|docker-registry|tls`.
#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(map = "string, bytes", tag = "2")]
    data: HashMap<String, Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    type_: Option<String>,
    #[prost(map = "string, string", tag = "4")]
    string_data: HashMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

/// Why a protobuf body was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("provided protobuf object is missing the Kubernetes magic prefix")]
    NoMagic,
    #[error("unable to decode protobuf body: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("protobuf bodies of kind {0:?} are not supported; send JSON")]
    UnsupportedKind(String),
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let payload = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let unknown = Unknown::decode(payload)?;
    let tm = unknown.type_meta.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    match kind.as_str() {
        "Namespace" => {
            let ns = Namespace::decode(raw.as_slice())?;
            Ok(json!({"apiVersion": api_version, "kind": kind, "metadata": meta_json(ns.metadata)}))
        }
        "Job" => {
            let job = Job::decode(raw.as_slice())?;
            let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": meta_json(job.metadata)});
            if let Some(spec) = job.spec {
                v["spec"] = job_spec_json(spec);
            }
            Ok(v)
        }
        "ConfigMap" => {
            let cm = ConfigMap::decode(raw.as_slice())?;
            let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": meta_json(cm.metadata)});
            let m = v.as_object_mut().ok_or(ProtobufError::NoMagic)?;
            if !cm.data.is_empty() {
                m.insert("data".into(), json!(cm.data));
            }
            if !cm.binary_data.is_empty() {
                m.insert("binaryData".into(), base64_map(cm.binary_data));
            }
            put(m, "immutable", cm.immutable);
            Ok(v)
        }
        "Secret" => {
            let secret = Secret::decode(raw.as_slice())?;
            let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": meta_json(secret.metadata)});
            let m = v.as_object_mut().ok_or(ProtobufError::NoMagic)?;
            if !secret.data.is_empty() {
                m.insert("data".into(), base64_map(secret.data));
            }
            if !secret.string_data.is_empty() {
                m.insert("stringData".into(), json!(secret.string_data));
            }
            put_str(m, "type", secret.type_);
            put(m, "immutable", secret.immutable);
            Ok(v)
        }
        _ => Err(ProtobufError::UnsupportedKind(kind)),
    }
}

fn put_str(m: &mut Map<String, Value>, key: &str, v: Option<String>) {
    if let Some(s) = v.filter(|s| !s.is_empty()) {
        m.insert(key.to_string(), json!(s));
    }
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(x) = v {
        m.insert(key.to_string(), x.into());
    }
}

/// Bytes values as the base64 strings JSON carries them in.
fn base64_map(map: HashMap<String, Vec<u8>>) -> Value {
    use base64::Engine;
    let encoded: Map<String, Value> =
        map.into_iter().map(|(k, v)| (k, Value::String(base64::engine::general_purpose::STANDARD.encode(v)))).collect();
    Value::Object(encoded)
}

fn meta_json(meta: Option<ObjectMeta>) -> Value {
    let meta = meta.unwrap_or_default();
    let mut m = Map::new();
    put_str(&mut m, "name", meta.name);
    put_str(&mut m, "generateName", meta.generate_name);
    put_str(&mut m, "namespace", meta.namespace);
    if !meta.labels.is_empty() {
        m.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        m.insert("annotations".into(), json!(meta.annotations));
    }
    Value::Object(m)
}

fn job_spec_json(spec: JobSpec) -> Value {
    let mut m = Map::new();
    put(&mut m, "parallelism", spec.parallelism);
    put(&mut m, "completions", spec.completions);
    put(&mut m, "activeDeadlineSeconds", spec.active_deadline_seconds);
    put(&mut m, "backoffLimit", spec.backoff_limit);
    put(&mut m, "ttlSecondsAfterFinished", spec.ttl_seconds_after_finished);
    put(&mut m, "suspend", spec.suspend);
    if let Some(t) = spec.template {
        let mut pod_spec = Map::new();
        if let Some(ps) = t.spec {
            put_str(&mut pod_spec, "restartPolicy", ps.restart_policy);
            let containers: Vec<Value> = ps.containers.into_iter().map(container_json).collect();
            pod_spec.insert("containers".into(), json!(containers));
        }
        m.insert("template".into(), json!({"metadata": meta_json(t.metadata), "spec": pod_spec}));
    }
    Value::Object(m)
}

fn container_json(c: Container) -> Value {
    let mut m = Map::new();
    put_str(&mut m, "name", c.name);
    put_str(&mut m, "image", c.image);
    if !c.command.is_empty() {
        m.insert("command".into(), json!(c.command));
    }
    if !c.args.is_empty() {
        m.insert("args".into(), json!(c.args));
    }
    put_str(&mut m, "workingDir", c.working_dir);
    if !c.env.is_empty() {
        let env: Vec<Value> = c
            .env
            .into_iter()
            .map(|e| {
                let mut em = Map::new();
                put_str(&mut em, "name", e.name);
                put_str(&mut em, "value", e.value);
                Value::Object(em)
            })
            .collect();
        m.insert("env".into(), json!(env));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 52-byte body `kubectl create namespace x` sends (kubectl-wire.md §11).
    const CREATE_NS_X: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09, b'N', b'a', b'm', b'e', b's', b'p',
        b'a', b'c', b'e', 0x12, 0x19, 0x0a, 0x11, 0x0a, 0x01, b'x', 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00,
        0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    #[test]
    fn decodes_kubectl_create_namespace() {
        assert_eq!(CREATE_NS_X.len(), 52);
        let v = decode(CREATE_NS_X).unwrap();
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
    }

    #[test]
    fn decodes_a_job_with_containers() {
        let job = Job {
            metadata: Some(ObjectMeta { name: Some("tj".into()), ..Default::default() }),
            spec: Some(JobSpec {
                template: Some(PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: Some("tj".into()),
                            image: Some("busybox".into()),
                            command: vec!["echo".into(), "hi".into()],
                            ..Default::default()
                        }],
                        restart_policy: Some("Never".into()),
                    }),
                }),
                ..Default::default()
            }),
        };
        let unknown = Unknown {
            type_meta: Some(TypeMeta { api_version: Some("batch/v1".into()), kind: Some("Job".into()) }),
            raw: Some(job.encode_to_vec()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        let v = decode(&body).unwrap();
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["command"], json!(["echo", "hi"]));
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(v["metadata"]["name"], "tj");
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(decode(b"{}"), Err(ProtobufError::NoMagic)));
        assert!(decode(b"k8s\0\xff\xff\xff").is_err());
    }
}
