use serde_json::json;

use super::{UID, created, decode, pi, pi_with};
use crate::job::{default_job, prepare_for_create};

fn encode(job: &runlet_codec::Job) -> serde_json::Value {
    runlet_codec::encode_job(job).expect("encodes")
}

#[test]
fn defaults_the_pi_job_like_a_real_server() {
    let mut job = decode(&pi());
    default_job(&mut job);
    assert_eq!(
        encode(&job),
        json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
            "spec": {
                "backoffLimit": 4,
                "completionMode": "NonIndexed",
                "completions": 1,
                "manualSelector": false,
                "parallelism": 1,
                "podReplacementPolicy": "TerminatingOrFailed",
                "suspend": false,
                "template": {"spec": {
                    "containers": [{
                        "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
                        "image": "perl",
                        "imagePullPolicy": "Always",
                        "name": "pi",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Never",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }}
            }
        })
    );
}

#[test]
fn prepares_the_pi_job_for_create() {
    let job = created(&pi());
    let v = encode(&job);
    let labels = json!({
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": UID,
        "job-name": "pi"
    });
    assert_eq!(v["metadata"]["labels"], labels);
    assert_eq!(v["metadata"]["uid"], UID);
    assert_eq!(v["metadata"]["generation"], 1);
    assert_eq!(v["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(v["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}));
    assert_eq!(v["status"], json!({}));
    assert!(crate::job::validate_create(&job).is_empty(), "{:?}", crate::job::validate_create(&job));
}

#[test]
fn parallelism_completions_and_backoff_rules() {
    let rows = [
        // (spec patch, parallelism, completions, backoffLimit)
        (json!({}), Some(1), Some(1), Some(4)),
        (json!({"parallelism": 3, "backoffLimit": null}), Some(3), None, Some(6)),
        (json!({"completions": 5}), Some(1), Some(5), Some(4)),
        (
            json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1, "backoffLimit": null}),
            Some(1),
            Some(3),
            Some(i32::MAX),
        ),
    ];
    for (patch, parallelism, completions, backoff) in rows {
        let mut job = decode(&pi_with(json!({"spec": patch.clone()})));
        default_job(&mut job);
        let spec = job.spec.as_ref().expect("spec");
        assert_eq!(
            (spec.parallelism, spec.completions, spec.backoff_limit),
            (parallelism, completions, backoff),
            "{patch}"
        );
    }
}

#[test]
fn replacement_policy_and_condition_status_follow_the_failure_policy() {
    let mut job = decode(&pi_with(json!({"spec": {"podFailurePolicy": {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    ]}}})));
    default_job(&mut job);
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
    let rule = &spec.pod_failure_policy.as_ref().expect("policy").rules[0];
    assert_eq!(rule.on_pod_conditions.as_ref().expect("patterns")[0].status, "True");
}

#[test]
fn job_labels_come_from_the_template_only_when_the_job_has_none() {
    let template_labels = json!({"spec": {"template": {"metadata": {"labels": {"app": "pi"}}}}});
    let job = created(&pi_with(template_labels.clone()));
    let labels = job.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels.get("app").map(String::as_str), Some("pi"));
    assert_eq!(labels.get("job-name").map(String::as_str), Some("pi"), "shared map gets the generated labels");

    let mut own = template_labels;
    own["metadata"] = json!({"name": "pi", "labels": {"team": "a"}});
    let job = created(&pi_with(own));
    assert_eq!(job.metadata.labels.as_ref().map(|l| l.len()), Some(1));
}

#[test]
fn manual_selector_generates_nothing() {
    let mut job = decode(&pi_with(json!({"spec": {"manualSelector": true}})));
    default_job(&mut job);
    prepare_for_create(&mut job, UID);
    let spec = job.spec.as_ref().expect("spec");
    assert!(spec.selector.is_none());
    assert!(spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref()).is_none());
}
