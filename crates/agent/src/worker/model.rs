//! The pure state of one pod on the node and the kubelet's decisions about it: which container starts
//! next, whether a finished container restarts and when, when the pod is done. No I/O; the worker loop
//! feeds events in and carries decisions out.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use runlet_codec::Pod;

use super::backoff::{BackoffConfig, BackoffEntry, plan_restart};
use super::probe::{Outcome, ProbeKind, ProbeResult, Probes, Timing, kill_message};
use super::shutdown::{MINIMUM_GRACE, Member, Shutdown};
use crate::runtime::FinishedRun;
use crate::runtime::state::{ExitRecord, PodTerminationCause};

/// How long a container whose configuration cannot be satisfied waits before it is tried again.
pub const CONFIG_RETRY: Duration = Duration::from_secs(2);
/// The kubelet's image pull back-off: first delay and cap.
pub const IMAGE_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const IMAGE_BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// The pod's policy; Kubernetes defaults a missing one to `Always`.
    pub fn of(pod: &Pod) -> Self {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }
}

/// How one container run ended, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Bare id (without `runlet://`); empty when unknown.
    pub container_id: String,
}

/// `Completed` for exit 0, `Error` otherwise, `OOMKilled` when the OOM killer fired.
pub fn terminated_reason(exit_code: i32, oom_killed: bool) -> &'static str {
    match (oom_killed, exit_code) {
        (true, _) => "OOMKilled",
        (false, 0) => "Completed",
        (false, _) => "Error",
    }
}

impl Termination {
    pub fn from_exit(record: &ExitRecord, container_id: &str) -> Self {
        Termination {
            exit_code: record.exit_code,
            reason: record
                .reason
                .clone()
                .unwrap_or_else(|| terminated_reason(record.exit_code, record.oom_killed).to_string()),
            message: record.message.clone(),
            started_at: record.started_at,
            finished_at: Some(record.finished_at),
            container_id: container_id.to_string(),
        }
    }

    pub fn from_run(run: &FinishedRun) -> Self {
        Termination::from_exit(&run.record, &run.container_id)
    }
}

/// Whether a container that exited with `exit_code` runs again.
pub fn should_restart(policy: RestartPolicy, init: bool, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always if !init => true,
        // Init containers of `Always` pods restart only on failure, like `OnFailure`.
        RestartPolicy::Always | RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// The state of a container's latest run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Not started yet (`ContainerCreating`, or `PodInitializing` in pods with init containers).
    NotStarted,
    /// Its configuration cannot be satisfied (`CreateContainerConfigError`) yet: a ConfigMap or Secret it
    /// needs may still appear, so it is tried again at `retry_at`.
    ConfigError {
        message: String,
        retry_at: Timestamp,
    },
    /// Its image is not on the node (`oci` handler): the waiting `reason` is `ErrImagePull` (or
    /// `ErrImageNeverPull`, `InvalidImageName`) right after a failed attempt, then `ImagePullBackOff` until
    /// `backoff_until`. Looked at again at `retry_at`.
    ImagePull {
        reason: String,
        message: String,
        retry_at: Timestamp,
        backoff_until: Timestamp,
    },
    Running {
        started_at: Timestamp,
        container_id: String,
    },
    /// Ended and will not run again.
    Terminated(Termination),
    /// Ended and restarts at `restart_at` (`CrashLoopBackOff` while `delay` is not zero).
    BackingOff {
        last: Termination,
        restart_at: Timestamp,
        delay: Duration,
    },
}

/// One container of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub image: String,
    pub init: bool,
    /// An init container with `restartPolicy: Always` (a native sidecar): it keeps running next to the main
    /// containers, restarts whenever it exits, and is stopped once they have finished.
    pub sidecar: bool,
    /// Runs started so far; the next run's attempt number, and `restartCount + 1` once it ran.
    pub runs: u32,
    pub state: SlotState,
    /// The run before the latest one (the API's `lastState` while the latest runs or ended for good).
    pub previous: Option<Termination>,
    pub backoff: Option<BackoffEntry>,
    /// The image back-off's current delay, after a failed pull (reset by a successful one).
    pub pull_delay: Option<Duration>,
    /// The container's probes, and their state for the latest run.
    pub probe_timings: Vec<(ProbeKind, Timing)>,
    pub probes: Probes,
    /// A probe failure had the run killed and it runs again whatever its exit code (the kubelet restarts it
    /// unless the pod's policy is `Never`).
    pub restart_after_kill: bool,
    /// When the running container is to be SIGKILLed (it has had its SIGTERM).
    pub kill_at: Option<Timestamp>,
    /// The status's `imageID`: the image the latest run was started from (empty for the process handler).
    pub image_id: String,
}

