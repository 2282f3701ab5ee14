//! TLS bootstrap, answered in one request. An agent posts a `certificates.k8s.io/v1` CertificateSigningRequest
//! for the signer `kubernetes.io/kube-apiserver-client-kubelet`, as the kubelet does; the server checks it as
//! kube-controller-manager's approver checks a node client certificate (subject `system:node:<name>` in
//! `system:nodes` only, no extensions, usages within digital signature, key encipherment and client auth),
//! approves it when a bootstrap token's holder (or the node itself, renewing) asks, and signs it with the
//! cluster CA at once. The answer is the request with its `Approved` condition and `status.certificate`; nothing
//! is stored (there is no approver or signer to wait for), so the request cannot be listed afterwards.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};

use super::certs::{self, NODE_CERT_DAYS, Subject};
use super::{bootstrap, node};
use crate::error::ApiError;
use crate::observe::audit::User;
use crate::rest::json_response;
use crate::state::{ApiState, MAX_BODY_BYTES};
use runlet_api::vocab::StatusReason;

pub const PATH: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// The signer of nodes' client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const ALLOWED_USAGES: &[&str] = &["digital signature", "key encipherment", "client auth"];

/// Why a request is not signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed (422).
    Invalid(String),
    /// Not for this requester (403).
    Forbidden(String),
}

