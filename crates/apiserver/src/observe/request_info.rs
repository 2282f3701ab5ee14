//! What a request is, in the terms upstream's request metrics and audit events use: its verb (`LIST`, `WATCH`,
//! `APPLY`, ...), group, version, resource, subresource, namespace, name and scope. Pure.

use http::Method;

use crate::negotiate::Query;
use crate::resources::{self, Target};

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// Upstream's metric verb, upper case: GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION.
    pub verb: &'static str,
    /// The audit verb, lower case as RBAC's: get, list, watch, create, update, patch, delete, deletecollection.
    pub audit_verb: &'static str,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// `resource` (one object), `namespace` (a namespace's collection), `cluster`, or empty outside resources.
    pub scope: &'static str,
    /// Watches and followed logs: they last as long as the client wants.
    pub long_running: bool,
    pub mutating: bool,
    pub dry_run: bool,
}

/// Paths outside `/api` and `/apis` that get their own `subresource`-free series; everything else outside
/// resources is counted as `other`, so a client probing random paths cannot grow the label space.
const KNOWN_PATHS: &[&str] = &["/version", "/metrics", "/healthz", "/livez", "/readyz", "/openapi/v3", "/api", "/apis"];

pub fn classify(method: &Method, path: &str, query: Option<&str>, content_type: Option<&str>) -> RequestInfo {
    let query = Query::parse(query);
    let dry_run = query.get("dryRun").is_some_and(|v| !v.is_empty());
    let target = path
        .strip_prefix("/apis/")
        .map(|rest| (false, rest))
        .or_else(|| path.strip_prefix("/api/").map(|rest| (true, rest)))
        .and_then(|(core, rest)| resources::parse_path(core, rest));
    let Some(target) = target else {
        let known = KNOWN_PATHS.iter().find(|k| path == **k || path.starts_with(&format!("{k}/")));
        return RequestInfo {
            verb: non_resource_verb(method),
            audit_verb: non_resource_audit_verb(method),
            resource: String::new(),
            subresource: known.map_or("other", |k| k).to_string(),
            mutating: !is_read(method),
            ..RequestInfo::default()
        };
    };
    let (resource, namespace, name, subresource, collection) = match target {
        Target::Group { group } => {
            return RequestInfo { verb: "GET", audit_verb: "get", group, ..RequestInfo::default() };
        }
        Target::GroupVersion { group, version } => {
            return RequestInfo { verb: "GET", audit_verb: "get", group, version, ..RequestInfo::default() };
        }
        Target::Collection { resource, namespace } => (resource, namespace, String::new(), None, true),
        Target::Item { resource, namespace, name, subresource } => (resource, namespace, name, subresource, false),
    };
    let watch = query.flag("watch");
    let follow = subresource.as_deref() == Some("log") && query.flag("follow");
    let apply = content_type.is_some_and(|c| c.starts_with("application/apply-patch"));
    let (verb, audit_verb) = match (method.as_str(), collection) {
        ("GET", true) if watch => ("WATCH", "watch"),
        ("GET", true) => ("LIST", "list"),
        ("GET", false) if watch => ("WATCH", "watch"),
        ("GET", false) => ("GET", "get"),
        ("POST", _) => ("POST", "create"),
        ("PUT", _) => ("PUT", "update"),
        ("PATCH", _) if apply => ("APPLY", "patch"),
        ("PATCH", _) => ("PATCH", "patch"),
        ("DELETE", true) => ("DELETECOLLECTION", "deletecollection"),
        ("DELETE", false) => ("DELETE", "delete"),
        _ => (non_resource_verb(method), non_resource_audit_verb(method)),
    };
    let scope = match (collection, &namespace) {
        (false, _) => "resource",
        (true, Some(_)) => "namespace",
        (true, None) => "cluster",
    };
    RequestInfo {
        verb,
        audit_verb,
        group: resource.group.to_string(),
        version: resource.version.to_string(),
        resource: resource.plural.to_string(),
        subresource: subresource.unwrap_or_default(),
        namespace: namespace.unwrap_or_default(),
        name,
        scope,
        long_running: watch || follow,
        mutating: !is_read(method),
        dry_run,
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn non_resource_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn non_resource_audit_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_as_upstream_labels_them() {
        // (method, path, query, content type, verb, resource, subresource, scope, long running)
        type Case = (
            Method,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            bool,
        );
        let cases: &[Case] = &[
            (Method::GET, "/apis/batch/v1/namespaces/default/jobs", None, None, "LIST", "jobs", "", "namespace", false),
            (Method::GET, "/apis/batch/v1/jobs", Some("watch=true"), None, "WATCH", "jobs", "", "cluster", true),
            (Method::GET, "/apis/batch/v1/namespaces/d/jobs/pi", None, None, "GET", "jobs", "", "resource", false),
            (Method::POST, "/apis/batch/v1/namespaces/d/jobs", None, None, "POST", "jobs", "", "namespace", false),
            (
                Method::PUT,
                "/apis/batch/v1/namespaces/d/jobs/pi/status",
                None,
                None,
                "PUT",
                "jobs",
                "status",
                "resource",
                false,
            ),
            (
                Method::PATCH,
                "/apis/batch/v1/namespaces/d/jobs/pi",
                None,
                Some("application/apply-patch+yaml"),
                "APPLY",
                "jobs",
                "",
                "resource",
                false,
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/d/pods",
                None,
                None,
                "DELETECOLLECTION",
                "pods",
                "",
                "namespace",
                false,
            ),
            (
                Method::GET,
                "/api/v1/namespaces/d/pods/p/log",
                Some("follow=true"),
                None,
                "GET",
                "pods",
                "log",
                "resource",
                true,
            ),
            (Method::GET, "/api/v1/nodes/n1", None, None, "GET", "nodes", "", "resource", false),
            (Method::GET, "/readyz/store", None, None, "GET", "", "/readyz", "", false),
            (Method::GET, "/no/such/thing", None, None, "GET", "", "other", "", false),
        ];
        for (method, path, query, content_type, verb, resource, subresource, scope, long_running) in cases {
            let info = classify(method, path, *query, *content_type);
            assert_eq!(
                (info.verb, info.resource.as_str(), info.subresource.as_str(), info.scope, info.long_running),
                (*verb, *resource, *subresource, *scope, *long_running),
                "{method} {path}"
            );
        }
        let dry = classify(&Method::POST, "/apis/batch/v1/namespaces/d/jobs", Some("dryRun=All"), None);
        assert!(dry.dry_run && dry.mutating && dry.audit_verb == "create" && dry.namespace == "d");
    }
}
