//! What the server serves, from its discovery documents, and how a name typed on the command line (`jobs`,
//! `job`, `po`, `jobs.batch`, `all`) resolves to it. Resolution is pure; [`discover`] is the I/O.

use serde_json::Value;

use crate::error::{CliError, Result};
use crate::request::Api;

/// One resource as discovery lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources served (`status`, `scale`, `log`).
    pub subresources: Vec<String>,
}

impl ApiResource {
    /// `batch/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    fn root(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection in `namespace`, or across all namespaces (and for cluster-scoped resources) with `None`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{}/namespaces/{ns}/{}", self.root(), self.plural),
            None => format!("{}/{}", self.root(), self.plural),
        }
    }

    pub fn item_path(&self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.collection_path(Some(namespace)))
    }

    /// `job.batch` or `pod`: how kubectl names the kind in `job.batch/pi created`.
    pub fn kind_ref(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() { kind } else { format!("{kind}.{}", self.group) }
    }

    /// `jobs.batch` or `pods`: how Status messages name the resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    fn names_match(&self, name: &str) -> bool {
        self.plural == name
            || self.singular == name
            || self.kind.to_lowercase() == name
            || self.short_names.iter().any(|s| s == name)
    }
}

/// Everything discovery lists, core group first, then groups in the server's order.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub resources: Vec<ApiResource>,
}

impl Discovery {
    /// From `APIResourceList` documents; `jobs/status`-style entries become subresources of their resource.
    pub fn from_lists(lists: &[Value]) -> Discovery {
        let mut resources: Vec<ApiResource> = Vec::new();
        for list in lists {
            let gv = list.get("groupVersion").and_then(Value::as_str).unwrap_or("");
            let (group, version) = gv.rsplit_once('/').unwrap_or(("", gv));
            for r in list.get("resources").and_then(Value::as_array).into_iter().flatten() {
                let name = str_of(r, "name");
                if let Some((parent, sub)) = name.split_once('/') {
                    if let Some(p) =
                        resources.iter_mut().find(|p| p.group == group && p.version == version && p.plural == parent)
                    {
                        p.subresources.push(sub.to_string());
                    }
                    continue;
                }
                let strings = |key: &str| -> Vec<String> {
                    r.get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                };
                let kind = str_of(r, "kind");
                let singular = match str_of(r, "singularName") {
                    "" => kind.to_lowercase(),
                    s => s.to_string(),
                };
                resources.push(ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    plural: name.to_string(),
                    singular,
                    kind: kind.to_string(),
                    namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(false),
                    short_names: strings("shortNames"),
                    categories: strings("categories"),
                    subresources: Vec::new(),
                });
            }
        }
        Discovery { resources }
    }

    /// Resolves one type name (`jobs`, `job`, `Job`, `po`, `jobs.batch`, `jobs.v1.batch`, a category such as
    /// `all`) to the resources it means.
    pub fn resolve(&self, typed: &str) -> Result<Vec<&ApiResource>> {
        let name = typed.to_lowercase();
        let found: Vec<&ApiResource> = self.resources.iter().filter(|r| r.names_match(&name)).take(1).collect();
        if !found.is_empty() {
            return Ok(found);
        }
        // `jobs.batch`, `jobs.v1.batch`
        if let Some((res, group)) = name.split_once('.') {
            let (version, group) = match group.split_once('.') {
                Some((v, g)) if self.resources.iter().any(|r| r.version == v && r.group == g) => (Some(v), g),
                _ => (None, group),
            };
            if let Some(r) = self
                .resources
                .iter()
                .find(|r| r.group == group && version.is_none_or(|v| r.version == v) && r.names_match(res))
            {
                return Ok(vec![r]);
            }
        }
        let category: Vec<&ApiResource> = self.resources.iter().filter(|r| r.categories.contains(&name)).collect();
        if !category.is_empty() {
            return Ok(category);
        }
        Err(CliError::other(format!("the server doesn't have a resource type \"{typed}\"")))
    }

    /// The resource of an object in a manifest.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ApiResource> {
        self.resources.iter().find(|r| r.api_version() == api_version && r.kind == kind)
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Reads `/api`, `/apis` and each served group version (the preferred one of each group).
pub async fn discover(api: &Api) -> Result<Discovery> {
    let mut gvs: Vec<String> = Vec::new();
    let core = api.get("/api").await?;
    for v in core.get("versions").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        gvs.push(format!("/api/{v}"));
    }
    let groups = api.get("/apis").await?;
    for g in groups.get("groups").and_then(Value::as_array).into_iter().flatten() {
        if let Some(gv) = g.pointer("/preferredVersion/groupVersion").and_then(Value::as_str) {
            gvs.push(format!("/apis/{gv}"));
        }
    }
    let lists = futures::future::try_join_all(gvs.iter().map(|p| api.get(p))).await?;
    Ok(Discovery::from_lists(&lists))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn sample() -> Discovery {
        Discovery::from_lists(&[
            json!({"groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "shortNames": ["po"], "categories": ["all"]},
                {"name": "pods/log", "namespaced": true, "kind": "Pod"},
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node", "shortNames": ["no"]},
                {"name": "events", "singularName": "", "namespaced": true, "kind": "Event", "shortNames": ["ev"]},
            ]}),
            json!({"groupVersion": "batch/v1", "resources": [
                {"name": "jobs", "singularName": "job", "namespaced": true, "kind": "Job", "categories": ["all"]},
                {"name": "jobs/scale", "namespaced": true, "kind": "Scale"},
            ]}),
        ])
    }

    #[test]
    fn resolves_names_as_kubectl() {
        let d = sample();
        let cases: &[(&str, &[&str])] = &[
            ("jobs", &["jobs"]),
            ("job", &["jobs"]),
            ("Job", &["jobs"]),
            ("po", &["pods"]),
            ("jobs.batch", &["jobs"]),
            ("job.batch", &["jobs"]),
            ("jobs.v1.batch", &["jobs"]),
            ("event", &["events"]),
            ("all", &["pods", "jobs"]),
        ];
        for (typed, want) in cases {
            let got: Vec<&str> = d.resolve(typed).unwrap().iter().map(|r| r.plural.as_str()).collect();
            assert_eq!(got, *want, "{typed}");
        }
        assert_eq!(
            d.resolve("widgets").unwrap_err().to_string(),
            "error: the server doesn't have a resource type \"widgets\""
        );
        assert!(d.resolve("jobs.apps").is_err());
    }

    #[test]
    fn paths_and_names() {
        let d = sample();
        let jobs = d.resolve("jobs").unwrap()[0];
        assert_eq!(jobs.collection_path(Some("x")), "/apis/batch/v1/namespaces/x/jobs");
        assert_eq!(jobs.collection_path(None), "/apis/batch/v1/jobs");
        assert_eq!(jobs.item_path("default", "pi"), "/apis/batch/v1/namespaces/default/jobs/pi");
        assert_eq!(jobs.kind_ref(), "job.batch");
        assert_eq!(jobs.qualified_plural(), "jobs.batch");
        assert_eq!(jobs.subresources, ["scale"]);
        let nodes = d.resolve("no").unwrap()[0];
        assert_eq!(nodes.item_path("default", "n1"), "/api/v1/nodes/n1");
        assert_eq!(nodes.kind_ref(), "node");
        assert_eq!(d.by_kind("batch/v1", "Job").map(|r| r.plural.as_str()), Some("jobs"));
        assert_eq!(d.resolve("events").unwrap()[0].singular, "event");
    }
}
