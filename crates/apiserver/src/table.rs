//! `meta.k8s.io/v1` Table responses (kubectl-wire.md §4): the server renders the cells, kubectl prints them.

use runlet_api::table::{self as cells, Column};
use runlet_codec as codec;
use serde_json::{Value, json};

use crate::negotiate::IncludeObject;
use crate::resources::{Kind, Resource};

fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Job => cells::job_columns(),
        Kind::CronJob => cells::cronjob_columns(),
        Kind::Pod => cells::pod_columns(),
        Kind::Event => cells::event_columns(),
        Kind::Namespace => cells::namespace_columns(),
        Kind::Node => cells::node_columns(),
        Kind::Lease => cells::lease_columns(),
        Kind::ConfigMap => cells::config_map_columns(),
        Kind::Secret => cells::secret_columns(),
        Kind::RuntimeClass => cells::runtime_class_columns(),
    }
}

/// The cells of one row; an object that no longer decodes shows its name and nothing else.
fn row_cells(kind: Kind, object: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let cells = match kind {
        Kind::Job => codec::decode_job(object).ok().map(|d| cells::job_cells(&d.object, now)),
        Kind::CronJob => codec::decode_cron_job(object).ok().map(|d| cells::cronjob_cells(&d.object, now)),
        Kind::Pod => codec::decode_pod(object).ok().map(|d| cells::pod_cells(&d.object, now)),
        Kind::Event => codec::decode_event(object).ok().map(|d| cells::event_cells(&d.object, now)),
        Kind::Namespace => codec::decode_namespace(object).ok().map(|d| cells::namespace_cells(&d.object, now)),
        Kind::Node => codec::decode_node(object).ok().map(|d| cells::node_cells(&d.object, now)),
        Kind::Lease => codec::decode_lease(object).ok().map(|d| cells::lease_cells(&d.object, now)),
        Kind::ConfigMap => codec::decode_config_map(object).ok().map(|d| cells::config_map_cells(&d.object, now)),
        Kind::Secret => codec::decode_secret(object).ok().map(|d| cells::secret_cells(&d.object, now)),
        Kind::RuntimeClass => {
            codec::decode_runtime_class(object).ok().map(|d| cells::runtime_class_cells(&d.object, now))
        }
    };
    cells.unwrap_or_else(|| {
        let mut v = vec![json!(crate::meta::name(object))];
        v.resize(columns(kind).len(), json!(""));
        v
    })
}

fn column_definitions(kind: Kind) -> Vec<Value> {
    columns(kind)
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description,
                   "priority": c.priority})
        })
        .collect()
}

fn row(resource: &Resource, object: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let mut row = json!({"cells": row_cells(resource.kind, object, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => row["object"] = object.clone(),
        IncludeObject::Metadata => {
            let mut metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = metadata.as_object_mut() {
                m.remove("managedFields");
            }
            row["object"] =
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata});
        }
    }
    row
}

/// A Table of `objects`, consistent at `resource_version`.
pub fn table<'a>(
    resource: &Resource,
    objects: impl IntoIterator<Item = &'a Value>,
    include: IncludeObject,
    resource_version: Option<String>,
    with_columns: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects.into_iter().map(|o| row(resource, o, include, now)).collect();
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "rows": rows});
    if with_columns {
        t["columnDefinitions"] = json!(column_definitions(resource.kind));
    } else {
        t["columnDefinitions"] = json!(null);
    }
    t
}
