//! The write operations behind the REST handlers: create, read-modify-write update, delete with finalizers and
//! propagation. Handlers parse requests; everything about what a write means lives here.

use std::sync::Arc;

use runlet_api::field::FieldError;
use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_store::{Object, StoreError};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::negotiate::FieldValidation;
use crate::resources::{Kind, Resource, by_kind};
use crate::state::ApiState;
use crate::strategy::{self, Origin, Part};

/// Options every write carries.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub origin: Origin,
    /// Keys the request body's JSON repeats; reported per `validation` like unknown fields.
    pub duplicate_fields: Vec<String>,
}

impl WriteOptions {
    /// Options for a document with no duplicate keys to report.
    pub fn new(dry_run: bool, validation: FieldValidation, origin: Origin) -> Self {
        WriteOptions { dry_run, validation, origin, duplicate_fields: Vec::new() }
    }

    fn decoding(&self) -> strategy::Decoding<'_> {
        strategy::Decoding {
            validation: self.validation,
            origin: self.origin,
            duplicate_fields: &self.duplicate_fields,
        }
    }
}

/// The result of a write: the object as stored (or as it would be, for a dry run) and warnings.
#[derive(Debug)]
pub struct Written {
    /// Shared with the store's cache: answered without copying.
    pub value: Arc<Value>,
    pub warnings: Vec<String>,
    /// True when a create happened (201), false for updates and no-ops (200).
    pub created: bool,
}

fn store_err(resource: &Resource, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists { .. } => ApiError::already_exists(resource, name),
        StoreError::NotFound { .. } => ApiError::not_found(resource, name),
        StoreError::Conflict { .. } => ApiError::conflict(resource, name),
        other => ApiError::from(other),
    }
}

const GENERATE_ATTEMPTS: usize = 8;

/// Creates an object. `namespace` is the one from the URL (None for cluster-scoped resources).
pub async fn create(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    mut value: Value,
    opts: WriteOptions,
) -> Result<Written, ApiError> {
    check_type_meta(resource, &mut value)?;
    if resource.namespaced {
        let ns = namespace.unwrap_or("default");
        match meta::namespace(&value) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => meta::set_meta(&mut value, "namespace", json!(ns)),
        }
        check_namespace_accepts(state, resource, meta::name(&value), ns)?;
    } else {
        meta::remove_meta(&mut value, "namespace");
    }
    value = strategy::admit_create(state, resource.kind, value)?;
    let generate = meta::str_at(&value, &["metadata", "generateName"]).unwrap_or("").to_string();
    if meta::name(&value).is_empty() && generate.is_empty() {
        return Err(ApiError::invalid(
            resource,
            "",
            &[runlet_api::field::FieldError::required("metadata.name", "name or generateName is required")],
        ));
    }
    {
        let m = meta::meta_mut(&mut value);
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
    }
    let attempts = if meta::name(&value).is_empty() { GENERATE_ATTEMPTS } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut candidate = value.clone();
        if meta::name(&candidate).is_empty() {
            let name = runlet_api::names::with_suffix(&generate, &random_suffix());
            meta::set_meta(&mut candidate, "name", json!(name));
        }
        let name = meta::name(&candidate).to_string();
        let mut prepared = strategy::prepare_create(resource, candidate, opts.decoding(), &state.admission)?;
        meta::drop_empty_metadata(&mut prepared.value);
        if opts.dry_run {
            return Ok(Written { value: Arc::new(prepared.value), warnings: prepared.warnings, created: true });
        }
        let key = resource.key(namespace, &name);
        match state.store.create(&key, prepared.value).await {
            Ok(obj) => return Ok(Written { value: obj.value, warnings: prepared.warnings, created: true }),
            Err(StoreError::AlreadyExists { .. }) if !generate.is_empty() && attempts > 1 => {
                last_err = Some(ApiError::already_exists(resource, &name));
            }
            Err(e) => return Err(store_err(resource, &name, e)),
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("could not generate a unique name")))
}

fn random_suffix() -> String {
    use rand::Rng;
    let alphabet = runlet_api::names::GENERATE_NAME_SUFFIX_ALPHABET.as_bytes();
    let mut rng = rand::rng();
    (0..5).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// `apiVersion`/`kind` in a body must name this resource; missing ones are filled in.
fn check_type_meta(resource: &Resource, value: &mut Value) -> Result<(), ApiError> {
    let want_av = resource.api_version();
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    };
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if !av.is_empty() && av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        _ => {
            obj.insert("apiVersion".into(), json!(want_av));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != resource.kind_name => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                resource.version, resource.kind_name, resource.kind_name
            )));
        }
        _ => {
            obj.insert("kind".into(), json!(resource.kind_name));
        }
    }
    Ok(())
}

