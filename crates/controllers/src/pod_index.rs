//! An index of the pod cache by namespace and controller, so that a Job sync looks only at the pods it controls
//! and the orphans of its namespace instead of every pod of every namespace.
//!
//! It is kept from the pod informer's changes by whoever subscribes ([`PodIndex::apply`], [`PodIndex::delete`],
//! [`PodIndex::rebuild`] after a relist or a missed change), so it may trail the informer's store by the changes
//! still queued; callers read pods from the store and re-check what they filter on.

use std::collections::{BTreeSet, HashMap};

use runlet_codec::Pod;

/// Where a pod is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    /// Under the uid of its controller reference (of any kind).
    Controlled(String),
    /// No controller reference.
    Orphan,
}

#[derive(Debug, Clone)]
struct Entry {
    uid: String,
    filed: Filed,
}

/// Pod names by namespace and controller uid, and the orphan pods of each namespace.
#[derive(Debug, Default)]
pub struct PodIndex {
    /// (namespace, name) → the pod's uid and where it is filed.
    entries: HashMap<(String, String), Entry>,
    controlled: HashMap<String, HashMap<String, BTreeSet<String>>>,
    orphans: HashMap<String, BTreeSet<String>>,
}

fn filed(pod: &Pod) -> Filed {
    runlet_api::meta::controller_of(&pod.metadata).map_or(Filed::Orphan, |r| Filed::Controlled(r.uid.clone()))
}

fn key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

impl PodIndex {
    pub fn new() -> Self {
        PodIndex::default()
    }

    /// Files a pod added or changed; returns where it was filed before, if anywhere (the Job that controlled
    /// a released pod wants to hear of it).
    pub fn apply(&mut self, pod: &Pod) -> Option<Filed> {
        let (ns, name) = key(pod);
        let entry = Entry { uid: pod.metadata.uid.clone().unwrap_or_default(), filed: filed(pod) };
        let before = self.entries.insert((ns.clone(), name.clone()), entry.clone()).map(|e| e.filed);
        if before.as_ref() != Some(&entry.filed) {
            if let Some(b) = &before {
                self.unfile(&ns, &name, b);
            }
            self.file(ns, name, entry.filed);
        }
        before
    }

    /// Forgets a deleted pod, unless the name now belongs to a newer pod (a stale deletion after a rebuild).
    /// Returns where it was filed.
    pub fn delete(&mut self, pod: &Pod) -> Option<Filed> {
        let k = key(pod);
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if self.entries.get(&k).is_none_or(|e| e.uid != uid) {
            return None;
        }
        let e = self.entries.remove(&k)?;
        self.unfile(&k.0, &k.1, &e.filed);
        Some(e.filed)
    }

