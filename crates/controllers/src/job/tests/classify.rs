//! Pod classification and the pod finish time of §3.5.

use runlet_codec::{Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Time};

use super::*;
use crate::job::pods::JobPod;

fn finish(pod: &Pod) -> Timestamp {
    JobPod::new(pod, false).finish_time()
}

fn running_container(name: &str) -> ContainerStatus {
    let state = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
    ContainerStatus { name: name.into(), state: Some(state), ..Default::default() }
}

#[test]
fn finish_time_rules() {
    let all_done = pod("a").failed().container_exit("c1", 1, 30).container_exit("c2", 0, 40).build();
    assert_eq!(finish(&all_done), at(40), "latest finishedAt when every container terminated");

    let mut one_running = pod("b").failed().container_exit("c1", 1, 30).pod_condition("Ready", "False", 35).build();
    one_running.status.as_mut().unwrap().container_statuses.as_mut().unwrap().push(running_container("c2"));
    assert_eq!(finish(&one_running), at(35), "else the Ready=False transition");

    let ready_true = pod("c").failed().pod_condition("Ready", "True", 35).deleting_at(100).build();
    assert_eq!(finish(&ready_true), at(70), "else deletionTimestamp minus the grace period");

    let bare = pod("d").failed().created(7).build();
    assert_eq!(finish(&bare), at(7), "else the creation time");
}

#[test]
fn sidecars_finish_last() {
    let mut p = pod("s").succeeded().container_exit("main-container", 0, 30).build();
    let sidecar = Container { name: "proxy".into(), restart_policy: Some("Always".into()), ..Default::default() };
    p.spec.as_mut().unwrap().init_containers = Some(vec![sidecar]);
    let terminated = ContainerStateTerminated { exit_code: 0, finished_at: Some(Time(at(45))), ..Default::default() };
    let state = ContainerState { terminated: Some(terminated), ..Default::default() };
    let stopped = ContainerStatus { name: "proxy".into(), state: Some(state), ..Default::default() };
    p.status.as_mut().unwrap().init_container_statuses = Some(vec![stopped]);
    assert_eq!(finish(&p), at(45));
    // A sidecar still running means the containers give no time.
    p.status.as_mut().unwrap().init_container_statuses = Some(vec![running_container("proxy")]);
    assert_eq!(finish(&p), at(0), "falls back to the creation time");
}

#[test]
fn active_terminating_and_failed() {
    struct Case {
        what: &'static str,
        pod: Pod,
        active: bool,
        terminating: bool,
        failed: bool,
        failed_if_only_failed_replaced: bool,
    }
    let cases = vec![
        Case {
            what: "pending",
            pod: pod("a").build(),
            active: true,
            terminating: false,
            failed: false,
            failed_if_only_failed_replaced: false,
        },
        Case {
            what: "unknown",
            pod: pod("a").phase("Unknown").build(),
            active: true,
            terminating: false,
            failed: false,
            failed_if_only_failed_replaced: false,
        },
        Case {
            what: "failed",
            pod: pod("a").failed().build(),
            active: false,
            terminating: false,
            failed: true,
            failed_if_only_failed_replaced: true,
        },
        Case {
            what: "succeeded",
            pod: pod("a").succeeded().build(),
            active: false,
            terminating: false,
            failed: false,
            failed_if_only_failed_replaced: false,
        },
        Case {
            what: "running, deleted",
            pod: pod("a").running().deleting().build(),
            active: false,
            terminating: true,
            failed: true,
            failed_if_only_failed_replaced: false,
        },
        Case {
            what: "succeeded, deleted",
            pod: pod("a").succeeded().deleting().build(),
            active: false,
            terminating: false,
            failed: false,
            failed_if_only_failed_replaced: false,
        },
        Case {
            what: "failed, deleted",
            pod: pod("a").failed().deleting().build(),
            active: false,
            terminating: false,
            failed: true,
            failed_if_only_failed_replaced: true,
        },
    ];
    for c in cases {
        let p = JobPod::new(&c.pod, false);
        assert_eq!(p.is_active(), c.active, "{}: active", c.what);
        assert_eq!(p.is_terminating(), c.terminating, "{}: terminating", c.what);
        assert_eq!(p.is_failed(false), c.failed, "{}: failed", c.what);
        assert_eq!(p.is_failed(true), c.failed_if_only_failed_replaced, "{}: failed (policy Failed)", c.what);
    }
}

#[test]
fn ready_needs_a_true_ready_condition() {
    assert!(JobPod::new(&pod("a").running().ready().build(), false).ready);
    assert!(!JobPod::new(&pod("a").running().pod_condition("Ready", "False", 1).build(), false).ready);
    assert!(!JobPod::new(&pod("a").running().pod_condition("ContainersReady", "True", 1).build(), false).ready);
}
