//! Client-side apply, as `kubectl apply` does it: the manifest is remembered in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, and an update sends a strategic merge patch
//! with what the manifest changes against the live object plus `null` for what the previous manifest set and
//! this one no longer does. Lists go whole: the server merges lists that have merge keys (containers by name)
//! and replaces the others. Pure.

use serde_json::{Map, Value};

/// The annotation holding the last applied manifest (shared with kubectl, so either client can take over).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manifest with the last-applied annotation set to the manifest itself (without that annotation), as
/// compact JSON with sorted keys and a final newline, like kubectl writes it.
pub fn annotate(manifest: &Value) -> Value {
    let mut bare = manifest.clone();
    if let Some(annotations) = bare.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty()
            && let Some(meta) = bare.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    let text = format!("{}\n", crate::output::sorted(&bare));
    let mut out = manifest.clone();
    let meta = out.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| Value::Object(Map::new())));
    let annotations = meta
        .and_then(Value::as_object_mut)
        .map(|m| m.entry("annotations").or_insert_with(|| Value::Object(Map::new())));
    if let Some(a) = annotations.and_then(Value::as_object_mut) {
        a.insert(LAST_APPLIED.to_string(), Value::String(text));
    }
    out
}

/// The previous manifest, from the live object's annotation.
pub fn last_applied(live: &Value) -> Option<Value> {
    let text = live.pointer("/metadata/annotations")?.get(LAST_APPLIED)?.as_str()?;
    serde_json::from_str(text).ok()
}

/// The patch that takes `live` to what `modified` asks for, removing what `original` set and `modified` no
/// longer does. Empty (`{}`) when there is nothing to send.
pub fn three_way(original: Option<&Value>, modified: &Value, live: &Value) -> Value {
    Value::Object(diff(original.and_then(Value::as_object), modified.as_object(), live.as_object()))
}

fn diff(
    original: Option<&Map<String, Value>>,
    modified: Option<&Map<String, Value>>,
    live: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    let empty = Map::new();
    let modified = modified.unwrap_or(&empty);
    for (key, want) in modified {
        let have = live.and_then(|l| l.get(key));
        if have == Some(want) {
            continue;
        }
        match (want, have) {
            (Value::Object(w), Some(Value::Object(h))) => {
                let sub = diff(original.and_then(|o| o.get(key)).and_then(Value::as_object), Some(w), Some(h));
                if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            _ => {
                patch.insert(key.clone(), want.clone());
            }
        }
    }
    if let Some(original) = original {
        for key in original.keys() {
            if !modified.contains_key(key) && live.is_some_and(|l| l.contains_key(key)) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn annotation_is_the_manifest_itself() {
        let m = json!({"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "pa"}});
        let a = annotate(&m);
        assert_eq!(
            a.pointer("/metadata/annotations").unwrap()[LAST_APPLIED],
            "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"pa\"}}\n"
        );
        assert_eq!(last_applied(&a), Some(m.clone()));
        // Annotating twice gives the same annotation.
        assert_eq!(annotate(&a), a);
    }

    #[test]
    fn three_way_patches() {
        let live = json!({"metadata": {"name": "pa", "uid": "u", "labels": {"a": "1", "b": "2"}},
            "spec": {"parallelism": 1, "backoffLimit": 6, "activeDeadlineSeconds": 10,
                     "template": {"spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Always"}]}}}});
        let original = json!({"metadata": {"name": "pa", "labels": {"a": "1", "b": "2"}},
            "spec": {"parallelism": 1, "activeDeadlineSeconds": 10, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        let cases = [
            // Nothing changed but server defaults: only the lists go (the server merges them by key).
            (original.clone(), json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}})),
            // A changed field, a removed field, a removed label.
            (
                json!({"metadata": {"name": "pa", "labels": {"a": "1"}},
                       "spec": {"parallelism": 2, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
                json!({"metadata": {"labels": {"b": null}}, "spec": {"parallelism": 2, "activeDeadlineSeconds": null,
                       "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            ),
        ];
        for (modified, want) in cases {
            assert_eq!(three_way(Some(&original), &modified, &live), want);
        }
        // Without a previous manifest nothing is removed; a field the server defaulted is never touched.
        let modified = json!({"spec": {"parallelism": 1}});
        assert_eq!(three_way(None, &modified, &live), json!({}));
    }
}
