//! §9.1 pod management (rows 1–25) and the create/delete rules of §3.3.

use std::time::Duration;

use runlet_codec::{Job, Pod, Time, UncountedTerminatedPods};

use super::*;
use crate::job::{DeletionStep, FailedDeletion, PodIoOutcome, SyncInput, finish_tracking, slow_start_batches};
use runlet_api::vocab::JobConditionType;

const BLE: &str = "BackoffLimitExceeded";
const CR: &str = "CompletionsReached";

struct Case {
    row: u32,
    job: Job,
    pods: Vec<Pod>,
    backoff: BackoffRecord,
    created: usize,
    deleted: usize,
    /// `(active, ready, terminating, succeeded, failed)` after the status step.
    counts: (i32, i32, i32, i32, i32),
    conditions: Vec<(String, String)>,
}

fn case(row: u32, job: JobBuilder, pods: Vec<Pod>) -> Case {
    Case {
        row,
        job: job.build(),
        pods,
        backoff: BackoffRecord::default(),
        created: 0,
        deleted: 0,
        counts: (0, 0, 0, 0, 0),
        conditions: vec![],
    }
}

impl Case {
    fn creates(mut self, n: usize) -> Self {
        self.created = n;
        self
    }
    fn deletes(mut self, n: usize) -> Self {
        self.deleted = n;
        self
    }
    fn counts(mut self, counts: (i32, i32, i32, i32, i32)) -> Self {
        self.counts = counts;
        self
    }
    fn conditions(mut self, conditions: &[(JobConditionType, &str)]) -> Self {
        self.conditions = conditions.iter().map(|&(t, r)| cond(t, r)).collect();
        self
    }
    fn backoff(mut self, record: BackoffRecord) -> Self {
        self.backoff = record;
        self
    }
}

fn mixed(running: usize, succeeded: usize, failed: usize) -> Vec<Pod> {
    let mut all = pods("run", running, "Running");
    all.extend(pods("ok", succeeded, "Succeeded"));
    all.extend(pods("bad", failed, "Failed"));
    all
}

