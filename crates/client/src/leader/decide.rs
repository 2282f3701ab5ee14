//! The pure core of Lease-based leader election, with client-go's rules: given what the Lease says,
//! when this candidate first saw it so, and the time now, decide to create it, take or renew it,
//! or stand by. Expiry is judged on the candidate's own monotonic clock from when it observed the
//! record change, never on the holder's `renewTime`, so clocks that disagree cannot elect two leaders.

use std::time::{Duration, Instant};

use jiff::Timestamp;

/// The timings of an election (kube-controller-manager's `--leader-elect-*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionConfig {
    /// How long a candidate waits after it last saw the leader's record change before taking over.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal. Shorter than `lease_duration`,
    /// so a leader that cannot renew stops before anyone else may start.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for ElectionConfig {
    /// Upstream's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        ElectionConfig {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the lease duration ({lease:?}) must be longer than the renew deadline ({renew:?})")]
    LeaseNotLongerThanDeadline { lease: Duration, renew: Duration },
    #[error("the renew deadline ({renew:?}) must be longer than the retry period ({retry:?})")]
    DeadlineNotLongerThanRetry { renew: Duration, retry: Duration },
    #[error("the retry period must be positive")]
    ZeroRetry,
}

impl ElectionConfig {
    /// client-go's checks: lease duration > renew deadline > retry period > 0.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::LeaseNotLongerThanDeadline {
                lease: self.lease_duration,
                renew: self.renew_deadline,
            });
        }
        if self.renew_deadline <= self.retry_period {
            return Err(ConfigError::DeadlineNotLongerThanRetry {
                renew: self.renew_deadline,
                retry: self.retry_period,
            });
        }
        if self.retry_period.is_zero() {
            return Err(ConfigError::ZeroRetry);
        }
        Ok(())
    }
}

/// What a Lease's spec says, in the terms the election uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// None or empty: nobody holds it.
    pub holder: Option<String>,
    pub duration_seconds: Option<i32>,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    pub transitions: i32,
}

impl LeaseRecord {
    fn holder(&self) -> Option<&str> {
        self.holder.as_deref().filter(|h| !h.is_empty())
    }
}

/// The last record a candidate saw and when it first saw it, by its own clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub record: Option<LeaseRecord>,
    pub since: Instant,
}

impl Observation {
    pub fn new(now: Instant) -> Observation {
        Observation { record: None, since: now }
    }

    /// What was read at `now`: a record that differs from the last one restarts the clock.
    pub fn saw(self, record: Option<&LeaseRecord>, now: Instant) -> Observation {
        if self.record.as_ref() == record { self } else { Observation { record: record.cloned(), since: now } }
    }
}

/// What to do after reading the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// There is no Lease: create it, naming this candidate.
    Create(LeaseRecord),
    /// Write this record over the one read (compare-and-swap on what was read): a renewal when this
    /// candidate already holds it, a take-over otherwise.
    Update(LeaseRecord),
    /// Another candidate holds a lease that has not run out.
    StandBy { holder: String },
}

/// Decides the next step for candidate `me`. `observed` must already include `read`.
pub fn decide(
    read: Option<&LeaseRecord>,
    observed: &Observation,
    now: Instant,
    wall: Timestamp,
    me: &str,
    config: &ElectionConfig,
) -> Step {
    let Some(read) = read else {
        return Step::Create(LeaseRecord {
            holder: Some(me.to_owned()),
            duration_seconds: Some(seconds(config.lease_duration)),
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: 0,
        });
    };
    if let Some(holder) = read.holder()
        && holder != me
    {
        // The holder's own declared duration counts, as client-go reads it from the record.
        let duration = read
            .duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(config.lease_duration, Duration::from_secs);
        if observed.since + duration > now {
            return Step::StandBy { holder: holder.to_owned() };
        }
    }
    let renewing = read.holder() == Some(me);
    Step::Update(LeaseRecord {
        holder: Some(me.to_owned()),
        duration_seconds: Some(seconds(config.lease_duration)),
        acquire_time: if renewing { read.acquire_time.or(Some(wall)) } else { Some(wall) },
        renew_time: Some(wall),
        transitions: if renewing { read.transitions } else { read.transitions.saturating_add(1) },
    })
}

/// True while a leader whose last successful renewal was at `renewed` may go on leading.
pub fn still_leading(renewed: Instant, now: Instant, config: &ElectionConfig) -> bool {
    now < renewed + config.renew_deadline
}