impl Slot {
    pub fn new(name: &str, image: &str, init: bool) -> Self {
        Slot {
            name: name.to_string(),
            image: image.to_string(),
            init,
            sidecar: false,
            runs: 0,
            state: SlotState::NotStarted,
            previous: None,
            backoff: None,
            pull_delay: None,
            probe_timings: Vec::new(),
            probes: Probes::default(),
            restart_after_kill: false,
            kill_at: None,
            image_id: String::new(),
        }
    }

    pub fn restart_count(&self) -> i32 {
        i32::try_from(self.runs.saturating_sub(1)).unwrap_or(i32::MAX)
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, SlotState::Terminated(t) if t.exit_code == 0)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, SlotState::Running { .. })
    }

    /// Running and past its startup probe, if it has one (the API's `started`).
    pub fn started(&self) -> bool {
        self.is_running() && self.probes.started()
    }

    /// Running, started, and past its readiness probe, if it has one (the API's `ready` of a running
    /// container).
    pub fn ready(&self) -> bool {
        self.is_running() && self.probes.ready()
    }

    /// Whether the next init container may start after this one: it succeeded, or it is a sidecar that runs
    /// and has passed its startup probe.
    fn lets_init_proceed(&self) -> bool {
        self.succeeded() || (self.sidecar && self.started())
    }
}

/// Identifies a container: `init` selects `initContainers`, `index` the position in the spec list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId {
    pub init: bool,
    pub index: usize,
}

/// What the worker must do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub start: Vec<SlotId>,
    /// Probes to run now (mark each with [`PodModel::probe_started`]).
    pub probes: Vec<(SlotId, ProbeKind)>,
    pub terminate: Option<PodTerminationCause>,
    /// When to decide again even if nothing happens (a back-off ending, the active deadline).
    pub wake_at: Option<Timestamp>,
}

/// The pod as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodModel {
    pub policy: RestartPolicy,
    pub init: Vec<Slot>,
    pub regular: Vec<Slot>,
    /// `status.startTime`: when the agent accepted the pod; the active deadline counts from here.
    pub start_time: Timestamp,
    pub active_deadline: Option<Duration>,
    pub termination: Option<PodTerminationCause>,
    /// The order containers are being stopped in, once the pod is being torn down.
    pub shutdown: Option<Shutdown>,
    pub backoff: BackoffConfig,
}

/// A probe failure that stops a container: SIGTERM now (with this `Killing` message), SIGKILL at the slot's
/// `kill_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeKill {
    pub message: String,
}

