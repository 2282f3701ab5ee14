//! Pure group-commit planning: given the writer's index and a batch of writes, decide which
//! succeed, at which revisions, and which rows change. No I/O here, so the CAS rules are tested
//! directly; the writer only executes a plan and, once committed, applies it to the index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::object::{Compact, Event, EventType, Object, Revision, StoreError, stamp_resource_version};

/// The writer's view of every live key: its revisions, all the compare-and-swap rules need. The JSON lives in
/// the database and in the store's cache above it (which also keeps each change's previous state); keeping
/// it here a second time cost about as much memory as the cache itself.
pub(crate) type Index = BTreeMap<Arc<str>, Row>;

/// The revisions of a live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// A key as it stands before an op: its revisions, and its JSON when known (written earlier in the batch, or
/// read from the database for a delete).
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub row: Row,
    pub json: Arc<str>,
}

/// A write ready for the writer thread: validated, resourceVersion stripped and (for puts)
/// serialized by the caller, so the single writer thread does as little CPU work as possible.
#[derive(Debug)]
pub(crate) enum PreparedOp {
    Create { key: Arc<str>, value: Value, json: String },
    Update { key: Arc<str>, value: Value, json: String, expected: Option<Revision> },
    Delete { key: Arc<str>, expected: Option<Revision> },
}

/// A row mutation to execute inside the batch's transaction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RowChange {
    Put { key: Arc<str>, json: Arc<str>, create_revision: Revision, mod_revision: Revision },
    Delete { key: Arc<str> },
}

#[derive(Debug)]
pub(crate) struct Plan {
    /// One result per op, in the batch's order.
    pub results: Vec<Result<Event, StoreError>>,
    pub rows: Vec<RowChange>,
    /// Index changes to apply once committed (None = key deleted).
    pub staged: HashMap<Arc<str>, Option<Staged>>,
    /// The revision after the batch (unchanged if every op was rejected).
    pub revision: Revision,
}

impl Plan {
    /// The committed events, in revision order.
    pub fn events(&self) -> Vec<Event> {
        self.results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect()
    }
}

/// Checks `expected` against the current mod_revision.
fn check_expected(key: &str, current: &Row, expected: Option<Revision>) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.mod_revision => {
            Err(StoreError::Conflict { key: key.to_owned(), expected, actual: current.mod_revision })
        }
        _ => Ok(()),
    }
}

fn stamped(key: &str, mut value: Value, revision: Revision) -> Result<Arc<Value>, StoreError> {
    stamp_resource_version(&mut value, revision)
        .map_err(|e| StoreError::InvalidValue { key: key.to_owned(), reason: e.reason().to_owned() })?;
    Ok(Arc::new(value))
}

/// Plans `ops` in order against `index` (as modified by earlier ops of the same batch). Each successful op
/// gets the next revision after `revision`; rejected ops get none. `stored` holds the JSON of the rows the
/// batch deletes (the delete event carries the last state), read from the database by the writer.
pub(crate) fn plan_batch(
    index: &Index,
    stored: &HashMap<Arc<str>, Arc<str>>,
    revision: Revision,
    ops: Vec<PreparedOp>,
) -> Plan {
    let mut plan = Plan {
        results: Vec::with_capacity(ops.len()),
        rows: Vec::with_capacity(ops.len()),
        staged: HashMap::new(),
        revision,
    };
    for op in ops {
        let result = plan_one(index, stored, &mut plan, op);
        plan.results.push(result);
    }
    plan
}

