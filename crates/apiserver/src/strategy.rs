//! Per-kind rules: on create, the admission each kind gets ([`admit_create`]: a pod's RuntimeClass); on create
//! and update, decode the JSON into the typed object, default it, validate it with the pure rules of
//! `runlet-api`, and encode it back (unknown fields per `fieldValidation`); on delete, the hooks `ops` asks of
//! each kind (default propagation, which finalizers it takes, grace period, whether it must wait, how it is
//! marked, when a marked object may go). `ops` carries out writes the same way for every kind and asks here
//! whenever a kind differs.

use runlet_api::field::FieldError;
use runlet_api::vocab::PodPhase;
use runlet_codec as codec;
use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::negotiate::FieldValidation;
use crate::resources::{Kind, Resource};
use crate::state::ApiState;

/// Which part of the object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but `status`.
    Main,
    /// The `/status` subresource: only `status`.
    Status,
}

/// Where the document came from: unknown fields in a request body and in a patch result are reported differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Body,
    Patch,
}

/// The object to store, and `Warning` headers to send.
#[derive(Debug)]
pub struct Prepared {
    pub value: Value,
    pub warnings: Vec<String>,
}

/// How a request's document is decoded: what to do with unknown and duplicate fields, and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Decoding<'a> {
    pub validation: FieldValidation,
    pub origin: Origin,
    /// Keys the request's JSON text repeats (noted by `strict::parse`: a parsed map keeps only the last).
    pub duplicate_fields: &'a [String],
}

struct Ctx<'a> {
    resource: &'a Resource,
    validation: FieldValidation,
    origin: Origin,
    duplicate_fields: &'a [String],
    warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(resource: &'a Resource, decoding: Decoding<'a>) -> Self {
        let Decoding { validation, origin, duplicate_fields } = decoding;
        Ctx { resource, validation, origin, duplicate_fields, warnings: Vec::new() }
    }
}

impl Ctx<'_> {
    fn decoded<T>(
        &mut self,
        decoded: Result<codec::Decoded<T>, codec::DecodeError>,
        doc: &Value,
    ) -> Result<T, ApiError> {
        let r = self.resource;
        let decoded = decoded.map_err(|e| match self.origin {
            Origin::Body => ApiError::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
                kind = r.kind_name,
                v = r.version
            )),
            Origin::Patch => patch_invalid(doc, &e.to_string()),
        })?;
        let unknown =
            decoded.unknown_fields.iter().filter(|f| !ignored_field(f)).map(|f| format!("unknown field \"{f}\""));
        let duplicate = self.duplicate_fields.iter().map(|f| format!("duplicate field \"{f}\""));
        // Upstream lists a body's unknown fields before its duplicates, but a patch's duplicates (found when the
        // patch is parsed) before the unknown fields of the merged result.
        let problems: Vec<String> = match self.origin {
            Origin::Body => unknown.chain(duplicate).collect(),
            Origin::Patch => duplicate.chain(unknown).collect(),
        };
        if !problems.is_empty() {
            match self.validation {
                FieldValidation::Ignore => {}
                FieldValidation::Warn => self.warnings.extend(problems),
                FieldValidation::Strict => {
                    let detail = format!("strict decoding error: {}", problems.join(", "));
                    return Err(match self.origin {
                        Origin::Body => ApiError::bad_request(format!(
                            "{kind} in version \"{v}\" cannot be handled as a {kind}: {detail}",
                            kind = r.kind_name,
                            v = r.version
                        )),
                        Origin::Patch => patch_invalid(doc, &detail),
                    });
                }
            }
        }
        Ok(decoded.object)
    }

    fn check(&self, name: &str, errors: Vec<FieldError>) -> Result<(), ApiError> {
        if errors.is_empty() { Ok(()) } else { Err(ApiError::invalid(self.resource, name, &errors)) }
    }
}

