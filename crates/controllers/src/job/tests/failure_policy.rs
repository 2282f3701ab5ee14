//! §9.6 pod failure policy (rows 61–74, §4.1).

use runlet_codec::{PodFailurePolicy, PodFailurePolicyRule};

use super::*;
use crate::job::failure_policy::{Action, evaluate};
use crate::job::pods::JobPod;
use runlet_api::vocab::JobConditionType;

const PFP: &str = "PodFailurePolicy";
const BLE: &str = "BackoffLimitExceeded";

/// R = [Ignore In [1,2,3], FailJob In [5,6,7]].
fn rules_r() -> Vec<PodFailurePolicyRule> {
    vec![exit_rule("Ignore", "In", &[1, 2, 3]), exit_rule("FailJob", "In", &[5, 6, 7])]
}

fn failed_pod(name: &str) -> PodBuilder {
    pod(name).failed()
}

#[test]
fn table_9_6() {
    struct Case {
        row: u32,
        job: JobBuilder,
        pods: Vec<Pod>,
        created: usize,
        deleted: usize,
        counts: (i32, i32, i32, i32, i32),
        conditions: Vec<(String, String)>,
        message: Option<&'static str>,
    }
    let fail_job = || vec![cond(JobConditionType::FailureTarget, PFP), cond(JobConditionType::Failed, PFP)];
    let cases = vec![
        Case {
            row: 61,
            job: job(1, Some(1)).failure_policy(rules_r()),
            pods: vec![failed_pod("mypod-0").exit(5).build()],
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 1),
            conditions: fail_job(),
            message: Some(
                "Container main-container for pod default/mypod-0 failed with exit code 5 matching FailJob rule at index 1",
            ),
        },
        Case {
            row: 62,
            job: job(2, Some(2)).failure_policy(rules_r()),
            pods: vec![pod("mypod-0").running().build(), failed_pod("mypod-1").exit(5).build()],
            created: 0,
            deleted: 1,
            counts: (0, 0, 1, 0, 2),
            conditions: vec![cond(JobConditionType::FailureTarget, PFP)],
            message: Some(
                "Container main-container for pod default/mypod-1 failed with exit code 5 matching FailJob rule at index 1",
            ),
        },
        Case {
            row: 63,
            job: job(1, Some(1)).failure_policy(vec![exit_rule("FailJob", "NotIn", &[5, 6, 7])]),
            pods: vec![failed_pod("mypod-0").exit(42).build()],
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 1),
            conditions: fail_job(),
            message: Some(
                "Container main-container for pod default/mypod-0 failed with exit code 42 matching FailJob rule at index 0",
            ),
        },
        Case {
            row: 64,
            job: job(1, Some(1)).failure_policy(vec![exit_rule("FailJob", "NotIn", &[5, 6, 7])]),
            pods: vec![failed_pod("mypod-0").exit(5).build()],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 1),
            conditions: vec![],
            message: None,
        },
        Case {
            row: 65,
            job: job(1, Some(1)).failure_policy(rules_r()).init_container("init-container"),
            pods: vec![failed_pod("mypod-0").init_exit("init-container", 5).exit(143).build()],
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 1),
            conditions: fail_job(),
            message: Some(
                "Container init-container for pod default/mypod-0 failed with exit code 5 matching FailJob rule at index 1",
            ),
        },
        Case {
            row: 66,
            job: job(1, Some(1)).failure_policy(rules_r()).backoff_limit(0),
            pods: vec![failed_pod("mypod-0").exit(2).container_exit("second", 6, 10).build()],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 0),
            conditions: vec![],
            message: None,
        },
        Case {
            row: 67,
            job: job(1, Some(1)).failure_policy(rules_r()).backoff_limit(0),
            pods: vec![failed_pod("mypod-0").exit(1).build()],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 0),
            conditions: vec![],
            message: None,
        },
        Case {
            row: 68,
            job: job(1, Some(1)).failure_policy(rules_r()).backoff_limit(0),
            pods: vec![failed_pod("mypod-0").exit(10).build()],
            created: 0,
            deleted: 0,
            counts: (0, 0, 0, 0, 1),
            conditions: vec![cond(JobConditionType::FailureTarget, BLE), cond(JobConditionType::Failed, BLE)],
            message: Some("Job has reached the specified backoff limit"),
        },
        Case {
            row: 69,
            job: job(1, Some(1))
                .failure_policy(vec![exit_rule("Count", "In", &[1, 2]), exit_rule("Ignore", "In", &[2, 3])]),
            pods: vec![failed_pod("mypod-0").exit(2).build()],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 1),
            conditions: vec![],
            message: None,
        },
        Case {
            row: 70,
            job: job(1, Some(1)).failure_policy(vec![
                condition_rule("Count", "ResourceLimitExceeded"),
                condition_rule("Ignore", "DisruptionTarget"),
            ]),
            pods: vec![
                failed_pod("mypod-0")
                    .pod_condition("DisruptionTarget", "True", 10)
                    .pod_condition("ResourceLimitExceeded", "True", 10)
                    .build(),
            ],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 1),
            conditions: vec![],
            message: None,
        },
        Case {
            row: 71,
            job: job(1, Some(1)).failure_policy(vec![condition_rule("Ignore", "DisruptionTarget")]).backoff_limit(0),
            pods: vec![failed_pod("mypod-0").pod_condition("DisruptionTarget", "True", 10).build()],
            created: 1,
            deleted: 0,
            counts: (1, 0, 0, 0, 0),
            conditions: vec![],
            message: None,
        },
    ];
    for c in cases {
        let plan = run(&c.job.build(), &c.pods);
        assert_eq!(plan.creation_count(), c.created, "row {}: created", c.row);
        assert_eq!(plan.deletions.len(), c.deleted, "row {}: deleted", c.row);
        let status = settle(&plan);
        assert_eq!(counts(&status), c.counts, "row {}: counts", c.row);
        assert_eq!(conditions(&status), c.conditions, "row {}: conditions", c.row);
        let message = find_condition(&status, JobConditionType::FailureTarget).and_then(|c| c.message.as_deref());
        assert_eq!(message, c.message, "row {}: message", c.row);
    }
}