/// A namespaced object may only be created in a namespace that exists and is not being deleted.
fn check_namespace_accepts(state: &ApiState, resource: &Resource, name: &str, ns: &str) -> Result<(), ApiError> {
    let ns_res = by_kind(Kind::Namespace);
    match state.store.get(&ns_res.key(None, ns)) {
        None => Err(ApiError::namespace_not_found(ns)),
        Some(obj) if meta::deletion_timestamp(&obj.value).is_some() => {
            Err(ApiError::namespace_terminating(resource, name, ns))
        }
        Some(_) => Ok(()),
    }
}

/// How an update computes the new object from the current one.
pub enum Change<'a> {
    /// A full replacement (PUT); its `metadata.resourceVersion`, if set, is a precondition.
    Replace(Value),
    /// A function of the current object (patches, scale); a `resourceVersion` it leaves different from the
    /// current one is a precondition failure.
    Compute(&'a (dyn Fn(&Value) -> Result<Value, ApiError> + Send + Sync)),
}

/// Compare-and-swap attempts before a write without a precondition gives up with a Conflict. Many writers of
/// one object (kubelet status, controllers, users) lose races often under group commit; each retry re-reads.
const UPDATE_ATTEMPTS: usize = 64;

/// A short random pause after a lost compare-and-swap, so racing writers do not collide again in lockstep.
async fn conflict_backoff(attempt: usize) {
    use rand::Rng;
    let max_ms = 1u64 << attempt.min(5);
    let pause = rand::rng().random_range(0..=max_ms);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// Read-modify-write with compare-and-swap, retried on conflicts the caller did not ask to see.
pub async fn update(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    part: Part,
    change: Change<'_>,
    opts: WriteOptions,
) -> Result<Written, ApiError> {
    let key = resource.key(namespace, name);
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            conflict_backoff(attempt).await;
        }
        let current = state.store.get(&key).ok_or_else(|| ApiError::not_found(resource, name))?;
        let current_rv = current.mod_revision.to_string();
        let (mut new, precondition) = match &change {
            Change::Replace(v) => {
                let mut v = v.clone();
                check_type_meta(resource, &mut v)?;
                // A PUT's uid is a precondition, checked before anything else (upstream's
                // `defaultUpdatedObjectInfo.Preconditions`).
                if let Some(uid) = given_uid(&v)
                    && Some(uid) != meta::uid(&current.value)
                {
                    return Err(ApiError::precondition_failed(
                        resource,
                        name,
                        &format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            meta::uid(&current.value).unwrap_or("")
                        ),
                    ));
                }
                let pre = meta::resource_version(&v).map(str::to_string);
                (v, pre)
            }
            Change::Compute(f) => {
                let v = f(&current.value)?;
                let pre = meta::resource_version(&v).filter(|rv| *rv != current_rv).map(str::to_string);
                (v, pre)
            }
        };
        if let Some(rv) = &precondition
            && *rv != current_rv
        {
            return Err(ApiError::conflict(resource, name));
        }
        // A patched object's uid is validated as an immutable field: a patch naming another uid was meant for
        // another object of this name (a garbage collector or controller acting on one it saw earlier).
        if let Some(uid) = given_uid(&new)
            && Some(uid) != meta::uid(&current.value)
        {
            let error = FieldError::invalid("metadata.uid", runlet_api::field::quote(uid), "field is immutable");
            return Err(ApiError::invalid(resource, name, &[error]));
        }
        if meta::name(&new) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&new)
            )));
        }
        match (resource.namespaced, meta::namespace(&new), namespace) {
            (true, Some(n), Some(url_ns)) if !n.is_empty() && n != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {}
        }
        keep_system_metadata(&mut new, &current.value);
        let errors = no_new_finalizers(&new, &current.value);
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, name, &errors));
        }
        let mut prepared = strategy::prepare_update(resource, new, &current.value, part, opts.decoding())?;
        meta::drop_empty_metadata(&mut prepared.value);
        if meta::same_ignoring_version(&prepared.value, &current.value) {
            return Ok(Written { value: current.value, warnings: prepared.warnings, created: false });
        }
        if opts.dry_run {
            return Ok(Written { value: Arc::new(prepared.value), warnings: prepared.warnings, created: false });
        }
        let outcome = if strategy::deletion_complete(state, resource.kind, &prepared.value) {
            cas_delete(state, resource, name, &current).await?
        } else {
            cas_update(state, resource, name, &current, prepared.value).await?
        };
        match outcome {
            Cas::Won(value) => return Ok(Written { value, warnings: prepared.warnings, created: false }),
            // A precondition the caller set is theirs to retry; a lost race without one is ours.
            Cas::Lost if precondition.is_some() => return Err(ApiError::conflict(resource, name)),
            Cas::Lost => continue,
        }
    }
    Err(ApiError::conflict(resource, name))
}

