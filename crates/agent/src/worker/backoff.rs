//! Crash-loop back-off, as the kubelet's per-container `flowcontrol.Backoff` behaves: the first restart
//! after a failure is immediate and arms a 10 s back-off; each later failure waits the current back-off and
//! doubles it, up to 300 s; a failure more than twice the cap after the last restart starts over.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Back-off lengths; injectable so tests do not wait minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(300) }
    }
}

/// A container's back-off state: the wait that the next failure will get, and when it was last renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffEntry {
    pub delay: Duration,
    pub last_update: Timestamp,
}

/// When a failed container restarts, and the back-off state once it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPlan {
    pub restart_at: Timestamp,
    /// How long it waits (zero for an immediate restart); the `back-off <delay>` of the waiting message.
    pub delay: Duration,
    pub entry: BackoffEntry,
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(t)
}

/// Plans the restart of a container that failed at `finished_at`.
pub fn plan_restart(entry: Option<BackoffEntry>, finished_at: Timestamp, config: BackoffConfig) -> RestartPlan {
    let reset_after = config.max.saturating_mul(2);
    let live = entry.filter(|e| {
        let since = finished_at.duration_since(e.last_update);
        // Expired entries (a long clean run) restart the sequence.
        SignedDuration::try_from(reset_after).is_ok_and(|reset| since <= reset)
    });
    match live {
        None => RestartPlan {
            restart_at: finished_at,
            delay: Duration::ZERO,
            entry: BackoffEntry { delay: config.initial.min(config.max), last_update: finished_at },
        },
        Some(e) => {
            let restart_at = add(finished_at, e.delay);
            RestartPlan {
                restart_at,
                delay: e.delay,
                entry: BackoffEntry { delay: e.delay.saturating_mul(2).min(config.max), last_update: restart_at },
            }
        }
    }
}

/// Go's `time.Duration.String()` (`10s`, `1m20s`, `5m0s`, `1.5s`, `500ms`), which the kubelet's messages use.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let fraction = |value: u128, unit: u128, suffix: &str| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            format!("{whole}{suffix}")
        } else {
            let digits = unit.ilog10() as usize;
            let frac = format!("{rest:0digits$}");
            format!("{whole}.{}{suffix}", frac.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return fraction(nanos, 1_000_000, "ms");
    }
    let total_secs = nanos / 1_000_000_000;
    let hours = total_secs / 3600;
    let minutes = total_secs % 3600 / 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000, "s");
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn kubelet_sequence_immediate_then_doubling_to_the_cap() {
        let config = BackoffConfig::default();
        // (finished_at relative to the previous restart, expected wait)
        let mut entry = None;
        let mut clock = 1000;
        let mut waits = Vec::new();
        for _ in 0..9 {
            let plan = plan_restart(entry, at(clock), config);
            waits.push(plan.delay.as_secs());
            entry = Some(plan.entry);
            // The container runs 1 s after each restart before failing again.
            clock = plan.restart_at.as_second() + 1;
        }
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn plan_table() {
        let config = BackoffConfig::default();
        let entry = |delay, last| Some(BackoffEntry { delay: Duration::from_secs(delay), last_update: at(last) });
        // (entry, finished_at, want restart_at, want delay, want next delay)
        let cases = [
            (None, 100, 100, 0, 10),
            (entry(10, 100), 105, 115, 10, 20),
            (entry(160, 0), 50, 210, 160, 300),
            (entry(300, 0), 10, 310, 300, 300),
            // Exactly twice the cap is not expired yet; one second more is.
            (entry(40, 0), 600, 640, 40, 80),
            (entry(40, 0), 601, 601, 0, 10),
        ];
        for (entry, finished, restart_at, delay, next) in cases {
            let plan = plan_restart(entry, at(finished), config);
            assert_eq!(
                (plan.restart_at, plan.delay.as_secs(), plan.entry.delay.as_secs()),
                (at(restart_at), delay, next),
                "entry {entry:?} finished {finished}"
            );
        }
    }

    #[test]
    fn injected_config_is_used() {
        let config = BackoffConfig { initial: Duration::from_millis(100), max: Duration::from_millis(300) };
        let first = plan_restart(None, at(10), config);
        let second = plan_restart(Some(first.entry), at(10), config);
        assert_eq!((second.delay, second.entry.delay), (Duration::from_millis(100), Duration::from_millis(200)));
    }

    #[test]
    fn go_duration_table() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(80), "1m20s"),
            (Duration::from_secs(160), "2m40s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(42), "42ns"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }
}
