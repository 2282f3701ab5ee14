//! Tables for events, namespaces, nodes and leases.

use crate::vocab::{ConditionStatus, NodeConditionType};
use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::{AGE, Column, NAME, col, s, since, since_micro};
use crate::codec::{Event, Lease, Namespace, Node};

const EVENT_COLUMNS: [Column; 10] = [
    col("Last Seen", "Time since the event was last seen.", 0),
    col("Type", "Type of this event (Normal, Warning).", 0),
    col("Reason", "Short, machine-understandable reason for the event.", 0),
    col("Object", "The object this event is about, as kind/name.", 0),
    col("Subobject", "The part of the object this event is about (e.g. spec.containers{name}).", 1),
    col("Source", "The component (and host) reporting this event.", 1),
    col("Message", "A human-readable description of the event.", 0),
    col("First Seen", "Time since the event was first seen.", 1),
    // Upstream declares Count a string column but sends an integer cell.
    col("Count", "The number of times this event has occurred.", 1),
    Column { format: "name", ..col("Name", "Name must be unique within a namespace.", 1) },
];

const NAMESPACE_COLUMNS: [Column; 3] = [NAME, col("Status", "The status of the namespace", 0), AGE];

const NODE_COLUMNS: [Column; 10] = [
    NAME,
    col("Status", "The status of the node", 0),
    col("Roles", "The roles of the node", 0),
    AGE,
    col("Version", "Kubelet version reported by the node.", 0),
    col("Internal-IP", "The node's internal address.", 1),
    col("External-IP", "The node's external address.", 1),
    col("OS-Image", "OS image reported by the node.", 1),
    col("Kernel-Version", "Kernel version reported by the node.", 1),
    col("Container-Runtime", "Container runtime version reported by the node.", 1),
];

const LEASE_COLUMNS: [Column; 3] = [NAME, col("Holder", "The identity of the current holder of the lease.", 0), AGE];

pub fn event_columns() -> &'static [Column] {
    &EVENT_COLUMNS
}

pub fn namespace_columns() -> &'static [Column] {
    &NAMESPACE_COLUMNS
}

pub fn node_columns() -> &'static [Column] {
    &NODE_COLUMNS
}

pub fn lease_columns() -> &'static [Column] {
    &LEASE_COLUMNS
}

fn first_non_empty<'a>(a: Option<&'a str>, b: Option<&'a str>) -> &'a str {
    a.filter(|s| !s.is_empty()).or(b).unwrap_or_default()
}

/// `component` or `component, host`, falling back to the reporting controller/instance of newer events.
fn event_source(event: &Event) -> String {
    let source = event.source.as_ref();
    let component = first_non_empty(source.and_then(|s| s.component.as_deref()), event.reporting_component.as_deref());
    let instance = first_non_empty(source.and_then(|s| s.host.as_deref()), event.reporting_instance.as_deref());
    if instance.is_empty() { component.to_string() } else { format!("{component}, {instance}") }
}

