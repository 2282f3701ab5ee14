//! `-o` formats and how objects print in each: JSON (kubectl's four-space indent, keys sorted), YAML, `name`,
//! JSONPath templates and custom columns. Pure.

use serde_json::{Map, Value};

use crate::error::{CliError, Result};
use crate::jsonpath::{self, Template};
use crate::tabwriter;

/// What `-o` asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The server's Table; `wide` shows the priority-1 columns too.
    Table {
        wide: bool,
    },
    Name,
    Json,
    Yaml,
    JsonPath(Template),
    CustomColumns(Vec<(String, Template)>),
}

impl Output {
    pub fn parse(flag: Option<&str>) -> Result<Output> {
        let Some(flag) = flag else {
            return Ok(Output::Table { wide: false });
        };
        let (format, arg) = flag.split_once('=').unwrap_or((flag, ""));
        match format {
            "" => Ok(Output::Table { wide: false }),
            "wide" => Ok(Output::Table { wide: true }),
            "name" => Ok(Output::Name),
            "json" => Ok(Output::Json),
            "yaml" => Ok(Output::Yaml),
            "jsonpath" | "jsonpath-as-text" => {
                if arg.is_empty() {
                    return Err(CliError::other("template format specified but no template given"));
                }
                Ok(Output::JsonPath(Template::parse(strip_quotes(arg))?))
            }
            "custom-columns" => {
                let mut columns = Vec::new();
                for spec in strip_quotes(arg).split(',').filter(|s| !s.is_empty()) {
                    let (header, path) = spec.split_once(':').ok_or_else(|| {
                        CliError::other(format!(
                            "unexpected custom-columns spec: {spec}, expected <header>:<json-path-expr>"
                        ))
                    })?;
                    columns.push((header.to_string(), jsonpath::relaxed(path)?));
                }
                if columns.is_empty() {
                    return Err(CliError::other("custom-columns format specified but no custom columns given"));
                }
                Ok(Output::CustomColumns(columns))
            }
            other => Err(CliError::other(format!(
                "unable to match a printer suitable for the output format \"{other}\", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml"
            ))),
        }
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Output::Table { .. })
    }
}

fn strip_quotes(s: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// An object as kubectl shows it: without `metadata.managedFields`.
pub fn clean(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    object
}

/// Several objects as the `v1 List` kubectl prints.
pub fn list(items: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.insert("apiVersion".into(), "v1".into());
    m.insert("items".into(), Value::Array(items));
    m.insert("kind".into(), "List".into());
    m.insert("metadata".into(), serde_json::json!({"resourceVersion": ""}));
    Value::Object(m)
}

/// `v` with every object's keys in order (kubectl prints and stores objects so).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// kubectl's `-o json`: four-space indent, keys sorted, a final newline.
pub fn json(v: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    // Serializing a Value into memory cannot fail.
    let _ = sorted(v).serialize(&mut ser);
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// kubectl's `-o yaml`: keys sorted, block style.
pub fn yaml(v: &Value) -> Result<String> {
    serde_saphyr::to_string(&sorted(v)).map_err(|e| CliError::other(format!("printing YAML: {e}")))
}

/// `job.batch/pi`
pub fn name_of(kind_ref: &str, object: &Value) -> String {
    format!("{kind_ref}/{}", object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""))
}

/// Custom columns for `objects` (header first unless `no_headers`), aligned as kubectl aligns them.
pub fn custom_columns(columns: &[(String, Template)], objects: &[Value], no_headers: bool) -> Result<String> {
    let mut text = String::new();
    if !no_headers {
        text.push_str(&columns.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>().join("\t"));
        text.push('\n');
    }
    for object in objects {
        let mut cells = Vec::new();
        for (_, path) in columns {
            let values = path.values(object)?;
            cells.push(if values.is_empty() {
                "<none>".to_string()
            } else {
                values.iter().map(|v| jsonpath::to_text(v)).collect::<Vec<_>>().join(",")
            });
        }
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    Ok(tabwriter::align(&text, tabwriter::TABLE, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_formats() {
        assert_eq!(Output::parse(None).unwrap(), Output::Table { wide: false });
        assert_eq!(Output::parse(Some("wide")).unwrap(), Output::Table { wide: true });
        assert_eq!(Output::parse(Some("name")).unwrap(), Output::Name);
        assert!(matches!(Output::parse(Some("jsonpath={.a}")).unwrap(), Output::JsonPath(_)));
        assert!(matches!(Output::parse(Some("jsonpath='{.a}'")).unwrap(), Output::JsonPath(_)));
        assert!(
            matches!(Output::parse(Some("custom-columns=N:.metadata.name,P:status.phase")).unwrap(), Output::CustomColumns(c) if c.len() == 2)
        );
        for bad in ["xml", "jsonpath", "custom-columns=", "custom-columns=NAME"] {
            assert!(Output::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_is_sorted_with_four_spaces() {
        let v = json!({"kind": "Job", "apiVersion": "batch/v1", "spec": {"b": 1, "a": [1]}});
        assert_eq!(
            json(&v),
            "{\n    \"apiVersion\": \"batch/v1\",\n    \"kind\": \"Job\",\n    \"spec\": {\n        \"a\": [\n            1\n        ],\n        \"b\": 1\n    }\n}\n"
        );
    }

    #[test]
    fn yaml_and_lists() {
        let v = list(vec![clean(json!({"metadata": {"name": "a", "managedFields": [{}]}, "kind": "Pod"}))]);
        assert_eq!(
            yaml(&v).unwrap(),
            "apiVersion: v1\nitems:\n- kind: Pod\n  metadata:\n    name: a\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
        );
    }

    #[test]
    fn custom_columns_align_and_mark_missing() {
        let Output::CustomColumns(cols) =
            Output::parse(Some("custom-columns=NAME:.metadata.name,PHASE:.status.phase")).unwrap()
        else {
            panic!()
        };
        let objs = [
            json!({"metadata": {"name": "pi-abc"}, "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "b"}}),
        ];
        assert_eq!(custom_columns(&cols, &objs, false).unwrap(), "NAME     PHASE\npi-abc   Running\nb        <none>\n");
        assert_eq!(name_of("job.batch", &json!({"metadata": {"name": "pi"}})), "job.batch/pi");
    }
}
