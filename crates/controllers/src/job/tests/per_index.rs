//! §9.8 backoffLimitPerIndex (rows 82–85, §4.3) and the per-index backoff of §3.5.

use std::time::Duration;

use super::*;
use runlet_api::vocab::JobConditionType;

const FI: &str = "FailedIndexes";

fn index_of(p: &Pod) -> Option<i32> {
    p.metadata.annotations.as_ref()?.get(JOB_COMPLETION_INDEX)?.parse().ok()
}

fn annotation<'p>(p: &'p Pod, key: &str) -> Option<&'p str> {
    p.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Runs rounds of sync → start → finish (per `outcome`) → wait a minute, until the Job finishes.
fn run_rounds(sim: &mut sim::Sim, outcome: impl Fn(&Pod) -> (&'static str, i32)) {
    for _ in 0..12 {
        sim.sync();
        sim.start_pods();
        sim.finish_pods(|p| Some(outcome(p)));
        sim.advance(60);
    }
}

#[test]
fn row_82_odd_indexes_fail_after_their_retry() {
    let mut sim = sim::Sim::new(job(2, Some(4)).indexed().per_index(1).build());
    run_rounds(&mut sim, |p| if index_of(p).is_some_and(|ix| ix % 2 == 1) { ("Failed", 1) } else { ("Succeeded", 0) });
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, FI), cond(JobConditionType::Failed, FI)]
    );
    assert_eq!(
        find_condition(&status, JobConditionType::Failed).unwrap().message.as_deref(),
        Some("Job has failed indexes")
    );
    assert_eq!(status.failed_indexes.as_deref(), Some("1,3"));
    assert_eq!(status.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(counts(&status), (0, 0, 0, 2, 4));
    assert_eq!(sim.event_reasons().last().map(String::as_str), Some(FI));
}

#[test]
fn row_83_max_failed_indexes_exceeded() {
    let mut sim = sim::Sim::new(job(1, Some(4)).indexed().per_index(0).max_failed_indexes(0).build());
    run_rounds(&mut sim, |_| ("Failed", 1));
    let status = sim.status();
    let reason = "MaxFailedIndexesExceeded";
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, reason), cond(JobConditionType::Failed, reason)]
    );
    assert_eq!(
        find_condition(&status, JobConditionType::Failed).unwrap().message.as_deref(),
        Some("Job has exceeded the specified maximal number of failed indexes")
    );
    assert_eq!(status.failed_indexes.as_deref(), Some("0"));
    assert_eq!(counts(&status), (0, 0, 0, 0, 1));
    assert_eq!(sim.pods.len(), 1, "only one pod was ever created");
}

#[test]
fn row_84_failure_counts_are_carried_to_replacements() {
    let mut sim = sim::Sim::new(job(2, Some(2)).indexed().per_index(1).build());
    run_rounds(&mut sim, |_| ("Failed", 1));
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, FI), cond(JobConditionType::Failed, FI)]
    );
    assert_eq!(status.failed_indexes.as_deref(), Some("0,1"));
    assert_eq!(status.completed_indexes, None);
    assert_eq!(counts(&status), (0, 0, 0, 0, 4));
    for ix in 0..2 {
        let mut seen: Vec<&str> = sim
            .pods
            .iter()
            .filter(|p| index_of(p) == Some(ix))
            .filter_map(|p| annotation(p, JOB_INDEX_FAILURE_COUNT))
            .collect();
        seen.sort();
        assert_eq!(seen, vec!["0", "1"], "index {ix}");
    }
}

#[test]
fn row_85_fail_index_rule_fails_the_index_at_once() {
    let job = job(2, Some(2)).indexed().per_index(1).failure_policy(vec![exit_rule("FailIndex", "In", &[1])]).build();
    let mut sim = sim::Sim::new(job);
    run_rounds(&mut sim, |p| if index_of(p) == Some(1) { ("Failed", 1) } else { ("Succeeded", 0) });
    let status = sim.status();
    assert_eq!(
        conditions(&status),
        vec![cond(JobConditionType::FailureTarget, FI), cond(JobConditionType::Failed, FI)]
    );
    assert_eq!(status.failed_indexes.as_deref(), Some("1"));
    assert_eq!(status.completed_indexes.as_deref(), Some("0"));
    assert_eq!(counts(&status), (0, 0, 0, 1, 1));
    assert_eq!(sim.pods.len(), 2, "the failed index was not retried");
}

