//! One row per message of job-semantics §1.3 (and the policy rules under it), each asserting every error.

use serde_json::{Value, json};

use super::{created, pi_with, strings};
use crate::job::{create_warnings, validate_create};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn spec(patch: Value) -> Value {
    pi_with(json!({"spec": patch}))
}

fn pod_spec(patch: Value) -> Value {
    spec(json!({"template": {"spec": patch}}))
}

fn exit_rule(values: Value) -> Value {
    json!({"action": "FailJob", "onExitCodes": {"operator": "In", "values": values}})
}

fn with_rules(rules: Value) -> Value {
    spec(json!({"podFailurePolicy": {"rules": rules}}))
}

fn indexed_with_success(rules: Value) -> Value {
    spec(json!({"completionMode": "Indexed", "completions": 5, "successPolicy": {"rules": rules}}))
}

fn check(rows: Vec<(&str, Value, Vec<String>)>) {
    for (what, input, want) in rows {
        let got = strings(&validate_create(&created(&input)));
        assert_eq!(got, want, "{what}");
    }
}

fn one(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

#[test]
fn section_1_3_spec_messages() {
    let long_name = "a".repeat(64);
    check(vec![
        ("valid", spec(json!({})), vec![]),
        (
            "restartPolicy omitted",
            pod_spec(json!({"restartPolicy": null})),
            one(r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#),
        ),
        (
            "restartPolicy Always",
            pod_spec(json!({"restartPolicy": "Always"})),
            one(r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#),
        ),
        (
            "restartPolicy Foo (pod rule, then Job rule)",
            pod_spec(json!({"restartPolicy": "Foo"})),
            vec![
                r#"spec.template.spec.restartPolicy: Unsupported value: "Foo": supported values: "Always", "OnFailure", "Never""#.into(),
                r#"spec.template.spec.restartPolicy: Unsupported value: "Foo": supported values: "OnFailure", "Never""#.into(),
            ],
        ),
        (
            "OnFailure with podFailurePolicy",
            spec(json!({"podFailurePolicy": {"rules": [exit_rule(json!([42]))]}, "template": {"spec": {"restartPolicy": "OnFailure"}}})),
            one(r#"spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified"#),
        ),
        ("parallelism -1", spec(json!({"parallelism": -1})), one("spec.parallelism: Invalid value: -1: must be greater than or equal to 0")),
        ("completions -1", spec(json!({"completions": -1})), one("spec.completions: Invalid value: -1: must be greater than or equal to 0")),
        (
            "activeDeadlineSeconds -1",
            spec(json!({"activeDeadlineSeconds": -1})),
            one("spec.activeDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0"),
        ),
        ("backoffLimit -1", spec(json!({"backoffLimit": -1})), one("spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0")),
        (
            "ttlSecondsAfterFinished -1",
            spec(json!({"ttlSecondsAfterFinished": -1})),
            one("spec.ttlSecondsAfterFinished: Invalid value: -1: must be greater than or equal to 0"),
        ),
        (
            "manual selector not matching the template",
            spec(json!({"manualSelector": true, "selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"a": "b"}}}})),
            one(r#"spec.template.metadata.labels: Invalid value: map[string]string{"a":"b"}: `selector` does not match template `labels`"#),
        ),
        (
            "user selector without manualSelector",
            spec(json!({"selector": {"matchLabels": {"app": "pi"}}, "template": {"metadata": {"labels": {"app": "pi"}}}})),
            one(r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"pi", "batch.kubernetes.io/controller-uid":"uid-1"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"#),
        ),
        (
            "user selector without manualSelector, template lacking its labels",
            spec(json!({"selector": {"matchLabels": {"app": "pi"}}})),
            vec![
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"pi", "batch.kubernetes.io/controller-uid":"uid-1"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"#.into(),
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "batch.kubernetes.io/job-name":"pi", "controller-uid":"uid-1", "job-name":"pi"}: `selector` does not match template `labels`"#.into(),
            ],
        ),
        (
            "user-set generated label with the wrong value",
            spec(json!({"template": {"metadata": {"labels": {"job-name": "other"}}}})),
            vec![
                r#"spec.template.metadata.labels[job-name]: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "batch.kubernetes.io/job-name":"pi", "controller-uid":"uid-1", "job-name":"other"}: must be 'pi'"#.into(),
            ],
        ),
        (
            "manualSelector without selector",
            spec(json!({"manualSelector": true})),
            vec![
                "spec.selector: Required value".into(),
                "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`".into(),
            ],
        ),
        (
            "completionMode Foo",
            spec(json!({"completionMode": "Foo"})),
            one(r#"spec.completionMode: Unsupported value: "Foo": supported values: "NonIndexed", "Indexed""#),
        ),
        (
            "Indexed without completions",
            spec(json!({"completionMode": "Indexed", "parallelism": 2})),
            one("spec.completions: Required value: when completion mode is Indexed"),
        ),
        (
            "Indexed parallelism above 100000",
            spec(json!({"completionMode": "Indexed", "completions": 3, "parallelism": 100001})),
            one("spec.parallelism: Invalid value: 100001: must be less than or equal to 100000 when completion mode is Indexed"),
        ),
        (
            "backoffLimitPerIndex on NonIndexed",
            spec(json!({"backoffLimitPerIndex": 2})),
            one("spec.backoffLimitPerIndex: Invalid value: 2: requires indexed completion mode"),
        ),
        (
            "maxFailedIndexes without backoffLimitPerIndex",
            spec(json!({"completionMode": "Indexed", "completions": 3, "maxFailedIndexes": 1})),
            one("spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"),
        ),
        (
            "maxFailedIndexes above completions",
            spec(json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1, "maxFailedIndexes": 5})),
            one("spec.maxFailedIndexes: Invalid value: 5: must be less than or equal to completions"),
        ),
        (
            "successPolicy on NonIndexed",
            spec(json!({"successPolicy": {"rules": [{"succeededCount": 1}]}})),
            one("spec.successPolicy: Invalid value: batch.SuccessPolicy{...}: requires indexed completion mode"),
        ),
        (
            "TerminatingOrFailed with podFailurePolicy",
            spec(json!({"podReplacementPolicy": "TerminatingOrFailed", "podFailurePolicy": {"rules": [exit_rule(json!([42]))]}})),
            one(r#"spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed""#),
        ),
        (
            "invalid name",
            pi_with(json!({"metadata": {"name": "My_Job"}})),
            one(&format!("metadata.name: Invalid value: \"My_Job\": {SUBDOMAIN_MSG}")),
        ),
        (
            "name longer than 63 characters fails through the generated labels",
            pi_with(json!({"metadata": {"name": long_name}})),
            vec![
                format!("metadata.labels: Invalid value: \"{long_name}\": must be no more than 63 characters"),
                format!("spec.template.labels: Invalid value: \"{long_name}\": must be no more than 63 characters"),
            ],
        ),
        (
            "Indexed pod hostname not a DNS label",
            pi_with(json!({"metadata": {"name": "a.b"}, "spec": {"completionMode": "Indexed", "completions": 2}})),
            one(r#"metadata.name: Invalid value: "a.b": will not able to create pod with invalid DNS label: a.b-1"#),
        ),
        (
            "managedBy without a domain",
            spec(json!({"managedBy": "foo"})),
            one(r#"spec.managedBy: Invalid value: "foo": must be a domain-prefixed path (such as "acme.io/foo")"#),
        ),
        (
            "managedBy too long",
            spec(json!({"managedBy": format!("example.com/{}", "x".repeat(60))})),
            one("spec.managedBy: Too long: may not be more than 63 bytes"),
        ),
    ]);
}

#[test]
fn pod_failure_policy_messages() {
    let rules_21: Vec<Value> = (0..21).map(|_| exit_rule(json!([1]))).collect();
    let values_256: Vec<i32> = (1..=256).collect();
    let patterns_21: Vec<Value> = (0..21).map(|i| json!({"type": format!("C{i}"), "status": "True"})).collect();
    let rule0 = "spec.podFailurePolicy.rules[0]";
    check(vec![
        ("valid", with_rules(json!([exit_rule(json!([1, 2]))])), vec![]),
        (
            "too many rules",
            with_rules(json!(rules_21)),
            one("spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items"),
        ),
        (
            "empty action",
            with_rules(json!([{"action": "", "onExitCodes": {"operator": "In", "values": [1]}}])),
            one(&format!(r#"{rule0}.action: Required value: valid values: ["Count" "FailIndex" "FailJob" "Ignore"]"#)),
        ),
        (
            "unknown action",
            with_rules(json!([{"action": "Bogus", "onExitCodes": {"operator": "In", "values": [1]}}])),
            one(&format!(
                r#"{rule0}.action: Unsupported value: "Bogus": supported values: "Count", "FailIndex", "FailJob", "Ignore""#
            )),
        ),
        (
            "FailIndex without backoffLimitPerIndex",
            with_rules(json!([{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}])),
            one(&format!(r#"{rule0}.action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set"#)),
        ),
        (
            "both requirements",
            with_rules(
                json!([{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}, "onPodConditions": [{"type": "DisruptionTarget"}]}]),
            ),
            one(&format!("{rule0}: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported")),
        ),
        (
            "neither requirement",
            with_rules(json!([{"action": "Ignore"}])),
            one(&format!("{rule0}: Invalid value: specifying one of OnExitCodes and OnPodConditions is required")),
        ),
        (
            "unknown container",
            with_rules(
                json!([{"action": "FailJob", "onExitCodes": {"containerName": "nope", "operator": "In", "values": [1]}}]),
            ),
            one(&format!(
                r#"{rule0}.onExitCodes.containerName: Invalid value: "nope": must be one of the container or initContainer names in the pod template"#
            )),
        ),
        (
            "no values",
            with_rules(json!([exit_rule(json!([]))])),
            one(&format!("{rule0}.onExitCodes.values: Invalid value: []int32{{}}: at least one value is required")),
        ),
        (
            "too many values",
            with_rules(json!([exit_rule(json!(values_256))])),
            one(&format!("{rule0}.onExitCodes.values: Too many: 256: must have at most 255 items")),
        ),
        (
            "zero with In",
            with_rules(json!([exit_rule(json!([0, 1]))])),
            one(&format!("{rule0}.onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator")),
        ),
        (
            "duplicate value",
            with_rules(json!([exit_rule(json!([1, 1]))])),
            one(&format!("{rule0}.onExitCodes.values[1]: Duplicate value: 1")),
        ),
        (
            "unordered values",
            with_rules(json!([exit_rule(json!([2, 1]))])),
            one(&format!("{rule0}.onExitCodes.values: Invalid value: []int32{{2, 1}}: must be ordered")),
        ),
        (
            "bad operator",
            with_rules(json!([{"action": "FailJob", "onExitCodes": {"operator": "Foo", "values": [1]}}])),
            one(&format!(r#"{rule0}.onExitCodes.operator: Unsupported value: "Foo": supported values: "In", "NotIn""#)),
        ),
        (
            "bad condition status",
            with_rules(
                json!([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "Maybe"}]}]),
            ),
            one(&format!(
                r#"{rule0}.onPodConditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown""#
            )),
        ),
        (
            "too many condition patterns",
            with_rules(json!([{"action": "Ignore", "onPodConditions": patterns_21}])),
            one(&format!("{rule0}.onPodConditions: Too many: 21: must have at most 20 items")),
        ),
    ]);
}

#[test]
fn success_policy_messages() {
    let rule0 = "spec.successPolicy.rules[0]";
    check(vec![
        ("valid", indexed_with_success(json!([{"succeededIndexes": "0-2,4", "succeededCount": 2}])), vec![]),
        (
            "no rules",
            indexed_with_success(json!([])),
            one(
                "spec.successPolicy.rules: Required value: at least one rules must be specified when the successPolicy is specified",
            ),
        ),
        (
            "empty rule",
            indexed_with_success(json!([{}])),
            one(&format!(
                "{rule0}: Required value: at least one of succeededCount or succeededIndexes must be specified"
            )),
        ),
        (
            "index too large",
            indexed_with_success(json!([{"succeededIndexes": "7"}])),
            one(&format!(
                r#"{rule0}.succeededIndexes: Invalid value: "7": error parsing succeededIndexes: too large index: "7""#
            )),
        ),
        (
            "non-increasing",
            indexed_with_success(json!([{"succeededIndexes": "3,1"}])),
            one(&format!(
                r#"{rule0}.succeededIndexes: Invalid value: "3,1": error parsing succeededIndexes: non-increasing order, previous: 3, current: 1"#
            )),
        ),
        (
            "not a number",
            indexed_with_success(json!([{"succeededIndexes": "x"}])),
            one(&format!(
                r#"{rule0}.succeededIndexes: Invalid value: "x": error parsing succeededIndexes: cannot convert string to integer for index: "x""#
            )),
        ),
        (
            "count above completions",
            indexed_with_success(json!([{"succeededCount": 6}])),
            one(&format!(
                "{rule0}.succeededCount: Invalid value: 6: must be less than or equal to 5 (the number of specified completions)"
            )),
        ),
        (
            "count above listed indexes",
            indexed_with_success(json!([{"succeededIndexes": "0-1", "succeededCount": 3}])),
            one(&format!(
                "{rule0}.succeededCount: Invalid value: 3: must be less than or equal to 2 (the number of indexes in the specified succeededIndexes field)"
            )),
        ),
    ]);
}

#[test]
fn template_errors_carry_template_paths() {
    check(vec![
        (
            "no image",
            pod_spec(json!({"containers": [{"name": "pi"}]})),
            one("spec.template.spec.containers[0].image: Required value"),
        ),
        ("no containers", pod_spec(json!({"containers": []})), one("spec.template.spec.containers: Required value")),
    ]);
}

#[test]
fn warns_about_names_that_are_not_dns_labels() {
    let job = created(&pi_with(json!({"metadata": {"name": "a.b"}})));
    assert_eq!(
        create_warnings(&job),
        vec![
            "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]"
        ]
    );
    assert!(create_warnings(&created(&spec(json!({})))).is_empty());
}

#[test]
fn the_full_invalid_message_lists_every_error() {
    let job = created(&spec(json!({"parallelism": -1, "backoffLimit": -1})));
    assert_eq!(
        crate::field::invalid_message("Job.batch", "pi", &validate_create(&job)),
        "Job.batch \"pi\" is invalid: [spec.parallelism: Invalid value: -1: must be greater than or equal to 0, spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0]"
    );
}
