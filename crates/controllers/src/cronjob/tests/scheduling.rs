//! When Jobs start: schedules, misses, policies, suspension, time zones and DST.

use serde_json::json;

use super::*;
use crate::cronjob::template::job_name;

/// (what, cronjob patch, status patch, now, started at, events, requeue ms)
type Case = (&'static str, Value, Value, &'static str, Option<&'static str>, Vec<&'static str>, Option<u128>);

#[test]
fn when_jobs_start() {
    let created = "2026-03-01T10:00:30Z";
    let running = json!({"active": [active_ref("hello-old", "old")], "lastScheduleTime": "2026-03-01T10:00:00Z"});
    let cases: Vec<Case> = vec![
        ("not yet due", json!({}), json!({}), "2026-03-01T10:00:50Z", None, vec![], Some(10_100)),
        ("first run", json!({}), json!({}), "2026-03-01T10:01:05Z", Some("2026-03-01T10:01:00Z"), vec![], Some(55_100)),
        (
            "already started for this time",
            json!({}),
            json!({"lastScheduleTime": "2026-03-01T10:01:00Z"}),
            "2026-03-01T10:01:30Z",
            None,
            vec![],
            Some(30_100),
        ),
        (
            "several missed: only the most recent starts",
            json!({}),
            json!({"lastScheduleTime": "2026-03-01T10:01:00Z"}),
            "2026-03-01T10:05:30Z",
            Some("2026-03-01T10:05:00Z"),
            vec![],
            Some(30_100),
        ),
        (
            "more than 100 missed: a warning, and the most recent starts",
            json!({}),
            json!({}),
            "2026-03-02T12:00:10Z",
            Some("2026-03-02T12:00:00Z"),
            vec!["TooManyMissedTimes"],
            Some(50_100),
        ),
        (
            "exactly 100 missed is not too many",
            json!({}),
            json!({"lastScheduleTime": "2026-03-01T10:00:00Z"}),
            "2026-03-01T11:40:30Z",
            Some("2026-03-01T11:40:00Z"),
            vec![],
            Some(30_100),
        ),
        (
            "startingDeadlineSeconds: a start older than the deadline is skipped",
            json!({"spec": {"schedule": "0 * * * *", "startingDeadlineSeconds": 60}}),
            json!({}),
            "2026-03-01T11:05:00Z",
            None,
            vec![],
            Some(3_300_100),
        ),
        (
            "startingDeadlineSeconds: within the deadline it starts",
            json!({"spec": {"schedule": "0 * * * *", "startingDeadlineSeconds": 600}}),
            json!({}),
            "2026-03-01T11:05:00Z",
            Some("2026-03-01T11:00:00Z"),
            vec![],
            Some(3_300_100),
        ),
        (
            "startingDeadlineSeconds keeps too many misses from being counted",
            json!({"spec": {"startingDeadlineSeconds": 200}}),
            json!({}),
            "2026-03-02T12:00:10Z",
            Some("2026-03-02T12:00:00Z"),
            vec![],
            Some(50_100),
        ),
        ("suspended", json!({"spec": {"suspend": true}}), json!({}), "2026-03-01T10:01:05Z", None, vec![], None),
        (
            "Forbid while a Job runs",
            json!({"spec": {"concurrencyPolicy": "Forbid"}}),
            running.clone(),
            "2026-03-01T10:01:05Z",
            None,
            vec!["JobAlreadyActive"],
            Some(55_100),
        ),
        (
            "Allow while a Job runs",
            json!({}),
            running.clone(),
            "2026-03-01T10:01:05Z",
            Some("2026-03-01T10:01:00Z"),
            vec![],
            Some(55_100),
        ),
        (
            "Replace while a Job runs",
            json!({"spec": {"concurrencyPolicy": "Replace"}}),
            running,
            "2026-03-01T10:01:05Z",
            Some("2026-03-01T10:01:00Z"),
            vec![],
            Some(55_100),
        ),
        (
            "@every counts from creation",
            json!({"spec": {"schedule": "@every 2m"}}),
            json!({}),
            "2026-03-01T10:05:00Z",
            Some("2026-03-01T10:04:30Z"),
            vec![],
            Some(90_100),
        ),
        (
            "@hourly",
            json!({"spec": {"schedule": "@hourly"}}),
            json!({}),
            "2026-03-01T11:00:00.5Z",
            Some("2026-03-01T11:00:00Z"),
            vec![],
            Some(3_599_600),
        ),
        (
            "day of month and day of week restricted: either (Sunday 1 March)",
            json!({"spec": {"schedule": "0 12 15 * 0"}}),
            json!({}),
            "2026-03-01T12:00:01Z",
            Some("2026-03-01T12:00:00Z"),
            vec![],
            Some(604_799_100),
        ),
        (
            "day of week with a star day of month: both (the 1st is a Sunday, not a Monday)",
            json!({"spec": {"schedule": "0 12 * * 1"}}),
            json!({}),
            "2026-03-01T12:00:01Z",
            None,
            vec![],
            Some(86_399_100),
        ),
        (
            "a schedule in a time zone",
            json!({"spec": {"schedule": "0 9 * * *", "timeZone": "Asia/Tokyo"}}),
            json!({}),
            "2026-03-02T00:00:30Z",
            Some("2026-03-02T00:00:00Z"),
            vec![],
            Some(86_370_100),
        ),
        (
            "a stored TZ= prefix still works, with a warning",
            json!({"spec": {"schedule": "TZ=Asia/Tokyo 0 9 * * *"}}),
            json!({}),
            "2026-03-02T00:00:30Z",
            Some("2026-03-02T00:00:00Z"),
            vec!["UnsupportedSchedule"],
            Some(86_370_100),
        ),
        (
            "an unknown stored time zone",
            json!({"spec": {"timeZone": "Mars/Olympus"}}),
            json!({}),
            "2026-03-01T10:01:05Z",
            None,
            vec!["UnknownTimeZone"],
            None,
        ),
        (
            "an unparseable stored schedule",
            json!({"spec": {"schedule": "every minute"}}),
            json!({}),
            "2026-03-01T10:01:05Z",
            None,
            vec!["UnparseableSchedule"],
            None,
        ),
        (
            "a schedule that never fires",
            json!({"spec": {"schedule": "59 23 31 2 *"}}),
            json!({}),
            "2026-03-01T10:01:05Z",
            None,
            vec!["InvalidSchedule"],
            None,
        ),
        (
            "being deleted",
            json!({"metadata": {"deletionTimestamp": "2026-03-01T10:00:59Z"}}),
            json!({}),
            "2026-03-01T10:01:05Z",
            None,
            vec![],
            None,
        ),
    ];
    for (what, spec_patch, status, now, want_start, want_events, want_requeue) in cases {
        let mut patch = spec_patch;
        patch["status"] = status;
        let cj = cronjob(created, patch);
        let plan = run(&cj, &[], now, &Observed::default());
        assert_eq!(plan.start.as_ref().map(|s| s.scheduled), want_start.map(ts), "{what}: start");
        assert_eq!(reasons(&plan), want_events, "{what}: events {:?}", plan.events);
        assert_eq!(ms(plan.requeue_after), want_requeue, "{what}: requeue");
    }
}