#[test]
fn pod_condition_message_is_exact() {
    let job = job(1, Some(1)).failure_policy(vec![condition_rule("FailJob", "DisruptionTarget")]).build();
    let status = settle(&run(&job, &[failed_pod("mypod-0").pod_condition("DisruptionTarget", "True", 10).build()]));
    let c = find_condition(&status, JobConditionType::Failed).unwrap();
    assert_eq!(
        c.message.as_deref(),
        Some("Pod default/mypod-0 has condition DisruptionTarget matching FailJob rule at index 0")
    );
}

#[test]
fn ignored_failures_still_lengthen_the_backoff() {
    let job = job(1, Some(1)).failure_policy(rules_r()).build();
    let pods = vec![failed_pod("mypod-0").container_exit("main-container", 1, NOW - 2).build()];
    let plan = run(&job, &pods);
    assert_eq!(plan.creation_count(), 0);
    assert_eq!(plan.requeue_after, Some(std::time::Duration::from_secs(8)));
    assert_eq!(counts(&settle(&plan)).4, 0);
}

#[test]
fn terminating_pods_are_not_failures_until_terminal() {
    // A pod failure policy forces podReplacementPolicy: Failed.
    let job = job(1, Some(1)).failure_policy(rules_r()).backoff_limit(0).build();
    let plan = run(&job, &[pod("t").running().deleting().build()]);
    assert_eq!(plan.creation_count(), 0);
    let status = settle(&plan);
    assert_eq!(counts(&status), (0, 0, 1, 0, 0));
    assert_eq!(conditions(&status), vec![]);
}

fn verdict(rules: Vec<PodFailurePolicyRule>, pod: &Pod) -> (Option<String>, bool, Option<Action>) {
    let policy = PodFailurePolicy { rules };
    let v = evaluate(Some(&policy), &JobPod::new(pod, false));
    (v.fail_job_message, v.counts, v.action)
}

