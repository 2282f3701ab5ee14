//! Strategic merge patch of lists: upstream's `mergeSlice` (spec §1.4) and its helpers.
//!
//! Upstream mutates the live slice in place: deletions shift its elements left and appended elements
//! land in the freed tail. With `$setElementOrder`, that mutated slice is then the ordering reference
//! (see `order.rs`), so [`AliasedLive`] replays Go's slice semantics to reproduce the order exactly.

use serde_json::Value;

use crate::errors::{self, GO_MAP, PatchError};
use crate::gofmt::GoType;
use crate::order::normalize_element_order;
use crate::schema::Node;
use crate::smp::{self, DIRECTIVE};

/// What `LookupPatchMetadataForSlice` yields for a list field.
pub(crate) struct SliceMeta {
    /// `patchStrategy:"merge"`.
    pub merge: bool,
    pub merge_key: Option<&'static str>,
    /// Go name of the element type, for messages.
    pub elem_name: &'static str,
    pub elem: Node,
}

impl SliceMeta {
    pub fn unknown() -> SliceMeta {
        SliceMeta { merge: false, merge_key: None, elem_name: "", elem: Node::Unknown }
    }
}

/// `mergeSliceHandler`: merge lists merge; deletion lists delete whatever the strategy; others replace.
pub(crate) fn merge_slice_handler(
    live: Vec<Value>,
    patch: Vec<Value>,
    meta: &SliceMeta,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if meta.merge || is_delete_list { Ok(merge_slice(live, patch, meta, is_delete_list)?.merged) } else { Ok(patch) }
}

pub(crate) struct SliceMerge {
    pub merged: Vec<Value>,
    /// The caller's view of the live slice afterwards (same length, shared backing array).
    pub live_view: Vec<Value>,
}

/// `mergeSlice`.
pub(crate) fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &SliceMeta,
    is_delete_list: bool,
) -> Result<SliceMerge, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(SliceMerge { merged: Vec::new(), live_view: original });
    }
    let kind = element_type(&[&original, &patch])?;
    if kind != GoType::Map {
        if is_delete_list {
            let merged = delete_from_slice(&original, &patch)?;
            return Ok(SliceMerge { merged, live_view: original });
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = deduplicate_scalars(both);
        let (patch_items, server_only) = partition_scalars(&merged, &patch)?;
        let merged = normalize_element_order(patch_items, server_only, &patch, &original, "", kind)?;
        return Ok(SliceMerge { merged, live_view: original });
    }

    let Some(key) = meta.merge_key else {
        return Err(PatchError::Internal(format!("cannot merge lists without merge key for {}", meta.elem_name)));
    };
    let mut live = AliasedLive::new(original);
    let (rest, replace) = apply_special_elements(&mut live, patch, key)?;
    let (merged, reference, rest) = if replace {
        // The list becomes the patch's plain elements; live (after deletions) is only still aliased.
        (rest.clone(), rest, Vec::new())
    } else {
        let reference = live.current();
        let mut by_key = KeyIndex::of(live.iter(), key);
        for element in &rest {
            merge_or_append(&mut live, &mut by_key, element, key, meta.elem)?;
        }
        (live.current(), reference, rest)
    };
    let (patch_items, server_only) = partition_maps(&merged, &rest, key)?;
    let merged = normalize_element_order(patch_items, server_only, &rest, &reference, key, kind)?;
    Ok(SliceMerge { merged, live_view: live.view() })
}

/// The live slice as Go's `append` leaves it: a fixed backing array of the original length, a logical
/// length, and whatever outgrew the array (a reallocation the caller's header no longer sees).
struct AliasedLive {
    backing: Vec<Value>,
    len: usize,
    overflow: Vec<Value>,
}

impl AliasedLive {
    fn new(original: Vec<Value>) -> AliasedLive {
        let len = original.len();
        AliasedLive { backing: original, len, overflow: Vec::new() }
    }

    fn iter(&self) -> impl Iterator<Item = &Value> {
        self.backing[..self.len].iter().chain(&self.overflow)
    }

    fn current(&self) -> Vec<Value> {
        self.iter().cloned().collect()
    }

