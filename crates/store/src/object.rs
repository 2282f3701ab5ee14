//! The store's data types and the pure rules about `metadata.resourceVersion`.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pack::Text;

/// A point in the store's single global history. Every successful write gets the next one.
pub type Revision = i64;

/// A stored object. `value.metadata.resourceVersion` is always the string form of `mod_revision`.
#[derive(Clone, Debug)]
pub struct Object {
    pub key: Arc<str>,
    pub value: Arc<Value>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// An object as memory keeps it between reads: its JSON text, packed ([`crate::pack`]) and parsed again on each
/// read. A pod is about 2.5 KB of JSON, at most about 0.6 KB packed, but about 15 KB as a `serde_json::Value` (a
/// map node per object, a heap string per key), and the store holds every object for as long as it exists, so
/// the cache and the history keep this form.
#[derive(Clone, Debug)]
pub struct Compact {
    pub key: Arc<str>,
    /// The object's JSON. Its `metadata.resourceVersion`, when present, is not trusted: [`Compact::decode`]
    /// stamps `mod_revision`. The cache's text carries the right one, so lists can send it as it is.
    text: Text,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

impl Compact {
    /// The compact form of `object` (its value serialized as it is, resourceVersion included), packed.
    pub fn of(object: &Object) -> Compact {
        Compact::packed(object.key.clone(), &object.value.to_string(), object.create_revision, object.mod_revision)
    }

    /// A compact object of JSON text, packed.
    pub fn packed(key: Arc<str>, json: &str, create_revision: Revision, mod_revision: Revision) -> Compact {
        Compact { key, text: Text::pack(json), create_revision, mod_revision }
    }

    /// A compact object of JSON text as it is (not packed: for objects that are read once and dropped).
    pub fn plain(key: Arc<str>, json: Arc<str>, create_revision: Revision, mod_revision: Revision) -> Compact {
        Compact { key, text: Text::Plain(json), create_revision, mod_revision }
    }

    /// This object with its text unpacked, for a reader that reads it more than once (a list filters it, then
    /// answers it).
    pub fn unpacked(&self) -> Result<Compact, StoreError> {
        let text = match &self.text {
            Text::Plain(_) => self.text.clone(),
            Text::Packed { .. } => Text::Plain(Arc::from(self.json()?)),
        };
        Ok(Compact { text, ..self.clone() })
    }

    /// The object's JSON text (unpacked when packed).
    pub fn json(&self) -> Result<Cow<'_, str>, StoreError> {
        self.text.unpack().map_err(|reason| StoreError::InvalidValue { key: self.key.to_string(), reason })
    }

    /// The object, parsed and stamped with its mod_revision. Err only if the text is not an object, which
    /// nothing in the store writes.
    pub fn decode(&self) -> Result<Object, StoreError> {
        let json = self.json()?;
        let value = decode_value(json.as_bytes(), self.mod_revision)
            .map_err(|reason| StoreError::InvalidValue { key: self.key.to_string(), reason })?;
        Ok(Object {
            key: self.key.clone(),
            value: Arc::new(value),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventType,
    /// For Added/Modified: the new object. For Deleted: the last state of the object, with
    /// `mod_revision` (and the stamped resourceVersion) = the revision of the delete.
    pub object: Object,
    /// The previous value (None for Added). Lets watchers with selectors turn "stopped matching" into DELETED.
    pub prev: Option<Arc<Value>>,
}

impl Event {
    /// The revision at which this event happened.
    pub fn revision(&self) -> Revision {
        self.object.mod_revision
    }
}

/// One page of a chunked list.
#[derive(Debug)]
pub struct Page {
    /// The objects kept by the filter, in key order, at most the limit asked for, as JSON text with the right
    /// resourceVersion (a list answers them without parsing them), unpacked: the filter and the answer read
    /// the text once each.
    pub items: Vec<Compact>,
    /// The revision every item is consistent at.
    pub revision: Revision,
    /// Where the next page starts (inclusive), when objects after this page exist under the prefix (whether or
    /// not the filter would keep them, as etcd answers `more` before the API server filters).
    pub next: Option<String>,
    /// Objects under the prefix from `next` on, filter or not.
    pub remaining: usize,
}

/// What a page asks for.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    pub prefix: &'a str,
    /// First key to consider (inclusive); None starts at the prefix.
    pub from: Option<&'a str>,
    /// The revision to read at (a continued list); None reads the current state.
    pub at: Option<Revision>,
    /// Items to answer (at least one).
    pub limit: usize,
}

/// Largest serialized object the store keeps: every object also lives in the cache and the watch history.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} not found")]
    NotFound { key: String },
    #[error("conflict on {key}: expected revision {expected}, found {actual}")]
    Conflict { key: String, expected: Revision, actual: Revision },
    /// Watch from a revision older than the retained history (HTTP 410). `oldest` is the oldest
    /// revision that can still be watched from.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: Revision, oldest: Revision },
    /// The value cannot be stored as an object: not a JSON object, or `metadata` is not an object.
    #[error("invalid value for {key}: {reason}")]
    InvalidValue { key: String, reason: String },
    /// The serialized value is over [`MAX_VALUE_BYTES`] (etcd's default request limit is 1.5 MiB too).
    #[error("value for {key} is {size} bytes, over the limit of {limit}")]
    TooLarge { key: String, size: usize, limit: usize },
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("store is closed")]
    Closed,
}

/// Why a value cannot carry a resourceVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShapeError {
    NotAnObject,
    MetadataNotAnObject,
}

