//! RFC 7386 merge patch, RFC 6902 JSON patch and `strip_nulls` (kubectl-wire.md §6.2).

use runlet_patch::{GENERIC_UNPROCESSABLE, Kind, PatchError, json_patch, merge_patch, strip_nulls};
use serde_json::{Value, json};

fn live() -> Value {
    json!({
        "metadata": {"name": "pa", "labels": {"a": "1", "b": "2"}, "resourceVersion": "7"},
        "spec": {"parallelism": 1, "template": {"spec": {"containers": [{"name": "pa"}, {"name": "side"}]}}}
    })
}

#[test]
fn merge_patch_follows_rfc_7386() {
    let cases = [
        (
            "labels: set and delete",
            json!({"metadata": {"labels": {"b": null, "c": "3"}}}),
            json!({"name": "pa", "labels": {"a": "1", "c": "3"}, "resourceVersion": "7"}),
            "/metadata",
        ),
        (
            "lists are replaced whole",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}),
            json!([{"name": "x"}]),
            "/spec/template/spec/containers",
        ),
        (
            "new objects lose their nulls",
            json!({"spec": {"selector": {"matchLabels": {"x": "1", "y": null}}}}),
            json!({"matchLabels": {"x": "1"}}),
            "/spec/selector",
        ),
    ];
    for (name, patch, want, pointer) in cases {
        let merged = merge_patch(&live(), &patch).expect(name);
        assert_eq!(merged.pointer(pointer), Some(&want), "{name}");
    }
    assert_eq!(merge_patch(&live(), &json!({})).expect("empty"), live());
}

#[test]
fn merge_patch_rejects_non_documents() {
    for patch in [json!(null), json!("x"), json!(3)] {
        match merge_patch(&live(), &patch) {
            Err(PatchError::BadRequest(m)) => assert_eq!(m, "Invalid JSON Patch"),
            other => panic!("{patch}: {other:?}"),
        }
    }
    // An array replaces the document; typed decoding rejects it later.
    assert_eq!(merge_patch(&live(), &json!([{"a": null}])).expect("array"), json!([{}]));
}

#[test]
fn json_patch_applies_operations() {
    let patch = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "replace", "path": "/spec/parallelism", "value": 3},
        {"op": "add", "path": "/metadata/labels/c", "value": "3"},
        {"op": "remove", "path": "/spec/template/spec/containers/1"}
    ]);
    let merged = json_patch(&live(), &patch).expect("patch");
    assert_eq!(merged["spec"]["parallelism"], json!(3));
    assert_eq!(merged["metadata"]["labels"]["c"], json!("3"));
    assert_eq!(merged["spec"]["template"]["spec"]["containers"], json!([{"name": "pa"}]));
    assert_eq!(json_patch(&live(), &Value::Null).expect("null"), live());
}

#[test]
fn json_patch_errors() {
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "failed test",
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]),
            422,
            GENERIC_UNPROCESSABLE,
        ),
        ("missing path", json!([{"op": "remove", "path": "/spec/nope"}]), 422, GENERIC_UNPROCESSABLE),
        ("unknown op", json!([{"op": "frobnicate", "path": "/spec"}]), 422, GENERIC_UNPROCESSABLE),
        (
            "not an array",
            json!({"op": "add"}),
            400,
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ),
        (
            "element not an object",
            json!([1]),
            400,
            "json: cannot unmarshal number into Go value of type jsonpatch.Operation",
        ),
    ];
    for (name, patch, code, message) in cases {
        let err = json_patch(&live(), &patch).expect_err(name);
        assert_eq!(err.status_code(), code, "{name}");
        assert_eq!(err.message(), message, "{name}");
    }
    let too_many = Value::Array(vec![json!({"op": "test", "path": "/metadata/name", "value": "pa"}); 10001]);
    let err = json_patch(&live(), &too_many).expect_err("too many");
    assert_eq!(err.status_code(), 413);
    assert_eq!(
        err.message(),
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn json_patch_copies_are_bounded() {
    // Each copy of /metadata into itself doubles it: forty would need terabytes. The copies add up and the
    // patch stops once they pass 3 MiB, with the accumulated size upstream reports.
    let mut live = live();
    live["metadata"]["annotations"] = json!({"pad": "x".repeat(1000)});
    let doubling: Vec<Value> =
        (0..40).map(|n| json!({"op": "copy", "from": "/metadata", "path": format!("/metadata/a{n}")})).collect();
    let err = json_patch(&live, &Value::Array(doubling)).expect_err("copies past the bound");
    assert_eq!(err.status_code(), 422);
    assert_eq!(err.message(), GENERIC_UNPROCESSABLE);
    let PatchError::Unprocessable { cause } = &err else { panic!("not Unprocessable: {err:?}") };
    assert!(
        cause.starts_with("Unable to complete the copy, the accumulated size increase of copy is ")
            && cause.ends_with(", exceeding the limit 3145728"),
        "{cause}"
    );
    let accumulated: u64 = cause.split_whitespace().nth(12).and_then(|n| n.trim_end_matches(',').parse().ok()).unwrap();
    assert!(accumulated > 3 * 1024 * 1024 && accumulated < 7 * 1024 * 1024, "{accumulated}");

    // Copies that stay under the bound apply, each counted once.
    let few: Vec<Value> = (0..3)
        .map(|n| json!({"op": "copy", "from": "/metadata/annotations", "path": format!("/metadata/c{n}")}))
        .collect();
    let merged = json_patch(&live, &Value::Array(few)).expect("small copies");
    assert_eq!(merged["metadata"]["c2"], live["metadata"]["annotations"]);
}

#[test]
fn strip_nulls_drops_null_keys_at_every_depth() {
    let mut v = json!({"a": null, "b": {"c": null, "d": [{"e": null, "f": 1}, null]}, "g": 0});
    strip_nulls(&mut v);
    assert_eq!(v, json!({"b": {"d": [{"f": 1}, null]}, "g": 0}));
}

#[test]
fn kind_names_map_to_schema_roots() {
    let cases = [
        ("Job", Kind::Job),
        ("Pod", Kind::Pod),
        ("Namespace", Kind::Namespace),
        ("Node", Kind::Node),
        ("Event", Kind::Event),
        ("Lease", Kind::Lease),
        ("Scale", Kind::Scale),
        ("ConfigMap", Kind::ConfigMap),
        ("Secret", Kind::Secret),
        ("RuntimeClass", Kind::RuntimeClass),
        ("Service", Kind::Other),
    ];
    for (name, kind) in cases {
        assert_eq!(Kind::from_kind_name(name), kind);
    }
}

#[test]
fn go_format_prints_like_percent_v() {
    let doc = json!({"metadata": {"finalizers": "x", "labels": {"b": 1, "a": [true, null]}}});
    assert_eq!(runlet_patch::go_format(&doc), "map[metadata:map[finalizers:x labels:map[a:[true <nil>] b:1]]]");
}
