//! Server-side apply, level 1 (strategic-merge-patch.md §5.2).

use runlet_patch::{Kind, apply_duplicate_key_error, apply_merge};
use serde_json::{Value, json};

fn live_job() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pa", "namespace": "default",
                     "labels": {"app": "pa", "batch.kubernetes.io/job-name": "pa"},
                     "annotations": {"keep": "me"},
                     "finalizers": ["a", "b"]},
        "spec": {
            "backoffLimit": 6, "activeDeadlineSeconds": 50, "completions": 1,
            "template": {"spec": {
                "restartPolicy": "Never",
                "tolerations": [{"key": "a", "operator": "Exists"}],
                "containers": [{
                    "name": "pa", "image": "perl:5.34.0", "command": ["perl", "-e", "1"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                              {"containerPort": 53, "protocol": "UDP", "name": "dns-udp"}]
                }]
            }}
        },
        "status": {"conditions": [{"type": "Suspended", "status": "True"}, {"type": "Complete", "status": "False"}]}
    })
}

const PA: &str = "/spec/template/spec/containers/0";

/// Applies `applied` (a fragment of a Job) and checks values at JSON pointers.
fn check(name: &str, kind: Kind, live: &Value, applied: Value, checks: &[(&str, Option<Value>)]) {
    let merged = apply_merge(live, &applied, kind);
    for (pointer, want) in checks {
        assert_eq!(merged.pointer(pointer), want.as_ref(), "{name}: at {pointer}\nresult: {merged:#}");
    }
}

fn container(fields: Value) -> Value {
    let mut c = json!({"name": "pa"});
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), fields) {
        c.extend(extra);
    }
    json!({"spec": {"template": {"spec": {"containers": [c]}}}})
}

#[test]
fn sets_take_the_union_in_merge_order() {
    let live = live_job();
    let cases = [
        (json!(["c", "a"]), json!(["c", "a", "b"])),
        (json!(["b", "new"]), json!(["a", "b", "new"])),
        (json!(["b", "a"]), json!(["b", "a"])),
        (json!([]), json!(["a", "b"])),
    ];
    for (applied, want) in cases {
        check(
            "finalizers",
            Kind::Job,
            &live,
            json!({"metadata": {"finalizers": applied.clone()}}),
            &[("/metadata/finalizers", Some(want))],
        );
    }
}

#[test]
fn map_lists_match_on_all_keys() {
    let live = live_job();
    check(
        "env by name",
        Kind::Job,
        &live,
        container(json!({"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]})),
        &[(
            "/spec/template/spec/containers/0/env",
            Some(json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])),
        )],
    );
    check(
        "port without protocol is TCP",
        Kind::Job,
        &live,
        container(json!({"ports": [{"containerPort": 53, "name": "dns"}]})),
        &[(
            "/spec/template/spec/containers/0/ports",
            Some(json!([
                {"containerPort": 53, "protocol": "TCP", "name": "dns"},
                {"containerPort": 53, "protocol": "UDP", "name": "dns-udp"}
            ])),
        )],
    );
    check(
        "UDP port matches the UDP entry only",
        Kind::Job,
        &live,
        container(json!({"ports": [{"containerPort": 53, "protocol": "UDP", "name": "x"}]})),
        &[(
            "/spec/template/spec/containers/0/ports",
            Some(json!([
                {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                {"containerPort": 53, "protocol": "UDP", "name": "x"}
            ])),
        )],
    );
    check(
        "new container inserted at its applied position",
        Kind::Job,
        &live,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "init", "image": "x"}, {"name": "pa"}]}}}}),
        &[
            ("/spec/template/spec/containers/0/name", Some(json!("init"))),
            ("/spec/template/spec/containers/1/image", Some(json!("perl:5.34.0"))),
        ],
    );
}

