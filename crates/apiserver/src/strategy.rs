//! Per-kind create and update rules: decode the JSON into the typed object, default it, validate it with the
//! pure rules of `runlet-api`, and encode it back. Unknown fields are handled per `fieldValidation`.

use runlet_api::field::FieldError;
use runlet_codec as codec;
use serde_json::Value;

use crate::error::ApiError;
use crate::negotiate::FieldValidation;
use crate::resources::{Kind, Resource};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
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
