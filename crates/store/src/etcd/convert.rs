//! Pure conversions between what etcd answers and the store's objects and events: no client types,
//! so every rule is tested with plain values.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::object::{Event, EventType, Object, Revision, StoreError, decode_value, stamp_resource_version};

/// A key-value pair as etcd holds it, its key already mapped to the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kv {
    pub key: Arc<str>,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// The object a key-value holds, or why it holds none (its value is not a JSON object).
pub(crate) fn object(kv: &Kv) -> Result<Object, String> {
    let value = decode_value(&kv.value, kv.mod_revision)?;
    Ok(Object {
        key: kv.key.clone(),
        value: Arc::new(value),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
    })
}

/// One change seen on an etcd watch (with the previous key-value, when etcd still had it).
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Put { kv: Kv, prev: Option<Kv> },
    Delete { key: Arc<str>, revision: Revision, prev: Option<Kv> },
}

#[derive(Debug)]
pub(crate) enum Decoded {
    Event(Event),
    /// Nothing the store shows changed (a value that never was an object went away, or another
    /// one came that is not an object either).
    Skip(String),
    /// A delete whose last state etcd no longer has: the watcher cannot tell its watchers what was
    /// deleted and must read everything again.
    Gap,
}

/// The last state of `prev`, restamped at the revision of the delete that removed it (as a Deleted
/// event carries it).
fn deleted(prev: Object, revision: Revision) -> Event {
    let mut last = (*prev.value).clone();
    if stamp_resource_version(&mut last, revision).is_err() {
        // Unreachable: `prev` was decoded as an object. Keep the value as it is.
    }
    let object =
        Object { key: prev.key, value: Arc::new(last), create_revision: prev.create_revision, mod_revision: revision };
    Event { kind: EventType::Deleted, object, prev: Some(prev.value) }
}

/// A watch change as a store event. A value that is not an object is treated as absent, as the
/// SQLite backend treats an unreadable row: a put of one deletes what was there.
pub(crate) fn decode(change: Change) -> Decoded {
    match change {
        Change::Put { kv, prev } => {
            let prev = prev.as_ref().and_then(|p| object(p).ok());
            match (object(&kv), prev) {
                (Ok(object), prev) => {
                    let kind =
                        if kv.create_revision == kv.mod_revision { EventType::Added } else { EventType::Modified };
                    Decoded::Event(Event { kind, object, prev: prev.map(|p| p.value) })
                }
                (Err(why), Some(prev)) => {
                    tracing::warn!(key = %kv.key, error = %why, "a stored value is no JSON object; treating it as deleted");
                    Decoded::Event(deleted(prev, kv.mod_revision))
                }
                (Err(why), None) => Decoded::Skip(why),
            }
        }
        Change::Delete { key, revision, prev } => match prev {
            None => Decoded::Gap,
            Some(prev) => match object(&prev) {
                Ok(prev) => Decoded::Event(deleted(prev, revision)),
                Err(why) => Decoded::Skip(format!("{key}: {why}")),
            },
        },
    }
}

/// What a successful write did, as the watch will report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Created,
    Updated,
    Deleted,
}

/// The event of a successful write at `revision`. `value` is what was put (None for a delete);
/// `prev` is the key-value it replaced, as etcd returned it.
pub(crate) fn committed(
    done: Done,
    key: &Arc<str>,
    value: Option<Value>,
    revision: Revision,
    prev: Option<Kv>,
) -> Event {
    let create_revision = match done {
        Done::Created => revision,
        Done::Updated | Done::Deleted => prev.as_ref().map_or(revision, |p| p.create_revision),
    };
    let prev = prev.as_ref().and_then(|p| object(p).ok());
    if done == Done::Deleted {
        // The cache never holds a value that is no object, so there is always one to report; the
        // fallback only keeps the answer well-formed.
        let prev = prev.unwrap_or_else(|| Object {
            key: key.clone(),
            value: Arc::new(json!({"metadata": {}})),
            create_revision,
            mod_revision: revision,
        });
        return deleted(prev, revision);
    }
    let mut value = value.unwrap_or_else(|| json!({}));
    if stamp_resource_version(&mut value, revision).is_err() {
        // Unreachable: the value was encoded as an object before it was sent.
    }
    let object = Object { key: key.clone(), value: Arc::new(value), create_revision, mod_revision: revision };
    let kind = if done == Done::Created { EventType::Added } else { EventType::Modified };
    Event { kind, object, prev: prev.map(|p| p.value) }
}

