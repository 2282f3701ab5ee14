//! The OpenAPI v3 schemas runlet serves (`/openapi/v3/api/v1`, `/openapi/v3/apis/batch/v1`, ...), generated from
//! the k8s-openapi types with their `schemars` implementations, so `kubectl explain` prints Kubernetes' own field
//! documentation. Generated once into committed JSON (`crates/apiserver/openapi/`): the schemars code is large
//! and generic, and only this crate compiles it.

use k8s_openapi::api::{batch, coordination, core, node};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// One group version's document: its file name and its `components.schemas`.
pub struct Document {
    /// `api/v1`, `apis/batch/v1`: the key in `/openapi/v3`'s `paths`.
    pub path: &'static str,
    pub value: Value,
}

/// The directory of the committed documents, relative to the workspace root.
pub const OUT_DIR: &str = "crates/apiserver/openapi";

/// The file a document is written to: `api__v1.json`, `apis__batch__v1.json`.
pub fn file_name(path: &str) -> String {
    format!("{}.json", path.replace('/', "__"))
}

struct Kinds {
    generator: SchemaGenerator,
    kinds: Vec<(String, Value)>,
}

impl Kinds {
    fn new() -> Kinds {
        Kinds { generator: SchemaSettings::openapi3().into_generator(), kinds: Vec::new() }
    }

    /// Adds a top-level kind and everything it refers to.
    fn add<T: JsonSchema>(mut self, group: &str, version: &str, kind: &str) -> Kinds {
        let _ = self.generator.subschema_for::<T>();
        self.kinds.push((T::schema_name().into_owned(), json!([{"group": group, "version": version, "kind": kind}])));
        self
    }

    fn document(mut self) -> Value {
        let mut schemas: Map<String, Value> = self.generator.take_definitions(true);
        for (name, gvk) in self.kinds {
            if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
                schema.insert("x-kubernetes-group-version-kind".into(), gvk);
                // The k8s-openapi types make `metadata` required; Kubernetes' schemas do not.
                let drop_required = match schema.get_mut("required").and_then(Value::as_array_mut) {
                    Some(req) => {
                        req.retain(|r| r != "metadata");
                        req.is_empty()
                    }
                    None => false,
                };
                if drop_required {
                    schema.remove("required");
                }
            }
        }
        let sorted: Map<String, Value> = {
            let mut keys: Vec<String> = schemas.keys().cloned().collect();
            keys.sort();
            keys.into_iter().filter_map(|k| schemas.remove(&k).map(|v| (k, v))).collect()
        };
        json!({"components": {"schemas": sorted}})
    }
}

/// Every document, for the kinds runlet serves (and the ones it is about to: ConfigMap, Secret, CronJob,
/// RuntimeClass).
pub fn documents() -> Vec<Document> {
    vec![
        Document {
            path: "api/v1",
            value: Kinds::new()
                .add::<core::v1::Namespace>("", "v1", "Namespace")
                .add::<core::v1::Pod>("", "v1", "Pod")
                .add::<core::v1::Event>("", "v1", "Event")
                .add::<core::v1::Node>("", "v1", "Node")
                .add::<core::v1::ConfigMap>("", "v1", "ConfigMap")
                .add::<core::v1::Secret>("", "v1", "Secret")
                .document(),
        },
        Document {
            path: "apis/batch/v1",
            value: Kinds::new()
                .add::<batch::v1::Job>("batch", "v1", "Job")
                .add::<batch::v1::CronJob>("batch", "v1", "CronJob")
                .document(),
        },
        Document {
            path: "apis/coordination.k8s.io/v1",
            value: Kinds::new().add::<coordination::v1::Lease>("coordination.k8s.io", "v1", "Lease").document(),
        },
        Document {
            path: "apis/node.k8s.io/v1",
            value: Kinds::new().add::<node::v1::RuntimeClass>("node.k8s.io", "v1", "RuntimeClass").document(),
        },
    ]
}

/// A document as committed: pretty JSON with a final newline.
pub fn render(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}