pub fn event_cells(event: &Event, now: Timestamp) -> Vec<Value> {
    let first_seen = match &event.first_timestamp {
        Some(t) => since(Some(t), now),
        None => since_micro(event.event_time.as_ref(), now),
    };
    let mut last_seen = match &event.last_timestamp {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = event.count.unwrap_or(0);
    if let Some(series) = &event.series {
        last_seen = since_micro(series.last_observed_time.as_ref(), now);
        count = series.count.unwrap_or(0);
    } else if count == 0 {
        // Events written through events.k8s.io/v1 leave the count unset for a single occurrence.
        count = 1;
    }
    let object = &event.involved_object;
    let kind = object.kind.as_deref().unwrap_or_default().to_lowercase();
    let target = match object.name.as_deref() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    vec![
        s(last_seen),
        s(event.type_.clone().unwrap_or_default()),
        s(event.reason.clone().unwrap_or_default()),
        s(target),
        s(object.field_path.clone().unwrap_or_default()),
        s(event_source(event)),
        s(event.message.as_deref().unwrap_or_default().trim()),
        s(first_seen),
        Value::from(i64::from(count)),
        s(event.metadata.name.clone().unwrap_or_default()),
    ]
}

pub fn namespace_cells(namespace: &Namespace, now: Timestamp) -> Vec<Value> {
    let phase = namespace.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    vec![
        s(namespace.metadata.name.clone().unwrap_or_default()),
        s(phase),
        s(since(namespace.metadata.creation_timestamp.as_ref(), now)),
    ]
}

/// `Ready`, `NotReady` or `Unknown` from the Ready condition, plus `SchedulingDisabled` when cordoned.
fn node_status(node: &Node) -> String {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    // Upstream indexes conditions by type, so the last Ready condition wins.
    let mut parts = vec![match conditions.iter().rev().find(|c| c.type_ == NodeConditionType::Ready) {
        Some(c) if c.status == ConditionStatus::True => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` label value.
fn node_roles(node: &Node) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in node.metadata.labels.iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if key == "kubernetes.io/role" && !value.is_empty() {
            roles.insert(value.as_str());
        }
    }
    if roles.is_empty() { "<none>".to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") }
}

fn node_address(node: &Node, type_: &str) -> String {
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_deref()).unwrap_or_default();
    addresses.iter().find(|a| a.type_ == type_).map_or_else(|| "<none>".to_string(), |a| a.address.clone())
}

pub fn node_cells(node: &Node, now: Timestamp) -> Vec<Value> {
    let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
    let unknown_if_empty = |text: Option<&String>| match text {
        Some(t) if !t.is_empty() => t.clone(),
        _ => "<unknown>".to_string(),
    };
    vec![
        s(node.metadata.name.clone().unwrap_or_default()),
        s(node_status(node)),
        s(node_roles(node)),
        s(since(node.metadata.creation_timestamp.as_ref(), now)),
        s(info.map(|i| i.kubelet_version.clone()).unwrap_or_default()),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(unknown_if_empty(info.map(|i| &i.os_image))),
        s(unknown_if_empty(info.map(|i| &i.kernel_version))),
        s(unknown_if_empty(info.map(|i| &i.container_runtime_version))),
    ]
}

pub fn lease_cells(lease: &Lease, now: Timestamp) -> Vec<Value> {
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone()).unwrap_or_default();
    vec![
        s(lease.metadata.name.clone().unwrap_or_default()),
        s(holder),
        s(since(lease.metadata.creation_timestamp.as_ref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::k8s_openapi::api::core::v1::{EventSeries, NodeAddress, NodeSystemInfo};
    use crate::codec::{
        EventSource, LeaseSpec, MicroTime, NamespaceStatus, NodeCondition, NodeSpec, NodeStatus, ObjectMeta,
        ObjectReference, Time,
    };
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-27T10:51:30Z".parse().unwrap()
    }

    fn ts(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    fn job_event() -> Event {
        Event {
            metadata: ObjectMeta { name: Some("pi.18ebe125f3056b00".into()), ..Default::default() },
            involved_object: ObjectReference {
                kind: Some("Job".into()),
                name: Some("pi".into()),
                ..Default::default()
            },
            reason: Some("SuccessfulCreate".into()),
            message: Some("Created pod: pi-ttc9w\n".into()),
            source: Some(EventSource { component: Some("job-controller".into()), host: None }),
            first_timestamp: Some(ts("2026-11-27T10:51:17Z")),
            last_timestamp: Some(ts("2026-11-27T10:51:20Z")),
            count: Some(1),
            type_: Some("Normal".into()),
            ..Default::default()
        }
    }

    #[test]
    fn event_rows() {
        assert_eq!(
            serde_json::to_value(event_cells(&job_event(), now())).unwrap(),
            json!([
                "10s",
                "Normal",
                "SuccessfulCreate",
                "job/pi",
                "",
                "job-controller",
                "Created pod: pi-ttc9w",
                "13s",
                1,
                "pi.18ebe125f3056b00"
            ])
        );

        let mut e = job_event();
        e.involved_object.kind = Some("Pod".into());
        e.involved_object.field_path = Some("spec.containers{pi}".into());
        e.source = Some(EventSource { component: Some("kubelet".into()), host: Some("runlet".into()) });
        e.last_timestamp = None;
        e.count = None;
        let cells = event_cells(&e, now());
        assert_eq!(
            (&cells[0], &cells[3], &cells[4], &cells[5], &cells[8]),
            (&json!("13s"), &json!("pod/pi"), &json!("spec.containers{pi}"), &json!("kubelet, runlet"), &json!(1))
        );

        // events.k8s.io-style: no source or timestamps, only reporting fields, eventTime and a series.
        let mut e = job_event();
        e.source = None;
        e.reporting_component = Some("runlet-controller".into());
        e.reporting_instance = Some("node-1".into());
        e.first_timestamp = None;
        e.last_timestamp = None;
        e.event_time = Some(MicroTime("2026-11-27T10:50:30Z".parse().unwrap()));
        e.series = Some(EventSeries {
            count: Some(7),
            last_observed_time: Some(MicroTime("2026-11-27T10:51:25Z".parse().unwrap())),
        });
        e.involved_object.name = None;
        let cells = event_cells(&e, now());
        assert_eq!(
            serde_json::to_value(&cells).unwrap(),
            json!([
                "5s",
                "Normal",
                "SuccessfulCreate",
                "job",
                "",
                "runlet-controller, node-1",
                "Created pod: pi-ttc9w",
                "60s",
                7,
                "pi.18ebe125f3056b00"
            ])
        );

        let bare = event_cells(&Event::default(), now());
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!(["<unknown>", "", "", "", "", "", "", "<unknown>", 1, ""])
        );
        assert_eq!(bare.len(), event_columns().len());
    }

    #[test]
    fn namespace_and_lease_rows() {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some("default".into()),
                creation_timestamp: Some(ts("2026-11-27T10:00:00Z")),
                ..Default::default()
            },
            status: Some(NamespaceStatus { phase: Some("Terminating".into()), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(namespace_cells(&ns, now())).unwrap(),
            json!(["default", "Terminating", "51m"])
        );
        assert_eq!(
            serde_json::to_value(namespace_cells(&Namespace::default(), now())).unwrap(),
            json!(["", "", "<unknown>"])
        );

        let lease = Lease {
            metadata: ObjectMeta {
                name: Some("runlet".into()),
                creation_timestamp: Some(ts("2026-11-25T10:51:30Z")),
                ..Default::default()
            },
            spec: Some(LeaseSpec { holder_identity: Some("runlet-1".into()), ..Default::default() }),
        };
        assert_eq!(serde_json::to_value(lease_cells(&lease, now())).unwrap(), json!(["runlet", "runlet-1", "2d"]));
        assert_eq!(lease_cells(&Lease::default(), now())[1], "");
        assert_eq!(namespace_columns().len(), 3);
        assert_eq!(lease_columns().len(), 3);
    }

    #[test]
    fn node_rows() {
        let node_with = |ready: Option<&str>, unschedulable: bool, labels: &[(&str, &str)]| Node {
            metadata: ObjectMeta {
                name: Some("runlet".into()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            spec: Some(NodeSpec { unschedulable: Some(unschedulable), ..Default::default() }),
            status: Some(NodeStatus {
                conditions: Some(
                    ready
                        .map(|s| NodeCondition { type_: "Ready".into(), status: s.into(), ..Default::default() })
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            }),
        };
        // (Ready status, unschedulable, labels, STATUS, ROLES)
        type Case = (Option<&'static str>, bool, &'static [(&'static str, &'static str)], &'static str, &'static str);
        let cases: &[Case] = &[
            (Some("True"), false, &[], "Ready", "<none>"),
            (Some("False"), false, &[], "NotReady", "<none>"),
            (Some("Unknown"), false, &[], "NotReady", "<none>"),
            (None, false, &[], "Unknown", "<none>"),
            (Some("True"), true, &[], "Ready,SchedulingDisabled", "<none>"),
            (
                Some("True"),
                false,
                &[
                    ("node-role.kubernetes.io/worker", ""),
                    ("node-role.kubernetes.io/control-plane", ""),
                    ("node-role.kubernetes.io/", "x"),
                ],
                "Ready",
                "control-plane,worker",
            ),
            (
                Some("True"),
                false,
                &[("kubernetes.io/role", "master"), ("kubernetes.io/role-x", "y")],
                "Ready",
                "master",
            ),
        ];
        for &(ready, unschedulable, labels, want_status, want_roles) in cases {
            let cells = node_cells(&node_with(ready, unschedulable, labels), now());
            assert_eq!((&cells[1], &cells[2]), (&json!(want_status), &json!(want_roles)), "{ready:?} {labels:?}");
        }

        let mut node = node_with(Some("True"), false, &[]);
        if let Some(status) = node.status.as_mut() {
            status.node_info = Some(NodeSystemInfo {
                kubelet_version: "v1.33.0".into(),
                os_image: "Debian".into(),
                ..Default::default()
            });
            status.addresses = Some(vec![NodeAddress { address: "10.0.0.1".into(), type_: "InternalIP".into() }]);
        }
        let cells = node_cells(&node, now());
        assert_eq!(cells.len(), node_columns().len());
        assert_eq!(
            serde_json::to_value(&cells).unwrap(),
            json!([
                "runlet",
                "Ready",
                "<none>",
                "<unknown>",
                "v1.33.0",
                "10.0.0.1",
                "<none>",
                "Debian",
                "<unknown>",
                "<unknown>"
            ])
        );
    }

    #[test]
    fn columns_serialize() {
        let json = super::super::columns_json(event_columns());
        assert_eq!(
            json[9],
            json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 1})
        );
        assert_eq!(json[8]["priority"], 1);
        assert_eq!(json[0]["priority"], 0);
    }
}
