//! The `core/v1` Event object a component records about another object (what `kubectl describe` shows under
//! Events), built the way upstream's legacy event recorder builds it (`makeEvent`).

use runlet_codec::{Event, EventSource, ObjectMeta, ObjectReference, Time};

pub use crate::vocab::EventType;

/// One occurrence of an event about `about`, reported by `component` (on `host`, for node components).
///
/// The name is `<object name>.<hex nanoseconds of now>` (upstream's), which also orders events by time. A
/// cluster-scoped object's events go to `default`, as upstream's do.
pub fn event_object(
    about: &ObjectReference,
    type_: EventType,
    reason: &str,
    message: &str,
    component: &str,
    host: Option<&str>,
    now: jiff::Timestamp,
) -> Event {
    let namespace = about.namespace.clone().filter(|ns| !ns.is_empty()).unwrap_or_else(|| "default".into());
    let name = format!("{}.{:x}", about.name.as_deref().unwrap_or("object"), now.as_nanosecond());
    Event {
        metadata: ObjectMeta { name: Some(name), namespace: Some(namespace), ..Default::default() },
        involved_object: about.clone(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(type_.into()),
        source: Some(EventSource { component: Some(component.into()), host: host.map(str::to_string) }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        reporting_component: Some(component.into()),
        // Upstream reports the source host here; a controller has none and sends "".
        reporting_instance: Some(host.unwrap_or_default().into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(kind: &str, namespace: Option<&str>, name: &str, field_path: Option<&str>) -> ObjectReference {
        ObjectReference {
            api_version: Some(if kind == "Job" { "batch/v1" } else { "v1" }.into()),
            kind: Some(kind.into()),
            name: Some(name.into()),
            namespace: namespace.map(str::to_string),
            uid: Some(format!("uid-{name}")),
            resource_version: Some("7".into()),
            field_path: field_path.map(str::to_string),
        }
    }

    #[test]
    fn builds_the_event_object() {
        let now: jiff::Timestamp = "2026-11-27T10:51:17.5Z".parse().unwrap();
        let nanos = format!("{:x}", now.as_nanosecond());
        struct Case {
            about: ObjectReference,
            component: &'static str,
            host: Option<&'static str>,
            want_name: String,
            want_namespace: &'static str,
        }
        let cases = [
            Case {
                about: reference("Job", Some("team"), "pi", None),
                component: "job-controller",
                host: None,
                want_name: format!("pi.{nanos}"),
                want_namespace: "team",
            },
            Case {
                about: reference("Pod", Some("default"), "pi-x7k2p", Some("spec.containers{pi}")),
                component: "kubelet",
                host: Some("node-1"),
                want_name: format!("pi-x7k2p.{nanos}"),
                want_namespace: "default",
            },
            Case {
                about: reference("Node", None, "node-1", None),
                component: "kubelet",
                host: Some("node-1"),
                want_name: format!("node-1.{nanos}"),
                want_namespace: "default",
            },
            Case {
                about: reference("Node", Some(""), "node-2", None),
                component: "kubelet",
                host: Some("node-2"),
                want_name: format!("node-2.{nanos}"),
                want_namespace: "default",
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let ev = event_object(&c.about, EventType::Warning, "BackOff", "Back-off", c.component, c.host, now);
            assert_eq!(ev.metadata.name.as_deref(), Some(c.want_name.as_str()), "case {i}");
            assert_eq!(ev.metadata.namespace.as_deref(), Some(c.want_namespace), "case {i}");
            assert_eq!(ev.involved_object, c.about, "case {i}: the reference is kept whole");
            assert_eq!(
                (ev.type_.as_deref(), ev.reason.as_deref(), ev.message.as_deref()),
                (Some("Warning"), Some("BackOff"), Some("Back-off")),
                "case {i}"
            );
            let source = ev.source.clone().unwrap_or_default();
            assert_eq!(source.component.as_deref(), Some(c.component), "case {i}");
            assert_eq!(source.host.as_deref(), c.host, "case {i}");
            assert_eq!(ev.reporting_component.as_deref(), Some(c.component), "case {i}");
            assert_eq!(ev.reporting_instance.as_deref(), Some(c.host.unwrap_or("")), "case {i}");
            assert_eq!((ev.first_timestamp, ev.last_timestamp, ev.count), (Some(Time(now)), Some(Time(now)), Some(1)));
            assert_eq!(ev.event_time, None, "case {i}: legacy events carry no eventTime");
        }
    }

    #[test]
    fn serializes_like_upstream() {
        let now: jiff::Timestamp = "2026-11-27T10:51:17Z".parse().unwrap();
        let ev = event_object(
            &reference("Job", Some("default"), "pi", None),
            EventType::Normal,
            "SuccessfulCreate",
            "Created pod: pi-x7k2p",
            "job-controller",
            None,
            now,
        );
        let v = runlet_codec::encode_event(&ev).unwrap();
        assert_eq!(v["firstTimestamp"], "2026-11-27T10:51:17Z");
        assert_eq!(v["lastTimestamp"], "2026-11-27T10:51:17Z");
        assert_eq!(v["count"], 1);
        assert_eq!(v["source"], serde_json::json!({"component": "job-controller"}));
        assert_eq!(v["reportingComponent"], "job-controller");
        assert_eq!(v["reportingInstance"], "");
    }
}
