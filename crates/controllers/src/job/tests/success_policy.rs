//! §9.7 success policy (rows 75–81, §4.2).

use super::*;
use runlet_api::vocab::{ConditionStatus, JobConditionType};

const SP: &str = "SuccessPolicy";
const PFP: &str = "PodFailurePolicy";

fn index_sim(parallelism: i32, completions: i32, rules: Vec<runlet_codec::SuccessPolicyRule>) -> sim::Sim {
    sim::Sim::new(job(parallelism, Some(completions)).indexed().success_policy(rules).build())
}

fn index_of(p: &Pod) -> Option<i32> {
    p.metadata.annotations.as_ref()?.get(JOB_COMPLETION_INDEX)?.parse().ok()
}

#[test]
fn row_75_succeeded_count_rule() {
    let mut sim = index_sim(2, 2, vec![success_rule(None, Some(2))]);
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|_| Some(("Succeeded", 0)));
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP), cond(JobConditionType::Complete, SP)]
    );
    let complete = find_condition(&status, JobConditionType::Complete).unwrap();
    assert_eq!(complete.message.as_deref(), Some("Matched rules at index 0"));
    assert_eq!(counts(&status), (0, 0, 0, 2, 0));
}

#[test]
fn row_76_succeeded_indexes_rule_deletes_remaining_pods_without_counting_them() {
    let mut sim = index_sim(2, 5, vec![success_rule(Some("0"), None)]);
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|p| (index_of(p) == Some(0)).then_some(("Succeeded", 0)));
    let plan = sim.sync();
    assert_eq!(plan.deletions.len(), 1, "index 1 is stopped");
    assert!(!plan.deletions[0].remove_finalizer_first);
    assert_eq!(
        conditions(&sim.status()),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP)],
        "Complete waits for the pod"
    );
    sim.stop_deleted_pods();
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP), cond(JobConditionType::Complete, SP)]
    );
    assert_eq!(status.completed_indexes.as_deref(), Some("0"));
    assert_eq!(counts(&status), (0, 0, 0, 1, 0));
    assert!(status.completion_time.is_some());
}

#[test]
fn row_77_succeeded_count_one_with_odd_indexes_failing() {
    let mut sim = sim::Sim::new(
        job(2, Some(5)).indexed().backoff_limit(i32::MAX).success_policy(vec![success_rule(None, Some(1))]).build(),
    );
    sim.sync();
    sim.start_pods();
    sim.finish_pods(|p| Some(if index_of(p).is_some_and(|ix| ix % 2 == 1) { ("Failed", 1) } else { ("Succeeded", 0) }));
    sim.sync();
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP), cond(JobConditionType::Complete, SP)]
    );
    assert_eq!(status.completed_indexes.as_deref(), Some("0"));
    assert_eq!(counts(&status), (0, 0, 0, 1, 1));
}

/// Rows 78–80: Indexed c=2, rule {indexes "0,1", count 1}, FailJob on DisruptionTarget.
fn disruption_job() -> JobBuilder {
    job(2, Some(2))
        .indexed()
        .success_policy(vec![success_rule(Some("0,1"), Some(1))])
        .failure_policy(vec![condition_rule("FailJob", "DisruptionTarget")])
}

fn disrupted(name: &str, ix: i32) -> Pod {
    pod(name).index(ix).failed().pod_condition("DisruptionTarget", "True", 10).build()
}

#[test]
fn row_78_failure_wins_over_success_in_the_same_sync() {
    let pods = vec![
        disrupted("mypod-0", 0),
        pod("mypod-1").index(0).running().build(),
        pod("mypod-2").index(1).succeeded().build(),
    ];
    let plan = run(&disruption_job().build(), &pods);
    assert_eq!(deleted(&plan), vec!["mypod-1"]);
    let status = settle(&plan);
    assert_eq!(conditions(&status), vec![cond(JobConditionType::FailureTarget, PFP)]);
    let target = find_condition(&status, JobConditionType::FailureTarget).unwrap();
    assert_eq!(
        target.message.as_deref(),
        Some("Pod default/mypod-0 has condition DisruptionTarget matching FailJob rule at index 0")
    );
    assert_eq!(counts(&status), (0, 0, 1, 1, 2));
}

#[test]
fn row_79_success_criteria_met_is_final() {
    let job = disruption_job()
        .condition(JobConditionType::SuccessCriteriaMet, ConditionStatus::True, SP, "Matched rules at index 0")
        .build();
    let pods = vec![disrupted("mypod-0", 0), pod("mypod-1").index(1).succeeded().build()];
    let status = settle(&run(&job, &pods));
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP), cond(JobConditionType::Complete, SP)]
    );
    assert_eq!(
        find_condition(&status, JobConditionType::Complete).unwrap().message.as_deref(),
        Some("Matched rules at index 0")
    );
    assert_eq!(counts(&status), (0, 0, 0, 1, 1));
}

#[test]
fn row_80_failure_target_is_final() {
    let message = "Pod default/mypod-0 has condition DisruptionTarget matching FailJob rule at index 0";
    let job = disruption_job().condition(JobConditionType::FailureTarget, ConditionStatus::True, PFP, message).build();
    let pods = vec![disrupted("mypod-0", 0), pod("mypod-1").index(1).succeeded().build()];
    let status = settle(&run(&job, &pods));
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, PFP), cond(JobConditionType::Failed, PFP)]
    );
    assert_eq!(find_condition(&status, JobConditionType::Failed).unwrap().message.as_deref(), Some(message));
    assert_eq!(status.completion_time, None);
}

#[test]
fn row_81_backoff_limit_is_checked_before_the_success_policy() {
    let job =
        job(2, Some(2)).indexed().backoff_limit(1).success_policy(vec![success_rule(Some("0,1"), Some(1))]).build();
    let pods = vec![
        pod("a").index(0).failed().build(),
        pod("b").index(0).failed().build(),
        pod("c").index(1).succeeded().build(),
    ];
    let status = settle(&run(&job, &pods));
    let ble = "BackoffLimitExceeded";
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, ble), cond(JobConditionType::Failed, ble)]
    );
}

#[test]
fn nothing_matches_before_an_index_succeeds() {
    let job = job(2, Some(2)).indexed().success_policy(vec![success_rule(None, Some(0))]).build();
    assert_eq!(conditions(&settle(&run(&job, &[]))), vec![]);
    let status = settle(&run(&job, &[pod("a").index(1).succeeded().build()]));
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::SuccessCriteriaMet, SP), cond(JobConditionType::Complete, SP)]
    );
}
