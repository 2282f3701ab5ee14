//! `successfulJobsHistoryLimit` and `failedJobsHistoryLimit`.

use serde_json::json;

use super::*;

fn names(plan: &Plan) -> Vec<&str> {
    plan.cleanup.iter().filter_map(|r| r.name.as_deref()).collect()
}

#[test]
fn oldest_finished_jobs_beyond_the_limits_go() {
    let jobs = vec![
        job("s3", "s3", "complete", Some("2026-03-01T10:03:00Z")),
        job("s1", "s1", "complete", Some("2026-03-01T10:01:00Z")),
        job("s4", "s4", "complete", Some("2026-03-01T10:04:00Z")),
        job("s2", "s2", "complete", Some("2026-03-01T10:02:00Z")),
        job("s0", "s0", "complete", None),
        job("f1", "f1", "failed", Some("2026-03-01T10:01:30Z")),
        job("f2", "f2", "failed", Some("2026-03-01T10:02:30Z")),
        job("r", "r", "running", Some("2026-03-01T10:00:00Z")),
    ];
    let cases: &[(Value, Vec<&str>)] = &[
        // Defaults 3 and 1; a Job that never started sorts last, so it is kept.
        (json!({}), vec!["s1", "s2", "f1"]),
        (
            json!({"spec": {"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}}),
            vec!["s1", "s2", "s3", "s4", "s0", "f1", "f2"],
        ),
        (json!({"spec": {"successfulJobsHistoryLimit": 10, "failedJobsHistoryLimit": 10}}), vec![]),
        (json!({"spec": {"successfulJobsHistoryLimit": null, "failedJobsHistoryLimit": 1}}), vec!["f1"]),
    ];
    for (patch, want) in cases {
        let cj = cronjob("2026-03-01T09:00:00Z", patch.clone());
        let plan = run(&cj, &jobs, "2026-03-01T10:04:30Z", &Observed::default());
        assert_eq!(names(&plan), *want, "{patch}");
    }
    // Jobs already being deleted are neither counted nor deleted again.
    let mut deleting = job("s5", "s5", "complete", Some("2026-03-01T09:59:00Z"));
    deleting.metadata.deletion_timestamp = Some(runlet_codec::Time(ts("2026-03-01T10:04:00Z")));
    let mut with_deleting = jobs.clone();
    with_deleting.push(deleting);
    let plan =
        run(&cronjob("2026-03-01T09:00:00Z", json!({})), &with_deleting, "2026-03-01T10:04:30Z", &Observed::default());
    assert_eq!(names(&plan), ["s1", "s2", "f1"]);
    // Ties in start time go by name.
    let tied = vec![
        job("b", "b", "complete", Some("2026-03-01T10:00:00Z")),
        job("a", "a", "complete", Some("2026-03-01T10:00:00Z")),
    ];
    let plan = run(
        &cronjob("2026-03-01T09:00:00Z", json!({"spec": {"successfulJobsHistoryLimit": 1}})),
        &tied,
        "2026-03-01T10:04:30Z",
        &Observed::default(),
    );
    assert_eq!(names(&plan), ["a"]);
}