fn plan_one(
    index: &Index,
    stored: &HashMap<Arc<str>, Arc<str>>,
    plan: &mut Plan,
    op: PreparedOp,
) -> Result<Event, StoreError> {
    let next = plan.revision + 1;
    let current = |key: &Arc<str>| -> Option<Row> {
        match plan.staged.get(key) {
            Some(staged) => staged.as_ref().map(|s| s.row),
            None => index.get(key).copied(),
        }
    };
    let (event, staged) = match op {
        PreparedOp::Create { key, value, json } => {
            if current(&key).is_some() {
                return Err(StoreError::AlreadyExists { key: key.to_string() });
            }
            let object = Object {
                value: stamped(&key, value, next)?,
                key: key.clone(),
                create_revision: next,
                mod_revision: next,
            };
            let row = Row { create_revision: next, mod_revision: next };
            (Event { kind: EventType::Added, object, prev: None }, Some(Staged { row, json: Arc::from(json) }))
        }
        PreparedOp::Update { key, value, json, expected } => {
            let Some(old) = current(&key) else {
                return Err(StoreError::NotFound { key: key.to_string() });
            };
            check_expected(&key, &old, expected)?;
            let object = Object {
                value: stamped(&key, value, next)?,
                key: key.clone(),
                create_revision: old.create_revision,
                mod_revision: next,
            };
            let row = Row { create_revision: old.create_revision, mod_revision: next };
            // No `prev`: the cache reports what it held (see `Cache::apply`).
            (Event { kind: EventType::Modified, object, prev: None }, Some(Staged { row, json: Arc::from(json) }))
        }
        PreparedOp::Delete { key, expected } => {
            let Some(old) = current(&key) else {
                return Err(StoreError::NotFound { key: key.to_string() });
            };
            check_expected(&key, &old, expected)?;
            let json = match plan.staged.get(&key) {
                Some(Some(staged)) => Some(staged.json.clone()),
                _ => stored.get(&key).cloned(),
            };
            let json = json.ok_or_else(|| StoreError::Backend(format!("the row of {key} could not be read")))?;
            // The delete event carries the last state at the delete's revision, like etcd's prev_kv as
            // Kubernetes presents it.
            let prev = Compact::plain(key.clone(), json, old.create_revision, old.mod_revision).decode()?.value;
            let mut last = (*prev).clone();
            if stamp_resource_version(&mut last, next).is_err() {
                // Unreachable: the old value decoded as an object. Keep the value as is.
            }
            let object = Object {
                key: key.clone(),
                value: Arc::new(last),
                create_revision: old.create_revision,
                mod_revision: next,
            };
            (Event { kind: EventType::Deleted, object, prev: Some(prev) }, None)
        }
    };
    plan.rows.push(match &staged {
        Some(staged) => RowChange::Put {
            key: event.object.key.clone(),
            json: staged.json.clone(),
            create_revision: staged.row.create_revision,
            mod_revision: staged.row.mod_revision,
        },
        None => RowChange::Delete { key: event.object.key.clone() },
    });
    plan.staged.insert(event.object.key.clone(), staged);
    plan.revision = next;
    Ok(event)
}

