//! The kubelet's prober for one container run, without I/O: when each probe is due, how outcomes count
//! against the thresholds, and what a crossed threshold means (started, ready, or a container to kill). The
//! worker runs the probes ([`crate::runtime::probe`]) and feeds their outcomes back.
//!
//! As the kubelet does: a startup probe runs first and stops once it succeeded; liveness and readiness wait
//! for it. Each probe starts `initialDelaySeconds` after the container started and repeats every
//! `periodSeconds`; `successThreshold` successes or `failureThreshold` failures in a row change its result.
//! Readiness starts as failure, liveness as success, startup as unknown. A liveness or startup probe that
//! failed holds until the container runs again. Probes that could not be run at all (an unknown port name)
//! are discarded.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use runlet_api::event::EventType;
use runlet_codec::Container;
use runlet_codec::k8s_openapi::api::core::v1::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [ProbeKind::Startup, ProbeKind::Readiness, ProbeKind::Liveness];

    /// The name events use: `Liveness probe failed: ...`.
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        }
    }

    /// This kind's probe of `container`, if it has one.
    pub fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => container.startup_probe.as_ref(),
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
        }
    }

    fn initial_result(self) -> ProbeResult {
        match self {
            ProbeKind::Startup => ProbeResult::Unknown,
            ProbeKind::Readiness => ProbeResult::Failure,
            ProbeKind::Liveness => ProbeResult::Success,
        }
    }
}

/// What a probe currently says (the kubelet's `results.Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

/// A probe's timing fields, with the API's defaults for unset or zero values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    pub fn of(probe: &Probe) -> Timing {
        let positive =
            |v: Option<i32>, default: u32| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0).unwrap_or(default);
        Timing {
            initial_delay: Duration::from_secs(u64::from(positive(probe.initial_delay_seconds, 0))),
            period: Duration::from_secs(u64::from(positive(probe.period_seconds, 10))),
            timeout: Duration::from_secs(u64::from(positive(probe.timeout_seconds, 1))),
            success_threshold: positive(probe.success_threshold, 1),
            failure_threshold: positive(probe.failure_threshold, 3),
        }
    }
}

/// How one probe attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Counts as a success, with a `ProbeWarning` event (an HTTP redirect to another host, not followed).
    Warning(String),
    Failure(String),
    /// The probe could not be run (an unknown port name, ...): an event, and the attempt does not count.
    Error(String),
}

/// The kubelet's event for an attempt, if any: `(type, reason, message)`.
pub fn outcome_event(kind: ProbeKind, outcome: &Outcome) -> Option<(EventType, &'static str, String)> {
    let title = kind.title();
    match outcome {
        Outcome::Success => None,
        Outcome::Warning(output) => {
            Some((EventType::Warning, "ProbeWarning", format!("{title} probe warning: {output}")))
        }
        Outcome::Failure(output) => Some((EventType::Warning, "Unhealthy", format!("{title} probe failed: {output}"))),
        Outcome::Error(error) => Some((EventType::Warning, "Unhealthy", format!("{title} probe errored: {error}"))),
    }
}

/// One probe of one container run (the kubelet's probe worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub kind: ProbeKind,
    pub timing: Timing,
    pub result: ProbeResult,
    /// Whether the last counted attempt succeeded, and how many in a row went that way.
    last: Option<bool>,
    run: u32,
    /// After a liveness or startup failure: no more attempts for this run.
    on_hold: bool,
    in_flight: bool,
    /// When the next attempt is due; `None` while it waits for the startup probe.
    next_at: Option<Timestamp>,
}

impl Tracker {
    fn new(kind: ProbeKind, timing: Timing) -> Tracker {
        Tracker {
            kind,
            timing,
            result: kind.initial_result(),
            last: None,
            run: 0,
            on_hold: false,
            in_flight: false,
            next_at: None,
        }
    }

    fn is_due(&self, now: Timestamp) -> bool {
        let finished = self.kind == ProbeKind::Startup && self.result == ProbeResult::Success;
        !self.on_hold && !self.in_flight && !finished && self.next_at.is_some_and(|t| t <= now)
    }

    /// Counts an attempt; returns the new result when it changed.
    fn record(&mut self, success: bool) -> Option<ProbeResult> {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success { self.timing.success_threshold } else { self.timing.failure_threshold };
        if self.run < threshold {
            return None;
        }
        let result = if success { ProbeResult::Success } else { ProbeResult::Failure };
        if !success && matches!(self.kind, ProbeKind::Liveness | ProbeKind::Startup) {
            self.on_hold = true;
            self.run = 0;
        }
        let changed = self.result != result;
        self.result = result;
        changed.then_some(result)
    }
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)).unwrap_or(t)
}

/// The probes of one container run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probes {
    trackers: Vec<Tracker>,
    started_at: Option<Timestamp>,
}

impl Probes {
    /// The timings of `container`'s probes (kept by the model for each run).
    pub fn timings(container: &Container) -> Vec<(ProbeKind, Timing)> {
        ProbeKind::ALL.iter().filter_map(|k| k.of(container).map(|p| (*k, Timing::of(p)))).collect()
    }

