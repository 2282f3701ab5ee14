//! The resources runlet serves, and how a request path names one of them.

/// The object kinds runlet stores. Each has its own defaulting and validation in `strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Namespace,
    Pod,
    Event,
    Node,
    Job,
    CronJob,
    Lease,
    ConfigMap,
    Secret,
    RuntimeClass,
}

/// Static facts about one resource: what discovery advertises and how objects are keyed.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    pub kind: Kind,
    /// API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Lower-case plural used in paths (`jobs`).
    pub plural: &'static str,
    pub singular: &'static str,
    /// `Kind` as in objects (`Job`).
    pub kind_name: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served besides the main resource.
    pub subresources: &'static [&'static str],
    /// The kind for `patch::Kind`, which carries the strategic-merge schema.
    pub patch_kind: runlet_patch::Kind,
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

pub static RESOURCES: &[Resource] = &[
    Resource {
        kind: Kind::Namespace,
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind_name: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &["status"],
        patch_kind: runlet_patch::Kind::Namespace,
    },
    Resource {
        kind: Kind::Pod,
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind_name: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &["status", "log"],
        patch_kind: runlet_patch::Kind::Pod,
    },
    Resource {
        kind: Kind::Event,
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind_name: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
        patch_kind: runlet_patch::Kind::Event,
    },
    Resource {
        kind: Kind::Node,
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind_name: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        subresources: &["status"],
        patch_kind: runlet_patch::Kind::Node,
    },
    Resource {
        kind: Kind::Job,
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind_name: "Job",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        subresources: &["status", "scale"],
        patch_kind: runlet_patch::Kind::Job,
    },
    Resource {
        kind: Kind::CronJob,
        group: "batch",
        version: "v1",
        plural: "cronjobs",
        singular: "cronjob",
        kind_name: "CronJob",
        namespaced: true,
        short_names: &["cj"],
        categories: &["all"],
        subresources: &["status"],
        patch_kind: runlet_patch::Kind::CronJob,
    },
    Resource {
        kind: Kind::Lease,
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind_name: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        patch_kind: runlet_patch::Kind::Lease,
    },
    Resource {
        kind: Kind::ConfigMap,
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind_name: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
        patch_kind: runlet_patch::Kind::ConfigMap,
    },
    Resource {
        kind: Kind::Secret,
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind_name: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        patch_kind: runlet_patch::Kind::Secret,
    },
    Resource {
        kind: Kind::RuntimeClass,
        group: "node.k8s.io",
        version: "v1",
        plural: "runtimeclasses",
        singular: "runtimeclass",
        kind_name: "RuntimeClass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        subresources: &[],
        patch_kind: runlet_patch::Kind::RuntimeClass,
    },
];

impl Resource {
    pub fn verbs(&self) -> &'static [&'static str] {
        ALL_VERBS
    }

    /// Whether a delete that removes the object answers with the object (upstream `ReturnDeletedObject`: pods
    /// and namespaces) rather than a Success Status.
    pub fn returns_deleted_object(&self) -> bool {
        matches!(self.kind, Kind::Pod | Kind::Namespace)
    }

    /// `batch/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `jobs.batch`, or `pods` for the core group: how error messages name the resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `Job.batch`, or `Pod`: how `Invalid` messages name the kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() { self.kind_name.to_string() } else { format!("{}.{}", self.kind_name, self.group) }
    }

    /// Store key prefix of every object of this resource (all namespaces).
    pub fn prefix(&self) -> String {
        format!("/registry/{}/{}/", self.group_dir(), self.plural)
    }

    /// Store key prefix of one namespace's objects.
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("{}{namespace}/", self.prefix())
    }

    /// Store key prefix of a collection: one namespace's objects, or all of them.
    pub fn collection_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => self.namespace_prefix(ns),
            None => self.prefix(),
        }
    }

    /// Store key of one object; cluster-scoped objects ignore `namespace`.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.prefix()),
            _ => format!("{}{name}", self.prefix()),
        }
    }

    fn group_dir(&self) -> &'static str {
        if self.group.is_empty() { "core" } else { self.group }
    }
}

pub fn by_kind(kind: Kind) -> &'static Resource {
    // RESOURCES lists every Kind exactly once (checked by a test).
    RESOURCES.iter().find(|r| r.kind == kind).unwrap_or(&RESOURCES[0])
}

pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// What a request path under `/api` or `/apis` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api/v1`, `/apis/batch/v1`: the resource list of a group version.
    GroupVersion { group: String, version: String },
    /// `/apis/batch`: one group.
    Group { group: String },
    /// A collection, optionally restricted to one namespace.
    Collection { resource: &'static Resource, namespace: Option<String> },
    /// One object, or one of its subresources.
    Item { resource: &'static Resource, namespace: Option<String>, name: String, subresource: Option<String> },
}

/// Parses the path after the leading `/api` or `/apis` (`core` tells which); None when nothing is served there.
///
/// Path segments: `{gv}/namespaces/{ns}/{plural}/{name}/{sub}` for namespaced resources,
/// `{gv}/{plural}/{name}/{sub}` for cluster-scoped ones and cross-namespace lists.
pub fn parse_path(core: bool, rest: &str) -> Option<Target> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, tail) = if core {
        match segs.as_slice() {
            [v, tail @ ..] => ("", *v, tail),
            [] => return None,
        }
    } else {
        match segs.as_slice() {
            [g] => return Some(Target::Group { group: (*g).to_string() }),
            [g, v, tail @ ..] => (*g, *v, tail),
            _ => return None,
        }
    };
    let lookup = |plural: &str| find(group, version, plural);
    match tail {
        [] => Some(Target::GroupVersion { group: group.to_string(), version: version.to_string() }),
        // A namespaced collection: /namespaces/{ns}/{plural}[/{name}[/{sub}]].
        ["namespaces", ns, plural, rest @ ..] if !is_namespace_subresource(plural) => {
            let resource = lookup(plural)?;
            if !resource.namespaced {
                return None;
            }
            let namespace = Some((*ns).to_string());
            match rest {
                [] => Some(Target::Collection { resource, namespace }),
                [name] => Some(Target::Item { resource, namespace, name: (*name).to_string(), subresource: None }),
                [name, sub] => item_with_sub(resource, namespace, name, sub),
                _ => None,
            }
        }
        [plural] => Some(Target::Collection { resource: lookup(plural)?, namespace: None }),
        [plural, name] => {
            let resource = lookup(plural)?;
            if resource.namespaced {
                return None;
            }
            Some(Target::Item { resource, namespace: None, name: (*name).to_string(), subresource: None })
        }
        [plural, name, sub] => {
            let resource = lookup(plural)?;
            if resource.namespaced {
                return None;
            }
            item_with_sub(resource, None, name, sub)
        }
        _ => None,
    }
}

