//! Table tests for the pod STATUS / READY / RESTARTS derivation.

use super::*;
use crate::codec::k8s_openapi::api::core::v1::{
    ContainerStateRunning, ContainerStateWaiting, PodIP, PodReadinessGate, PodSpec, PodStatus,
};
use crate::codec::{ObjectMeta, Time};

fn ts(text: &str) -> Time {
    Time(text.parse().unwrap())
}

const NOW: &str = "2026-01-01T00:10:00Z";

fn waiting(reason: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), ..Default::default() }),
        ..Default::default()
    }
}

fn running() -> ContainerState {
    ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }
}

fn terminated(exit_code: i32, reason: Option<&str>, signal: Option<i32>) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code,
            reason: reason.map(Into::into),
            signal,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn status(name: &str, state: ContainerState, ready: bool) -> ContainerStatus {
    ContainerStatus { name: name.into(), state: Some(state), ready, ..Default::default() }
}

fn restarted(mut cs: ContainerStatus, count: i32, finished_at: &str) -> ContainerStatus {
    cs.restart_count = count;
    cs.last_state = Some(ContainerState {
        terminated: Some(ContainerStateTerminated { finished_at: Some(ts(finished_at)), ..Default::default() }),
        ..Default::default()
    });
    cs
}

fn cond(type_: &str, status: &str, reason: Option<&str>) -> PodCondition {
    PodCondition { type_: type_.into(), status: status.into(), reason: reason.map(Into::into), ..Default::default() }
}

/// A pod with the given containers (`name` or `name:Always` for a sidecar init container).
struct PodBuilder {
    pod: Pod,
}

impl PodBuilder {
    fn new(containers: &[&str], init: &[&str]) -> Self {
        let container = |spec: &&str| {
            let (name, policy) = spec.split_once(':').map_or((*spec, None), |(n, p)| (n, Some(p.to_string())));
            Container { name: name.into(), restart_policy: policy, ..Default::default() }
        };
        let pod = Pod {
            metadata: ObjectMeta { name: Some("p".into()), ..Default::default() },
            spec: Some(PodSpec {
                containers: containers.iter().map(container).collect(),
                init_containers: (!init.is_empty()).then(|| init.iter().map(container).collect()),
                ..Default::default()
            }),
            status: Some(PodStatus::default()),
        };
        PodBuilder { pod }
    }
    fn status(&mut self) -> &mut PodStatus {
        self.pod.status.get_or_insert_with(Default::default)
    }
    fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }
    fn reason(mut self, reason: &str) -> Self {
        self.status().reason = Some(reason.into());
        self
    }
    fn containers(mut self, statuses: Vec<ContainerStatus>) -> Self {
        self.status().container_statuses = Some(statuses);
        self
    }
    fn inits(mut self, statuses: Vec<ContainerStatus>) -> Self {
        self.status().init_container_statuses = Some(statuses);
        self
    }
    fn conditions(mut self, conditions: Vec<PodCondition>) -> Self {
        self.status().conditions = Some(conditions);
        self
    }
    fn deleting(mut self) -> Self {
        self.pod.metadata.deletion_timestamp = Some(ts("2026-01-01T00:09:00Z"));
        self
    }
}