/// A compare-and-swap write's outcome: the stored (or deleted) object, or a lost race to retry.
enum Cas {
    Won(Arc<Value>),
    Lost,
}

/// Deletes `current` if it is still at the revision read.
async fn cas_delete(state: &ApiState, resource: &Resource, name: &str, current: &Object) -> Result<Cas, ApiError> {
    match state.store.delete(&current.key, Some(current.mod_revision)).await {
        Ok(obj) => Ok(Cas::Won(obj.value)),
        Err(StoreError::Conflict { .. }) => Ok(Cas::Lost),
        Err(e) => Err(store_err(resource, name, e)),
    }
}

/// Replaces `current` with `value` if it is still at the revision read.
async fn cas_update(
    state: &ApiState,
    resource: &Resource,
    name: &str,
    current: &Object,
    value: Value,
) -> Result<Cas, ApiError> {
    match state.store.update(&current.key, value, Some(current.mod_revision)).await {
        Ok(obj) => Ok(Cas::Won(obj.value)),
        Err(StoreError::Conflict { .. }) => Ok(Cas::Lost),
        Err(e) => Err(store_err(resource, name, e)),
    }
}

/// The uid an update names, if any (an empty or absent uid means "the stored one", as upstream reads it).
fn given_uid(value: &Value) -> Option<&str> {
    meta::uid(value).filter(|uid| !uid.is_empty())
}

