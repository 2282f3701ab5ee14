//! Strategic merge patch, one map level: upstream's `mergeMap` (spec §1.3) with the server's options
//! (`MergeParallelList` and `IgnoreUnmatchedNulls` both on).

use serde_json::{Map, Value};

use crate::errors::{self, PatchError};
use crate::gofmt::GoType;
use crate::list::{self, SliceMeta};
use crate::order;
use crate::schema::{Lookup, Node, Shape, Smp};

pub(crate) const DIRECTIVE: &str = "$patch";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const DELETE_PREFIX: &str = "$deleteFromPrimitiveList";
pub(crate) const ORDER_PREFIX: &str = "$setElementOrder";

pub(crate) type Object = Map<String, Value>;

/// `mergeMap(original, patch, schema)`.
pub(crate) fn merge_map(mut original: Object, mut patch: Object, node: Node) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            // Nested directives and nulls stay as sent: nothing below a replace is interpreted.
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Object::new()),
            _ => Err(errors::bad_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    order::apply_element_orders(&mut original, &mut patch, node)?;

    // Upstream walks a Go map (random order); kubectl never sends a list and its deletion list for the
    // same field, but when both come, applying the deletions last is the useful order.
    let (deletions, plain): (Vec<_>, Vec<_>) = patch.into_iter().partition(|(key, _)| key.starts_with(DELETE_PREFIX));
    for (key, value) in plain.into_iter().chain(deletions) {
        merge_entry(&mut original, key, value, node)?;
    }
    Ok(original)
}

/// `$retainKeys`: clear every live key not listed, after checking that the patch sets no other key.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(directive) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = directive else {
        return Err(PatchError::BadRequest(errors::RETAIN_KEYS_FORMAT.into()));
    };
    let is_retained = |key: &str| retained.iter().any(|k| k.as_str() == Some(key));
    let all_listed = patch.iter().all(|(key, value)| {
        value.is_null() || key.starts_with(DELETE_PREFIX) || key.starts_with(ORDER_PREFIX) || is_retained(key)
    });
    if !all_listed {
        return Err(PatchError::BadRequest(errors::RETAIN_KEYS_FORMAT.into()));
    }
    original.retain(|key, _| is_retained(key));
    Ok(())
}

/// `extractKey`: the field name after `<prefix>/`.
pub(crate) fn extract_key(key: &str, prefix: &str, format_error: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field.to_string()),
        _ => Err(PatchError::BadRequest(format_error.into())),
    }
}

/// One iteration of `mergeMap`'s main loop.
fn merge_entry(original: &mut Object, key: String, patch_value: Value, node: Node) -> Result<(), PatchError> {
    let (field, is_delete_list) = if key.starts_with(DELETE_PREFIX) {
        (extract_key(&key, DELETE_PREFIX, errors::PRIMITIVE_LIST_FORMAT)?, true)
    } else {
        (key, false)
    };

    // A null deletes the field, also for a deletion list (`$deleteFromPrimitiveList/F: null`).
    if patch_value.is_null() {
        original.remove(&field);
        return Ok(());
    }
    let Some(live) = original.remove(&field) else {
        if !is_delete_list {
            set_new_value(original, field, patch_value);
        }
        return Ok(());
    };
    if GoType::of(&live) != GoType::of(&patch_value) {
        if is_delete_list {
            original.insert(field, live);
        } else {
            set_new_value(original, field, patch_value);
        }
        return Ok(());
    }
    let merged = match (live, patch_value) {
        (Value::Object(live), Value::Object(patch)) => {
            let child = struct_child(node, &field)?;
            Value::Object(merge_map(live, patch, child)?)
        }
        (Value::Array(live), Value::Array(patch)) => {
            let meta = slice_meta(node, &field)?;
            Value::Array(list::merge_slice_handler(live, patch, &meta, is_delete_list)?)
        }
        (_, scalar) => scalar,
    };
    original.insert(field, merged);
    Ok(())
}

/// A value that has nothing to merge with: nulls dropped, directive-carrying maps dropped.
fn set_new_value(original: &mut Object, field: String, mut value: Value) {
    discard_nulls(&mut value);
    if let Some(value) = remove_directives(value) {
        original.insert(field, value);
    }
}

/// `discardNullValuesFromPatch`: drops null-valued keys at every depth (null list elements stay).
pub(crate) fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// `removeDirectives`: `None` when the value is a map carrying `$patch`; nested ones are dropped.
pub(crate) fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            let kept = map.into_iter().filter_map(|(k, v)| remove_directives(v).map(|v| (k, v))).collect();
            Some(Value::Object(kept))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

/// `LookupPatchMetadataForStruct`: the node to merge a nested map with.
fn struct_child(node: Node, field: &str) -> Result<Node, PatchError> {
    match node.lookup(field) {
        Lookup::Found(Shape::Struct(def)) => Ok(Node::Struct(def)),
        Lookup::Found(Shape::Map) => Ok(Node::Map),
        Lookup::Found(_) | Lookup::Unlisted => Ok(Node::Unknown),
        Lookup::NoSuchField(go_type) => Err(errors::unknown_field(go_type, field)),
    }
}

/// `LookupPatchMetadataForSlice`: strategy, merge key and element type of a list field.
pub(crate) fn slice_meta(node: Node, field: &str) -> Result<SliceMeta, PatchError> {
    match node {
        // The element type of a Go map is not a slice; upstream names the parent's kind.
        Node::Map => Err(PatchError::Internal("expected slice or array type, but got: map".into())),
        Node::Unknown => Ok(SliceMeta::unknown()),
        Node::Struct(_) => match node.lookup(field) {
            Lookup::Found(Shape::List(def)) => Ok(SliceMeta {
                merge: matches!(def.smp, Smp::Merge { .. }),
                merge_key: match def.smp {
                    Smp::Merge { key, .. } => key,
                    Smp::Replace => None,
                },
                elem_name: def.elem.go_name(),
                elem: def.elem.node(),
            }),
            Lookup::Found(_) => Err(PatchError::Internal("expected slice or array type, but got: struct".into())),
            Lookup::Unlisted => Ok(SliceMeta::unknown()),
            Lookup::NoSuchField(go_type) => Err(errors::unknown_field(go_type, field)),
        },
    }
}