/// `/api/v1/namespaces/{name}/status` is the namespace's own subresource, not a collection called `status`.
fn is_namespace_subresource(segment: &str) -> bool {
    matches!(segment, "status" | "finalize")
}

fn item_with_sub(resource: &'static Resource, namespace: Option<String>, name: &str, sub: &str) -> Option<Target> {
    if !resource.subresources.contains(&sub) {
        return None;
    }
    Some(Target::Item { resource, namespace, name: name.to_string(), subresource: Some(sub.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    type ItemParts<'a> = (&'a str, Option<&'a str>, &'a str, Option<&'a str>);

    fn item(t: &Target) -> ItemParts<'_> {
        match t {
            Target::Item { resource, namespace, name, subresource } => {
                (resource.plural, namespace.as_deref(), name.as_str(), subresource.as_deref())
            }
            other => panic!("not an item: {other:?}"),
        }
    }

    #[test]
    fn every_kind_listed_once() {
        for k in [
            Kind::Namespace,
            Kind::Pod,
            Kind::Event,
            Kind::Node,
            Kind::Job,
            Kind::CronJob,
            Kind::Lease,
            Kind::ConfigMap,
            Kind::Secret,
            Kind::RuntimeClass,
        ] {
            assert_eq!(RESOURCES.iter().filter(|r| r.kind == k).count(), 1, "{k:?}");
            assert_eq!(by_kind(k).kind, k);
        }
    }

    #[test]
    fn parses_paths() {
        let cases: &[(bool, &str, ItemParts<'_>)] = &[
            (true, "v1/namespaces/default/pods/p1", ("pods", Some("default"), "p1", None)),
            (true, "v1/namespaces/default/pods/p1/log", ("pods", Some("default"), "p1", Some("log"))),
            (true, "v1/namespaces/x", ("namespaces", None, "x", None)),
            (true, "v1/namespaces/x/status", ("namespaces", None, "x", Some("status"))),
            (true, "v1/nodes/n1/status", ("nodes", None, "n1", Some("status"))),
            (false, "batch/v1/namespaces/default/jobs/pi/scale", ("jobs", Some("default"), "pi", Some("scale"))),
        ];
        for (core, path, want) in cases {
            let t = parse_path(*core, path).unwrap();
            assert_eq!(item(&t), *want, "{path}");
        }
    }

    #[test]
    fn parses_collections_and_discovery() {
        match parse_path(false, "batch/v1/jobs").unwrap() {
            Target::Collection { resource, namespace } => {
                assert_eq!(resource.plural, "jobs");
                assert_eq!(namespace, None);
            }
            t => panic!("{t:?}"),
        }
        match parse_path(true, "v1/namespaces/x/events").unwrap() {
            Target::Collection { resource, namespace } => {
                assert_eq!(resource.plural, "events");
                assert_eq!(namespace.as_deref(), Some("x"));
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(
            parse_path(false, "batch/v1").unwrap(),
            Target::GroupVersion { group: "batch".into(), version: "v1".into() }
        );
        assert_eq!(parse_path(false, "batch").unwrap(), Target::Group { group: "batch".into() });
    }

    #[test]
    fn rejects_unknown_paths() {
        for (core, p) in [
            (true, "v1/namespaces/default/widgets"),
            (true, "v1/pods/p1"),
            (true, "v1/namespaces/default/pods/p1/exec"),
            (false, "batch/v2/jobs"),
            (true, "v1/namespaces/default/namespaces"),
            (true, "v1/namespaces/default/pods/a/b/c"),
        ] {
            assert_eq!(parse_path(core, p), None, "{p}");
        }
    }

    #[test]
    fn keys() {
        let jobs = by_kind(Kind::Job);
        assert_eq!(jobs.key(Some("default"), "pi"), "/registry/batch/jobs/default/pi");
        assert_eq!(jobs.namespace_prefix("default"), "/registry/batch/jobs/default/");
        assert_eq!(jobs.collection_prefix(Some("default")), "/registry/batch/jobs/default/");
        assert_eq!(jobs.collection_prefix(None), "/registry/batch/jobs/");
        let ns = by_kind(Kind::Namespace);
        assert_eq!(ns.key(None, "x"), "/registry/core/namespaces/x");
        assert_eq!(jobs.qualified(), "jobs.batch");
        assert_eq!(by_kind(Kind::Pod).qualified(), "pods");
        assert_eq!(jobs.qualified_kind(), "Job.batch");
    }
}
