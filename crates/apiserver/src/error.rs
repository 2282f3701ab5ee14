//! API errors, answered as Kubernetes `Status` objects (`kubectl` prints `Error from server (<reason>): <message>`).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use runlet_api::field::FieldError;
use runlet_api::vocab::{NAMESPACE_TERMINATING_CAUSE, StatusReason};
use serde_json::{Value, json};

use crate::resources::Resource;

/// An error the API answers with: HTTP code, `reason` (`Unknown` for a reasonless 500) and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: StatusReason,
    pub message: String,
    pub details: Option<Value>,
    /// `metadata.continue` of the Status: where an expired chunked list can go on.
    pub list_continue: Option<String>,
}

impl ApiError {
    pub fn new(code: u16, reason: StatusReason, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None, list_continue: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_list_continue(mut self, token: String) -> Self {
        self.list_continue = Some(token);
        self
    }

    /// The generic 404 for paths nothing is served at.
    pub fn path_not_found() -> Self {
        Self::new(404, StatusReason::NotFound, "the server could not find the requested resource")
            .with_details(json!({}))
    }

    pub fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(404, StatusReason::NotFound, format!("{} \"{name}\" not found", resource.qualified()))
            .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    /// `namespaces "x" not found`, when creating into a namespace that does not exist.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::new(404, StatusReason::NotFound, format!("namespaces \"{namespace}\" not found"))
            .with_details(json!({"name": namespace, "kind": "namespaces"}))
    }

    /// 403 for a create in a namespace being deleted, with the `NamespaceTerminating` cause clients test for
    /// (upstream's NamespaceLifecycle admission adds the same cause).
    pub fn namespace_terminating(resource: &Resource, name: &str, namespace: &str) -> Self {
        let cause = json!({
            "reason": NAMESPACE_TERMINATING_CAUSE,
            "message": format!("namespace {namespace} is being terminated"),
            "field": "metadata.namespace",
        });
        Self::new(
            403,
            StatusReason::Forbidden,
            format!("unable to create new content in namespace {namespace} because it is being terminated"),
        )
        .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural, "causes": [cause]}))
    }

    pub fn already_exists(resource: &Resource, name: &str) -> Self {
        Self::new(409, StatusReason::AlreadyExists, format!("{} \"{name}\" already exists", resource.qualified()))
            .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    pub fn conflict(resource: &Resource, name: &str) -> Self {
        Self::new(
            409,
            StatusReason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                resource.qualified()
            ),
        )
        .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    /// A precondition on uid or resourceVersion failed (DeleteOptions.preconditions).
    pub fn precondition_failed(resource: &Resource, name: &str, detail: &str) -> Self {
        Self::conflict_because(resource, name, detail)
    }

    /// 409 `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict_because(resource: &Resource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            StatusReason::Conflict,
            format!("Operation cannot be fulfilled on {} \"{name}\": {why}", resource.qualified()),
        )
        .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    /// 422 with one cause per field error.
    pub fn invalid(resource: &Resource, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.kind.cause_reason(), "message": e.cause_message(), "field": e.path}))
            .collect();
        Self::new(
            422,
            StatusReason::Invalid,
            runlet_api::field::invalid_message(&resource.qualified_kind(), name, errors),
        )
        .with_details(json!({"name": name, "group": resource.group, "kind": resource.kind_name, "causes": causes}))
    }

    /// 422 for options or patches that are not about one object (`PatchOptions.meta.k8s.io "" is invalid: ...`).
    pub fn invalid_plain(message: impl Into<String>, causes: Value) -> Self {
        Self::new(422, StatusReason::Invalid, message).with_details(json!({"causes": causes}))
    }

    /// 403 `<resource> "<name>" is forbidden: <why>`, as admission refusals read.
    pub fn forbidden(resource: &Resource, name: &str, why: &str) -> Self {
        Self::new(403, StatusReason::Forbidden, format!("{} \"{name}\" is forbidden: {why}", resource.qualified()))
            .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, StatusReason::BadRequest, message)
    }

    /// 415 for a PATCH body that is not one of the patch formats.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            StatusReason::UnsupportedMediaType,
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
        )
    }

    /// 415 for a create or update body of a type other than JSON, YAML or protobuf.
    pub fn unsupported_body_type() -> Self {
        Self::new(
            415,
            StatusReason::UnsupportedMediaType,
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(413, StatusReason::RequestEntityTooLarge, format!("Request entity too large: limit is {limit}"))
    }

    /// 429 past the in-flight limits, with upstream's message; the `Retry-After` header goes with it.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(429, StatusReason::TooManyRequests, "Too many requests, please try again later.")
            .with_details(json!({"retryAfterSeconds": retry_after_seconds}))
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            StatusReason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(401, StatusReason::Unauthorized, "Unauthorized")
    }

    /// 410 for a watch or list from a resourceVersion that is no longer retained.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, StatusReason::Expired, message)
    }

    /// A 500 with no reason: how upstream answers plain internal errors (kubectl prints only the message).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, StatusReason::Unknown, message)
    }

    /// `NotFound` (the object, or its namespace).
    pub fn is_not_found(&self) -> bool {
        self.reason == StatusReason::NotFound
    }

    /// `AlreadyExists`: a create whose name is taken.
    pub fn is_already_exists(&self) -> bool {
        self.reason == StatusReason::AlreadyExists
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if self.reason != StatusReason::Unknown {
            v["reason"] = json!(self.reason.as_str());
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        if let Some(token) = &self.list_continue {
            v["metadata"]["continue"] = json!(token);
        }
        v
    }
}

