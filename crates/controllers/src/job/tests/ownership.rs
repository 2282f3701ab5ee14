//! Jobs the controller skips (§3.2 steps 2–4) and pod adoption/release (§2.3).

use runlet_codec::{LabelSelectorRequirement, OwnerReference};

use super::*;
use crate::job::{BackoffUpdate, JobEvent, PodRef, Skip, SyncError};
use runlet_api::vocab::{ConditionStatus, JobConditionType};

#[test]
fn managed_by_another_controller_gets_an_empty_plan() {
    let job = job(2, Some(2)).managed_by("example.com/other").build();
    let plan = run(&job, &[pod("a").succeeded().build(), pod("b").orphan().build()]);
    assert_eq!(plan.skip, Some(Skip::ManagedBy("example.com/other".into())));
    assert!(plan.creations.is_empty() && plan.deletions.is_empty() && plan.adopt.is_empty());
    assert!(!plan.tracking.write_status);
    assert!(plan.tracking.remove_finalizers.is_empty(), "finalizers of such Jobs' pods are not touched");
    assert_eq!(plan.backoff, BackoffUpdate::Keep);
    assert!(plan.tracking.events.is_empty());
}

#[test]
fn managed_by_the_job_controller_is_synced() {
    let plan = run(&job(1, Some(1)).managed_by("kubernetes.io/job-controller").build(), &[]);
    assert_eq!(plan.skip, None);
    assert_eq!(plan.creation_count(), 1);
}

#[test]
fn finished_jobs_are_left_alone_and_forget_their_backoff() {
    for terminal in [JobConditionType::Complete, JobConditionType::Failed] {
        let job = job(2, Some(2)).condition(terminal, ConditionStatus::True, "x", "y").build();
        let plan = run(&job, &pods("r", 1, "Running"));
        assert_eq!(plan.skip, Some(Skip::Finished), "{terminal}");
        assert_eq!(plan.backoff, BackoffUpdate::Forget);
        assert!(plan.deletions.is_empty() && !plan.tracking.write_status);
    }
    // A False terminal condition does not count.
    let job = job(1, Some(1)).condition(JobConditionType::Complete, ConditionStatus::False, "x", "y").build();
    assert_eq!(run(&job, &[]).skip, None);
}

#[test]
fn unknown_completion_mode_only_warns() {
    let mut job = job(1, Some(1)).build();
    job.spec.as_mut().unwrap().completion_mode = Some("Sometimes".into());
    let plan = run(&job, &[]);
    assert_eq!(plan.skip, Some(Skip::UnknownCompletionMode));
    assert_eq!(
        plan.tracking.events,
        vec![JobEvent::warning("UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")]
    );
    assert!(plan.creations.is_empty());
}

#[test]
fn orphans_matching_the_selector_are_adopted_and_counted() {
    let orphan = pod("o").orphan().succeeded().build();
    let plan = run(&job(1, Some(2)).build(), &[orphan]);
    assert_eq!(plan.adopt, vec![PodRef { namespace: "default".into(), name: "o".into(), uid: "o-uid".into() }]);
    // Adoption adds the tracking finalizer, so the succeeded orphan is counted.
    assert_eq!(settle(&plan).succeeded, Some(1));
}

#[test]
fn pods_are_claimed_by_owner_and_selector() {
    let mut foreign = pod("foreign").running().build();
    foreign.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: "rs-uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    let mut unlabelled = pod("unlabelled").running().build();
    unlabelled.metadata.labels = None;
    let mut stray_orphan = pod("stray").orphan().running().build();
    stray_orphan.metadata.labels = None;
    let deleting_orphan = pod("leaving").orphan().running().deleting().build();
    let mut non_controller = pod("noncontroller").orphan().running().build();
    non_controller.metadata.owner_references =
        Some(vec![OwnerReference { controller: Some(false), ..controller_ref(&job(1, Some(1)).build()) }]);
    let plan = run(&job(5, Some(5)).build(), &[foreign, unlabelled, stray_orphan, deleting_orphan, non_controller]);
    let names = |refs: &[PodRef]| refs.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&plan.release), vec!["unlabelled"]);
    assert_eq!(names(&plan.adopt), vec!["noncontroller"]);
    assert_eq!(counts(&plan.tracking.status).0, 5, "only the adopted pod is active, plus 4 new ones");
    assert_eq!(plan.creation_count(), 4);
}