/// `status` is a field of every type, so never "unknown"; `metadata.managedFields` is dropped before decoding.
fn ignored_field(path: &str) -> bool {
    path == "metadata.managedFields"
}

/// The 422 a patch gets when its result does not decode (strategic-merge-patch.md §4 rows 19–20).
fn patch_invalid(doc: &Value, detail: &str) -> ApiError {
    let shown = runlet_patch::go_format(doc);
    let message = format!(" \"\" is invalid: patch: Invalid value: \"{shown}\": {detail}");
    ApiError::invalid_plain(
        message,
        serde_json::json!([{"reason": "FieldValueInvalid", "field": "patch",
                            "message": format!("Invalid value: \"{shown}\": {detail}")}]),
    )
}

fn encoded(v: Result<Value, codec::EncodeError>) -> Result<Value, ApiError> {
    v.map_err(|e| ApiError::internal(e.to_string()))
}

/// What admission adds to new objects after defaulting (upstream's mutating admission plugins).
#[derive(Debug, Clone, Copy, Default)]
pub struct Admission {
    pub default_tolerations: runlet_api::taints::DefaultTolerationSeconds,
}

/// Defaults, admits and validates a new object (metadata such as name, uid and timestamps are already set).
pub fn prepare_create(
    resource: &Resource,
    value: Value,
    decoding: Decoding<'_>,
    admission: &Admission,
) -> Result<Prepared, ApiError> {
    let mut ctx = Ctx::new(resource, decoding);
    let name = crate::meta::name(&value).to_string();
    let value = match resource.kind {
        Kind::Job => {
            let mut job = ctx.decoded(codec::decode_job(&value), &value)?;
            let uid = job.metadata.uid.clone().unwrap_or_default();
            runlet_api::job::default_job(&mut job);
            runlet_api::job::prepare_for_create(&mut job, &uid);
            ctx.check(&name, runlet_api::job::validate_create(&job))?;
            ctx.warnings.extend(runlet_api::job::create_warnings(&job));
            encoded(codec::encode_job(&job))?
        }
        Kind::CronJob => {
            let mut cj = ctx.decoded(codec::decode_cron_job(&value), &value)?;
            runlet_api::cronjob::default_cronjob(&mut cj);
            runlet_api::cronjob::prepare_for_create(&mut cj);
            ctx.check(&name, runlet_api::cronjob::validate_create(&cj))?;
            ctx.warnings.extend(runlet_api::cronjob::create_warnings(&cj));
            encoded(codec::encode_cron_job(&cj))?
        }
        Kind::Pod => {
            let mut pod = ctx.decoded(codec::decode_pod(&value), &value)?;
            runlet_api::pod::default_pod(&mut pod);
            if let Some(spec) = pod.spec.as_mut() {
                runlet_api::taints::add_default_tolerations(spec, admission.default_tolerations);
            }
            ctx.check(&name, runlet_api::pod::validate_pod_create(&pod))?;
            encoded(codec::encode_pod(&pod))?
        }
        Kind::Namespace => {
            let mut ns = ctx.decoded(codec::decode_namespace(&value), &value)?;
            prepare_namespace_create(&mut ns);
            runlet_api::namespace::default_namespace(&mut ns);
            ctx.check(&name, runlet_api::namespace::validate_namespace_create(&ns))?;
            encoded(codec::encode_namespace(&ns))?
        }
        Kind::Event => {
            let ev = ctx.decoded(codec::decode_event(&value), &value)?;
            ctx.check(&name, meta_errors(&ev.metadata, resource.namespaced))?;
            encoded(codec::encode_event(&ev))?
        }
        Kind::Node => {
            let node = ctx.decoded(codec::decode_node(&value), &value)?;
            ctx.check(&name, meta_errors(&node.metadata, resource.namespaced))?;
            encoded(codec::encode_node(&node))?
        }
        Kind::Lease => {
            let lease = ctx.decoded(codec::decode_lease(&value), &value)?;
            ctx.check(&name, meta_errors(&lease.metadata, resource.namespaced))?;
            encoded(codec::encode_lease(&lease))?
        }
        Kind::ConfigMap => {
            let cm = ctx.decoded(codec::decode_config_map(&value), &value)?;
            ctx.check(&name, runlet_api::config::validate_config_map(&cm))?;
            encoded(codec::encode_config_map(&cm))?
        }
        Kind::Secret => {
            let mut secret = ctx.decoded(codec::decode_secret(&value), &value)?;
            runlet_api::config::prepare_secret(&mut secret);
            ctx.check(&name, runlet_api::config::validate_secret(&secret))?;
            encoded(codec::encode_secret(&secret))?
        }
        Kind::RuntimeClass => {
            let rc = ctx.decoded(codec::decode_runtime_class(&value), &value)?;
            ctx.check(&name, runlet_api::runtime_class::validate_runtime_class(&rc))?;
            encoded(codec::encode_runtime_class(&rc))?
        }
    };
    Ok(Prepared { value, warnings: ctx.warnings })
}

