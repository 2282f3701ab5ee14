//! One field of a crontab line: a comma-separated list of `*`, `?`, `N`, `N-M`, each with an optional `/step`
//! (robfig/cron's `getField`/`getRange`, with its messages).

use super::{STAR_BIT, ScheduleError, err};
use crate::field::quote;

/// The values a field takes, and the names it accepts for them.
pub(crate) struct Bounds {
    pub min: u32,
    pub max: u32,
    pub names: &'static [(&'static str, u32)],
}

pub(crate) const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
pub(crate) const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
pub(crate) const DOM: Bounds = Bounds { min: 1, max: 31, names: &[] };
pub(crate) const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
pub(crate) const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
};

/// The bits of a whole field (empty list items are skipped, so `,` alone matches nothing).
pub(crate) fn get_field(field: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let mut bits = 0;
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        bits |= get_range(expr, bounds)?;
    }
    Ok(bits)
}

/// `number | number "-" number [ "/" number ]`, or `*`/`?` with an optional step.
fn get_range(expr: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (u64::from(bounds.min), u64::from(bounds.max), STAR_BIT)
    } else {
        let start = int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], bounds)?,
            _ => return Err(err(format!("too many hyphens: {expr}"))),
        };
        (start, end, 0)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_uint(range_and_step[1])?;
            // `N/step` means `N-max/step`.
            if single {
                end = u64::from(bounds.max);
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(err(format!("too many slashes: {expr}"))),
    };
    let (min, max) = (u64::from(bounds.min), u64::from(bounds.max));
    if start < min {
        return Err(err(format!("beginning of range ({start}) below minimum ({min}): {expr}")));
    }
    if end > max {
        return Err(err(format!("end of range ({end}) above maximum ({max}): {expr}")));
    }
    if start > end {
        return Err(err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}")));
    }
    if step == 0 {
        return Err(err(format!("step of range should be a positive number: {expr}")));
    }
    // Every value here is at most 59 after the checks above.
    Ok(bits(start as u32, end as u32, step) | extra)
}

fn int_or_name(expr: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let lower = expr.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(u64::from(*value)),
        None => parse_uint(expr),
    }
}

/// robfig's `mustParseInt`: Go's `strconv.Atoi`, then no negatives.
fn parse_uint(expr: &str) -> Result<u64, ScheduleError> {
    let num = go_atoi(expr).map_err(|e| err(format!("failed to parse int from {expr}: {e}")))?;
    if num < 0 {
        return Err(err(format!("negative number ({num}) not allowed: {expr}")));
    }
    Ok(num as u64)
}

/// Go's `strconv.Atoi` on a 64-bit machine: an optional sign and decimal digits, with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", quote(s)));
    }
    s.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", quote(s)))
}

/// Bits `min..=max` stepping by `step`.
pub(crate) fn bits(min: u32, max: u32, step: u64) -> u64 {
    let mut bits = 0;
    let mut i = u64::from(min);
    while i <= u64::from(max) {
        bits |= 1 << i;
        i += step;
    }
    bits
}