impl From<runlet_store::StoreError> for ApiError {
    fn from(e: runlet_store::StoreError) -> Self {
        use runlet_store::StoreError as E;
        match e {
            E::Expired { requested, .. } => ApiError::expired(format!("too old resource version: {requested}")),
            E::TooLarge { size, limit, .. } => ApiError::new(
                413,
                StatusReason::RequestEntityTooLarge,
                format!("Request entity too large: the object is {size} bytes, the limit is {limit}"),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        (code, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Kind, by_kind};

    #[test]
    fn not_found_matches_kubectl_wire() {
        let s = ApiError::not_found(by_kind(Kind::Job), "pi").status();
        assert_eq!(
            s,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"jobs.batch \"pi\" not found","reason":"NotFound",
                   "details":{"name":"pi","group":"batch","kind":"jobs"},"code":404})
        );
        let s = ApiError::not_found(by_kind(Kind::Pod), "x").status();
        assert_eq!(s["message"], "pods \"x\" not found");
    }

    #[test]
    fn namespace_terminating_carries_its_cause() {
        let s = ApiError::namespace_terminating(by_kind(Kind::Job), "late", "doomed").status();
        assert_eq!((&s["code"], &s["reason"]), (&json!(403), &json!("Forbidden")));
        assert_eq!(s["message"], "unable to create new content in namespace doomed because it is being terminated");
        assert_eq!(
            s["details"],
            json!({"name": "late", "group": "batch", "kind": "jobs", "causes": [{"reason": "NamespaceTerminating",
                   "message": "namespace doomed is being terminated", "field": "metadata.namespace"}]})
        );
    }

    #[test]
    fn too_large_reads_like_upstream() {
        let s = ApiError::too_large(3 * 1024 * 1024).status();
        assert_eq!(s["message"], "Request entity too large: limit is 3145728");
        assert_eq!((s["reason"].as_str(), s["code"].as_u64()), (Some("RequestEntityTooLarge"), Some(413)));
    }

    #[test]
    fn internal_has_no_reason() {
        let s = ApiError::internal("boom").status();
        assert!(s.get("reason").is_none());
        assert_eq!(s["code"], 500);
    }

    #[test]
    fn invalid_carries_causes() {
        let errs = vec![FieldError::invalid("spec.parallelism", "-1", "must be greater than or equal to 0")];
        let s = ApiError::invalid(by_kind(Kind::Job), "pi", &errs).status();
        assert_eq!(
            s["message"],
            "Job.batch \"pi\" is invalid: spec.parallelism: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.parallelism");
        assert_eq!(s["details"]["kind"], "Job");
        assert_eq!(s["code"], 422);
    }
}
