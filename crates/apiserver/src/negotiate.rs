//! Content negotiation (kubectl-wire.md §3) and query parameters shared by the handlers.

use std::collections::HashMap;

use crate::error::ApiError;

/// What a read answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    /// A `meta.k8s.io/v1` Table, with `rows[].object` per `includeObject`.
    Table(IncludeObject),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// Picks the output from the `Accept` header: a Table when any offered type asks for one.
pub fn output(accept: Option<&str>, query: &Query) -> Result<Output, ApiError> {
    let accept = accept.unwrap_or("");
    let wants_table = accept.split(',').any(|part| {
        let p = part.replace(' ', "");
        p.contains("as=Table") && p.contains("g=meta.k8s.io")
    });
    if !wants_table {
        return Ok(Output::Json);
    }
    let include = match query.get("includeObject") {
        None | Some("") | Some("Metadata") => IncludeObject::Metadata,
        Some("Object") => IncludeObject::Object,
        Some("None") => IncludeObject::None,
        Some(other) => {
            return Err(ApiError::bad_request(format!("invalid includeObject value {other:?}")));
        }
    };
    Ok(Output::Table(include))
}

/// The body formats writes accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Yaml,
    Protobuf,
    StrategicMerge,
    MergePatch,
    JsonPatch,
    Apply,
}

/// Classifies a request's `Content-Type`; a missing one is JSON (kubectl's `PUT .../scale` sends none).
pub fn body_type(content_type: Option<&str>) -> Option<BodyType> {
    let ct = content_type.unwrap_or("application/json");
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Some(match base.as_str() {
        "" | "application/json" | "*/*" => BodyType::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyType::Yaml,
        "application/vnd.kubernetes.protobuf" => BodyType::Protobuf,
        "application/strategic-merge-patch+json" => BodyType::StrategicMerge,
        "application/merge-patch+json" => BodyType::MergePatch,
        "application/json-patch+json" => BodyType::JsonPatch,
        "application/apply-patch+yaml" => BodyType::Apply,
        _ => return None,
    })
}

/// Decoded query parameters. A repeated parameter keeps its first value, as upstream's parameter codec does when
/// it converts `url.Values` into options (a string field takes element 0).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(decode(k)).or_insert_with(|| decode(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Boolean flags such as `watch=true` or `watch=1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("unsupported dryRun value {other:?}: only \"All\""))),
        }
    }

    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid {key} value {s:?}"))),
        }
    }
}

/// `fieldValidation`: what to do with unknown fields in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn table_or_json() {
        let q = Query::default();
        assert_eq!(output(Some(TABLE), &q).unwrap(), Output::Table(IncludeObject::Metadata));
        assert_eq!(output(Some("application/json, */*"), &q).unwrap(), Output::Json);
        assert_eq!(output(None, &q).unwrap(), Output::Json);
        let q = Query::parse(Some("includeObject=Object"));
        assert_eq!(output(Some(TABLE), &q).unwrap(), Output::Table(IncludeObject::Object));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("labelSelector=job-name%3Dpi&watch=1&fieldSelector=a%3Db%2Cc%21%3Dd&x=a+b"));
        assert_eq!(q.get("labelSelector"), Some("job-name=pi"));
        assert_eq!(q.get("fieldSelector"), Some("a=b,c!=d"));
        assert_eq!(q.get("x"), Some("a b"));
        assert!(q.flag("watch"));
        let q = Query::parse(Some("dryRun=All&dryRun=&watch&watch=0"));
        assert_eq!((q.get("dryRun"), q.get("watch")), (Some("All"), Some("")), "the first value of a repeated key");
        let q = Query::parse(Some("bad=%zz&tail=%4"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("tail"), Some("%4"));
    }

    #[test]
    fn body_types() {
        assert_eq!(body_type(None), Some(BodyType::Json));
        assert_eq!(body_type(Some("application/json; charset=utf-8")), Some(BodyType::Json));
        assert_eq!(body_type(Some("application/strategic-merge-patch+json")), Some(BodyType::StrategicMerge));
        assert_eq!(body_type(Some("application/apply-patch+yaml")), Some(BodyType::Apply));
        assert_eq!(body_type(Some("text/plain")), None);
    }
}
