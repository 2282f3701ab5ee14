//! Label and field selectors applied to lists and watches.

use runlet_api::selector::{FieldSelector, LabelSelector};
use runlet_store::Compact;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::negotiate::Query;
use crate::resources::{Kind, Resource};

/// The selectors of one list or watch request.
#[derive(Debug, Default)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

/// Fields each kind can be selected on: upstream's field-label conversion functions (`pkg/apis/core/v1`,
/// `pkg/apis/batch/v1`); kinds without one accept only `metadata.name` and `metadata.namespace`.
fn supported_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            // Old clients' name for spec.nodeName.
            "spec.host",
        ],
        Kind::Event => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ],
        Kind::Job => &["metadata.name", "metadata.namespace", "status.successful"],
        // Cluster-scoped: no metadata.namespace.
        Kind::Namespace => &["status.phase", "metadata.name"],
        Kind::Node => &["metadata.name", "spec.unschedulable"],
        Kind::Lease | Kind::CronJob => &["metadata.name", "metadata.namespace"],
        Kind::ConfigMap => &["metadata.name", "metadata.namespace"],
        Kind::Secret => &["metadata.name", "metadata.namespace", "type"],
        Kind::RuntimeClass => &["metadata.name"],
    }
}

/// The error upstream's conversion function of `kind` gives for a field it does not know (answered as 400).
fn unsupported_field_message(kind: Kind, field: &str) -> String {
    match kind {
        Kind::Job => format!("field label \"{field}\" not supported for batchv1.Job"),
        Kind::Lease | Kind::CronJob => {
            format!("\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
        }
        Kind::Pod
        | Kind::Event
        | Kind::Namespace
        | Kind::Node
        | Kind::ConfigMap
        | Kind::Secret
        | Kind::RuntimeClass => {
            format!("field label not supported: {field}")
        }
    }
}

/// The first field of `fields` (in the selector's sorted order, as upstream checks them) that `kind` cannot be
/// selected on, as the message to answer with.
fn check_fields<'a>(kind: Kind, fields: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let supported = supported_fields(kind);
    match fields.into_iter().find(|f| !supported.contains(f)) {
        Some(f) => Err(unsupported_field_message(kind, f)),
        None => Ok(()),
    }
}

impl Filter {
    pub fn from_query(resource: &Resource, query: &Query) -> Result<Filter, ApiError> {
        let labels = match query.get("labelSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
            None => None,
        };
        let fields = match query.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let fs = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                check_fields(resource.kind, fs.fields()).map_err(ApiError::bad_request)?;
                Some(fs)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    /// No selector at all (upstream's empty predicate: chunked lists then say how many items remain).
    pub fn selects_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, kind: Kind, object: &Value) -> bool {
        if let Some(l) = &self.labels
            && !l.matches_json(meta::labels(object))
        {
            return false;
        }
        if let Some(f) = &self.fields {
            return f.matches(|field| field_of(kind, object, field));
        }
        true
    }
}

/// `metadata.labels` of an object, parsed without the rest (skipped, not built).
#[derive(Deserialize, Default)]
struct LabelsOnly {
    #[serde(default)]
    metadata: MetadataLabels,
}

#[derive(Deserialize, Default)]
struct MetadataLabels {
    #[serde(default)]
    labels: Option<Value>,
}

impl Filter {
    /// [`Filter::matches`] on an object as the store keeps it: a label selector alone parses only the labels
    /// (about a third of parsing the whole pod); field selectors parse the object.
    pub fn matches_compact(&self, kind: Kind, object: &Compact) -> bool {
        match (&self.labels, &self.fields) {
            (None, None) => true,
            (Some(labels), None) => object.json().is_ok_and(|json| {
                serde_json::from_str::<LabelsOnly>(&json)
                    .is_ok_and(|head| labels.matches_json(head.metadata.labels.as_ref()))
            }),
            (_, Some(_)) => object.decode().is_ok_and(|o| self.matches(kind, &o.value)),
        }
    }
}

