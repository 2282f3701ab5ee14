//! Which dependents each owner has: the collector's index over the dependents' cache, so that an owner's
//! deletion looks at that owner's dependents only instead of every object of the kind.
//!
//! Kept from the dependents informer's changes ([`Dependents::apply`], [`Dependents::delete`], and
//! [`Dependents::rebuild`] after a relist or a missed change); it may trail the informer's store by the changes
//! still queued, so callers read the dependents from the store and decide on what they read there.

use std::collections::{BTreeSet, HashMap};

use runlet_codec::ObjectMeta;

/// A namespaced object's key: (namespace, name).
pub type Key = (String, String);

/// The key of the object `meta` describes.
pub fn key_of(meta: &ObjectMeta) -> Key {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

#[derive(Debug, Clone)]
struct Entry {
    uid: String,
    owners: Vec<String>,
}

/// Dependents by the uid of each of their owners (every ownerReference, controller or not).
#[derive(Debug, Default)]
pub struct Dependents {
    entries: HashMap<Key, Entry>,
    by_owner: HashMap<String, BTreeSet<Key>>,
}

impl Dependents {
    /// Files a dependent added or changed under each of its owners.
    pub fn apply(&mut self, meta: &ObjectMeta) {
        let key = key_of(meta);
        let owners: Vec<String> = meta
            .owner_references
            .iter()
            .flatten()
            .map(|r| r.uid.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let entry = Entry { uid: meta.uid.clone().unwrap_or_default(), owners };
        let before = self.entries.insert(key.clone(), entry.clone()).map(|e| e.owners).unwrap_or_default();
        if before != entry.owners {
            self.unfile(&key, &before);
            for owner in entry.owners {
                self.by_owner.entry(owner).or_default().insert(key.clone());
            }
        }
    }

    /// Forgets a deleted dependent, unless the name now belongs to a newer object (a stale deletion after a
    /// rebuild).
    pub fn delete(&mut self, meta: &ObjectMeta) {
        let key = key_of(meta);
        let uid = meta.uid.as_deref().unwrap_or_default();
        if self.entries.get(&key).is_none_or(|e| e.uid != uid) {
            return;
        }
        if let Some(entry) = self.entries.remove(&key) {
            self.unfile(&key, &entry.owners);
        }
    }

    /// Replaces everything with `dependents` (the store after a relist, or after changes were missed).
    pub fn rebuild<'a>(&mut self, dependents: impl IntoIterator<Item = &'a ObjectMeta>) {
        *self = Dependents::default();
        for meta in dependents {
            self.apply(meta);
        }
    }

    /// The keys of the dependents naming the owner with `uid`, sorted.
    pub fn of(&self, owner_uid: &str) -> Vec<Key> {
        self.by_owner.get(owner_uid).map(|keys| keys.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes `key` from the owners' sets, and the sets it leaves empty (owners come and go).
    fn unfile(&mut self, key: &Key, owners: &[String]) {
        for owner in owners {
            if let Some(keys) = self.by_owner.get_mut(owner) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_owner.remove(owner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(name: &str, uid: &str, owners: &[&str]) -> ObjectMeta {
        let refs: Vec<_> = owners
            .iter()
            .map(|o| json!({"apiVersion": "batch/v1", "kind": "Job", "name": format!("job-{o}"), "uid": o}))
            .collect();
        serde_json::from_value(json!({"namespace": "ns", "name": name, "uid": uid, "ownerReferences": refs})).unwrap()
    }

    fn key(name: &str) -> Key {
        ("ns".into(), name.into())
    }

    #[test]
    fn files_each_dependent_under_every_owner_and_follows_changes() {
        let mut index = Dependents::default();
        index.apply(&meta("a", "ua", &["j1"]));
        index.apply(&meta("b", "ub", &["j1", "j2"]));
        index.apply(&meta("c", "uc", &[]));
        assert_eq!(index.of("j1"), vec![key("a"), key("b")]);
        assert_eq!(index.of("j2"), vec![key("b")]);
        assert_eq!(index.len(), 3);

        // Released from j1: filed under j2 only.
        index.apply(&meta("b", "ub", &["j2"]));
        assert_eq!(index.of("j2"), vec![key("b")]);
        assert_eq!(index.of("j1"), vec![key("a")]);

        // Deleted: gone from its owner's set, and the emptied set with it.
        index.delete(&meta("a", "ua", &["j1"]));
        assert!(index.of("j1").is_empty());
        assert!(!index.by_owner.contains_key("j1"));
    }

    #[test]
    fn a_stale_deletion_leaves_the_newer_object_of_the_same_name() {
        let mut index = Dependents::default();
        index.apply(&meta("a", "new", &["j1"]));
        index.delete(&meta("a", "old", &["j1"]));
        assert_eq!(index.of("j1"), vec![key("a")]);
    }

    #[test]
    fn rebuild_replaces_everything() {
        let mut index = Dependents::default();
        index.apply(&meta("a", "ua", &["j1"]));
        let fresh = [meta("b", "ub", &["j2"])];
        index.rebuild(fresh.iter());
        assert!(index.of("j1").is_empty());
        assert_eq!(index.of("j2"), vec![key("b")]);
        assert_eq!(index.len(), 1);
    }
}
