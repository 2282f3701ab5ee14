//! Exactly-once counting with the tracking finalizer (§3.4) and the written status shape.

use runlet_codec::UncountedTerminatedPods;
use serde_json::json;

use super::*;
use crate::job::{MAX_UNCOUNTED_PODS, finish_tracking};
use runlet_api::vocab::{ConditionStatus, JobConditionType};

fn uncounted(succeeded: &[&str], failed: &[&str]) -> UncountedTerminatedPods {
    let list = |uids: &[&str]| Some(uids.iter().map(|u| u.to_string()).collect::<Vec<_>>()).filter(|l| !l.is_empty());
    UncountedTerminatedPods { succeeded: list(succeeded), failed: list(failed) }
}

#[test]
fn uncounted_pods_whose_finalizer_is_gone_are_counted() {
    // A previous sync recorded both UIDs, then removed their finalizers but failed to write the counts.
    let job = job(1, Some(3))
        .status(|s| {
            s.succeeded = Some(1);
            s.uncounted_terminated_pods = Some(uncounted(&["gone-uid"], &["f-uid"]));
        })
        .build();
    let pods = vec![pod("f").failed().no_finalizer().build()];
    let plan = run(&job, &pods);
    assert!(plan.tracking.write_status);
    assert_eq!(plan.tracking.status.uncounted_terminated_pods, Some(UncountedTerminatedPods::default()));
    assert_eq!(counts(&plan.tracking.status).3, 2);
    assert_eq!(counts(&plan.tracking.status).4, 1);
}

#[test]
fn uncounted_pods_still_carrying_the_finalizer_are_retried_not_recounted() {
    let job = job(1, Some(3)).status(|s| s.uncounted_terminated_pods = Some(uncounted(&["s-uid"], &[]))).build();
    let plan = run(&job, &[pod("s").succeeded().build()]);
    let tracking = &plan.tracking;
    assert_eq!(tracking.status.uncounted_terminated_pods, Some(uncounted(&["s-uid"], &[])), "listed once");
    assert_eq!(tracking.remove_finalizers.len(), 1);
    let finish = finish_tracking(tracking, &tracking.status, &["s-uid".to_string()], &[]);
    assert_eq!(finish.status.succeeded, Some(1));
    assert!(finish.write_status);
}

