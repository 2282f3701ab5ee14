//! The pod status a kubelet would report for a [`PodModel`]: container statuses, phase, conditions.
//! Follows the kubelet's `getPhase`, `Generate*Condition` and `TerminatePod` rules. Pure.

use jiff::Timestamp;
use runlet_api::vocab::{ConditionStatus, PodConditionType, PodPhase};
use runlet_codec::k8s_openapi::api::core::v1::{HostIP, PodIP};
use runlet_codec::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodStatus, Time,
};

use super::backoff::go_duration;
use super::model::{PodModel, RestartPolicy, Slot, SlotState, Termination};
use crate::runtime::NodeFacts;
use crate::runtime::state::PodTerminationCause;

pub const DEADLINE_REASON: &str = "DeadlineExceeded";
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";
const UNKNOWN_REASON: &str = "ContainerStatusUnknown";
const UNKNOWN_MESSAGE: &str = "The container could not be located when the pod was terminated";

/// The conditions the kubelet owns; others found in the old status are kept, ahead of these.
const KUBELET_CONDITIONS: [PodConditionType; 5] = [
    PodConditionType::PodReadyToStartContainers,
    PodConditionType::Initialized,
    PodConditionType::Ready,
    PodConditionType::ContainersReady,
    PodConditionType::PodScheduled,
];

/// `runlet://<id>`, the form `containerID` takes in the API.
pub fn api_container_id(id: &str) -> Option<String> {
    (!id.is_empty()).then(|| format!("runlet://{id}"))
}

/// `<name>_<namespace>(<uid>)`, the kubelet's way of naming a pod in messages.
pub fn pod_display_name(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

fn terminated_state(t: &Termination) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: t.started_at.map(Time),
            finished_at: t.finished_at.map(Time),
            container_id: api_container_id(&t.container_id),
            signal: None,
        }),
        ..Default::default()
    }
}

fn waiting_state(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message }),
        ..Default::default()
    }
}

/// One container's status. `pod_name` is the kubelet's display name used in back-off messages.
pub fn container_status(slot: &Slot, pod_has_init: bool, pod_name: &str) -> ContainerStatus {
    let last = |t: Option<&Termination>| t.map(terminated_state).unwrap_or_default();
    let (state, last_state, container_id) = match &slot.state {
        SlotState::NotStarted => {
            let reason = if pod_has_init { "PodInitializing" } else { "ContainerCreating" };
            (waiting_state(reason, None), last(slot.previous.as_ref()), None)
        }
        SlotState::ConfigError { message, .. } => {
            (waiting_state("CreateContainerConfigError", Some(message.clone())), last(slot.previous.as_ref()), None)
        }
        SlotState::ImagePull { reason, message, .. } => {
            (waiting_state(reason, Some(message.clone())), last(slot.previous.as_ref()), None)
        }
        SlotState::Running { started_at, container_id } => (
            ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(Time(*started_at)) }),
                ..Default::default()
            },
            last(slot.previous.as_ref()),
            api_container_id(container_id),
        ),
        SlotState::Terminated(t) => {
            (terminated_state(t), last(slot.previous.as_ref()), api_container_id(&t.container_id))
        }
        // An immediate restart not carried out yet still shows the run that ended.
        SlotState::BackingOff { last: t, delay, .. } if delay.is_zero() => {
            (terminated_state(t), last(slot.previous.as_ref()), api_container_id(&t.container_id))
        }
        SlotState::BackingOff { last: t, delay, .. } => {
            let message =
                format!("back-off {} restarting failed container={} pod={pod_name}", go_duration(*delay), slot.name);
            (waiting_state("CrashLoopBackOff", Some(message)), terminated_state(t), api_container_id(&t.container_id))
        }
    };
    // A running container is started once past its startup probe and ready once past its readiness probe
    // (without probes, at once); an init container is ready once it succeeded.
    let running = state.running.is_some();
    let started = running && slot.started();
    let ready = if slot.init && !slot.sidecar {
        state.terminated.as_ref().is_some_and(|t| t.exit_code == 0)
    } else {
        running && slot.ready()
    };
    ContainerStatus {
        name: slot.name.clone(),
        image: slot.image.clone(),
        image_id: slot.image_id.clone(),
        container_id,
        ready,
        restart_count: slot.restart_count(),
        started: Some(started),
        state: Some(state),
        last_state: Some(last_state),
        ..Default::default()
    }
}

