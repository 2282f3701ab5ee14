use std::time::Duration;

use runlet_codec::{Container, ObjectMeta, PodSpec};

use super::*;
use crate::worker::backoff::BackoffConfig;
use crate::worker::model::SlotId;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn node() -> NodeFacts {
    NodeFacts::example("n", "10.0.0.1")
}

fn pod(policy: &str, init: &[&str], regular: &[&str]) -> Pod {
    let containers = |names: &[&str]| {
        names
            .iter()
            .map(|n| Container { name: n.to_string(), image: Some("busybox".into()), ..Default::default() })
            .collect::<Vec<_>>()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some("pi-x".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| containers(init)),
            containers: containers(regular),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn exit(code: i32, finished: i64) -> Termination {
    Termination {
        exit_code: code,
        reason: crate::worker::model::terminated_reason(code, false).into(),
        message: None,
        started_at: Some(at(finished - 1)),
        finished_at: Some(at(finished)),
        container_id: format!("id{finished}"),
    }
}

fn state_summary(s: &ContainerStatus) -> String {
    let st = s.state.as_ref().unwrap();
    if let Some(w) = &st.waiting {
        format!("waiting:{}", w.reason.as_deref().unwrap_or(""))
    } else if st.running.is_some() {
        "running".to_string()
    } else if let Some(t) = &st.terminated {
        format!("terminated:{}:{}", t.reason.as_deref().unwrap_or(""), t.exit_code)
    } else {
        "none".to_string()
    }
}

fn conditions(status: &PodStatus) -> Vec<(String, String, Option<String>)> {
    status.conditions.iter().flatten().map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone())).collect()
}

const R0: SlotId = SlotId { init: false, index: 0 };
const I0: SlotId = SlotId { init: true, index: 0 };

/// (scenario, phase, container states, Ready condition reason)
#[test]
fn status_scenarios() {
    type Step = fn(&mut PodModel);
    type Case<'a> = (&'a str, Pod, Step, &'a str, Vec<&'a str>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "created",
            pod("Never", &[], &["c"]),
            |_| {},
            "Pending",
            vec!["waiting:ContainerCreating"],
            Some("ContainersNotReady"),
        ),
        ("running", pod("Never", &[], &["c"]), |m| m.on_started(R0, at(1), "a"), "Running", vec!["running"], None),
        (
            "completed",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.on_exited(R0, exit(0, 2), at(2));
            },
            "Succeeded",
            vec!["terminated:Completed:0"],
            Some("PodCompleted"),
        ),
        (
            "never+error",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.on_exited(R0, exit(42, 2), at(2));
            },
            "Failed",
            vec!["terminated:Error:42"],
            Some("PodFailed"),
        ),
        (
            "onfailure crash-looping",
            pod("OnFailure", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.on_exited(R0, exit(1, 2), at(2));
                m.on_started(R0, at(2), "b");
                m.on_exited(R0, exit(1, 3), at(3));
            },
            "Running",
            vec!["waiting:CrashLoopBackOff"],
            Some("ContainersNotReady"),
        ),
        (
            "init running",
            pod("Never", &["i"], &["c"]),
            |m| m.on_started(I0, at(1), "a"),
            "Pending",
            vec!["running", "waiting:PodInitializing"],
            Some("ContainersNotReady"),
        ),
        (
            "init failed under never",
            pod("Never", &["i"], &["c"]),
            |m| {
                m.on_started(I0, at(1), "a");
                m.on_exited(I0, exit(1, 2), at(2));
            },
            "Failed",
            vec!["terminated:Error:1", "waiting:PodInitializing"],
            Some("PodFailed"),
        ),
        (
            "deleted while running, killed",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.begin_termination(PodTerminationCause::Stopped);
                m.on_exited(R0, exit(143, 2), at(2));
            },
            "Failed",
            vec!["terminated:Error:143"],
            Some("PodFailed"),
        ),
        (
            "deleted, exits 0 on SIGTERM",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.begin_termination(PodTerminationCause::Stopped);
                m.on_exited(R0, exit(0, 2), at(2));
            },
            "Succeeded",
            vec!["terminated:Completed:0"],
            Some("PodCompleted"),
        ),
        (
            "deleted before starting",
            pod("Never", &[], &["c"]),
            |m| m.begin_termination(PodTerminationCause::Stopped),
            "Failed",
            vec!["terminated:ContainerStatusUnknown:137"],
            Some("PodFailed"),
        ),
        (
            "deleted while stopping (still running)",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.begin_termination(PodTerminationCause::Stopped);
            },
            "Running",
            vec!["running"],
            None,
        ),
        (
            "deadline exceeded, still being killed",
            pod("Never", &[], &["c"]),
            |m| {
                m.on_started(R0, at(1), "a");
                m.begin_termination(PodTerminationCause::DeadlineExceeded);
            },
            "Failed",
            vec!["running"],
            Some("PodFailed"),
        ),
    ];
    for (name, pod, step, phase, states, ready_reason) in cases {
        let mut model = PodModel::new(&pod, at(0), BackoffConfig::default());
        step(&mut model);
        let status = build_status(&pod, &model, &PodStatus::default(), &node(), at(10));
        assert_eq!(status.phase.as_deref(), Some(phase), "{name}: phase");
        let all: Vec<String> = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .map(state_summary)
            .collect();
        assert_eq!(all, states, "{name}: container states");
        let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), ready_reason, "{name}: Ready reason");
        assert_eq!(ready.status, if ready_reason.is_none() { "True" } else { "False" }, "{name}: Ready status");
    }
}