/// What a refused write is answered with, given the key's mod_revision when it was judged (None: absent).
pub(crate) fn refusal(create: bool, key: &str, expected: Option<Revision>, current: Option<Revision>) -> StoreError {
    let key = key.to_owned();
    match (create, expected, current) {
        (true, _, _) => StoreError::AlreadyExists { key },
        (false, _, None) => StoreError::NotFound { key },
        (false, Some(expected), Some(actual)) => StoreError::Conflict { key, expected, actual },
        // The compare was only that the key exists, and it does: etcd judged otherwise than it answered.
        (false, None, Some(actual)) => {
            StoreError::Backend(format!("etcd refused a write to existing key {key} (at revision {actual})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, create_revision: Revision, mod_revision: Revision) -> Kv {
        Kv { key: Arc::from(key), value: value.as_bytes().to_vec(), create_revision, mod_revision }
    }

    /// (kind, key, create, mod, resourceVersion, name, prev's resourceVersion) or the outcome's name.
    fn summary(decoded: Decoded) -> String {
        match decoded {
            Decoded::Event(e) => format!(
                "{:?} {} {}/{} rv={} name={} prev={}",
                e.kind,
                e.object.key,
                e.object.create_revision,
                e.object.mod_revision,
                e.object.value["metadata"]["resourceVersion"].as_str().unwrap_or("-"),
                e.object.value["metadata"]["name"].as_str().unwrap_or("-"),
                e.prev
                    .as_ref()
                    .and_then(|p| p["metadata"]["resourceVersion"].as_str().map(str::to_owned))
                    .unwrap_or("-".into()),
            ),
            Decoded::Skip(_) => "Skip".into(),
            Decoded::Gap => "Gap".into(),
        }
    }

    #[test]
    fn watch_changes_become_events() {
        let a = r#"{"metadata":{"name":"a"}}"#;
        let b = r#"{"metadata":{"name":"b"}}"#;
        let cases: Vec<(&str, Change, &str)> = vec![
            ("create", Change::Put { kv: kv("/k", a, 5, 5), prev: None }, "Added /k 5/5 rv=5 name=a prev=-"),
            (
                "update",
                Change::Put { kv: kv("/k", b, 5, 7), prev: Some(kv("/k", a, 5, 5)) },
                "Modified /k 5/7 rv=7 name=b prev=5",
            ),
            (
                "recreate after a delete",
                Change::Put { kv: kv("/k", b, 9, 9), prev: None },
                "Added /k 9/9 rv=9 name=b prev=-",
            ),
            (
                "delete",
                Change::Delete { key: Arc::from("/k"), revision: 8, prev: Some(kv("/k", b, 5, 7)) },
                "Deleted /k 5/8 rv=8 name=b prev=7",
            ),
            ("delete without its last state", Change::Delete { key: Arc::from("/k"), revision: 8, prev: None }, "Gap"),
            (
                "delete of a value that was no object",
                Change::Delete { key: Arc::from("/k"), revision: 8, prev: Some(kv("/k", "[1]", 5, 7)) },
                "Skip",
            ),
            (
                "a put of a value that is no object deletes the object",
                Change::Put { kv: kv("/k", "{broken", 5, 7), prev: Some(kv("/k", a, 5, 5)) },
                "Deleted /k 5/7 rv=7 name=a prev=5",
            ),
            ("a put of no object over nothing", Change::Put { kv: kv("/k", "7", 5, 5), prev: None }, "Skip"),
            (
                "an object replacing a value that was none",
                Change::Put { kv: kv("/k", a, 5, 7), prev: Some(kv("/k", "x", 5, 5)) },
                "Modified /k 5/7 rv=7 name=a prev=-",
            ),
            ("metadata that is no object", Change::Put { kv: kv("/k", r#"{"metadata":1}"#, 5, 5), prev: None }, "Skip"),
        ];
        for (name, change, want) in cases {
            assert_eq!(summary(decode(change)), want, "{name}");
        }
    }

    #[test]
    fn successful_writes_become_the_events_the_watch_carries() {
        let key: Arc<str> = Arc::from("/k");
        let before = kv("/k", r#"{"metadata":{"name":"old"}}"#, 3, 4);
        let value = json!({"metadata": {"name": "new"}});
        let cases: Vec<(Done, Option<Value>, Option<Kv>, &str)> = vec![
            (Done::Created, Some(value.clone()), None, "Added /k 10/10 rv=10 name=new prev=-"),
            (Done::Updated, Some(value.clone()), Some(before.clone()), "Modified /k 3/10 rv=10 name=new prev=4"),
            (Done::Deleted, None, Some(before.clone()), "Deleted /k 3/10 rv=10 name=old prev=4"),
            (Done::Deleted, None, None, "Deleted /k 10/10 rv=10 name=- prev=-"),
        ];
        for (done, value, prev, want) in cases {
            let event = committed(done, &key, value, 10, prev);
            assert_eq!(summary(Decoded::Event(event)), want, "{done:?}");
        }
        // Each agrees with what the watch makes of the same change.
        let put = committed(Done::Updated, &key, Some(value), 10, Some(before.clone()));
        let watched =
            decode(Change::Put { kv: kv("/k", r#"{"metadata":{"name":"new"}}"#, 3, 10), prev: Some(before.clone()) });
        let Decoded::Event(watched) = watched else { panic!("event") };
        assert_eq!((put.kind, &put.object.value, &put.prev), (watched.kind, &watched.object.value, &watched.prev));
    }

    #[test]
    fn refusals() {
        let name = |e: StoreError| match e {
            StoreError::AlreadyExists { .. } => "AlreadyExists".to_owned(),
            StoreError::NotFound { .. } => "NotFound".to_owned(),
            StoreError::Conflict { expected, actual, .. } => format!("Conflict({expected},{actual})"),
            StoreError::Backend(_) => "Backend".to_owned(),
            other => format!("{other}"),
        };
        // (create, expected, current mod_revision, outcome)
        let cases: Vec<(bool, Option<Revision>, Option<Revision>, &str)> = vec![
            (true, None, Some(4), "AlreadyExists"),
            (false, Some(3), Some(4), "Conflict(3,4)"),
            (false, Some(3), None, "NotFound"),
            (false, None, None, "NotFound"),
            (false, Some(0), Some(4), "Conflict(0,4)"),
            (false, None, Some(4), "Backend"),
        ];
        for (create, expected, current, want) in cases {
            assert_eq!(name(refusal(create, "/k", expected, current)), want, "{create} {expected:?} {current:?}");
        }
    }
}