    /// A run that started at `started_at`: the startup probe (or, without one, the others) scheduled.
    pub fn new(timings: &[(ProbeKind, Timing)], started_at: Timestamp) -> Probes {
        let mut probes = Probes {
            trackers: timings.iter().map(|(k, t)| Tracker::new(*k, *t)).collect(),
            started_at: Some(started_at),
        };
        let has_startup = probes.get(ProbeKind::Startup).is_some();
        for t in &mut probes.trackers {
            if t.kind == ProbeKind::Startup || !has_startup {
                t.next_at = Some(after(started_at, t.timing.initial_delay));
            }
        }
        probes
    }

    pub fn get(&self, kind: ProbeKind) -> Option<&Tracker> {
        self.trackers.iter().find(|t| t.kind == kind)
    }

    fn get_mut(&mut self, kind: ProbeKind) -> Option<&mut Tracker> {
        self.trackers.iter_mut().find(|t| t.kind == kind)
    }

    /// Started: no startup probe, or it succeeded.
    pub fn started(&self) -> bool {
        self.get(ProbeKind::Startup).is_none_or(|t| t.result == ProbeResult::Success)
    }

    /// Ready: started, and no readiness probe or it succeeded.
    pub fn ready(&self) -> bool {
        self.started() && self.get(ProbeKind::Readiness).is_none_or(|t| t.result == ProbeResult::Success)
    }

    /// The probes to run at `now`.
    pub fn due(&self, now: Timestamp) -> Vec<ProbeKind> {
        self.trackers.iter().filter(|t| t.is_due(now)).map(|t| t.kind).collect()
    }

    /// When the next attempt is due (for the worker's wake-up).
    pub fn next_due(&self) -> Option<Timestamp> {
        let waiting = |t: &&Tracker| !t.on_hold && !t.in_flight;
        self.trackers
            .iter()
            .filter(waiting)
            .filter(|t| !(t.kind == ProbeKind::Startup && t.result == ProbeResult::Success))
            .filter_map(|t| t.next_at)
            .min()
    }

    /// An attempt of `kind` begins: the next one is a period later (or right after this one, if it takes
    /// longer, as a Go ticker would).
    pub fn begin(&mut self, kind: ProbeKind, now: Timestamp) {
        if let Some(t) = self.get_mut(kind) {
            t.in_flight = true;
            t.next_at = Some(after(now, t.timing.period));
        }
    }

    /// An attempt ended at `now`; returns the probe's new result when it changed.
    pub fn record(&mut self, kind: ProbeKind, outcome: &Outcome, now: Timestamp) -> Option<ProbeResult> {
        let t = self.get_mut(kind)?;
        t.in_flight = false;
        let changed = match outcome {
            Outcome::Success | Outcome::Warning(_) => t.record(true),
            Outcome::Failure(_) => t.record(false),
            Outcome::Error(_) => None,
        };
        if kind == ProbeKind::Startup && changed == Some(ProbeResult::Success) {
            // Liveness and readiness begin now (readiness at once, as the kubelet triggers it), but not before
            // their own initial delay.
            let started_at = self.started_at.unwrap_or(now);
            for other in self.trackers.iter_mut().filter(|t| t.kind != ProbeKind::Startup) {
                other.next_at = Some(after(started_at, other.timing.initial_delay).max(now));
            }
        }
        changed
    }
}