/// Applies an update of `part` on top of `old` and validates the result.
pub fn prepare_update(
    resource: &Resource,
    new: Value,
    old: &Value,
    part: Part,
    decoding: Decoding<'_>,
) -> Result<Prepared, ApiError> {
    let mut ctx = Ctx::new(resource, decoding);
    let name = crate::meta::name(&new).to_string();
    let value = match resource.kind {
        Kind::Job => {
            let mut job = ctx.decoded(codec::decode_job(&new), &new)?;
            let old_job = decode_stored(codec::decode_job(old))?;
            runlet_api::job::default_job(&mut job);
            let errors = match part {
                Part::Main => {
                    runlet_api::job::prepare_for_update(&mut job, &old_job);
                    runlet_api::job::validate_update(&job, &old_job)
                }
                Part::Status => {
                    runlet_api::job::prepare_for_status_update(&mut job, &old_job);
                    runlet_api::job::validate_status_update(&job, &old_job)
                }
            };
            ctx.check(&name, errors)?;
            encoded(codec::encode_job(&job))?
        }
        Kind::CronJob => {
            let mut cj = ctx.decoded(codec::decode_cron_job(&new), &new)?;
            let old_cj = decode_stored(codec::decode_cron_job(old))?;
            runlet_api::cronjob::default_cronjob(&mut cj);
            let errors = match part {
                Part::Main => {
                    runlet_api::cronjob::prepare_for_update(&mut cj, &old_cj);
                    runlet_api::cronjob::validate_update(&cj, &old_cj)
                }
                Part::Status => {
                    runlet_api::cronjob::prepare_for_status_update(&mut cj, &old_cj);
                    runlet_api::cronjob::validate_status_update(&cj, &old_cj)
                }
            };
            ctx.check(&name, errors)?;
            encoded(codec::encode_cron_job(&cj))?
        }
        Kind::Pod => {
            let mut pod = ctx.decoded(codec::decode_pod(&new), &new)?;
            let old_pod = decode_stored(codec::decode_pod(old))?;
            runlet_api::pod::default_pod(&mut pod);
            let errors = match part {
                Part::Main => {
                    runlet_api::pod::prepare_for_pod_update(&mut pod, &old_pod);
                    runlet_api::pod::validate_pod_update(&pod, &old_pod)
                }
                Part::Status => {
                    runlet_api::pod::prepare_for_pod_status_update(&mut pod, &old_pod);
                    Vec::new()
                }
            };
            ctx.check(&name, errors)?;
            encoded(codec::encode_pod(&pod))?
        }
        Kind::Namespace => {
            let mut ns = ctx.decoded(codec::decode_namespace(&new), &new)?;
            let old_ns = decode_stored(codec::decode_namespace(old))?;
            match part {
                // spec.finalizers belong to the namespace finalizer (upstream changes them only via /finalize).
                Part::Main => {
                    ns.status = old_ns.status.clone();
                    let kept = old_ns.spec.as_ref().and_then(|s| s.finalizers.clone());
                    ns.spec.get_or_insert_with(Default::default).finalizers = kept;
                }
                Part::Status => ns.spec = old_ns.spec.clone(),
            }
            ctx.check(&name, runlet_api::namespace::validate_namespace_update(&ns, &old_ns))?;
            encoded(codec::encode_namespace(&ns))?
        }
        Kind::Event => encoded(codec::encode_event(&ctx.decoded(codec::decode_event(&new), &new)?))?,
        Kind::Node => {
            let mut node = ctx.decoded(codec::decode_node(&new), &new)?;
            let old_node = decode_stored(codec::decode_node(old))?;
            match part {
                Part::Main => node.status = old_node.status.clone(),
                Part::Status => node.spec = old_node.spec.clone(),
            }
            encoded(codec::encode_node(&node))?
        }
        Kind::Lease => encoded(codec::encode_lease(&ctx.decoded(codec::decode_lease(&new), &new)?))?,
        Kind::ConfigMap => {
            let cm = ctx.decoded(codec::decode_config_map(&new), &new)?;
            let old_cm = decode_stored(codec::decode_config_map(old))?;
            ctx.check(&name, runlet_api::config::validate_config_map_update(&cm, &old_cm))?;
            encoded(codec::encode_config_map(&cm))?
        }
        Kind::Secret => {
            let mut secret = ctx.decoded(codec::decode_secret(&new), &new)?;
            let old_secret = decode_stored(codec::decode_secret(old))?;
            runlet_api::config::prepare_secret(&mut secret);
            ctx.check(&name, runlet_api::config::validate_secret_update(&secret, &old_secret))?;
            encoded(codec::encode_secret(&secret))?
        }
        Kind::RuntimeClass => {
            let rc = ctx.decoded(codec::decode_runtime_class(&new), &new)?;
            let old_rc = decode_stored(codec::decode_runtime_class(old))?;
            ctx.check(&name, runlet_api::runtime_class::validate_runtime_class_update(&rc, &old_rc))?;
            encoded(codec::encode_runtime_class(&rc))?
        }
    };
    Ok(Prepared { value, warnings: ctx.warnings })
}

