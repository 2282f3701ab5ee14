//! Who is asking, and whether they may. Authentication: a client certificate from the cluster's CA (verified in
//! the TLS handshake), else the bearer token: the server's admin token, or a bootstrap token. Authorization:
//! `system:masters` may do anything; a node identity what [`node`] allows; a bootstrap token's holder only
//! discovery and asking for its node's certificate ([`csr`]); anyone else nothing.

pub mod bootstrap;
pub mod certs;
pub mod csr;
pub mod node;
pub mod token_cleaner;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use runlet_store::Store;

use crate::error::ApiError;
use crate::negotiate::Query;
use crate::observe::audit::User;
use crate::observe::request_info::{self, RequestInfo};
use crate::resources::{self, Kind};
use crate::state::MAX_BODY_BYTES;
use runlet_api::vocab::StatusReason;

/// The identity of a connection's client certificate, verified against the cluster CA in the TLS handshake;
/// the listener puts it on every request of that connection.
#[derive(Clone, Debug)]
pub struct PeerCertificate(pub User);

/// What authentication needs: the admin token, and the store for bootstrap tokens' Secrets.
#[derive(Clone)]
struct Authenticator {
    admin_token: Arc<str>,
    store: Store,
}

/// Puts `router` behind authentication and authorization: what the network listener serves.
pub fn protect(router: Router, store: Store, admin_token: &str) -> Router {
    let auth = Authenticator { admin_token: Arc::from(admin_token), store };
    router.layer(middleware::from_fn_with_state(auth, authenticate))
}

/// The token of an `Authorization: Bearer <token>` header, read as upstream's bearer-token authenticator does:
/// the scheme is case-insensitive, the token is the second space-separated word and must not be empty.
pub fn bearer_token(header: &str) -> Option<&str> {
    let mut parts = header.trim().splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who sent the request; None is 401. A client certificate comes before a token, as upstream's union
/// authenticator tries x509 first.
fn who(auth: &Authenticator, req: &Request) -> Option<User> {
    if let Some(PeerCertificate(user)) = req.extensions().get::<PeerCertificate>() {
        return Some(user.clone());
    }
    let token = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token)?;
    if constant_time_eq(token.as_bytes(), auth.admin_token.as_bytes()) {
        return Some(User::token_holder());
    }
    let token = bootstrap::Token::parse(token)?;
    let key = resources::by_kind(Kind::Secret).key(Some(bootstrap::NAMESPACE), &token.secret_name());
    let secret = auth.store.get(&key);
    match bootstrap::authenticate(token, secret.as_ref().map(|s| s.value.as_ref()), jiff::Timestamp::now()) {
        Ok(user) => Some(user),
        Err(why) => {
            tracing::debug!(token_id = token.id, %why, "bootstrap token refused");
            None
        }
    }
}

/// The cluster's state as the node authorizer asks for it, read from the store's cache.
struct StoreGraph<'a>(&'a Store);

impl node::Graph for StoreGraph<'_> {
    fn pod_node(&self, namespace: &str, name: &str) -> Option<String> {
        let pod = self.0.get(&resources::by_kind(Kind::Pod).key(Some(namespace), name))?;
        pod.value.pointer("/spec/nodeName").and_then(|n| n.as_str()).map(str::to_string)
    }

    fn referenced_by_pods_of(&self, node: &str, kind: node::Referenced, namespace: &str, name: &str) -> bool {
        // References stay inside a namespace: only that namespace's pods are read. A namespace may hold
        // 100,000 pods and each of them asks this once it starts: only pods whose text names the object are
        // parsed, and the first that references it ends the search (a page of one).
        let prefix = resources::by_kind(Kind::Pod).namespace_prefix(namespace);
        let Ok(quoted) = serde_json::to_string(name) else { return false };
        let references = |c: &runlet_store::Compact| {
            c.json().is_ok_and(|json| json.contains(quoted.as_str()))
                && c.decode().is_ok_and(|pod| {
                    pod.value.pointer("/spec/nodeName").and_then(|n| n.as_str()) == Some(node)
                        && node::references(&pod.value).iter().any(|(k, n)| *k == kind && n == name)
                })
        };
        let request = runlet_store::PageRequest { prefix: &prefix, from: None, at: None, limit: 1 };
        self.0.list_page(request, &references).is_ok_and(|page| !page.items.is_empty())
    }

    fn node_spec(&self, name: &str) -> Option<serde_json::Value> {
        let node = self.0.get(&resources::by_kind(Kind::Node).key(None, name))?;
        node.value.get("spec").cloned()
    }
}