#[test]
fn status_ready_restarts() {
    let one = || PodBuilder::new(&["c"], &[]);
    let two = || PodBuilder::new(&["a", "b"], &[]);
    let init2 = || PodBuilder::new(&["c"], &["i1", "i2"]);
    let cases: Vec<(&str, PodBuilder, &str, &str, &str)> = vec![
        ("no status yet", one().phase("Pending"), "0/1", "Pending", "0"),
        ("no phase at all", one(), "0/1", "", "0"),
        (
            "creating",
            one().phase("Pending").containers(vec![status("c", waiting("ContainerCreating"), false)]),
            "0/1",
            "ContainerCreating",
            "0",
        ),
        ("running ready", one().phase("Running").containers(vec![status("c", running(), true)]), "1/1", "Running", "0"),
        (
            "running not ready",
            one().phase("Running").containers(vec![status("c", running(), false)]),
            "0/1",
            "Running",
            "0",
        ),
        (
            "completed",
            one().phase("Succeeded").containers(vec![status("c", terminated(0, Some("Completed"), None), false)]),
            "0/1",
            "Completed",
            "0",
        ),
        (
            "error",
            one().phase("Failed").containers(vec![status("c", terminated(1, Some("Error"), None), false)]),
            "0/1",
            "Error",
            "0",
        ),
        (
            "oom",
            one().phase("Failed").containers(vec![status("c", terminated(137, Some("OOMKilled"), None), false)]),
            "0/1",
            "OOMKilled",
            "0",
        ),
        (
            "signal",
            one().phase("Failed").containers(vec![status("c", terminated(137, None, Some(9)), false)]),
            "0/1",
            "Signal:9",
            "0",
        ),
        (
            "exit code",
            one().phase("Failed").containers(vec![status("c", terminated(3, Some(""), Some(0)), false)]),
            "0/1",
            "ExitCode:3",
            "0",
        ),
        (
            "crash loop",
            one().phase("Running").containers(vec![restarted(
                status("c", waiting("CrashLoopBackOff"), false),
                3,
                "2026-01-01T00:09:40Z",
            )]),
            "0/1",
            "CrashLoopBackOff",
            "3 (20s ago)",
        ),
        (
            "restarts without a time",
            one()
                .phase("Running")
                .containers(vec![ContainerStatus { restart_count: 2, ..status("c", running(), true) }]),
            "1/1",
            "Running",
            "2",
        ),
        (
            "first container wins",
            two().phase("Pending").containers(vec![
                status("a", waiting("ErrImagePull"), false),
                status("b", waiting("ContainerCreating"), false),
            ]),
            "0/2",
            "ErrImagePull",
            "0",
        ),
        (
            "completed + running, pod ready",
            two().phase("Running").conditions(vec![cond("Ready", "True", None)]).containers(vec![
                status("a", terminated(0, Some("Completed"), None), false),
                status("b", running(), true),
            ]),
            "1/2",
            "Running",
            "0",
        ),
        (
            "completed + running, pod not ready",
            two().phase("Running").containers(vec![
                status("a", terminated(0, Some("Completed"), None), false),
                status("b", running(), true),
            ]),
            "1/2",
            "NotReady",
            "0",
        ),
        ("pod reason", one().phase("Failed").reason("Evicted"), "0/1", "Evicted", "0"),
        (
            "deadline",
            one().phase("Failed").reason("DeadlineExceeded").containers(vec![status(
                "c",
                terminated(137, Some("Error"), None),
                false,
            )]),
            "0/1",
            "Error",
            "0",
        ),
        (
            "scheduling gated",
            one().phase("Pending").conditions(vec![cond("PodScheduled", "False", Some("SchedulingGated"))]),
            "0/1",
            "SchedulingGated",
            "0",
        ),
        (
            "init waiting to start",
            init2().phase("Pending").inits(vec![status("i1", waiting("PodInitializing"), false)]),
            "0/1",
            "Init:0/2",
            "0",
        ),
        ("init running", init2().phase("Pending").inits(vec![status("i1", running(), false)]), "0/1", "Init:0/2", "0"),
        (
            "second init",
            init2().phase("Pending").inits(vec![
                status("i1", terminated(0, Some("Completed"), None), false),
                status("i2", running(), false),
            ]),
            "0/1",
            "Init:1/2",
            "0",
        ),
        (
            "init crash loop",
            init2().phase("Pending").inits(vec![status("i1", waiting("CrashLoopBackOff"), false)]),
            "0/1",
            "Init:CrashLoopBackOff",
            "0",
        ),
        (
            "init error",
            init2().phase("Failed").inits(vec![status("i1", terminated(1, Some("Error"), None), false)]),
            "0/1",
            "Init:Error",
            "0",
        ),
        (
            "init signal",
            init2().phase("Failed").inits(vec![status("i1", terminated(1, None, Some(9)), false)]),
            "0/1",
            "Init:Signal:9",
            "0",
        ),
        (
            "init exit code",
            init2().phase("Failed").inits(vec![status("i1", terminated(2, None, None), false)]),
            "0/1",
            "Init:ExitCode:2",
            "0",
        ),
        (
            "init restarts count while initializing",
            init2().phase("Pending").inits(vec![restarted(
                status("i1", waiting("CrashLoopBackOff"), false),
                2,
                "2026-01-01T00:09:00Z",
            )]),
            "0/1",
            "Init:CrashLoopBackOff",
            "2 (60s ago)",
        ),
        (
            "initialized: regular init restarts dropped",
            init2()
                .phase("Running")
                .inits(vec![
                    restarted(status("i1", terminated(0, Some("Completed"), None), false), 2, "2026-01-01T00:09:50Z"),
                    status("i2", terminated(0, Some("Completed"), None), false),
                ])
                .containers(vec![restarted(status("c", running(), true), 4, "2026-01-01T00:09:40Z")]),
            "1/1",
            "Running",
            "4 (20s ago)",
        ),
        (
            "sidecar started and ready",
            PodBuilder::new(&["c"], &["log:Always"])
                .phase("Running")
                .inits(vec![restarted(
                    ContainerStatus { started: Some(true), ..status("log", running(), true) },
                    1,
                    "2026-01-01T00:05:00Z",
                )])
                .containers(vec![status("c", running(), true)]),
            "2/2",
            "Running",
            "1 (5m ago)",
        ),
        (
            "sidecar not started yet",
            PodBuilder::new(&["c"], &["log:Always"])
                .phase("Pending")
                .inits(vec![ContainerStatus { started: Some(false), ..status("log", running(), false) }]),
            "0/2",
            "Init:0/1",
            "0",
        ),
        (
            // Upstream quirk: a ready running container counts but does not replace the Init: text.
            "initializing but Initialized condition true",
            init2()
                .phase("Running")
                .conditions(vec![cond("Initialized", "True", None)])
                .inits(vec![status("i1", running(), false)])
                .containers(vec![status("c", running(), true)]),
            "1/1",
            "Init:0/2",
            "0",
        ),
        (
            "initializing but Initialized condition true, container waiting",
            init2()
                .phase("Running")
                .conditions(vec![cond("Initialized", "True", None)])
                .inits(vec![status("i1", running(), false)])
                .containers(vec![status("c", waiting("ContainerCreating"), false)]),
            "0/1",
            "ContainerCreating",
            "0",
        ),
        (
            "terminating",
            one().phase("Running").deleting().containers(vec![status("c", running(), true)]),
            "1/1",
            "Terminating",
            "0",
        ),
        ("terminating pending", one().phase("Pending").deleting(), "0/1", "Terminating", "0"),
        (
            "deleted after success",
            one().phase("Succeeded").deleting().containers(vec![status(
                "c",
                terminated(0, Some("Completed"), None),
                false,
            )]),
            "0/1",
            "Completed",
            "0",
        ),
        (
            "deleted after failure",
            one().phase("Failed").deleting().containers(vec![status("c", terminated(1, Some("Error"), None), false)]),
            "0/1",
            "Error",
            "0",
        ),
        ("node lost", one().phase("Running").reason("NodeLost").deleting(), "0/1", "Unknown", "0"),
    ];
    let now: Timestamp = NOW.parse().unwrap();
    for (label, builder, ready, want_status, want_restarts) in cases {
        let cells = pod_cells(&builder.pod, now);
        assert_eq!(cells[1], ready, "{label}: READY");
        assert_eq!(cells[2], want_status, "{label}: STATUS");
        assert_eq!(cells[3], want_restarts, "{label}: RESTARTS");
    }
}

