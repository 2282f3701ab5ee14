//! The node authorizer: what an agent holding a node's credential (user `system:node:<name>`, group
//! `system:nodes`) may do, as Kubernetes' Node authorizer and NodeRestriction admission together allow a
//! kubelet. Its own Node and its own Lease; the pods bound to it and their status (listed and watched only with
//! `fieldSelector=spec.nodeName=<name>`, as upstream's AuthorizeNodeWithSelectors); events; the ConfigMaps and
//! Secrets its pods reference; RuntimeClasses; discovery. Everything else is denied with the reason. Pure: what
//! cannot be read off the request comes from a [`Graph`].

use serde_json::Value;

use crate::observe::request_info::RequestInfo;

/// The group of every node identity.
pub const NODES_GROUP: &str = "system:nodes";
const USER_PREFIX: &str = "system:node:";
/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node a user stands for: `system:node:<name>` in the group `system:nodes`.
pub fn node_of(user: &crate::observe::audit::User) -> Option<&str> {
    let name = user.username.strip_prefix(USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

/// The user name of a node's identity.
pub fn user_name(node: &str) -> String {
    format!("{USER_PREFIX}{node}")
}

/// Objects a pod can reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referenced {
    ConfigMap,
    Secret,
}

/// What the authorizer asks of the cluster's state.
pub trait Graph {
    /// The node a pod is bound to; None when there is no such pod or it is not bound.
    fn pod_node(&self, namespace: &str, name: &str) -> Option<String>;
    /// Whether some pod bound to `node` references the ConfigMap or Secret `namespace/name`.
    fn referenced_by_pods_of(&self, node: &str, kind: Referenced, namespace: &str, name: &str) -> bool;
    /// The stored `spec` of a Node (None: no such Node, or no spec).
    fn node_spec(&self, name: &str) -> Option<Value>;
}

/// The request as the authorizer needs it: what [`RequestInfo`] says, plus what only the request has.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub info: &'a RequestInfo,
    /// The `fieldSelector` query parameter.
    pub field_selector: Option<&'a str>,
    /// The body, for a create (its name) and a write of the node's own Node (what it changes); None when
    /// it was not read or is not JSON.
    pub body: Option<&'a Value>,
    pub content_type: Option<&'a str>,
}

/// Whether a write of a Node changes its `spec` (taints, `unschedulable`), which only the cluster's
/// administrators and controllers may do: NodeRestriction refuses a node changing its own taints. A body that
/// could not be read counts as a change.
fn changes_spec(ask: &Ask<'_>, stored: Option<Value>) -> bool {
    let Some(body) = ask.body else { return true };
    let stored = stored.unwrap_or_else(|| Value::Object(Default::default()));
    if ask.info.audit_verb == "update" {
        let wanted = body.get("spec").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        return wanted != stored;
    }
    if ask.content_type.is_some_and(|c| c.starts_with("application/json-patch")) {
        let touches = |p: &str| p.is_empty() || p == "/spec" || p.starts_with("/spec/");
        return body.as_array().is_none_or(|ops| {
            ops.iter().any(|op| ["path", "from"].iter().any(|k| op[*k].as_str().is_some_and(touches)))
        });
    }
    body.get("spec").is_some_and(|spec| *spec != stored)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied, with upstream's kind of reason.
    Deny(String),
}

fn deny(why: impl Into<String>) -> Decision {
    Decision::Deny(why.into())
}

/// Non-resource paths any authenticated user may read (upstream's `system:discovery` and
/// `system:public-info-viewer`).
const PUBLIC_PATHS: &[&str] = &["/version", "/api", "/apis", "/openapi/v3", "/healthz", "/livez", "/readyz"];

/// Whether a request outside resources is one every authenticated user may make.
pub fn public(info: &RequestInfo) -> bool {
    let discovery =
        info.resource.is_empty() && (info.subresource.is_empty() || PUBLIC_PATHS.contains(&info.subresource.as_str()));
    discovery && info.audit_verb == "get"
}

/// The one selector term a node's lists and watches must carry: `field=value`, alone or among others.
fn selects(selector: Option<&str>, field: &str, value: &str) -> bool {
    selector.is_some_and(|s| {
        s.split(',').any(|term| {
            let rest = term.trim().strip_prefix(field);
            rest.and_then(|r| r.strip_prefix("==").or_else(|| r.strip_prefix('='))) == Some(value)
        })
    })
}

