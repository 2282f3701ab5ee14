//! CronJob defaulting and validation, with upstream's messages.

use runlet_codec::CronJob;
use serde_json::{Value, json};

use super::*;

fn hello() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"},
           "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
               "containers": [{"name": "hello", "image": "busybox", "command": ["date"]}],
               "restartPolicy": "OnFailure"}}}}}})
}

fn with(patch: Value) -> Value {
    let mut v = hello();
    merge(&mut v, patch);
    v
}

/// `patch` merged into `target` as a JSON merge patch (objects merged, `null` deletes).
fn merge(target: &mut Value, patch: Value) {
    *target = runlet_patch::merge_patch(target, &patch).expect("a JSON merge patch applies");
}

fn created(v: &Value) -> CronJob {
    let mut cj = runlet_codec::decode_cron_job(v).expect("decodes").object;
    default_cronjob(&mut cj);
    prepare_for_create(&mut cj);
    cj
}

fn create_errors(v: &Value) -> Vec<String> {
    validate_create(&created(v)).iter().map(ToString::to_string).collect()
}

#[test]
fn defaults() {
    let cj = created(&hello());
    let spec = cj.spec.as_ref().unwrap();
    assert_eq!(spec.concurrency_policy.as_deref(), Some(ALLOW));
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(1));
    let job = spec.job_template.spec.as_ref().unwrap();
    assert_eq!(job.completions, None, "the Job template itself is not defaulted");
    assert_eq!(job.backoff_limit, None);
    let pod = job.template.spec.as_ref().unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(30), "its pod template is");
    assert_eq!(cj.metadata.generation, Some(1));
    // Given values stay.
    let cj = created(&with(json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true,
        "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 5}})));
    let spec = cj.spec.unwrap();
    assert_eq!(
        (
            spec.concurrency_policy.as_deref(),
            spec.suspend,
            spec.successful_jobs_history_limit,
            spec.failed_jobs_history_limit
        ),
        (Some(FORBID), Some(true), Some(0), Some(5))
    );
}

#[test]
fn valid_cronjobs() {
    for patch in [
        json!({}),
        json!({"spec": {"schedule": "@hourly"}}),
        json!({"spec": {"schedule": "@every 5m"}}),
        json!({"spec": {"schedule": "0 3 * * mon-fri", "timeZone": "Europe/Berlin"}}),
        json!({"spec": {"timeZone": "UTC", "concurrencyPolicy": "Replace", "startingDeadlineSeconds": 0}}),
        json!({"spec": {"timeZone": "Etc/GMT+5"}}),
        json!({"metadata": {"name": "a".repeat(52)}}),
    ] {
        assert_eq!(create_errors(&with(patch.clone())), Vec::<String>::new(), "{patch}");
    }
}

#[test]
fn invalid_cronjobs() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"spec": {"schedule": ""}}), vec!["spec.schedule: Required value"]),
        (
            json!({"spec": {"schedule": "61 * * * *"}}),
            vec!["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"],
        ),
        (
            json!({"spec": {"schedule": "* * * *"}}),
            vec!["spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]"],
        ),
        (
            json!({"spec": {"schedule": "@every 1d"}}),
            vec![
                "spec.schedule: Invalid value: \"@every 1d\": failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\"",
            ],
        ),
        (
            json!({"spec": {"schedule": "CRON_TZ=UTC * * * * *"}}),
            vec![
                "spec.schedule: Invalid value: \"CRON_TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ],
        ),
        (
            json!({"spec": {"schedule": "TZ=Nowhere/Land * * * * *"}}),
            vec![
                "spec.schedule: Invalid value: \"TZ=Nowhere/Land * * * * *\": provided bad location Nowhere/Land: unknown time zone Nowhere/Land",
                "spec.schedule: Invalid value: \"TZ=Nowhere/Land * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ],
        ),
        (
            json!({"spec": {"startingDeadlineSeconds": -1}}),
            vec!["spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            json!({"spec": {"timeZone": ""}}),
            vec!["spec.timeZone: Invalid value: \"\": timeZone must be nil or non-empty string"],
        ),
        (
            json!({"spec": {"timeZone": "Europe/Pariss"}}),
            vec!["spec.timeZone: Invalid value: \"Europe/Pariss\": unknown time zone Europe/Pariss"],
        ),
        (
            json!({"spec": {"timeZone": "America/Argentina/Buenos Aires"}}),
            vec![
                "spec.timeZone: Invalid value: \"America/Argentina/Buenos Aires\": unknown time zone America/Argentina/Buenos Aires",
            ],
        ),
        (
            json!({"spec": {"timeZone": "../../etc/passwd"}}),
            vec!["spec.timeZone: Invalid value: \"../../etc/passwd\": unknown time zone ../../etc/passwd"],
        ),
        (
            json!({"spec": {"timeZone": "Local"}}),
            vec![
                "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ],
        ),
        (
            json!({"spec": {"timeZone": "local"}}),
            vec![
                "spec.timeZone: Invalid value: \"local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
                "spec.timeZone: Invalid value: \"local\": unknown time zone local",
            ],
        ),
        (
            json!({"spec": {"concurrencyPolicy": "Sometimes"}}),
            vec![
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            ],
        ),
        (
            json!({"spec": {"successfulJobsHistoryLimit": -1, "failedJobsHistoryLimit": -2}}),
            vec![
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.failedJobsHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
            ],
        ),
        (
            json!({"spec": {"jobTemplate": {"spec": {"parallelism": -1, "template": {"spec": {"restartPolicy": "Always"}}}}}}),
            vec![
                "spec.jobTemplate.spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ],
        ),
        (
            json!({"spec": {"jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "manualSelector": true}}}}),
            vec![
                "spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated",
                "spec.jobTemplate.spec.manualSelector: Unsupported value: true: supported values: \"nil\", \"false\"",
            ],
        ),
        (
            json!({"metadata": {"name": "a".repeat(53)}}),
            vec![
                &*format!("metadata.name: Invalid value: \"{}\": must be no more than 52 characters", "a".repeat(53))
                    .leak(),
            ],
        ),
        (
            json!({"metadata": {"name": "Hello"}}),
            vec![
                "metadata.name: Invalid value: \"Hello\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ],
        ),
    ];
    for (patch, want) in cases {
        assert_eq!(create_errors(&with(patch.clone())), want, "{patch}");
    }
}

#[test]
fn updates() {
    let old = created(&with(json!({"metadata": {"resourceVersion": "5", "uid": "u"}})));
    let update = |patch: Value| {
        let mut v = runlet_codec::encode_cron_job(&old).unwrap();
        merge(&mut v, patch);
        let mut new = runlet_codec::decode_cron_job(&v).unwrap().object;
        default_cronjob(&mut new);
        prepare_for_update(&mut new, &old);
        let errs: Vec<String> = validate_update(&new, &old).iter().map(ToString::to_string).collect();
        (new, errs)
    };
    // A spec change bumps the generation; a label change does not; status is not the client's.
    let (new, errs) =
        update(json!({"spec": {"suspend": true}, "status": {"lastScheduleTime": "2026-01-01T00:00:00Z"}}));
    assert_eq!(errs, Vec::<String>::new());
    assert_eq!(new.metadata.generation, Some(2));
    assert_eq!(new.status, old.status);
    let (new, _) = update(json!({"metadata": {"labels": {"a": "b"}}}));
    assert_eq!(new.metadata.generation, Some(1));
    // The 52-character limit is for creation only.
    let mut long = old.clone();
    long.metadata.name = Some("b".repeat(60));
    let mut renamed = long.clone();
    renamed.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
    assert!(validate_update(&renamed, &long).is_empty());
    // A stored TZ= schedule may stay, but not together with timeZone.
    let mut legacy = old.clone();
    legacy.spec.as_mut().unwrap().schedule = "TZ=UTC 0 * * * *".into();
    let mut kept = legacy.clone();
    kept.spec.as_mut().unwrap().suspend = Some(true);
    assert!(validate_update(&kept, &legacy).is_empty());
    kept.spec.as_mut().unwrap().time_zone = Some("UTC".into());
    let errs: Vec<String> = validate_update(&kept, &legacy).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use both timeZone field and TZ or CRON_TZ in schedule"
        ]
    );
    // The name is immutable.
    let (_, errs) = update(json!({"metadata": {"name": "other"}}));
    assert!(errs.iter().any(|e| e.contains("field is immutable")), "{errs:?}");
}

#[test]
fn status_updates_take_only_the_status() {
    let old = created(&hello());
    let mut new = old.clone();
    new.spec.as_mut().unwrap().schedule = "bogus".into();
    new.status = Some(CronJobStatus {
        last_schedule_time: Some(runlet_codec::Time("2026-01-01T00:00:00Z".parse().unwrap())),
        ..Default::default()
    });
    prepare_for_status_update(&mut new, &old);
    assert_eq!(new.spec, old.spec);
    assert!(new.status.as_ref().unwrap().last_schedule_time.is_some());
    assert!(validate_status_update(&new, &old).is_empty());
}

#[test]
fn warnings() {
    assert_eq!(create_warnings(&created(&hello())), Vec::<String>::new());
    let w = create_warnings(&created(&with(json!({"metadata": {"name": "a.b"}}))));
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with("metadata.name: this is used in Pod names"), "{w:?}");
}