/// What the worker must signal now while the pod is being stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopSteps {
    pub term: Vec<SlotId>,
    pub kill: Vec<SlotId>,
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)).unwrap_or(t)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl PodModel {
    pub fn new(pod: &Pod, start_time: Timestamp, backoff: BackoffConfig) -> Self {
        let spec = pod.spec.as_ref();
        let slots = |list: Option<&Vec<runlet_codec::Container>>, init: bool| -> Vec<Slot> {
            list.into_iter()
                .flatten()
                .map(|c| Slot {
                    sidecar: init && c.restart_policy.as_deref() == Some("Always"),
                    probe_timings: Probes::timings(c),
                    ..Slot::new(&c.name, c.image.as_deref().unwrap_or(""), init)
                })
                .collect()
        };
        PodModel {
            policy: RestartPolicy::of(pod),
            init: slots(spec.and_then(|s| s.init_containers.as_ref()), true),
            regular: slots(spec.map(|s| &s.containers), false),
            start_time,
            active_deadline: spec
                .and_then(|s| s.active_deadline_seconds)
                .map(|secs| Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
            termination: None,
            shutdown: None,
            backoff,
        }
    }

    pub fn slot(&self, id: SlotId) -> &Slot {
        if id.init { &self.init[id.index] } else { &self.regular[id.index] }
    }

    fn slot_mut(&mut self, id: SlotId) -> &mut Slot {
        if id.init { &mut self.init[id.index] } else { &mut self.regular[id.index] }
    }

    pub fn ids(&self) -> impl Iterator<Item = SlotId> + '_ {
        let init = (0..self.init.len()).map(|index| SlotId { init: true, index });
        init.chain((0..self.regular.len()).map(|index| SlotId { init: false, index }))
    }

    pub fn running(&self) -> Vec<SlotId> {
        self.ids().filter(|id| matches!(self.slot(*id).state, SlotState::Running { .. })).collect()
    }

    /// The first init container that has not succeeded, if any.
    fn pending_init(&self) -> Option<usize> {
        self.init.iter().position(|s| !s.lets_init_proceed())
    }

    /// Sidecars still running although every main container has finished for good: time to stop them.
    pub fn sidecars_to_stop(&self) -> bool {
        self.termination.is_none()
            && !self.regular.is_empty()
            && self.regular.iter().all(|s| matches!(s.state, SlotState::Terminated(_)))
            && self.init.iter().any(|s| s.sidecar && s.is_running())
    }

    /// An init container failed for good (only under `restartPolicy: Never`).
    pub fn init_failed(&self) -> bool {
        self.pending_init()
            .is_some_and(|i| !self.init[i].sidecar && matches!(self.init[i].state, SlotState::Terminated(_)))
    }

    /// When the active deadline runs out.
    pub fn deadline(&self) -> Option<Timestamp> {
        let d = SignedDuration::try_from(self.active_deadline?).ok()?;
        self.start_time.checked_add(d).ok()
    }

    /// Nothing runs and nothing will run again: the pod has reached its terminal phase.
    pub fn is_done(&self) -> bool {
        if !self.running().is_empty() {
            return false;
        }
        if self.termination.is_some() || self.init_failed() {
            return true;
        }
        self.pending_init().is_none() && self.regular.iter().all(|s| matches!(s.state, SlotState::Terminated(_)))
    }

    /// What to do at `now`.
    pub fn decide(&self, now: Timestamp) -> Decision {
        let mut decision = Decision::default();
        for slot in self.init.iter().chain(&self.regular) {
            decision.wake_at = earliest(decision.wake_at, slot.kill_at);
        }
        decision.wake_at = earliest(decision.wake_at, self.shutdown.as_ref().and_then(Shutdown::wake_at));
        if self.termination.is_some() || self.is_done() {
            return decision;
        }
        // Probes run while containers run (and not once the pod is being stopped).
        for id in self.running() {
            let probes = &self.slot(id).probes;
            decision.probes.extend(probes.due(now).into_iter().map(|kind| (id, kind)));
            decision.wake_at = earliest(decision.wake_at, probes.next_due());
        }
        if let Some(deadline) = self.deadline() {
            if now >= deadline {
                decision.terminate = Some(PodTerminationCause::DeadlineExceeded);
                return decision;
            }
            decision.wake_at = earliest(decision.wake_at, Some(deadline));
        }
        let consider = |id: SlotId, slot: &Slot, decision: &mut Decision| match &slot.state {
            SlotState::NotStarted => decision.start.push(id),
            SlotState::BackingOff { restart_at, .. } if *restart_at <= now => decision.start.push(id),
            SlotState::BackingOff { restart_at, .. } => {
                decision.wake_at = Some(decision.wake_at.map_or(*restart_at, |w| w.min(*restart_at)));
            }
            SlotState::ConfigError { retry_at, .. } | SlotState::ImagePull { retry_at, .. } if *retry_at <= now => {
                decision.start.push(id)
            }
            SlotState::ConfigError { retry_at, .. } | SlotState::ImagePull { retry_at, .. } => {
                decision.wake_at = Some(decision.wake_at.map_or(*retry_at, |w| w.min(*retry_at)));
            }
            _ => {}
        };
        // Init containers run one at a time, in order; regular containers only after all succeeded.
        // Sidecars that started before are restarted whenever they exit, while the pod runs.
        for (index, slot) in self.init.iter().enumerate() {
            if slot.sidecar && slot.runs > 0 && matches!(slot.state, SlotState::BackingOff { .. }) {
                consider(SlotId { init: true, index }, slot, &mut decision);
            }
        }
        if let Some(index) = self.pending_init() {
            if !decision.start.contains(&SlotId { init: true, index }) {
                consider(SlotId { init: true, index }, &self.init[index], &mut decision);
            }
            return decision;
        }
        for (index, slot) in self.regular.iter().enumerate() {
            consider(SlotId { init: false, index }, slot, &mut decision);
        }
        decision
    }

    pub fn on_started(&mut self, id: SlotId, started_at: Timestamp, container_id: &str) {
        let slot = self.slot_mut(id);
        begin_run(slot);
        slot.probes = Probes::new(&slot.probe_timings, started_at);
        slot.state = SlotState::Running { started_at, container_id: container_id.to_string() };
    }

    /// A probe of run `run` (the slot's `runs` when it began) is being run now.
    pub fn probe_started(&mut self, id: SlotId, kind: ProbeKind, now: Timestamp) {
        self.slot_mut(id).probes.begin(kind, now);
    }

    /// A probe attempt of run `run` ended. A liveness or startup probe that now fails stops the container
    /// (SIGKILL after `grace`, the probe's or the pod's grace period); it then runs again unless the pod's
    /// policy is `Never` (a sidecar always does).
    pub fn on_probe_result(
        &mut self,
        id: SlotId,
        kind: ProbeKind,
        run: u32,
        outcome: &Outcome,
        now: Timestamp,
        grace: Duration,
    ) -> Option<ProbeKill> {
        let policy = self.policy;
        let stopping = self.termination.is_some();
        let slot = self.slot_mut(id);
        if slot.runs != run || !slot.is_running() {
            return None; // an attempt on a run that has ended
        }
        let changed = slot.probes.record(kind, outcome, now);
        let failed = changed == Some(ProbeResult::Failure) && matches!(kind, ProbeKind::Liveness | ProbeKind::Startup);
        if !failed || stopping {
            return None;
        }
        let restart = slot.sidecar || policy != RestartPolicy::Never;
        slot.restart_after_kill = restart;
        slot.kill_at = Some(after(now, grace.max(MINIMUM_GRACE)));
        Some(ProbeKill { message: kill_message(kind, &slot.name, slot.sidecar, restart) })
    }

    /// A run that never got a process (exec failed): counts as a run that ended at once.
    pub fn on_start_failed(&mut self, id: SlotId, termination: Termination, now: Timestamp) {
        begin_run(self.slot_mut(id));
        self.on_exited(id, termination, now);
    }

    /// The container cannot be created yet; it is tried again after [`CONFIG_RETRY`].
    pub fn on_config_error(&mut self, id: SlotId, message: String, now: Timestamp) {
        let retry_at = now.checked_add(SignedDuration::try_from(CONFIG_RETRY).unwrap_or_default()).unwrap_or(now);
        self.slot_mut(id).state = SlotState::ConfigError { message, retry_at };
    }

    /// Pulling the container's image failed: `reason` now, `ImagePullBackOff` from the next look (a second
    /// later, as the kubelet's next sync), and a new attempt once the image back-off has passed (10 s,
    /// doubling up to 5 minutes, as the kubelet's).
    pub fn on_image_pull_failed(&mut self, id: SlotId, reason: &str, message: String, now: Timestamp) {
        let slot = self.slot_mut(id);
        let delay = slot.pull_delay.map_or(IMAGE_BACKOFF_INITIAL, |d| (d * 2).min(IMAGE_BACKOFF_MAX));
        slot.pull_delay = Some(delay);
        let at = |d: Duration| now.checked_add(SignedDuration::try_from(d).unwrap_or_default()).unwrap_or(now);
        slot.state = SlotState::ImagePull {
            reason: reason.to_string(),
            message,
            retry_at: at(Duration::from_secs(1)),
            backoff_until: at(delay),
        };
    }

    /// Whether the container's image is in back-off at `now`; if so the container waits with
    /// `ImagePullBackOff` until the back-off ends, and this returns the image for the `BackOff` event.
    pub fn image_backoff(&mut self, id: SlotId, now: Timestamp) -> Option<String> {
        let slot = self.slot_mut(id);
        let SlotState::ImagePull { reason, backoff_until, .. } = &slot.state else { return None };
        if now >= *backoff_until || reason == "ImagePullBackOff" {
            return None;
        }
        let until = *backoff_until;
        let message = format!("Back-off pulling image {:?}", slot.image);
        slot.state = SlotState::ImagePull {
            reason: "ImagePullBackOff".to_string(),
            message,
            retry_at: until,
            backoff_until: until,
        };
        Some(slot.image.clone())
    }

    /// The image is there: its back-off is over.
    pub fn on_image_ready(&mut self, id: SlotId, image_id: String) {
        let slot = self.slot_mut(id);
        slot.pull_delay = None;
        slot.image_id = image_id;
    }

    /// A run ended: it restarts (now or after a back-off) or stays terminated.
    pub fn on_exited(&mut self, id: SlotId, termination: Termination, now: Timestamp) {
        let slot = self.slot(id);
        let restart = self.termination.is_none()
            && (slot.sidecar || slot.restart_after_kill || should_restart(self.policy, id.init, termination.exit_code));
        let config = self.backoff;
        let slot = self.slot_mut(id);
        slot.kill_at = None;
        slot.state = if restart {
            let plan = plan_restart(slot.backoff, termination.finished_at.unwrap_or(now), config);
            slot.backoff = Some(plan.entry);
            SlotState::BackingOff { last: termination, restart_at: plan.restart_at, delay: plan.delay }
        } else {
            SlotState::Terminated(termination)
        };
    }

    /// The containers are being stopped from `now` with `grace` (see [`Shutdown`]); a later stop can only
    /// shorten it.
    pub fn begin_stop(&mut self, now: Timestamp, grace: Duration) {
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.shorten(now, grace);
            // No grace at all (the pod object is gone) kills at once; otherwise the kubelet's minimum holds.
            let window = if grace.is_zero() { Duration::ZERO } else { grace.max(MINIMUM_GRACE) };
            for slot in self.init.iter_mut().chain(self.regular.iter_mut()) {
                if let Some(kill_at) = slot.kill_at {
                    slot.kill_at = Some(kill_at.min(after(now, window)));
                }
            }
            return;
        }
        let members: Vec<Member> = self
            .ids()
            .map(|id| Member { id, sidecar: self.slot(id).sidecar, running: self.slot(id).is_running() })
            .collect();
        self.shutdown = Some(Shutdown::new(&members, now, grace));
    }

    /// While stopping: the containers to send SIGTERM to now (their SIGKILL time is set), and those to
    /// SIGKILL now.
    pub fn stop_steps(&mut self, now: Timestamp) -> StopSteps {
        let mut steps = StopSteps::default();
        if let Some(mut shutdown) = self.shutdown.take() {
            let turns = shutdown.turns(now, |id| self.slot(id).is_running());
            self.shutdown = Some(shutdown);
            for (id, kill_at) in turns {
                let slot = self.slot_mut(id);
                if slot.is_running() {
                    slot.kill_at = Some(slot.kill_at.map_or(kill_at, |k| k.min(kill_at)));
                    steps.term.push(id);
                }
            }
        }
        for id in self.ids().collect::<Vec<_>>() {
            let slot = self.slot_mut(id);
            if slot.is_running() && slot.kill_at.is_some_and(|k| k <= now) {
                slot.kill_at = None;
                steps.kill.push(id);
            }
        }
        steps
    }

    /// The pod is being torn down: pending restarts are cancelled.
    pub fn begin_termination(&mut self, cause: PodTerminationCause) {
        if self.termination.is_none() {
            self.termination = Some(cause);
        }
        for id in self.ids().collect::<Vec<_>>() {
            let slot = self.slot_mut(id);
            if let SlotState::BackingOff { last, delay, .. } = &slot.state
                && delay.is_zero()
            {
                // An immediate restart that had not happened yet: the run stays terminated.
                slot.state = SlotState::Terminated(last.clone());
            }
        }
    }
}

