//! The worked examples of strategic-merge-patch.md §3 (A–J) plus the documented edge rules of §1,
//! as (live, patch) → value at a JSON pointer.

use runlet_patch::{Kind, strategic_merge, strip_nulls};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    kind: Kind,
    live: Value,
    patch: Value,
    /// JSON pointer into the result, and the value expected there (`None`: absent).
    checks: Vec<(&'static str, Option<Value>)>,
}

fn run(cases: Vec<Case>) {
    for case in cases {
        let mut merged = strategic_merge(&case.live, &case.patch, case.kind)
            .unwrap_or_else(|e| panic!("{}: unexpected error {e}", case.name));
        strip_nulls(&mut merged);
        for (pointer, want) in &case.checks {
            assert_eq!(merged.pointer(pointer), want.as_ref(), "{}: at {pointer}\nresult: {merged:#}", case.name);
        }
    }
}

fn job() -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pa", "namespace": "default",
                     "finalizers": ["batch.kubernetes.io/job-tracking", "example.com/keep"]},
        "spec": {
            "backoffLimit": 4,
            "activeDeadlineSeconds": 50,
            "template": {"spec": {
                "restartPolicy": "Never",
                "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
                "containers": [
                    {"name": "pa", "image": "perl:5.34.0", "command": ["perl", "-e", "1"],
                     "env": [{"name": "A", "value": "1"}, {"name": "FOO", "value": "old"}]},
                    {"name": "side", "image": "busybox"}
                ]
            }}
        },
        "status": {"conditions": [
            {"type": "Suspended", "status": "True", "reason": "JobSuspended"},
            {"type": "Complete", "status": "False"}
        ]}
    })
}

fn pod_spec_patch(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

const CONTAINERS: &str = "/spec/template/spec/containers";

#[test]
fn example_a_set_element_order_with_image_and_env() {
    run(vec![Case {
        name: "A",
        kind: Kind::Job,
        live: job(),
        patch: pod_spec_patch(json!({
            "$setElementOrder/containers": [{"name": "pa"}],
            "containers": [{"env": [{"name": "FOO", "value": "bar"}], "image": "perl:5.36.0", "name": "pa"}]
        })),
        checks: vec![(
            CONTAINERS,
            Some(json!([
                {"name": "pa", "image": "perl:5.36.0", "command": ["perl", "-e", "1"],
                 "env": [{"name": "A", "value": "1"}, {"name": "FOO", "value": "bar"}]},
                {"name": "side", "image": "busybox"}
            ])),
        )],
    }]);
}

#[test]
fn example_b_null_deletes() {
    run(vec![
        Case {
            name: "B scalar",
            kind: Kind::Job,
            live: job(),
            patch: json!({"spec": {"activeDeadlineSeconds": 100, "backoffLimit": null}}),
            checks: vec![("/spec/activeDeadlineSeconds", Some(json!(100))), ("/spec/backoffLimit", None)],
        },
        Case {
            name: "B list field",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [{"env": null, "image": "perl:5.34.0", "name": "pa"}]})),
            checks: vec![
                (
                    "/spec/template/spec/containers/0",
                    Some(json!({"name": "pa", "image": "perl:5.34.0", "command": ["perl", "-e", "1"]})),
                ),
                ("/spec/template/spec/containers/1/name", Some(json!("side"))),
            ],
        },
    ]);
}

#[test]
fn example_c_delete_one_env_var() {
    run(vec![Case {
        name: "C",
        kind: Kind::Job,
        live: job(),
        patch: pod_spec_patch(json!({"containers": [{"name": "pa", "env": [{"name": "FOO", "$patch": "delete"}]}]})),
        checks: vec![("/spec/template/spec/containers/0/env", Some(json!([{"name": "A", "value": "1"}])))],
    }]);
}