/// Whether node `node` may make the request.
pub fn authorize(node: &str, ask: Ask<'_>, graph: &dyn Graph) -> Decision {
    let info = ask.info;
    if info.resource.is_empty() {
        return if public(info) { Decision::Allow } else { deny(format!("node '{node}' may not reach this path")) };
    }
    let verb = info.audit_verb;
    let sub = info.subresource.as_str();
    let bound_here = || match graph.pod_node(&info.namespace, &info.name) {
        Some(bound) if bound == node => Decision::Allow,
        _ => deny(format!("no relationship found between node '{node}' and this object")),
    };
    let body_name = ask.body.and_then(|b| b.pointer("/metadata/name")).and_then(Value::as_str);
    let own = |name: &str| if name.is_empty() { body_name.unwrap_or_default() == node } else { name == node };
    match (info.group.as_str(), info.resource.as_str()) {
        ("", "nodes") => match verb {
            "update" | "patch" if sub.is_empty() && own(&info.name) && changes_spec(&ask, graph.node_spec(node)) => {
                deny(format!("node '{node}' is not allowed to modify its own spec (taints, unschedulable)"))
            }
            "get" | "update" | "patch" if sub.is_empty() || sub == "status" => {
                if own(&info.name) {
                    Decision::Allow
                } else {
                    deny(format!("node '{node}' cannot modify or read node '{}', only its own", info.name))
                }
            }
            "create" if sub.is_empty() => {
                if own("") {
                    Decision::Allow
                } else {
                    deny(format!("node '{node}' cannot create a Node other than its own"))
                }
            }
            "list" | "watch" if selects(ask.field_selector, "metadata.name", node) => Decision::Allow,
            _ => deny(format!("node '{node}' can only read and update its own Node object")),
        },
        ("coordination.k8s.io", "leases") => {
            let in_lease_namespace = info.namespace == LEASE_NAMESPACE;
            match verb {
                "get" | "update" | "patch" | "create" if in_lease_namespace && sub.is_empty() && own(&info.name) => {
                    Decision::Allow
                }
                _ => deny(format!("node '{node}' can only access its own Lease in {LEASE_NAMESPACE}")),
            }
        }
        ("", "pods") => match verb {
            "list" | "watch" if selects(ask.field_selector, "spec.nodeName", node) => Decision::Allow,
            "list" | "watch" => {
                deny(format!("node '{node}' can only list or watch pods with fieldSelector spec.nodeName={node}"))
            }
            // The pod itself may be read and (once stopped) deleted; only its status may be written, as
            // NodeRestriction allows a kubelet.
            "get" | "delete" if sub.is_empty() => bound_here(),
            "get" | "update" | "patch" if sub == "status" => bound_here(),
            _ => deny(format!("node '{node}' cannot {verb} pods")),
        },
        ("", "events") | ("events.k8s.io", "events") => match verb {
            "create" | "update" | "patch" => Decision::Allow,
            _ => deny(format!("node '{node}' can only create, update and patch events")),
        },
        ("", kind @ ("configmaps" | "secrets")) => {
            let referenced = if kind == "secrets" { Referenced::Secret } else { Referenced::ConfigMap };
            if verb == "get"
                && sub.is_empty()
                && graph.referenced_by_pods_of(node, referenced, &info.namespace, &info.name)
            {
                Decision::Allow
            } else {
                deny(format!("no relationship found between node '{node}' and this object"))
            }
        }
        ("node.k8s.io", "runtimeclasses") if matches!(verb, "get" | "list" | "watch") => Decision::Allow,
        _ => deny(format!("node '{node}' has no access to {}", info.resource)),
    }
}

