//! §9.5 backoffLimit for `OnFailure` and `Never` (rows 47–60, §3.6, §8: issue #54870 must not exist).

use std::time::Duration;

use super::*;
use runlet_api::vocab::JobConditionType;

const BLE: &str = "BackoffLimitExceeded";

fn restarting(name: &str, phase: &str, restarts: i32) -> Pod {
    pod(name).phase(phase).restarts(restarts).build()
}

#[test]
fn table_9_5() {
    struct Case {
        row: u32,
        job: JobBuilder,
        pods: Vec<Pod>,
        created: usize,
        deleted: usize,
        counts: (i32, i32, i32, i32, i32),
        conditions: Vec<(String, String)>,
    }
    let ft = || vec![cond(JobConditionType::FailureTarget, BLE)];
    let failed = || vec![cond(JobConditionType::FailureTarget, BLE), cond(JobConditionType::Failed, BLE)];
    let on_failure = |p, c, bl| job(p, Some(c)).on_failure().backoff_limit(bl);
    let never = |p, c, bl| job(p, Some(c)).backoff_limit(bl);
    let cases = vec![
        Case {
            row: 47,
            job: on_failure(1, 1, 0),
            pods: vec![restarting("a", "Running", 0)],
            created: 0,
            deleted: 0,
            counts: (1, 0, 0, 0, 0),
            conditions: vec![],
        },
        Case {
            row: 48,
            job: on_failure(1, 1, 1),
            pods: vec![restarting("a", "Running", 0)],
            created: 0,
            deleted: 0,
            counts: (1, 0, 0, 0, 0),
            conditions: vec![],
        },
        Case {
            row: 49,
            job: on_failure(1, 1, 1),
            pods: vec![restarting("a", "Running", 1)],
            created: 0,
            deleted: 1,
            counts: (0, 0, 1, 0, 1),
            conditions: ft(),
        },
        Case {
            row: 50,
            job: on_failure(1, 1, 1),
            pods: vec![restarting("a", "Pending", 1)],
            created: 0,
            deleted: 1,
            counts: (0, 0, 1, 0, 1),
            conditions: ft(),
        },
        Case {
            row: 51,
            job: on_failure(1, 5, 2),
            pods: vec![restarting("a", "Running", 2)],
            created: 0,
            deleted: 1,
            counts: (0, 0, 1, 0, 1),
            conditions: ft(),
        },
        Case {
            row: 52,
            job: on_failure(2, 5, 2),
            pods: vec![restarting("a", "Running", 1), restarting("b", "Running", 1)],
            created: 0,
            deleted: 2,
            counts: (0, 0, 2, 0, 2),
            conditions: ft(),
        },
        Case {
            row: 53,
            job: on_failure(2, 5, 3),
            pods: vec![restarting("a", "Running", 1), restarting("b", "Running", 1)],
            created: 0,
            deleted: 0,
            counts: (2, 0, 0, 0, 0),
            conditions: vec![],
        },
        Case {
            row: 54,
            job: never(1, 1, 1),
            pods: pods("f", 1, "Failed"),
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 1),
            conditions: vec![],
        },
        Case {
            row: 55,
            job: never(1, 1, 1),
            pods: pods("f", 2, "Failed"),
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 2),
            conditions: failed(),
        },
        Case {
            row: 56,
            job: never(2, 2, 6),
            pods: [pods("f", 6, "Failed"), pods("r", 1, "Running")].concat(),
            created: 1,
            deleted: 0,
            counts: (2, 0, 0, 0, 6),
            conditions: vec![],
        },
        Case {
            row: 57,
            job: never(2, 2, 6),
            pods: pods("f", 7, "Failed"),
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 7),
            conditions: failed(),
        },
    ];
    for c in cases {
        let plan = run(&c.job.build(), &c.pods);
        assert_eq!(plan.creation_count(), c.created, "row {}: created", c.row);
        assert_eq!(plan.deletions.len(), c.deleted, "row {}: deleted", c.row);
        let status = settle(&plan);
        assert_eq!(counts(&status), c.counts, "row {}: counts", c.row);
        assert_eq!(conditions(&status), c.conditions, "row {}: conditions", c.row);
    }
}

