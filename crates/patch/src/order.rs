//! Element order of merged lists: upstream's `normalizeElementOrder` / `mergeSortedSlice` (spec §1.5)
//! and the `$setElementOrder/F` directive (`mergePatchIntoOriginal`, spec §1.3 step 3).

use serde_json::Value;

use crate::errors::{self, GO_MAP, GO_SLICE, PatchError};
use crate::gofmt::{self, GoType};
use crate::gosort;
use crate::list::{element_type, merge_slice, partition_maps, partition_scalars};
use crate::schema::Node;
use crate::smp::{self, DIRECTIVE, ORDER_PREFIX, Object};

/// `normalizeElementOrder`: sort the patch-side items by `patch_order`, the server-only items by
/// `server_order`, then interleave them.
pub(crate) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    kind: GoType,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, key, kind)?;
    Ok(interleave(server_only, patch_items, server_order, key, kind))
}

/// `normalizeSliceOrder`: stable sort by position in `order`; `$patch: delete` maps go last.
fn normalize_slice_order(
    mut items: Vec<Value>,
    order: &[Value],
    key: &str,
    kind: GoType,
) -> Result<Vec<Value>, PatchError> {
    let mut deletions = Vec::new();
    if kind == GoType::Map {
        for item in items.iter().chain(order) {
            let Value::Object(map) = item else {
                return Err(errors::bad_arg_type(GO_MAP, item));
            };
            if !map.contains_key(key) {
                return Err(errors::no_merge_key(map, key));
            }
        }
        (deletions, items) = items.into_iter().partition(is_delete_directive);
    }
    // Each item's position is looked up once, not at every comparison: a sort makes O(n log² n) of them,
    // and a linear search each made a few thousand elements cost minutes.
    let positions = Positions::new(order, key, kind);
    let mut placed: Vec<(Option<usize>, Value)> = items.into_iter().map(|v| (positions.of(&v), v)).collect();
    // Upstream's comparator answers `true` whenever either item is missing from `order`.
    gosort::slice_stable(&mut placed, &|a: &(Option<usize>, Value), b: &(Option<usize>, Value)| match (a.0, b.0) {
        (Some(ia), Some(ib)) => ia < ib,
        _ => true,
    });
    let mut items: Vec<Value> = placed.into_iter().map(|(_, v)| v).collect();
    items.extend(deletions);
    Ok(items)
}

/// [`index`] answered from a table built once: the first position of each merge-key value (maps) or value
/// (scalars) in a list.
struct Positions<'a> {
    items: &'a [Value],
    key: &'a str,
    kind: GoType,
    first: std::collections::HashMap<String, usize>,
}

impl<'a> Positions<'a> {
    fn new(items: &'a [Value], key: &'a str, kind: GoType) -> Self {
        let mut first = std::collections::HashMap::new();
        for (at, item) in items.iter().enumerate() {
            if let Some(text) = Self::text(item, key, kind) {
                first.entry(text).or_insert(at);
            }
        }
        Positions { items, key, kind, first }
    }

    /// The text a value is found by (a missing key is nil, as in [`key_value`]); None for values whose text may
    /// not follow equality, which are searched for linearly.
    fn text(value: &Value, key: &str, kind: GoType) -> Option<String> {
        let v = if kind == GoType::Map { key_value(value, key) } else { Some(value) };
        match v {
            None => Some(String::new()),
            Some(v) => crate::list::lookup_text(v),
        }
    }

    fn of(&self, value: &Value) -> Option<usize> {
        match Self::text(value, self.key, self.kind) {
            Some(text) => self.first.get(&text).copied(),
            None => index(self.items, value, self.key, self.kind),
        }
    }
}

/// `mergeSortedSlice`, the interleave of spec §1.5: a server-only item goes first only when both heads
/// occur in `server_order` and it occurs earlier.
fn interleave(left: Vec<Value>, right: Vec<Value>, server_order: &[Value], key: &str, kind: GoType) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let positions = Positions::new(server_order, key, kind);
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((positions.of(l), positions.of(r)), (Some(li), Some(ri)) if li < ri),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `index`: position of the first element with the same merge-key value (maps) or value (scalars).
fn index(items: &[Value], value: &Value, key: &str, kind: GoType) -> Option<usize> {
    if kind == GoType::Map {
        let wanted = key_value(value, key);
        items.iter().position(|item| key_value(item, key) == wanted)
    } else {
        items.iter().position(|item| item == value)
    }
}

