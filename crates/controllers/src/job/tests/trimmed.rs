//! The controllers' pod cache trims finished pods (`crate::pod_trim`): every reading the Job controller makes
//! of a pod, and every plan it makes from pods, must be the same for the trimmed pod as for the whole one.

use runlet_codec::{Container, ContainerState, ContainerStateRunning, ContainerStatus};

use super::*;
use crate::job::failure_policy::evaluate;
use crate::job::pods::JobPod;
use crate::pod_trim::trim;

fn trimmed(pod: &Pod) -> Pod {
    let mut copy = pod.clone();
    trim(&mut copy);
    copy
}

fn with_sidecar(mut pod: Pod, sidecar_finished: Option<i64>) -> Pod {
    let sidecar = Container { name: "proxy".into(), restart_policy: Some("Always".into()), ..Default::default() };
    let plain_init = Container { name: "setup".into(), ..Default::default() };
    pod.spec.get_or_insert_with(Default::default).init_containers = Some(vec![plain_init, sidecar]);
    let state = match sidecar_finished {
        Some(t) => ContainerState {
            terminated: Some(ContainerStateTerminated { finished_at: Some(Time(at(t))), ..Default::default() }),
            ..Default::default()
        },
        None => ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() },
    };
    let status = ContainerStatus { name: "proxy".into(), restart_count: 2, state: Some(state), ..Default::default() };
    pod.status.get_or_insert_with(Default::default).init_container_statuses.get_or_insert_with(Vec::new).push(status);
    pod
}

/// Finished pods of every shape the rules look at, and a running one (kept whole).
fn pods() -> Vec<(&'static str, Pod)> {
    vec![
        ("succeeded", pod("a").succeeded().index(0).exit(0).pod_condition("Ready", "False", 12).build()),
        ("succeeded, no container times", pod("b").succeeded().index(1).pod_condition("Ready", "False", 12).build()),
        ("failed, exit 3", pod("c").failed().index(2).failure_count(1).exit(3).build()),
        (
            "failed, two containers",
            pod("d").failed().container_exit("c1", 1, 30).container_exit("c2", 5, 40).restarts(0).build(),
        ),
        (
            "failed with conditions",
            pod("e")
                .failed()
                .exit(1)
                .pod_condition("DisruptionTarget", "True", 20)
                .pod_condition("Ready", "False", 21)
                .build(),
        ),
        ("failed, deleted", pod("f").failed().deleting_at(100).build()),
        ("failed init container", pod("g").failed().init_exit("setup", 7).exit(0).build()),
        ("succeeded with a stopped sidecar", with_sidecar(pod("h").succeeded().exit(0).build(), Some(45))),
        ("succeeded with a running sidecar", with_sidecar(pod("i").succeeded().exit(0).build(), None)),
        ("failed, no finalizer", pod("j").failed().no_finalizer().exit(2).node("n1").build()),
        ("running", pod("k").running().ready().restarts(3).build()),
    ]
}

#[test]
fn every_reading_of_a_trimmed_pod_is_the_same() {
    let policies = [
        vec![exit_rule("Ignore", "In", &[1, 3]), exit_rule("FailJob", "In", &[5, 7])],
        vec![condition_rule("Ignore", "DisruptionTarget"), exit_rule("Count", "NotIn", &[0])],
        vec![exit_rule("FailIndex", "In", &[2])],
    ];
    for (what, whole) in pods() {
        let cut = trimmed(&whole);
        let (a, b) = (JobPod::new(&whole, false), JobPod::new(&cut, false));
        assert_eq!(
            (a.uid, a.name, a.phase, a.deleting, a.tracked, a.index),
            (b.uid, b.name, b.phase, b.deleting, b.tracked, b.index),
            "{what}"
        );
        assert_eq!(a.ready, b.ready, "{what}: ready");
        assert_eq!(a.finish_time(), b.finish_time(), "{what}: finish time");
        assert_eq!(a.restart_sum(), b.restart_sum(), "{what}: restarts");
        assert_eq!(a.index_absolute_failure_count(), b.index_absolute_failure_count(), "{what}: index failures");
        for rules in &policies {
            let policy = PodFailurePolicy { rules: rules.clone() };
            assert_eq!(evaluate(Some(&policy), &a), evaluate(Some(&policy), &b), "{what}: {rules:?}");
        }
    }
}

#[test]
fn trimming_drops_what_no_rule_reads() {
    let pods = pods();
    let whole = &pods[0].1;
    let cut = trimmed(whole);
    let spec = cut.spec.as_ref().expect("spec");
    assert!(spec.containers.is_empty(), "regular containers of a finished pod are not kept");
    let status = cut.status.as_ref().expect("status");
    let kinds: Vec<&str> = status.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
    assert_eq!(kinds, ["Ready"], "a succeeded pod keeps only its Ready condition");
    let sidecar = trimmed(&pods[7].1);
    let names: Vec<&str> =
        sidecar.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["proxy"], "only sidecars of the init containers");
    let running = &pods[10].1;
    assert_eq!(&trimmed(running), running, "a pod that still runs is kept whole");
}

#[test]
fn plans_from_trimmed_pods_are_the_same() {
    let failed =
        |name: &str, code: i32, finished: i64| pod(name).failed().container_exit("main-container", code, finished);
    let jobs = [
        ("non-indexed, backoff", job(2, Some(5)).backoff_limit(3).build()),
        ("indexed, per-index limit", job(2, Some(4)).indexed().per_index(1).build()),
        (
            "failure policy",
            job(2, Some(5))
                .failure_policy(vec![exit_rule("FailJob", "In", &[5]), exit_rule("Ignore", "In", &[3])])
                .build(),
        ),
        ("OnFailure", job(2, Some(3)).on_failure().backoff_limit(1).build()),
    ];
    let pod_sets = [
        vec![
            pod("a").succeeded().index(0).exit(0).build(),
            failed("b", 3, 900).index(1).build(),
            pod("c").running().index(2).build(),
        ],
        vec![
            failed("d", 5, 950).index(3).failure_count(1).build(),
            pod("e").succeeded().index(1).exit(0).no_finalizer().build(),
        ],
        vec![
            with_sidecar(pod("f").succeeded().index(0).exit(0).build(), Some(990)),
            failed("g", 1, 999).index(2).build(),
        ],
    ];
    for (what, job) in &jobs {
        for (n, pods) in pod_sets.iter().enumerate() {
            let cut: Vec<Pod> = pods.iter().map(trimmed).collect();
            assert_eq!(run(job, pods), run(job, &cut), "{what}, pod set {n}");
        }
    }
}
