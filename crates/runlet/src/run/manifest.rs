//! Reading a manifest file for `runlet run`: its Jobs and the ConfigMaps and Secrets they use. Pure, so bad
//! input is caught before anything starts.

use serde_json::Value;

/// Why a manifest cannot be run (exit status 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: document {index} is a {kind}, not a batch/v1 Job, v1 ConfigMap or v1 Secret")]
    NotAJob { path: String, index: usize, kind: String },
    #[error("{path}: no Job in the file")]
    Empty { path: String },
    #[error("{path}: document {index} has no metadata.name (generateName is fine too)")]
    NoName { path: String, index: usize },
}

/// What a manifest holds, each kind in file order.
#[derive(Debug, Default, PartialEq)]
pub struct Manifest {
    pub config_maps: Vec<Value>,
    pub secrets: Vec<Value>,
    pub jobs: Vec<Value>,
}

/// The Jobs, ConfigMaps and Secrets of a (multi-document) YAML or JSON file. Empty documents are skipped; a
/// `v1 List` is unpacked. At least one Job is required.
pub fn read(path: &str, text: &str) -> Result<Manifest, ManifestError> {
    let docs =
        runlet_api::yaml::documents(text).map_err(|e| ManifestError::Parse { path: path.into(), message: e.0 })?;
    let mut out = Manifest::default();
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
            let list = match (api_version, kind) {
                ("batch/v1", "Job") => &mut out.jobs,
                ("v1", "ConfigMap") => &mut out.config_maps,
                ("v1", "Secret") => &mut out.secrets,
                _ => {
                    return Err(ManifestError::NotAJob {
                        path: path.into(),
                        index,
                        kind: format!("{api_version} {kind}").trim().into(),
                    });
                }
            };
            let named = ["name", "generateName"].iter().any(|k| {
                item.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).is_some_and(|s| !s.is_empty())
            });
            if !named {
                return Err(ManifestError::NoName { path: path.into(), index });
            }
            list.push(item);
        }
    }
    if out.jobs.is_empty() {
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
        let got = read("f", two).unwrap().jobs;
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["metadata"]["generateName"], "b-");
        let list = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"}}]}"#;
        assert_eq!(read("f", list).unwrap().jobs.len(), 1);
    }

    #[test]
    fn reads_the_config_maps_and_secrets_next_to_the_jobs() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        let m = read("f", text).unwrap();
        let names =
            |v: &[Value]| v.iter().map(|d| d["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(
            (names(&m.config_maps), names(&m.secrets), names(&m.jobs)),
            (vec!["c".into()], vec!["s".into()], vec!["a".into()])
        );
        let octal = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {mode: 0400}\n";
        assert_eq!(read("f", octal).unwrap().jobs[0]["spec"]["mode"], 256);
        let only_config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        assert_eq!(read("f", only_config).unwrap_err().to_string(), "f: no Job in the file");
    }

    #[test]
    fn refuses_bad_input() {
        let cases = [
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
                "f: document 1 is a v1 Pod, not a batch/v1 Job, v1 ConfigMap or v1 Secret",
            ),
            ("", "f: no Job in the file"),
            (
                "apiVersion: batch/v1\nkind: Job\nmetadata: {}\n",
                "f: document 1 has no metadata.name (generateName is fine too)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(read("f", text).unwrap_err().to_string(), want, "{text:?}");
        }
        assert!(matches!(read("f", "a: [1,\n"), Err(ManifestError::Parse { .. })));
    }
}