    fn view(self) -> Vec<Value> {
        self.backing
    }

    /// `append(s[:i], s[i+1:]...)`: shifts the tail left, the last slot keeps its old value.
    fn remove(&mut self, index: usize) {
        for j in index..self.len - 1 {
            self.backing[j] = self.backing[j + 1].clone();
        }
        self.len -= 1;
    }

    fn push(&mut self, value: Value) {
        if self.len < self.backing.len() {
            self.backing[self.len] = value;
            self.len += 1;
        } else {
            self.overflow.push(value);
        }
    }

    fn take(&mut self, index: usize) -> Value {
        if index < self.len {
            std::mem::take(&mut self.backing[index])
        } else {
            std::mem::take(&mut self.overflow[index - self.len])
        }
    }

    fn put(&mut self, index: usize, value: Value) {
        if index < self.len {
            self.backing[index] = value;
        } else {
            self.overflow[index - self.len] = value;
        }
    }
}

/// `mergeSliceWithSpecialElements`: runs `$patch: delete` elements against live and reports whether a
/// `$patch: replace` element was present; returns the plain elements.
fn apply_special_elements(
    live: &mut AliasedLive,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, bool), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for element in patch {
        let Value::Object(map) = &element else {
            return Err(errors::bad_arg_type(GO_MAP, &element));
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = map.get(key) else {
                    return Err(errors::no_merge_key(map, key));
                };
                while let Some(index) = find_map_with_key(live.iter(), key, value)? {
                    live.remove(index);
                }
            }
            // Keep going: later elements may still carry deletions or errors.
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Internal("merging lists cannot yet be specified in the patch".into()));
            }
            _ => return Err(errors::bad_patch_type(directive, map)),
        }
    }
    Ok((plain, replace))
}

/// `mergeSliceWithoutSpecialElements`, one element: merge into the first live element with the same
/// key value, or append it as sent.
fn merge_or_append(
    live: &mut AliasedLive,
    by_key: &mut Option<KeyIndex>,
    element: &Value,
    key: &str,
    elem: Node,
) -> Result<(), PatchError> {
    let Value::Object(patch_map) = element else {
        return Err(errors::bad_arg_type(GO_MAP, element));
    };
    let Some(value) = patch_map.get(key) else {
        return Err(errors::no_merge_key(patch_map, key));
    };
    let found = match by_key.as_ref().and_then(|index| index.find(value)) {
        Some(found) => found,
        None => find_map_with_key(live.iter(), key, value)?,
    };
    if found.is_none()
        && let Some(index) = by_key.as_mut()
    {
        // Appended below: the new last element.
        index.appended(value, live.iter().count());
    }
    match found {
        Some(index) => {
            let taken = live.take(index);
            let Value::Object(live_map) = taken else {
                return Err(errors::bad_arg_type(GO_MAP, &taken));
            };
            let merged = smp::merge_map(live_map, patch_map.clone(), elem)?;
            live.put(index, Value::Object(merged));
        }
        None => live.push(element.clone()),
    }
    Ok(())
}

/// The first position of each merge-key value in a list of maps, so that merging n patch elements into m
/// live ones costs n + m lookups rather than n × m comparisons (a 3 MiB patch holds tens of thousands).
/// Only built when every element is a map (otherwise the linear search reports the non-map as upstream
/// does); values without a faithful text (objects, arrays, floats) are not indexed and are searched for
/// linearly.
pub(crate) struct KeyIndex {
    first: std::collections::HashMap<String, usize>,
}

impl KeyIndex {
    pub(crate) fn of<'a>(items: impl Iterator<Item = &'a Value>, key: &str) -> Option<KeyIndex> {
        let mut first = std::collections::HashMap::new();
        for (at, item) in items.enumerate() {
            let Value::Object(map) = item else { return None };
            if let Some(text) = map.get(key).and_then(lookup_text) {
                first.entry(text).or_insert(at);
            }
        }
        Some(KeyIndex { first })
    }

    /// `Some(position)` when the answer is known from the table: `Some(None)` for "not in the list".
    /// None when `value` must be searched for linearly.
    pub(crate) fn find(&self, value: &Value) -> Option<Option<usize>> {
        lookup_text(value).map(|text| self.first.get(&text).copied())
    }

    fn appended(&mut self, value: &Value, at: usize) {
        if let Some(text) = lookup_text(value) {
            self.first.entry(text).or_insert(at);
        }
    }
}