/// The ConfigMaps and Secrets a pod references (volumes, projected sources, `env`, `envFrom`,
/// `imagePullSecrets`), by name, in its namespace.
pub fn references(pod: &Value) -> Vec<(Referenced, String)> {
    let mut found = Vec::new();
    let mut add = |kind: Referenced, name: Option<&str>| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            found.push((kind, name.to_string()));
        }
    };
    let spec = &pod["spec"];
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    for volume in list(&spec["volumes"]) {
        add(Referenced::ConfigMap, volume["configMap"]["name"].as_str());
        add(Referenced::Secret, volume["secret"]["secretName"].as_str());
        for source in list(&volume["projected"]["sources"]) {
            add(Referenced::ConfigMap, source["configMap"]["name"].as_str());
            add(Referenced::Secret, source["secret"]["name"].as_str());
        }
    }
    for secret in list(&spec["imagePullSecrets"]) {
        add(Referenced::Secret, secret["name"].as_str());
    }
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for container in list(&spec[field]) {
            for env in list(&container["env"]) {
                add(Referenced::ConfigMap, env["valueFrom"]["configMapKeyRef"]["name"].as_str());
                add(Referenced::Secret, env["valueFrom"]["secretKeyRef"]["name"].as_str());
            }
            for from in list(&container["envFrom"]) {
                add(Referenced::ConfigMap, from["configMapRef"]["name"].as_str());
                add(Referenced::Secret, from["secretRef"]["name"].as_str());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::request_info::classify;
    use http::Method;
    use serde_json::json;

    /// Pods `default/mine` (on n2, using ConfigMap `cfg` and Secret `token`) and `default/theirs` (on n3, using
    /// Secret `other`).
    struct Cluster;

    impl Graph for Cluster {
        fn pod_node(&self, namespace: &str, name: &str) -> Option<String> {
            match (namespace, name) {
                ("default", "mine") => Some("n2".into()),
                ("default", "theirs") => Some("n3".into()),
                _ => None,
            }
        }

        fn referenced_by_pods_of(&self, node: &str, kind: Referenced, namespace: &str, name: &str) -> bool {
            matches!(
                (node, kind, namespace, name),
                ("n2", Referenced::ConfigMap, "default", "cfg") | ("n2", Referenced::Secret, "default", "token")
            )
        }

        fn node_spec(&self, name: &str) -> Option<Value> {
            (name == "n2")
                .then(|| json!({"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}))
        }
    }

    #[test]
    fn what_node_n2_may_do() {
        let taints = json!({"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]});
        let named = |name: &str| json!({"metadata": {"name": name}});
        let labels = json!({"metadata": {"labels": {"a": "b"}}});
        let untaint = json!({"spec": {"taints": null}});
        let uncordon = json!([{"op": "replace", "path": "/spec/unschedulable", "value": false}]);
        let relabel = json!([{"op": "add", "path": "/metadata/labels/a", "value": "b"}]);
        let same_spec = json!({"metadata": {"name": "n2"}, "spec": taints.clone()});
        let cleared_spec = json!({"metadata": {"name": "n2"}});
        // (method, path with query, body, allowed)
        let cases: Vec<(Method, &str, Option<Value>, bool)> = vec![
            (Method::GET, "/api/v1/nodes/n2", None, true),
            (Method::PATCH, "/api/v1/nodes/n2/status", None, true),
            (Method::PUT, "/api/v1/nodes/n2", Some(json!({"metadata": {"name": "n2"}, "spec": taints.clone()})), true),
            (Method::POST, "/api/v1/nodes", Some(named("n2")), true),
            (Method::GET, "/api/v1/nodes/n3", None, false),
            (Method::PATCH, "/api/v1/nodes/n3/status", None, false),
            (Method::POST, "/api/v1/nodes", Some(named("n3")), false),
            (Method::DELETE, "/api/v1/nodes/n2", None, false),
            (Method::GET, "/api/v1/nodes", None, false),
            (Method::GET, "/api/v1/nodes?fieldSelector=metadata.name%3Dn2", None, true),
            (Method::GET, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", None, true),
            (Method::PUT, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", None, true),
            (Method::POST, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", Some(named("n2")), true),
            (Method::PUT, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n3", None, false),
            (Method::POST, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", Some(named("n3")), false),
            (Method::PUT, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/n2", None, false),
            (Method::GET, "/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn2", None, true),
            (Method::GET, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn3", None, false),
            (Method::GET, "/api/v1/namespaces/default/pods", None, false),
            (Method::GET, "/api/v1/namespaces/default/pods/mine", None, true),
            (Method::PATCH, "/api/v1/namespaces/default/pods/mine/status", None, true),
            (Method::DELETE, "/api/v1/namespaces/default/pods/mine", None, true),
            (Method::PATCH, "/api/v1/namespaces/default/pods/mine", None, false),
            (Method::PUT, "/api/v1/namespaces/default/pods/mine/status", None, true),
            (Method::GET, "/api/v1/namespaces/default/pods/theirs", None, false),
            (Method::PATCH, "/api/v1/namespaces/default/pods/theirs/status", None, false),
            (Method::DELETE, "/api/v1/namespaces/default/pods/theirs", None, false),
            (Method::POST, "/api/v1/namespaces/default/pods", Some(named("mine")), false),
            (Method::GET, "/api/v1/namespaces/default/pods/mine/log", None, false),
            (Method::POST, "/api/v1/namespaces/default/events", Some(named("e")), true),
            (Method::PATCH, "/api/v1/namespaces/default/events/e", None, true),
            (Method::GET, "/api/v1/namespaces/default/events", None, false),
            (Method::GET, "/api/v1/namespaces/default/configmaps/cfg", None, true),
            (Method::GET, "/api/v1/namespaces/default/secrets/token", None, true),
            (Method::GET, "/api/v1/namespaces/default/secrets/other", None, false),
            (Method::GET, "/api/v1/namespaces/default/secrets", None, false),
            (Method::PUT, "/api/v1/namespaces/default/secrets/token", None, false),
            (Method::GET, "/apis/node.k8s.io/v1/runtimeclasses/oci", None, true),
            (Method::GET, "/apis/node.k8s.io/v1/runtimeclasses?watch=true", None, true),
            (Method::GET, "/apis/batch/v1/namespaces/default/jobs", None, false),
            (Method::GET, "/api/v1/namespaces", None, false),
            (Method::GET, "/version", None, true),
            (Method::GET, "/apis", None, true),
            (Method::GET, "/apis/batch/v1", None, true),
            (Method::GET, "/metrics", None, false),
        ];
        let extra: Vec<(Method, &str, Option<Value>, bool)> = vec![
            (Method::PATCH, "/api/v1/nodes/n2", Some(labels), true),
            (Method::PATCH, "/api/v1/nodes/n2", Some(untaint), false),
            (Method::PATCH, "/api/v1/nodes/n2", None, false),
            (Method::PUT, "/api/v1/nodes/n2", Some(same_spec), true),
            (Method::PUT, "/api/v1/nodes/n2", Some(cleared_spec), false),
            (Method::PATCH, "/api/v1/nodes/n2/status", Some(json!({"spec": {"unschedulable": false}})), true),
        ];
        let json_patches: Vec<(Value, bool)> = vec![(uncordon, false), (relabel, true)];
        for (body, allowed) in json_patches {
            let info = classify(&Method::PATCH, "/api/v1/nodes/n2", None, Some("application/json-patch+json"));
            let ask = Ask {
                info: &info,
                field_selector: None,
                body: Some(&body),
                content_type: Some("application/json-patch+json"),
            };
            assert_eq!(authorize("n2", ask, &Cluster) == Decision::Allow, allowed, "{body}");
        }
        for (method, uri, body, allowed) in cases.into_iter().chain(extra) {
            let (path, query) = uri.split_once('?').map_or((uri, None), |(p, q)| (p, Some(q)));
            let info = classify(&method, path, query, None);
            let selector = crate::negotiate::Query::parse(query).get("fieldSelector").map(str::to_string);
            let ask = Ask {
                info: &info,
                field_selector: selector.as_deref(),
                body: body.as_ref(),
                content_type: Some("application/merge-patch+json"),
            };
            let got = authorize("n2", ask, &Cluster);
            assert_eq!(got == Decision::Allow, allowed, "{method} {uri}: {got:?}");
        }
    }

    #[test]
    fn the_objects_a_pod_references() {
        let pod = json!({"spec": {
            "volumes": [
                {"name": "a", "configMap": {"name": "cfg"}},
                {"name": "b", "secret": {"secretName": "tls"}},
                {"name": "c", "projected": {"sources": [{"configMap": {"name": "p-cfg"}}, {"secret": {"name": "p-sec"}}]}},
                {"name": "d", "emptyDir": {}}
            ],
            "imagePullSecrets": [{"name": "pull"}],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cfg", "key": "x"}}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "env-sec", "key": "y"}}},
                {"name": "Z", "value": "plain"}
            ], "envFrom": [{"configMapRef": {"name": "from-cfg"}}]}]
        }});
        let mut got = references(&pod);
        got.sort_by(|a, b| a.1.cmp(&b.1));
        let names: Vec<(Referenced, &str)> = got.iter().map(|(k, n)| (*k, n.as_str())).collect();
        use Referenced::{ConfigMap, Secret};
        assert_eq!(
            names,
            vec![
                (ConfigMap, "cfg"),
                (ConfigMap, "env-cfg"),
                (Secret, "env-sec"),
                (ConfigMap, "from-cfg"),
                (Secret, "init-env"),
                (ConfigMap, "p-cfg"),
                (Secret, "p-sec"),
                (Secret, "pull"),
                (Secret, "tls"),
            ]
        );
    }
}