fn is_waiting(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.waiting.is_some())
}
fn is_running(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}
fn terminated(s: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    s.state.as_ref().and_then(|st| st.terminated.as_ref())
}
fn last_terminated(s: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    s.last_state.as_ref().and_then(|st| st.terminated.as_ref())
}

/// The kubelet's `getPhase`. A running sidecar keeps the pod `Running` (so a pod is not reported finished
/// while its sidecars are still being stopped); a sidecar that ended never counts.
pub fn pod_phase(
    policy: RestartPolicy,
    init: &[InitStatus<'_>],
    regular: &[ContainerStatus],
    pod_is_terminal: bool,
) -> PodPhase {
    let mut pending_init = 0;
    let mut failed_init = 0;
    let mut pending_sidecars = 0;
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for (sidecar, s) in init.iter().copied() {
        if sidecar {
            if is_running(s) {
                running += 1;
                if s.started != Some(true) {
                    pending_sidecars += 1;
                }
            } else if terminated(s).is_none() && last_terminated(s).is_none() {
                pending_sidecars += 1;
                waiting += 1;
            }
            continue;
        }
        if is_running(s) {
            pending_init += 1;
        } else if let Some(t) = terminated(s) {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if is_waiting(s) && last_terminated(s).is_some() {
            if last_terminated(s).is_some_and(|t| t.exit_code != 0) {
                failed_init += 1;
            }
        } else {
            pending_init += 1;
        }
    }
    let regular_started = regular.iter().any(|s| !is_waiting(s) || last_terminated(s).is_some());
    for s in regular {
        if is_running(s) {
            running += 1;
        } else if let Some(t) = terminated(s) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if last_terminated(s).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return PodPhase::Failed;
    }
    if pending_init > 0 || (pending_sidecars > 0 && !regular_started) || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    if stopped == 0 {
        return PodPhase::Pending;
    }
    if pod_is_terminal {
        return if stopped == succeeded { PodPhase::Succeeded } else { PodPhase::Failed };
    }
    match policy {
        RestartPolicy::Always => PodPhase::Running,
        _ if stopped == succeeded => PodPhase::Succeeded,
        RestartPolicy::Never => PodPhase::Failed,
        RestartPolicy::OnFailure => PodPhase::Running,
    }
}

/// The kubelet's `TerminatePod`: once nothing can run any more, containers without a final state are
/// reported as terminated with an unknown status, so no container of a finished pod looks alive.
fn settle_terminal(init: &mut [ContainerStatus], regular: &mut [ContainerStatus]) {
    let unknown = || ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: 137,
            reason: Some(UNKNOWN_REASON.to_string()),
            message: Some(UNKNOWN_MESSAGE.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let initialized = init.is_empty()
        || regular.iter().any(|s| last_terminated(s).is_some() || !is_waiting(s))
        || init.last().is_some_and(|s| {
            terminated(s).is_some_and(|t| t.exit_code == 0) || last_terminated(s).is_some_and(|t| t.exit_code == 0)
        });
    if initialized {
        for s in regular.iter_mut().filter(|s| terminated(s).is_none()) {
            s.state = Some(unknown());
            s.ready = false;
            s.started = Some(false);
        }
    }
    // Init containers up to the last one that ever started (at least the first).
    let tried = init.iter().rposition(|s| !is_waiting(s) || last_terminated(s).is_some()).unwrap_or(0);
    for s in init.iter_mut().take(tried + 1).filter(|s| terminated(s).is_none()) {
        s.state = Some(unknown());
        s.started = Some(false);
    }
}

fn condition(type_: PodConditionType, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: ConditionStatus::from_bool(ok).into(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

/// `[a b]`: Go's `%s` of a string slice, as in `containers with unready status: [a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// An init container's status and whether it is a sidecar (restartable).
type InitStatus<'a> = (bool, &'a ContainerStatus);

fn kubelet_conditions(
    init: &[InitStatus<'_>],
    regular: &[ContainerStatus],
    phase: PodPhase,
    sandbox_ready: bool,
) -> Vec<PodCondition> {
    let terminal_reason = match phase {
        PodPhase::Succeeded => Some("PodCompleted"),
        PodPhase::Failed => Some("PodFailed"),
        _ => None,
    };

    let initialized =
        if init.is_empty() {
            condition(PodConditionType::Initialized, true, None, None)
        } else if phase == PodPhase::Succeeded {
            condition(PodConditionType::Initialized, true, Some("PodCompleted"), None)
        } else if regular.iter().any(|s| is_running(s) || terminated(s).is_some() || last_terminated(s).is_some()) {
            condition(PodConditionType::Initialized, true, None, None)
        } else {
            // A sidecar is complete once started, any other init container once it succeeded.
            let incomplete: Vec<&str> =
                init.iter()
                    .filter(|(sidecar, s)| {
                        if *sidecar { s.started != Some(true) } else { terminated(s).is_none_or(|t| t.exit_code != 0) }
                    })
                    .map(|(_, s)| s.name.as_str())
                    .collect();
            if incomplete.is_empty() {
                condition(PodConditionType::Initialized, true, None, None)
            } else {
                let message = format!("containers with incomplete status: {}", go_list(&incomplete));
                condition(PodConditionType::Initialized, false, Some("ContainersNotInitialized"), Some(message))
            }
        };

    let containers_ready = match terminal_reason {
        Some(reason) => condition(PodConditionType::ContainersReady, false, Some(reason), None),
        None => {
            // Sidecars count too, listed first.
            let sidecars = init.iter().filter(|(sidecar, _)| *sidecar).map(|(_, s)| *s);
            let unready: Vec<&str> =
                sidecars.chain(regular.iter()).filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
            if unready.is_empty() {
                condition(PodConditionType::ContainersReady, true, None, None)
            } else {
                let message = format!("containers with unready status: {}", go_list(&unready));
                condition(PodConditionType::ContainersReady, false, Some("ContainersNotReady"), Some(message))
            }
        }
    };
    let ready = PodCondition { type_: PodConditionType::Ready.into(), ..containers_ready.clone() };

    vec![
        condition(PodConditionType::PodReadyToStartContainers, sandbox_ready, None, None),
        initialized,
        ready,
        containers_ready,
        condition(PodConditionType::PodScheduled, true, None, None),
    ]
}

/// The pod status for `model`, carrying transition times and foreign conditions over from `old`.
pub fn build_status(pod: &Pod, model: &PodModel, old: &PodStatus, node: &NodeFacts, now: Timestamp) -> PodStatus {
    let pod_name = pod_display_name(pod);
    let has_init = !model.init.is_empty();
    let mut init: Vec<ContainerStatus> = model.init.iter().map(|s| container_status(s, has_init, &pod_name)).collect();
    let mut regular: Vec<ContainerStatus> =
        model.regular.iter().map(|s| container_status(s, has_init, &pod_name)).collect();

    let done = model.is_done();
    let pod_is_terminal = done && model.termination.is_some();
    if done {
        settle_terminal(&mut init, &mut regular);
    }
    let init_statuses: Vec<InitStatus<'_>> = model.init.iter().map(|s| s.sidecar).zip(init.iter()).collect();
    let mut phase = pod_phase(model.policy, &init_statuses, &regular, pod_is_terminal);
    let deadline = model.termination == Some(PodTerminationCause::DeadlineExceeded);
    if deadline || (pod_is_terminal && !phase.is_terminal()) {
        phase = PodPhase::Failed;
    }
    // The phase never leaves a terminal value once reported.
    if let Some(old_phase) = PodPhase::of(Some(old)).filter(|p| p.is_terminal()) {
        phase = old_phase;
    }

    let old_conditions = old.conditions.as_deref().unwrap_or_default();
    let mut conditions: Vec<PodCondition> =
        old_conditions.iter().filter(|c| !KUBELET_CONDITIONS.iter().any(|t| c.type_ == *t)).cloned().collect();
    for mut c in kubelet_conditions(&init_statuses, &regular, phase, !done) {
        let previous = old_conditions.iter().find(|o| o.type_ == c.type_ && o.status == c.status);
        c.last_transition_time = Some(previous.and_then(|p| p.last_transition_time.clone()).unwrap_or(Time(now)));
        conditions.push(c);
    }

    let (reason, message) = if deadline {
        (Some(DEADLINE_REASON.to_string()), Some(DEADLINE_MESSAGE.to_string()))
    } else {
        (old.reason.clone(), old.message.clone())
    };
    PodStatus {
        phase: Some(phase.into()),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: Some(node.host_ip.clone()),
        host_ips: Some(vec![HostIP { ip: node.host_ip.clone() }]),
        pod_ip: Some(node.pod_ip.clone()),
        pod_ips: Some(vec![PodIP { ip: node.pod_ip.clone() }]),
        start_time: Some(Time(model.start_time)),
        init_container_statuses: has_init.then_some(init),
        container_statuses: Some(regular),
        qos_class: old.qos_class.clone(),
        nominated_node_name: old.nominated_node_name.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
