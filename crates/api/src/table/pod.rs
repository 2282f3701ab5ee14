//! `kubectl get pods`: NAME READY STATUS RESTARTS AGE, wide IP NODE NOMINATED-NODE READINESS-GATES
//! (job-semantics §6.3, upstream `printPod`).

use crate::vocab::{ConditionStatus, PodConditionType, PodPhase};
use jiff::Timestamp;
use serde_json::Value;

use super::{AGE, Column, NAME, col, or_none, s, since};
use crate::codec::{Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition};
use crate::duration;

const COLUMNS: [Column; 9] = [
    NAME,
    col("Ready", "The aggregate readiness state of this pod for accepting traffic.", 0),
    col("Status", "The aggregate status of the containers in this pod.", 0),
    col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    col("IP", "IP address allocated to the pod.", 1),
    col("Node", "Name of the node the pod is bound to.", 1),
    col("Nominated Node", "Node the scheduler nominated for this pod while preempting.", 1),
    col("Readiness Gates", "Readiness gates that are True, of all the pod's readiness gates.", 1),
];

pub fn pod_columns() -> &'static [Column] {
    &COLUMNS
}

/// READY, STATUS and RESTARTS of a pod, before formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    pub ready: usize,
    /// Regular containers plus sidecars (init containers with `restartPolicy: Always`).
    pub total: usize,
    pub status: String,
    pub restarts: i64,
    /// The latest `lastState.terminated.finishedAt` among the counted containers.
    pub last_restart: Option<Timestamp>,
}

/// Tracks the restart count and the latest restart time of a set of containers.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, status: &ContainerStatus) {
        self.count += i64::from(status.restart_count);
        let finished =
            status.last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at.as_ref());
        if let Some(finished) = finished {
            self.last = self.last.max(Some(finished.0));
        }
    }
}

fn is_sidecar(container: Option<&Container>) -> bool {
    container.is_some_and(|c| c.restart_policy.as_deref() == Some("Always"))
}

fn condition_true(conditions: &[PodCondition], type_: PodConditionType) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == ConditionStatus::True)
}

/// `Signal:<n>` / `ExitCode:<n>` for a terminated container without a reason.
fn terminated_text(t: &ContainerStateTerminated) -> String {
    match t.signal {
        Some(signal) if signal != 0 => format!("Signal:{signal}"),
        _ => format!("ExitCode:{}", t.exit_code),
    }
}

fn waiting_reason(state: Option<&ContainerState>) -> Option<&str> {
    state.and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref()).filter(|r| !r.is_empty())
}

/// The READY/STATUS/RESTARTS derivation of upstream `printPod`, rule for rule.
pub fn pod_summary(pod: &Pod) -> PodSummary {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let init_containers = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
    let pod_reason = status.and_then(|s| s.reason.as_deref()).unwrap_or_default();

    let mut reason = if pod_reason.is_empty() { phase.to_string() } else { pod_reason.to_string() };
    if conditions
        .iter()
        .any(|c| c.type_ == PodConditionType::PodScheduled && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".to_string();
    }

    let total = spec.map_or(0, |s| s.containers.len()) + init_containers.iter().filter(|c| is_sidecar(Some(c))).count();
    let mut ready = 0;
    let mut all_restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();
    let mut initializing = false;

    let init_statuses = status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();
    for (i, cs) in init_statuses.iter().enumerate() {
        let sidecar = is_sidecar(init_containers.iter().find(|c| c.name == cs.name));
        all_restarts.add(cs);
        if sidecar {
            sidecar_restarts.add(cs);
        }
        let state = cs.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && cs.started == Some(true) {
            if cs.ready {
                ready += 1;
            }
            continue;
        }
        // The first init container that has not finished decides the status.
        reason = match (terminated, waiting_reason(state)) {
            (Some(t), _) => match t.reason.as_deref() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:{}", terminated_text(t)),
            },
            (None, Some(w)) if w != "PodInitializing" => format!("Init:{w}"),
            _ => format!("Init:{i}/{}", init_containers.len()),
        };
        initializing = true;
        break;
    }

    let mut restarts = all_restarts;
    if !initializing || condition_true(conditions, PodConditionType::Initialized) {
        // Once initialized, finished regular init containers no longer count towards RESTARTS.
        restarts = sidecar_restarts;
        let mut has_running = false;
        let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
        // Last to first, so the first container's state is the one left in `reason`.
        for cs in statuses.iter().rev() {
            restarts.add(cs);
            let state = cs.state.as_ref();
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(w) = waiting_reason(state) {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => terminated_text(t),
                };
            } else if cs.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason =
                if condition_true(conditions, PodConditionType::Ready) { "Running" } else { "NotReady" }.to_string();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if pod_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if !PodPhase::parse(phase).is_some_and(PodPhase::is_terminal) {
            reason = "Terminating".to_string();
        }
    }
    PodSummary { ready, total, status: reason, restarts: restarts.count, last_restart: restarts.last }
}

/// RESTARTS: `N`, or `N (<age> ago)` when a last restart time is known.
fn restarts_text(summary: &PodSummary, now: Timestamp) -> String {
    match summary.last_restart {
        Some(last) if summary.restarts != 0 => {
            format!("{} ({} ago)", summary.restarts, duration::since(last, now))
        }
        _ => summary.restarts.to_string(),
    }
}

fn readiness_gates(pod: &Pod) -> String {
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_deref()).unwrap_or_default();
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    // Only the first condition of each gate's type is consulted, as upstream.
    let passing = gates
        .iter()
        .filter(|g| {
            conditions.iter().find(|c| c.type_ == g.condition_type).is_some_and(|c| c.status == ConditionStatus::True)
        })
        .count();
    format!("{passing}/{}", gates.len())
}

pub fn pod_cells(pod: &Pod, now: Timestamp) -> Vec<Value> {
    let summary = pod_summary(pod);
    let status = pod.status.as_ref();
    // The first of podIPs; older writers set only podIP, which upstream's conversion folds into podIPs.
    let ip = status
        .and_then(|s| s.pod_ips.as_ref())
        .and_then(|ips| ips.first())
        .map(|p| p.ip.as_str())
        .or_else(|| status.and_then(|s| s.pod_ip.as_deref()));
    vec![
        s(pod.metadata.name.clone().unwrap_or_default()),
        s(format!("{}/{}", summary.ready, summary.total)),
        s(summary.status.clone()),
        s(restarts_text(&summary, now)),
        s(since(pod.metadata.creation_timestamp.as_ref(), now)),
        s(or_none(ip)),
        s(or_none(pod.spec.as_ref().and_then(|s| s.node_name.as_deref()))),
        s(or_none(status.and_then(|s| s.nominated_node_name.as_deref()))),
        s(readiness_gates(pod)),
    ]
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