/// A text equal for two values exactly when they are equal: strings, integers, booleans and null. None for
/// the rest (floats, whose `0.0 == -0.0`, objects and arrays).
pub(crate) fn lookup_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("n".into()),
        Value::Bool(b) => Some(format!("b{b}")),
        Value::String(s) => Some(format!("s{s}")),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(format!("i{n}")),
        _ => None,
    }
}

/// `findMapInSliceBasedOnKeyValue`.
fn find_map_with_key<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(PatchError::Internal(format!("value for key {i} is not a map.")));
        };
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `deleteFromSlice`: removes every element equal to one of `to_delete`.
fn delete_from_slice(current: &[Value], to_delete: &[Value]) -> Result<Vec<Value>, PatchError> {
    check_hashable(to_delete)?;
    check_hashable(current)?;
    let deleted = ValueSet::of(to_delete);
    Ok(current.iter().filter(|v| !deleted.contains(v)).cloned().collect())
}

/// Membership in a list of scalars in one lookup each (hashing their [`lookup_text`]); a list holding a value
/// without one is searched linearly.
struct ValueSet<'a> {
    items: &'a [Value],
    texts: Option<std::collections::HashSet<String>>,
}

impl<'a> ValueSet<'a> {
    fn of(items: &'a [Value]) -> Self {
        ValueSet { items, texts: items.iter().map(lookup_text).collect() }
    }

    fn contains(&self, value: &Value) -> bool {
        match (&self.texts, lookup_text(value)) {
            (Some(texts), Some(text)) => texts.contains(&text),
            _ => self.items.contains(value),
        }
    }
}

/// `deduplicateScalars`, including its habit of moving the last element into a duplicate's slot.
///
/// Upstream compares every pair; this does the same moves with an index of where each value sits, so tens of
/// thousands of elements cost milliseconds, not minutes. Lists with values that cannot be indexed take the
/// pairwise way.
fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let Some(texts) = s.iter().map(lookup_text).collect::<Option<Vec<String>>>() else {
        return deduplicate_scalars_pairwise(s);
    };
    let mut texts: Vec<String> = texts;
    let mut at: std::collections::HashMap<String, std::collections::BTreeSet<usize>> = std::collections::HashMap::new();
    for (i, text) in texts.iter().enumerate() {
        at.entry(text.clone()).or_default().insert(i);
    }
    let mut i = 0;
    while i < s.len() {
        // Each later copy of s[i], lowest position first (upstream's scan), gets the last element moved in;
        // if that is a copy too, the same slot is looked at again.
        while let Some(&j) = at.get(&texts[i]).and_then(|positions| positions.range(i + 1..).next()) {
            let last = s.len() - 1;
            if let Some(p) = at.get_mut(&texts[i]) {
                p.remove(&j);
            }
            if j != last {
                let moved = texts[last].clone();
                if let Some(p) = at.get_mut(&moved) {
                    p.remove(&last);
                    p.insert(j);
                }
                s.swap(j, last);
                texts.swap(j, last);
            }
            s.truncate(last);
            texts.truncate(last);
        }
        i += 1;
    }
    s
}

