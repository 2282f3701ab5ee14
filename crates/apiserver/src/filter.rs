//! Label and field selectors applied to lists and watches.

use runlet_api::selector::{FieldSelector, LabelSelector};
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

/// Fields each kind can be selected on, besides `metadata.name` and `metadata.namespace` (upstream's sets).
fn supported_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
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
        ],
        Kind::Job => &["status.successful"],
        Kind::Namespace => &["status.phase"],
        Kind::Node => &["spec.unschedulable"],
        Kind::Lease => &[],
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
                let extra = supported_fields(resource.kind);
                for f in fs.fields() {
                    if f != "metadata.name" && f != "metadata.namespace" && !extra.contains(&f) {
                        return Err(ApiError::bad_request(format!("field label not supported: {f}")));
                    }
                }
                Some(fs)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
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

fn field_of(kind: Kind, object: &Value, field: &str) -> Option<String> {
    match (kind, field) {
        // Jobs expose `status.successful`, the succeeded count, for historical reasons.
        (Kind::Job, "status.successful") => meta::field_value(object, "status.succeeded").or(Some("0".into())),
        (Kind::Event, "source") => meta::field_value(object, "reportingComponent")
            .filter(|s| !s.is_empty())
            .or_else(|| meta::field_value(object, "source.component")),
        (Kind::Node, "spec.unschedulable") => meta::field_value(object, field).or(Some("false".into())),
        (Kind::Pod, "spec.hostNetwork") => meta::field_value(object, field).or(Some("false".into())),
        _ => meta::field_value(object, field),
    }
}