/// The finalizer that keeps a namespace until everything in it is gone (upstream `FinalizerKubernetes`).
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// Upstream's namespace `PrepareForCreate`: a new namespace is Active and carries the `kubernetes` finalizer.
fn prepare_namespace_create(ns: &mut codec::Namespace) {
    ns.status = Some(codec::NamespaceStatus { phase: Some("Active".to_string()), ..Default::default() });
    let finalizers = ns.spec.get_or_insert_with(Default::default).finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == NAMESPACE_FINALIZER) {
        finalizers.push(NAMESPACE_FINALIZER.to_string());
    }
}

fn decode_stored<T>(d: Result<codec::Decoded<T>, codec::DecodeError>) -> Result<T, ApiError> {
    d.map(|d| d.object).map_err(|e| ApiError::internal(format!("stored object does not decode: {e}")))
}

/// Name, labels, annotations and the rest of ObjectMeta, for kinds with no rules of their own.
fn meta_errors(meta: &runlet_codec::ObjectMeta, namespaced: bool) -> Vec<FieldError> {
    runlet_api::meta::validate_object_meta(meta, namespaced, runlet_api::names::dns1123_subdomain)
}

/// The warning upstream sends for a raw Job delete without a propagation policy.
pub const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

/// The propagation of a delete that names none, and the warning that goes with it: Jobs orphan their pods
/// (upstream's legacy default for `batch/v1` Jobs), everything else is collected in the background.
pub fn default_propagation(kind: Kind) -> (crate::ops::Propagation, Option<&'static str>) {
    match kind {
        Kind::Job => (crate::ops::Propagation::Orphan, Some(JOB_ORPHAN_WARNING)),
        _ => (crate::ops::Propagation::Background, None),
    }
}