#[test]
fn failed_pod_keeps_its_finalizer_until_the_replacement_exists() {
    let job = job(1, Some(2)).indexed().per_index(2).build();
    let failed = pod("f").index(0).failed().failure_count(0).container_exit("main-container", 1, NOW - 100).build();
    let plan = run(&job, std::slice::from_ref(&failed));
    assert_eq!(created_indexes(&plan), vec![Some("0".to_string())]);
    let replacement = &plan.creations[0][0];
    assert_eq!(annotation(replacement, JOB_INDEX_FAILURE_COUNT), Some("1"));
    assert_eq!(annotation(replacement, JOB_INDEX_IGNORED_FAILURE_COUNT), None);
    assert!(plan.tracking.remove_finalizers.is_empty(), "held for the replacement");
    assert_eq!(settle(&plan).failed, None, "not counted yet");
    assert_eq!(plan.tracking.status.failed_indexes.as_deref(), Some(""));
    // Once the replacement is active, the failed pod is counted.
    let replacement = pod("r").index(0).running().failure_count(1).build();
    let plan = run(&job, &[failed, replacement]);
    assert_eq!(plan.tracking.remove_finalizers.len(), 1);
    assert_eq!(settle(&plan).failed, Some(1));
}

#[test]
fn per_index_backoff_waits_for_the_index() {
    let job = job(1, Some(2)).indexed().per_index(3).build();
    let failed = pod("f").index(0).failed().failure_count(2).container_exit("main-container", 1, NOW - 5).build();
    let plan = run(&job, &[failed]);
    assert_eq!(plan.creation_count(), 0);
    // Third failure of the index: 10 s × 2² = 40 s from the last failure.
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(35)));
}

#[test]
fn other_indexes_are_not_held_up_by_one_in_backoff() {
    let job = job(2, Some(2)).indexed().per_index(3).build();
    let failed = pod("f").index(0).failed().container_exit("main-container", 1, NOW - 1).build();
    let plan = run(&job, &[failed]);
    assert_eq!(created_indexes(&plan), vec![Some("1".to_string())]);
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn global_backoff_does_not_apply_with_per_index_backoff() {
    let job = job(1, Some(2)).indexed().per_index(3).build();
    let record = BackoffRecord { failures_after_last_success: 5, last_failure_time: Some(at(NOW)) };
    assert_eq!(run_with(&job, &[], &record, true).creation_count(), 1);
}

#[test]
fn ignored_failures_count_separately_and_lengthen_the_backoff() {
    let job = job(1, Some(1)).indexed().per_index(1).failure_policy(vec![exit_rule("Ignore", "In", &[42])]).build();
    let failed = pod("f").index(0).failed().failure_count(0).exit(42).build();
    let plan = run(&job, std::slice::from_ref(&failed));
    let replacement = &plan.creations[0][0];
    assert_eq!(annotation(replacement, JOB_INDEX_FAILURE_COUNT), Some("0"));
    assert_eq!(annotation(replacement, JOB_INDEX_IGNORED_FAILURE_COUNT), Some("1"));
    // The index's next wait uses both counters: (0 + 1) + 1 failures → 20 s.
    let again = pod("g")
        .index(0)
        .failed()
        .failure_count(0)
        .ignored_count(1)
        .container_exit("main-container", 42, NOW - 5)
        .build();
    let plan = run(&job, &[again]);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(15)));
    assert_eq!(settle(&plan).failed, None, "ignored failures are not counted");
}

#[test]
fn malformed_failure_counts_read_as_zero() {
    let job = job(1, Some(1)).indexed().per_index(0).build();
    for value in ["-3", "abc", "99999999999"] {
        let failed = pod("f").index(0).failed().annotation(JOB_INDEX_FAILURE_COUNT, value).build();
        let status = settle(&run(&job, &[failed]));
        assert_eq!(status.failed_indexes.as_deref(), Some("0"), "{value}: 0 >= backoffLimitPerIndex 0");
    }
}
