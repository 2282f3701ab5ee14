//! The REST handlers: one entry point per request under `/api` and `/apis`, dispatching on path and method.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::discovery;
use crate::error::ApiError;
use crate::filter::Filter;
use crate::meta;
use crate::negotiate::{self, BodyType, FieldValidation, Output, Query};
use crate::ops::{self, Change, DeleteRequest, Propagation, WriteOptions};
use crate::resources::{self, Resource, Target};
use crate::state::{ApiState, MAX_BODY_BYTES};
use crate::strategy::{Origin, Part};

pub async fn core(State(state): State<ApiState>, req: Request) -> Response {
    serve(state, true, req).await
}

pub async fn groups(State(state): State<ApiState>, req: Request) -> Response {
    serve(state, false, req).await
}

async fn serve(state: ApiState, core: bool, req: Request) -> Response {
    match dispatch(state, core, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The parts of a request the handlers look at.
struct Call {
    method: Method,
    headers: HeaderMap,
    query: Query,
    body: Body,
}

async fn dispatch(state: ApiState, core: bool, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let prefix = if core { "/api" } else { "/apis" };
    let rest = parts.uri.path().strip_prefix(prefix).unwrap_or("");
    let call = Call { method: parts.method, headers: parts.headers, query: Query::parse(parts.uri.query()), body };
    let target = resources::parse_path(core, rest).map_err(|_| ApiError::path_not_found())?;
    match target {
        Target::Group { group } => {
            let g = discovery::group(&group).ok_or_else(ApiError::path_not_found)?;
            Ok(json_response(StatusCode::OK, &g, &[]))
        }
        Target::GroupVersion { group, version } => {
            let l = discovery::resource_list(&group, &version).ok_or_else(ApiError::path_not_found)?;
            Ok(json_response(StatusCode::OK, &l, &[]))
        }
        Target::Collection { resource, namespace } => collection(&state, resource, namespace, call).await,
        Target::Item { resource, namespace, name, subresource } => {
            item(&state, resource, namespace, name, subresource, call).await
        }
    }
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn json_response(code: StatusCode, value: &Value, warnings: &[String]) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = (code, [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
    for w in warnings {
        // `299 - "text"`: the form kubectl prints as `Warning: text`.
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

/// An object (or a one-row Table) as the client asked for it.
fn object_response(
    resource: &Resource,
    code: StatusCode,
    value: &Value,
    output: Output,
    warnings: &[String],
) -> Response {
    match output {
        Output::Json => json_response(code, value, warnings),
        Output::Table(include) => {
            let t =
                crate::table::table(resource, [value], include, meta::resource_version(value).map(Into::into), true);
            json_response(code, &t, warnings)
        }
    }
}

async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}

/// Decodes a create/update body (JSON, YAML or Kubernetes protobuf).
fn decode_body(body_type: BodyType, bytes: &[u8]) -> Result<Value, ApiError> {
    let v = match body_type {
        BodyType::Json => serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?,
        BodyType::Yaml | BodyType::Apply => {
            let text = std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
            // kubectl sends JSON even for apply-patch+yaml; YAML is a superset, but JSON is parsed directly.
            match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
            }
        }
        BodyType::Protobuf => crate::protobuf::decode(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?,
        _ => return Err(ApiError::unsupported_media_type("")),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    Ok(v)
}

/// The options of a create or update whose body is `bytes` of `body_type`.
fn write_options(query: &Query, body_type: BodyType, bytes: &[u8]) -> Result<WriteOptions, ApiError> {
    let mut opts = WriteOptions::new(query.dry_run()?, query.field_validation()?, Origin::Body);
    if body_type == BodyType::Json && opts.validation != FieldValidation::Ignore {
        opts.duplicate_fields = crate::strict::duplicate_fields(bytes);
    }
    Ok(opts)
}

async fn collection(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<String>,
    call: Call,
) -> Result<Response, ApiError> {
    let output = negotiate::output(header(&call.headers, http::header::ACCEPT), &call.query)?;
    match call.method {
        Method::GET => {
            let prefix = match &namespace {
                Some(ns) => resource.namespace_prefix(ns),
                None => resource.prefix(),
            };
            let filter = Filter::from_query(resource, &call.query)?;
            if call.query.flag("watch") {
                let from = crate::watch::start_revision(call.query.get("resourceVersion"))?;
                let timeout =
                    call.query.i64("timeoutSeconds")?.filter(|t| *t > 0).map(|t| Duration::from_secs(t as u64));
                return Ok(crate::watch::respond(state, resource, prefix, filter, output, from, timeout));
            }
            let (objects, revision) = state.store.list(&prefix);
            let items: Vec<&Value> =
                objects.iter().map(|o| o.value.as_ref()).filter(|v| filter.matches(resource.kind, v)).collect();
            let rv = revision.to_string();
            let body = match output {
                Output::Table(include) => crate::table::table(resource, items, include, Some(rv), true),
                Output::Json => json!({
                    "kind": format!("{}List", resource.kind_name),
                    "apiVersion": resource.api_version(),
                    "metadata": {"resourceVersion": rv},
                    "items": items,
                }),
            };
            Ok(json_response(StatusCode::OK, &body, &[]))
        }
        // The all-namespaces path of a namespaced resource serves only list and watch (as upstream).
        _ if resource.namespaced && namespace.is_none() => Err(ApiError::method_not_allowed(call.method.as_str())),
        Method::POST => {
            let bt = negotiate::body_type(header(&call.headers, http::header::CONTENT_TYPE))
                .ok_or_else(ApiError::unsupported_body_type)?;
            let bytes = read_body(call.body).await?;
            let value = decode_body(bt, &bytes)?;
            let opts = write_options(&call.query, bt, &bytes)?;
            let w = ops::create(state, resource, namespace.as_deref(), value, opts).await?;
            Ok(object_response(resource, StatusCode::CREATED, &w.value, output, &w.warnings))
        }
        Method::DELETE => delete_collection(state, resource, namespace, call).await,
        m => Err(ApiError::method_not_allowed(m.as_str())),
    }
}

async fn item(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<String>,
    name: String,
    subresource: Option<String>,
    call: Call,
) -> Result<Response, ApiError> {
    let ns = namespace.as_deref();
    match subresource.as_deref() {
        Some("scale") => {
            return crate::scale::handle(
                state,
                resource,
                ns,
                &name,
                call.method,
                &call.headers,
                &call.query,
                call.body,
            )
            .await;
        }
        Some("log") if call.method == Method::GET => {
            return crate::podlog::handle(state, resource, ns, &name, &call.query).await;
        }
        _ => {}
    }
    let part = match subresource.as_deref() {
        None => Part::Main,
        Some("status") => Part::Status,
        // `log` (other than GET) and anything else: never the object itself.
        Some(_) => return Err(ApiError::method_not_allowed(call.method.as_str())),
    };
    let output = negotiate::output(header(&call.headers, http::header::ACCEPT), &call.query)?;
    match call.method {
        Method::GET => {
            let obj = state.store.get(&resource.key(ns, &name)).ok_or_else(|| ApiError::not_found(resource, &name))?;
            Ok(object_response(resource, StatusCode::OK, &obj.value, output, &[]))
        }
        Method::PUT => {
            let bt = negotiate::body_type(header(&call.headers, http::header::CONTENT_TYPE))
                .ok_or_else(ApiError::unsupported_body_type)?;
            let bytes = read_body(call.body).await?;
            let value = decode_body(bt, &bytes)?;
            let opts = write_options(&call.query, bt, &bytes)?;
            let w = ops::update(state, resource, ns, &name, part, Change::Replace(value), opts).await?;
            Ok(object_response(resource, StatusCode::OK, &w.value, output, &w.warnings))
        }
        Method::PATCH => {
            let w =
                crate::patching::patch(state, resource, ns, &name, part, &call.headers, &call.query, call.body).await?;
            let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(object_response(resource, code, &w.value, output, &w.warnings))
        }
        Method::DELETE if part == Part::Main => {
            let bytes = read_body(call.body).await?;
            let req = delete_request(&call.query, &bytes)?;
            let d = ops::delete(state, resource, ns, &name, req).await?;
            if d.gone && !resource.returns_deleted_object() {
                return Ok(json_response(StatusCode::OK, &deleted_status(resource, &d.value), &d.warnings));
            }
            Ok(object_response(resource, StatusCode::OK, &d.value, output, &d.warnings))
        }
        m => Err(ApiError::method_not_allowed(m.as_str())),
    }
}

/// What upstream answers for an object that is gone (kubectl-wire.md §10): a Success Status naming it, so a
/// client can tell "deleted" from "marked and waiting for finalizers" (which answers the object).
fn deleted_status(resource: &Resource, object: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta::name(object),
            "group": resource.group,
            "kind": resource.plural,
            "uid": meta::uid(object).unwrap_or(""),
        },
    })
}

/// DeleteOptions from the body (which may lack `kind`) and the query string.
fn delete_request(query: &Query, body: &[u8]) -> Result<DeleteRequest, ApiError> {
    let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let policy = opts
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| query.get("propagationPolicy").map(str::to_string));
    let orphan_dependents =
        opts.get("orphanDependents").and_then(Value::as_bool).or(match query.get("orphanDependents") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        });
    let propagation = match (policy.as_deref(), orphan_dependents) {
        (Some("Orphan"), _) => Some(Propagation::Orphan),
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some(""), o) | (None, o) => match o {
            Some(true) => Some(Propagation::Orphan),
            Some(false) => Some(Propagation::Background),
            None => None,
        },
        (Some(other), _) => {
            return Err(ApiError::invalid_plain(
                format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
                json!([{"reason": "FieldValueNotSupported", "field": "propagationPolicy"}]),
            ));
        }
    };
    let grace_period_seconds = opts
        .get("gracePeriodSeconds")
        .and_then(Value::as_i64)
        .map(Ok)
        .or_else(|| query.i64("gracePeriodSeconds").transpose())
        .transpose()?;
    let dry_run = match opts.get("dryRun").and_then(Value::as_array) {
        Some(a) => a.iter().any(|v| v == "All"),
        None => query.dry_run()?,
    };
    Ok(DeleteRequest {
        propagation,
        grace_period_seconds,
        precondition_uid: opts.pointer("/preconditions/uid").and_then(Value::as_str).map(Into::into),
        precondition_rv: opts.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(Into::into),
        dry_run,
    })
}

