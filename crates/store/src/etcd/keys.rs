//! Where store keys live in etcd. Pure: the mapping both ways, the ranges to read and watch, and
//! the one key runlet keeps for itself.

use std::sync::Arc;

/// Store keys under `store_root` are kept in etcd under `etcd_root` instead: `<store_root>rest`
/// is `<etcd_root>rest`. Both roots end with `/`, so a root never matches a sibling that merely
/// starts with the same letters (`/registry` and `/registry2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    store_root: String,
    etcd_root: String,
}

/// Relative keys starting with this are runlet's own bookkeeping, never store keys. No key the API
/// server makes contains a NUL.
const RESERVED: char = '\0';

/// Written when a write is refused (see `EtcdBackend::txn`): its event tells a watcher that every
/// change up to its revision has been delivered.
const MARKER: &str = "\0runlet/marker";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpaceError {
    #[error("the etcd prefix must not be empty")]
    EmptyPrefix,
}

/// `root` as a directory: with exactly one `/` at the end.
fn as_dir(root: &str) -> String {
    format!("{}/", root.trim_end_matches('/'))
}

impl KeySpace {
    /// `store_root` and `etcd_root` get a trailing `/` if they lack one. An empty `etcd_root` is refused:
    /// runlet's keys would be mixed with whatever else the etcd holds.
    pub fn new(store_root: &str, etcd_root: &str) -> Result<KeySpace, KeySpaceError> {
        if etcd_root.trim_end_matches('/').is_empty() {
            return Err(KeySpaceError::EmptyPrefix);
        }
        Ok(KeySpace { store_root: as_dir(store_root), etcd_root: as_dir(etcd_root) })
    }

    pub fn etcd_root(&self) -> &str {
        &self.etcd_root
    }

    /// The etcd key of a store key, or None for a key this space cannot hold (outside the store root,
    /// or reserved).
    pub fn to_etcd(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&self.store_root)?;
        if rest.starts_with(RESERVED) {
            return None;
        }
        Some(format!("{}{rest}", self.etcd_root))
    }

    /// The store key of an etcd key; None for keys that are not store keys (elsewhere in etcd, not
    /// UTF-8, or runlet's bookkeeping).
    pub fn from_etcd(&self, key: &[u8]) -> Option<Arc<str>> {
        let rest = std::str::from_utf8(key).ok()?.strip_prefix(&self.etcd_root)?;
        if rest.starts_with(RESERVED) {
            return None;
        }
        Some(Arc::from(format!("{}{rest}", self.store_root)))
    }

    /// The etcd prefix holding every store key that starts with `prefix`; None when no store key can.
    pub fn etcd_prefix(&self, prefix: &str) -> Option<String> {
        if let Some(rest) = prefix.strip_prefix(&self.store_root) {
            return Some(format!("{}{rest}", self.etcd_root));
        }
        // A prefix of the root itself (such as "" for everything) covers the whole space.
        self.store_root.starts_with(prefix).then(|| self.etcd_root.clone())
    }

    /// The key written when a write is refused.
    pub fn marker(&self) -> String {
        format!("{}{MARKER}", self.etcd_root)
    }

    pub fn is_marker(&self, key: &[u8]) -> bool {
        key.strip_prefix(self.etcd_root.as_bytes()) == Some(MARKER.as_bytes())
    }
}

/// The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Only 0xff bytes: every key from the prefix on.
    vec![0]
}

