//! Rules every kind shares: `ObjectMeta` validation on create and update, label and annotation checks, label
//! selector matching, and Kubernetes' "semantic" equality (nil and empty collections are the same).

pub mod gofmt;

use std::collections::{BTreeMap, BTreeSet};

use runlet_codec::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::Value;

use crate::field::{ErrorKind, FieldError, quote};
use crate::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use crate::names;

/// Upstream `TotalAnnotationSizeLimitB`: keys plus values, in bytes.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Upstream `IsNegativeErrorMsg`.
pub const NEGATIVE_MESSAGE: &str = "must be greater than or equal to 0";
/// Upstream `FieldImmutableErrorMsg`.
pub const IMMUTABLE_MESSAGE: &str = "field is immutable";

/// A name rule: the list of messages for a bad name, empty when fine (e.g. [`names::dns1123_subdomain`]).
pub type NameCheck = fn(&str) -> Vec<String>;

/// The owner reference marked `controller: true`, if any (upstream `metav1.GetControllerOf`).
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Finalizers that need no domain prefix.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", ORPHAN_FINALIZER, FOREGROUND_DELETION_FINALIZER];

/// `<path>: Invalid value: <n>: must be greater than or equal to 0` when `n < 0`.
pub fn nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 { vec![FieldError::invalid(path, value.to_string(), NEGATIVE_MESSAGE)] } else { Vec::new() }
}

/// Every key a qualified name, every value a label value (upstream `ValidateLabels`).
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        errs.extend(names::qualified_name(key).into_iter().map(|m| FieldError::invalid(path, quote(key), m)));
        errs.extend(names::label_value(value).into_iter().map(|m| FieldError::invalid(path, quote(value), m)));
    }
    errs
}

/// Keys qualified names (case-insensitively), total size at most 256 KiB (upstream `ValidateAnnotations`).
pub fn validate_annotations(annotations: Option<&BTreeMap<String, String>>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (key, value) in annotations.into_iter().flatten() {
        errs.extend(
            names::qualified_name(&key.to_lowercase()).into_iter().map(|m| FieldError::invalid(path, quote(key), m)),
        );
        total += key.len() + value.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `<path>: Too long: may not be more than <n> bytes` (the value is never printed).
pub fn too_long(path: &str, max: usize) -> FieldError {
    let unit = if max == 1 { "byte" } else { "bytes" };
    FieldError::new(ErrorKind::TooLong, path, None, format!("may not be more than {max} {unit}"))
}

/// Errors with the same text reported once, first occurrence kept: the API server's aggregate drops repeats, and
/// upstream validation reports some errors twice (e.g. a Job's spec is validated by both create and update rules).
pub fn dedupe(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    errs.into_iter().filter(|e| seen.insert(e.to_string())).collect()
}

/// `<path>: Duplicate value: <value>` (the value already formatted).
pub fn duplicate(path: impl Into<String>, value: String) -> FieldError {
    FieldError::new(ErrorKind::Duplicate, path, Some(value), "")
}

/// `<path>: Not found: <value>` (the value already formatted).
pub fn not_found(path: impl Into<String>, value: String) -> FieldError {
    FieldError::new(ErrorKind::NotFound, path, Some(value), "")
}

/// `<path>: Too many: <n>: must have at most <max> items`.
pub fn too_many(path: &str, actual: usize, max: usize) -> FieldError {
    let detail =
        if max == 1 { "must have at most 1 item".to_string() } else { format!("must have at most {max} items") };
    FieldError::new(ErrorKind::TooMany, path, Some(actual.to_string()), detail)
}

/// `ObjectMeta` validation on create (upstream `ValidateObjectMeta` plus the core finalizer-name rule).
/// `namespaced` kinds need a namespace; others must not have one. Name generation must already have happened.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, name_check: NameCheck) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(generate_name) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        for msg in name_check(&crate::names::mask_trailing_dash(generate_name)) {
            errs.push(FieldError::invalid("metadata.generateName", quote(generate_name), msg));
        }
    }
    match meta.name.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::required("metadata.name", "name or generateName is required")),
        Some(name) => {
            errs.extend(name_check(name).into_iter().map(|m| FieldError::invalid("metadata.name", quote(name), m)))
        }
    }
    errs.extend(validate_namespace_field(meta, namespaced));
    errs.extend(nonnegative(meta.generation.unwrap_or(0), "metadata.generation"));
    errs.extend(validate_labels(meta.labels.as_ref(), "metadata.labels"));
    errs.extend(validate_annotations(meta.annotations.as_ref(), "metadata.annotations"));
    errs.extend(validate_owner_references(meta.owner_references.as_deref().unwrap_or_default()));
    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    errs.extend(validate_finalizers(finalizers));
    errs.extend(validate_finalizer_names(finalizers));
    errs
}

