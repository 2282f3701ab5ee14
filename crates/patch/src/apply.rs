//! Server-side apply, "level 1" (spec §5.2): merge the applied document into live by the SSA list
//! types, tracking no field ownership. Nothing absent from the applied document is removed; an explicit
//! null clears. List order follows structured-merge-diff's `visitListItems` (typed/merge.go).

use serde_json::{Map, Value};

use crate::Kind;
use crate::schema::{self, Elem, ListDef, Lookup, Node, Shape, Ssa};
use crate::smp::discard_nulls;

/// Merges `applied` into `live`; see [`crate::apply_merge`].
pub(crate) fn apply(live: &Value, applied: &Value, kind: Kind) -> Value {
    if !applied.is_object() {
        return live.clone();
    }
    let root = match schema::root(kind) {
        Node::Struct(def) => Some(Shape::Struct(def)),
        Node::Map => Some(Shape::Map),
        Node::Unknown => None,
    };
    merge_value(Some(live), applied, root).unwrap_or_else(|| Value::Object(Map::new()))
}

/// `None`: the field is cleared.
fn merge_value(live: Option<&Value>, applied: &Value, shape: Option<Shape>) -> Option<Value> {
    match applied {
        Value::Null => None,
        Value::Object(applied_map) => match live {
            Some(Value::Object(live_map)) => Some(Value::Object(merge_object(live_map, applied_map, node_of(shape)))),
            _ => Some(without_nulls(applied)),
        },
        Value::Array(applied_items) => {
            let list = match shape {
                Some(Shape::List(def)) => Some(def),
                _ => None,
            };
            match (live, list) {
                (Some(Value::Array(live_items)), Some(def))
                    if def.ssa != Ssa::Atomic && !(live_items.is_empty() && applied_items.is_empty()) =>
                {
                    Some(Value::Array(merge_list(live_items, applied_items, &def)))
                }
                _ => Some(without_nulls(applied)),
            }
        }
        scalar => Some(scalar.clone()),
    }
}

fn node_of(shape: Option<Shape>) -> Node {
    match shape {
        Some(Shape::Struct(def)) => Node::Struct(def),
        Some(Shape::Map) => Node::Map,
        _ => Node::Unknown,
    }
}

fn merge_object(live: &Map<String, Value>, applied: &Map<String, Value>, node: Node) -> Map<String, Value> {
    let mut out = live.clone();
    for (key, value) in applied {
        let shape = match node.lookup(key) {
            Lookup::Found(shape) => Some(shape),
            Lookup::Unlisted | Lookup::NoSuchField(_) => None,
        };
        match merge_value(out.get(key), value, shape) {
            Some(merged) => {
                out.insert(key.clone(), merged);
            }
            None => {
                out.remove(key);
            }
        }
    }
    out
}

fn without_nulls(value: &Value) -> Value {
    let mut value = value.clone();
    discard_nulls(&mut value);
    value
}

/// The identity of a list element: its value (sets) or its list-map key values (maps). `None` stands
/// for a missing key without default.
#[derive(PartialEq)]
enum Identity {
    Value(Value),
    Keys(Vec<Option<Value>>),
}

fn identity(item: &Value, ssa: &Ssa) -> Identity {
    match (ssa, item) {
        (Ssa::Map { keys, defaults }, Value::Object(map)) => Identity::Keys(
            keys.iter()
                .map(|key| {
                    let given = map.get(*key).filter(|v| !v.is_null()).map(normalize_number);
                    given.or_else(|| {
                        defaults.iter().find(|(k, _)| k == key).map(|(_, d)| Value::String((*d).to_string()))
                    })
                })
                .collect(),
        ),
        _ => Identity::Value(normalize_number(item)),
    }
}

/// Structured-merge-diff compares numbers by value (`80` equals `80.0`).
fn normalize_number(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

struct Entry<'a> {
    id: Identity,
    value: &'a Value,
    /// A later duplicate of an identity seen before in the same list.
    duplicate: bool,
}

fn index_entries<'a>(items: &'a [Value], ssa: &Ssa) -> Vec<Entry<'a>> {
    let mut entries: Vec<Entry<'a>> = Vec::with_capacity(items.len());
    for value in items {
        let id = identity(value, ssa);
        let duplicate = entries.iter().any(|e| e.id == id);
        entries.push(Entry { id, value, duplicate });
    }
    entries
}

