//! Printing the server's `meta.k8s.io/v1` Tables as `kubectl get` does: upper-case headers, priority-1 columns
//! only with `-o wide`, a NAMESPACE column with `-A`, a `kind/` prefix on names when several kinds are printed,
//! `--show-labels` and `-L`, and `--sort-by` over the rows' objects. Pure.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::Result;
use crate::jsonpath::Template;

/// How to print the rows of a Table.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub wide: bool,
    pub with_namespace: bool,
    /// `job.batch`: prefix names with `job.batch/`.
    pub kind_prefix: Option<String>,
    pub show_labels: bool,
    pub label_columns: Vec<String>,
    pub no_headers: bool,
}

/// A Table for what the server sent: a Table as it is; a plain object or list (a server without Tables for
/// that kind) as kubectl shows it then, NAME and AGE.
pub fn as_table(answer: Value, now: jiff::Timestamp) -> Value {
    if answer.get("kind").and_then(Value::as_str) == Some("Table") {
        return answer;
    }
    let items: Vec<Value> = match answer.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![answer.clone()],
    };
    let rows: Vec<Value> = items
        .into_iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            let age =
                match o.pointer("/metadata/creationTimestamp").and_then(Value::as_str).and_then(|t| t.parse().ok()) {
                    Some(t) => runlet_api::duration::since(t, now),
                    None => "<unknown>".to_string(),
                };
            let metadata = o.get("metadata").cloned().unwrap_or(Value::Null);
            serde_json::json!({"cells": [name, age], "object": {"metadata": metadata}})
        })
        .collect();
    serde_json::json!({
        "kind": "Table",
        "metadata": {"resourceVersion": answer.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "priority": 0},
        ],
        "rows": rows,
    })
}

fn columns(table: &Value) -> Vec<&Value> {
    table.get("columnDefinitions").and_then(Value::as_array).map(|c| c.iter().collect()).unwrap_or_default()
}

pub fn rows(table: &Value) -> Vec<&Value> {
    table.get("rows").and_then(Value::as_array).map(|r| r.iter().collect()).unwrap_or_default()
}

/// The cells kubectl prints for `columns` (indices into the row's cells).
fn shown_columns(table: &Value, wide: bool) -> Vec<usize> {
    columns(table)
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect()
}

fn name_column(table: &Value) -> usize {
    columns(table).iter().position(|c| c.get("format").and_then(Value::as_str) == Some("name")).unwrap_or(0)
}

/// A cell as text: strings as they are, numbers and booleans printed, nothing as `<none>`.
pub fn cell_text(cell: Option<&Value>) -> String {
    match cell {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "<none>".to_string(),
        Some(other) => other.to_string(),
    }
}

/// `a=b,c=d` with keys sorted, `<none>` when empty (kubectl's `labels.FormatLabels`).
pub fn format_labels(labels: Option<&Value>) -> String {
    let mut pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs.join(",")
}

/// The header line's cells.
pub fn header(table: &Value, opts: &TableOptions) -> Vec<String> {
    let cols = columns(table);
    let mut out = Vec::new();
    if opts.with_namespace {
        out.push("NAMESPACE".to_string());
    }
    for i in shown_columns(table, opts.wide) {
        out.push(cols[i].get("name").and_then(Value::as_str).unwrap_or("").to_uppercase());
    }
    for l in &opts.label_columns {
        out.push(l.rsplit('/').next().unwrap_or(l).to_uppercase());
    }
    if opts.show_labels {
        out.push("LABELS".to_string());
    }
    out
}

/// One row's cells.
pub fn row_cells(table: &Value, row: &Value, opts: &TableOptions) -> Vec<String> {
    let cells = row.get("cells").and_then(Value::as_array);
    let meta = row.pointer("/object/metadata");
    let name_col = name_column(table);
    let mut out = Vec::new();
    if opts.with_namespace {
        out.push(meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("").to_string());
    }
    for i in shown_columns(table, opts.wide) {
        let text = cell_text(cells.and_then(|c| c.get(i)));
        match (&opts.kind_prefix, i == name_col) {
            (Some(kind), true) => out.push(format!("{kind}/{text}")),
            _ => out.push(text),
        }
    }
    for l in &opts.label_columns {
        out.push(
            meta.and_then(|m| m.pointer(&format!("/labels/{}", l.replace('~', "~0").replace('/', "~1"))))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
    }
    if opts.show_labels {
        out.push(format_labels(meta.and_then(|m| m.get("labels"))));
    }
    out
}

/// The lines of a table (tab-separated cells), ready for the tab writer.
pub fn lines(table: &Value, opts: &TableOptions, include_header: bool) -> String {
    let mut text = String::new();
    if include_header && !opts.no_headers {
        text.push_str(&header(table, opts).join("\t"));
        text.push('\n');
    }
    for row in rows(table) {
        text.push_str(&row_cells(table, row, opts).join("\t"));
        text.push('\n');
    }
    text
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (None, None) => Ordering::Equal,
    }
}

