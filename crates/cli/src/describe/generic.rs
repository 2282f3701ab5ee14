//! `describe` of kinds without a layout of their own: every field, nested by indentation (kubectl's generic
//! describer); and namespaces.

use serde_json::Value;

use super::{Writer, annotations, labels, s};

const SKIPPED: &[&str] =
    &[".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations"];

pub fn describe(w: &mut Writer, object: &Value) {
    w.write(0, &format!("Name:\t{}\n", s(object, "/metadata/name")));
    w.write(0, &format!("Namespace:\t{}\n", s(object, "/metadata/namespace")));
    labels(w, "Labels", object, "/metadata/labels");
    annotations(w, "Annotations", object, "/metadata/annotations");
    if let Some(m) = object.as_object() {
        content(w, 0, m, "");
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

fn content(w: &mut Writer, level: usize, map: &serde_json::Map<String, Value>, prefix: &str) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let path = format!("{prefix}.{key}");
        if SKIPPED.contains(&path.as_str()) {
            continue;
        }
        match &map[key] {
            Value::Object(m) => {
                w.write(level, &format!("{}:\n", smart_label(key)));
                content(w, level + 1, m, &path);
            }
            Value::Array(items) => {
                w.write(level, &format!("{}:\n", smart_label(key)));
                for item in items {
                    match item {
                        Value::Object(m) => content(w, level + 1, m, &path),
                        other => w.write(level + 1, &format!("{}\n", scalar(other))),
                    }
                }
            }
            other => w.write(level, &format!("{}:\t{}\n", smart_label(key), scalar(other))),
        }
    }
}

/// `creationTimestamp` → `Creation Timestamp`, `apiVersion` → `API Version` (kubectl's `smartLabelFor`).
pub fn smart_label(field: &str) -> String {
    if field.chars().any(|c| !c.is_alphabetic() && c != '-') {
        return field.to_string();
    }
    const ACRONYMS: &[&str] = &["API", "URL", "UID", "OSB", "GUID"];
    camel_split(field)
        .into_iter()
        .filter(|p| p != "_")
        .map(|p| {
            let upper = p.to_uppercase();
            if ACRONYMS.contains(&upper.as_str()) {
                upper
            } else {
                let mut c = p.chars();
                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits camel case into words: runs of lower case, of upper case (the last capital of a run before lower
/// case starts the next word), of digits, and of anything else.
fn camel_split(s: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Lower,
        Upper,
        Digit,
        Other,
    }
    let class = |c: char| {
        if c.is_lowercase() {
            Class::Lower
        } else if c.is_uppercase() {
            Class::Upper
        } else if c.is_ascii_digit() {
            Class::Digit
        } else {
            Class::Other
        }
    };
    let mut runs: Vec<(Class, String)> = Vec::new();
    for c in s.chars() {
        let k = class(c);
        match runs.last_mut() {
            Some((last, text)) if *last == k => text.push(c),
            _ => runs.push((k, c.to_string())),
        }
    }
    // An upper-case run followed by lower case gives its last letter to the lower-case run.
    for n in 0..runs.len().saturating_sub(1) {
        if runs[n].0 == Class::Upper
            && runs[n + 1].0 == Class::Lower
            && let Some(last) = runs[n].1.pop()
        {
            runs[n + 1].1.insert(0, last);
        }
    }
    runs.into_iter().map(|(_, t)| t).filter(|t| !t.is_empty()).collect()
}

pub fn namespace(w: &mut Writer, ns: &Value) {
    w.write(0, &format!("Name:\t{}\n", s(ns, "/metadata/name")));
    labels(w, "Labels", ns, "/metadata/labels");
    annotations(w, "Annotations", ns, "/metadata/annotations");
    w.write(0, &format!("Status:\t{}\n", s(ns, "/status/phase")));
}

#[cfg(test)]
mod tests {
    use super::smart_label;

    #[test]
    fn labels_from_field_names() {
        for (field, want) in [
            ("creationTimestamp", "Creation Timestamp"),
            ("apiVersion", "API Version"),
            ("uid", "UID"),
            ("resourceVersion", "Resource Version"),
            ("podIP", "Pod IP"),
            ("holderIdentity", "Holder Identity"),
            ("HTTPServer", "HTTP Server"),
            ("kind", "Kind"),
            ("data.key", "data.key"),
        ] {
            assert_eq!(smart_label(field), want, "{field}");
        }
    }
}
