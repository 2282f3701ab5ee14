//! kubectl's `HumanDuration` (apimachinery `util/duration`), the text of every AGE and DURATION cell.

use jiff::{SignedDuration, Timestamp};

use crate::codec::Time;

/// A duration the way `kubectl get` prints it: `45s`, `2m30s`, `10m`, `3h5m`, `2d`, `3y12d`, ...
///
/// The precision drops as the duration grows. Slightly negative durations (clock skew between the machine that
/// stamped the object and the one printing it) print as `0s`; anything below −1 s is `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    // Whole seconds, truncated toward zero like Go's `int(d.Seconds())`.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            dy => format!("{years}y{dy}d"),
        };
    }
    format!("{years}y")
}

/// The AGE of an object created at `created`, seen at `now`; `<unknown>` when there is no timestamp.
pub fn age(created: Option<&Time>, now: Timestamp) -> String {
    match created {
        Some(t) => since(t.0, now),
        None => "<unknown>".to_string(),
    }
}

/// `human_duration(now - then)`.
pub fn since(then: Timestamp, now: Timestamp) -> String {
    human_duration(now.duration_since(then))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;

    #[test]
    fn boundaries() {
        let cases: &[(i64, &str)] = &[
            (-3, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (9 * MIN + 59, "9m59s"),
            (10 * MIN, "10m"),
            (10 * MIN + 59, "10m"),
            (3 * HOUR - 1, "179m"),
            (3 * HOUR, "3h"),
            (3 * HOUR + 5 * MIN, "3h5m"),
            (8 * HOUR - 1, "7h59m"),
            (8 * HOUR, "8h"),
            (48 * HOUR - 1, "47h"),
            (48 * HOUR, "2d"),
            (2 * DAY + 5 * HOUR, "2d5h"),
            (8 * DAY - 1, "7d23h"),
            (8 * DAY, "8d"),
            (2 * YEAR - 1, "729d"),
            (2 * YEAR, "2y"),
            (3 * YEAR + 12 * DAY, "3y12d"),
            (8 * YEAR - 1, "7y364d"),
            (8 * YEAR, "8y"),
            (100 * YEAR + 100 * DAY, "100y"),
        ];
        for &(secs, want) in cases {
            assert_eq!(human_duration(SignedDuration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn sub_second_negatives_truncate_toward_zero() {
        assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
        assert_eq!(human_duration(SignedDuration::from_millis(-2000)), "<invalid>");
        assert_eq!(human_duration(SignedDuration::from_millis(119_999)), "119s");
    }

    #[test]
    fn ages() {
        let now: Timestamp = "2026-11-27T10:51:17Z".parse().unwrap();
        let created = Time("2026-11-27T10:48:47Z".parse().unwrap());
        assert_eq!(age(Some(&created), now), "2m30s");
        assert_eq!(age(None, now), "<unknown>");
        // Created "in the future" by more than the skew allowance.
        let future = Time("2026-11-27T10:51:20Z".parse().unwrap());
        assert_eq!(age(Some(&future), now), "<invalid>");
    }
}