/// Upstream's pairwise `deduplicateScalars`.
fn deduplicate_scalars_pairwise(mut s: Vec<Value>) -> Vec<Value> {
    let mut length = s.len().saturating_sub(1);
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i] == s[j] {
                s[j] = s[length].clone();
                s.truncate(length);
                length -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

/// Go map keys must be hashable; a map or slice as key is a runtime panic upstream.
fn check_hashable(items: &[Value]) -> Result<(), PatchError> {
    match items.iter().find(|v| v.is_object() || v.is_array()) {
        Some(v) => Err(errors::runtime_panic(&format!("hash of unhashable type {}", GoType::of(v).name()))),
        None => Ok(()),
    }
}

/// `sliceElementType`: the common Go type of all elements of all slices.
pub(crate) fn element_type(slices: &[&[Value]]) -> Result<GoType, PatchError> {
    let mut prev: Option<GoType> = None;
    for item in slices.iter().flat_map(|s| s.iter()) {
        let current = GoType::of(item);
        match prev {
            None if current == GoType::Nil => {
                return Err(errors::runtime_panic("invalid memory address or nil pointer dereference"));
            }
            None if current == GoType::Slice => return Err(errors::no_list_of_lists()),
            None => prev = Some(current),
            Some(p) if p != current => return Err(errors::element_types_differ(slices)),
            Some(_) => {}
        }
    }
    prev.ok_or_else(|| PatchError::Internal("no elements in any of the given slices".into()))
}

/// `partitionPrimitivesByPresentInList`.
pub(crate) fn partition_scalars(items: &[Value], by: &[Value]) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    check_hashable(by)?;
    check_hashable(items)?;
    let by = ValueSet::of(by);
    Ok(items.iter().cloned().partition(|v| by.contains(v)))
}

/// `partitionMapsByPresentInList`.
pub(crate) fn partition_maps(items: &[Value], by: &[Value], key: &str) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let by_key = KeyIndex::of(by.iter(), key);
    for item in items {
        let Value::Object(map) = item else {
            return Err(errors::bad_arg_type(GO_MAP, item));
        };
        let Some(value) = map.get(key) else {
            return Err(errors::no_merge_key(map, key));
        };
        let found = match by_key.as_ref().and_then(|index| index.find(value)) {
            Some(found) => found,
            None => find_map_with_key(by, key, value)?,
        };
        if found.is_some() {
            inside.push(item.clone());
        } else {
            outside.push(item.clone());
        }
    }
    Ok((inside, outside))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(v: Value) -> Vec<Value> {
        match v {
            Value::Array(items) => items,
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn indexed_deduplication_moves_what_the_pairwise_one_moves() {
        // Every list of up to six elements over three values: both ways must leave the same list.
        let alphabet = [json!("a"), json!("b"), json!(1)];
        for len in 0..=6u32 {
            for code in 0..3usize.pow(len) {
                let list: Vec<Value> = (0..len).map(|d| alphabet[(code / 3usize.pow(d)) % 3].clone()).collect();
                assert_eq!(deduplicate_scalars(list.clone()), deduplicate_scalars_pairwise(list.clone()), "{list:?}");
            }
        }
    }

    #[test]
    fn deduplicate_moves_the_last_element_like_go() {
        let cases = [
            (json!(["a", "b", "a", "c"]), json!(["a", "b", "c"])),
            (json!(["a", "a", "b", "c"]), json!(["a", "c", "b"])),
            (json!(["x"]), json!(["x"])),
            (json!([]), json!([])),
            (json!([1, 1.0, 1]), json!([1, 1.0])),
        ];
        for (input, want) in cases {
            assert_eq!(Value::Array(deduplicate_scalars(values(input.clone()))), want, "{input}");
        }
    }

    #[test]
    fn deletion_shifts_left_and_keeps_the_stale_tail() {
        let mut live = AliasedLive::new(values(json!(["a", "x", "b"])));
        live.remove(1);
        assert_eq!(live.current(), values(json!(["a", "b"])));
        live.push(json!("n1"));
        live.push(json!("n2"));
        assert_eq!(live.current(), values(json!(["a", "b", "n1", "n2"])));
        assert_eq!(live.view(), values(json!(["a", "b", "n1"])));
    }

    #[test]
    fn element_type_errors() {
        let maps = values(json!([{"a": 1}]));
        let scalars = values(json!(["pa"]));
        let err = element_type(&[&maps, &scalars]).unwrap_err();
        assert_eq!(err.message(), "list element types are not identical: [[map[a:1]] [pa]]");
        let lists = values(json!([["x"]]));
        assert!(matches!(element_type(&[&[], &lists]), Err(PatchError::Invalid(_))));
        let err = element_type(&[&[], &[]]).unwrap_err();
        assert_eq!(err.message(), "no elements in any of the given slices");
        assert_eq!(element_type(&[&[], &scalars]).ok(), Some(GoType::String));
    }
}