#[test]
fn table_9_1() {
    let terminating = |n: usize| (0..n).map(|i| pod(&format!("term-{i}")).running().deleting().build());
    let cases = vec![
        case(1, job(2, Some(5)), vec![]).creates(2).counts((2, 0, 0, 0, 0)),
        case(2, job(2, None), vec![]).creates(2).counts((2, 0, 0, 0, 0)),
        case(3, job(2, Some(5)), pods("p", 2, "Pending")).counts((2, 0, 0, 0, 0)),
        case(
            4,
            job(3, Some(5)),
            vec![pod("a").running().ready().build(), pod("b").running().ready().build(), pod("c").running().build()],
        )
        .counts((3, 2, 0, 0, 0)),
        case(5, job(2, Some(5)), mixed(1, 1, 0)).creates(1).counts((2, 0, 0, 1, 0)),
        case(6, job(2, Some(5)), mixed(3, 0, 0)).deletes(1).counts((2, 0, 1, 0, 0)),
        case(7, job(2, Some(5)), mixed(10, 0, 0)).deletes(8).counts((2, 0, 8, 0, 0)),
        case(8, job(3, Some(4)), mixed(3, 2, 0)).deletes(1).counts((2, 0, 1, 2, 0)),
        case(9, job(2, Some(5)), mixed(1, 0, 1)).creates(1).counts((2, 0, 0, 0, 1)),
        case(10, job(1, Some(1)), vec![])
            .backoff(BackoffRecord { failures_after_last_success: 1, last_failure_time: Some(at(NOW)) })
            .counts((0, 0, 0, 0, 0)),
        case(11, job(1, Some(1)), vec![]).creates(1).counts((1, 0, 0, 0, 0)),
        case(
            12,
            job(2, Some(5)),
            vec![
                pod("run").running().build(),
                pod("ok").succeeded().container_exit("main-container", 0, NOW - 2).build(),
                pod("bad").failed().container_exit("main-container", 1, NOW - 3).build(),
            ],
        )
        .backoff(BackoffRecord { failures_after_last_success: 3, last_failure_time: Some(at(NOW - 5)) })
        .creates(1)
        .counts((2, 0, 0, 1, 1)),
        case(14, job(2, Some(5)), mixed(0, 5, 0))
            .counts((0, 0, 0, 5, 0))
            .conditions(&[(JobConditionType::SuccessCriteriaMet, CR), (JobConditionType::Complete, CR)]),
        case(15, job(2, None), mixed(1, 1, 0)).counts((1, 0, 0, 1, 0)),
        case(16, job(2, None), mixed(0, 2, 0))
            .counts((0, 0, 0, 2, 0))
            .conditions(&[(JobConditionType::SuccessCriteriaMet, CR), (JobConditionType::Complete, CR)]),
        case(17, job(2, None), mixed(0, 1, 1))
            .counts((0, 0, 0, 1, 1))
            .conditions(&[(JobConditionType::SuccessCriteriaMet, CR), (JobConditionType::Complete, CR)]),
        case(18, job(2, Some(5)).backoff_limit(0), mixed(0, 0, 1))
            .counts((0, 0, 0, 0, 1))
            .conditions(&[(JobConditionType::FailureTarget, BLE), (JobConditionType::Failed, BLE)]),
        case(
            19,
            job(2, Some(3)).backoff_limit(0),
            vec![pod("a").running().ready().build(), pod("b").running().ready().build(), pod("c").failed().build()],
        )
        .deletes(2)
        .counts((0, 0, 2, 0, 3))
        .conditions(&[(JobConditionType::FailureTarget, BLE)]),
        case(20, job(1, Some(1)).status(|s| s.failed = Some(1)), mixed(1, 0, 0)).counts((1, 0, 0, 0, 1)),
        case(
            22,
            job(2, Some(5)).deleting(),
            vec![pod("p").build(), pod("r").running().build(), pod("s").succeeded().build()],
        )
        .counts((2, 0, 0, 1, 0)),
        case(23, job(1, Some(1)).replacement("Failed"), mixed(2, 0, 0).into_iter().chain(terminating(4)).collect())
            .deletes(1)
            .counts((1, 0, 5, 0, 0)),
        case(24, job(1, None).replacement("Failed"), mixed(1, 0, 1).into_iter().chain(terminating(1)).collect())
            .counts((1, 0, 1, 0, 1)),
        case(25, job(1, Some(1)), mixed(1, 0, 1).into_iter().chain(terminating(1)).collect()).counts((1, 0, 1, 0, 2)),
    ];
    for c in cases {
        let plan = run_with(&c.job, &c.pods, &c.backoff, true);
        assert_eq!(plan.creation_count(), c.created, "row {}: created", c.row);
        assert_eq!(plan.deletions.len(), c.deleted, "row {}: deleted", c.row);
        let status = settle(&plan);
        assert_eq!(counts(&status), c.counts, "row {}: counts", c.row);
        assert_eq!(conditions(&status), c.conditions, "row {}: conditions", c.row);
        assert!(status.start_time.is_some(), "row {}: startTime", c.row);
        assert_eq!(status.uncounted_terminated_pods, Some(UncountedTerminatedPods::default()), "row {}", c.row);
    }
}

#[test]
fn row_1_and_2_new_pods_come_from_the_template() {
    let plan = run(&job(2, Some(5)).build(), &[]);
    assert_eq!(plan.creations.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1]);
    for p in plan.creations.iter().flatten() {
        assert_eq!(p.metadata.generate_name.as_deref(), Some("foobar-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(p.metadata.owner_references, Some(vec![controller_ref(&job(2, Some(5)).build())]));
        assert_eq!(p.metadata.finalizers, Some(vec![JOB_TRACKING_FINALIZER.to_string()]));
        assert_eq!(p.metadata.labels, Some(job_labels()));
        assert_eq!(p.metadata.annotations, None);
        assert_eq!(p.spec.as_ref().and_then(|s| s.hostname.as_ref()), None);
    }
    assert_eq!(plan.tracking.status.start_time, Some(Time(at(NOW))));
    assert!(plan.tracking.write_status);
}

#[test]
fn row_3_steady_state_makes_no_api_calls() {
    let job = job(2, Some(5))
        .started(50)
        .status(|s| {
            s.active = Some(2);
            s.ready = Some(0);
            s.terminating = Some(0);
            s.uncounted_terminated_pods = Some(Default::default());
        })
        .build();
    let plan = run(&job, &pods("p", 2, "Pending"));
    assert!(plan.creations.is_empty() && plan.deletions.is_empty());
    assert!(!plan.tracking.write_status);
    assert!(plan.tracking.remove_finalizers.is_empty());
    assert!(plan.adopt.is_empty() && plan.release.is_empty());
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn row_6_scale_down_removes_the_finalizer_of_the_newest_pod_first() {
    let pods: Vec<Pod> = (0..3).map(|i| pod(&format!("p{i}")).running().created(i).build()).collect();
    let plan = run(&job(2, Some(5)).build(), &pods);
    assert_eq!(deleted(&plan), vec!["p2"]);
    assert!(plan.deletions[0].remove_finalizer_first, "scale-down pods are not counted");
    let status = settle(&plan);
    assert_eq!(status.failed, None);
}

#[test]
fn row_10_backoff_requeues_for_the_remaining_time() {
    let record = BackoffRecord { failures_after_last_success: 1, last_failure_time: Some(at(NOW - 4)) };
    let plan = run_with(&job(1, Some(1)).build(), &[], &record, true);
    assert_eq!(plan.creation_count(), 0);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(6)));
}