#[test]
fn example_d_finalizers() {
    run(vec![
        Case {
            name: "D delete from primitive list",
            kind: Kind::Job,
            live: job(),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["batch.kubernetes.io/job-tracking"]}}),
            checks: vec![("/metadata/finalizers", Some(json!(["example.com/keep"])))],
        },
        Case {
            name: "D add goes first",
            kind: Kind::Job,
            live: job(),
            patch: json!({"metadata": {"finalizers": ["example.com/new"]}}),
            checks: vec![(
                "/metadata/finalizers",
                Some(json!(["example.com/new", "batch.kubernetes.io/job-tracking", "example.com/keep"])),
            )],
        },
        Case {
            name: "D null removes the list",
            kind: Kind::Job,
            live: job(),
            patch: json!({"metadata": {"finalizers": null}}),
            checks: vec![("/metadata/finalizers", None), ("/metadata/name", Some(json!("pa")))],
        },
        Case {
            name: "D duplicates in live collapse",
            kind: Kind::Job,
            live: json!({"metadata": {"finalizers": ["a", "b", "a"]}}),
            patch: json!({"metadata": {"finalizers": ["c"]}}),
            checks: vec![("/metadata/finalizers", Some(json!(["c", "a", "b"])))],
        },
        Case {
            name: "D deletion list for an absent field creates nothing",
            kind: Kind::Pod,
            live: json!({"metadata": {"name": "p"}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
            checks: vec![("/metadata/finalizers", None)],
        },
        Case {
            name: "D deletion list that is not a list is ignored",
            kind: Kind::Job,
            live: job(),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "example.com/keep"}}),
            checks: vec![(
                "/metadata/finalizers",
                Some(json!(["batch.kubernetes.io/job-tracking", "example.com/keep"])),
            )],
        },
        Case {
            // Upstream strips the prefix before its null check, so this deletes the whole list.
            name: "D null deletion list removes the field",
            kind: Kind::Job,
            live: job(),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": null}}),
            checks: vec![("/metadata/finalizers", None)],
        },
        Case {
            name: "D deletion list works on a replace-strategy list too",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [
                {"name": "pa", "$deleteFromPrimitiveList/command": ["-e"]}
            ]})),
            checks: vec![("/spec/template/spec/containers/0/command", Some(json!(["perl", "1"])))],
        },
    ]);
}

#[test]
fn example_e_replace_whole_lists() {
    run(vec![
        Case {
            name: "E containers replace",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]})),
            checks: vec![(CONTAINERS, Some(json!([{"name": "only", "image": "x"}])))],
        },
        Case {
            name: "E env replace",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [
                {"name": "pa", "env": [{"$patch": "replace"}, {"name": "Z", "value": "9"}]}
            ]})),
            checks: vec![("/spec/template/spec/containers/0/env", Some(json!([{"name": "Z", "value": "9"}])))],
        },
        Case {
            name: "E env replace with nothing",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [{"name": "pa", "env": [{"$patch": "replace"}]}]})),
            checks: vec![("/spec/template/spec/containers/0/env", Some(json!([])))],
        },
        Case {
            name: "E tolerations replace by default",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"tolerations": [{"key": "c", "operator": "Exists"}]})),
            checks: vec![("/spec/template/spec/tolerations", Some(json!([{"key": "c", "operator": "Exists"}])))],
        },
    ]);
}

#[test]
fn example_f_conditions_by_type() {
    run(vec![
        Case {
            name: "F merge and append",
            kind: Kind::Job,
            live: job(),
            patch: json!({"status": {"conditions": [
                {"type": "Complete", "status": "True", "reason": "Done"},
                {"type": "Failed", "status": "False"}
            ]}}),
            checks: vec![(
                "/status/conditions",
                Some(json!([
                    {"type": "Suspended", "status": "True", "reason": "JobSuspended"},
                    {"type": "Complete", "status": "True", "reason": "Done"},
                    {"type": "Failed", "status": "False"}
                ])),
            )],
        },
        Case {
            name: "F with order list",
            kind: Kind::Job,
            live: job(),
            patch: json!({"status": {
                "$setElementOrder/conditions": [{"type": "Complete"}, {"type": "Suspended"}],
                "conditions": [{"type": "Complete", "status": "True"}]
            }}),
            checks: vec![(
                "/status/conditions",
                Some(json!([
                    {"type": "Complete", "status": "True"},
                    {"type": "Suspended", "status": "True", "reason": "JobSuspended"}
                ])),
            )],
        },
    ]);
}