async fn authenticate(State(auth): State<Authenticator>, req: Request, next: Next) -> Response {
    let Some(user) = who(&auth, &req) else {
        return ApiError::unauthorized().into_response();
    };
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let info = request_info::classify(req.method(), req.uri().path(), req.uri().query(), content_type);
    let (mut req, decision) = authorize(&auth, &user, &info, req).await;
    match decision {
        node::Decision::Allow => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        node::Decision::Deny(why) => {
            tracing::debug!(user = %user.username, path = %req.uri().path(), %why, "forbidden");
            forbidden(&user, &info, req.uri().path(), &why).into_response()
        }
    }
}

/// Whether `user` may make the request (the request comes back: a node's create is read for its name).
async fn authorize(auth: &Authenticator, user: &User, info: &RequestInfo, req: Request) -> (Request, node::Decision) {
    if user.groups.iter().any(|g| g == "system:masters") {
        return (req, node::Decision::Allow);
    }
    // Anyone authenticated may ask; what is signed for whom is decided there.
    if req.method() == http::Method::POST && req.uri().path() == csr::PATH {
        return (req, node::Decision::Allow);
    }
    if let Some(name) = node::node_of(user) {
        let name = name.to_string();
        let query = Query::parse(req.uri().query());
        let selector = query.get("fieldSelector").map(str::to_string);
        let content_type =
            req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        // What a create is named, and what a write of a Node changes, is in the body.
        let writes_node = info.resource == "nodes" && matches!(info.audit_verb, "update" | "patch");
        let (req, body) = if info.audit_verb == "create" || writes_node { read_body(req).await } else { (req, None) };
        let ask = node::Ask {
            info,
            field_selector: selector.as_deref(),
            body: body.as_ref(),
            content_type: content_type.as_deref(),
        };
        let decision = node::authorize(&name, ask, &StoreGraph(&auth.store));
        return (req, decision);
    }
    if node::public(info) {
        return (req, node::Decision::Allow);
    }
    (req, node::Decision::Deny("no rule allows it".into()))
}

/// The body as JSON (None when it is not JSON, or past the limit), with the request put back together.
async fn read_body(req: Request) -> (Request, Option<serde_json::Value>) {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let value = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
            (Request::from_parts(parts, axum::body::Body::from(bytes)), value)
        }
        // Past the limit: the request goes on without a body (no name, no change can be allowed by it).
        Err(_) => (Request::from_parts(parts, axum::body::Body::empty()), None),
    }
}

/// kube-apiserver's 403: `<resource> "<name>" is forbidden: User "<user>" cannot <verb> resource "<resource>"
/// in API group "<group>" in the namespace "<ns>": <why>`.
fn forbidden(user: &User, info: &RequestInfo, path: &str, why: &str) -> ApiError {
    if info.resource.is_empty() {
        return ApiError::new(
            403,
            StatusReason::Forbidden,
            format!("forbidden: User \"{}\" cannot {} path \"{path}\": {why}", user.username, info.audit_verb),
        );
    }
    let qualified =
        if info.group.is_empty() { info.resource.clone() } else { format!("{}.{}", info.resource, info.group) };
    let head = if info.name.is_empty() {
        format!("{qualified} is forbidden")
    } else {
        format!("{qualified} \"{}\" is forbidden", info.name)
    };
    let resource = if info.subresource.is_empty() {
        info.resource.clone()
    } else {
        format!("{}/{}", info.resource, info.subresource)
    };
    let scope = if info.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    ApiError::new(
        403,
        StatusReason::Forbidden,
        format!(
            "{head}: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}: {why}",
            user.username, info.audit_verb, info.group
        ),
    )
}
