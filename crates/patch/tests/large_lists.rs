//! Patches of tens of thousands of list elements (a 3 MiB body holds that many) merge in bounded time: no step
//! compares every element with every other. Before the lookups were indexed, 8000 containers with
//! `$setElementOrder` took most of a minute in an optimized build.

use std::time::{Duration, Instant};

use runlet_patch::{Kind, strategic_merge};
use serde_json::{Value, json};

/// Far above what these take (well under a second optimized, a few seconds unoptimized on a loaded machine),
/// far below what a pairwise comparison of 20000 elements takes.
const BOUND: Duration = Duration::from_secs(30);
const N: usize = 20000;

fn timed(what: &str, f: impl FnOnce() -> Value) -> Value {
    let started = Instant::now();
    let merged = f();
    assert!(started.elapsed() < BOUND, "{what} took {:?}", started.elapsed());
    merged
}

#[test]
fn keyed_lists_with_an_element_order_merge_in_bounded_time() {
    let containers: Vec<Value> = (0..N).map(|i| json!({"name": format!("c{i}"), "image": "x"})).collect();
    let live = json!({"kind": "Pod", "spec": {"containers": containers}});
    let order: Vec<Value> = (0..N).rev().map(|i| json!({"name": format!("c{i}")})).collect();
    let changed: Vec<Value> = (0..N).rev().map(|i| json!({"name": format!("c{i}"), "image": "y"})).collect();
    let patch = json!({"spec": {"$setElementOrder/containers": order, "containers": changed}});
    let merged = timed("merging 20000 containers", || strategic_merge(&live, &patch, Kind::Pod).expect("merge"));
    let merged = merged["spec"]["containers"].as_array().expect("containers");
    assert_eq!(merged.len(), N);
    assert_eq!(merged[0], json!({"name": format!("c{}", N - 1), "image": "y"}), "the patch's order");
}

#[test]
fn primitive_lists_merge_and_delete_in_bounded_time() {
    let live_finalizers: Vec<Value> = (0..N).map(|i| json!(format!("f{i}"))).collect();
    let live = json!({"kind": "Pod", "metadata": {"finalizers": live_finalizers.clone()}});
    // Every new one plus every old one again: all duplicates to remove.
    let mut added: Vec<Value> = (0..N).map(|i| json!(format!("g{i}"))).collect();
    added.extend(live_finalizers.iter().cloned());
    let merged = timed("merging 40000 finalizers", || {
        strategic_merge(&live, &json!({"metadata": {"finalizers": added}}), Kind::Pod).expect("merge")
    });
    assert_eq!(merged["metadata"]["finalizers"].as_array().map(Vec::len), Some(2 * N));
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": live_finalizers}});
    let deleted = timed("deleting 20000 finalizers", || strategic_merge(&live, &patch, Kind::Pod).expect("delete"));
    assert_eq!(deleted["metadata"]["finalizers"], json!([]));
}