/// The smallest key after `key` (to continue a paged range).
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(store: &str, etcd: &str) -> KeySpace {
        match KeySpace::new(store, etcd) {
            Ok(space) => space,
            Err(e) => panic!("{store} {etcd}: {e}"),
        }
    }

    #[test]
    fn roots_are_directories_and_the_etcd_one_is_required() {
        type Case = (&'static str, &'static str, Result<(&'static str, &'static str), KeySpaceError>);
        let cases: Vec<Case> = vec![
            ("/registry", "/registry", Ok(("/registry/", "/registry/"))),
            ("/registry/", "/runlet//", Ok(("/registry/", "/runlet/"))),
            ("", "/t1", Ok(("/", "/t1/"))),
            ("/registry", "", Err(KeySpaceError::EmptyPrefix)),
            ("/registry", "///", Err(KeySpaceError::EmptyPrefix)),
        ];
        for (store, etcd, want) in cases {
            let got = KeySpace::new(store, etcd);
            let got = got.as_ref().map(|s| (s.store_root.as_str(), s.etcd_root.as_str())).map_err(Clone::clone);
            assert_eq!(got, want, "{store:?} {etcd:?}");
        }
    }

    #[test]
    fn keys_map_both_ways_inside_the_space_only() {
        let registry = space("/registry", "/cluster-a");
        // (store key, etcd key)
        let cases: Vec<(&str, Option<&str>)> = vec![
            ("/registry/batch/jobs/default/pi", Some("/cluster-a/batch/jobs/default/pi")),
            ("/registry/x", Some("/cluster-a/x")),
            ("/registry/", Some("/cluster-a/")),
            ("/registry2/x", None),
            ("/registryx", None),
            ("/other/x", None),
            ("/registry/\0runlet/marker", None),
        ];
        for (key, want) in cases {
            let got = registry.to_etcd(key);
            assert_eq!(got.as_deref(), want, "{key:?}");
            if let Some(etcd) = got {
                assert_eq!(registry.from_etcd(etcd.as_bytes()).as_deref(), Some(key), "round trip of {key:?}");
            }
        }
        for etcd in ["/cluster-a2/x", "/cluster-a", "/registry/x", "/cluster-a/\0runlet/marker"] {
            assert_eq!(registry.from_etcd(etcd.as_bytes()), None, "{etcd:?}");
        }
        assert_eq!(registry.from_etcd(b"/cluster-a/\xff"), None, "not UTF-8");
    }

    #[test]
    fn prefixes_cover_what_they_should() {
        let registry = space("/registry", "/cluster-a");
        let cases: Vec<(&str, Option<&str>)> = vec![
            ("/registry/batch/jobs/", Some("/cluster-a/batch/jobs/")),
            ("/registry/", Some("/cluster-a/")),
            ("/registry", Some("/cluster-a/")),
            ("/reg", Some("/cluster-a/")),
            ("", Some("/cluster-a/")),
            ("/registry2", None),
            ("/x", None),
        ];
        for (prefix, want) in cases {
            assert_eq!(registry.etcd_prefix(prefix).as_deref(), want, "{prefix:?}");
        }
        let tests = space("", "/t1");
        assert_eq!(tests.etcd_prefix("").as_deref(), Some("/t1/"));
        assert_eq!(tests.etcd_prefix("/k/").as_deref(), Some("/t1/k/"));
        assert_eq!(tests.to_etcd("/k/1").as_deref(), Some("/t1/k/1"));
        assert_eq!(tests.to_etcd("k"), None, "store keys start with the root's /");
    }

    #[test]
    fn the_marker_is_inside_the_watched_range_but_no_store_key() {
        let registry = space("/registry", "/cluster-a");
        let marker = registry.marker();
        assert!(marker.starts_with(registry.etcd_root()));
        assert!(registry.is_marker(marker.as_bytes()));
        assert!(!registry.is_marker(b"/cluster-a/x"));
        assert!(!space("/registry", "/cluster-b").is_marker(marker.as_bytes()));
        assert_eq!(registry.from_etcd(marker.as_bytes()), None);
    }

    #[test]
    fn range_ends() {
        let cases: Vec<(&[u8], &[u8])> =
            vec![(b"/a/", b"/a0"), (b"a", b"b"), (b"a\xff", b"b"), (b"\xff\xff", b"\0"), (b"", b"\0")];
        for (prefix, want) in cases {
            assert_eq!(prefix_end(prefix), want, "{prefix:?}");
        }
        assert_eq!(key_after(b"/a"), b"/a\0");
    }
}
