//! The `/scale` subresource of Jobs: an `autoscaling/v1` Scale whose replicas are the Job's `parallelism`
//! (upstream Jobs have none; kubectl-wire.md §2.12 explains why runlet serves it).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use runlet_api::field::FieldError;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::negotiate::{self, BodyType, Query};
use crate::ops::{self, Change, WriteOptions};
use crate::patching::{apply_patch, patch_body_type};
use crate::resources::Resource;
use crate::rest::json_response;
use crate::state::ApiState;
use crate::strategy::{Origin, Part};

/// The Scale view of a Job.
pub fn scale_of(job: &Value) -> Value {
    let m = job.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = job
        .pointer("/spec/selector")
        .and_then(|s| serde_json::from_value::<runlet_codec::LabelSelector>(s.clone()).ok())
        .map(|s| runlet_api::selector::format_api_selector(&s))
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": job.pointer("/spec/parallelism").and_then(Value::as_i64).unwrap_or(0)},
        "status": {"replicas": job.pointer("/status/active").and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

/// Writes a Scale back onto a Job: replicas become parallelism; a resourceVersion in it is a precondition.
fn job_with_scale(resource: &Resource, job: &Value, scale: &Value) -> Result<Value, ApiError> {
    let name = meta::name(job);
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?,
    };
    if replicas < 0 {
        let scale_res = Resource { kind_name: "Scale", group: "autoscaling", ..*resource };
        return Err(ApiError::invalid(
            &scale_res,
            name,
            &[FieldError::invalid("spec.replicas", replicas.to_string(), "must be greater than or equal to 0")],
        ));
    }
    let replicas = i32::try_from(replicas).map_err(|_| ApiError::bad_request("spec.replicas is too large"))?;
    let mut out = job.clone();
    out["spec"]["parallelism"] = json!(replicas);
    if let Some(rv) = meta::resource_version(scale) {
        meta::set_meta(&mut out, "resourceVersion", json!(rv));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub async fn handle(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    method: Method,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = WriteOptions::new(query.dry_run()?, query.field_validation()?, Origin::Body);
    let written = match method {
        Method::GET => {
            let job =
                state.store.get(&resource.key(namespace, name)).ok_or_else(|| ApiError::not_found(resource, name))?;
            return Ok(json_response(StatusCode::OK, &scale_of(&job.value), &[]));
        }
        Method::PUT => {
            let ct = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if negotiate::body_type(ct) != Some(BodyType::Json) {
                return Err(ApiError::unsupported_media_type());
            }
            let bytes = crate::body::read(body).await?;
            let scale: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let compute = move |job: &Value| job_with_scale(resource, job, &scale);
            ops::update(state, resource, namespace, name, Part::Main, Change::Compute(&compute), opts).await?
        }
        Method::PATCH => {
            let bt = patch_body_type(headers)?;
            let bytes = crate::body::read(body).await?;
            let patch: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let compute = move |job: &Value| {
                let scaled = apply_patch(resource, bt, &scale_of(job), &patch)?;
                job_with_scale(resource, job, &scaled)
            };
            ops::update(state, resource, namespace, name, Part::Main, Change::Compute(&compute), opts).await?
        }
        m => return Err(ApiError::method_not_allowed(m.as_str())),
    };
    Ok(json_response(StatusCode::OK, &scale_of(&written.value), &written.warnings))
}
