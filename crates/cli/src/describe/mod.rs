//! `describe` output, laid out as kubectl lays it out (its `describe` package): tab-separated cells through a
//! Go-style tab writer, two spaces per level, labels and annotations one per line, the object's events last.
//! Jobs, pods, nodes and namespaces have their own layouts; any other kind gets the generic one, so kinds the
//! server adds need nothing here. Pure: objects and events in, text out, with `now` passed in for ages.

mod events;
mod generic;
mod job;
mod node;
mod pod;

use jiff::Timestamp;
use serde_json::Value;

use crate::tabwriter::{self, DESCRIBE};

pub use events::event_selector;

/// What a describer may need besides the object.
#[derive(Debug, Default)]
pub struct Context<'a> {
    /// The object's events; `None` with `--show-events=false`.
    pub events: Option<&'a [Value]>,
    /// For a node: the pods on it that have not finished.
    pub node_pods: &'a [Value],
    /// For a node: its heartbeat Lease.
    pub lease: Option<&'a Value>,
    pub now: Option<Timestamp>,
}

/// Describes `object` of `group`/`kind`.
pub fn describe(group: &str, kind: &str, object: &Value, ctx: &Context<'_>) -> String {
    let mut w = Writer::new(ctx.now.unwrap_or_else(Timestamp::now));
    match (group, kind) {
        ("batch", "Job") => job::describe(&mut w, object),
        ("", "Pod") => pod::describe(&mut w, object),
        ("", "Node") => node::describe(&mut w, object, ctx.node_pods, ctx.lease),
        ("", "Namespace") => generic::namespace(&mut w, object),
        _ => generic::describe(&mut w, object),
    }
    // kubectl shows a namespace's quotas and limit ranges (runlet has none) instead of its events.
    if let Some(events) = ctx.events.filter(|_| (group, kind) != ("", "Namespace")) {
        events::describe(&mut w, events);
    }
    w.finish()
}

/// kubectl's prefix writer over a tab writer: text is collected and aligned per flushed segment.
pub(crate) struct Writer {
    segments: Vec<String>,
    now: Timestamp,
}

impl Writer {
    fn new(now: Timestamp) -> Writer {
        Writer { segments: vec![String::new()], now }
    }

    /// Writes `text` indented by `level` (two spaces each).
    pub fn write(&mut self, level: usize, text: &str) {
        let seg = self.segments.last_mut().expect("there is always a segment");
        for _ in 0..level {
            seg.push_str("  ");
        }
        seg.push_str(text);
    }

    /// Aligns what was written so far on its own (kubectl flushes before the events table).
    pub fn flush(&mut self) {
        self.segments.push(String::new());
    }

    fn finish(self) -> String {
        self.segments.iter().map(|s| tabwriter::align(s, DESCRIBE, &mut Vec::new())).collect()
    }

    /// `HumanDuration` since an RFC 3339 time; `<unknown>` without one.
    pub fn since(&self, time: Option<&str>) -> String {
        match time.and_then(|t| t.parse::<Timestamp>().ok()) {
            Some(t) => runlet_api::duration::since(t, self.now),
            None => "<unknown>".to_string(),
        }
    }
}

/// `Mon, 02 Jan 2006 15:04:05 -0700` in the local time zone, as kubectl prints times.
pub fn rfc1123z(time: &str) -> String {
    match time.parse::<Timestamp>() {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%a, %d %b %Y %H:%M:%S %z").to_string(),
        Err(_) => time.to_string(),
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Sorted keys of a string map at `pointer`, with their values.
fn sorted_map(v: &Value, pointer: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// kubectl's multi-line fields: `Title:\t` and the first item, then each further item on a line of its own
/// after a tab (so all share the column); `<none>` without items.
fn multiline<T>(w: &mut Writer, title: &str, items: &[T], mut each: impl FnMut(&mut Writer, &T)) {
    w.write(0, &format!("{title}:\t"));
    if items.is_empty() {
        w.write(0, "<none>\n");
        return;
    }
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            w.write(0, "\t");
        }
        each(w, item);
    }
}

/// kubectl's `printLabelsMultiline`.
fn labels(w: &mut Writer, title: &str, v: &Value, pointer: &str) {
    multiline(w, title, &sorted_map(v, pointer), |w, (k, val)| w.write(0, &format!("{k}={val}\n")));
}

/// Longest annotation shown on one line (kubectl's `maxAnnotationLen`).
const MAX_ANNOTATION_LEN: usize = 140;

/// kubectl's `printAnnotationsMultiline`; the last-applied annotation is left out.
fn annotations(w: &mut Writer, title: &str, v: &Value, pointer: &str) {
    let pairs: Vec<(String, String)> =
        sorted_map(v, pointer).into_iter().filter(|(k, _)| k != crate::apply::LAST_APPLIED).collect();
    multiline(w, title, &pairs, |w, (k, val)| {
        let value = val.strip_suffix('\n').unwrap_or(val);
        if value.len() + k.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            w.write(0, &format!("{k}:\n"));
            for line in value.split('\n') {
                let shown = if line.len() > MAX_ANNOTATION_LEN - 2 {
                    format!("{}...", truncate(line, MAX_ANNOTATION_LEN - 2))
                } else {
                    line.to_string()
                };
                w.write(0, &format!("\t  {shown}\n"));
            }
        } else {
            w.write(0, &format!("{k}: {value}\n"));
        }
    });
}

fn truncate(s: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `Kind/name` of the controlling owner, if any.
fn controller(v: &Value) -> Option<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| format!("{}/{}", s(r, "/kind"), s(r, "/name")))
}

/// A label selector as text (`a=b,c in (d)`), like `metav1.LabelSelectorAsSelector(...).String()`.
fn selector_text(v: &Value) -> String {
    let mut parts: Vec<String> =
        sorted_map(v, "/matchLabels").into_iter().map(|(k, val)| format!("{k}={val}")).collect();
    for e in v.pointer("/matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let mut values: Vec<&str> =
            e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        values.sort();
        let key = s(e, "/key");
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op} ({})", values.join(",")),
        });
    }
    parts.sort();
    if parts.is_empty() { "<none>".to_string() } else { parts.join(",") }
}

#[cfg(test)]
mod tests;