#[test]
fn interim_condition_is_written_before_finalizers_and_terminal_after() {
    let job = job(1, Some(1)).backoff_limit(0).build();
    let plan = run(&job, &[pod("f").failed().build()]);
    let tracking = &plan.tracking;
    assert_eq!(conditions(&tracking.status), vec![cond(JobConditionType::FailureTarget, "BackoffLimitExceeded")]);
    assert_eq!(tracking.status.uncounted_terminated_pods, Some(uncounted(&[], &["f-uid"])));
    assert_eq!(tracking.finishing.as_ref().map(|c| c.type_.as_str()), Some(JobConditionType::Failed.as_str()));
    // While the finalizer removal fails, the Job does not finish.
    let stuck = finish_tracking(tracking, &tracking.status, &[], &["f-uid".to_string()]);
    assert!(!stuck.finished && !stuck.write_status && stuck.events.is_empty());
    let done = finish_tracking(tracking, &tracking.status, &["f-uid".to_string()], &[]);
    assert!(done.finished);
    assert_eq!(counts(&done.status).4, 1);
    assert_eq!(
        done.events,
        vec![crate::job::JobEvent::warning("BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    );
}

#[test]
fn partial_finalizer_removal_writes_progress() {
    let job = job(1, Some(5)).build();
    let plan = run(&job, &[pod("a").succeeded().build(), pod("b").succeeded().build()]);
    let tracking = &plan.tracking;
    let finish = finish_tracking(tracking, &tracking.status, &["a-uid".to_string()], &["b-uid".to_string()]);
    assert!(finish.write_status);
    assert_eq!(finish.status.succeeded, Some(1));
    assert_eq!(finish.status.uncounted_terminated_pods, Some(uncounted(&["b-uid"], &[])));
}

#[test]
fn at_most_500_pods_enter_the_uncounted_lists_per_sync() {
    let job = job(1, Some(600)).build();
    let plan = run(&job, &pods("s", 600, "Succeeded"));
    let tracking = &plan.tracking;
    let listed =
        tracking.status.uncounted_terminated_pods.as_ref().and_then(|u| u.succeeded.as_ref()).map_or(0, Vec::len);
    assert_eq!(listed, MAX_UNCOUNTED_PODS);
    assert_eq!(tracking.remove_finalizers.len(), MAX_UNCOUNTED_PODS);
    assert!(tracking.reached_max_uncounted);
    let removed: Vec<String> = tracking.remove_finalizers.iter().map(|p| p.uid.clone()).collect();
    let finish = finish_tracking(tracking, &tracking.status, &removed, &[]);
    assert_eq!(finish.status.succeeded, Some(500));
    assert!(!finish.finished, "the Job cannot finish while pods are left to count");
}

#[test]
fn complete_waits_for_terminating_pods() {
    let met = || {
        job(1, Some(1))
            .condition(
                JobConditionType::SuccessCriteriaMet,
                ConditionStatus::True,
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            .build()
    };
    let status = settle(&run(&met(), &[pod("t").running().deleting().no_finalizer().build()]));
    assert_eq!(conditions(&status), vec![cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached")]);
    let status = settle(&run(&met(), &[]));
    assert_eq!(
        conditions(&status),
        vec![
            cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
            cond(JobConditionType::Complete, "CompletionsReached")
        ]
    );
}

#[test]
fn status_serializes_like_the_go_types() {
    let job = job(2, Some(5)).build();
    let plan = run(&job, &[]);
    let value = serde_json::to_value(&plan.tracking.status).unwrap();
    let start = value["startTime"].clone();
    assert_eq!(
        value,
        json!({"active": 2, "ready": 0, "terminating": 0, "startTime": start, "uncountedTerminatedPods": {}})
    );
    let finished = settle(&run(&job, &pods("s", 5, "Succeeded")));
    let value = serde_json::to_value(&finished).unwrap();
    assert_eq!(value.get("active"), None, "zero counters are omitted");
    assert_eq!(value["succeeded"], 5);
    assert_eq!(value["ready"], 0);
    assert_eq!(value["completionTime"], value["conditions"][1]["lastTransitionTime"]);
    assert_eq!(value["conditions"][0]["type"], "SuccessCriteriaMet");
    assert_eq!(value["conditions"][0]["lastProbeTime"], value["conditions"][0]["lastTransitionTime"]);
}

#[test]
fn finishing_waits_when_a_deletion_fails_or_the_cache_may_be_behind() {
    let job = job(2, Some(3)).backoff_limit(0).build();
    let pods = vec![pod("f").failed().build(), pod("r").running().ready().build()];
    let shared = super::shared(&pods);
    let input = crate::job::SyncInput {
        job: &job,
        pods: &shared,
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &[],
    };
    let plan = crate::job::sync(&input).unwrap();
    assert_eq!(deleted(&plan), vec!["r"]);
    let outcome = crate::job::PodIoOutcome {
        created: 0,
        failed_deletions: vec![crate::job::FailedDeletion {
            uid: "r-uid".into(),
            step: crate::job::DeletionStep::Deleting,
        }],
    };
    let tracking = crate::job::plan(&input).unwrap().after_pod_io(&outcome);
    assert_eq!(conditions(&tracking.status), vec![], "no FailureTarget yet");
    assert_eq!(tracking.finishing, None);
    let names: Vec<&str> = tracking.remove_finalizers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["f"], "the running pod is not counted yet");
    assert_eq!(counts(&tracking.status), (1, 0, 0, 0, 0));

    // Unsatisfied expectations: the pods are still deleted, but the Job finishes next time.
    let plan = run_with(&job, &pods, &BackoffRecord::default(), false);
    assert_eq!(deleted(&plan), vec!["r"]);
    assert_eq!(conditions(&plan.tracking.status), vec![]);
    assert_eq!(counts(&plan.tracking.status), (0, 0, 1, 0, 0));
}