#[test]
fn on_failure_restarts_of_init_containers_count_and_finished_pods_do_not() {
    let mut with_init = pod("a").running().restarts(1).build();
    let init = runlet_codec::ContainerStatus { name: "init".into(), restart_count: 1, ..Default::default() };
    with_init.status.as_mut().unwrap().init_container_statuses = Some(vec![init]);
    let one = job(1, Some(1)).on_failure().backoff_limit(2).build();
    assert_eq!(
        conditions(&settle(&run(&one, std::slice::from_ref(&with_init)))),
        vec![cond(JobConditionType::FailureTarget, BLE)]
    );
    // Restarts of a succeeded pod are not counted.
    let done = pod("b").succeeded().restarts(5).build();
    let job = job(1, Some(2)).on_failure().backoff_limit(2).build();
    assert_eq!(conditions(&settle(&run(&job, &[done]))), vec![]);
}

#[test]
fn never_jobs_ignore_restart_counts() {
    let job = job(1, Some(1)).backoff_limit(1).build();
    assert_eq!(conditions(&settle(&run(&job, &[restarting("a", "Running", 5)]))), vec![]);
}

#[test]
fn row_58_always_failing_job_fails_after_two_pods() {
    let mut sim = sim::Sim::new(job(1, Some(1)).backoff_limit(1).build());
    sim.sync();
    sim.start_pods();
    sim.advance(5);
    sim.finish_pods(|_| Some(("Failed", 1)));
    let plan = sim.sync();
    assert_eq!(plan.creation_count(), 0, "10 s backoff after the first failure");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(10)));
    sim.advance(10);
    assert_eq!(sim.sync().creation_count(), 1);
    sim.start_pods();
    sim.advance(5);
    sim.finish_pods(|_| Some(("Failed", 1)));
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, BLE), cond(JobConditionType::Failed, BLE)]
    );
    assert_eq!(counts(&status), (0, 0, 0, 0, 2));
    assert_eq!(sim.pods.len(), 2);
    assert_eq!(sim.pods_in_phase("Failed"), 2);
}

#[test]
fn row_59_on_failure_pods_that_restart_then_succeed_complete_the_job() {
    let mut sim = sim::Sim::new(job(2, Some(4)).on_failure().build());
    for _ in 0..3 {
        sim.sync();
        sim.start_pods();
        for p in sim.pods.iter_mut().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")) {
            *p = PodBuilder(p.clone()).restarts(1).build();
        }
        sim.advance(1);
        sim.sync();
        sim.finish_pods(|_| Some(("Succeeded", 0)));
        sim.advance(1);
    }
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    assert_eq!(counts(&status), (0, 0, 0, 4, 0));
}

#[test]
fn row_60_never_pods_failing_once_are_replaced_and_complete() {
    // Pods with an even sequence number fail, the others succeed: every slot fails once.
    let fails = |p: &Pod| {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        name.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n % 2 == 0)
    };
    let mut sim = sim::Sim::new(job(2, Some(4)).build());
    for _ in 0..10 {
        sim.sync();
        sim.start_pods();
        sim.finish_pods(|p| Some(if fails(p) { ("Failed", 1) } else { ("Succeeded", 0) }));
        sim.advance(60);
    }
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    assert_eq!(counts(&status), (0, 0, 0, 4, 4));
}

#[test]
fn deleted_pods_count_as_failed_under_terminating_or_failed() {
    // A pod deleted by someone else fails the Job at backoffLimit 0, even before it exits.
    let job = job(1, Some(1)).backoff_limit(0).build();
    let status = settle(&run(&job, &[pod("d").running().deleting().build()]));
    assert_eq!(counts(&status).4, 1);
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, BLE)],
        "Failed waits for the pod to terminate"
    );
}