#[test]
fn backoff_requeue_is_at_least_one_second() {
    let record = BackoffRecord {
        failures_after_last_success: 1,
        last_failure_time: Some(at(NOW - 10) + jiff::SignedDuration::from_millis(300)),
    };
    let plan = run_with(&job(1, Some(1)).build(), &[], &record, true);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
}

#[test]
fn backoff_wait_keeps_the_real_active_count() {
    // Upstream v1.33 reports active=0 here (kubernetes#139428), which the API server rejects as
    // ready > active; the fixed behaviour keeps the count.
    let record = BackoffRecord { failures_after_last_success: 1, last_failure_time: Some(at(NOW)) };
    let plan = run_with(&job(2, Some(5)).build(), &[pod("r").running().ready().build()], &record, true);
    assert_eq!(plan.creation_count(), 0);
    assert_eq!(counts(&plan.tracking.status), (1, 1, 0, 0, 0));
}

#[test]
fn row_12_success_resets_the_backoff_record() {
    let pods = vec![
        pod("ok").succeeded().container_exit("main-container", 0, NOW - 2).build(),
        pod("bad").failed().container_exit("main-container", 1, NOW - 3).build(),
    ];
    let prior = BackoffRecord { failures_after_last_success: 3, last_failure_time: Some(at(NOW - 5)) };
    let plan = run_with(&job(1, Some(5)).build(), &pods, &prior, true);
    assert_eq!(plan.backoff, crate::job::BackoffUpdate::StoreIfStatusWritten(BackoffRecord::default()));
    // A failure after the success is still remembered.
    let pods = vec![
        pod("ok").succeeded().container_exit("main-container", 0, NOW - 3).build(),
        pod("bad").failed().container_exit("main-container", 1, NOW - 2).build(),
    ];
    let plan = run_with(&job(1, Some(5)).build(), &pods, &prior, true);
    let want = BackoffRecord { failures_after_last_success: 1, last_failure_time: Some(at(NOW - 2)) };
    assert_eq!(plan.backoff, crate::job::BackoffUpdate::StoreIfStatusWritten(want));
    assert_eq!(plan.creation_count(), 0);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(8)));
}

#[test]
fn failures_add_up_and_two_at_once_count_twice() {
    let pods = vec![
        pod("a").failed().container_exit("main-container", 1, NOW - 1).build(),
        pod("b").failed().container_exit("main-container", 1, NOW - 2).build(),
    ];
    let plan = run(&job(1, Some(5)).build(), &pods);
    let want = BackoffRecord { failures_after_last_success: 2, last_failure_time: Some(at(NOW - 1)) };
    assert_eq!(plan.backoff, crate::job::BackoffUpdate::StoreIfStatusWritten(want));
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(19)));
}

#[test]
fn row_13_slow_start_and_partial_failure() {
    let job = job(100, Some(200)).build();
    let plan = run(&job, &[]);
    assert_eq!(plan.creations.iter().map(Vec::len).collect::<Vec<_>>(), slow_start_batches(100));
    assert_eq!(slow_start_batches(100), vec![1, 2, 4, 8, 16, 32, 37]);
    // The API accepted 10 creates: 1 + 2 + 4 succeeded, then 3 of the batch of 8, and the runner stopped.
    let input = SyncInput {
        job: &job,
        pods: &[],
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &[],
    };
    let tracking =
        crate::job::plan(&input).unwrap().after_pod_io(&PodIoOutcome { created: 10, failed_deletions: vec![] });
    assert_eq!(counts(&tracking.status), (10, 0, 0, 0, 0));
}

