//! §9.3 suspend and resume (rows 34–40, §3.7).

use runlet_codec::Time;

use super::*;
use crate::job::JobEvent;
use runlet_api::vocab::{ConditionStatus, JobConditionType};

#[test]
fn row_34_suspending_deletes_active_pods_without_counting_them() {
    let job = job(2, Some(4)).suspend(true).started(30).build();
    let plan = run(&job, &[pod("a").running().ready().build(), pod("b").running().build()]);
    assert_eq!(plan.deletions.len(), 2);
    assert!(plan.deletions.iter().all(|d| d.remove_finalizer_first));
    assert_eq!(plan.tracking.events, vec![JobEvent::normal("Suspended", "Job suspended")]);
    let status = settle(&plan);
    assert_eq!(counts(&status), (0, 0, 2, 0, 0));
    let c = find_condition(&status, JobConditionType::Suspended).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        ("True", Some("JobSuspended"), Some("Job suspended"))
    );
    assert_eq!(status.start_time, Some(Time(at(NOW - 30))), "startTime is kept");
}

#[test]
fn row_35_resuming_recreates_pods_and_resets_start_time() {
    let job = job(2, Some(4))
        .started(300)
        .condition(JobConditionType::Suspended, ConditionStatus::True, "JobSuspended", "Job suspended")
        .build();
    let plan = run(&job, &[]);
    assert_eq!(plan.creation_count(), 2);
    assert_eq!(plan.tracking.events, vec![JobEvent::normal("Resumed", "Job resumed")]);
    let status = settle(&plan);
    let c = find_condition(&status, JobConditionType::Suspended).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        ("False", Some("JobResumed"), Some("Job resumed"))
    );
    assert_eq!(c.last_transition_time, Some(Time(at(NOW))));
    assert_eq!(status.start_time, Some(Time(at(NOW))));
}

#[test]
fn row_36_no_suspend_bookkeeping_while_expectations_are_pending() {
    let job = job(2, Some(4)).suspend(true).started(30).build();
    let plan = run_with(&job, &pods("p", 3, "Running"), &BackoffRecord::default(), false);
    assert!(plan.deletions.is_empty());
    assert!(plan.tracking.events.is_empty());
    assert_eq!(find_condition(&settle(&plan), JobConditionType::Suspended), None);
}

#[test]
fn row_37_deleted_job_is_not_suspended() {
    let job = job(2, Some(4)).suspend(true).started(30).deleting().build();
    let plan = run(&job, &pods("p", 2, "Running"));
    assert!(plan.deletions.is_empty());
    assert_eq!(find_condition(&settle(&plan), JobConditionType::Suspended), None);
}

#[test]
fn row_38_created_suspended_then_resumed_completes() {
    let mut sim = sim::Sim::new(job(2, Some(4)).suspend(true).build());
    sim.sync();
    assert!(sim.pods.is_empty());
    assert_eq!(sim.status().start_time, None, "never started");
    assert_eq!(conditions(&sim.status()), vec![cond(JobConditionType::Suspended, "JobSuspended")]);
    sim.job.spec.as_mut().unwrap().suspend = Some(false);
    sim.advance(5);
    for _ in 0..3 {
        sim.sync();
        sim.start_pods();
        sim.finish_pods(|_| Some(("Succeeded", 0)));
        sim.advance(1);
    }
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    let suspended = find_condition(&status, JobConditionType::Suspended).unwrap();
    assert_eq!(suspended.status, "False");
    assert_eq!(status.start_time, Some(Time(at(5))));
    assert_eq!(counts(&status), (0, 0, 0, 4, 0));
    let reasons = sim.event_reasons();
    assert_eq!(reasons.first().map(String::as_str), Some("Suspended"));
    assert!(reasons.contains(&"Resumed".to_string()));
    assert_eq!(reasons.last().map(String::as_str), Some("Completed"));
}

#[test]
fn row_39_ready_goes_up_and_back_down() {
    let mut sim = sim::Sim::new(job(2, Some(4)).suspend(true).build());
    sim.sync();
    let mut ready = vec![sim.status().ready];
    sim.job.spec.as_mut().unwrap().suspend = Some(false);
    sim.sync();
    sim.start_pods();
    sim.sync();
    ready.push(sim.status().ready);
    sim.job.spec.as_mut().unwrap().suspend = Some(true);
    sim.sync();
    ready.push(sim.status().ready);
    assert_eq!(ready, vec![Some(0), Some(2), Some(0)]);
}

#[test]
fn row_40_completion_wins_over_suspension() {
    let job = job(2, Some(4)).suspend(true).started(30).build();
    let status = settle(&run(&job, &pods("s", 4, "Succeeded")));
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    assert_eq!(find_condition(&status, JobConditionType::Suspended), None);
}

#[test]
fn suspending_does_not_cap_deletions_at_500() {
    let job = job(600, None).suspend(true).started(30).build();
    assert_eq!(run(&job, &pods("p", 600, "Running")).deletions.len(), 600);
}
