//! Server-side `Table` content for `kubectl get` (`Accept: ...;as=Table;g=meta.k8s.io;v=v1`): column definitions
//! and row cells per kind, as upstream `pkg/printers/internalversion` prints them with `Wide: true` (the server
//! always sends every column; kubectl hides `priority: 1` ones unless `-o wide`).
//!
//! Cells are JSON strings, except where upstream puts integers (an event's Count). Times are rendered against
//! the caller's `now` so the functions stay pure.

mod config;
mod cronjob;
mod job;
mod other;
mod pod;
mod runtime_class;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::codec::{MicroTime, Time};
use crate::duration;

pub use config::{config_map_cells, config_map_columns, secret_cells, secret_columns};
pub use cronjob::{cronjob_cells, cronjob_columns};
pub use job::{job_cells, job_columns, job_status};
pub use other::{
    event_cells, event_columns, lease_cells, lease_columns, namespace_cells, namespace_columns, node_cells,
    node_columns,
};
pub use pod::{PodSummary, pod_cells, pod_columns, pod_summary};
pub use runtime_class::{runtime_class_cells, runtime_class_columns};

/// One `columnDefinitions` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    /// `"name"` marks the column holding the object name (kubectl prefixes it with `kind/` in `get all`).
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The `TableColumnDefinition` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// All column definitions of a kind as the `columnDefinitions` array.
pub fn columns_json(columns: &[Column]) -> Value {
    Value::Array(columns.iter().map(Column::to_json).collect())
}

const fn col(name: &'static str, description: &'static str, priority: i32) -> Column {
    Column { name, type_: "string", format: "", description, priority }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

const AGE: Column = col("Age", "Time since the object was created (metadata.creationTimestamp).", 0);

/// Upstream `translateTimestampSince`: `<unknown>` for a missing time.
fn since(t: Option<&Time>, now: Timestamp) -> String {
    duration::age(t, now)
}

fn since_micro(t: Option<&MicroTime>, now: Timestamp) -> String {
    t.map_or_else(|| "<unknown>".to_string(), |t| duration::since(t.0, now))
}

fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

fn or_none(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => "<none>".to_string(),
    }
}