/// Admission of a new object that needs what is stored (upstream's admission plugins, before defaulting and
/// validation): a pod's RuntimeClass must exist, and the pod takes its overhead and scheduling constraints.
pub fn admit_create(state: &ApiState, kind: Kind, value: Value) -> Result<Value, ApiError> {
    match kind {
        Kind::Pod => crate::runtime_classes::admit_pod_create(state, value),
        _ => Ok(value),
    }
}

/// Whether an `Orphan` delete adds the orphan finalizer: pods have no dependents to orphan.
pub fn takes_orphan_finalizer(kind: Kind) -> bool {
    kind != Kind::Pod
}

/// Upstream's answer (409) to deleting a namespace that is already being emptied.
const NAMESPACE_TERMINATING: &str = "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.";

/// Whether a delete must only mark the object even with no finalizers and no grace period: a namespace waits
/// until its spec finalizers are done and nothing is left in it. A second delete of a namespace being emptied
/// is refused, as upstream does.
pub fn delete_must_wait(state: &ApiState, resource: &Resource, name: &str, current: &Value) -> Result<bool, ApiError> {
    if resource.kind != Kind::Namespace {
        return Ok(false);
    }
    let finalizing = !namespace_spec_finalizers(current).is_empty();
    if finalizing && meta::deletion_timestamp(current).is_some() {
        return Err(ApiError::conflict_because(resource, name, NAMESPACE_TERMINATING));
    }
    Ok(finalizing || !namespace_is_empty(state, name))
}

/// What marking an object for deletion changes besides its metadata: a namespace's phase becomes `Terminating`
/// (its conditions stay).
pub fn mark_deleting(kind: Kind, marked: &mut Value) {
    if kind == Kind::Namespace {
        let status = marked.as_object_mut().map(|o| o.entry("status").or_insert_with(|| serde_json::json!({})));
        if let Some(Value::Object(st)) = status {
            st.insert("phase".into(), serde_json::json!(runlet_api::vocab::NamespacePhase::Terminating.as_str()));
        }
    }
}

/// An object marked for deletion goes away once its finalizers are gone; pods also wait for their grace period
/// to be ended by the node (which deletes them with grace 0), namespaces for their content to be gone.
pub fn deletion_complete(state: &ApiState, kind: Kind, value: &Value) -> bool {
    if meta::deletion_timestamp(value).is_none() || !meta::finalizers(value).is_empty() {
        return false;
    }
    match kind {
        Kind::Pod => pod_may_vanish(value),
        Kind::Namespace => namespace_spec_finalizers(value).is_empty() && namespace_is_empty(state, meta::name(value)),
        _ => true,
    }
}

/// A namespace is removed only once nothing is left in it (the namespace finalizer empties it).
fn namespace_is_empty(state: &ApiState, ns: &str) -> bool {
    crate::resources::RESOURCES
        .iter()
        .filter(|r| r.namespaced)
        .all(|r| !state.store.has_prefix(&r.namespace_prefix(ns)))
}

/// Seconds a delete waits for the node to stop the object's processes: only running pods wait.
pub fn graceful_period(kind: Kind, value: &Value, requested: Option<i64>) -> i64 {
    if kind != Kind::Pod || pod_needs_no_grace(value) {
        return 0;
    }
    let spec_grace = value.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
    // Upstream turns a negative grace into 1 s: a running pod is never removed without its node confirming.
    match requested.unwrap_or(spec_grace) {
        g if g < 0 => 1,
        g => g,
    }
}

/// A pod in graceful deletion stays until its node confirms with a grace-0 delete, even after it reports a
/// terminal phase (the kubelet reports first, then deletes); an unbound pod has no node to wait for.
pub fn pod_may_vanish(value: &Value) -> bool {
    let grace = value.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    grace == 0 || node_name(value).is_empty()
}

