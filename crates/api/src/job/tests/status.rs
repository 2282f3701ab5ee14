//! §1.5: status-subresource rules.

use runlet_codec::{Job, JobCondition, JobStatus, Time, UncountedTerminatedPods};
use serde_json::json;

use super::{created, pi_with, strings};
use crate::job::{prepare_for_status_update, validate_status_update};

fn time(s: &str) -> Time {
    Time(s.parse().expect("RFC 3339 time"))
}

fn condition(type_: &str) -> JobCondition {
    JobCondition { type_: type_.into(), status: "True".into(), ..Default::default() }
}

fn running() -> JobStatus {
    JobStatus { active: Some(1), ready: Some(0), start_time: Some(time("2024-01-01T00:00:00Z")), ..Default::default() }
}

fn complete() -> JobStatus {
    JobStatus {
        succeeded: Some(1),
        start_time: Some(time("2024-01-01T00:00:00Z")),
        completion_time: Some(time("2024-01-01T00:01:00Z")),
        conditions: Some(vec![condition("SuccessCriteriaMet"), condition("Complete")]),
        ..Default::default()
    }
}

fn job_with(value: &serde_json::Value, status: JobStatus) -> Job {
    let mut job = created(value);
    job.metadata.resource_version = Some("1".into());
    job.status = Some(status);
    job
}

fn errors_for(old: JobStatus, new: JobStatus) -> Vec<String> {
    errors_for_job(&pi_with(json!({})), old, new)
}

fn errors_for_job(value: &serde_json::Value, old: JobStatus, new: JobStatus) -> Vec<String> {
    let old = job_with(value, old);
    let new = job_with(value, new);
    strings(&validate_status_update(&new, &old))
}