/// Set and map lists: `visitListItems`. Shared elements take the applied order, live-only elements
/// keep their place, new elements are inserted where the applied list has them.
fn merge_list(live: &[Value], applied: &[Value], def: &ListDef) -> Vec<Value> {
    let lhs = index_entries(live, &def.ssa);
    // Later applied duplicates are ignored (upstream rejects them; see `apply_duplicate_key_error`).
    let rhs: Vec<Entry<'_>> = index_entries(applied, &def.ssa).into_iter().filter(|e| !e.duplicate).collect();
    let in_rhs = |id: &Identity| rhs.iter().any(|r| &r.id == id);
    let in_lhs = |id: &Identity| lhs.iter().find(|l| !l.duplicate && &l.id == id);

    let mut shared = rhs.iter().filter(|r| in_lhs(&r.id).is_some()).map(|r| &r.id);
    let mut next_shared = shared.next();
    let elem_shape = match def.elem {
        Elem::Struct(d) => Some(Shape::Struct(d)),
        Elem::Scalar(_) => None,
    };
    let merge_pair = |l: Option<&Value>, r: &Value| merge_value(l, r, elem_shape);

    let mut out = Vec::with_capacity(live.len().max(applied.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let l = &lhs[li];
            if !l.duplicate && l.id == rhs[ri].id {
                out.extend(merge_pair(Some(l.value), rhs[ri].value));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            // A shared element that is not the next one in applied order: it is emitted later.
            if !l.duplicate && in_rhs(&l.id) && next_shared.is_some_and(|n| n != &l.id) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let l = &lhs[li];
            if l.duplicate || !in_rhs(&l.id) {
                out.push(l.value.clone());
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let r = &rhs[ri];
            out.extend(merge_pair(in_lhs(&r.id).map(|l| l.value), r.value));
            ri += 1;
            if next_shared == Some(&r.id) {
                next_shared = shared.next();
            }
            continue;
        }
        // Unreachable with consistent identities; never loop forever on odd input.
        out.push(lhs[li].value.clone());
        li += 1;
    }
    out
}

/// The upstream error for an applied document whose keyed list (or set) repeats an element:
/// `.spec.template.spec.containers: duplicate entries for key [name="x"]`.
pub(crate) fn duplicate_key_error(applied: &Value, kind: Kind) -> Option<String> {
    let root = match schema::root(kind) {
        Node::Struct(def) => Some(Shape::Struct(def)),
        _ => None,
    };
    find_duplicates(applied, root, &mut String::new())
}

fn find_duplicates(value: &Value, shape: Option<Shape>, path: &mut String) -> Option<String> {
    match value {
        Value::Object(map) => {
            let node = node_of(shape);
            for (key, child) in map {
                let child_shape = match node.lookup(key) {
                    Lookup::Found(s) => Some(s),
                    _ => None,
                };
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let found = find_duplicates(child, child_shape, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Value::Array(items) => {
            let Some(Shape::List(def)) = shape else { return None };
            if def.ssa == Ssa::Atomic {
                return None;
            }
            let entries = index_entries(items, &def.ssa);
            if let Some(dup) = entries.iter().find(|e| e.duplicate) {
                return Some(format!("{path}: duplicate entries for key {}", path_element(dup.value, &def.ssa)));
            }
            let elem_shape = match def.elem {
                Elem::Struct(d) => Some(Shape::Struct(d)),
                Elem::Scalar(_) => None,
            };
            for item in items {
                let len = path.len();
                path.push_str(&path_element(item, &def.ssa));
                let found = find_duplicates(item, elem_shape, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        _ => None,
    }
}

/// `fieldpath.PathElement.String()`: `[k1=v1,k2=v2]` (keys sorted) or `[=value]`.
fn path_element(item: &Value, ssa: &Ssa) -> String {
    match (ssa, item) {
        (Ssa::Map { keys, defaults }, Value::Object(map)) => {
            let mut sorted: Vec<&str> = keys.to_vec();
            sorted.sort();
            let parts: Vec<String> = sorted
                .iter()
                .map(|key| {
                    let value = map.get(*key).cloned().or_else(|| {
                        defaults.iter().find(|(k, _)| k == key).map(|(_, d)| Value::String((*d).to_string()))
                    });
                    format!("{key}={}", value.unwrap_or(Value::Null))
                })
                .collect();
            format!("[{}]", parts.join(","))
        }
        _ => format!("[={item}]"),
    }
}