/// The message of the `Killing` event when a probe's failure stops a container: regular containers say
/// whether they will be restarted, sidecars (always restarted) do not.
pub fn kill_message(kind: ProbeKind, container: &str, sidecar: bool, restart: bool) -> String {
    let what = if kind == ProbeKind::Startup { "startup" } else { "liveness" };
    match (sidecar, restart) {
        (true, _) => format!("Init container {container} failed {what} probe"),
        (false, true) => format!("Container {container} failed {what} probe, will be restarted"),
        (false, false) => format!("Container {container} failed {what} probe"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn timing(initial: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(initial),
            period: Duration::from_secs(period),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn defaults_replace_unset_and_zero_fields() {
        let t = Timing::of(&Probe { period_seconds: Some(0), failure_threshold: Some(5), ..Default::default() });
        assert_eq!(t, Timing { failure_threshold: 5, ..timing(0, 10, 1, 3) });
    }

    #[test]
    fn thresholds_table() {
        // (kind, success threshold, failure threshold, attempts, results after each attempt)
        use ProbeResult::*;
        let ok = || Outcome::Success;
        let bad = || Outcome::Failure("x".into());
        let err = || Outcome::Error("port".into());
        type Case = (ProbeKind, u32, u32, Vec<Outcome>, Vec<ProbeResult>);
        let cases: Vec<Case> = vec![
            (
                ProbeKind::Readiness,
                1,
                3,
                vec![ok(), bad(), bad(), bad(), ok()],
                vec![Success, Success, Success, Failure, Success],
            ),
            (
                ProbeKind::Readiness,
                2,
                1,
                vec![ok(), ok(), bad(), ok(), ok()],
                vec![Failure, Success, Failure, Failure, Success],
            ),
            (ProbeKind::Readiness, 1, 2, vec![bad(), err(), bad()], vec![Failure, Failure, Failure]),
            (ProbeKind::Liveness, 1, 2, vec![bad(), ok(), bad(), bad()], vec![Success, Success, Success, Failure]),
            (ProbeKind::Startup, 1, 3, vec![bad(), bad(), ok()], vec![Unknown, Unknown, Success]),
            (ProbeKind::Liveness, 1, 1, vec![Outcome::Warning("redirect".into())], vec![Success]),
        ];
        for (kind, success, failure, attempts, want) in cases {
            let mut p = Probes::new(&[(kind, timing(0, 1, success, failure))], at(0));
            let mut got = Vec::new();
            for (i, outcome) in attempts.iter().enumerate() {
                p.begin(kind, at(i as i64));
                p.record(kind, outcome, at(i as i64));
                got.push(p.get(kind).unwrap().result);
            }
            assert_eq!(got, want, "{kind:?} {success}/{failure} {attempts:?}");
        }
    }

    #[test]
    fn schedule_follows_initial_delay_and_period() {
        let mut p = Probes::new(&[(ProbeKind::Readiness, timing(5, 10, 1, 3))], at(100));
        assert!(!p.ready(), "readiness starts as failure");
        assert_eq!((p.due(at(104)), p.next_due()), (vec![], Some(at(105))));
        assert_eq!(p.due(at(105)), [ProbeKind::Readiness]);
        p.begin(ProbeKind::Readiness, at(105));
        assert_eq!(p.due(at(106)), [], "one attempt at a time");
        assert_eq!(p.next_due(), None);
        assert_eq!(p.record(ProbeKind::Readiness, &Outcome::Success, at(106)), Some(ProbeResult::Success));
        assert!(p.ready());
        assert_eq!(p.next_due(), Some(at(115)));
        // An attempt longer than the period: the next one follows at once.
        p.begin(ProbeKind::Readiness, at(115));
        p.record(ProbeKind::Readiness, &Outcome::Success, at(127));
        assert_eq!(p.due(at(127)), [ProbeKind::Readiness]);
    }

    #[test]
    fn startup_gates_the_others_and_liveness_failure_holds() {
        let timings = [
            (ProbeKind::Startup, timing(0, 1, 1, 2)),
            (ProbeKind::Readiness, timing(3, 10, 1, 3)),
            (ProbeKind::Liveness, timing(0, 5, 1, 1)),
        ];
        let mut p = Probes::new(&timings, at(0));
        assert!(!p.started() && !p.ready());
        assert_eq!(p.due(at(0)), [ProbeKind::Startup]);
        p.begin(ProbeKind::Startup, at(0));
        p.record(ProbeKind::Startup, &Outcome::Success, at(1));
        assert!(p.started());
        assert!(!p.ready(), "readiness has not succeeded yet");
        // Readiness waits out its own delay; liveness runs now; the startup probe is done.
        assert_eq!(p.due(at(1)), [ProbeKind::Liveness]);
        assert_eq!(p.due(at(3)), [ProbeKind::Readiness, ProbeKind::Liveness]);
        p.begin(ProbeKind::Liveness, at(3));
        assert_eq!(
            p.record(ProbeKind::Liveness, &Outcome::Failure("HTTP probe failed with statuscode: 500".into()), at(3)),
            Some(ProbeResult::Failure)
        );
        assert_eq!(p.due(at(100)), [ProbeKind::Readiness], "liveness holds until the next run");
    }

    #[test]
    fn a_failed_startup_probe_holds_and_never_starts_the_container() {
        let mut p =
            Probes::new(&[(ProbeKind::Startup, timing(0, 1, 1, 2)), (ProbeKind::Liveness, timing(0, 1, 1, 1))], at(0));
        for i in 0..2 {
            p.begin(ProbeKind::Startup, at(i));
            p.record(ProbeKind::Startup, &Outcome::Failure("no".into()), at(i));
        }
        assert_eq!(p.get(ProbeKind::Startup).unwrap().result, ProbeResult::Failure);
        assert!(!p.started());
        assert_eq!((p.due(at(50)), p.next_due()), (vec![], None));
    }

    #[test]
    fn messages() {
        assert_eq!(
            outcome_event(ProbeKind::Liveness, &Outcome::Failure("HTTP probe failed with statuscode: 500".into())),
            Some((
                EventType::Warning,
                "Unhealthy",
                "Liveness probe failed: HTTP probe failed with statuscode: 500".into()
            ))
        );
        assert_eq!(
            outcome_event(ProbeKind::Readiness, &Outcome::Error("port x not found".into())),
            Some((EventType::Warning, "Unhealthy", "Readiness probe errored: port x not found".into()))
        );
        assert_eq!(outcome_event(ProbeKind::Startup, &Outcome::Success), None);
        assert_eq!(
            kill_message(ProbeKind::Liveness, "web", false, true),
            "Container web failed liveness probe, will be restarted"
        );
        assert_eq!(kill_message(ProbeKind::Startup, "web", false, false), "Container web failed startup probe");
        assert_eq!(kill_message(ProbeKind::Startup, "proxy", true, true), "Init container proxy failed startup probe");
    }
}