#[test]
fn crash_loop_status_has_kubelet_message_and_last_state() {
    let pod = pod("OnFailure", &[], &["pi"]);
    let mut m = PodModel::new(&pod, at(0), BackoffConfig::default());
    m.on_started(R0, at(1), "a");
    m.on_exited(R0, exit(1, 2), at(2));
    // Immediate restart pending: still shows the terminated run.
    let status = build_status(&pod, &m, &PodStatus::default(), &node(), at(2));
    assert_eq!(state_summary(&status.container_statuses.as_ref().unwrap()[0]), "terminated:Error:1");
    m.on_started(R0, at(2), "b");
    m.on_exited(R0, exit(2, 3), at(3));
    let status = build_status(&pod, &m, &PodStatus::default(), &node(), at(3));
    let cs = &status.container_statuses.as_ref().unwrap()[0];
    let waiting = cs.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.message.as_deref(), Some("back-off 10s restarting failed container=pi pod=pi-x_default(u1)"));
    assert_eq!(cs.restart_count, 1);
    assert_eq!(cs.container_id.as_deref(), Some("runlet://id3"));
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (2, Some("Error")));
    assert_eq!((cs.ready, cs.started), (false, Some(false)));
}

#[test]
fn conditions_order_reasons_and_transition_times() {
    let pod = pod("Never", &[], &["a", "b"]);
    let mut m = PodModel::new(&pod, at(0), BackoffConfig::default());
    let old = PodStatus {
        conditions: Some(vec![
            PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                last_transition_time: Some(Time(at(-5))),
                ..Default::default()
            },
            PodCondition { type_: "DisruptionTarget".into(), status: "True".into(), ..Default::default() },
        ]),
        qos_class: Some("BestEffort".into()),
        ..Default::default()
    };
    m.on_started(R0, at(1), "x");
    let first = build_status(&pod, &m, &old, &node(), at(1));
    assert_eq!(
        conditions(&first),
        [
            ("DisruptionTarget".to_string(), "True".to_string(), None),
            ("PodReadyToStartContainers".to_string(), "True".to_string(), None),
            ("Initialized".to_string(), "True".to_string(), None),
            ("Ready".to_string(), "False".to_string(), Some("ContainersNotReady".to_string())),
            ("ContainersReady".to_string(), "False".to_string(), Some("ContainersNotReady".to_string())),
            ("PodScheduled".to_string(), "True".to_string(), None),
        ]
    );
    let ready = first.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.message.as_deref(), Some("containers with unready status: [b]"));
    let scheduled = first.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(scheduled.last_transition_time, Some(Time(at(-5))), "unchanged condition keeps its time");
    assert_eq!(first.qos_class.as_deref(), Some("BestEffort"));

    m.on_started(SlotId { init: false, index: 1 }, at(3), "y");
    let second = build_status(&pod, &m, &first, &node(), at(3));
    let ready = second.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.last_transition_time.clone()), ("True", Some(Time(at(3)))));
    let init = second.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Initialized").unwrap();
    assert_eq!(init.last_transition_time, Some(Time(at(1))));
    assert_eq!(second.start_time, Some(Time(at(0))));
    assert_eq!((second.pod_ip.as_deref(), second.host_ip.as_deref()), (Some("127.0.0.1"), Some("10.0.0.1")));
}

#[test]
fn initialized_condition_while_init_containers_run() {
    let pod = pod("Never", &["i1", "i2"], &["c"]);
    let mut m = PodModel::new(&pod, at(0), BackoffConfig::default());
    m.on_started(I0, at(1), "a");
    let status = build_status(&pod, &m, &PodStatus::default(), &node(), at(1));
    let init = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Initialized").unwrap();
    assert_eq!(
        (init.status.as_str(), init.reason.as_deref(), init.message.as_deref()),
        ("False", Some("ContainersNotInitialized"), Some("containers with incomplete status: [i1 i2]"))
    );
}

#[test]
fn deadline_sets_reason_and_message() {
    let pod = pod("Never", &[], &["c"]);
    let mut m = PodModel::new(&pod, at(0), BackoffConfig::default());
    m.on_started(R0, at(1), "a");
    m.begin_termination(PodTerminationCause::DeadlineExceeded);
    m.on_exited(R0, exit(137, 5), at(5));
    let status = build_status(&pod, &m, &PodStatus::default(), &node(), at(5));
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(status.message.as_deref(), Some("Pod was active on the node longer than the specified deadline"));
    let sandbox = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "PodReadyToStartContainers").unwrap();
    assert_eq!(sandbox.status, "False");
}