/// Pods that never ran or already ended need no graceful termination (upstream `CheckGracefulDelete`).
fn pod_needs_no_grace(value: &Value) -> bool {
    let phase = value.pointer("/status/phase").and_then(Value::as_str).and_then(PodPhase::parse);
    node_name(value).is_empty() || phase.is_some_and(PodPhase::is_terminal)
}

fn node_name(value: &Value) -> &str {
    value.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("")
}

/// `spec.finalizers` of a namespace: what must finish before it may go (the namespace finalizer clears them).
pub fn namespace_spec_finalizers(value: &Value) -> Vec<String> {
    value
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn delete_hooks_per_kind() {
        use serde_json::json;
        let running =
            json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 20}, "status": {"phase": "Running"}});
        let ended = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        let unbound = json!({"spec": {}, "status": {"phase": "Pending"}});
        let cases: [(&str, Kind, &Value, Option<i64>, i64); 6] = [
            ("a running pod waits its spec's grace", Kind::Pod, &running, None, 20),
            ("or the one asked for", Kind::Pod, &running, Some(5), 5),
            ("a negative grace is one second", Kind::Pod, &running, Some(-3), 1),
            ("an ended pod does not wait", Kind::Pod, &ended, None, 0),
            ("an unbound pod does not wait", Kind::Pod, &unbound, Some(30), 0),
            ("other kinds never wait", Kind::Job, &running, Some(30), 0),
        ];
        for (name, kind, value, requested, want) in cases {
            assert_eq!(graceful_period(kind, value, requested), want, "{name}");
        }
        let marked = |grace: i64, node: &str| json!({"metadata": {"deletionGracePeriodSeconds": grace}, "spec": {"nodeName": node}});
        assert!(!pod_may_vanish(&marked(30, "n1")), "a bound pod waits for its node");
        assert!(pod_may_vanish(&marked(0, "n1")), "the node confirmed");
        assert!(pod_may_vanish(&marked(30, "")), "no node to wait for");
        assert_eq!(default_propagation(Kind::Job), (crate::ops::Propagation::Orphan, Some(JOB_ORPHAN_WARNING)));
        assert_eq!(default_propagation(Kind::Pod), (crate::ops::Propagation::Background, None));
        assert!(!takes_orphan_finalizer(Kind::Pod) && takes_orphan_finalizer(Kind::Job));
    }

    #[tokio::test]
    async fn namespace_delete_hooks() {
        let store = runlet_store::Store::open_memory(runlet_store::StoreOptions::default()).await.expect("store");
        let state = ApiState::new(store);
        let res = by_kind(Kind::Namespace);
        let ns = |spec_finalizers: Value, deleting: bool| {
            let mut v = json!({"metadata": {"name": "team"}, "spec": {"finalizers": spec_finalizers}});
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            v
        };
        assert_eq!(delete_must_wait(&state, res, "team", &ns(json!([]), false)).ok(), Some(false), "empty");
        assert_eq!(delete_must_wait(&state, res, "team", &ns(json!(["kubernetes"]), false)).ok(), Some(true));
        let again = delete_must_wait(&state, res, "team", &ns(json!(["kubernetes"]), true)).expect_err("refused");
        assert_eq!((again.code, again.reason), (409, runlet_api::vocab::StatusReason::Conflict));
        assert_eq!(delete_must_wait(&state, by_kind(Kind::Job), "team", &ns(json!(["x"]), true)).ok(), Some(false));

        assert!(deletion_complete(&state, Kind::Namespace, &ns(json!([]), true)), "empty and finalized");
        assert!(!deletion_complete(&state, Kind::Namespace, &ns(json!(["kubernetes"]), true)));
        assert!(!deletion_complete(&state, Kind::Job, &ns(json!([]), false)), "not marked");

        let mut marked = json!({"status": {"phase": "Active", "conditions": [{"type": "x"}]}});
        mark_deleting(Kind::Namespace, &mut marked);
        assert_eq!(marked, json!({"status": {"phase": "Terminating", "conditions": [{"type": "x"}]}}));
        let mut job = json!({"status": {}});
        mark_deleting(Kind::Job, &mut job);
        assert_eq!(job, json!({"status": {}}));
    }
    use crate::resources::by_kind;

    fn namespace_with_unknown_field() -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "spec": {"foo": 1}})
    }

    #[test]
    fn a_new_namespace_is_active_with_the_kubernetes_finalizer() {
        let res = by_kind(Kind::Namespace);
        let decoding = Decoding { validation: FieldValidation::Strict, origin: Origin::Body, duplicate_fields: &[] };
        let cases = [
            (json!({"metadata": {"name": "a"}, "status": {"phase": "Terminating"}}), json!(["kubernetes"])),
            (
                json!({"metadata": {"name": "b"}, "spec": {"finalizers": ["example.com/x"]}}),
                json!(["example.com/x", "kubernetes"]),
            ),
            (json!({"metadata": {"name": "c"}, "spec": {"finalizers": ["kubernetes"]}}), json!(["kubernetes"])),
        ];
        for (body, finalizers) in cases {
            let p = prepare_create(res, body, decoding, &Admission::default()).unwrap();
            assert_eq!(p.value["spec"]["finalizers"], finalizers);
            assert_eq!(p.value["status"]["phase"], "Active");
        }
        // A main-resource update keeps them; only the namespace finalizer (a store write) removes them.
        let live =
            prepare_create(res, json!({"metadata": {"name": "a"}}), decoding, &Admission::default()).unwrap().value;
        let mut changed = live.clone();
        changed["spec"]["finalizers"] = json!([]);
        changed["metadata"]["labels"]["x"] = json!("y");
        let p = prepare_update(res, changed, &live, Part::Main, decoding).unwrap();
        assert_eq!(p.value["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(p.value["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn strict_errors_list_unknown_and_duplicate_fields() {
        let res = by_kind(Kind::Namespace);
        let dups = vec!["metadata.name".to_string()];
        /// Ok(the warnings) or Err(the message).
        type Outcome = Result<Vec<&'static str>, &'static str>;
        let cases: Vec<(Origin, FieldValidation, Outcome)> = vec![
            (
                Origin::Body,
                FieldValidation::Strict,
                Err(
                    "Namespace in version \"v1\" cannot be handled as a Namespace: strict decoding error: unknown field \"spec.foo\", duplicate field \"metadata.name\"",
                ),
            ),
            (
                Origin::Patch,
                FieldValidation::Strict,
                Err(
                    " \"\" is invalid: patch: Invalid value: \"map[apiVersion:v1 kind:Namespace metadata:map[name:n] spec:map[foo:1]]\": strict decoding error: duplicate field \"metadata.name\", unknown field \"spec.foo\"",
                ),
            ),
            (
                Origin::Body,
                FieldValidation::Warn,
                Ok(vec!["unknown field \"spec.foo\"", "duplicate field \"metadata.name\""]),
            ),
            (Origin::Body, FieldValidation::Ignore, Ok(vec![])),
        ];
        for (origin, validation, want) in cases {
            let decoding = Decoding { validation, origin, duplicate_fields: &dups };
            let got = prepare_create(res, namespace_with_unknown_field(), decoding, &Admission::default());
            match (got, want) {
                (Ok(p), Ok(warnings)) => {
                    assert_eq!(p.warnings, warnings, "{origin:?} {validation:?}");
                    assert!(p.value["spec"].get("foo").is_none(), "unknown fields are dropped");
                }
                (Err(e), Err(message)) => assert_eq!(e.message, message, "{origin:?} {validation:?}"),
                (got, want) => panic!("{origin:?} {validation:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