/// Metadata only the server sets: callers cannot change it through an update.
fn keep_system_metadata(new: &mut Value, current: &Value) {
    let cur_meta = current.get("metadata");
    let m = meta::meta_mut(new);
    for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace"]
    {
        match cur_meta.and_then(|c| c.get(k)) {
            Some(v) => {
                m.insert(k.into(), v.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
    m.remove("managedFields");
    m.remove("selfLink");
}

/// Upstream `ValidateNoNewFinalizers`: an object being deleted may lose finalizers, never gain one.
fn no_new_finalizers(new: &Value, current: &Value) -> Vec<FieldError> {
    if meta::deletion_timestamp(current).is_none() {
        return Vec::new();
    }
    let old = meta::finalizers(current);
    let mut extra: Vec<String> = meta::finalizers(new).into_iter().filter(|f| !old.contains(f)).collect();
    if extra.is_empty() {
        return Vec::new();
    }
    extra.sort();
    extra.dedup();
    let listed: Vec<String> = extra.iter().map(|f| runlet_api::field::quote(f)).collect();
    vec![FieldError::forbidden(
        "metadata.finalizers",
        format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
            listed.join(", ")
        ),
    )]
}

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

#[derive(Debug, Default, Clone)]
pub struct DeleteRequest {
    pub propagation: Option<Propagation>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// The answer to a delete and the warnings to send with it.
pub struct Deleted {
    /// Shared with the store's cache when stored: answered without copying.
    pub value: Arc<Value>,
    pub warnings: Vec<String>,
    /// True when the object is gone; false when it is only marked (finalizers or grace period pending).
    pub gone: bool,
}

pub async fn delete(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    req: DeleteRequest,
) -> Result<Deleted, ApiError> {
    let key = resource.key(namespace, name);
    let mut warnings = Vec::new();
    let propagation = match req.propagation {
        Some(p) => p,
        None => {
            let (default, warning) = strategy::default_propagation(resource.kind);
            warnings.extend(warning.map(str::to_string));
            default
        }
    };
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            conflict_backoff(attempt).await;
        }
        let current: Object = state.store.get(&key).ok_or_else(|| ApiError::not_found(resource, name))?;
        check_preconditions(resource, name, &current.value, &req)?;
        let mut marked = (*current.value).clone();
        let mut finalizers = meta::finalizers(&marked);
        match propagation {
            Propagation::Foreground if !finalizers.iter().any(|f| f == FOREGROUND_DELETION_FINALIZER) => {
                finalizers.push(FOREGROUND_DELETION_FINALIZER.into())
            }
            Propagation::Orphan
                if strategy::takes_orphan_finalizer(resource.kind)
                    && !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) =>
            {
                finalizers.push(ORPHAN_FINALIZER.into())
            }
            _ => {}
        }
        let grace = strategy::graceful_period(resource.kind, &current.value, req.grace_period_seconds);
        let already_marked = meta::deletion_timestamp(&current.value).is_some();
        let must_wait = strategy::delete_must_wait(state, resource, name, &current.value)?;
        let immediate = finalizers.is_empty() && grace == 0 && !must_wait;
        if immediate {
            if req.dry_run {
                return Ok(Deleted { value: current.value, warnings, gone: true });
            }
            match cas_delete(state, resource, name, &current).await? {
                Cas::Won(value) => return Ok(Deleted { value, warnings, gone: true }),
                Cas::Lost => continue,
            }
        }
        meta::set_finalizers(&mut marked, &finalizers);
        if !already_marked {
            let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
            meta::set_meta(&mut marked, "deletionTimestamp", json!(meta::format_time(when)));
            meta::set_meta(&mut marked, "deletionGracePeriodSeconds", json!(grace));
        } else if let Some(g) = req.grace_period_seconds {
            // A shorter grace period on a second delete shortens the wait: both the period and the time it ends
            // move (the node sends 0 when done).
            let cur = marked.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
            if g < cur {
                let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(g.max(0));
                meta::set_meta(&mut marked, "deletionTimestamp", json!(meta::format_time(when)));
                meta::set_meta(&mut marked, "deletionGracePeriodSeconds", json!(g));
            }
        }
        strategy::mark_deleting(resource.kind, &mut marked);
        if req.dry_run {
            return Ok(Deleted { value: Arc::new(marked), warnings, gone: false });
        }
        let gone = strategy::deletion_complete(state, resource.kind, &marked);
        if !gone && meta::same_ignoring_version(&marked, &current.value) {
            return Ok(Deleted { value: current.value, warnings, gone: false });
        }
        let outcome = if gone {
            cas_delete(state, resource, name, &current).await?
        } else {
            cas_update(state, resource, name, &current, marked).await?
        };
        match outcome {
            Cas::Won(value) => return Ok(Deleted { value, warnings, gone }),
            Cas::Lost => continue,
        }
    }
    Err(ApiError::conflict(resource, name))
}

fn check_preconditions(resource: &Resource, name: &str, value: &Value, req: &DeleteRequest) -> Result<(), ApiError> {
    if let Some(uid) = &req.precondition_uid
        && meta::uid(value) != Some(uid.as_str())
    {
        return Err(ApiError::precondition_failed(
            resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(value).unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &req.precondition_rv
        && meta::resource_version(value) != Some(rv.as_str())
    {
        return Err(ApiError::precondition_failed(
            resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(value).unwrap_or("")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_being_deleted_gain_no_finalizers() {
        let marked = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/x"]}});
        let live = json!({"metadata": {"finalizers": ["a/x"]}});
        // (current, new finalizers, expected message or none)
        let cases: &[(&Value, Value, Option<&str>)] = &[
            (&marked, json!(["a/x"]), None),
            (&marked, json!([]), None),
            (
                &marked,
                json!(["c/z", "a/x", "b/y", "b/y"]),
                Some(
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b/y\", \"c/z\"}",
                ),
            ),
            (&live, json!(["a/x", "b/y"]), None),
        ];
        for (current, finalizers, want) in cases {
            let new = json!({"metadata": {"finalizers": finalizers}});
            let got: Vec<String> = no_new_finalizers(&new, current).iter().map(ToString::to_string).collect();
            assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{finalizers}");
        }
    }

    #[test]
    fn namespace_finalizers_are_read_from_the_spec() {
        assert_eq!(
            strategy::namespace_spec_finalizers(&json!({"spec": {"finalizers": ["kubernetes"]}})),
            ["kubernetes"]
        );
        assert!(strategy::namespace_spec_finalizers(&json!({"spec": {}})).is_empty());
        assert!(strategy::namespace_spec_finalizers(&json!({"spec": {"finalizers": "x"}})).is_empty());
    }
}
