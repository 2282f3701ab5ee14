//! `describe job`.

use serde_json::Value;

use super::{Writer, annotations, controller, i, labels, rfc1123z, s, selector_text};

pub fn describe(w: &mut Writer, job: &Value) {
    w.write(0, &format!("Name:\t{}\n", s(job, "/metadata/name")));
    w.write(0, &format!("Namespace:\t{}\n", s(job, "/metadata/namespace")));
    let selector = job.pointer("/spec/selector").map(selector_text).unwrap_or_else(|| "<none>".into());
    w.write(0, &format!("Selector:\t{selector}\n"));
    labels(w, "Labels", job, "/metadata/labels");
    annotations(w, "Annotations", job, "/metadata/annotations");
    if let Some(c) = controller(job) {
        w.write(0, &format!("Controlled By:\t{c}\n"));
    }
    let spec = |p: &str| job.pointer(&format!("/spec/{p}"));
    if let Some(p) = spec("parallelism") {
        w.write(0, &format!("Parallelism:\t{p}\n"));
    }
    match spec("completions") {
        Some(c) if !c.is_null() => w.write(0, &format!("Completions:\t{c}\n")),
        _ => w.write(0, "Completions:\t<unset>\n"),
    }
    if let Some(m) = spec("completionMode").and_then(Value::as_str) {
        w.write(0, &format!("Completion Mode:\t{m}\n"));
    }
    if let Some(b) = spec("suspend").and_then(Value::as_bool) {
        w.write(0, &format!("Suspend:\t{b}\n"));
    }
    if let Some(b) = spec("backoffLimit") {
        w.write(0, &format!("Backoff Limit:\t{b}\n"));
    }
    if let Some(t) = spec("ttlSecondsAfterFinished") {
        w.write(0, &format!("TTL Seconds After Finished:\t{t}\n"));
    }
    let start = job.pointer("/status/startTime").and_then(Value::as_str);
    let done = job.pointer("/status/completionTime").and_then(Value::as_str);
    if let Some(t) = start {
        w.write(0, &format!("Start Time:\t{}\n", rfc1123z(t)));
    }
    if let Some(t) = done {
        w.write(0, &format!("Completed At:\t{}\n", rfc1123z(t)));
    }
    if let (Some(a), Some(b)) = (start, done)
        && let (Ok(a), Ok(b)) = (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>())
    {
        w.write(0, &format!("Duration:\t{}\n", runlet_api::duration::since(a, b)));
    }
    if let Some(d) = spec("activeDeadlineSeconds") {
        w.write(0, &format!("Active Deadline Seconds:\t{d}s\n"));
    }
    let (active, succeeded, failed) = (i(job, "/status/active"), i(job, "/status/succeeded"), i(job, "/status/failed"));
    match job.pointer("/status/ready").and_then(Value::as_i64) {
        Some(ready) => w.write(
            0,
            &format!("Pods Statuses:\t{active} Active ({ready} Ready) / {succeeded} Succeeded / {failed} Failed\n"),
        ),
        None => w.write(0, &format!("Pods Statuses:\t{active} Active / {succeeded} Succeeded / {failed} Failed\n")),
    }
    if spec("completionMode").and_then(Value::as_str) == Some("Indexed") {
        w.write(0, &format!("Completed Indexes:\t{}\n", cap_indexes(s(job, "/status/completedIndexes"), 50)));
    }
    super::pod::template(w, job.pointer("/spec/template"));
}

/// The completed indexes, cut after the first comma past `soft_limit` characters (kubectl's `capIndexesListOrNone`).
fn cap_indexes(indexes: &str, soft_limit: usize) -> String {
    if indexes.is_empty() {
        return "<none>".to_string();
    }
    match indexes.get(soft_limit..).and_then(|rest| rest.find(',')) {
        Some(comma) => format!("{}...", &indexes[..soft_limit + comma + 1]),
        None => indexes.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::cap_indexes;

    #[test]
    fn indexes_are_capped() {
        assert_eq!(cap_indexes("", 50), "<none>");
        assert_eq!(cap_indexes("0-3,7", 50), "0-3,7");
        assert_eq!(cap_indexes("1,3,5,7,9", 3), "1,3,...");
        assert_eq!(cap_indexes("10,30,5", 1), "10,...");
    }
}