#[test]
fn the_started_job() {
    let cj = cronjob(
        "2026-03-01T10:00:30Z",
        json!({"spec": {"timeZone": "Europe/Berlin", "concurrencyPolicy": "Replace",
                        "jobTemplate": {"metadata": {"annotations": {"team": "a"}}}},
               "status": {"active": [active_ref("hello-old", "old")]}}),
    );
    let plan = run(&cj, &[], "2026-03-01T10:01:05Z", &Observed::default());
    let start = plan.start.expect("a start");
    let scheduled = ts("2026-03-01T10:01:00Z");
    assert_eq!(start.scheduled, scheduled);
    assert_eq!(start.replace.iter().map(|r| r.uid.as_deref().unwrap()).collect::<Vec<_>>(), ["old"]);
    let job = &start.job;
    let name = format!("hello-{}", scheduled.as_second() / 60);
    assert_eq!(job.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(job_name(&cj, scheduled), name);
    assert_eq!(name, "hello-29539321");
    assert_eq!(job.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(job.metadata.labels, Some([("app".to_string(), "hello".to_string())].into()));
    let annotations = job.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["team"], "a");
    assert_eq!(annotations[runlet_api::cronjob::SCHEDULED_TIMESTAMP_ANNOTATION], "2026-03-01T11:01:00+01:00");
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str(), owner.controller, owner.block_owner_deletion),
        ("CronJob", "hello", CJ_UID, Some(true), Some(true))
    );
    assert_eq!(job.spec, cj.spec.as_ref().unwrap().job_template.spec);
    // Without a time zone the annotation is in UTC.
    let cj = cronjob("2026-03-01T10:00:30Z", json!({}));
    let plan = run(&cj, &[], "2026-03-01T10:01:05Z", &Observed::default());
    let annotations = plan.start.unwrap().job.metadata.annotations.unwrap();
    assert_eq!(annotations[runlet_api::cronjob::SCHEDULED_TIMESTAMP_ANNOTATION], "2026-03-01T10:01:00Z");

    let mut status = Default::default();
    let mut job = job_from_template(&cj, scheduled);
    job.metadata.uid = Some("new".into());
    started(&mut status, &job, scheduled);
    assert_eq!(status.last_schedule_time.map(|t| t.0), Some(scheduled));
    let refs = status.active.unwrap();
    assert_eq!((refs[0].kind.as_deref(), refs[0].uid.as_deref()), (Some("Job"), Some("new")));
}

