//! The active list against the Jobs: finished, unexpected and missing Jobs, `lastSuccessfulTime`, lookups.

use serde_json::json;

use super::*;

#[test]
fn finished_jobs_leave_the_active_list() {
    let cj = cronjob(
        "2026-03-01T10:00:30Z",
        json!({"status": {"active": [active_ref("a", "a"), active_ref("b", "b"), active_ref("c", "c")],
                          "lastScheduleTime": "2026-03-01T10:03:00Z",
                          "lastSuccessfulTime": "2026-03-01T10:01:10Z"}}),
    );
    let jobs = [
        job("a", "a", "complete", Some("2026-03-01T10:02:20Z")),
        job("b", "b", "failed", Some("2026-03-01T10:02:30Z")),
        job("c", "c", "running", Some("2026-03-01T10:03:01Z")),
        // Not active any more, but a later success still counts.
        job("z", "z", "complete", Some("2026-03-01T10:02:40Z")),
    ];
    let plan = run(&cj, &jobs, "2026-03-01T10:03:30Z", &Observed::default());
    let status = plan.cronjob.status.as_ref().unwrap();
    let left: Vec<&str> = status.active.iter().flatten().filter_map(|r| r.uid.as_deref()).collect();
    assert_eq!(left, ["c"]);
    assert_eq!(status.last_successful_time.as_ref().map(|t| t.0), Some(ts("2026-03-01T10:02:40Z")));
    let messages: Vec<&str> = plan.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["Saw completed job: a, condition: Complete", "Saw completed job: b, condition: Failed"]);
    assert_eq!(reasons(&plan), ["SawCompletedJob", "SawCompletedJob"]);
    assert!(plan.start.is_none(), "10:03 was started already");
}

#[test]
fn an_older_success_does_not_move_last_successful_time_back() {
    let cj = cronjob("2026-03-01T10:00:30Z", json!({"status": {"lastSuccessfulTime": "2026-03-01T10:05:00Z"}}));
    let plan = run(
        &cj,
        &[job("a", "a", "complete", Some("2026-03-01T10:02:00Z"))],
        "2026-03-01T10:05:30Z",
        &Observed::default(),
    );
    let status = plan.cronjob.status.unwrap();
    assert_eq!(status.last_successful_time.map(|t| t.0), Some(ts("2026-03-01T10:05:00Z")));
}

#[test]
fn unexpected_and_missing_jobs() {
    let cj = cronjob(
        "2026-03-01T10:00:30Z",
        json!({"status": {"active": [active_ref("gone", "gone"), active_ref("slow", "slow")],
                          "lastScheduleTime": "2026-03-01T10:01:00Z"}}),
    );
    // "manual" (e.g. `kubectl create job --from=cronjob/hello`) is controlled by the CronJob but not active.
    let jobs = [job("manual", "manual", "running", None)];
    let input_local = TimeZone::UTC;
    let input = SyncInput { cronjob: &cj, jobs: &jobs, now: ts("2026-03-01T10:01:30Z"), local: &input_local };
    let wanted = lookups(&input);
    assert!(wanted.reread_cronjob);
    let checked: Vec<&str> = wanted.check_jobs.iter().filter_map(|r| r.uid.as_deref()).collect();
    assert_eq!(checked, ["gone", "slow"]);

    // The fresh CronJob does not know "manual" either; "gone" is gone, "slow" still exists.
    let observed = Observed { fresh: Some(cj.clone()), gone: vec!["gone".into()] };
    let plan = sync(&input, &observed);
    assert_eq!(reasons(&plan), ["UnexpectedJob", "MissingJob"]);
    assert_eq!(plan.events[0].message, "Saw a job that the controller did not create or forgot: manual");
    assert_eq!(plan.events[1].message, "Active job went missing: gone");
    let left: Vec<&str> =
        plan.cronjob.status.as_ref().unwrap().active.iter().flatten().filter_map(|r| r.uid.as_deref()).collect();
    assert_eq!(left, ["slow"]);

    // The cache was behind: the fresh CronJob has the Job in its active list. It is used from then on.
    let mut fresh = cj.clone();
    fresh.metadata.resource_version = Some("99".into());
    fresh.status.as_mut().unwrap().active.as_mut().unwrap().push(
        runlet_codec::decode_cron_job(&json!({"status": {"active": [active_ref("manual", "manual")]}}))
            .unwrap()
            .object
            .status
            .unwrap()
            .active
            .unwrap()
            .remove(0),
    );
    let plan = sync(&input, &Observed { fresh: Some(fresh), gone: vec![] });
    assert_eq!(reasons(&plan), Vec::<&str>::new());
    assert_eq!(plan.cronjob.metadata.resource_version.as_deref(), Some("99"));

    // Nothing to look up when the caches agree.
    let quiet = cronjob("2026-03-01T10:00:30Z", json!({"status": {"active": [active_ref("a", "a")]}}));
    let jobs = [job("a", "a", "running", None), job("old", "old", "complete", Some("2026-03-01T10:00:40Z"))];
    let input = SyncInput { cronjob: &quiet, jobs: &jobs, now: ts("2026-03-01T10:01:30Z"), local: &input_local };
    assert_eq!(lookups(&input), Lookups::default());
}

#[test]
fn active_list_helpers() {
    let cj =
        cronjob("2026-03-01T10:00:30Z", json!({"status": {"active": [active_ref("a", "a"), active_ref("b", "b")]}}));
    let mut status = cj.status.clone().unwrap();
    remove_active(&mut status, "a");
    assert_eq!(status.active.as_ref().unwrap().len(), 1);
    remove_active(&mut status, "b");
    assert_eq!(status.active, None, "an empty list is left out");
    let j = job("x", "x", "running", None);
    assert!(is_controlled_by(&j, &cj));
    assert!(names_as_controller(&j, "hello"));
    assert!(!names_as_controller(&j, "other"));
    assert_eq!(finished_condition(&job("f", "f", "failed", None)), Some(runlet_api::vocab::JobConditionType::Failed));
    assert_eq!(finished_condition(&j), None);
}
