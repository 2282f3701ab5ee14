//! The patch formats the API server accepts, on `serde_json::Value` documents: strategic merge patch
//! (spec strategic-merge-patch.md §1), RFC 7386 merge patch, RFC 6902 JSON patch, and a field-ownership-free
//! server-side apply merge (spec §5.2). Pure functions; the caller parses bodies, decodes, defaults and
//! validates.

mod apply;
mod errors;
mod gofmt;
mod gosort;
mod list;
mod order;
mod schema;
mod smp;

use serde_json::Value;

pub use errors::{GENERIC_UNPROCESSABLE, PatchError};

/// Which object type a document is (the root of the schema table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Job,
    CronJob,
    Pod,
    Namespace,
    Node,
    Event,
    Lease,
    ConfigMap,
    Secret,
    RuntimeClass,
    Scale,
    Other,
}

impl Kind {
    /// The schema root for an object's `kind` field (`"Job"`, `"Pod"`, ...); anything else is `Other`.
    pub fn from_kind_name(kind: &str) -> Kind {
        match kind {
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "Pod" => Kind::Pod,
            "Namespace" => Kind::Namespace,
            "Node" => Kind::Node,
            "Event" => Kind::Event,
            "Lease" => Kind::Lease,
            "ConfigMap" => Kind::ConfigMap,
            "Secret" => Kind::Secret,
            "RuntimeClass" => Kind::RuntimeClass,
            "Scale" => Kind::Scale,
            _ => Kind::Other,
        }
    }
}

/// Upstream's limit on JSON patch operations (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// Upstream's bound on what the `copy` operations of one JSON patch may add, in bytes of JSON
/// (`JSONPatchMaxCopyBytes`, 3 MiB). Without it each copy can double the document: forty copies of
/// `/metadata` into itself would need terabytes.
pub const MAX_JSON_PATCH_COPY_BYTES: u64 = 3 * 1024 * 1024;

/// Strategic merge patch: `MergeMap(live, patch, schema-of-kind)` with all directives of spec §1.
///
/// Nulls inside appended list elements and `$patch: replace` values are kept, as upstream does until
/// typed decoding; run [`strip_nulls`] on the result before decoding it.
pub fn strategic_merge(live: &Value, patch: &Value, kind: Kind) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(map) => map.clone(),
        // Go's decoder leaves the map empty for `null`.
        Value::Null => serde_json::Map::new(),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(other)
            )));
        }
    };
    let Value::Object(live) = live else {
        return Err(PatchError::BadRequest("invalid JSON document".into()));
    };
    smp::merge_map(live.clone(), patch, schema::root(kind)).map(Value::Object)
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(live: &Value, patch: &Value) -> Result<Value, PatchError> {
    match patch {
        Value::Object(_) => {
            let mut doc = live.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        // A non-object patch replaces the document (which then fails typed decoding upstream).
        Value::Array(_) => {
            let mut doc = patch.clone();
            smp::discard_nulls(&mut doc);
            Ok(doc)
        }
        _ => Err(PatchError::BadRequest("Invalid JSON Patch".into())),
    }
}

/// RFC 6902 JSON patch (body is the JSON array).
///
/// Malformed bodies are 400; more than [`MAX_JSON_PATCH_OPERATIONS`] operations are 413; operations that cannot
/// be applied (failed `test`, missing path, unknown `op`) are upstream's bare 422, and copies adding up to more
/// than [`MAX_JSON_PATCH_COPY_BYTES`] are a 422 that says so.
pub fn json_patch(live: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = match patch {
        Value::Array(operations) => operations,
        // Go decodes `null` into an empty patch.
        Value::Null => return Ok(live.clone()),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_kind(other)
            )));
        }
    };
    if let Some(bad) = operations.iter().find(|op| !op.is_object()) {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(bad)
        )));
    }
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "Request entity too large: The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            operations.len()
        )));
    }
    let unprocessable = || PatchError::Invalid(GENERIC_UNPROCESSABLE.into());
    let parsed: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|_| unprocessable())?;
    let mut doc = live.clone();
    // One operation at a time, so each copy is measured against the document as the earlier ones left it. A
    // failure anywhere discards `doc`, so applying piecewise is as atomic as applying the whole patch.
    let mut copied: u64 = 0;
    for operation in &parsed.0 {
        if let json_patch::PatchOperation::Copy(copy) = operation
            && let Some(value) = doc.pointer(copy.from.as_str())
        {
            copied = copied.saturating_add(json_size(value));
            if copied > MAX_JSON_PATCH_COPY_BYTES {
                return Err(PatchError::Unprocessable {
                    cause: format!(
                        "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}"
                    ),
                });
            }
        }
        json_patch::patch(&mut doc, std::slice::from_ref(operation)).map_err(|_| unprocessable())?;
    }
    Ok(doc)
}

/// The length of a value's compact JSON, counted without building the text.
fn json_size(value: &Value) -> u64 {
    struct Counter(u64);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Server-side apply, "level 1" of spec §5.2: merge by the SSA list types of spec §2 (atomic / set / map
/// with keys), explicit null clears, never removes fields absent from the applied document.
pub fn apply_merge(live: &Value, applied: &Value, kind: Kind) -> Value {
    apply::apply(live, applied, kind)
}

/// For server-side apply: the upstream error text when the applied document repeats an element of a
/// keyed list or set, e.g. `.spec.template.spec.containers: duplicate entries for key [name="x"]`
/// (upstream prefixes it with `failed to create typed patch object (<ns>/<name>; <gvk>): `).
pub fn apply_duplicate_key_error(applied: &Value, kind: Kind) -> Option<String> {
    apply::duplicate_key_error(applied, kind)
}

/// Drops every null-valued key recursively (the final step the server does before typed decoding).
pub fn strip_nulls(v: &mut Value) {
    smp::discard_nulls(v);
}

/// The JSON kind word Go's `UnmarshalTypeError` uses.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON value printed the way Go's `%v` prints the decoded `interface{}` (used in upstream error messages).
pub fn go_format(value: &Value) -> String {
    gofmt::v(value)
}