#[test]
fn row_21_api_errors_leave_pods_uncounted() {
    let job = job(2, Some(5)).build();
    let pods = mixed(1, 1, 0);
    let pods = super::shared(&pods);
    let input = SyncInput {
        job: &job,
        pods: &pods,
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &[],
    };
    let tracking = crate::job::plan(&input).unwrap().after_pod_io(&PodIoOutcome::default());
    assert_eq!(counts(&tracking.status), (1, 0, 0, 0, 0), "the failed create is not active");
    let uncounted = tracking.status.uncounted_terminated_pods.clone().unwrap();
    assert_eq!(uncounted.succeeded, Some(vec!["ok-0-uid".to_string()]));
    let finish = finish_tracking(&tracking, &tracking.status, &[], &["ok-0-uid".to_string()]);
    assert!(!finish.finished);
    assert_eq!(finish.status.succeeded, None, "succeeded stays 0 while the finalizer is there");
    assert_eq!(finish.status.uncounted_terminated_pods, Some(uncounted));
}

#[test]
fn failed_deletions_keep_pods_active() {
    let job = job(1, Some(5)).build();
    let pods = vec![pod("a").running().ready().created(1).build(), pod("b").running().ready().created(2).build()];
    let pods = super::shared(&pods);
    let input = SyncInput {
        job: &job,
        pods: &pods,
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &[],
    };
    let plan = sync(&input).unwrap();
    assert_eq!(deleted(&plan), vec!["b"]);
    let failed =
        |step| PodIoOutcome { created: 0, failed_deletions: vec![FailedDeletion { uid: "b-uid".into(), step }] };
    // DELETE failed: still active; upstream lowers `ready` anyway.
    let tracking = crate::job::plan(&input).unwrap().after_pod_io(&failed(DeletionStep::Deleting));
    assert_eq!(counts(&tracking.status), (2, 1, 0, 0, 0));
    // Finalizer removal failed: nothing happened to the pod.
    let tracking = crate::job::plan(&input).unwrap().after_pod_io(&failed(DeletionStep::RemovingFinalizer));
    assert_eq!(counts(&tracking.status), (2, 2, 0, 0, 0));
}

#[test]
fn row_22_deleted_job_removes_every_finalizer_and_manages_nothing() {
    let pods = vec![pod("p").build(), pod("r").running().build(), pod("s").succeeded().build()];
    let plan = run(&job(2, Some(5)).deleting().build(), &pods);
    let mut removed: Vec<String> = plan.tracking.remove_finalizers.iter().map(|p| p.name.clone()).collect();
    removed.sort();
    assert_eq!(removed, vec!["p", "r", "s"]);
    assert!(plan.creations.is_empty() && plan.deletions.is_empty());
}

#[test]
fn row_19_failed_condition_follows_once_pods_are_gone() {
    let job = job(2, Some(3)).backoff_limit(0).build();
    let mut sim = sim::Sim::new(job);
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|p| (p.metadata.name.as_deref() == Some("foobar-0")).then_some(("Failed", 1)));
    sim.advance(1);
    let plan = sim.sync();
    assert_eq!(deleted(&plan), vec!["foobar-1"]);
    assert!(!plan.deletions[0].remove_finalizer_first, "pods of a failing Job are counted");
    assert_eq!(conditions(&sim.status()), vec![cond(JobConditionType::FailureTarget, BLE)]);
    assert_eq!(counts(&sim.status()), (0, 0, 1, 0, 2));
    sim.advance(1);
    sim.sync();
    assert_eq!(conditions(&sim.status()), vec![cond(JobConditionType::FailureTarget, BLE)], "still terminating");
    sim.stop_deleted_pods();
    sim.sync();
    assert_eq!(
        conditions(&sim.status()),
        vec![cond(JobConditionType::FailureTarget, BLE), cond(JobConditionType::Failed, BLE)]
    );
    assert_eq!(counts(&sim.status()), (0, 0, 0, 0, 2));
    assert_eq!(sim.status().completion_time, None, "failed Jobs get no completionTime");
    let last = sim.events.last().unwrap();
    assert_eq!((last.reason.as_str(), last.message.as_str()), (BLE, "Job has reached the specified backoff limit"));
}

#[test]
fn row_14_complete_sets_completion_time_and_events() {
    let plan = run(&job(2, Some(5)).started(20).build(), &mixed(0, 5, 0));
    let tracking = &plan.tracking;
    assert!(tracking.write_status);
    assert_eq!(
        tracking.status.uncounted_terminated_pods.as_ref().and_then(|u| u.succeeded.as_ref()).map(Vec::len),
        Some(5)
    );
    assert_eq!(
        conditions(&tracking.status),
        vec![cond(JobConditionType::SuccessCriteriaMet, CR)],
        "interim condition first"
    );
    let removed: Vec<String> = tracking.remove_finalizers.iter().map(|p| p.uid.clone()).collect();
    let finish = finish_tracking(tracking, &tracking.status, &removed, &[]);
    assert!(finish.finished && finish.write_status);
    let complete = find_condition(&finish.status, JobConditionType::Complete).unwrap();
    assert_eq!(complete.message.as_deref(), Some("Reached expected number of succeeded pods"));
    assert_eq!(complete.last_transition_time, Some(Time(at(NOW))));
    assert_eq!(finish.status.completion_time, complete.last_transition_time);
    assert_eq!(finish.events, vec![crate::job::JobEvent::normal("Completed", "Job completed")]);
}

