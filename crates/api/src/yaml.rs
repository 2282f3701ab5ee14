//! YAML as Kubernetes reads it. kubectl and the API server parse YAML 1.1 (through `sigs.k8s.io/yaml`), where a
//! plain `0400` is octal: `defaultMode: 0400` means 256, not four hundred. YAML 1.2 parsers read it as decimal,
//! which turns a valid file mode into an invalid one. Every YAML reader in runlet goes through here so files
//! mean the same in `runlet run`, `runlet apply` and a YAML body posted to the server.

use serde_json::Value;

/// The parser options: YAML 1.1 octal numbers (and, the parser's default, YAML 1.1 booleans such as `yes`).
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options
}

/// A YAML parse error, as the parser describes it (first line only: later lines quote the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

impl YamlError {
    fn from_parser(e: serde_saphyr::Error) -> Self {
        YamlError(e.to_string().lines().next().unwrap_or("invalid YAML").to_string())
    }
}

/// One YAML document.
pub fn document(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(YamlError::from_parser)
}

/// Every document of a multi-document stream (`---` separated), empty ones as `null`.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_multiple_with_options(text, options()).map_err(YamlError::from_parser)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_booleans_read_as_kubernetes_reads_them() {
        let cases = [
            ("defaultMode: 0400", json!({"defaultMode": 256})),
            ("defaultMode: 0644", json!({"defaultMode": 420})),
            ("defaultMode: 420", json!({"defaultMode": 420})),
            ("port: 0", json!({"port": 0})),
            ("mode: \"0400\"", json!({"mode": "0400"})),
            ("stdin: yes", json!({"stdin": true})),
            ("tty: false", json!({"tty": false})),
        ];
        for (text, want) in cases {
            assert_eq!(document(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn streams_keep_empty_documents_and_errors_are_one_line() {
        assert_eq!(documents("a: 1\n---\n---\nb: 2\n").unwrap().iter().filter(|d| !d.is_null()).count(), 2);
        let e = document("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(!e.0.is_empty() && !e.0.contains('\n'), "{e}");
    }
}