#[test]
fn example_g_full_client_side_apply_patch() {
    let live = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pa", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old", "other": "x"},
                     "finalizers": ["example.com/a", "server.io/x", "example.com/b"]},
        "spec": {"parallelism": 1, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "pa", "image": "perl:5.34.0", "command": ["perl", "-e", "1"],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": "FOO", "value": "foo"}, {"name": "BAR", "value": "bar"},
                         {"name": "INJECTED", "value": "1"}]},
                {"name": "side", "image": "busybox"}
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }}}
    });
    let patch = json!({
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
            "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"},
            "finalizers": ["example.com/c"]
        },
        "spec": {"parallelism": 2, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "pa"}, {"name": "side"}],
            "$setElementOrder/volumes": [{"name": "data"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "BAR"}, {"name": "NEW"}],
                "command": ["perl", "-e", "2"],
                "env": [{"name": "NEW", "value": "new"}, {"$patch": "delete", "name": "FOO"}],
                "image": "perl:5.36.0", "name": "pa", "ports": null
            }],
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": null,
                         "hostPath": {"path": "/tmp"}, "name": "data"}]
        }}}
    });
    run(vec![Case {
        name: "G",
        kind: Kind::Job,
        live,
        patch,
        checks: vec![
            ("/metadata/finalizers", Some(json!(["server.io/x", "example.com/b", "example.com/c"]))),
            (
                "/metadata/annotations",
                Some(json!({"kubectl.kubernetes.io/last-applied-configuration": "new", "other": "x"})),
            ),
            ("/spec/parallelism", Some(json!(2))),
            (
                CONTAINERS,
                Some(json!([
                    {"name": "pa", "image": "perl:5.36.0", "command": ["perl", "-e", "2"],
                     "env": [{"name": "BAR", "value": "bar"}, {"name": "INJECTED", "value": "1"},
                             {"name": "NEW", "value": "new"}]},
                    {"name": "side", "image": "busybox"}
                ])),
            ),
            ("/spec/template/spec/tolerations", Some(json!([{"key": "b", "operator": "Exists"}]))),
            ("/spec/template/spec/volumes", Some(json!([{"name": "data", "hostPath": {"path": "/tmp"}}]))),
            ("/spec/template/spec/restartPolicy", Some(json!("Never"))),
        ],
    }]);
}

fn named(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({"name": n, "image": format!("img-{n}")})).collect())
}

fn order(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({"name": n})).collect())
}

fn names_at(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[test]
fn example_h_ordering() {
    struct Order {
        live: &'static [&'static str],
        order: Option<&'static [&'static str]>,
        patch: Value,
        want: &'static [&'static str],
    }
    let cases = [
        Order { live: &["pa", "side"], order: None, patch: named(&["new"]), want: &["new", "pa", "side"] },
        Order { live: &["pa", "side"], order: None, patch: named(&["side", "new"]), want: &["pa", "side", "new"] },
        Order { live: &["a", "b", "c"], order: None, patch: named(&["c", "a"]), want: &["b", "c", "a"] },
        Order { live: &["a", "b", "c"], order: None, patch: named(&["b"]), want: &["a", "b", "c"] },
        Order {
            live: &["A", "B", "S1", "C"],
            order: Some(&["A", "NEW", "B", "C"]),
            patch: named(&["NEW"]),
            want: &["A", "NEW", "B", "S1", "C"],
        },
        Order {
            live: &["A", "X", "B", "S1", "C"],
            order: Some(&["A", "NEW", "B", "C"]),
            patch: json!([{"name": "NEW"}, {"name": "X", "$patch": "delete"}]),
            want: &["A", "S1", "NEW", "B", "C"],
        },
        Order {
            live: &["A", "B", "S1"],
            order: Some(&["A", "B", "NEW"]),
            patch: named(&["NEW"]),
            want: &["A", "B", "NEW", "S1"],
        },
        // The order list alone reorders; names that exist nowhere are ignored.
        Order {
            live: &["pa", "side"],
            order: Some(&["side", "ghost", "pa"]),
            patch: Value::Null,
            want: &["side", "pa"],
        },
        Order { live: &["a", "b", "c"], order: Some(&["c", "b", "a"]), patch: named(&["b"]), want: &["c", "b", "a"] },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let live = json!({"spec": {"containers": named(case.live)}});
        let mut spec = serde_json::Map::new();
        if !case.patch.is_null() {
            spec.insert("containers".into(), case.patch);
        }
        if let Some(o) = case.order {
            spec.insert("$setElementOrder/containers".into(), order(o));
        }
        let merged = strategic_merge(&live, &json!({"spec": spec}), Kind::Pod).expect("merge");
        assert_eq!(names_at(&merged["spec"]["containers"]), case.want, "case {i}");
    }
}