#[test]
fn too_many_succeeded_pods_warns() {
    let plan = run(&job(2, Some(2)).build(), &mixed(0, 3, 0));
    let removed: Vec<String> = plan.tracking.remove_finalizers.iter().map(|p| p.uid.clone()).collect();
    let finish = finish_tracking(&plan.tracking, &plan.tracking.status, &removed, &[]);
    assert_eq!(finish.status.succeeded, Some(3));
    let reasons: Vec<&str> = finish.events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, vec!["TooManySucceededPods", "Completed"]);
    assert_eq!(finish.events[0].message, "Too many succeeded pods running after completion count reached");
    assert_eq!(finish.events[0].type_, crate::job::EventType::Warning);
}

#[test]
fn parallelism_zero_pauses_without_counting_or_suspending() {
    let plan = run(&job(0, Some(5)).build(), &mixed(2, 0, 0));
    assert_eq!(plan.deletions.len(), 2);
    assert!(plan.deletions.iter().all(|d| d.remove_finalizer_first));
    let status = settle(&plan);
    assert_eq!(counts(&status), (0, 0, 2, 0, 0));
    assert_eq!(conditions(&status), vec![]);
    assert!(plan.tracking.events.is_empty());
}

#[test]
fn zero_completions_complete_without_pods() {
    let status = settle(&run(&job(1, Some(0)).build(), &[]));
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, CR), cond(JobConditionType::Complete, CR)]
    );
}

#[test]
fn at_most_500_creations_and_deletions_per_sync() {
    let plan = run(&job(600, None).build(), &[]);
    assert_eq!(plan.creation_count(), 500);
    let plan = run(&job(0, None).build(), &mixed(600, 0, 0));
    assert_eq!(plan.deletions.len(), 500);
}

#[test]
fn terminating_pods_delay_replacements_only_with_policy_failed() {
    let pods = vec![pod("t").running().deleting().build()];
    assert_eq!(run(&job(1, Some(1)).replacement("Failed").build(), &pods).creation_count(), 0);
    // The default policy counts the terminating pod as failed and replaces it at once.
    let plan = run(&job(1, Some(1)).build(), &pods);
    assert_eq!(plan.creation_count(), 1);
    assert_eq!(counts(&settle(&plan)), (1, 0, 1, 0, 1));
}

#[test]
fn unsatisfied_expectations_skip_pod_management_but_still_count() {
    let plan = run_with(&job(2, Some(5)).build(), &mixed(0, 1, 0), &BackoffRecord::default(), false);
    assert_eq!(plan.creation_count(), 0);
    assert_eq!(counts(&settle(&plan)), (0, 0, 0, 1, 0));
}

#[test]
fn deletion_prefers_less_advanced_pods() {
    // Each pair: the first pod is deleted before the second.
    let running = || pod("x").running();
    let cases: Vec<(&str, PodBuilder, PodBuilder)> = vec![
        ("unscheduled first", running(), running().node("n1")),
        ("pending before running", pod("x").node("n1"), running().node("n1")),
        ("unknown before running", pod("x").phase("Unknown").node("n1"), running().node("n1")),
        ("pending before unknown", pod("x").node("n1"), pod("x").phase("Unknown").node("n1")),
        ("not ready first", running().node("n1"), running().node("n1").ready()),
        (
            "ready more recently first",
            running().node("n1").pod_condition("Ready", "True", 50),
            running().node("n1").pod_condition("Ready", "True", 10),
        ),
        ("more restarts first", running().node("n1").restarts(3), running().node("n1").restarts(1)),
        ("newer first", running().node("n1").created(20), running().node("n1").created(10)),
    ];
    for (what, first, second) in cases {
        let mut first = first.build();
        let mut second = second.build();
        first.metadata.name = Some("first".into());
        first.metadata.uid = Some("first-uid".into());
        second.metadata.name = Some("second".into());
        second.metadata.uid = Some("second-uid".into());
        for pods in [vec![first.clone(), second.clone()], vec![second, first]] {
            let plan = run(&job(1, None).build(), &pods);
            assert_eq!(deleted(&plan), vec!["first"], "{what}");
        }
    }
}