#[test]
fn atomic_lists_are_replaced() {
    let live = live_job();
    check(
        "tolerations",
        Kind::Job,
        &live,
        json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}),
        &[("/spec/template/spec/tolerations", Some(json!([{"key": "b", "operator": "Exists"}])))],
    );
    check(
        "command",
        Kind::Job,
        &live,
        container(json!({"command": ["sh"]})),
        &[("/spec/template/spec/containers/0/command", Some(json!(["sh"])))],
    );
    check(
        "Job conditions are atomic under SSA",
        Kind::Job,
        &live,
        json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
        &[("/status/conditions", Some(json!([{"type": "Complete", "status": "True"}])))],
    );
    check(
        "Kind::Other replaces lists and merges maps",
        Kind::Other,
        &json!({"data": {"a": "1"}, "items": [1, 2]}),
        json!({"data": {"b": "2"}, "items": [3]}),
        &[("/data", Some(json!({"a": "1", "b": "2"}))), ("/items", Some(json!([3])))],
    );
}

#[test]
fn explicit_null_clears_and_absent_fields_stay() {
    let live = live_job();
    check(
        "null clears",
        Kind::Job,
        &live,
        json!({"spec": {"activeDeadlineSeconds": null, "parallelism": 2}}),
        &[
            ("/spec/activeDeadlineSeconds", None),
            ("/spec/parallelism", Some(json!(2))),
            ("/spec/backoffLimit", Some(json!(6))),
            ("/spec/template/spec/restartPolicy", Some(json!("Never"))),
        ],
    );
    check(
        "null inside a keyed element",
        Kind::Job,
        &live,
        container(json!({"env": [{"name": "A", "value": null}]})),
        &[("/spec/template/spec/containers/0/env", Some(json!([{"name": "A"}, {"name": "B", "value": "2"}])))],
    );
    check(
        "nulls inside new values are dropped",
        Kind::Job,
        &live,
        json!({"spec": {"podFailurePolicy": {"rules": [{"action": "Ignore", "onExitCodes": null}]}}}),
        &[("/spec/podFailurePolicy", Some(json!({"rules": [{"action": "Ignore"}]})))],
    );
}

#[test]
fn kubectl_last_applied_follow_up_only_merges_the_annotation() {
    let live = live_job();
    let applied = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pa", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Job\"}"}}
    });
    let merged = apply_merge(&live, &applied, Kind::Job);
    assert_eq!(merged["spec"], live["spec"]);
    assert_eq!(merged["status"], live["status"]);
    assert_eq!(
        merged["metadata"]["annotations"],
        json!({"keep": "me", "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Job\"}"})
    );
    assert_eq!(merged["metadata"]["labels"], live["metadata"]["labels"]);
}

#[test]
fn reapplying_is_idempotent() {
    let live = live_job();
    let manifest = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pa", "namespace": "default", "finalizers": ["c"]},
        "spec": {"template": {"spec": {
            "containers": [{"name": "pa", "image": "perl:5.36.0",
                            "env": [{"name": "NEW", "value": "x"}],
                            "ports": [{"containerPort": 8080}]},
                           {"name": "side", "image": "busybox"}]
        }}}
    });
    let once = apply_merge(&live, &manifest, Kind::Job);
    let twice = apply_merge(&once, &manifest, Kind::Job);
    assert_eq!(once, twice);
    assert_ne!(once, live);
    assert_eq!(apply_merge(&live, &live, Kind::Job), live);
    assert_eq!(once.pointer(PA).and_then(|c| c.get("image")), Some(&json!("perl:5.36.0")));
}

#[test]
fn duplicate_keys_in_the_applied_document() {
    let cases = [
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}, {"name": "x"}]}}}}),
            Some(".spec.template.spec.containers: duplicate entries for key [name=\"x\"]"),
        ),
        (
            container(json!({"ports": [{"containerPort": 53}, {"containerPort": 53, "protocol": "TCP"}]})),
            Some(
                ".spec.template.spec.containers[name=\"pa\"].ports: duplicate entries for key [containerPort=53,protocol=\"TCP\"]",
            ),
        ),
        (
            json!({"metadata": {"finalizers": ["a", "a"]}}),
            Some(".metadata.finalizers: duplicate entries for key [=\"a\"]"),
        ),
        (container(json!({"ports": [{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}]})), None),
        (json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {"key": "a"}]}}}}), None),
    ];
    for (applied, want) in cases {
        assert_eq!(apply_duplicate_key_error(&applied, Kind::Job).as_deref(), want, "{applied}");
    }
}