/// Moves the latest run into `previous` as a new run begins.
fn begin_run(slot: &mut Slot) {
    match std::mem::replace(&mut slot.state, SlotState::NotStarted) {
        SlotState::BackingOff { last, .. } | SlotState::Terminated(last) => slot.previous = Some(last),
        _ => {}
    }
    slot.runs += 1;
    slot.restart_after_kill = false;
    slot.kill_at = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{Container, PodSpec};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn pod(policy: &str, init: &[&str], regular: &[&str], deadline: Option<i64>) -> Pod {
        let containers = |names: &[&str]| {
            names.iter().map(|n| Container { name: n.to_string(), ..Default::default() }).collect::<Vec<_>>()
        };
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                init_containers: (!init.is_empty()).then(|| containers(init)),
                containers: containers(regular),
                active_deadline_seconds: deadline,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exit(code: i32, finished: i64) -> Termination {
        Termination {
            exit_code: code,
            reason: terminated_reason(code, false).into(),
            message: None,
            started_at: Some(at(finished - 1)),
            finished_at: Some(at(finished)),
            container_id: "c".into(),
        }
    }

    const I0: SlotId = SlotId { init: true, index: 0 };
    const I1: SlotId = SlotId { init: true, index: 1 };
    const R0: SlotId = SlotId { init: false, index: 0 };
    const R1: SlotId = SlotId { init: false, index: 1 };

    #[test]
    fn restart_rules_table() {
        use RestartPolicy::*;
        let cases = [
            (Always, false, 0, true),
            (Always, false, 1, true),
            (Always, true, 0, false),
            (Always, true, 1, true),
            (OnFailure, false, 0, false),
            (OnFailure, false, 2, true),
            (OnFailure, true, 1, true),
            (Never, false, 1, false),
            (Never, true, 1, false),
        ];
        for (policy, init, code, want) in cases {
            assert_eq!(should_restart(policy, init, code), want, "{policy:?} init={init} code={code}");
        }
        assert_eq!(terminated_reason(137, true), "OOMKilled");
        assert_eq!(terminated_reason(0, false), "Completed");
        assert_eq!(terminated_reason(143, false), "Error");
    }

    #[test]
    fn regular_containers_start_together_after_init_containers_in_order() {
        let mut m = PodModel::new(&pod("Never", &["a", "b"], &["x", "y"], None), at(0), BackoffConfig::default());
        assert_eq!(m.decide(at(1)).start, [I0]);
        m.on_started(I0, at(1), "i0");
        assert_eq!(m.decide(at(1)).start, []);
        m.on_exited(I0, exit(0, 2), at(2));
        assert_eq!(m.decide(at(2)).start, [I1]);
        m.on_started(I1, at(2), "i1");
        m.on_exited(I1, exit(0, 3), at(3));
        assert_eq!(m.decide(at(3)).start, [R0, R1]);
        m.on_started(R0, at(3), "r0");
        m.on_started(R1, at(3), "r1");
        m.on_exited(R0, exit(0, 4), at(4));
        assert!(!m.is_done());
        m.on_exited(R1, exit(1, 5), at(5));
        assert!(m.is_done());
        assert_eq!(m.decide(at(6)), Decision::default());
    }

    #[test]
    fn failed_init_container_under_never_ends_the_pod() {
        let mut m = PodModel::new(&pod("Never", &["a"], &["x"], None), at(0), BackoffConfig::default());
        m.on_started(I0, at(1), "i0");
        m.on_exited(I0, exit(1, 2), at(2));
        assert!(m.init_failed());
        assert!(m.is_done());
        assert_eq!(m.regular[0].state, SlotState::NotStarted);
    }

    #[test]
    fn on_failure_restarts_in_place_with_back_off() {
        let config = BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(300) };
        let mut m = PodModel::new(&pod("OnFailure", &[], &["x"], None), at(0), config);
        m.on_started(R0, at(1), "run0");
        m.on_exited(R0, exit(1, 2), at(2));
        // First failure: immediate restart.
        assert_eq!(m.decide(at(2)).start, [R0]);
        m.on_started(R0, at(2), "run1");
        assert_eq!(m.regular[0].restart_count(), 1);
        assert_eq!(m.regular[0].previous.as_ref().map(|t| t.exit_code), Some(1));
        m.on_exited(R0, exit(3, 4), at(4));
        // Second failure: waits 10 s.
        let decision = m.decide(at(5));
        assert_eq!((decision.start.len(), decision.wake_at), (0, Some(at(14))));
        assert!(matches!(m.regular[0].state, SlotState::BackingOff { delay, .. } if delay == Duration::from_secs(10)));
        assert_eq!(m.decide(at(14)).start, [R0]);
        m.on_started(R0, at(14), "run2");
        assert_eq!(m.regular[0].restart_count(), 2);
        assert_eq!(m.regular[0].previous.as_ref().map(|t| t.exit_code), Some(3));
        m.on_exited(R0, exit(0, 20), at(20));
        assert!(m.is_done());
    }

    #[test]
    fn deadline_terminates_and_wakes() {
        let mut m = PodModel::new(&pod("Never", &[], &["x"], Some(30)), at(100), BackoffConfig::default());
        let d = m.decide(at(101));
        assert_eq!((d.start, d.terminate, d.wake_at), (vec![R0], None, Some(at(130))));
        m.on_started(R0, at(101), "r");
        assert_eq!(m.decide(at(130)).terminate, Some(PodTerminationCause::DeadlineExceeded));
        m.begin_termination(PodTerminationCause::DeadlineExceeded);
        assert!(!m.is_done());
        m.on_exited(R0, exit(143, 131), at(131));
        assert!(m.is_done());
    }

    #[test]
    fn termination_cancels_restarts() {
        let mut m = PodModel::new(&pod("OnFailure", &[], &["x", "y"], None), at(0), BackoffConfig::default());
        m.on_started(R0, at(1), "r0");
        m.on_started(R1, at(1), "r1");
        m.on_exited(R0, exit(1, 2), at(2));
        m.begin_termination(PodTerminationCause::Stopped);
        assert!(matches!(m.regular[0].state, SlotState::Terminated(_)));
        assert_eq!(m.decide(at(3)).start, []);
        m.on_exited(R1, exit(1, 3), at(3));
        assert!(matches!(m.regular[1].state, SlotState::Terminated(_)), "no restart while terminating");
        assert!(m.is_done());
    }

    #[test]
    fn exec_failures_count_as_runs() {
        let mut m = PodModel::new(&pod("Never", &[], &["x"], None), at(0), BackoffConfig::default());
        let failed = Termination { reason: "ContainerCannotRun".into(), ..exit(128, 1) };
        m.on_start_failed(R0, failed, at(1));
        assert_eq!((m.regular[0].runs, m.regular[0].restart_count()), (1, 0));
        assert!(m.is_done());
    }

    #[test]
    fn sidecars_run_next_to_the_main_containers_and_are_stopped_after_them() {
        let mut p = pod("Never", &["setup", "proxy"], &["main"], None);
        p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[1].restart_policy = Some("Always".into());
        let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
        assert_eq!(m.decide(at(1)).start, [I0]);
        m.on_started(I0, at(1), "i0");
        m.on_exited(I0, exit(0, 2), at(2));
        assert_eq!(m.decide(at(2)).start, [I1]);
        m.on_started(I1, at(2), "sidecar");
        // The sidecar runs: the main container starts next to it.
        assert_eq!(m.decide(at(3)).start, [R0]);
        m.on_started(R0, at(3), "main");
        // A sidecar that exits is restarted, whatever the pod's restartPolicy.
        m.on_exited(I1, exit(1, 4), at(4));
        assert_eq!(m.decide(at(4)).start, [I1]);
        m.on_started(I1, at(4), "sidecar-2");
        assert!(!m.sidecars_to_stop());
        m.on_exited(R0, exit(0, 5), at(5));
        assert!(m.sidecars_to_stop());
        assert!(!m.is_done());
        m.begin_termination(PodTerminationCause::Stopped);
        m.on_exited(I1, exit(143, 6), at(6));
        assert!(m.is_done());
        assert!(matches!(m.slot(I1).state, SlotState::Terminated(_)), "no restart once stopped");
    }

    #[test]
    fn config_errors_are_retried() {
        let mut m = PodModel::new(&pod("Never", &[], &["x"], None), at(0), BackoffConfig::default());
        m.on_config_error(R0, "configmap \"x\" not found".into(), at(10));
        assert_eq!(m.decide(at(11)), Decision { wake_at: Some(at(12)), ..Decision::default() });
        assert!(!m.is_done());
        assert_eq!(m.decide(at(12)).start, [R0]);
        assert_eq!(m.slot(R0).runs, 0, "a configuration error is not a run");
    }

    fn exec_probe(period: i32, failure: i32) -> runlet_codec::k8s_openapi::api::core::v1::Probe {
        runlet_codec::k8s_openapi::api::core::v1::Probe {
            exec: Some(runlet_codec::k8s_openapi::api::core::v1::ExecAction { command: Some(vec!["true".into()]) }),
            period_seconds: Some(period),
            failure_threshold: Some(failure),
            ..Default::default()
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_sidecar_startup_probe_gates_the_next_init_container() {
        let mut p = pod("Never", &["proxy", "setup"], &["main"], None);
        let init = p.spec.as_mut().unwrap().init_containers.as_mut().unwrap();
        init[0].restart_policy = Some("Always".into());
        init[0].startup_probe = Some(exec_probe(1, 3));
        let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
        m.on_started(I0, at(1), "proxy");
        let d = m.decide(at(1));
        assert_eq!((d.start, d.probes), (vec![], vec![(I0, ProbeKind::Startup)]), "setup waits for the probe");
        m.probe_started(I0, ProbeKind::Startup, at(1));
        assert_eq!(m.on_probe_result(I0, ProbeKind::Startup, 1, &Outcome::Failure("no".into()), at(1), SECOND), None);
        assert_eq!(m.decide(at(2)).start, []);
        m.probe_started(I0, ProbeKind::Startup, at(2));
        m.on_probe_result(I0, ProbeKind::Startup, 1, &Outcome::Success, at(2), SECOND);
        assert_eq!(m.decide(at(2)).start, [I1], "started: the next init container begins");
        // An outcome from an earlier run of the container is ignored.
        assert_eq!(m.on_probe_result(I0, ProbeKind::Startup, 0, &Outcome::Failure("old".into()), at(3), SECOND), None);
    }

    #[test]
    fn a_failed_liveness_probe_kills_and_restarts_per_policy() {
        for (policy, restarts, message) in [
            ("OnFailure", true, "Container main failed liveness probe, will be restarted"),
            ("Never", false, "Container main failed liveness probe"),
        ] {
            let mut p = pod(policy, &[], &["main"], None);
            p.spec.as_mut().unwrap().containers[0].liveness_probe = Some(exec_probe(1, 2));
            let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
            m.on_started(R0, at(0), "r");
            let fail = Outcome::Failure("dead".into());
            assert_eq!(m.on_probe_result(R0, ProbeKind::Liveness, 1, &fail, at(1), Duration::from_secs(30)), None);
            let kill = m.on_probe_result(R0, ProbeKind::Liveness, 1, &fail, at(2), Duration::from_secs(30));
            assert_eq!(kill, Some(ProbeKill { message: message.into() }), "{policy}");
            assert_eq!(m.slot(R0).kill_at, Some(at(32)));
            assert_eq!(m.stop_steps(at(31)), StopSteps::default());
            assert_eq!(m.stop_steps(at(32)).kill, [R0], "SIGKILL once the grace period is over");
            // It handled SIGTERM and exited 0: under OnFailure it still runs again, as the kubelet restarts it.
            m.on_exited(R0, exit(0, 33), at(33));
            assert_eq!(m.decide(at(33)).start.len(), usize::from(restarts), "{policy}");
            if restarts {
                m.on_started(R0, at(33), "r2");
                assert!(m.slot(R0).probes.get(ProbeKind::Liveness).is_some_and(|t| t.result == ProbeResult::Success));
                m.on_exited(R0, exit(0, 34), at(34));
                assert!(m.is_done(), "a normal exit 0 afterwards ends it");
            } else {
                assert!(m.is_done());
            }
        }
    }

    #[test]
    fn stopping_takes_sidecars_down_last_in_reverse_order() {
        let mut p = pod("Never", &["a", "b"], &["main"], None);
        for c in p.spec.as_mut().unwrap().init_containers.as_mut().unwrap() {
            c.restart_policy = Some("Always".into());
        }
        let mut m = PodModel::new(&p, at(0), BackoffConfig::default());
        for id in [I0, I1, R0] {
            m.on_started(id, at(0), "x");
        }
        m.begin_termination(PodTerminationCause::Stopped);
        m.begin_stop(at(10), Duration::from_secs(30));
        assert_eq!(m.stop_steps(at(10)).term, [R0]);
        assert_eq!(m.decide(at(10)).wake_at, Some(at(40)));
        m.on_exited(R0, exit(143, 11), at(11));
        assert_eq!(m.stop_steps(at(11)).term, [I1]);
        m.on_exited(I1, exit(0, 12), at(12));
        assert_eq!(m.stop_steps(at(12)).term, [I0]);
        assert_eq!(m.slot(I0).kill_at, Some(at(40)));
        // A second, shorter stop moves the SIGKILL forward, never sooner than two seconds; none at all kills now.
        m.begin_stop(at(13), Duration::from_secs(1));
        assert_eq!(m.slot(I0).kill_at, Some(at(15)));
        m.begin_stop(at(14), Duration::ZERO);
        assert_eq!(m.stop_steps(at(14)).kill, [I0]);
    }

    #[test]
    fn failed_pulls_show_err_image_pull_then_back_off() {
        let mut m = PodModel::new(&pod("Never", &[], &["x"], None), at(0), BackoffConfig::default());
        let reason = |m: &PodModel| match &m.slot(R0).state {
            SlotState::ImagePull { reason, retry_at, .. } => (reason.clone(), *retry_at),
            other => panic!("{other:?}"),
        };
        m.on_image_pull_failed(R0, "ErrImagePull", "Failed to pull image".into(), at(0));
        assert_eq!(reason(&m), ("ErrImagePull".to_string(), at(1)));
        assert!(m.decide(at(0)).start.is_empty());
        // A second later the worker looks again and finds the back-off: ImagePullBackOff until 10 s.
        assert_eq!(m.decide(at(1)).start, [R0]);
        assert!(m.image_backoff(R0, at(1)).is_some());
        assert_eq!(reason(&m), ("ImagePullBackOff".to_string(), at(10)));
        assert_eq!(m.decide(at(5)).wake_at, Some(at(10)));
        // At 10 s the pull is tried again; another failure doubles the back-off.
        assert_eq!(m.decide(at(10)).start, [R0]);
        assert!(m.image_backoff(R0, at(10)).is_none());
        m.on_image_pull_failed(R0, "ErrImagePull", "again".into(), at(10));
        assert!(m.image_backoff(R0, at(11)).is_some());
        assert_eq!(reason(&m), ("ImagePullBackOff".to_string(), at(30)));
        // A pull that works resets it.
        m.on_image_ready(R0, "docker://sha256:abc".to_string());
        assert_eq!(m.slot(R0).pull_delay, None);
    }
}
