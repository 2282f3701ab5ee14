use std::collections::BTreeMap;

use runlet_codec::{LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time};

use super::*;

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn create_errors(m: &ObjectMeta) -> Vec<String> {
    validate_object_meta(m, true, names::dns1123_subdomain).iter().map(ToString::to_string).collect()
}

#[test]
fn object_meta_on_create() {
    let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
    let rows: Vec<(&str, ObjectMeta, Vec<String>)> = vec![
        ("valid", meta("pi"), vec![]),
        (
            "no name",
            ObjectMeta { namespace: Some("default".into()), ..Default::default() },
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            "no namespace",
            ObjectMeta { name: Some("pi".into()), ..Default::default() },
            vec!["metadata.namespace: Required value".into()],
        ),
        (
            "generateName checked with its trailing dash masked",
            ObjectMeta { generate_name: Some("pi-".into()), ..meta("pi-abcde") },
            vec![],
        ),
        ("negative generation", ObjectMeta { generation: Some(-1), ..meta("pi") }, vec![
            "metadata.generation: Invalid value: -1: must be greater than or equal to 0".into(),
        ]),
        ("bad label value", ObjectMeta { labels: Some(map(&[("app", "a b")])), ..meta("pi") }, vec![
            "metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into(),
        ]),
        ("annotation key case does not matter", ObjectMeta { annotations: Some(map(&[("Example.COM/Key", "v")])), ..meta("pi") }, vec![]),
        ("annotations too large", ObjectMeta { annotations: Some(map(&[("k", &big)])), ..meta("pi") }, vec![
            "metadata.annotations: Too long: may not be more than 262144 bytes".into(),
        ]),
        ("unqualified finalizer", ObjectMeta { finalizers: Some(vec!["custom".into()]), ..meta("pi") }, vec![
            "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified".into(),
        ]),
        (
            "orphan and foreground together",
            ObjectMeta { finalizers: Some(vec!["orphan".into(), "foregroundDeletion".into()]), ..meta("pi") },
            vec![
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set".into(),
            ],
        ),
        (
            "owner reference without uid, two controllers",
            ObjectMeta {
                owner_references: Some(vec![
                    OwnerReference { api_version: "batch/v1".into(), kind: "Job".into(), name: "a".into(), uid: "".into(), controller: Some(true), block_owner_deletion: None },
                    OwnerReference { api_version: "batch/v1".into(), kind: "Job".into(), name: "b".into(), uid: "u".into(), controller: Some(true), block_owner_deletion: None },
                ]),
                ..meta("pi")
            },
            vec![
                "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty".into(),
                "metadata.ownerReferences: Invalid value: []v1.OwnerReference{...}: Only one reference can have Controller set to true. Found \"true\" in references for Job/a and Job/b".into(),
            ],
        ),
    ];
    for (what, m, want) in rows {
        assert_eq!(create_errors(&m), want, "{what}");
    }
}

#[test]
fn object_meta_on_update() {
    let old = ObjectMeta {
        uid: Some("u1".into()),
        generation: Some(3),
        creation_timestamp: Some(Time("2024-01-01T00:00:00Z".parse().expect("time"))),
        deletion_timestamp: Some(Time("2024-01-02T00:00:00Z".parse().expect("time"))),
        finalizers: Some(vec!["a.io/x".into()]),
        ..meta("pi")
    };
    let new = ObjectMeta {
        name: Some("other".into()),
        generation: Some(2),
        creation_timestamp: None,
        finalizers: Some(vec!["a.io/x".into(), "b.io/y".into()]),
        ..old.clone()
    };
    let got: Vec<String> = validate_object_meta_update(&new, &old).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
            "metadata.generation: Invalid value: 2: must not be decremented",
            "metadata.name: Invalid value: \"other\": field is immutable",
            "metadata.creationTimestamp: Invalid value: 0001-01-01 00:00:00 +0000 UTC: field is immutable",
        ]
    );
    assert!(validate_object_meta_update(&old, &old).is_empty());
}

#[test]
fn selectors_match_like_upstream() {
    let labels = map(&[("app", "pi"), ("tier", "batch")]);
    let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: if values.is_empty() { None } else { Some(values.iter().map(|v| v.to_string()).collect()) },
    };
    let sel = |labels: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>| LabelSelector {
        match_labels: if labels.is_empty() { None } else { Some(map(labels)) },
        match_expressions: if exprs.is_empty() { None } else { Some(exprs) },
    };
    let rows: Vec<(LabelSelector, Option<bool>)> = vec![
        (sel(&[], vec![]), Some(true)),
        (sel(&[("app", "pi")], vec![]), Some(true)),
        (sel(&[("app", "x")], vec![]), Some(false)),
        (sel(&[], vec![req("tier", "In", &["batch", "web"])]), Some(true)),
        (sel(&[], vec![req("tier", "NotIn", &["batch"])]), Some(false)),
        (sel(&[], vec![req("gpu", "DoesNotExist", &[])]), Some(true)),
        (sel(&[], vec![req("gpu", "Exists", &[])]), Some(false)),
        (sel(&[], vec![req("tier", "In", &[])]), None),
        (sel(&[], vec![req("tier", "Bogus", &["x"])]), None),
    ];
    for (selector, want) in rows {
        assert_eq!(selector_matches(Some(&selector), Some(&labels)), want, "{selector:?}");
    }
    assert_eq!(selector_matches(None, Some(&labels)), Some(false), "nil selects nothing");
}

#[test]
fn semantic_json_ignores_empty_collections() {
    let a = serde_json::json!({"a": [], "b": {"c": {}, "d": null}, "e": [1, {}], "f": 0});
    assert_eq!(semantic_json(a), serde_json::json!({"e": [1, {}], "f": 0}));
}

#[test]
fn dedupe_keeps_first_occurrences() {
    let e = |p: &str| FieldError::required(p, "");
    let got: Vec<String> = dedupe(vec![e("a"), e("b"), e("a")]).iter().map(ToString::to_string).collect();
    assert_eq!(got, vec!["a: Required value", "b: Required value"]);
}
