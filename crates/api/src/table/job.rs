//! `kubectl get jobs`: NAME STATUS COMPLETIONS DURATION AGE, wide CONTAINERS IMAGES SELECTOR (job-semantics §6.2).

use crate::vocab::{ConditionStatus, JobConditionType};
use jiff::Timestamp;
use serde_json::Value;

use super::{AGE, Column, NAME, col, s, since};
use crate::codec::{Job, JobCondition};
use crate::duration;
use crate::selector::format_api_selector;

const COLUMNS: [Column; 8] = [
    NAME,
    col("Status", "Status of the job.", 0),
    col("Completions", "The number of pods which reached phase Succeeded, of the number wanted.", 0),
    col("Duration", "Time required to complete the job.", 0),
    AGE,
    col("Containers", "Names of each container in the template.", 1),
    col("Images", "Images referenced by each container in the template.", 1),
    col("Selector", "A label query over pods that should match the pod count.", 1),
];

pub fn job_columns() -> &'static [Column] {
    &COLUMNS
}

/// Whether the first condition of this type is True (later duplicates are ignored, as upstream).
fn has_condition(conditions: &[JobCondition], type_: JobConditionType) -> bool {
    conditions.iter().find(|c| c.type_ == type_).is_some_and(|c| c.status == ConditionStatus::True)
}

/// The STATUS cell: first of Complete, Failed, Terminating, Suspended, FailureTarget, Running. (1.33 has no
/// `SuccessCriteriaMet` status; such a Job shows Running.)
pub fn job_status(job: &Job) -> &'static str {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    if has_condition(conditions, JobConditionType::Complete) {
        JobConditionType::Complete.as_str()
    } else if has_condition(conditions, JobConditionType::Failed) {
        JobConditionType::Failed.as_str()
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conditions, JobConditionType::Suspended) {
        JobConditionType::Suspended.as_str()
    } else if has_condition(conditions, JobConditionType::FailureTarget) {
        JobConditionType::FailureTarget.as_str()
    } else {
        "Running"
    }
}

fn completions(job: &Job) -> String {
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
    let spec = job.spec.as_ref();
    if let Some(completions) = spec.and_then(|s| s.completions) {
        return format!("{succeeded}/{completions}");
    }
    match spec.and_then(|s| s.parallelism).unwrap_or(0) {
        p if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    }
}

/// Empty before the Job starts; start to completion once complete; otherwise still growing (failed Jobs never
/// get a completionTime, so theirs keeps growing too).
fn job_duration(job: &Job, now: Timestamp) -> String {
    let status = job.status.as_ref();
    match (status.and_then(|s| s.start_time.as_ref()), status.and_then(|s| s.completion_time.as_ref())) {
        (None, _) => String::new(),
        (Some(start), None) => duration::since(start.0, now),
        (Some(start), Some(done)) => duration::since(start.0, done.0),
    }
}

