//! Cron schedules as Kubernetes reads them: robfig/cron v3's `ParseStandard` (five fields — minute, hour,
//! day of month, month, day of week — or a `@yearly`-style descriptor, or `@every <duration>`, optionally led
//! by `TZ=<zone>`/`CRON_TZ=<zone>`), with its error messages, and its `Next` (the first activation after a
//! time, in the schedule's time zone, with its DST behaviour).
//!
//! - [`parse_standard`] → [`Schedule`]; [`Schedule::next`].
//! - [`load_location`]: Go's `time.LoadLocation` over the IANA database (jiff's).

mod duration;
mod fields;
mod next;

#[cfg(test)]
mod tests;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use duration::parse_go_duration;
use fields::Bounds;

/// A schedule that does not parse; the text is robfig/cron's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Five fields or a descriptor such as `@hourly`.
    Spec(SpecSchedule),
    /// `@every <duration>`: a fixed delay (whole seconds, at least one).
    Every(SignedDuration),
}

/// The bit sets of a crontab line (bit `n` set when value `n` matches; bit 63 when the field was `*` or `?`),
/// and the time zone its fields are read in.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSchedule {
    pub second: u64,
    pub minute: u64,
    pub hour: u64,
    pub dom: u64,
    pub month: u64,
    pub dow: u64,
    pub location: TimeZone,
}

/// Set when a field was `*` or `?`: it changes how day of month and day of week combine.
pub(crate) const STAR_BIT: u64 = 1 << 63;

impl Schedule {
    /// The first activation strictly after `t` (robfig's `Next`); None when there is none within five years.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Spec(spec) => spec.next(t),
            Schedule::Every(delay) => {
                let nanos = t.as_nanosecond().rem_euclid(1_000_000_000);
                let step = delay.checked_sub(SignedDuration::from_nanos(nanos as i64))?;
                t.checked_add(step).ok()
            }
        }
    }
}

/// robfig/cron's `ParseStandard`: `local` is the zone of a schedule that names none (Go's `time.Local`).
pub fn parse_standard(spec: &str, local: &TimeZone) -> Result<Schedule, ScheduleError> {
    if spec.is_empty() {
        return Err(err("empty spec string"));
    }
    let mut spec = spec;
    let mut location = local.clone();
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        // robfig slices up to the first space and panics without one; here the whole rest is the zone then.
        let eq = spec.find('=').unwrap_or(0);
        let space = spec.find(' ').unwrap_or(spec.len());
        let name = &spec[eq + 1..space];
        location = load_location(name, local).map_err(|e| err(format!("provided bad location {name}: {e}")))?;
        spec = spec[space..].trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec, location);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" "))));
    }
    Ok(Schedule::Spec(SpecSchedule {
        second: 1,
        minute: fields::get_field(fields[0], &fields::MINUTES)?,
        hour: fields::get_field(fields[1], &fields::HOURS)?,
        dom: fields::get_field(fields[2], &fields::DOM)?,
        month: fields::get_field(fields[3], &fields::MONTHS)?,
        dow: fields::get_field(fields[4], &fields::DOW)?,
        location,
    }))
}

fn parse_descriptor(descriptor: &str, location: TimeZone) -> Result<Schedule, ScheduleError> {
    let all = |b: &Bounds| fields::bits(b.min, b.max, 1) | STAR_BIT;
    let first = |b: &Bounds| 1u64 << b.min;
    let (minute, hour, dom, month, dow) = match descriptor {
        "@yearly" | "@annually" => (1, 1, first(&fields::DOM), first(&fields::MONTHS), all(&fields::DOW)),
        "@monthly" => (1, 1, first(&fields::DOM), all(&fields::MONTHS), all(&fields::DOW)),
        "@weekly" => (1, 1, all(&fields::DOM), all(&fields::MONTHS), first(&fields::DOW)),
        "@daily" | "@midnight" => (1, 1, all(&fields::DOM), all(&fields::MONTHS), all(&fields::DOW)),
        "@hourly" => (1, all(&fields::HOURS), all(&fields::DOM), all(&fields::MONTHS), all(&fields::DOW)),
        _ => {
            let Some(text) = descriptor.strip_prefix("@every ") else {
                return Err(err(format!("unrecognized descriptor: {descriptor}")));
            };
            let d = parse_go_duration(text).map_err(|e| err(format!("failed to parse duration {descriptor}: {e}")))?;
            // Less than a second counts as one; fractions of a second are dropped.
            let d = d.max(SignedDuration::from_secs(1));
            return Ok(Schedule::Every(SignedDuration::from_secs(d.as_secs())));
        }
    };
    Ok(Schedule::Spec(SpecSchedule { second: 1, minute, hour, dom, month, dow, location }))
}

fn err(text: impl Into<String>) -> ScheduleError {
    ScheduleError(text.into())
}

/// Go's `time.LoadLocation`: `""` and `UTC` are UTC, `Local` is `local`, anything else an IANA name, matched
/// exactly (Go's lookup is case-sensitive).
pub fn load_location(name: &str, local: &TimeZone) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => return Ok(TimeZone::UTC),
        "Local" => return Ok(local.clone()),
        _ => {}
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".to_string());
    }
    match TimeZone::get(name) {
        Ok(tz) if tz.iana_name() == Some(name) => Ok(tz),
        _ => Err(format!("unknown time zone {name}")),
    }
}
