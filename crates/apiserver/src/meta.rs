//! Reading and writing `metadata` on objects kept as JSON, the form the store holds and patches work on.

use serde_json::{Map, Value, json};

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

pub fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

pub fn namespace(v: &Value) -> Option<&str> {
    str_at(v, &["metadata", "namespace"])
}

pub fn uid(v: &Value) -> Option<&str> {
    str_at(v, &["metadata", "uid"])
}

pub fn resource_version(v: &Value) -> Option<&str> {
    str_at(v, &["metadata", "resourceVersion"]).filter(|s| !s.is_empty())
}

pub fn deletion_timestamp(v: &Value) -> Option<&str> {
    str_at(v, &["metadata", "deletionTimestamp"])
}

pub fn labels(v: &Value) -> Option<&Value> {
    v.get("metadata").and_then(|m| m.get("labels"))
}

pub fn finalizers(v: &Value) -> Vec<String> {
    v.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The `metadata` fields Kubernetes encodes with `omitempty`, whose empty list or map is never written back.
const OMITTED_WHEN_EMPTY: [&str; 5] = ["labels", "annotations", "finalizers", "ownerReferences", "managedFields"];

/// Drops empty lists and maps of [`OMITTED_WHEN_EMPTY`] from `metadata`, as upstream's encoding does: an
/// orphaned pod reads back without `ownerReferences`, not with `ownerReferences: []`.
pub fn drop_empty_metadata(v: &mut Value) {
    let Some(Value::Object(m)) = v.get_mut("metadata") else { return };
    for field in OMITTED_WHEN_EMPTY {
        let empty = match m.get(field) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if empty {
            m.remove(field);
        }
    }
}

/// `metadata` as a mutable map, created (and a non-object replaced) if needed.
pub fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    let root = ensure_object(v);
    ensure_object(root.entry("metadata").or_insert(Value::Null))
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object just above"),
    }
}

pub fn set_meta(v: &mut Value, key: &str, value: Value) {
    meta_mut(v).insert(key.to_string(), value);
}

pub fn remove_meta(v: &mut Value, key: &str) {
    meta_mut(v).remove(key);
}

pub fn set_finalizers(v: &mut Value, finalizers: &[String]) {
    if finalizers.is_empty() {
        remove_meta(v, "finalizers");
    } else {
        set_meta(v, "finalizers", json!(finalizers));
    }
}

/// Now, as Kubernetes writes `creationTimestamp`: RFC 3339, whole seconds, UTC.
pub fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

pub fn format_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Value of a field-selector field (`spec.nodeName`, `involvedObject.uid`), as the string it is compared with.
pub fn field_value(v: &Value, dotted: &str) -> Option<String> {
    let mut cur = v;
    for p in dotted.split('.') {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Equality that ignores `resourceVersion` (and `managedFields`), for "did this write change anything". Compares in
/// place: it runs on every update and delete. A missing or non-object `metadata` counts as an empty one.
pub fn same_ignoring_version(a: &Value, b: &Value) -> bool {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return a == b;
    };
    let same_outside_metadata = a.len() - usize::from(a.contains_key("metadata"))
        == b.len() - usize::from(b.contains_key("metadata"))
        && a.iter().filter(|(k, _)| *k != "metadata").all(|(k, v)| b.get(k) == Some(v));
    same_outside_metadata && same_metadata(a.get("metadata"), b.get("metadata"))
}

/// Keys of `metadata` that say nothing about the object's content.
const VERSION_KEYS: [&str; 2] = ["resourceVersion", "managedFields"];

/// The entries of a `metadata` that say something about the object.
fn content(metadata: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    metadata.and_then(Value::as_object).into_iter().flatten().filter(|(k, _)| !VERSION_KEYS.contains(&k.as_str()))
}

fn same_metadata(a: Option<&Value>, b: Option<&Value>) -> bool {
    content(a).count() == content(b).count() && content(a).all(|(k, v)| b.and_then(|m| m.get(k)) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_omitempty_metadata_is_dropped() {
        // (metadata before, metadata after)
        let cases = [
            (json!({"name": "p", "ownerReferences": [], "finalizers": []}), json!({"name": "p"})),
            (json!({"name": "p", "labels": {}, "annotations": {}}), json!({"name": "p"})),
            (
                json!({"name": "p", "finalizers": ["f"], "labels": {"a": "b"}}),
                json!({"name": "p", "finalizers": ["f"], "labels": {"a": "b"}}),
            ),
            // Only the omitempty fields: an empty generateName is the caller's own business.
            (json!({"name": "p", "generateName": ""}), json!({"name": "p", "generateName": ""})),
        ];
        for (before, after) in cases {
            let mut v = json!({"kind": "Pod", "metadata": before.clone(), "spec": {"volumes": []}});
            drop_empty_metadata(&mut v);
            assert_eq!(v["metadata"], after, "{before}");
            assert_eq!(v["spec"], json!({"volumes": []}), "outside metadata nothing changes");
        }
    }

    #[test]
    fn meta_mut_creates_metadata() {
        let mut v = json!({"kind": "Pod"});
        set_meta(&mut v, "name", json!("p"));
        assert_eq!(name(&v), "p");
        let mut v = json!({"metadata": 5});
        set_meta(&mut v, "name", json!("q"));
        assert_eq!(name(&v), "q");
    }

    #[test]
    fn field_values() {
        let v = json!({"spec": {"nodeName": "n1", "x": 3}, "status": {"ok": true}});
        assert_eq!(field_value(&v, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(field_value(&v, "spec.x").as_deref(), Some("3"));
        assert_eq!(field_value(&v, "status.ok").as_deref(), Some("true"));
        assert_eq!(field_value(&v, "status.phase"), None);
    }

    #[test]
    fn version_is_ignored_in_comparison() {
        let cases = [
            (
                json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": 1}),
                json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": 1}),
                true,
            ),
            (
                json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": 1}),
                json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": 2}),
                false,
            ),
            (json!({"metadata": {"name": "a", "managedFields": [1]}}), json!({"metadata": {"name": "a"}}), true),
            (json!({"metadata": {"name": "a"}}), json!({"metadata": {"name": "b"}}), false),
            (json!({"metadata": {"name": "a"}}), json!({"metadata": {"name": "a", "uid": "u"}}), false),
            (json!({"metadata": {"name": "a", "uid": "u"}}), json!({"metadata": {"name": "a"}}), false),
            (json!({"metadata": {"resourceVersion": "1"}}), json!({}), true),
            (json!({"metadata": {}, "spec": 1}), json!({"spec": 1}), true),
            (json!({"spec": 1}), json!({"spec": 1, "status": {}}), false),
            (json!({"spec": 1, "status": {}}), json!({"spec": 1}), false),
            (json!({"spec": 1, "metadata": {}}), json!({"status": 1, "metadata": {}}), false),
            (json!({"spec": 1, "metadata": {}}), json!({"spec": 1, "other": 2}), false),
            (json!([1]), json!([1]), true),
            (json!([1]), json!({"metadata": {}}), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_ignoring_version(&a, &b), want, "{a} vs {b}");
            assert_eq!(same_ignoring_version(&b, &a), want, "{b} vs {a}");
        }
    }
}