pub fn job_cells(job: &Job, now: Timestamp) -> Vec<Value> {
    let spec = job.spec.as_ref();
    let containers = spec.and_then(|s| s.template.spec.as_ref()).map(|p| p.containers.as_slice()).unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_deref().unwrap_or_default()).collect();
    // A nil selector selects nothing, which upstream prints like an empty one.
    let selector = spec.and_then(|s| s.selector.as_ref()).map_or_else(|| "<none>".to_string(), format_api_selector);
    vec![
        s(job.metadata.name.clone().unwrap_or_default()),
        s(job_status(job)),
        s(completions(job)),
        s(job_duration(job, now)),
        s(since(job.metadata.creation_timestamp.as_ref(), now)),
        s(names.join(",")),
        s(images.join(",")),
        s(selector),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Container, JobSpec, JobStatus, LabelSelector, ObjectMeta, PodSpec, Time};

    fn ts(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    fn cond(type_: &str, status: &str) -> JobCondition {
        JobCondition { type_: type_.into(), status: status.into(), ..Default::default() }
    }

    fn job_with(conditions: Vec<JobCondition>, deleting: bool) -> Job {
        Job {
            metadata: ObjectMeta {
                deletion_timestamp: deleting.then(|| ts("2026-01-01T00:00:00Z")),
                ..Default::default()
            },
            status: Some(JobStatus { conditions: Some(conditions), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn status_rules() {
        let cases: Vec<(Vec<JobCondition>, bool, &str)> = vec![
            (vec![], false, "Running"),
            (vec![cond("SuccessCriteriaMet", "True")], false, "Running"),
            (vec![cond("SuccessCriteriaMet", "True"), cond("Complete", "True")], false, "Complete"),
            (vec![cond("Complete", "True")], true, "Complete"),
            (vec![cond("FailureTarget", "True"), cond("Failed", "True")], false, "Failed"),
            (vec![cond("Failed", "True")], true, "Failed"),
            (vec![], true, "Terminating"),
            (vec![cond("Suspended", "True")], true, "Terminating"),
            (vec![cond("Suspended", "True")], false, "Suspended"),
            (vec![cond("Suspended", "False")], false, "Running"),
            (vec![cond("Suspended", "True"), cond("FailureTarget", "True")], false, "Suspended"),
            (vec![cond("FailureTarget", "True")], false, "FailureTarget"),
            (vec![cond("FailureTarget", "False")], false, "Running"),
            // Only the first condition of a type counts.
            (vec![cond("Complete", "False"), cond("Complete", "True")], false, "Running"),
        ];
        for (conditions, deleting, want) in cases {
            let job = job_with(conditions.clone(), deleting);
            assert_eq!(job_status(&job), want, "{conditions:?} deleting={deleting}");
        }
        assert_eq!(job_status(&Job::default()), "Running");
    }

    #[test]
    fn completions_column() {
        // (completions, parallelism, succeeded, COMPLETIONS)
        type Case = (Option<i32>, Option<i32>, Option<i32>, &'static str);
        let cases: &[Case] = &[
            (Some(5), Some(2), Some(2), "2/5"),
            (Some(1), Some(1), None, "0/1"),
            (None, Some(3), Some(1), "1/1 of 3"),
            (None, Some(1), Some(1), "1/1"),
            (None, None, None, "0/1"),
            (Some(0), Some(0), None, "0/0"),
        ];
        for &(completions_, parallelism, succeeded, want) in cases {
            let job = Job {
                spec: Some(JobSpec { completions: completions_, parallelism, ..Default::default() }),
                status: Some(JobStatus { succeeded, ..Default::default() }),
                ..Default::default()
            };
            assert_eq!(completions(&job), want, "{completions_:?} {parallelism:?} {succeeded:?}");
        }
    }

    #[test]
    fn duration_column() {
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        // (startTime, completionTime, true conditions, DURATION)
        type Case = (Option<&'static str>, Option<&'static str>, &'static [&'static str], &'static str);
        let cases: &[Case] = &[
            (None, None, &[], ""),
            (Some("2026-01-01T00:59:57Z"), Some("2026-01-01T01:00:00Z"), &["Complete"], "3s"),
            (Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:02:30Z"), &["Complete"], "2m30s"),
            (Some("2026-01-01T00:55:00Z"), None, &[], "5m"),
            // Failed Jobs have no completionTime: their duration keeps growing.
            (Some("2026-01-01T00:00:00Z"), None, &["Failed"], "60m"),
        ];
        for &(start, done, conds, want) in cases {
            let job = Job {
                status: Some(JobStatus {
                    start_time: start.map(ts),
                    completion_time: done.map(ts),
                    conditions: Some(conds.iter().map(|c| cond(c, "True")).collect()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(job_duration(&job, now), want, "{start:?} {done:?}");
        }
    }

    #[test]
    fn full_row() {
        let now: Timestamp = "2026-11-27T10:51:21Z".parse().unwrap();
        let mut job = Job {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                creation_timestamp: Some(ts("2026-11-27T10:51:17Z")),
                ..Default::default()
            },
            spec: Some(JobSpec {
                completions: Some(1),
                parallelism: Some(1),
                selector: Some(LabelSelector {
                    match_labels: Some([("batch.kubernetes.io/controller-uid".to_string(), "d0e7".to_string())].into()),
                    match_expressions: None,
                }),
                ..Default::default()
            }),
            status: Some(JobStatus {
                succeeded: Some(1),
                start_time: Some(ts("2026-11-27T10:51:17Z")),
                completion_time: Some(ts("2026-11-27T10:51:20Z")),
                conditions: Some(vec![cond("SuccessCriteriaMet", "True"), cond("Complete", "True")]),
                ..Default::default()
            }),
        };
        if let Some(spec) = job.spec.as_mut() {
            spec.template.spec = Some(PodSpec {
                containers: vec![
                    Container { name: "pi".into(), image: Some("perl:5.34.0".into()), ..Default::default() },
                    Container { name: "side".into(), image: None, ..Default::default() },
                ],
                ..Default::default()
            });
        }
        let cells = job_cells(&job, now);
        assert_eq!(cells.len(), job_columns().len());
        assert_eq!(
            serde_json::to_value(&cells).unwrap(),
            serde_json::json!([
                "pi",
                "Complete",
                "1/1",
                "3s",
                "4s",
                "pi,side",
                "perl:5.34.0,",
                "batch.kubernetes.io/controller-uid=d0e7"
            ])
        );
        let bare = job_cells(&Job::default(), now);
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!(["", "Running", "0/1", "", "<unknown>", "", "", "<none>"])
        );
    }
}