/// Applies a committed plan's staged changes to the index.
pub(crate) fn apply_staged(index: &mut Index, staged: HashMap<Arc<str>, Option<Staged>>) {
    for (key, object) in staged {
        match object {
            Some(object) => {
                index.insert(key, object.row);
            }
            None => {
                index.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(key: &str, name: &str) -> (Arc<str>, Value, String) {
        let value = json!({"metadata": {"name": name}});
        let json = value.to_string();
        (Arc::from(key), value, json)
    }

    fn create(key: &str) -> PreparedOp {
        let (key, value, json) = put(key, "c");
        PreparedOp::Create { key, value, json }
    }

    fn update(key: &str, expected: Option<Revision>) -> PreparedOp {
        let (key, value, json) = put(key, "u");
        PreparedOp::Update { key, value, json, expected }
    }

    fn delete(key: &str, expected: Option<Revision>) -> PreparedOp {
        PreparedOp::Delete { key: Arc::from(key), expected }
    }

    /// An index with `/a` created at 3 and modified at 5; the store is at revision 10.
    fn seeded() -> Index {
        let mut index = Index::new();
        index.insert(Arc::from("/a"), Row { create_revision: 3, mod_revision: 5 });
        index
    }

    /// The database's JSON of `/a`, as a row holds it: without a resourceVersion.
    fn stored() -> HashMap<Arc<str>, Arc<str>> {
        HashMap::from([(Arc::from("/a"), Arc::from(json!({"metadata": {"name": "a"}}).to_string()))])
    }

    /// Summarizes a result as (kind, mod_revision, create_revision) or the error's name.
    fn outcome(result: &Result<Event, StoreError>) -> String {
        match result {
            Ok(e) => format!("{:?}@{}/{}", e.kind, e.object.mod_revision, e.object.create_revision),
            Err(StoreError::AlreadyExists { .. }) => "AlreadyExists".into(),
            Err(StoreError::NotFound { .. }) => "NotFound".into(),
            Err(StoreError::Conflict { expected, actual, .. }) => format!("Conflict({expected}!={actual})"),
            Err(e) => format!("{e}"),
        }
    }

    #[test]
    fn batches_are_planned_in_order_against_earlier_ops() {
        let cases: Vec<(&str, Vec<PreparedOp>, Vec<&str>, Revision)> = vec![
            ("create new", vec![create("/b")], vec!["Added@11/11"], 11),
            ("create existing", vec![create("/a")], vec!["AlreadyExists"], 10),
            ("update cas ok", vec![update("/a", Some(5))], vec!["Modified@11/3"], 11),
            ("update cas stale", vec![update("/a", Some(4))], vec!["Conflict(4!=5)"], 10),
            ("update unconditional", vec![update("/a", None)], vec!["Modified@11/3"], 11),
            ("update missing", vec![update("/b", None)], vec!["NotFound"], 10),
            ("delete cas ok", vec![delete("/a", Some(5))], vec!["Deleted@11/3"], 11),
            ("delete cas stale", vec![delete("/a", Some(6))], vec!["Conflict(6!=5)"], 10),
            ("delete missing", vec![delete("/b", None)], vec!["NotFound"], 10),
            (
                "rejections consume no revision",
                vec![create("/a"), create("/b"), update("/x", None), update("/b", Some(11))],
                vec!["AlreadyExists", "Added@11/11", "NotFound", "Modified@12/11"],
                12,
            ),
            (
                "later ops see earlier ops of the batch",
                vec![create("/b"), create("/b"), delete("/a", None), update("/a", None), create("/a")],
                vec!["Added@11/11", "AlreadyExists", "Deleted@12/3", "NotFound", "Added@13/13"],
                13,
            ),
            (
                "cas against a revision from the same batch",
                vec![update("/a", Some(5)), update("/a", Some(5)), update("/a", Some(11))],
                vec!["Modified@11/3", "Conflict(5!=11)", "Modified@12/3"],
                12,
            ),
        ];
        for (name, ops, want, want_revision) in cases {
            let plan = plan_batch(&seeded(), &stored(), 10, ops);
            let got: Vec<String> = plan.results.iter().map(outcome).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(plan.revision, want_revision, "{name}");
            assert_eq!(plan.rows.len(), plan.events().len(), "{name}: one row change per success");
        }
    }

    #[test]
    fn values_are_stamped_and_delete_carries_last_state() {
        let plan = plan_batch(&seeded(), &stored(), 10, vec![update("/a", Some(5)), delete("/a", None)]);
        let events = plan.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].object.value["metadata"]["resourceVersion"], "11");
        assert_eq!(events[0].object.value["metadata"]["name"], "u");
        assert!(events[0].prev.is_none(), "the cache reports what an update replaced");
        // The delete's object is the state just before it (written earlier in the batch), at its revision.
        assert_eq!(events[1].object.value["metadata"]["name"], "u");
        assert_eq!(events[1].object.value["metadata"]["resourceVersion"], "12");
        assert_eq!(events[1].prev.as_ref().map(|p| p["metadata"]["resourceVersion"].clone()), Some(json!("11")));
        // A delete alone reads the database's row.
        let plan = plan_batch(&seeded(), &stored(), 10, vec![delete("/a", None)]);
        let events = plan.events();
        assert_eq!(events[0].object.value["metadata"]["name"], "a");
        assert_eq!(events[0].object.value["metadata"]["resourceVersion"], "11");
        assert_eq!(events[0].prev.as_ref().map(|p| p["metadata"]["resourceVersion"].clone()), Some(json!("5")));
        // Without the row, the delete fails and changes nothing.
        let plan = plan_batch(&seeded(), &HashMap::new(), 10, vec![delete("/a", None)]);
        assert!(matches!(plan.results[..], [Err(StoreError::Backend(_))]), "{:?}", plan.results);
        assert_eq!((plan.revision, plan.rows.len()), (10, 0));
    }

    #[test]
    fn staged_changes_apply_to_index() {
        let mut index = seeded();
        let plan =
            plan_batch(&index, &stored(), 10, vec![create("/b"), delete("/a", None), create("/c"), delete("/c", None)]);
        assert_eq!(
            plan.rows
                .iter()
                .map(|r| match r {
                    RowChange::Put { key, mod_revision, .. } => format!("put {key}@{mod_revision}"),
                    RowChange::Delete { key } => format!("delete {key}"),
                })
                .collect::<Vec<_>>(),
            vec!["put /b@11", "delete /a", "put /c@13", "delete /c"]
        );
        apply_staged(&mut index, plan.staged);
        let keys: Vec<&str> = index.keys().map(|k| &**k).collect();
        assert_eq!(keys, vec!["/b"]);
        assert_eq!(index.get("/b").map(|o| o.mod_revision), Some(11));
    }
}