#[test]
fn daylight_saving_changes_in_the_cronjobs_zone() {
    // New York springs forward on 8 March 2026 (2:00 EST → 3:00 EDT) and falls back on 1 November (2:00 EDT →
    // 1:00 EST). (at, the start wanted or None)
    let day = |schedule: &str| json!({"spec": {"schedule": schedule, "timeZone": "America/New_York"}});
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        // 2:30 does not exist on 8 March: nothing that day, the next run is 9 March 2:30 EDT.
        ("30 2 * * *", "2026-03-07T07:30:00Z", "2026-03-08T12:00:00Z", None),
        ("30 2 * * *", "2026-03-07T07:30:00Z", "2026-03-09T06:30:05Z", Some("2026-03-09T06:30:00Z")),
        // Hourly across the spring gap: 1:00 EST then 3:00 EDT.
        ("0 * * * *", "2026-03-08T06:00:00Z", "2026-03-08T07:00:05Z", Some("2026-03-08T07:00:00Z")),
        // 1:30 happens twice on 1 November: both run.
        ("30 1 * * *", "2026-11-01T05:00:00Z", "2026-11-01T05:30:05Z", Some("2026-11-01T05:30:00Z")),
        ("30 1 * * *", "2026-11-01T05:30:00Z", "2026-11-01T06:30:05Z", Some("2026-11-01T06:30:00Z")),
    ];
    for (schedule, last, now, want) in cases {
        let mut patch = day(schedule);
        patch["status"] = json!({"lastScheduleTime": last});
        let cj = cronjob("2026-01-01T00:00:00Z", patch);
        let plan = run(&cj, &[], now, &Observed::default());
        assert_eq!(plan.start.map(|s| s.scheduled), want.map(ts), "{schedule} after {last} at {now}");
    }
    // From the evening of 7 March the next 2:30 run is 9 March, 6:30 UTC: more than a day away.
    let mut patch = day("30 2 * * *");
    patch["status"] = json!({"lastScheduleTime": "2026-03-07T07:30:00Z"});
    let cj = cronjob("2026-01-01T00:00:00Z", patch);
    let plan = run(&cj, &[], "2026-03-08T00:00:00Z", &Observed::default());
    assert_eq!(ms(plan.requeue_after), Some((30 * 3600 + 30 * 60) * 1000 + 100));
}