#[test]
fn order_list_for_a_list_absent_from_live() {
    run(vec![Case {
        name: "patch list ordered, directive elements dropped",
        kind: Kind::Pod,
        live: json!({"spec": {"containers": [{"name": "c"}]}}),
        patch: json!({"spec": {
            "$setElementOrder/initContainers": [{"name": "y"}, {"name": "x"}],
            "initContainers": [{"name": "y"}, {"name": "x"}, {"name": "z", "$patch": "delete"}]
        }}),
        checks: vec![("/spec/initContainers", Some(json!([{"name": "y"}, {"name": "x"}])))],
    }]);
}

fn pod_with_security_context() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
            "containers": [{"name": "c", "image": "x",
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]
        }
    })
}

#[test]
fn example_i_map_directives() {
    let sc = "/spec/securityContext";
    run(vec![
        Case {
            name: "I replace",
            kind: Kind::Pod,
            live: pod_with_security_context(),
            patch: json!({"spec": {"securityContext": {"$patch": "replace", "runAsNonRoot": true}}}),
            checks: vec![(sc, Some(json!({"runAsNonRoot": true})))],
        },
        Case {
            name: "I delete keeps an empty map",
            kind: Kind::Pod,
            live: pod_with_security_context(),
            patch: json!({"spec": {"securityContext": {"$patch": "delete"}}}),
            checks: vec![(sc, Some(json!({})))],
        },
        Case {
            name: "I retainKeys",
            kind: Kind::Pod,
            live: pod_with_security_context(),
            patch: json!({"spec": {"securityContext": {"$retainKeys": ["runAsUser"]}}}),
            checks: vec![(sc, Some(json!({"runAsUser": 1000})))],
        },
        Case {
            name: "I delete of an absent map adds nothing",
            kind: Kind::Pod,
            live: pod_with_security_context(),
            patch: json!({"spec": {"dnsConfig": {"$patch": "delete"}}}),
            checks: vec![("/spec/dnsConfig", None)],
        },
        Case {
            name: "I replace of an absent map adds nothing",
            kind: Kind::Pod,
            live: json!({"spec": {"containers": [{"name": "c"}]}}),
            patch: json!({"spec": {"securityContext": {"$patch": "replace", "runAsNonRoot": true}}}),
            checks: vec![("/spec/securityContext", None)],
        },
        Case {
            name: "I nested null in a map",
            kind: Kind::Pod,
            live: pod_with_security_context(),
            patch: json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2", "memory": null}}}]}}),
            checks: vec![(
                "/spec/containers/0/resources",
                Some(json!({"limits": {"cpu": "2"}, "requests": {"cpu": "500m"}})),
            )],
        },
        Case {
            name: "new values lose nulls and directive maps",
            kind: Kind::Pod,
            live: json!({"spec": {"containers": [{"name": "c"}]}}),
            patch: json!({"spec": {"affinity": {"nodeAffinity": null, "podAffinity": {"$patch": "delete"},
                                                 "podAntiAffinity": {"x": 1, "y": null}}}}),
            checks: vec![("/spec/affinity", Some(json!({"podAntiAffinity": {"x": 1}})))],
        },
        Case {
            name: "$retainKeys is honoured in any map",
            kind: Kind::Other,
            live: json!({"a": {"x": 1, "y": 2, "z": 3}}),
            patch: json!({"a": {"$retainKeys": ["x", "z"], "z": 4}}),
            checks: vec![("/a", Some(json!({"x": 1, "z": 4})))],
        },
        Case {
            name: "other $ keys are ordinary keys",
            kind: Kind::Other,
            live: json!({"a": {}}),
            patch: json!({"a": {"$foo": 1}}),
            checks: vec![("/a/$foo", Some(json!(1)))],
        },
    ]);
}