/// Sorts values by a path, as `--sort-by` does (stable; missing values first).
pub fn sort_by<T>(items: &mut [T], path: &Template, object: impl Fn(&T) -> Option<&Value>) -> Result<()> {
    let mut keyed: Vec<(Option<Value>, usize)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = match object(item) {
            Some(o) => path.values(o)?.first().map(|v| (*v).clone()),
            None => None,
        };
        keyed.push((key, i));
    }
    keyed.sort_by(|a, b| compare(a.0.as_ref(), b.0.as_ref()).then(a.1.cmp(&b.1)));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(items, &order);
    Ok(())
}

/// Reorders `items` so that position `k` holds what was at `order[k]`.
fn permute<T>(items: &mut [T], order: &[usize]) {
    let mut done = vec![false; items.len()];
    for start in 0..items.len() {
        if done[start] {
            continue;
        }
        let mut k = start;
        loop {
            done[k] = true;
            let from = order[k];
            if from == start {
                break;
            }
            items.swap(k, from);
            k = from;
        }
    }
}

/// Sorts a Table's rows in place by a path over `rows[].object`.
pub fn sort_rows(table: &mut Value, path: &Template) -> Result<()> {
    if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
        sort_by(rows, path, |r| r.get("object"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jsonpath;
    use crate::tabwriter::{self, TABLE};

    fn jobs() -> Value {
        json!({"kind": "Table", "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Status", "type": "string", "format": "", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "priority": 0},
            {"name": "Images", "type": "string", "format": "", "priority": 1},
        ], "rows": [
            {"cells": ["pi", "Running", "5s", "perl"], "object": {"metadata": {"name": "pi", "namespace": "default", "labels": {"job-name": "pi", "a": "b"}, "creationTimestamp": "2024-01-02T00:00:00Z"}}},
            {"cells": ["abc", "Complete", "2m", "busybox"], "object": {"metadata": {"name": "abc", "namespace": "x", "creationTimestamp": "2024-01-01T00:00:00Z"}}},
        ]})
    }

    fn print(opts: &TableOptions) -> String {
        tabwriter::align(&lines(&jobs(), opts, true), TABLE, &mut Vec::new())
    }

    #[test]
    fn default_and_wide() {
        assert_eq!(
            print(&TableOptions::default()),
            "NAME   STATUS     AGE\npi     Running    5s\nabc    Complete   2m\n"
        );
        assert_eq!(
            print(&TableOptions { wide: true, ..Default::default() }),
            "NAME   STATUS     AGE   IMAGES\npi     Running    5s    perl\nabc    Complete   2m    busybox\n"
        );
    }

    #[test]
    fn namespace_kind_and_labels() {
        let opts = TableOptions {
            with_namespace: true,
            kind_prefix: Some("job.batch".into()),
            show_labels: true,
            label_columns: vec!["job-name".into()],
            ..Default::default()
        };
        assert_eq!(
            print(&opts),
            "NAMESPACE   NAME            STATUS     AGE   JOB-NAME   LABELS\n\
             default     job.batch/pi    Running    5s    pi         a=b,job-name=pi\n\
             x           job.batch/abc   Complete   2m               <none>\n"
        );
        let opts = TableOptions { no_headers: true, ..Default::default() };
        assert_eq!(print(&opts), "pi    Running    5s\nabc   Complete   2m\n");
    }

    #[test]
    fn plain_lists_become_name_and_age() {
        let now: jiff::Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let list = json!({"kind": "WidgetList", "metadata": {"resourceVersion": "7"}, "items": [
            {"metadata": {"name": "w1", "creationTimestamp": "2024-01-01T00:00:00Z"}}, {"metadata": {"name": "w2"}}]});
        let t = as_table(list, now);
        assert_eq!(print_table(&t), "NAME   AGE\nw1     60s\nw2     <unknown>\n");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        let one = as_table(json!({"kind": "Widget", "metadata": {"name": "w"}}), now);
        assert_eq!(rows(&one).len(), 1);
        assert_eq!(as_table(jobs(), now), jobs());
    }

    fn print_table(t: &Value) -> String {
        tabwriter::align(&lines(t, &TableOptions::default(), true), TABLE, &mut Vec::new())
    }

    #[test]
    fn sorts_rows_by_object_fields() {
        let mut t = jobs();
        sort_rows(&mut t, &jsonpath::relaxed(".metadata.creationTimestamp").unwrap()).unwrap();
        let names: Vec<&str> = rows(&t).iter().map(|r| r["cells"][0].as_str().unwrap()).collect();
        assert_eq!(names, ["abc", "pi"]);
        let mut nums = vec![json!({"n": 3}), json!({"n": 10}), json!({}), json!({"n": 1})];
        sort_by(&mut nums, &jsonpath::relaxed("n").unwrap(), |v| Some(v)).unwrap();
        assert_eq!(nums, vec![json!({}), json!({"n": 1}), json!({"n": 3}), json!({"n": 10})]);
    }
}