fn validate_namespace_field(meta: &ObjectMeta, namespaced: bool) -> Vec<FieldError> {
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if !namespaced {
        return if namespace.is_empty() {
            Vec::new()
        } else {
            vec![FieldError::forbidden("metadata.namespace", "not allowed on this type")]
        };
    }
    if namespace.is_empty() {
        return vec![FieldError::required("metadata.namespace", "")];
    }
    names::dns1123_label(namespace)
        .into_iter()
        .map(|m| FieldError::invalid("metadata.namespace", quote(namespace), m))
        .collect()
}

/// Upstream `ValidateOwnerReferences`.
fn validate_owner_references(refs: &[OwnerReference]) -> Vec<FieldError> {
    let path = "metadata.ownerReferences";
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let (group, version) = parse_group_version(&r.api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                quote(&r.api_version),
                "version must not be empty",
            ));
        }
        for (field, value) in [("kind", &r.kind), ("name", &r.name), ("uid", &r.uid)] {
            if value.is_empty() {
                errs.push(FieldError::invalid(format!("{path}.{field}"), quote(""), "must not be empty"));
            }
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                "v1.OwnerReference{...}",
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.controller == Some(true) {
            let current = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    "[]v1.OwnerReference{...}",
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// `group/version` → (group, version); a bare `v1` is the core group; anything else malformed has no version.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    let parts: Vec<&str> = api_version.split('/').collect();
    match parts.as_slice() {
        [version] => ("", version),
        [group, version] => (group, version),
        _ => ("", ""),
    }
}

/// Upstream apimachinery `ValidateFinalizers` (reported on the list path, not per index).
fn validate_finalizers(finalizers: &[String]) -> Vec<FieldError> {
    let path = "metadata.finalizers";
    let mut errs = Vec::new();
    for f in finalizers {
        errs.extend(names::qualified_name(f).into_iter().map(|m| FieldError::invalid(path, quote(f), m)));
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has(ORPHAN_FINALIZER) && has(FOREGROUND_DELETION_FINALIZER) {
        errs.push(FieldError::invalid(
            path,
            gofmt::string_slice("string", Some(finalizers)),
            format!("finalizer {ORPHAN_FINALIZER} and {FOREGROUND_DELETION_FINALIZER} cannot be both set"),
        ));
    }
    errs
}

/// The core-group finalizer rule (upstream `validateKubeFinalizerName`, per index).
fn validate_finalizer_names(finalizers: &[String]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, f) in finalizers.iter().enumerate() {
        let path = format!("metadata.finalizers[{i}]");
        errs.extend(names::qualified_name(f).into_iter().map(|m| FieldError::invalid(&path, quote(f), m)));
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            errs.push(FieldError::invalid(
                &path,
                quote(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// `ObjectMeta` validation on update (upstream `ValidateObjectMetaUpdate`). The resourceVersion precondition is
/// the API server's job and is not checked here.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let new_finalizers = new.finalizers.as_deref().unwrap_or_default();
    if old.deletion_timestamp.is_some() {
        let old_finalizers: BTreeSet<&String> = old.finalizers.iter().flatten().collect();
        let extra: BTreeSet<String> = new_finalizers.iter().filter(|f| !old_finalizers.contains(f)).cloned().collect();
        if !extra.is_empty() {
            let extra: Vec<String> = extra.into_iter().collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    gofmt::string_slice("string", Some(&extra))
                ),
            ));
        }
    }
    let (new_generation, old_generation) = (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if new_generation < old_generation {
        errs.push(FieldError::invalid("metadata.generation", new_generation.to_string(), "must not be decremented"));
    }
    let text = |v: &Option<String>| quote(v.as_deref().unwrap_or(""));
    for (field, new_value, old_value) in
        [("name", &new.name, &old.name), ("namespace", &new.namespace, &old.namespace), ("uid", &new.uid, &old.uid)]
    {
        if new_value.as_deref().unwrap_or("") != old_value.as_deref().unwrap_or("") {
            errs.push(FieldError::invalid(format!("metadata.{field}"), text(new_value), IMMUTABLE_MESSAGE));
        }
    }
    if new.creation_timestamp != old.creation_timestamp {
        // A non-pointer metav1.Time: a missing one is Go's zero time.
        let shown =
            new.creation_timestamp.as_ref().map_or_else(|| "0001-01-01 00:00:00 +0000 UTC".to_string(), gofmt::time);
        errs.push(FieldError::invalid("metadata.creationTimestamp", shown, IMMUTABLE_MESSAGE));
    }
    if new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldError::invalid(
            "metadata.deletionTimestamp",
            gofmt::opt_time(new.deletion_timestamp.as_ref()),
            IMMUTABLE_MESSAGE,
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        errs.push(FieldError::invalid(
            "metadata.deletionGracePeriodSeconds",
            gofmt::opt_number(new.deletion_grace_period_seconds),
            IMMUTABLE_MESSAGE,
        ));
    }
    errs.extend(validate_labels(new.labels.as_ref(), "metadata.labels"));
    errs.extend(validate_annotations(new.annotations.as_ref(), "metadata.annotations"));
    errs.extend(validate_owner_references(new.owner_references.as_deref().unwrap_or_default()));
    errs.extend(validate_finalizer_names(new_finalizers));
    errs
}

/// Whether a label selector selects `labels`. `None` selector selects nothing (upstream
/// `LabelSelectorAsSelector(nil)`); an empty one selects everything. Returns `None` for a selector that does not
/// convert (bad operator, bad key or value, `In` without values): upstream then skips the check.
pub fn selector_matches(selector: Option<&LabelSelector>, labels: Option<&BTreeMap<String, String>>) -> Option<bool> {
    let Some(selector) = selector else { return Some(false) };
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let valid_key = |k: &str| names::qualified_name(k).is_empty();
    let valid_value = |v: &str| names::label_value(v).is_empty();
    let mut matches = true;
    for (k, v) in selector.match_labels.iter().flatten() {
        if !valid_key(k) || !valid_value(v) {
            return None;
        }
        matches &= labels.get(k) == Some(v);
    }
    for r in selector.match_expressions.iter().flatten() {
        let values = r.values.as_deref().unwrap_or_default();
        if !valid_key(&r.key) || !values.iter().all(|v| valid_value(v)) {
            return None;
        }
        let actual = labels.get(&r.key);
        matches &= match r.operator.as_str() {
            "In" if !values.is_empty() => actual.is_some_and(|a| values.contains(a)),
            "NotIn" if !values.is_empty() => actual.is_none_or(|a| !values.contains(a)),
            "Exists" if values.is_empty() => actual.is_some(),
            "DoesNotExist" if values.is_empty() => actual.is_none(),
            _ => return None,
        };
    }
    Some(matches)
}

/// JSON with null, `[]` and `{}` members removed at every depth: Kubernetes' semantic equality treats a
/// missing collection and an empty one as equal.
pub fn semantic_json(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter().map(|(k, v)| (k, semantic_json(v))).filter(|(_, v)| !is_empty_json(v)).collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(semantic_json).collect()),
        other => other,
    }
}

fn is_empty_json(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