#[test]
fn example_j_node_addresses_and_ports() {
    let node = json!({"kind": "Node", "status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "InternalIP", "address": "10.0.0.6"},
        {"type": "Hostname", "address": "n"}
    ]}});
    let pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "dns", "ports": [
        {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
        {"containerPort": 53, "protocol": "UDP", "name": "dns-udp"}
    ]}]}});
    let ports = "/spec/containers/0/ports";
    run(vec![
        Case {
            name: "J first InternalIP overwritten",
            kind: Kind::Node,
            live: node.clone(),
            patch: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}}),
            checks: vec![(
                "/status/addresses",
                Some(json!([
                    {"type": "InternalIP", "address": "10.0.0.7"},
                    {"type": "InternalIP", "address": "10.0.0.6"},
                    {"type": "Hostname", "address": "n"}
                ])),
            )],
        },
        Case {
            name: "J kubelet's replace list",
            kind: Kind::Node,
            live: node,
            patch: json!({"status": {"addresses": [
                {"$patch": "replace"},
                {"type": "InternalIP", "address": "10.0.0.7"},
                {"type": "Hostname", "address": "n"}
            ]}}),
            checks: vec![(
                "/status/addresses",
                Some(json!([{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": "n"}])),
            )],
        },
        Case {
            name: "J ports match on containerPort alone",
            kind: Kind::Pod,
            live: pod.clone(),
            patch: json!({"spec": {"containers": [{"name": "dns", "ports": [
                {"containerPort": 53, "protocol": "UDP", "name": "dns2"}
            ]}]}}),
            checks: vec![(
                ports,
                Some(json!([
                    {"containerPort": 53, "protocol": "UDP", "name": "dns2"},
                    {"containerPort": 53, "protocol": "UDP", "name": "dns-udp"}
                ])),
            )],
        },
        Case {
            name: "J deleting a port removes every match",
            kind: Kind::Pod,
            live: pod,
            patch: json!({"spec": {"containers": [{"name": "dns", "ports": [{"$patch": "delete", "containerPort": 53}]}]}}),
            checks: vec![(ports, Some(json!([])))],
        },
        Case {
            name: "merge keys compare by JSON type: 53 is not 53.0",
            kind: Kind::Pod,
            live: json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 53}]}]}}),
            patch: json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 53.0, "name": "x"}]}]}}),
            checks: vec![(ports, Some(json!([{"containerPort": 53.0, "name": "x"}, {"containerPort": 53}])))],
        },
        Case {
            name: "deleting a missing element is a no-op",
            kind: Kind::Job,
            live: job(),
            patch: pod_spec_patch(json!({"containers": [{"name": "ghost", "$patch": "delete"}]})),
            checks: vec![(CONTAINERS, job().pointer(CONTAINERS).cloned())],
        },
    ]);
}

#[test]
fn appended_elements_keep_nulls_until_stripped() {
    let live = json!({"spec": {"containers": [{"name": "a"}]}});
    let patch = json!({"spec": {"containers": [{"name": "b", "image": null}]}});
    let mut merged = strategic_merge(&live, &patch, Kind::Pod).expect("merge");
    assert_eq!(merged.pointer("/spec/containers/0"), Some(&json!({"name": "b", "image": null})));
    strip_nulls(&mut merged);
    assert_eq!(merged.pointer("/spec/containers/0"), Some(&json!({"name": "b"})));
}

#[test]
fn kind_other_merges_maps_and_replaces_lists() {
    run(vec![Case {
        name: "other",
        kind: Kind::Other,
        live: json!({"data": {"a": "1", "b": "2"}, "items": [{"name": "x"}, {"name": "y"}]}),
        patch: json!({"data": {"b": null, "c": "3"}, "items": [{"name": "z"}]}),
        checks: vec![("/data", Some(json!({"a": "1", "c": "3"}))), ("/items", Some(json!([{"name": "z"}])))],
    }]);
}

#[test]
fn null_patch_changes_nothing() {
    let live = job();
    assert_eq!(strategic_merge(&live, &Value::Null, Kind::Job).expect("merge"), live);
    assert_eq!(strategic_merge(&live, &json!({}), Kind::Job).expect("merge"), live);
}
