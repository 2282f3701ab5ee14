//! The `Events:` table at the end of `describe`.

use serde_json::Value;

use super::{Writer, i, s};

/// The field selector of an object's events (`involvedObject.*`), as kubectl searches them.
pub fn event_selector(object: &Value, kind: &str) -> String {
    let mut parts = vec![
        format!("involvedObject.name={}", s(object, "/metadata/name")),
        format!("involvedObject.namespace={}", s(object, "/metadata/namespace")),
    ];
    if kind != "Pod" {
        parts.insert(0, format!("involvedObject.kind={kind}"));
    }
    let uid = s(object, "/metadata/uid");
    if !uid.is_empty() {
        parts.push(format!("involvedObject.uid={uid}"));
    }
    parts.join(",")
}

fn last_seen(e: &Value) -> &str {
    let last = s(e, "/lastTimestamp");
    if !last.is_empty() { last } else { s(e, "/eventTime") }
}

pub fn describe(w: &mut Writer, events: &[Value]) {
    if events.is_empty() {
        w.write(0, "Events:\t<none>\n");
        return;
    }
    w.flush();
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by(|a, b| last_seen(a).cmp(last_seen(b)));
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write(1, "----\t------\t----\t----\t-------\n");
    for e in sorted {
        let first = match s(e, "/eventTime") {
            "" => w.since(e.get("firstTimestamp").and_then(Value::as_str)),
            t => w.since(Some(t)),
        };
        let interval = if let Some(series) = e.get("series") {
            format!(
                "{} (x{} over {first})",
                w.since(series.get("lastObservedTime").and_then(Value::as_str)),
                i(series, "/count")
            )
        } else if i(e, "/count") > 1 {
            format!("{} (x{} over {first})", w.since(e.get("lastTimestamp").and_then(Value::as_str)), i(e, "/count"))
        } else {
            first
        };
        let source = match s(e, "/source/component") {
            "" => s(e, "/reportingComponent"),
            c => c,
        };
        let message = s(e, "/message").trim();
        w.write(1, &format!("{}\t{}\t{interval}\t{source}\t{message}\n", s(e, "/type"), s(e, "/reason")));
    }
}
