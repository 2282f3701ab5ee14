//! OpenAPI v3 (`/openapi/v3` and one document per group version): Kubernetes' schemas for every kind served,
//! so `kubectl explain` prints the field documentation, plus one `patch` operation per kind carrying the
//! `fieldValidation` parameter, which tells kubectl the server validates fields itself (kubectl-wire.md §9).
//!
//! The schemas are generated from the k8s-openapi types by `tools/openapi-gen` into `openapi/*.json` (a test
//! there fails when they are stale); here they are only read and served.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::discovery::KUBE_MINOR;
use crate::resources::RESOURCES;

/// The committed `components.schemas` of each group version (keyed as in `/openapi/v3`'s `paths`).
static SCHEMAS: &[(&str, &str)] = &[
    ("api/v1", include_str!("../openapi/api__v1.json")),
    ("apis/batch/v1", include_str!("../openapi/apis__batch__v1.json")),
    ("apis/coordination.k8s.io/v1", include_str!("../openapi/apis__coordination.k8s.io__v1.json")),
    ("apis/node.k8s.io/v1", include_str!("../openapi/apis__node.k8s.io__v1.json")),
];

fn path_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// A served document and the hash kubectl's cache keys it by.
struct Document {
    path: String,
    value: Value,
    hash: String,
}

/// Built on first use: every group version that serves a resource.
static DOCUMENTS: LazyLock<Vec<Document>> = LazyLock::new(|| {
    let mut keys: Vec<String> = Vec::new();
    for r in RESOURCES {
        let key = path_key(r.group, r.version);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter().map(|path| build(&path)).collect()
});

fn build(path: &str) -> Document {
    let mut doc = SCHEMAS
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
        .unwrap_or_else(|| json!({}));
    let mut paths = Map::new();
    for r in RESOURCES.iter().filter(|r| path_key(r.group, r.version) == path) {
        let item = if r.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/{path}/{}/{{name}}", r.plural)
        };
        paths.insert(
            item,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind_name},
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
            }}),
        );
    }
    if let Some(m) = doc.as_object_mut() {
        m.insert("openapi".into(), json!("3.0.0"));
        m.insert("info".into(), json!({"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")}));
        m.insert("paths".into(), Value::Object(paths));
    }
    let hash = fnv1a(doc.to_string().as_bytes());
    Document { path: path.to_string(), value: doc, hash: format!("{hash:016X}") }
}

/// FNV-1a: a stable content hash, so kubectl's HTTP cache refreshes exactly when a document changes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `/openapi/v3`: the root listing of group-version documents.
pub fn root() -> Value {
    let mut paths = Map::new();
    for d in DOCUMENTS.iter() {
        paths.insert(d.path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.path, d.hash)}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{api/v1 | apis/g/v}`, or None when nothing is served there.
pub fn document(path: &str) -> Option<&'static Value> {
    DOCUMENTS.iter().find(|d| d.path == path).map(|d| &d.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_point_at_each_other() {
        let root = root();
        let url = root["paths"]["apis/batch/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/apis/batch/v1?hash="));
        let doc = document("apis/batch/v1").unwrap();
        let op = &doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Job");
        assert_eq!(op["parameters"][0]["name"], "fieldValidation");
        let core = document("api/v1").unwrap();
        assert!(core["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
        assert!(document("apis/nothing/v1").is_none());
    }

    #[test]
    fn every_kind_served_has_its_schema() {
        for r in RESOURCES {
            let doc = document(&path_key(r.group, r.version)).unwrap();
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            let found = schemas.values().any(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|gvk| gvk["group"] == r.group && gvk["version"] == r.version && gvk["kind"] == r.kind_name)
            });
            assert!(
                found,
                "no schema for {} {}: add it to tools/openapi-gen and regenerate",
                r.api_version(),
                r.kind_name
            );
        }
    }

    #[test]
    fn schemas_carry_kubernetes_docs() {
        let doc = document("apis/batch/v1").unwrap();
        let spec = &doc["components"]["schemas"]["io.k8s.api.batch.v1.JobSpec"];
        assert!(spec["properties"]["backoffLimit"]["description"].as_str().unwrap().contains("number of retries"));
        assert_eq!(
            spec["properties"]["podFailurePolicy"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.batch.v1.PodFailurePolicy"
        );
    }
}