/// A merge-key value as Go's `m[key]` reads it: a missing key and a null are both nil.
fn key_value<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_object().and_then(|m| m.get(key)).filter(|k| !k.is_null())
}

/// A list element carrying `$patch: delete`.
pub(crate) fn is_delete_directive(item: &Value) -> bool {
    item.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// `mergePatchIntoOriginal`: merges every list that has a `$setElementOrder/F` sibling and imposes
/// the order; both keys leave the patch.
pub(crate) fn apply_element_orders(original: &mut Object, patch: &mut Object, node: Node) -> Result<(), PatchError> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(ORDER_PREFIX)).cloned().collect();
    for directive_key in keys {
        let Some(order_value) = patch.remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order_value else {
            return Err(errors::bad_arg_type(GO_SLICE, &order_value));
        };
        let field = smp::extract_key(&directive_key, ORDER_PREFIX, errors::SET_ELEMENT_ORDER_FORMAT)?;
        let live = list_value(original.get(&field))?;
        let patch_list = list_value(patch.get(&field))?;
        let meta = smp::slice_meta(node, &field)?;
        let key = meta.merge_key.unwrap_or("");
        validate_order(patch_list.as_deref().unwrap_or_default(), &order, key)?;

        let patch_slice = patch_list.clone().unwrap_or_default();
        let (merged, reference) = match (live, patch_list) {
            (Some(live), None) => (live.clone(), live),
            (None, Some(patch)) => (patch.into_iter().filter_map(smp::remove_directives).collect(), Vec::new()),
            (Some(live), Some(patch)) if meta.merge => {
                let out = merge_slice(live, patch, &meta, false)?;
                (out.merged, out.live_view)
            }
            (Some(live), Some(patch)) => (patch, live),
            (None, None) => continue,
        };
        let (patch_items, server_only) =
            if key.is_empty() { partition_scalars(&merged, &order)? } else { partition_maps(&merged, &order, key)? };
        let kind = element_type(&[&reference, &patch_slice])?;
        let ordered = normalize_element_order(patch_items, server_only, &order, &reference, key, kind)?;
        original.insert(field.clone(), Value::Array(ordered));
        patch.remove(&field);
    }
    Ok(())
}

/// A field that must be a list when present.
fn list_value(value: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(errors::bad_arg_type(GO_SLICE, other)),
    }
}

/// `validatePatchWithSetOrderList`: the patch's plain elements must appear in the order list, in the
/// same relative order.
fn validate_order(patch_list: &[Value], order: &[Value], key: &str) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut plain: Vec<&Value> = Vec::new();
    for item in patch_list {
        if !key.is_empty() {
            if !item.is_object() {
                return Err(errors::bad_arg_type(GO_MAP, item));
            }
            if is_delete_directive(item) {
                continue;
            }
        }
        plain.push(item);
    }
    let (mut pi, mut oi) = (0, 0);
    while pi < plain.len() && oi < order.len() {
        if plain[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if merge_key_equal(plain[pi], &order[oi], key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < plain.len() && oi >= order.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {ORDER_PREFIX} list:\n{}\n",
            gofmt::v_slice(patch_list),
            gofmt::v_slice(order)
        )));
    }
    Ok(())
}

/// `mergeKeyValueEqual`.
fn merge_key_equal(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(left_map) = left else {
        return Err(errors::bad_arg_type(GO_MAP, left));
    };
    let Value::Object(right_map) = right else {
        return Err(errors::bad_arg_type(GO_MAP, right));
    };
    let Some(left_key) = left_map.get(key) else {
        return Err(errors::no_merge_key(left_map, key));
    };
    let Some(right_key) = right_map.get(key) else {
        return Err(errors::no_merge_key(right_map, key));
    };
    Ok(left_key == right_key)
}
