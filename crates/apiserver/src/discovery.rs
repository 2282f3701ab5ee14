//! `/version` and legacy discovery (`/api`, `/apis`, group versions) (kubectl-wire.md §1). The OpenAPI
//! documents are in [`crate::openapi`].

use serde_json::{Value, json};

use crate::resources::{RESOURCES, Resource};

/// The Kubernetes version runlet speaks. kubectl's dispatcher picks its client from `minor`.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-runlet.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

fn groups() -> Vec<&'static str> {
    let mut gs: Vec<&'static str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !gs.contains(&r.group) {
            gs.push(r.group);
        }
    }
    gs
}

fn group_json(group: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(group_json).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, or None when the group is not served.
pub fn group(group: &str) -> Option<Value> {
    groups().contains(&group).then(|| {
        let mut g = group_json(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

fn resource_json(r: &Resource) -> Value {
    let mut v = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind_name,
        "verbs": r.verbs(),
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    v
}

fn subresource_json(r: &Resource, sub: &str) -> Value {
    match sub {
        "scale" => json!({
            "name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
        }),
        "log" => json!({
            "name": format!("{}/log", r.plural), "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind_name, "verbs": ["get"],
        }),
        _ => json!({
            "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind_name, "verbs": ["get", "patch", "update"],
        }),
    }
}

/// `/api/v1` or `/apis/{group}/{version}`, or None when nothing is served there.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let members: Vec<&Resource> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).collect();
    if members.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in members {
        resources.push(resource_json(r));
        for sub in r.subresources {
            resources.push(subresource_json(r, sub));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lists_jobs_with_category_all() {
        let l = resource_list("batch", "v1").unwrap();
        let jobs = &l["resources"][0];
        assert_eq!(jobs["name"], "jobs");
        assert_eq!(jobs["categories"], json!(["all"]));
        let names: Vec<&str> = l["resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, vec!["jobs", "jobs/status", "jobs/scale", "cronjobs", "cronjobs/status"]);
        let cronjobs = &l["resources"][3];
        assert_eq!(cronjobs["shortNames"], json!(["cj"]));
        assert_eq!(cronjobs["kind"], "CronJob");
    }

    #[test]
    fn core_has_short_names() {
        let l = resource_list("", "v1").unwrap();
        let pods = l["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(l["groupVersion"], "v1");
        assert!(resource_list("batch", "v2").is_none());
    }
}