#[test]
fn wide_cells() {
    let now: Timestamp = NOW.parse().unwrap();
    let mut pod = PodBuilder::new(&["c"], &[])
        .phase("Running")
        .conditions(vec![cond("example.com/a", "True", None), cond("example.com/b", "False", None)])
        .pod;
    pod.metadata.creation_timestamp = Some(ts("2026-01-01T00:07:30Z"));
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some("runlet".into());
    spec.readiness_gates = Some(vec![
        PodReadinessGate { condition_type: "example.com/a".into() },
        PodReadinessGate { condition_type: "example.com/b".into() },
    ]);
    let status = pod.status.get_or_insert_with(Default::default);
    status.pod_ip = Some("10.0.0.9".into());
    status.pod_ips = Some(vec![PodIP { ip: "10.0.0.7".into() }]);
    let cells = pod_cells(&pod, now);
    assert_eq!(cells.len(), pod_columns().len());
    assert_eq!(
        serde_json::to_value(&cells).unwrap(),
        serde_json::json!(["p", "0/1", "Running", "0", "2m30s", "10.0.0.7", "runlet", "<none>", "1/2"])
    );

    // podIP alone is enough; nothing at all prints <none>.
    let status = pod.status.get_or_insert_with(Default::default);
    status.pod_ips = None;
    assert_eq!(pod_cells(&pod, now)[5], "10.0.0.9");
    pod.status = None;
    pod.spec = None;
    let cells = pod_cells(&pod, now);
    assert_eq!(
        serde_json::to_value(&cells).unwrap(),
        serde_json::json!(["p", "0/0", "", "0", "2m30s", "<none>", "<none>", "<none>", "<none>"])
    );
}