#[test]
fn status_rules() {
    let indexed = pi_with(
        json!({"spec": {"completionMode": "Indexed", "completions": 5, "parallelism": 2, "backoffLimitPerIndex": 1}}),
    );
    let rows: Vec<(&str, serde_json::Value, JobStatus, JobStatus, Vec<&str>)> = vec![
        ("controller progress", pi_with(json!({})), JobStatus::default(), running(), vec![]),
        ("completion", pi_with(json!({})), running(), complete(), vec![]),
        (
            "negative active",
            pi_with(json!({})),
            running(),
            JobStatus { active: Some(-1), ready: None, ..running() },
            vec!["status.active: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "succeeded decreases",
            pi_with(json!({})),
            JobStatus { succeeded: Some(2), ..running() },
            JobStatus { succeeded: Some(1), ..running() },
            vec!["status.succeeded: Invalid value: 1: cannot decrease the succeeded counter"],
        ),
        (
            "failed decreases",
            pi_with(json!({})),
            JobStatus { failed: Some(2), ..running() },
            JobStatus { failed: Some(1), ..running() },
            vec!["status.failed: Invalid value: 1: cannot decrease the failed counter"],
        ),
        (
            "terminal condition turned off",
            pi_with(json!({})),
            complete(),
            JobStatus { conditions: Some(vec![condition("SuccessCriteriaMet")]), ..complete() },
            vec![
                "status.completionTime: Invalid value: 2024-01-01 00:01:00 +0000 UTC: cannot set completionTime when there is no Complete=True condition",
                "status.conditions: Invalid value: cannot disable the terminal Complete=True condition",
            ],
        ),
        (
            "Failed without FailureTarget",
            pi_with(json!({})),
            running(),
            JobStatus { active: Some(0), conditions: Some(vec![condition("Failed")]), ..running() },
            vec![
                "status.conditions: Invalid value: cannot set Failed=True condition without the FailureTarget=true condition",
            ],
        ),
        (
            "Complete without SuccessCriteriaMet",
            pi_with(json!({})),
            running(),
            JobStatus { conditions: Some(vec![condition("Complete")]), ..complete() },
            vec![
                "status.conditions: Invalid value: cannot set Complete=True condition without the SuccessCriteriaMet=true condition",
            ],
        ),
        (
            "Complete without completionTime",
            pi_with(json!({})),
            running(),
            JobStatus { completion_time: None, ..complete() },
            vec!["status.completionTime: Required value: completionTime is required for Complete jobs"],
        ),
        (
            "finished with active pods",
            pi_with(json!({})),
            running(),
            JobStatus { active: Some(1), ..complete() },
            vec!["status.active: Invalid value: 1: active>0 is invalid for finished job"],
        ),
        (
            "finished with terminating pods",
            pi_with(json!({})),
            running(),
            JobStatus { terminating: Some(1), ..complete() },
            vec!["status.terminating: Invalid value: 1: terminating>0 is invalid for finished job"],
        ),
        (
            "finished without startTime",
            pi_with(json!({})),
            JobStatus::default(),
            JobStatus { start_time: None, ..complete() },
            vec!["status.startTime: Required value: startTime is required for finished job"],
        ),
        (
            "completionTime before startTime",
            pi_with(json!({})),
            running(),
            JobStatus { completion_time: Some(time("2023-12-31T23:00:00Z")), ..complete() },
            vec![
                "status.completionTime: Invalid value: 2023-12-31 23:00:00 +0000 UTC: completionTime cannot be set before startTime",
            ],
        ),
        (
            "completionTime mutated",
            pi_with(json!({})),
            complete(),
            JobStatus { completion_time: Some(time("2024-01-01T00:02:00Z")), ..complete() },
            vec![
                "status.completionTime: Invalid value: 2024-01-01 00:02:00 +0000 UTC: completionTime cannot be mutated",
            ],
        ),
        (
            "startTime removed from a running Job",
            pi_with(json!({})),
            running(),
            JobStatus { start_time: None, ..running() },
            vec!["status.startTime: Required value: startTime cannot be removed for unsuspended job"],
        ),
        (
            "startTime moved on a running Job",
            pi_with(json!({})),
            running(),
            JobStatus { start_time: Some(time("2024-01-01T00:05:00Z")), ..running() },
            vec!["status.startTime: Required value: startTime cannot be removed for unsuspended job"],
        ),
        (
            "startTime reset by the write that resumes the Job",
            pi_with(json!({})),
            JobStatus { conditions: Some(vec![condition("Suspended")]), ..running() },
            JobStatus {
                start_time: Some(time("2024-01-01T00:05:00Z")),
                conditions: Some(vec![JobCondition { status: "False".into(), ..condition("Suspended") }]),
                ..running()
            },
            vec![],
        ),
        (
            "more ready than active",
            pi_with(json!({})),
            running(),
            JobStatus { ready: Some(2), ..running() },
            vec!["status.ready: Invalid value: 2: cannot set more ready pods than active"],
        ),
        (
            "uncounted UIDs empty or repeated",
            pi_with(json!({})),
            running(),
            JobStatus {
                uncounted_terminated_pods: Some(UncountedTerminatedPods {
                    succeeded: Some(vec!["a".into(), "".into()]),
                    failed: Some(vec!["a".into()]),
                }),
                ..running()
            },
            vec![
                r#"status.uncountedTerminatedPods.succeeded[1]: Invalid value: "": must not be empty"#,
                r#"status.uncountedTerminatedPods.failed[0]: Duplicate value: "a""#,
            ],
        ),
        (
            "finished with uncounted pods",
            pi_with(json!({})),
            running(),
            JobStatus {
                uncounted_terminated_pods: Some(UncountedTerminatedPods {
                    succeeded: Some(vec!["a".into()]),
                    failed: None,
                }),
                ..complete()
            },
            vec![
                r#"status.uncountedTerminatedPods: Invalid value: batch.UncountedTerminatedPods{Succeeded:[]types.UID{"a"}, Failed:[]types.UID(nil)}: uncountedTerminatedPods needs to be empty for finished job"#,
            ],
        ),
        (
            "completedIndexes on a NonIndexed Job",
            pi_with(json!({})),
            running(),
            JobStatus { completed_indexes: Some("0".into()), ..running() },
            vec![
                r#"status.completedIndexes: Invalid value: "0": cannot set non-empty completedIndexes when non-indexed completion mode"#,
            ],
        ),
        (
            "completedIndexes malformed",
            indexed.clone(),
            running(),
            JobStatus { completed_indexes: Some("1,0".into()), ..running() },
            vec![
                r#"status.completedIndexes: Invalid value: "1,0": error parsing completedIndexes: non-increasing order, previous: 1, current: 0"#,
            ],
        ),
        (
            "failedIndexes overlapping completedIndexes",
            indexed.clone(),
            running(),
            JobStatus { completed_indexes: Some("0-2".into()), failed_indexes: Some("2".into()), ..running() },
            vec![r#"status.failedIndexes: Invalid value: "2": failedIndexes and completedIndexes overlap at index: 2"#],
        ),
        (
            // Two billion completed indexes: the overlap check walks intervals, so this answers at once.
            "failedIndexes next to two billion completedIndexes",
            pi_with(json!({"spec": {"completionMode": "Indexed", "completions": 2147483647, "parallelism": 2,
                                     "backoffLimitPerIndex": 1}})),
            running(),
            JobStatus {
                completed_indexes: Some("0-2147483645".into()),
                failed_indexes: Some("2147483646".into()),
                ..running()
            },
            vec![],
        ),
        (
            "failedIndexes without backoffLimitPerIndex",
            pi_with(json!({})),
            running(),
            JobStatus { failed_indexes: Some("".into()), ..running() },
            vec![
                r#"status.failedIndexes: Invalid value: "": cannot set non-null failedIndexes when backoffLimitPerIndex is null"#,
            ],
        ),
        (
            "SuccessCriteriaMet turned off",
            indexed.clone(),
            JobStatus { conditions: Some(vec![condition("SuccessCriteriaMet")]), ..running() },
            running(),
            vec!["status.conditions: Invalid value: cannot disable the SuccessCriteriaMet=True condition"],
        ),
        (
            "SuccessCriteriaMet and FailureTarget together",
            pi_with(json!({})),
            running(),
            JobStatus {
                conditions: Some(vec![condition("SuccessCriteriaMet"), condition("FailureTarget")]),
                ..running()
            },
            vec![
                "status.conditions: Invalid value: cannot set SuccessCriteriaMet=True and FailureTarget=true conditions",
            ],
        ),
    ];
    for (what, value, old, new, want) in rows {
        assert_eq!(errors_for_job(&value, old, new), want, "{what}");
    }
}

#[test]
fn rules_guarding_unchanged_fields_do_not_fire() {
    // A finished Job that (wrongly) still counts an active pod can be touched without that being re-reported.
    let bad = JobStatus { active: Some(1), ..complete() };
    assert_eq!(errors_for(bad.clone(), bad), Vec::<String>::new());
}

#[test]
fn elastic_indexed_jobs_may_lower_succeeded() {
    let elastic = pi_with(json!({"spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3}}));
    let errs = errors_for_job(
        &elastic,
        JobStatus { succeeded: Some(3), ..running() },
        JobStatus { succeeded: Some(2), ..running() },
    );
    assert_eq!(errs, Vec::<String>::new());
}

#[test]
fn status_update_takes_only_status() {
    let old = job_with(&pi_with(json!({})), running());
    let mut new = old.clone();
    new.spec.as_mut().expect("spec").parallelism = Some(9);
    new.metadata.labels = None;
    new.metadata.resource_version = Some("2".into());
    new.status = Some(complete());
    prepare_for_status_update(&mut new, &old);
    assert_eq!(new.spec, old.spec);
    assert_eq!(new.metadata.labels, old.metadata.labels);
    assert_eq!(new.metadata.resource_version.as_deref(), Some("2"));
    assert_eq!(new.status, Some(complete()));
}