/// `DELETE` on a collection: deletes every matching object, answers the list of what was deleted.
async fn delete_collection(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<String>,
    call: Call,
) -> Result<Response, ApiError> {
    let filter = Filter::from_query(resource, &call.query)?;
    let bytes = read_body(call.body).await?;
    let prefix = match &namespace {
        Some(ns) => resource.namespace_prefix(ns),
        None => resource.prefix(),
    };
    let (objects, _) = state.store.list(&prefix);
    let mut deleted = Vec::new();
    let mut warnings = Vec::new();
    for o in objects.iter().filter(|o| filter.matches(resource.kind, &o.value)) {
        let req = delete_request(&call.query, &bytes)?;
        let ns = meta::namespace(&o.value).map(str::to_string);
        match ops::delete(state, resource, ns.as_deref(), meta::name(&o.value), req).await {
            Ok(d) => {
                for w in d.warnings {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                deleted.push(d.value);
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": format!("{}List", resource.kind_name),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": state.store.revision().to_string()},
        "items": deleted,
    });
    Ok(json_response(StatusCode::OK, &body, &warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_options_from_body_or_query() {
        let r = delete_request(&Query::default(), br#"{"propagationPolicy":"Foreground"}"#).unwrap();
        assert_eq!(r.propagation, Some(Propagation::Foreground));
        let r = delete_request(&Query::parse(Some("propagationPolicy=Orphan")), b"").unwrap();
        assert_eq!(r.propagation, Some(Propagation::Orphan));
        let r = delete_request(&Query::default(), b"").unwrap();
        assert_eq!(r.propagation, None);
        let r = delete_request(&Query::default(), br#"{"orphanDependents":false,"gracePeriodSeconds":0}"#).unwrap();
        assert_eq!(r.propagation, Some(Propagation::Background));
        assert_eq!(r.grace_period_seconds, Some(0));
        let r = delete_request(&Query::default(), br#"{"preconditions":{"uid":"u1"}}"#).unwrap();
        assert_eq!(r.precondition_uid.as_deref(), Some("u1"));
        assert!(delete_request(&Query::default(), br#"{"propagationPolicy":"Sideways"}"#).is_err());
        assert!(delete_request(&Query::default(), b"{not json").is_err());
    }

    #[test]
    fn deleted_status_names_the_object_like_upstream() {
        let job = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u1"}});
        assert_eq!(
            deleted_status(crate::resources::by_kind(crate::resources::Kind::Job), &job),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                   "details": {"name": "pi", "group": "batch", "kind": "jobs", "uid": "u1"}})
        );
        let ev = deleted_status(crate::resources::by_kind(crate::resources::Kind::Event), &job);
        assert_eq!((ev["details"]["group"].as_str(), ev["details"]["kind"].as_str()), (Some(""), Some("events")));
    }

    #[test]
    fn bodies_decode_by_type() {
        assert!(decode_body(BodyType::Json, b"[1]").is_err());
        let v = decode_body(BodyType::Yaml, b"kind: Job\nmetadata:\n  name: pi\n").unwrap();
        assert_eq!(v["metadata"]["name"], "pi");
        assert!(decode_body(BodyType::StrategicMerge, b"{}").is_err());
    }
}
