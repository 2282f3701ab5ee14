//! §9.4 activeDeadlineSeconds (rows 41–46, §3.8).

use std::time::Duration;

use super::*;
use runlet_api::vocab::{ConditionStatus, JobConditionType};

const DE: &str = "DeadlineExceeded";

#[test]
fn table_9_4() {
    struct Case {
        row: u32,
        job: JobBuilder,
        pods: Vec<Pod>,
        deleted: usize,
        counts: (i32, i32, i32, i32, i32),
        conditions: Vec<(String, String)>,
    }
    let cases = vec![
        Case {
            row: 41,
            job: job(1, Some(1)).deadline(10).started(15),
            pods: pods("r", 1, "Running"),
            deleted: 1,
            counts: (0, 0, 1, 0, 1),
            conditions: vec![cond(JobConditionType::FailureTarget, DE)],
        },
        Case {
            row: 42,
            job: job(1, Some(2)).deadline(10).started(15),
            pods: [pods("r", 1, "Running"), pods("s", 1, "Succeeded")].concat(),
            deleted: 1,
            counts: (0, 0, 1, 1, 1),
            conditions: vec![cond(JobConditionType::FailureTarget, DE)],
        },
        Case {
            row: 43,
            job: job(1, Some(1)).deadline(10).started(10),
            pods: vec![],
            deleted: 0,
            counts: (0, 0, 0, 0, 0),
            conditions: vec![cond(JobConditionType::FailureTarget, DE), cond(JobConditionType::Failed, DE)],
        },
        Case {
            row: 44,
            job: job(1, Some(1)).deadline(1).backoff_limit(0).started(10),
            pods: pods("f", 1, "Failed"),
            deleted: 0,
            counts: (0, 0, 0, 0, 1),
            conditions: vec![
                cond(JobConditionType::FailureTarget, "BackoffLimitExceeded"),
                cond(JobConditionType::Failed, "BackoffLimitExceeded"),
            ],
        },
        Case {
            row: 45,
            job: job(1, Some(1)).deadline(10).started(15).suspend(true),
            pods: vec![],
            deleted: 0,
            counts: (0, 0, 0, 0, 0),
            conditions: vec![cond(JobConditionType::Suspended, "JobSuspended")],
        },
    ];
    for c in cases {
        let plan = run(&c.job.build(), &c.pods);
        assert_eq!(plan.deletions.len(), c.deleted, "row {}: deleted", c.row);
        assert!(plan.deletions.iter().all(|d| !d.remove_finalizer_first), "row {}: counted as failed", c.row);
        assert_eq!(plan.creation_count(), 0, "row {}: created", c.row);
        let status = settle(&plan);
        assert_eq!(counts(&status), c.counts, "row {}: counts", c.row);
        assert_eq!(conditions(&status), c.conditions, "row {}: conditions", c.row);
    }
}

#[test]
fn deadline_message_is_exact() {
    let status = settle(&run(&job(1, Some(1)).deadline(10).started(10).build(), &[]));
    let c = find_condition(&status, JobConditionType::Failed).unwrap();
    assert_eq!(c.message.as_deref(), Some("Job was active longer than specified deadline"));
}

#[test]
fn requeues_for_the_remaining_deadline() {
    let plan = run(&job(1, Some(1)).deadline(10).started(4).build(), &pods("r", 1, "Running"));
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(6)));
    // Not while suspended.
    let plan = run(&job(1, Some(1)).deadline(10).started(4).suspend(true).build(), &[]);
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn zero_deadline_fails_at_once() {
    let status = settle(&run(&job(1, Some(1)).deadline(0).build(), &[]));
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, DE), cond(JobConditionType::Failed, DE)]
    );
}

#[test]
fn earliest_requeue_wins() {
    let record = BackoffRecord { failures_after_last_success: 1, last_failure_time: Some(at(NOW)) };
    let plan = run_with(&job(1, Some(1)).deadline(100).started(97).build(), &[], &record, true);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(3)));
}

#[test]
fn row_46_deadline_fails_running_job() {
    let mut sim = sim::Sim::new(job(2, Some(4)).deadline(1).build());
    sim.sync();
    sim.start_pods();
    sim.advance(2);
    sim.sync();
    assert_eq!(conditions(&sim.status()), vec![cond(JobConditionType::FailureTarget, DE)]);
    assert_eq!(counts(&sim.status()), (0, 0, 2, 0, 2));
    sim.stop_deleted_pods();
    sim.advance(1);
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, DE), cond(JobConditionType::Failed, DE)]
    );
    assert_eq!(counts(&status), (0, 0, 0, 0, 2));
    let last = sim.events.last().unwrap();
    assert_eq!((last.reason.as_str(), last.message.as_str()), (DE, "Job was active longer than specified deadline"));
}

#[test]
fn resume_restarts_the_deadline_clock() {
    let mut sim = sim::Sim::new(job(1, Some(1)).deadline(10).suspend(true).build());
    sim.sync();
    sim.advance(100);
    sim.job.spec.as_mut().unwrap().suspend = Some(false);
    let plan = sim.sync();
    assert_eq!(plan.creation_count(), 1, "the suspended time does not count");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(10)));
}

#[test]
fn resume_checks_the_deadline_against_the_old_start_time_first() {
    // Upstream evaluates the deadline before the resume resets startTime: a Job that started, was
    // suspended, and is resumed after its deadline passed fails on the resume sync.
    let job = job(1, Some(1))
        .deadline(10)
        .started(100)
        .condition(JobConditionType::Suspended, ConditionStatus::True, "JobSuspended", "Job suspended")
        .build();
    let status = settle(&run(&job, &[]));
    // The Suspended condition is left as it was: manageJob does not run for a finishing Job.
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::Suspended, "JobSuspended"),
            cond(JobConditionType::FailureTarget, DE),
            cond(JobConditionType::Failed, DE)
        ]
    );
}