fn field_of(kind: Kind, object: &Value, field: &str) -> Option<String> {
    match (kind, field) {
        // Jobs expose `status.successful`, the succeeded count, for historical reasons.
        (Kind::Job, "status.successful") => meta::field_value(object, "status.succeeded").or(Some("0".into())),
        (Kind::Event, "source") => meta::field_value(object, "reportingComponent")
            .filter(|s| !s.is_empty())
            .or_else(|| meta::field_value(object, "source.component")),
        (Kind::Node, "spec.unschedulable") => meta::field_value(object, field).or(Some("false".into())),
        (Kind::Pod, "spec.hostNetwork") => meta::field_value(object, field).or(Some("false".into())),
        (Kind::Pod, "spec.host") => meta::field_value(object, "spec.nodeName"),
        // Upstream selects on the first of `status.podIPs`; `status.podIPs` itself is accepted but never set.
        (Kind::Pod, "status.podIP") => object
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| meta::field_value(object, field)),
        (Kind::Pod, "status.podIPs") => None,
        _ => meta::field_value(object, field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_fields_answer_like_upstream() {
        let cases: &[(Kind, &[&str], Result<(), &str>)] = &[
            (Kind::Pod, &["metadata.name", "spec.nodeName", "status.phase", "spec.host"], Ok(())),
            (Kind::Pod, &["metadata.name", "spec.foo"], Err("field label not supported: spec.foo")),
            (Kind::Job, &["metadata.namespace", "status.successful"], Ok(())),
            (Kind::Job, &["status.succeeded"], Err("field label \"status.succeeded\" not supported for batchv1.Job")),
            (Kind::Event, &["involvedObject.uid", "reason", "metadata.namespace"], Ok(())),
            (Kind::Event, &["message"], Err("field label not supported: message")),
            (Kind::Namespace, &["metadata.name", "status.phase"], Ok(())),
            (Kind::Namespace, &["metadata.namespace"], Err("field label not supported: metadata.namespace")),
            (Kind::Node, &["metadata.namespace"], Err("field label not supported: metadata.namespace")),
            (
                Kind::Lease,
                &["spec.holderIdentity"],
                Err(
                    "\"spec.holderIdentity\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                ),
            ),
        ];
        for (kind, fields, want) in cases {
            assert_eq!(
                check_fields(*kind, fields.iter().copied()),
                want.map_err(str::to_string),
                "{kind:?} {fields:?}"
            );
        }
    }

    #[test]
    fn compact_objects_match_as_parsed_ones() {
        let pods = [
            json!({"metadata": {"name": "a", "labels": {"app": "x", "tier": "db"}}, "spec": {"nodeName": "n1"}}),
            json!({"metadata": {"name": "b", "labels": {"app": "y"}}, "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "c"}}),
            json!({"kind": "Pod"}),
        ];
        // (labelSelector, fieldSelector)
        let selectors = [
            (None, None),
            (Some("app=x"), None),
            (Some("app!=x"), None),
            (Some("tier"), None),
            (Some("!tier"), None),
            (Some("app in (x,y)"), None),
            (None, Some("spec.nodeName=n1")),
            (Some("app"), Some("status.phase=Running")),
            (Some("app=x"), Some("metadata.name=a")),
        ];
        for (labels, fields) in selectors {
            let encode = |s: &str| s.replace(' ', "%20").replace('=', "%3D").replace('!', "%21");
            let mut raw = Vec::new();
            if let Some(l) = labels {
                raw.push(format!("labelSelector={}", encode(l)));
            }
            if let Some(f) = fields {
                raw.push(format!("fieldSelector={}", encode(f)));
            }
            let query = Query::parse(Some(&raw.join("&")));
            let Ok(filter) = Filter::from_query(crate::resources::by_kind(Kind::Pod), &query) else {
                panic!("{labels:?} {fields:?}")
            };
            for (i, pod) in pods.iter().enumerate() {
                let compact = Compact::packed("/pods/default/p".into(), &pod.to_string(), 1, 1);
                assert_eq!(
                    filter.matches_compact(Kind::Pod, &compact),
                    filter.matches(Kind::Pod, pod),
                    "{labels:?} {fields:?} pod {i}"
                );
            }
        }
    }

    #[test]
    fn pod_fields_read_like_upstream() {
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"podIPs": [{"ip": "10.0.0.2"}], "podIP": "10.0.0.9"}});
        assert_eq!(field_of(Kind::Pod, &pod, "spec.host").as_deref(), Some("n1"));
        assert_eq!(field_of(Kind::Pod, &pod, "status.podIP").as_deref(), Some("10.0.0.2"));
        assert_eq!(field_of(Kind::Pod, &pod, "status.podIPs"), None);
        assert_eq!(field_of(Kind::Pod, &json!({}), "spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(field_of(Kind::Job, &json!({}), "status.successful").as_deref(), Some("0"));
    }
}
