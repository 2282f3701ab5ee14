//! robfig/cron's `SpecSchedule.Next`: walk forward field by field (month, day, hour, minute, second) in the
//! schedule's time zone, resetting the smaller fields the first time a larger one moves, and starting over when
//! a field wraps. Go's calendar arithmetic is reproduced too (`time.Date` normalising a wall time that a DST
//! change skips or repeats, `AddDate`, `Truncate`), so schedules land where Kubernetes' land around DST.

use jiff::civil::{self, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::{STAR_BIT, SpecSchedule};

const HOUR: SignedDuration = SignedDuration::from_hours(1);
const MINUTE: SignedDuration = SignedDuration::from_mins(1);
const SECOND: SignedDuration = SignedDuration::from_secs(1);

impl SpecSchedule {
    /// The first activation strictly after `t`, or None if none comes within five years.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let tz = &self.location;
        // The upcoming whole second.
        let nanos = t.as_nanosecond().rem_euclid(1_000_000_000) as i64;
        let mut t = t.checked_add(SECOND - SignedDuration::from_nanos(nanos)).ok()?;
        let mut added = false;
        let year_limit = tz.to_datetime(t).year() + 5;
        'wrap: loop {
            let c = tz.to_datetime(t);
            if c.year() > year_limit {
                return None;
            }
            while !has(self.month, c_month(tz, t)) {
                if !added {
                    added = true;
                    let c = tz.to_datetime(t);
                    t = go_date(tz, c.year(), c.month(), 1, 0, 0, 0)?;
                }
                t = add_date(tz, t, 1, 0)?;
                if tz.to_datetime(t).month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(tz.to_datetime(t)) {
                if !added {
                    added = true;
                    let c = tz.to_datetime(t);
                    t = go_date(tz, c.year(), c.month(), c.day(), 0, 0, 0)?;
                }
                t = add_date(tz, t, 0, 1)?;
                // Where DST moved midnight, get back to it.
                let hour = i64::from(tz.to_datetime(t).hour());
                if hour != 0 {
                    let shift = if hour > 12 { 24 - hour } else { -hour };
                    t = t.checked_add(SignedDuration::from_hours(shift)).ok()?;
                }
                if tz.to_datetime(t).day() == 1 {
                    continue 'wrap;
                }
            }
            while !has(self.hour, tz.to_datetime(t).hour()) {
                if !added {
                    added = true;
                    let c = tz.to_datetime(t);
                    t = go_date(tz, c.year(), c.month(), c.day(), c.hour(), 0, 0)?;
                }
                t = t.checked_add(HOUR).ok()?;
                if tz.to_datetime(t).hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.minute, tz.to_datetime(t).minute()) {
                if !added {
                    added = true;
                    t = truncate(t, 60)?;
                }
                t = t.checked_add(MINUTE).ok()?;
                if tz.to_datetime(t).minute() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.second, tz.to_datetime(t).second()) {
                if !added {
                    added = true;
                    t = truncate(t, 1)?;
                }
                t = t.checked_add(SECOND).ok()?;
                if tz.to_datetime(t).second() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }

    /// Day of month and day of week both have to match, unless neither was `*`: then either may.
    fn day_matches(&self, c: DateTime) -> bool {
        let dom = has(self.dom, c.day());
        let dow = has(self.dow, c.weekday().to_sunday_zero_offset());
        if self.dom & STAR_BIT != 0 || self.dow & STAR_BIT != 0 { dom && dow } else { dom || dow }
    }
}

fn c_month(tz: &TimeZone, t: Timestamp) -> i8 {
    tz.to_datetime(t).month()
}

fn has(bits: u64, value: i8) -> bool {
    (0..63).contains(&value) && bits & (1 << value) != 0
}

/// Go's `time.Date` (with out-of-range months and days carried over): the instant of a wall time in `tz`. A wall
/// time that a DST change skips or repeats resolves the way Go resolves it: take the offset in force at the
/// wall time read as UTC, and if the instant that gives lies in another period, use that period's offset.
pub(crate) fn go_date(tz: &TimeZone, year: i16, month: i8, day: i8, hour: i8, min: i8, sec: i8) -> Option<Timestamp> {
    let month0 = i32::from(month) - 1;
    let year = i32::from(year) + month0.div_euclid(12);
    let month = (month0.rem_euclid(12) + 1) as i8;
    let date = civil::Date::new(i16::try_from(year).ok()?, month, 1).ok()?;
    let date = date.checked_add((i64::from(day) - 1).days()).ok()?;
    let wall = date.to_datetime(civil::Time::new(hour, min, sec, 0).ok()?);
    let naive = Offset::UTC.to_timestamp(wall).ok()?;
    let guess = tz.to_offset(naive);
    let utc = naive.checked_sub(SignedDuration::from_secs(i64::from(guess.seconds()))).ok()?;
    let offset = tz.to_offset(utc);
    naive.checked_sub(SignedDuration::from_secs(i64::from(offset.seconds()))).ok()
}

/// Go's `t.AddDate(0, months, days)` in `tz`.
fn add_date(tz: &TimeZone, t: Timestamp, months: i8, days: i8) -> Option<Timestamp> {
    let c = tz.to_datetime(t);
    go_date(tz, c.year(), c.month() + months, c.day() + days, c.hour(), c.minute(), c.second())
}

/// Go's `t.Truncate`: down to a multiple of `secs` seconds of absolute time.
fn truncate(t: Timestamp, secs: i64) -> Option<Timestamp> {
    Timestamp::from_second(t.as_second().div_euclid(secs) * secs).ok()
}
