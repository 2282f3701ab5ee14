//! What `runlet wait --for=...` waits for, and whether an object satisfies it. Pure.

use std::time::Duration;

use serde_json::Value;

use crate::error::{CliError, Result};
use crate::jsonpath::{self, Template};
use crate::reason::{CONDITION_TRUE, JOB_COMPLETE, JOB_FAILED};

/// A `--for` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum For {
    /// `condition=Complete` (value `True`) or `condition=Ready=false`: type compared case-insensitively.
    Condition { type_: String, status: String },
    /// `delete`
    Delete,
    /// `jsonpath={.status.succeeded}=1`, or without a value: the path exists.
    JsonPath { path: Template, value: Option<String> },
    /// `finished`: Complete or Failed; Failed makes the command fail.
    Finished,
}

/// How an object stands against the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Met,
    /// The Job failed (`--for=finished`): reason and message of its Failed condition.
    Failed {
        reason: String,
        message: String,
    },
}

impl For {
    pub fn parse(s: &str) -> Result<For> {
        let bad = || CliError::other(format!("unrecognized condition: \"{s}\""));
        if s.eq_ignore_ascii_case("delete") {
            return Ok(For::Delete);
        }
        if s.eq_ignore_ascii_case("finished") {
            return Ok(For::Finished);
        }
        if let Some(rest) = s.strip_prefix("condition=") {
            let (type_, status) = match rest.split_once('=') {
                Some((t, v)) => (t, v),
                None => (rest, CONDITION_TRUE),
            };
            if type_.is_empty() {
                return Err(bad());
            }
            return Ok(For::Condition { type_: type_.to_string(), status: status.to_string() });
        }
        if let Some(rest) = s.strip_prefix("jsonpath=") {
            // `{.status.succeeded}=1`: the value follows the closing brace (or the last `=` for relaxed paths).
            let (path, value) = match rest.rfind('}') {
                Some(end) => {
                    let value = rest[end + 1..].strip_prefix('=').map(|v| v.trim_matches(['\'', '"']).to_string());
                    (&rest[..=end], value)
                }
                None => match rest.split_once('=') {
                    Some((p, v)) => (p, Some(v.to_string())),
                    None => (rest, None),
                },
            };
            return Ok(For::JsonPath { path: jsonpath::relaxed(path.trim_matches(['\'', '"']))?, value });
        }
        Err(bad())
    }

    /// Whether `object` (None: it does not exist) satisfies the wait.
    pub fn check(&self, object: Option<&Value>) -> Result<Verdict> {
        let Some(object) = object else {
            return Ok(if *self == For::Delete { Verdict::Met } else { Verdict::Waiting });
        };
        match self {
            For::Delete => Ok(Verdict::Waiting),
            For::Condition { type_, status } => {
                let met = condition(object, type_).is_some_and(|c| str_at(c, "status").eq_ignore_ascii_case(status));
                Ok(if met { Verdict::Met } else { Verdict::Waiting })
            }
            For::JsonPath { path, value } => {
                let found = path.values(object)?;
                let met = match value {
                    None => !found.is_empty(),
                    Some(v) => found.len() == 1 && jsonpath::to_text(found[0]) == *v,
                };
                Ok(if met { Verdict::Met } else { Verdict::Waiting })
            }
            For::Finished => {
                if let Some(c) = condition(object, JOB_FAILED).filter(|c| str_at(c, "status") == CONDITION_TRUE) {
                    return Ok(Verdict::Failed {
                        reason: str_at(c, "reason").into(),
                        message: str_at(c, "message").into(),
                    });
                }
                let complete = condition(object, JOB_COMPLETE).is_some_and(|c| str_at(c, "status") == CONDITION_TRUE);
                Ok(if complete { Verdict::Met } else { Verdict::Waiting })
            }
        }
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| str_at(c, "type").eq_ignore_ascii_case(type_))
}

/// Go-style durations as kubectl's flags take them: `30s`, `5m`, `1h30m`, `500ms`, a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration \"{s}\""))?;
        let number: f64 = rest[..digits].parse().map_err(|_| format!("invalid duration \"{s}\""))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            other => return Err(format!("unknown unit \"{other}\" in duration \"{s}\"")),
        };
        total += Duration::from_secs_f64(seconds);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(conditions: Value) -> Value {
        json!({"metadata": {"name": "pi"}, "status": {"succeeded": 1, "conditions": conditions}})
    }

    #[test]
    fn verdicts() {
        let complete =
            job(json!([{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]));
        let failed = job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]),
        );
        let running = job(json!([]));
        let cases: Vec<(&str, Option<&Value>, Verdict)> = vec![
            ("condition=complete", Some(&complete), Verdict::Met),
            ("condition=Complete", Some(&running), Verdict::Waiting),
            ("condition=Complete=false", Some(&complete), Verdict::Waiting),
            ("condition=Failed", Some(&failed), Verdict::Met),
            ("delete", None, Verdict::Met),
            ("delete", Some(&running), Verdict::Waiting),
            ("condition=Complete", None, Verdict::Waiting),
            ("jsonpath={.status.succeeded}=1", Some(&running), Verdict::Met),
            ("jsonpath={.status.succeeded}=2", Some(&running), Verdict::Waiting),
            ("jsonpath='{.status.succeeded}'=1", Some(&running), Verdict::Met),
            ("jsonpath={.status.active}", Some(&running), Verdict::Waiting),
            ("jsonpath={.status.succeeded}", Some(&running), Verdict::Met),
            ("finished", Some(&complete), Verdict::Met),
            ("finished", Some(&running), Verdict::Waiting),
            (
                "finished",
                Some(&failed),
                Verdict::Failed {
                    reason: "BackoffLimitExceeded".into(),
                    message: "Job has reached the specified backoff limit".into(),
                },
            ),
        ];
        for (f, obj, want) in cases {
            assert_eq!(For::parse(f).unwrap().check(obj).unwrap(), want, "{f}");
        }
        for bad in ["", "condition=", "nothing", "ready"] {
            assert!(For::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let cases =
            [("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("500ms", 500), ("10", 10_000), ("1.5s", 1_500)];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(ms), "{s}");
        }
        for bad in ["", "5x", "m", "1h-"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
