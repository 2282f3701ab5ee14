//! `PATCH`: strategic merge, JSON merge, JSON patch and server-side apply (kubectl-wire.md §6.2–6.4).

use axum::body::Body;
use http::HeaderMap;
use runlet_patch::PatchError;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::negotiate::{self, BodyType, FieldValidation, Query};
use crate::ops::{self, Change, WriteOptions, Written};
use crate::resources::Resource;
use crate::state::{ApiState, MAX_BODY_BYTES};
use crate::strategy::{Origin, Part};

/// Maps a merge error to the answer upstream gives (strategic-merge-patch.md §4).
pub fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::BadRequest(m) => ApiError::bad_request(m),
        PatchError::Internal(m) => ApiError::internal(m),
        PatchError::Invalid(m) => ApiError::invalid_plain(m, json!([])),
    }
}

/// Parses a patch body that must be JSON (every type but apply).
fn parse_json(bytes: &[u8], want_object: bool) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if want_object && !v.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ));
    }
    Ok(v)
}

/// Applies a patch of the request's content type to `live`; nulls left by the merge are dropped.
pub fn apply_patch(resource: &Resource, body_type: BodyType, live: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut merged = match body_type {
        BodyType::StrategicMerge => runlet_patch::strategic_merge(live, patch, resource.patch_kind),
        BodyType::MergePatch => runlet_patch::merge_patch(live, patch),
        BodyType::JsonPatch => runlet_patch::json_patch(live, patch),
        BodyType::Apply => Ok(runlet_patch::apply_merge(live, patch, resource.patch_kind)),
        _ => return Err(ApiError::unsupported_media_type("")),
    }
    .map_err(patch_error)?;
    runlet_patch::strip_nulls(&mut merged);
    Ok(merged)
}

/// The body type of a PATCH, refusing anything that is not a patch format.
pub fn patch_body_type(headers: &HeaderMap) -> Result<BodyType, ApiError> {
    let ct = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match negotiate::body_type(ct) {
        Some(t @ (BodyType::StrategicMerge | BodyType::MergePatch | BodyType::JsonPatch | BodyType::Apply)) => Ok(t),
        _ => Err(ApiError::unsupported_media_type(ct.unwrap_or(""))),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn patch(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    part: Part,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Written, ApiError> {
    let body_type = patch_body_type(headers)?;
    if query.get("force").is_some() && body_type != BodyType::Apply {
        return Err(ApiError::invalid_plain(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
            json!([{"reason": "FieldValueForbidden", "field": "force",
                    "message": "Forbidden: may not be specified for non-apply patch"}]),
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let mut opts = WriteOptions::new(query.dry_run()?, query.field_validation()?, Origin::Patch);
    if body_type == BodyType::Apply {
        return server_side_apply(state, resource, namespace, name, part, query, &bytes, opts).await;
    }
    let patch = parse_json(&bytes, body_type != BodyType::JsonPatch)?;
    // Merge patches are decoded strictly by upstream, so their repeated keys count as strict errors.
    if body_type != BodyType::JsonPatch && opts.validation != FieldValidation::Ignore {
        opts.duplicate_fields = crate::strict::duplicate_fields(&bytes);
    }
    let compute = move |live: &Value| apply_patch(resource, body_type, live, &patch);
    ops::update(state, resource, namespace, name, part, Change::Compute(&compute), opts).await
}

#[allow(clippy::too_many_arguments)]
async fn server_side_apply(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    part: Part,
    query: &Query,
    bytes: &[u8],
    opts: WriteOptions,
) -> Result<Written, ApiError> {
    if query.get("fieldManager").unwrap_or("").is_empty() {
        return Err(ApiError::invalid_plain(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            json!([{"reason": "FieldValueRequired", "field": "fieldManager", "message": "Required value: is required for apply patch"}]),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let applied: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    if !applied.is_object() {
        return Err(ApiError::bad_request("apply patch must be an object"));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let want = resource.api_version();
    if let Some(av) = applied.get("apiVersion").and_then(Value::as_str)
        && av != want
    {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {want}"
        )));
    }
    if state.store.get(&resource.key(namespace, name)).is_none() {
        if part == Part::Status {
            return Err(ApiError::not_found(resource, name));
        }
        let mut value = applied.clone();
        runlet_patch::strip_nulls(&mut value);
        if meta::name(&value).is_empty() {
            meta::set_meta(&mut value, "name", json!(name));
        }
        if meta::name(&value) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&value)
            )));
        }
        return ops::create(state, resource, namespace, value, opts).await;
    }
    let compute = move |live: &Value| apply_patch(resource, BodyType::Apply, live, &applied);
    ops::update(state, resource, namespace, name, part, Change::Compute(&compute), opts).await
}
