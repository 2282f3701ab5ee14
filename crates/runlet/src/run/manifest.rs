//! Reading the Jobs of a manifest file for `runlet run`: pure, so bad input is caught before anything starts.

use serde_json::Value;

/// Why a manifest cannot be run (exit status 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: document {index} is a {kind}, not a batch/v1 Job")]
    NotAJob { path: String, index: usize, kind: String },
    #[error("{path}: no Job in the file")]
    Empty { path: String },
    #[error("{path}: document {index} has no metadata.name (generateName is fine too)")]
    NoName { path: String, index: usize },
}

/// The Jobs of a (multi-document) YAML or JSON file, in order. Empty documents are skipped; a `v1 List` is
/// unpacked.
pub fn jobs(path: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Parse {
        path: path.into(),
        message: e.to_string().lines().next().unwrap_or("").into(),
    })?;
    let mut out = Vec::new();
    let mut index = 0;
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let items = if doc.get("kind").and_then(Value::as_str) == Some("List") {
            doc.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
        } else {
            vec![doc]
        };
        for item in items {
            index += 1;
            let kind = item.get("kind").and_then(Value::as_str).unwrap_or("document without kind");
            let api_version = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if kind != "Job" || api_version != "batch/v1" {
                return Err(ManifestError::NotAJob {
                    path: path.into(),
                    index,
                    kind: format!("{api_version} {kind}").trim().into(),
                });
            }
            let named = ["name", "generateName"].iter().any(|k| {
                item.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).is_some_and(|s| !s.is_empty())
            });
            if !named {
                return Err(ManifestError::NoName { path: path.into(), index });
            }
            out.push(item);
        }
    }
    if out.is_empty() {
        return Err(ManifestError::Empty { path: path.into() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jobs() {
        let two = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\n---\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {generateName: b-}\n";
        let got = jobs("f", two).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["metadata"]["generateName"], "b-");
        let list = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"}}]}"#;
        assert_eq!(jobs("f", list).unwrap().len(), 1);
    }

    #[test]
    fn refuses_bad_input() {
        let cases = [
            ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "f: document 1 is a v1 Pod, not a batch/v1 Job"),
            ("", "f: no Job in the file"),
            (
                "apiVersion: batch/v1\nkind: Job\nmetadata: {}\n",
                "f: document 1 has no metadata.name (generateName is fine too)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(jobs("f", text).unwrap_err().to_string(), want, "{text:?}");
        }
        assert!(matches!(jobs("f", "a: [1,\n"), Err(ManifestError::Parse { .. })));
    }
}
