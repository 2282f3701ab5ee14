//! §1.4: what may change after creation, and generation bumps.

use serde_json::{Value, json};

use super::{created, pi_with, strings};
use crate::job::{prepare_for_update, validate_update};

/// An edit a client makes to the stored Job before sending it back.
type Edit = Box<dyn FnOnce(&mut runlet_codec::Job)>;

fn indexed(parallelism: i32, completions: i32) -> Value {
    pi_with(json!({"spec": {"completionMode": "Indexed", "parallelism": parallelism, "completions": completions}}))
}

/// Stored Job (created, resourceVersion set) and a copy to edit.
fn stored(value: &Value) -> (runlet_codec::Job, runlet_codec::Job) {
    let mut old = created(value);
    old.metadata.resource_version = Some("1".into());
    let new = old.clone();
    (new, old)
}

fn update_errors(value: &Value, edit: impl FnOnce(&mut runlet_codec::Job)) -> Vec<String> {
    let (mut new, old) = stored(value);
    edit(&mut new);
    prepare_for_update(&mut new, &old);
    strings(&validate_update(&new, &old))
}

fn spec(job: &mut runlet_codec::Job) -> &mut runlet_codec::JobSpec {
    job.spec.as_mut().expect("spec")
}

fn pod(job: &mut runlet_codec::Job) -> &mut runlet_codec::PodSpec {
    spec(job).template.spec.as_mut().expect("pod spec")
}

#[test]
fn mutable_fields_change_freely() {
    let edits: Vec<(&str, Edit)> = vec![
        ("parallelism", Box::new(|j| spec(j).parallelism = Some(5))),
        ("activeDeadlineSeconds", Box::new(|j| spec(j).active_deadline_seconds = Some(60))),
        ("backoffLimit", Box::new(|j| spec(j).backoff_limit = Some(1))),
        ("ttlSecondsAfterFinished", Box::new(|j| spec(j).ttl_seconds_after_finished = Some(10))),
        ("suspend", Box::new(|j| spec(j).suspend = Some(true))),
        (
            "labels",
            Box::new(|j| {
                j.metadata.labels.get_or_insert_with(Default::default).insert("team".into(), "a".into());
            }),
        ),
    ];
    for (what, edit) in edits {
        assert_eq!(update_errors(&pi_with(json!({})), edit), Vec::<String>::new(), "{what}");
    }
}

#[test]
fn immutable_fields_are_refused() {
    let rows: Vec<(&str, Value, Edit, Vec<&str>)> = vec![
        (
            "completions on NonIndexed",
            pi_with(json!({})),
            Box::new(|j| spec(j).completions = Some(3)),
            vec!["spec.completions: Invalid value: 3: field is immutable"],
        ),
        (
            "completionMode",
            pi_with(json!({})),
            Box::new(|j| spec(j).completion_mode = Some("Indexed".into())),
            vec![r#"spec.completionMode: Invalid value: "Indexed": field is immutable"#],
        ),
        (
            "template image",
            pi_with(json!({})),
            Box::new(|j| pod(j).containers[0].image = Some("perl:5".into())),
            vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"],
        ),
        (
            "template nodeSelector of a running Job",
            pi_with(json!({})),
            Box::new(|j| pod(j).node_selector = Some([("disk".to_string(), "ssd".to_string())].into())),
            vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"],
        ),
        (
            "selector",
            pi_with(json!({})),
            Box::new(|j| {
                let labels = spec(j).selector.as_mut().and_then(|s| s.match_labels.as_mut()).expect("labels");
                labels.insert("extra".into(), "x".into());
            }),
            vec![
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "extra":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"#,
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "batch.kubernetes.io/job-name":"pi", "controller-uid":"uid-1", "job-name":"pi"}: `selector` does not match template `labels`"#,
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "extra":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#,
            ],
        ),
        (
            "managedBy",
            pi_with(json!({})),
            Box::new(|j| spec(j).managed_by = Some("example.com/foo".into())),
            vec![r#"spec.managedBy: Invalid value: "example.com/foo": field is immutable"#],
        ),
        (
            "backoffLimitPerIndex",
            indexed(2, 2),
            Box::new(|j| spec(j).backoff_limit_per_index = Some(1)),
            vec!["spec.backoffLimitPerIndex: Invalid value: 1: field is immutable"],
        ),
        (
            "podFailurePolicy",
            pi_with(json!({})),
            Box::new(|j| {
                spec(j).pod_failure_policy = Some(runlet_codec::PodFailurePolicy {
                    rules: vec![runlet_codec::PodFailurePolicyRule {
                        action: "Ignore".into(),
                        on_pod_conditions: Some(vec![runlet_codec::PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".into(),
                            status: "True".into(),
                        }]),
                        on_exit_codes: None,
                    }],
                });
            }),
            vec![
                r#"spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed""#,
                "spec.podFailurePolicy: Invalid value: batch.PodFailurePolicy{...}: field is immutable",
            ],
        ),
        (
            "successPolicy",
            indexed(2, 2),
            Box::new(|j| {
                spec(j).success_policy = Some(runlet_codec::SuccessPolicy {
                    rules: vec![runlet_codec::SuccessPolicyRule { succeeded_count: Some(1), succeeded_indexes: None }],
                });
            }),
            vec!["spec.successPolicy: Invalid value: batch.SuccessPolicy{...}: field is immutable"],
        ),
        (
            "Indexed completions without parallelism",
            indexed(3, 3),
            Box::new(|j| spec(j).completions = Some(4)),
            vec!["spec.completions: Invalid value: 4: can only be modified in tandem with spec.parallelism"],
        ),
        (
            "uid",
            pi_with(json!({})),
            Box::new(|j| j.metadata.uid = Some("other".into())),
            vec![
                r#"spec.template.metadata.labels[controller-uid]: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "batch.kubernetes.io/job-name":"pi", "controller-uid":"uid-1", "job-name":"pi"}: must be 'other'"#,
                r#"spec.template.metadata.labels[batch.kubernetes.io/controller-uid]: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"uid-1", "batch.kubernetes.io/job-name":"pi", "controller-uid":"uid-1", "job-name":"pi"}: must be 'other'"#,
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":"uid-1"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"#,
                r#"metadata.uid: Invalid value: "other": field is immutable"#,
            ],
        ),
    ];
    for (what, value, edit, want) in rows {
        assert_eq!(update_errors(&value, edit), want, "{what}");
    }
}