#[test]
fn phase_table() {
    use RestartPolicy::*;
    let running = || {
        container_status(
            &{
                let mut s = Slot::new("c", "", false);
                s.state = SlotState::Running { started_at: at(1), container_id: "x".into() };
                s
            },
            false,
            "p",
        )
    };
    let ended = |code: i32| {
        let mut s = Slot::new("c", "", false);
        s.state = SlotState::Terminated(exit(code, 2));
        container_status(&s, false, "p")
    };
    let crash_looping = || {
        let mut s = Slot::new("c", "", false);
        s.state = SlotState::BackingOff { last: exit(1, 2), restart_at: at(20), delay: Duration::from_secs(10) };
        container_status(&s, false, "p")
    };
    let waiting = || container_status(&Slot::new("c", "", false), false, "p");
    let cases = [
        (Never, vec![waiting()], false, "Pending"),
        (Never, vec![running(), ended(0)], false, "Running"),
        (Never, vec![ended(0), ended(0)], false, "Succeeded"),
        (Never, vec![ended(0), ended(1)], false, "Failed"),
        (OnFailure, vec![crash_looping()], false, "Running"),
        (OnFailure, vec![ended(0)], false, "Succeeded"),
        (Always, vec![ended(0)], false, "Running"),
        (Always, vec![ended(0)], true, "Succeeded"),
        (OnFailure, vec![crash_looping()], true, "Failed"),
    ];
    for (policy, regular, terminal, want) in cases {
        assert_eq!(pod_phase(policy, &[], &regular, terminal).as_str(), want, "{policy:?} terminal={terminal}");
    }
}

#[test]
fn probes_decide_started_ready_and_the_ready_conditions() {
    use crate::worker::probe::{Outcome, ProbeKind};
    use runlet_codec::k8s_openapi::api::core::v1::{ExecAction, Probe};
    let probe = || Probe { exec: Some(ExecAction { command: Some(vec!["true".into()]) }), ..Default::default() };
    let mut p = pod("Never", &["proxy"], &["web"]);
    let spec = p.spec.as_mut().unwrap();
    let proxy = &mut spec.init_containers.as_mut().unwrap()[0];
    proxy.restart_policy = Some("Always".into());
    proxy.startup_probe = Some(probe());
    spec.containers[0].readiness_probe = Some(probe());
    let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
    let status = |m: &PodModel| build_status(&p, m, &PodStatus::default(), &node(), at(5));
    let flags = |s: &ContainerStatus| (s.started, s.ready);
    let condition = |s: &PodStatus, t: &str| {
        let c = s.conditions.iter().flatten().find(|c| c.type_ == t).unwrap();
        (c.status.clone(), c.message.clone())
    };

    m.on_started(I0, at(1), "proxy");
    let s = status(&m);
    assert_eq!(flags(&s.init_container_statuses.as_ref().unwrap()[0]), (Some(false), false));
    assert_eq!(
        condition(&s, "Initialized"),
        ("False".into(), Some("containers with incomplete status: [proxy]".into()))
    );

    m.on_probe_result(I0, ProbeKind::Startup, 1, &Outcome::Success, at(2), Duration::from_secs(1));
    m.on_started(R0, at(3), "web");
    let s = status(&m);
    assert_eq!(flags(&s.init_container_statuses.as_ref().unwrap()[0]), (Some(true), true));
    assert_eq!(flags(&s.container_statuses.as_ref().unwrap()[0]), (Some(true), false), "not ready before its probe");
    assert_eq!(condition(&s, "Initialized").0, "True");
    assert_eq!(condition(&s, "Ready"), ("False".into(), Some("containers with unready status: [web]".into())));

    m.on_probe_result(R0, ProbeKind::Readiness, 1, &Outcome::Success, at(4), Duration::from_secs(1));
    let s = status(&m);
    assert_eq!(condition(&s, "ContainersReady"), ("True".into(), None));
    assert_eq!(condition(&s, "Ready").0, "True");

    // A sidecar that stops running makes the pod unready, listed before the main containers.
    m.on_exited(I0, exit(1, 5), at(5));
    let s = status(&m);
    assert_eq!(
        condition(&s, "ContainersReady"),
        ("False".into(), Some("containers with unready status: [proxy]".into()))
    );
}

#[test]
fn a_pod_is_not_finished_while_its_sidecars_are_being_stopped() {
    let mut p = pod("Never", &["proxy"], &["main"]);
    p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].restart_policy = Some("Always".into());
    let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
    let phase = |m: &PodModel| build_status(&p, m, &PodStatus::default(), &node(), at(9)).phase.unwrap();
    m.on_started(I0, at(1), "proxy");
    assert_eq!(phase(&m), "Pending", "the main container has not started");
    m.on_started(R0, at(2), "main");
    assert_eq!(phase(&m), "Running");
    m.on_exited(R0, exit(0, 3), at(3));
    assert_eq!(phase(&m), "Running", "the sidecar still runs");
    m.begin_termination(PodTerminationCause::Stopped);
    m.on_exited(I0, exit(143, 4), at(4));
    assert_eq!(phase(&m), "Succeeded", "the sidecar's exit code does not count");
}
