//! When a CronJob's Jobs are due (upstream `mostRecentScheduleTime`, `nextScheduleTime`,
//! `nextScheduleTimeDuration`, `formatSchedule`).

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use runlet_api::cron::{self, Schedule};
use runlet_codec::CronJob;

/// More missed start times than this and the CronJob gets a `TooManyMissedTimes` warning.
pub const MAX_MISSED_START_TIMES: i64 = 100;

/// Wake-ups are aimed this far after a scheduled time, so that a clock a little behind still sees it due.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// How many scheduled times passed without a Job since the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    /// More than [`MAX_MISSED_START_TIMES`].
    Many,
}

/// What [`most_recent`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    /// The last scheduled time, or the creation time (or the start of the starting deadline, when later).
    pub earliest: Timestamp,
    /// The latest scheduled time after `earliest` that is not after now.
    pub most_recent: Option<Timestamp>,
    pub missed: Missed,
}

/// A schedule that parses but never fires twice a second apart (`59 23 31 2 *`).
pub const INVALID_SCHEDULE: &str = "time difference between two schedules is less than 1 second";

/// The schedule text the controller parses: a `timeZone` becomes a `TZ=` prefix; a schedule that already has
/// one is used as it is (and gets an `UnsupportedSchedule` warning from the caller).
pub fn format_schedule(cj: &CronJob, local: &TimeZone) -> String {
    let spec = cj.spec.as_ref();
    let schedule = spec.map(|s| s.schedule.as_str()).unwrap_or_default();
    match spec.and_then(|s| s.time_zone.as_deref()) {
        Some(tz) if !schedule.contains("TZ") && cron::load_location(tz, local).is_ok() => {
            format!("TZ={tz} {schedule}")
        }
        _ => schedule.to_string(),
    }
}

/// Upstream `mostRecentScheduleTime`.
pub fn most_recent(
    cj: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    include_starting_deadline: bool,
) -> Result<Recent, &'static str> {
    let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
    let mut earliest = cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map_or(created, |t| t.0);
    let deadline = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds);
    if include_starting_deadline && let Some(deadline) = deadline {
        // Nothing before this is started any more.
        if let Ok(limit) = now.checked_sub(SignedDuration::from_secs(deadline))
            && limit > earliest
        {
            earliest = limit;
        }
    }
    let none = |most_recent| Ok(Recent { earliest, most_recent, missed: Missed::None });
    let t1 = schedule.next(earliest);
    let t2 = t1.and_then(|t| schedule.next(t));
    match (t1, t2) {
        (Some(t1), _) if now < t1 => return none(None),
        (Some(t1), Some(t2)) if now < t2 => return none(Some(t1)),
        _ => {}
    }
    let (Some(t1), Some(t2)) = (t1, t2) else { return Err(INVALID_SCHEDULE) };
    let between = round_to_seconds(t2.duration_since(t1));
    if between < 1 {
        return Err(INVALID_SCHEDULE);
    }
    // A rough count: how many intervals of the first two fit between the first and now.
    let elapsed = now.duration_since(t1).as_secs();
    let missed_count = elapsed / between + 1;
    // Start one interval before the estimated last one and let the schedule find the exact times (schedules
    // need not be regular: `30 6-16/4 * * 1-5`).
    let from = t1.checked_add(SignedDuration::from_secs((missed_count - 2) * between)).unwrap_or(t1);
    let mut most_recent = None;
    let mut t = schedule.next(from);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = schedule.next(at);
    }
    let missed = if missed_count > MAX_MISSED_START_TIMES {
        Missed::Many
    } else if missed_count > 0 {
        Missed::Few
    } else {
        Missed::None
    };
    Ok(Recent { earliest, most_recent, missed })
}

/// Go's `Duration.Round(time.Second)` in whole seconds (halves away from zero).
fn round_to_seconds(d: SignedDuration) -> i64 {
    let nanos = d.as_nanos();
    let rounded =
        if nanos >= 0 { (nanos + 500_000_000) / 1_000_000_000 } else { (nanos - 500_000_000) / 1_000_000_000 };
    rounded as i64
}

/// How long to wait before looking at the CronJob again: until its next scheduled time (plus
/// [`NEXT_SCHEDULE_DELTA`]); None when the schedule has no next time.
pub fn requeue_after(cj: &CronJob, now: Timestamp, schedule: &Schedule) -> Option<Duration> {
    let base = match most_recent(cj, now, schedule, false) {
        Err(_) => now,
        Ok(Recent { most_recent: Some(t), .. }) => t,
        Ok(Recent { most_recent: None, missed: Missed::None, earliest }) => earliest,
        Ok(Recent { most_recent: None, .. }) => now,
    };
    let next = schedule.next(base)?;
    let wait = Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
    Some(wait + NEXT_SCHEDULE_DELTA)
}