#[test]
fn elastic_indexed_jobs_scale_completions_with_parallelism() {
    let errs = update_errors(&indexed(3, 3), |j| {
        spec(j).completions = Some(5);
        spec(j).parallelism = Some(5);
    });
    assert_eq!(errs, Vec::<String>::new());
}

#[test]
fn suspended_never_started_jobs_may_change_scheduling_directives() {
    let suspended = pi_with(json!({"spec": {"suspend": true}}));
    let schedule = |j: &mut runlet_codec::Job| {
        pod(j).node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        pod(j).tolerations = Some(vec![runlet_codec::k8s_openapi::api::core::v1::Toleration {
            key: Some("k".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        }]);
        let labels = spec(j).template.metadata.as_mut().and_then(|m| m.labels.as_mut()).expect("labels");
        labels.insert("extra".into(), "x".into());
    };
    assert_eq!(update_errors(&suspended, schedule), Vec::<String>::new());

    // Once started, the template is frozen even while suspended.
    let (mut new, mut old) = stored(&suspended);
    old.status.get_or_insert_with(Default::default).start_time =
        Some(runlet_codec::Time("2024-01-01T00:00:00Z".parse().expect("time")));
    schedule(&mut new);
    prepare_for_update(&mut new, &old);
    assert_eq!(
        strings(&validate_update(&new, &old)),
        vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]
    );

    // Other template fields stay frozen even before the start.
    let errs = update_errors(&suspended, |j| pod(j).containers[0].image = Some("perl:5".into()));
    assert_eq!(errs, vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]);
}

#[test]
fn prefixed_labels_are_only_required_if_the_stored_job_had_them() {
    let (mut new, mut old) = stored(&pi_with(json!({})));
    for job in [&mut new, &mut old] {
        let labels = spec(job).template.metadata.as_mut().and_then(|m| m.labels.as_mut()).expect("labels");
        labels.remove("batch.kubernetes.io/job-name");
        labels.remove("batch.kubernetes.io/controller-uid");
        spec(job).selector = Some(runlet_codec::LabelSelector {
            match_labels: Some([("controller-uid".to_string(), "uid-1".to_string())].into()),
            match_expressions: None,
        });
    }
    assert_eq!(strings(&validate_update(&new, &old)), Vec::<String>::new());
}

#[test]
fn generation_follows_spec_changes_and_status_is_kept() {
    let (mut new, old) = stored(&pi_with(json!({})));
    new.status.get_or_insert_with(Default::default).succeeded = Some(9);
    new.metadata.generation = Some(7);
    prepare_for_update(&mut new, &old);
    assert_eq!(new.metadata.generation, Some(1), "no spec change, client value ignored");
    assert_eq!(new.status, old.status);

    let (mut new, old) = stored(&pi_with(json!({})));
    spec(&mut new).parallelism = Some(3);
    prepare_for_update(&mut new, &old);
    assert_eq!(new.metadata.generation, Some(2));

    // Empty and missing collections are the same spec.
    let (mut new, old) = stored(&pi_with(json!({})));
    pod(&mut new).volumes = Some(vec![]);
    prepare_for_update(&mut new, &old);
    assert_eq!(new.metadata.generation, Some(1));
}
