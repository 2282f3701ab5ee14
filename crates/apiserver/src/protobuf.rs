//! Decoding of the Kubernetes protobuf request bodies that kubectl's typed clients send
//! (`kubectl create namespace x`, `kubectl create job NAME --image=...`, kubectl-wire.md §11).
//!
//! Only what those commands send is modelled: a `runtime.Unknown` envelope carrying a Namespace, a ConfigMap,
//! a Secret, a Job (also `kubectl create job --from=cronjob/NAME`, which copies the CronJob's template and names
//! it as owner) or a CronJob (`kubectl create cronjob`), with the Job, pod and container fields such templates
//! carry (names, images, commands, plain env values, resources, and the pod defaults the server filled in). The decoded object is
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
    #[prost(message, repeated, tag = "13")]
    owner_references: Vec<OwnerReference>,
}

#[derive(Clone, PartialEq, Message)]
struct OwnerReference {
    #[prost(string, optional, tag = "1")]
    kind: Option<String>,
    #[prost(string, optional, tag = "3")]
    name: Option<String>,
    #[prost(string, optional, tag = "4")]
    uid: Option<String>,
    #[prost(string, optional, tag = "5")]
    api_version: Option<String>,
    #[prost(bool, optional, tag = "6")]
    controller: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    block_owner_deletion: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct CronJob {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<CronJobSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct CronJobSpec {
    #[prost(string, optional, tag = "1")]
    schedule: Option<String>,
    #[prost(int64, optional, tag = "2")]
    starting_deadline_seconds: Option<i64>,
    #[prost(string, optional, tag = "3")]
    concurrency_policy: Option<String>,
    #[prost(bool, optional, tag = "4")]
    suspend: Option<bool>,
    #[prost(message, optional, tag = "5")]
    job_template: Option<JobTemplateSpec>,
    #[prost(int32, optional, tag = "6")]
    successful_jobs_history_limit: Option<i32>,
    #[prost(int32, optional, tag = "7")]
    failed_jobs_history_limit: Option<i32>,
    #[prost(string, optional, tag = "8")]
    time_zone: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct JobTemplateSpec {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<JobSpec>,
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
    #[prost(string, optional, tag = "9")]
    completion_mode: Option<String>,
    #[prost(bool, optional, tag = "5")]
    manual_selector: Option<bool>,
    #[prost(int32, optional, tag = "12")]
    backoff_limit_per_index: Option<i32>,
    #[prost(int32, optional, tag = "13")]
    max_failed_indexes: Option<i32>,
    #[prost(string, optional, tag = "14")]
    pod_replacement_policy: Option<String>,
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
    #[prost(int64, optional, tag = "4")]
    termination_grace_period_seconds: Option<i64>,
    #[prost(int64, optional, tag = "5")]
    active_deadline_seconds: Option<i64>,
    #[prost(string, optional, tag = "6")]
    dns_policy: Option<String>,
    #[prost(map = "string, string", tag = "7")]
    node_selector: HashMap<String, String>,
    #[prost(string, optional, tag = "8")]
    service_account_name: Option<String>,
    #[prost(string, optional, tag = "10")]
    node_name: Option<String>,
    #[prost(string, optional, tag = "19")]
    scheduler_name: Option<String>,
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
    #[prost(message, optional, tag = "8")]
    resources: Option<ResourceRequirements>,
    #[prost(string, optional, tag = "13")]
    termination_message_path: Option<String>,
    #[prost(string, optional, tag = "14")]
    image_pull_policy: Option<String>,
    #[prost(string, optional, tag = "20")]
    termination_message_policy: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceRequirements {
    #[prost(map = "string, message", tag = "1")]
    limits: HashMap<String, Quantity>,
    #[prost(map = "string, message", tag = "2")]
    requests: HashMap<String, Quantity>,
}

#[derive(Clone, PartialEq, Message)]
struct Quantity {
    #[prost(string, optional, tag = "1")]
    string: Option<String>,
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
        "CronJob" => {
            let cj = CronJob::decode(raw.as_slice())?;
            let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": meta_json(cj.metadata)});
            if let Some(spec) = cj.spec {
                v["spec"] = cron_job_spec_json(spec);
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
    if !meta.owner_references.is_empty() {
        let refs: Vec<Value> = meta
            .owner_references
            .into_iter()
            .map(|o| {
                let mut r = Map::new();
                put_str(&mut r, "apiVersion", o.api_version);
                put_str(&mut r, "kind", o.kind);
                put_str(&mut r, "name", o.name);
                put_str(&mut r, "uid", o.uid);
                put(&mut r, "controller", o.controller);
                put(&mut r, "blockOwnerDeletion", o.block_owner_deletion);
                Value::Object(r)
            })
            .collect();
        m.insert("ownerReferences".into(), json!(refs));
    }
    Value::Object(m)
}

fn cron_job_spec_json(spec: CronJobSpec) -> Value {
    let mut m = Map::new();
    put_str(&mut m, "schedule", spec.schedule);
    // An empty time zone is a value of its own (and invalid), not an absent one.
    put(&mut m, "timeZone", spec.time_zone);
    put(&mut m, "startingDeadlineSeconds", spec.starting_deadline_seconds);
    put_str(&mut m, "concurrencyPolicy", spec.concurrency_policy);
    put(&mut m, "suspend", spec.suspend);
    put(&mut m, "successfulJobsHistoryLimit", spec.successful_jobs_history_limit);
    put(&mut m, "failedJobsHistoryLimit", spec.failed_jobs_history_limit);
    let template = spec.job_template.unwrap_or_default();
    let mut t = Map::new();
    t.insert("metadata".into(), meta_json(template.metadata));
    if let Some(job_spec) = template.spec {
        t.insert("spec".into(), job_spec_json(job_spec));
    }
    m.insert("jobTemplate".into(), Value::Object(t));
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
    put_str(&mut m, "completionMode", spec.completion_mode);
    put(&mut m, "manualSelector", spec.manual_selector);
    put(&mut m, "backoffLimitPerIndex", spec.backoff_limit_per_index);
    put(&mut m, "maxFailedIndexes", spec.max_failed_indexes);
    put_str(&mut m, "podReplacementPolicy", spec.pod_replacement_policy);
    if let Some(t) = spec.template {
        let mut pod_spec = Map::new();
        if let Some(ps) = t.spec {
            put_str(&mut pod_spec, "restartPolicy", ps.restart_policy);
            put(&mut pod_spec, "terminationGracePeriodSeconds", ps.termination_grace_period_seconds);
            put(&mut pod_spec, "activeDeadlineSeconds", ps.active_deadline_seconds);
            put_str(&mut pod_spec, "dnsPolicy", ps.dns_policy);
            if !ps.node_selector.is_empty() {
                pod_spec.insert("nodeSelector".into(), json!(ps.node_selector));
            }
            put_str(&mut pod_spec, "serviceAccountName", ps.service_account_name);
            put_str(&mut pod_spec, "nodeName", ps.node_name);
            put_str(&mut pod_spec, "schedulerName", ps.scheduler_name);
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
    put_str(&mut m, "imagePullPolicy", c.image_pull_policy);
    put_str(&mut m, "terminationMessagePath", c.termination_message_path);
    put_str(&mut m, "terminationMessagePolicy", c.termination_message_policy);
    if let Some(r) = c.resources {
        let quantities = |q: HashMap<String, Quantity>| -> Value {
            q.into_iter().map(|(k, v)| (k, json!(v.string.unwrap_or_default()))).collect::<Map<_, _>>().into()
        };
        let mut res = Map::new();
        if !r.limits.is_empty() {
            res.insert("limits".into(), quantities(r.limits));
        }
        if !r.requests.is_empty() {
            res.insert("requests".into(), quantities(r.requests));
        }
        m.insert("resources".into(), Value::Object(res));
    }
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
                        ..Default::default()
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

    fn envelope(kind: &str, api_version: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
            raw: Some(raw),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        body
    }

    #[test]
    fn decodes_a_cronjob_and_a_job_made_from_one() {
        let container = Container {
            name: Some("hello".into()),
            image: Some("busybox".into()),
            command: vec!["date".into()],
            image_pull_policy: Some("Always".into()),
            resources: Some(ResourceRequirements {
                limits: [("cpu".to_string(), Quantity { string: Some("500m".into()) })].into(),
                requests: HashMap::new(),
            }),
            ..Default::default()
        };
        let pod = PodSpec {
            containers: vec![container],
            restart_policy: Some("OnFailure".into()),
            termination_grace_period_seconds: Some(30),
            ..Default::default()
        };
        let job_spec =
            JobSpec { template: Some(PodTemplateSpec { metadata: None, spec: Some(pod) }), ..Default::default() };
        let cj = CronJob {
            metadata: Some(ObjectMeta { name: Some("hello".into()), ..Default::default() }),
            spec: Some(CronJobSpec {
                schedule: Some("*/1 * * * *".into()),
                job_template: Some(JobTemplateSpec {
                    metadata: Some(ObjectMeta { name: Some("hello".into()), ..Default::default() }),
                    spec: Some(job_spec.clone()),
                }),
                ..Default::default()
            }),
        };
        let v = decode(&envelope("CronJob", "batch/v1", cj.encode_to_vec())).unwrap();
        assert_eq!(v["spec"]["schedule"], "*/1 * * * *");
        assert_eq!(v["spec"]["jobTemplate"]["metadata"]["name"], "hello");
        let pod = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "OnFailure");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["containers"][0]["resources"], json!({"limits": {"cpu": "500m"}}));
        assert!(v["spec"].get("timeZone").is_none());

        // `kubectl create job --from=cronjob/hello`: the template, the CronJob as controller, an annotation.
        let job = Job {
            metadata: Some(ObjectMeta {
                name: Some("manual".into()),
                annotations: [("cronjob.kubernetes.io/instantiate".to_string(), "manual".to_string())].into(),
                owner_references: vec![OwnerReference {
                    kind: Some("CronJob".into()),
                    name: Some("hello".into()),
                    uid: Some("u-1".into()),
                    api_version: Some("batch/v1".into()),
                    controller: Some(true),
                    block_owner_deletion: None,
                }],
                ..Default::default()
            }),
            spec: Some(job_spec),
        };
        let v = decode(&envelope("Job", "batch/v1", job.encode_to_vec())).unwrap();
        assert_eq!(
            v["metadata"]["ownerReferences"],
            json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello", "uid": "u-1", "controller": true}])
        );
        assert_eq!(v["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["command"], json!(["date"]));
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(decode(b"{}"), Err(ProtobufError::NoMagic)));
        assert!(decode(b"k8s\0\xff\xff\xff").is_err());
    }
}
