//! The REST handlers: one entry point per request under `/api` and `/apis`, dispatching on path and method.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{HeaderMap, Method, StatusCode};
use runlet_store::{Compact, Object, PageRequest, StoreError};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::body;
use crate::chunk::{self, Chunking};
use crate::discovery;
use crate::error::ApiError;
use crate::filter::Filter;
use crate::meta;
use crate::negotiate::{self, BodyType, FieldValidation, Output, Query};
use crate::ops::{self, Change, DeleteRequest, Propagation, WriteOptions};
use crate::resources::{self, Resource, Target};
use crate::state::ApiState;
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
    let target = resources::parse_path(core, rest).ok_or_else(ApiError::path_not_found)?;
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

pub fn json_response<T: Serialize + ?Sized>(code: StatusCode, value: &T, warnings: &[String]) -> Response {
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

/// Decodes a create/update body (JSON, YAML or Kubernetes protobuf), with the keys its JSON text repeats when
/// `duplicates` asks for them (they are lost once parsed, so they are noted while parsing).
fn decode_body(body_type: BodyType, bytes: &[u8], duplicates: bool) -> Result<(Value, Vec<String>), ApiError> {
    let bad = |e: serde_json::Error| ApiError::bad_request(e.to_string());
    let (v, repeated) = match body_type {
        BodyType::Json if duplicates => {
            let parsed = crate::strict::parse(bytes).map_err(bad)?;
            (parsed.value, parsed.duplicate_fields)
        }
        BodyType::Json => (serde_json::from_slice(bytes).map_err(bad)?, Vec::new()),
        BodyType::Yaml | BodyType::Apply => (body::json_or_yaml(bytes)?, Vec::new()),
        BodyType::Protobuf => {
            (crate::protobuf::decode(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?, Vec::new())
        }
        _ => return Err(ApiError::unsupported_body_type()),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    Ok((v, repeated))
}

/// Reads and decodes the body of a create or update, with the options its query asks for.
async fn write_body(call: Call) -> Result<(Value, WriteOptions), ApiError> {
    let bt = negotiate::body_type(header(&call.headers, http::header::CONTENT_TYPE))
        .ok_or_else(ApiError::unsupported_body_type)?;
    let mut opts = WriteOptions::new(call.query.dry_run()?, call.query.field_validation()?, Origin::Body);
    let bytes = body::read(call.body).await?;
    let (value, duplicates) = decode_body(bt, &bytes, opts.validation != FieldValidation::Ignore)?;
    opts.duplicate_fields = duplicates;
    Ok((value, opts))
}

/// A `*List` answer, serialized from borrowed items (nothing is copied).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a, T: Serialize> {
    kind: String,
    api_version: String,
    metadata: ListMeta,
    items: &'a [T],
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    continue_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_item_count: Option<usize>,
}

impl<'a, T: Serialize> ListBody<'a, T> {
    fn new(resource: &Resource, resource_version: String, items: &'a [T]) -> Self {
        Self::with_meta(resource, ListMeta { resource_version, ..ListMeta::default() }, items)
    }

    fn with_meta(resource: &Resource, metadata: ListMeta, items: &'a [T]) -> Self {
        ListBody { kind: format!("{}List", resource.kind_name), api_version: resource.api_version(), metadata, items }
    }
}

/// A list (one page of it, or all of it) as the client asked for it: a `*List`, or a Table with the same
/// list metadata (kubectl asks for Tables in chunks).
fn list_response(resource: &Resource, output: Output, meta: ListMeta, items: &[Compact]) -> Response {
    match output {
        Output::Table(include) => {
            let objects: Vec<Object> = items.iter().filter_map(|c| c.decode().ok()).collect();
            let values = objects.iter().map(|o| o.value.as_ref());
            let mut table = crate::table::table(resource, values, include, Some(meta.resource_version), true);
            if let Some(token) = meta.continue_token {
                table["metadata"]["continue"] = json!(token);
            }
            if let Some(remaining) = meta.remaining_item_count {
                table["metadata"]["remainingItemCount"] = json!(remaining);
            }
            json_response(StatusCode::OK, &table, &[])
        }
        Output::Json => {
            // The store's text is the answer: checked, not parsed into values and serialized again.
            let texts: Vec<_> = items.iter().filter_map(|c| c.json().ok()).collect();
            let raw: Vec<&RawValue> = texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect();
            json_response(StatusCode::OK, &ListBody::with_meta(resource, meta, &raw), &[])
        }
    }
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
            let prefix = resource.collection_prefix(namespace.as_deref());
            let filter = Filter::from_query(resource, &call.query)?;
            if call.query.flag("watch") {
                let from = crate::watch::start_revision(call.query.get("resourceVersion"))?;
                let timeout =
                    call.query.i64("timeoutSeconds")?.filter(|t| *t > 0).map(|t| Duration::from_secs(t as u64));
                return Ok(crate::watch::respond(state, resource, prefix, filter, output, from, timeout));
            }
            // A list without `limit` is one page without end.
            let chunking = Chunking::from_query(&call.query, &prefix)?;
            let from = chunking.resume.as_ref().map(|r| r.from.as_str());
            let request = PageRequest {
                prefix: &prefix,
                from,
                at: chunking.resume.as_ref().and_then(|r| r.at),
                limit: chunking.limit.unwrap_or(usize::MAX),
            };
            let page = match state.store.list_page(request, &|o| filter.matches_compact(resource.kind, o)) {
                Ok(page) => page,
                Err(StoreError::Expired { .. }) => return Err(chunk::expired(&prefix, from.unwrap_or(&prefix))),
                Err(other) => return Err(other.into()),
            };
            let meta = ListMeta {
                resource_version: page.revision.to_string(),
                continue_token: page.next.as_deref().map(|next| chunk::encode(&prefix, next, page.revision)),
                // Upstream counts what remains only when nothing is filtered out.
                remaining_item_count: page
                    .next
                    .is_some()
                    .then_some(page.remaining)
                    .filter(|_| filter.selects_everything()),
            };
            Ok(list_response(resource, output, meta, &page.items))
        }
        // The all-namespaces path of a namespaced resource serves only list and watch (as upstream).
        _ if resource.namespaced && namespace.is_none() => Err(ApiError::method_not_allowed(call.method.as_str())),
        Method::POST => {
            let (value, opts) = write_body(call).await?;
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
            let (value, opts) = write_body(call).await?;
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
            let bytes = body::read(call.body).await?;
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

/// Deletes of one collection in flight at once: enough for group commit to batch them, few enough to bound
/// the work one request starts.
const DELETE_COLLECTION_CONCURRENCY: usize = 32;

/// `DELETE` on a collection: deletes every matching object, answers the list of what was deleted.
async fn delete_collection(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<String>,
    call: Call,
) -> Result<Response, ApiError> {
    let filter = Filter::from_query(resource, &call.query)?;
    let bytes = body::read(call.body).await?;
    // Parsed before anything is listed: bad options are refused even when nothing matches.
    let req = delete_request(&call.query, &bytes)?;
    let (objects, _) = state.store.list(&resource.collection_prefix(namespace.as_deref()));
    let mut deletes = Vec::new();
    for o in objects.iter().filter(|o| filter.matches(resource.kind, &o.value)) {
        deletes.push(ops::delete(state, resource, meta::namespace(&o.value), meta::name(&o.value), req.clone()));
    }
    // Answered in key order, as listed, though up to the limit run at once.
    let mut results = futures::stream::iter(deletes).buffered(DELETE_COLLECTION_CONCURRENCY);
    let mut deleted = Vec::new();
    let mut warnings = Vec::new();
    while let Some(result) = results.next().await {
        match result {
            Ok(d) => {
                for w in d.warnings {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                deleted.push(d.value);
            }
            // Deleted by someone else meanwhile.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let items: Vec<&Value> = deleted.iter().map(AsRef::as_ref).collect();
    let body = ListBody::new(resource, state.store.revision().to_string(), &items);
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
        assert!(decode_body(BodyType::Json, b"[1]", true).is_err());
        let (v, _) = decode_body(BodyType::Yaml, b"kind: Job\nmetadata:\n  name: pi\n", true).unwrap();
        assert_eq!(v["metadata"]["name"], "pi");
        assert_eq!(decode_body(BodyType::StrategicMerge, b"{}", true).map_err(|e| e.code).err(), Some(415));
        // Repeated keys are reported only when asked for; the last value wins either way.
        let text = br#"{"kind":"Job","kind":"Pod"}"#;
        let (v, repeated) = decode_body(BodyType::Json, text, true).unwrap();
        assert_eq!((v["kind"].as_str(), repeated), (Some("Pod"), vec!["kind".to_string()]));
        let (v, repeated) = decode_body(BodyType::Json, text, false).unwrap();
        assert_eq!((v["kind"].as_str(), repeated.len()), (Some("Pod"), 0));
    }

    #[test]
    fn list_bodies_serialize_like_upstream_lists() {
        let items = [json!({"metadata": {"name": "a"}}), json!({"metadata": {"name": "b"}})];
        let borrowed: Vec<&Value> = items.iter().collect();
        let body = ListBody::new(crate::resources::by_kind(crate::resources::Kind::Job), "7".into(), &borrowed);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"resourceVersion": "7"},
                   "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]})
        );
    }
}