impl ShapeError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            ShapeError::NotAnObject => "value is not a JSON object",
            ShapeError::MetadataNotAnObject => "metadata is not a JSON object",
        }
    }
}

/// The `metadata` map of `value`, created if missing.
fn metadata_mut(value: &mut Value) -> Result<&mut Map<String, Value>, ShapeError> {
    let Value::Object(root) = value else {
        return Err(ShapeError::NotAnObject);
    };
    let metadata = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    match metadata {
        Value::Object(map) => Ok(map),
        _ => Err(ShapeError::MetadataNotAnObject),
    }
}

/// Sets `metadata.resourceVersion` to `revision` (creating `metadata` if absent).
pub(crate) fn stamp_resource_version(value: &mut Value, revision: Revision) -> Result<(), ShapeError> {
    metadata_mut(value)?.insert("resourceVersion".to_owned(), Value::String(revision.to_string()));
    Ok(())
}

/// Removes `metadata.resourceVersion`: the stored row's mod_revision is the truth, so the
/// persisted JSON does not carry a second, possibly stale, copy.
pub(crate) fn strip_resource_version(value: &mut Value) -> Result<(), ShapeError> {
    metadata_mut(value)?.remove("resourceVersion");
    Ok(())
}

fn invalid(key: &str, reason: &str) -> StoreError {
    StoreError::InvalidValue { key: key.to_owned(), reason: reason.to_owned() }
}

/// The JSON a backend persists for `value`: without `metadata.resourceVersion` (the backend's
/// mod_revision is the truth) and at most [`MAX_VALUE_BYTES`] long.
pub(crate) fn encode_value(key: &str, value: &mut Value) -> Result<String, StoreError> {
    strip_resource_version(value).map_err(|e| invalid(key, e.reason()))?;
    let json = serde_json::to_string(value).map_err(|e| invalid(key, &e.to_string()))?;
    if json.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge { key: key.to_owned(), size: json.len(), limit: MAX_VALUE_BYTES });
    }
    Ok(json)
}

/// A persisted value read back: parsed and stamped with its mod_revision, or why it cannot be an object.
pub(crate) fn decode_value(json: &[u8], mod_revision: Revision) -> Result<Value, String> {
    let mut value: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    stamp_resource_version(&mut value, mod_revision).map_err(|e| e.reason().to_owned())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_cases() {
        let cases: Vec<(Value, Result<Value, ShapeError>)> = vec![
            (json!({"kind": "Job"}), Ok(json!({"kind": "Job", "metadata": {"resourceVersion": "7"}}))),
            (
                json!({"metadata": {"name": "pi", "resourceVersion": "3"}}),
                Ok(json!({"metadata": {"name": "pi", "resourceVersion": "7"}})),
            ),
            (json!([1, 2]), Err(ShapeError::NotAnObject)),
            (json!("x"), Err(ShapeError::NotAnObject)),
            (json!({"metadata": "x"}), Err(ShapeError::MetadataNotAnObject)),
        ];
        for (mut input, want) in cases {
            let got = stamp_resource_version(&mut input, 7).map(|()| input);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn strip_cases() {
        let cases: Vec<(Value, Result<Value, ShapeError>)> = vec![
            (json!({"metadata": {"name": "pi", "resourceVersion": "3"}}), Ok(json!({"metadata": {"name": "pi"}}))),
            (json!({}), Ok(json!({"metadata": {}}))),
            (json!(null), Err(ShapeError::NotAnObject)),
            (json!({"metadata": []}), Err(ShapeError::MetadataNotAnObject)),
        ];
        for (mut input, want) in cases {
            let got = strip_resource_version(&mut input).map(|()| input);
            assert_eq!(got, want);
        }
    }
}