/// The record that gives the lease up, if `me` holds it: nobody holds it, and it runs out in a
/// second (client-go's release), so a standing-by candidate takes over at its next attempt.
pub fn release(read: &LeaseRecord, me: &str, wall: Timestamp) -> Option<LeaseRecord> {
    (read.holder() == Some(me)).then_some(LeaseRecord {
        holder: None,
        duration_seconds: Some(1),
        acquire_time: Some(wall),
        renew_time: Some(wall),
        transitions: read.transitions,
    })
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "me";

    fn held_by(holder: &str, transitions: i32) -> LeaseRecord {
        LeaseRecord {
            holder: Some(holder.to_owned()),
            duration_seconds: Some(15),
            acquire_time: Some(Timestamp::UNIX_EPOCH),
            renew_time: Some(Timestamp::UNIX_EPOCH),
            transitions,
        }
    }

    /// A step as text: `create(holder,transitions)`, `take(...)`, `renew(...)`, `standby(holder)`.
    fn summary(step: &Step, wall: Timestamp) -> String {
        match step {
            Step::Create(r) => format!("create({},{})", r.holder.as_deref().unwrap_or("-"), r.transitions),
            Step::Update(r) => {
                let verb = if r.acquire_time == Some(wall) { "take" } else { "renew" };
                assert_eq!(r.renew_time, Some(wall));
                assert_eq!(r.duration_seconds, Some(15));
                format!("{verb}({},{})", r.holder.as_deref().unwrap_or("-"), r.transitions)
            }
            Step::StandBy { holder } => format!("standby({holder})"),
        }
    }

    #[test]
    fn steps() {
        let start = Instant::now();
        let wall = Timestamp::from_second(1_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let config = ElectionConfig::default();
        let s = Duration::from_secs;
        let nobody = LeaseRecord { holder: None, ..held_by("", 4) };
        let empty = LeaseRecord { holder: Some(String::new()), ..held_by("", 4) };
        let short = LeaseRecord { duration_seconds: Some(1), ..held_by("other", 2) };
        // (case, lease read, seen unchanged for, expected step)
        let cases: Vec<(&str, Option<LeaseRecord>, Duration, &str)> = vec![
            ("no lease", None, s(0), "create(me,0)"),
            ("another holder, just seen", Some(held_by("other", 2)), s(0), "standby(other)"),
            ("another holder, seen 14 s", Some(held_by("other", 2)), s(14), "standby(other)"),
            ("another holder, unchanged 15 s", Some(held_by("other", 2)), s(15), "take(me,3)"),
            ("another holder, unchanged a minute", Some(held_by("other", 2)), s(60), "take(me,3)"),
            ("the holder's own duration counts", Some(short), s(1), "take(me,3)"),
            ("released (no holder)", Some(nobody), s(0), "take(me,5)"),
            ("released (empty holder)", Some(empty), s(0), "take(me,5)"),
            ("held by me", Some(held_by(ME, 7)), s(0), "renew(me,7)"),
            ("held by me, long unchanged", Some(held_by(ME, 7)), s(60), "renew(me,7)"),
        ];
        for (name, read, unchanged_for, want) in cases {
            let observed = Observation::new(start).saw(read.as_ref(), start);
            let step = decide(read.as_ref(), &observed, start + unchanged_for, wall, ME, &config);
            assert_eq!(summary(&step, wall), want, "{name}");
        }
    }

    #[test]
    fn observing_restarts_the_clock_only_on_change() {
        let start = Instant::now();
        let later = start + Duration::from_secs(10);
        let a = held_by("other", 1);
        let renewed = LeaseRecord { renew_time: Some(Timestamp::from_second(5).unwrap_or_default()), ..a.clone() };
        let observed = Observation::new(start).saw(Some(&a), start);
        assert_eq!(observed.clone().saw(Some(&a), later).since, start, "same record");
        assert_eq!(observed.clone().saw(Some(&renewed), later).since, later, "renewed");
        assert_eq!(observed.saw(None, later).since, later, "deleted");
        // A leader that renews every 2 s is never taken over: each renewal restarts the clock.
        let config = ElectionConfig::default();
        let mut observed = Observation::new(start);
        for tick in 0..20u64 {
            let now = start + Duration::from_secs(2 * tick);
            let record = LeaseRecord {
                renew_time: Some(Timestamp::from_second(2 * tick as i64).unwrap_or_default()),
                ..a.clone()
            };
            observed = observed.saw(Some(&record), now);
            let step = decide(Some(&record), &observed, now, Timestamp::UNIX_EPOCH, ME, &config);
            assert_eq!(step, Step::StandBy { holder: "other".into() }, "tick {tick}");
        }
    }

    #[test]
    fn a_leader_stops_before_anyone_may_take_over() {
        let start = Instant::now();
        let config = ElectionConfig::default();
        let cases = [(0, true), (9, true), (10, false), (11, false)];
        for (after, leading) in cases {
            assert_eq!(still_leading(start, start + Duration::from_secs(after), &config), leading, "{after}s");
        }
        assert!(config.renew_deadline < config.lease_duration);
    }

    #[test]
    fn release_only_what_is_held() {
        let wall = Timestamp::from_second(50).unwrap_or_default();
        let released = release(&held_by(ME, 3), ME, wall);
        assert_eq!(
            released,
            Some(LeaseRecord {
                holder: None,
                duration_seconds: Some(1),
                acquire_time: Some(wall),
                renew_time: Some(wall),
                transitions: 3
            })
        );
        assert_eq!(release(&held_by("other", 3), ME, wall), None);
    }

    #[test]
    fn config_checks() {
        let s = Duration::from_secs;
        let config = |lease, renew, retry| ElectionConfig {
            lease_duration: s(lease),
            renew_deadline: s(renew),
            retry_period: s(retry),
        };
        let cases = [
            (config(15, 10, 2), true),
            (config(10, 10, 2), false),
            (config(15, 2, 2), false),
            (config(15, 10, 0), false),
        ];
        for (config, ok) in cases {
            assert_eq!(config.validate().is_ok(), ok, "{config:?}");
        }
    }
}