/// The subject to sign for `csr` asked by `user` (None: an in-process client), or why not. Pure.
pub fn check(csr: &Value, user: Option<&User>) -> Result<(Subject, certs::Request), Refusal> {
    let spec = &csr["spec"];
    let signer = spec["signerName"].as_str().unwrap_or_default();
    if signer != KUBELET_CLIENT_SIGNER {
        return Err(Refusal::Invalid(format!(
            "spec.signerName: Unsupported value: {signer:?}: runlet signs only {KUBELET_CLIENT_SIGNER:?}"
        )));
    }
    let usages: Vec<&str> =
        spec["usages"].as_array().map(|u| u.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if !usages.contains(&"client auth") || usages.iter().any(|u| !ALLOWED_USAGES.contains(u)) {
        return Err(Refusal::Invalid(format!(
            "spec.usages: Invalid value: {usages:?}: a node client certificate has \"client auth\" and at most \"digital signature\" and \"key encipherment\""
        )));
    }
    let pem = spec["request"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Refusal::Invalid("spec.request: Invalid value: not a base64 PEM certificate request".into()))?;
    let request =
        certs::Request::parse(&pem).map_err(|e| Refusal::Invalid(format!("spec.request: Invalid value: {e}")))?;
    let subject = request.subject.clone();
    let node_name = subject.common_name.strip_prefix("system:node:").unwrap_or_default();
    if node_name.is_empty() || subject.organizations != [node::NODES_GROUP] || request.has_extensions {
        return Err(Refusal::Invalid(format!(
            "spec.request: Invalid value: the subject must be CN=system:node:<name>, O=system:nodes with no extensions, not CN={:?} O={:?}",
            subject.common_name, subject.organizations
        )));
    }
    if !runlet_api::names::dns1123_subdomain(node_name).is_empty() {
        return Err(Refusal::Invalid(format!("spec.request: Invalid value: {node_name:?} is not a node name")));
    }
    let allowed = match user {
        None => true,
        Some(u) if u.groups.iter().any(|g| g == "system:masters") => true,
        Some(u) if u.groups.iter().any(|g| g == bootstrap::BOOTSTRAPPERS) => true,
        Some(u) => node::node_of(u) == Some(node_name),
    };
    if !allowed {
        let who = user.map_or("", |u| u.username.as_str());
        return Err(Refusal::Forbidden(format!(
            "User {who:?} may not ask for a certificate of node {node_name:?}: only bootstrap tokens and the node itself"
        )));
    }
    Ok((subject, request))
}

/// `POST /apis/certificates.k8s.io/v1/certificatesigningrequests`.
pub async fn create(State(state): State<ApiState>, req: Request) -> Response {
    match answer(&state, req).await {
        Ok(body) => json_response(StatusCode::CREATED, &body, &[]),
        Err(e) => e.into_response(),
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(
        403,
        StatusReason::Forbidden,
        format!("certificatesigningrequests.certificates.k8s.io is forbidden: {message}"),
    )
}

async fn answer(state: &ApiState, req: Request) -> Result<Value, ApiError> {
    let user = req.extensions().get::<User>().cloned();
    let signer: Arc<certs::Signer> = state
        .signer
        .clone()
        .ok_or_else(|| ApiError::new(503, StatusReason::ServiceUnavailable, "this server signs no certificates"))?;
    let body =
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let mut csr: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let (subject, request) = check(&csr, user.as_ref()).map_err(|r| match r {
        Refusal::Invalid(m) => ApiError::new(
            422,
            StatusReason::Invalid,
            format!("CertificateSigningRequest.certificates.k8s.io is invalid: {m}"),
        ),
        Refusal::Forbidden(m) => forbidden(m),
    })?;
    let certificate = signer.sign(&request, &subject, NODE_CERT_DAYS).map_err(|e| ApiError::internal(e.to_string()))?;
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let name = match csr["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => {
            let prefix = csr["metadata"]["generateName"].as_str().unwrap_or("csr-").to_string();
            format!("{prefix}{}", runlet_api::names::suffix_from_random(rand::random()))
        }
    };
    tracing::info!(node = %subject.common_name, requester = ?user.as_ref().map(|u| &u.username), "signed a node client certificate");
    csr["apiVersion"] = json!("certificates.k8s.io/v1");
    csr["kind"] = json!("CertificateSigningRequest");
    csr["metadata"]["name"] = json!(name);
    csr["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    csr["metadata"]["creationTimestamp"] = json!(now);
    if let Some(u) = &user {
        csr["spec"]["username"] = json!(u.username);
        csr["spec"]["groups"] = json!(u.groups);
    }
    csr["status"] = json!({
        "conditions": [{
            "type": "Approved", "status": "True", "reason": "AutoApproved",
            "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
            "lastUpdateTime": now, "lastTransitionTime": now
        }],
        "certificate": base64::engine::general_purpose::STANDARD.encode(certificate.as_bytes()),
    });
    Ok(csr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_for(common_name: &str, organizations: &[&str]) -> Value {
        let subject = Subject {
            common_name: common_name.into(),
            organizations: organizations.iter().map(|o| o.to_string()).collect(),
        };
        let (pem, _key) = certs::new_request(&subject).unwrap();
        json!({"spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": KUBELET_CLIENT_SIGNER,
            "usages": ["digital signature", "client auth"]
        }})
    }

    fn user(name: &str, groups: &[&str]) -> User {
        User { username: name.into(), groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn which_requests_are_signed() {
        let bootstrapper = user("system:bootstrap:abc123", &["system:bootstrappers", "system:authenticated"]);
        let n2 = user("system:node:n2", &["system:nodes", "system:authenticated"]);
        let admin = user("runlet-admin", &["system:masters"]);
        let nobody = user("someone", &["system:authenticated"]);
        let good = csr_for("system:node:n2", &["system:nodes"]);
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            v
        };
        // (case, request, requester, Ok or the refusal's kind)
        type Case<'a> = (&'a str, Value, Option<&'a User>, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            ("a bootstrap token for a new node", good.clone(), Some(&bootstrapper), Ok(())),
            ("the node renewing", good.clone(), Some(&n2), Ok(())),
            ("the admin", good.clone(), Some(&admin), Ok(())),
            ("in process", good.clone(), None, Ok(())),
            ("another node", csr_for("system:node:n3", &["system:nodes"]), Some(&n2), Err("forbidden")),
            ("a user without a bootstrap token", good.clone(), Some(&nobody), Err("forbidden")),
            ("not a node", csr_for("runlet-admin", &["system:nodes"]), Some(&bootstrapper), Err("invalid")),
            ("masters asked for", csr_for("system:node:n2", &["system:masters"]), Some(&bootstrapper), Err("invalid")),
            (
                "extra group",
                csr_for("system:node:n2", &["system:nodes", "system:masters"]),
                Some(&bootstrapper),
                Err("invalid"),
            ),
            (
                "another signer",
                edit(&|v| v["spec"]["signerName"] = json!("kubernetes.io/kube-apiserver-client")),
                Some(&bootstrapper),
                Err("invalid"),
            ),
            (
                "server auth",
                edit(&|v| v["spec"]["usages"] = json!(["client auth", "server auth"])),
                Some(&bootstrapper),
                Err("invalid"),
            ),
            (
                "no client auth",
                edit(&|v| v["spec"]["usages"] = json!(["digital signature"])),
                Some(&bootstrapper),
                Err("invalid"),
            ),
            ("not base64", edit(&|v| v["spec"]["request"] = json!("%%%")), Some(&bootstrapper), Err("invalid")),
        ];
        for (name, csr, requester, want) in cases {
            let got = check(&csr, requester).map(|(subject, _)| subject).map_err(|r| match r {
                Refusal::Invalid(_) => "invalid",
                Refusal::Forbidden(_) => "forbidden",
            });
            match (got, want) {
                (Ok(subject), Ok(())) => assert_eq!(subject.common_name, "system:node:n2", "{name}"),
                (Err(kind), Err(want)) => assert_eq!(kind, want, "{name}"),
                (got, _) => panic!("{name}: {:?}", got.map(|s| s.common_name)),
            }
        }
    }
}