#[test]
fn a_deleted_job_neither_adopts_nor_releases() {
    let mut unlabelled = pod("unlabelled").running().build();
    unlabelled.metadata.labels = None;
    let plan = run(&job(2, Some(2)).deleting().build(), &[unlabelled, pod("o").orphan().running().build()]);
    assert!(plan.adopt.is_empty() && plan.release.is_empty());
    assert_eq!(counts(&plan.tracking.status).0, 0);
}

#[test]
fn selector_expressions_are_honoured_and_bad_ones_are_errors() {
    let mut job = job(1, Some(1)).build();
    let selector = job.spec.as_mut().unwrap().selector.as_mut().unwrap();
    selector.match_expressions = Some(vec![LabelSelectorRequirement {
        key: "tier".into(),
        operator: "In".into(),
        values: Some(vec!["web".into()]),
    }]);
    let plan = run(&job, &[pod("o").orphan().running().build()]);
    assert!(plan.adopt.is_empty(), "the orphan lacks tier=web");
    job.spec.as_mut().unwrap().selector.as_mut().unwrap().match_expressions.as_mut().unwrap()[0].operator =
        "Near".into();
    let input = crate::job::SyncInput {
        job: &job,
        pods: &[],
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &[],
    };
    assert!(matches!(crate::job::sync(&input), Err(SyncError::Selector(_))));
}

#[test]
fn jobs_without_spec_or_indexed_completions_are_errors() {
    let mut no_spec = job(1, Some(1)).build();
    no_spec.spec = None;
    let mut no_completions = job(1, None).indexed().build();
    no_completions.spec.as_mut().unwrap().completions = None;
    for (job, field) in [(no_spec, "spec"), (no_completions, "spec.completions")] {
        let input = crate::job::SyncInput {
            job: &job,
            pods: &[],
            now: at(NOW),
            backoff: &BackoffRecord::default(),
            expectations_satisfied: true,
            pending_finalizer_removals: &[],
        };
        assert_eq!(crate::job::sync(&input), Err(SyncError::MissingField(field)));
    }
}

#[test]
fn pods_with_a_finalizer_removal_in_flight_are_not_counted_again() {
    let job = job(1, Some(2)).build();
    let pods = vec![pod("s").succeeded().build()];
    let pending = vec!["s-uid".to_string()];
    let pods = super::shared(&pods);
    let input = crate::job::SyncInput {
        job: &job,
        pods: &pods,
        now: at(NOW),
        backoff: &BackoffRecord::default(),
        expectations_satisfied: true,
        pending_finalizer_removals: &pending,
    };
    let plan = crate::job::sync(&input).unwrap();
    assert!(plan.tracking.remove_finalizers.is_empty());
    assert_eq!(settle(&plan).succeeded, None);
}

#[test]
fn orphan_worker_strips_finalizers_only_of_pods_without_a_live_job() {
    let live = job(1, Some(1)).build();
    let finished = job(1, Some(1)).condition(JobConditionType::Complete, ConditionStatus::True, "x", "y").build();
    let external = job(1, Some(1)).managed_by("example.com/other").build();
    let mut recreated = job(1, Some(1)).build();
    recreated.metadata.uid = Some("new-uid".into());
    let mut other_owner = pod("rs").build();
    other_owner.metadata.owner_references.as_mut().unwrap()[0].kind = "ReplicaSet".into();
    let cases: Vec<(&str, Pod, Option<&Job>, bool)> = vec![
        ("live owner", pod("a").build(), Some(&live), false),
        ("finished owner", pod("a").build(), Some(&finished), true),
        ("owner gone", pod("a").build(), None, true),
        ("externally managed owner", pod("a").build(), Some(&external), false),
        ("orphan without finalizer", pod("a").orphan().build(), None, false),
        ("owner recreated with another uid", pod("a").build(), Some(&recreated), true),
        (
            "orphan with finalizer",
            {
                let mut p = pod("a").build();
                p.metadata.owner_references = None;
                p
            },
            None,
            true,
        ),
        ("no finalizer", pod("a").no_finalizer().build(), None, false),
        ("other kind", other_owner, None, false),
    ];
    for (what, pod, owner, want) in cases {
        assert_eq!(crate::job::orphan_finalizer_removable(&pod, owner), want, "{what}");
    }
}
