//! `PATCH`: strategic merge, JSON merge, JSON patch and server-side apply (kubectl-wire.md §6.2–6.4).

use axum::body::Body;
use http::HeaderMap;
use runlet_api::vocab::StatusReason;
use runlet_patch::PatchError;
use serde_json::{Value, json};

use crate::body;
use crate::error::ApiError;
use crate::meta;
use crate::negotiate::{self, BodyType, FieldValidation, Query};
use crate::ops::{self, Change, WriteOptions, Written};
use crate::resources::Resource;
use crate::state::ApiState;
use crate::strategy::{Origin, Part};

/// Maps a merge error to the answer upstream gives (strategic-merge-patch.md §4).
pub fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::BadRequest(m) => ApiError::bad_request(m),
        PatchError::Internal(m) => ApiError::internal(m),
        PatchError::Invalid(m) => ApiError::invalid_plain(m, json!([])),
        PatchError::Unprocessable { cause } => {
            ApiError::invalid_plain(runlet_patch::GENERIC_UNPROCESSABLE, json!([{ "message": cause }]))
        }
        PatchError::TooLarge(m) => ApiError::new(413, StatusReason::RequestEntityTooLarge, m),
    }
}

/// Parses a patch body that must be JSON (every type but apply), with the keys it repeats when `duplicates` asks
/// for them.
fn parse_json(bytes: &[u8], want_object: bool, duplicates: bool) -> Result<(Value, Vec<String>), ApiError> {
    let bad = |e: serde_json::Error| ApiError::bad_request(e.to_string());
    let (v, repeated) = if duplicates {
        let parsed = crate::strict::parse(bytes).map_err(bad)?;
        (parsed.value, parsed.duplicate_fields)
    } else {
        (serde_json::from_slice(bytes).map_err(bad)?, Vec::new())
    };
    if want_object && !v.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ));
    }
    Ok((v, repeated))
}

/// Applies a patch of the request's content type to `live`; nulls left by the merge are dropped.
pub fn apply_patch(resource: &Resource, body_type: BodyType, live: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut merged = match body_type {
        BodyType::StrategicMerge => runlet_patch::strategic_merge(live, patch, resource.patch_kind),
        BodyType::MergePatch => runlet_patch::merge_patch(live, patch),
        BodyType::JsonPatch => runlet_patch::json_patch(live, patch),
        BodyType::Apply => Ok(runlet_patch::apply_merge(live, patch, resource.patch_kind)),
        _ => return Err(ApiError::unsupported_media_type()),
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
        _ => Err(ApiError::unsupported_media_type()),
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
    let bytes = body::read(body).await?;
    let mut opts = WriteOptions::new(query.dry_run()?, query.field_validation()?, Origin::Patch);
    if body_type == BodyType::Apply {
        return server_side_apply(state, resource, namespace, name, part, query, &bytes, opts).await;
    }
    // Merge patches are decoded strictly by upstream, so their repeated keys count as strict errors.
    let merge = body_type != BodyType::JsonPatch;
    let (patch, repeated) = parse_json(&bytes, merge, merge && opts.validation != FieldValidation::Ignore)?;
    opts.duplicate_fields = repeated;
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
    let applied = body::json_or_yaml(bytes)?;
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
        match ops::create(state, resource, namespace, value, opts.clone()).await {
            // Another apply created it since it was read: this one updates it, as if it had come second.
            Err(e) if e.is_already_exists() => {}
            created => return created,
        }
    }
    let compute = move |live: &Value| apply_patch(resource, BodyType::Apply, live, &applied);
    ops::update(state, resource, namespace, name, part, Change::Compute(&compute), opts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Kind, by_kind};
    use runlet_store::{Store, StoreOptions};

    fn lease(holder: &str) -> Vec<u8> {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
               "spec": {"holderIdentity": holder}})
        .to_string()
        .into_bytes()
    }

    #[tokio::test]
    async fn concurrent_applies_of_an_absent_object_all_succeed() {
        let state = ApiState::new(Store::open_memory(StoreOptions::default()).await.expect("store"));
        crate::namespaces::ensure_system_namespaces(&state).await.expect("namespaces");
        let res = by_kind(Kind::Lease);
        let query = Query::parse(Some("fieldManager=tests"));
        let opts = || WriteOptions::new(false, FieldValidation::Strict, Origin::Patch);
        let (a, b) = (lease("a"), lease("b"));
        // Both read the object as absent before either create commits.
        let (first, second) = tokio::join!(
            server_side_apply(&state, res, Some("default"), "l", Part::Main, &query, &a, opts()),
            server_side_apply(&state, res, Some("default"), "l", Part::Main, &query, &b, opts()),
        );
        let (first, second) = (first.expect("first apply"), second.expect("second apply"));
        assert!(first.created != second.created, "exactly one apply creates");
        let last = if first.created { &second } else { &first };
        let stored = state.store.get(&res.key(Some("default"), "l")).expect("stored");
        assert_eq!(stored.value["spec"]["holderIdentity"], last.value["spec"]["holderIdentity"]);
    }
}