#[test]
fn rule_matching_details() {
    let mut named = exit_rule("Ignore", "In", &[3]);
    named.on_exit_codes.as_mut().unwrap().container_name = Some("other".into());
    let mut pattern_false = condition_rule("Ignore", "Custom");
    pattern_false.on_pod_conditions.as_mut().unwrap()[0].status = "False".into();
    type Case = (&'static str, Vec<PodFailurePolicyRule>, Pod, bool, Option<Action>);
    let cases: Vec<Case> = vec![
        ("container name must match", vec![named.clone()], failed_pod("p").exit(3).build(), true, None),
        (
            "named container matches",
            vec![named],
            failed_pod("p").container_exit("other", 3, 1).build(),
            false,
            Some(Action::Ignore),
        ),
        (
            "exit 0 never matches NotIn",
            vec![exit_rule("Ignore", "NotIn", &[1])],
            failed_pod("p").exit(0).build(),
            true,
            None,
        ),
        (
            "running containers are skipped",
            vec![exit_rule("Ignore", "In", &[1])],
            failed_pod("p").restarts(1).build(),
            true,
            None,
        ),
        (
            "unknown actions are skipped",
            vec![exit_rule("Retry", "In", &[1]), exit_rule("Count", "In", &[1])],
            failed_pod("p").exit(1).build(),
            true,
            Some(Action::Count),
        ),
        (
            "unknown operators never match",
            vec![exit_rule("Ignore", "Maybe", &[1])],
            failed_pod("p").exit(1).build(),
            true,
            None,
        ),
        (
            "FailIndex counts",
            vec![exit_rule("FailIndex", "In", &[1])],
            failed_pod("p").exit(1).build(),
            true,
            Some(Action::FailIndex),
        ),
        (
            "pattern status must match",
            vec![pattern_false],
            failed_pod("p").pod_condition("Custom", "True", 1).build(),
            true,
            None,
        ),
        ("no rules", vec![], failed_pod("p").exit(1).build(), true, None),
    ];
    for (what, rules, pod, counts, action) in cases {
        let (message, got_counts, got_action) = verdict(rules, &pod);
        assert_eq!((message, got_counts, got_action), (None, counts, action), "{what}");
    }
}

#[test]
fn row_72_fail_job_rule_fails_the_job() {
    let mut sim = sim::Sim::new(job(2, Some(4)).failure_policy(vec![exit_rule("FailJob", "In", &[1])]).build());
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|p| (p.metadata.name.as_deref() == Some("foobar-0")).then_some(("Failed", 1)));
    sim.advance(1);
    sim.sync();
    assert_eq!(conditions(&sim.status()), vec![cond(JobConditionType::FailureTarget, PFP)]);
    sim.stop_deleted_pods();
    sim.advance(1);
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, PFP), cond(JobConditionType::Failed, PFP)]
    );
    assert_eq!(counts(&status), (0, 0, 0, 0, 2));
    assert_eq!(sim.failures_handled, vec![Action::FailJob], "only foobar-0 matched the rule");
    let last = sim.events.last().unwrap();
    assert_eq!(last.reason, PFP);
    assert_eq!(
        last.message,
        "Container main-container for pod default/foobar-0 failed with exit code 1 matching FailJob rule at index 0"
    );
}

#[test]
fn row_73_ignored_exit_codes_are_retried_until_complete() {
    let job = job(3, Some(3)).indexed().backoff_limit(2).failure_policy(vec![exit_rule("Ignore", "In", &[42])]).build();
    let mut sim = sim::Sim::new(job);
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|_| Some(("Failed", 42)));
    for _ in 0..4 {
        sim.advance(60);
        sim.sync();
        sim.start_pods();
        sim.finish_pods(|_| Some(("Succeeded", 0)));
    }
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    assert_eq!(counts(&status), (0, 0, 0, 3, 0));
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    // Each ignored pod is reported once, though the Job synced four times after.
    assert_eq!(sim.failures_handled, vec![Action::Ignore; 3]);
}

#[test]
fn row_74_evictions_are_ignored() {
    let job = job(3, Some(3))
        .indexed()
        .backoff_limit(2)
        .failure_policy(vec![condition_rule("Ignore", "DisruptionTarget")])
        .build();
    let mut sim = sim::Sim::new(job);
    sim.sync();
    sim.start_pods();
    sim.evict_running_pods();
    sim.advance(1);
    let plan = sim.sync();
    assert_eq!(plan.creation_count(), 0, "replacements wait for the evicted pods to terminate");
    assert_eq!(counts(&sim.status()), (0, 0, 3, 0, 0));
    sim.stop_deleted_pods();
    for _ in 0..3 {
        sim.advance(60);
        sim.sync();
        sim.start_pods();
        sim.finish_pods(|_| Some(("Succeeded", 0)));
    }
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
    assert_eq!(counts(&status), (0, 0, 0, 3, 0));
}