    /// Replaces everything with `pods` (the store after a relist, or after changes were missed).
    pub fn rebuild<'a>(&mut self, pods: impl IntoIterator<Item = &'a Pod>) {
        *self = PodIndex::default();
        for p in pods {
            self.apply(p);
        }
    }

    /// Names of the pods of `ns` whose controller reference has `uid`, sorted.
    pub fn controlled_by(&self, ns: &str, uid: &str) -> Vec<String> {
        self.controlled.get(ns).and_then(|by| by.get(uid)).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Names of the pods of `ns` without a controller reference, sorted.
    pub fn orphans(&self, ns: &str) -> Vec<String> {
        self.orphans.get(ns).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Names of every pod of `ns`, sorted.
    pub fn in_namespace(&self, ns: &str) -> Vec<String> {
        let mut all: BTreeSet<&String> = self.orphans.get(ns).into_iter().flatten().collect();
        all.extend(self.controlled.get(ns).into_iter().flat_map(|by| by.values().flatten()));
        all.into_iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn file(&mut self, ns: String, name: String, filed: Filed) {
        match filed {
            Filed::Controlled(uid) => {
                self.controlled.entry(ns).or_default().entry(uid).or_default().insert(name);
            }
            Filed::Orphan => {
                self.orphans.entry(ns).or_default().insert(name);
            }
        }
    }

    /// Removes a filing, and the maps it leaves empty (namespaces and Jobs come and go).
    fn unfile(&mut self, ns: &str, name: &str, filed: &Filed) {
        match filed {
            Filed::Controlled(uid) => {
                if let Some(by) = self.controlled.get_mut(ns) {
                    if let Some(names) = by.get_mut(uid) {
                        names.remove(name);
                        if names.is_empty() {
                            by.remove(uid);
                        }
                    }
                    if by.is_empty() {
                        self.controlled.remove(ns);
                    }
                }
            }
            Filed::Orphan => {
                if let Some(names) = self.orphans.get_mut(ns) {
                    names.remove(name);
                    if names.is_empty() {
                        self.orphans.remove(ns);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod `ns/name` with uid `uid`, controlled by `controller` (a uid) if given; `other` adds a
    /// non-controller owner reference.
    fn pod(ns: &str, name: &str, uid: &str, controller: Option<&str>, other: Option<&str>) -> Pod {
        let mut owners = Vec::new();
        if let Some(c) = controller {
            owners.push(json!({"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": c, "controller": true}));
        }
        if let Some(o) = other {
            owners.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": o}));
        }
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": ns, "name": name, "uid": uid, "ownerReferences": owners}});
        runlet_codec::decode_pod(&v).unwrap().object
    }

    enum Op {
        Apply(Pod, Option<Filed>),
        Delete(Pod, Option<Filed>),
    }

    fn controlled(uid: &str) -> Option<Filed> {
        Some(Filed::Controlled(uid.into()))
    }

    #[test]
    fn follows_adds_changes_and_deletes() {
        use Op::*;
        let ops = vec![
            Apply(pod("a", "p1", "u1", Some("j1"), None), None),
            Apply(pod("a", "p2", "u2", Some("j1"), None), None),
            Apply(pod("a", "p3", "u3", None, Some("cm")), None),
            Apply(pod("b", "p1", "u4", Some("j1"), None), None),
            // An unchanged pod stays where it is.
            Apply(pod("a", "p1", "u1", Some("j1"), None), controlled("j1")),
            // Released: j1 lost it, it is an orphan now.
            Apply(pod("a", "p2", "u2", None, None), controlled("j1")),
            // Adopted by j2.
            Apply(pod("a", "p3", "u3", Some("j2"), None), Some(Filed::Orphan)),
            // A stale deletion of an older pod of the same name leaves the newer one alone.
            Delete(pod("b", "p1", "old-uid", Some("j1"), None), None),
            Delete(pod("a", "p1", "u1", Some("j1"), None), controlled("j1")),
            Delete(pod("a", "p1", "u1", Some("j1"), None), None),
        ];
        let mut index = PodIndex::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Apply(p, want) => assert_eq!(index.apply(&p), want, "op {i}"),
                Delete(p, want) => assert_eq!(index.delete(&p), want, "op {i}"),
            }
        }
        let queries: [(&str, &str, Vec<&str>); 5] = [
            ("a", "j1", vec![]),
            ("a", "j2", vec!["p3"]),
            ("b", "j1", vec!["p1"]),
            ("b", "j2", vec![]),
            ("c", "j1", vec![]),
        ];
        for (ns, uid, want) in queries {
            assert_eq!(index.controlled_by(ns, uid), want, "{ns}/{uid}");
        }
        assert_eq!(index.orphans("a"), ["p2"]);
        assert!(index.orphans("b").is_empty());
        assert_eq!(index.in_namespace("a"), ["p2", "p3"]);
        assert_eq!(index.len(), 3);
        // Nothing is left of a Job that controls no pod any more.
        assert!(!index.controlled.get("a").is_some_and(|by| by.contains_key("j1")));
    }

    #[test]
    fn rebuild_replaces_everything() {
        let mut index = PodIndex::new();
        index.apply(&pod("a", "gone", "u0", Some("j1"), None));
        let now = [pod("a", "p1", "u1", Some("j1"), None), pod("a", "p2", "u2", None, None)];
        index.rebuild(now.iter());
        assert_eq!(index.controlled_by("a", "j1"), ["p1"]);
        assert_eq!(index.orphans("a"), ["p2"]);
        assert_eq!(index.len(), 2);
        index.rebuild([]);
        assert!(index.is_empty() && index.controlled.is_empty() && index.orphans.is_empty());
    }
}
