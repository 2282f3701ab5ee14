//! Namespaces: the ones that always exist, and emptying a namespace that is being deleted.

use std::time::Duration;

use serde_json::json;

use crate::meta;
use crate::negotiate::FieldValidation;
use crate::ops::{self, DeleteRequest, Propagation, WriteOptions};
use crate::resources::{Kind, RESOURCES, by_kind};
use crate::state::ApiState;
use crate::strategy::Origin;

/// Namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-node-lease"];

/// Creates the system namespaces that are missing.
pub async fn ensure_system_namespaces(state: &ApiState) -> Result<(), crate::ApiError> {
    let res = by_kind(Kind::Namespace);
    for ns in SYSTEM_NAMESPACES {
        if state.store.get(&res.key(None, ns)).is_some() {
            continue;
        }
        let opts = WriteOptions::new(false, FieldValidation::Strict, Origin::Body);
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match ops::create(state, res, None, body, opts).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Forever: empties namespaces marked for deletion, then removes them. Objects whose finalizers are not
/// released within `FORCE_AFTER` lose them, so a namespace never hangs in Terminating because a controller is gone.
pub async fn run_finalizer(state: ApiState) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut waiting: std::collections::HashMap<String, std::time::Instant> = Default::default();
    loop {
        tick.tick().await;
        let ns_res = by_kind(Kind::Namespace);
        let (all, _) = state.store.list(&ns_res.prefix());
        for ns in all.iter().filter(|o| meta::deletion_timestamp(&o.value).is_some()) {
            let name = meta::name(&ns.value).to_string();
            let since = *waiting.entry(name.clone()).or_insert_with(std::time::Instant::now);
            if empty_namespace(&state, &name, since.elapsed() > FORCE_AFTER).await {
                let req = DeleteRequest { propagation: Some(Propagation::Background), ..Default::default() };
                let mut ns_obj = (*ns.value).clone();
                meta::set_finalizers(&mut ns_obj, &[]);
                // What upstream's namespace controller does through `/finalize` once the namespace is empty.
                if let Some(spec) = ns_obj.get_mut("spec").and_then(serde_json::Value::as_object_mut) {
                    spec.remove("finalizers");
                }
                let _ = state.store.update(&ns_res.key(None, &name), ns_obj, Some(ns.mod_revision)).await;
                let _ = ops::delete(&state, ns_res, None, &name, req).await;
                waiting.remove(&name);
            }
        }
    }
}

const FORCE_AFTER: Duration = Duration::from_secs(30);

/// Deletes everything in `ns`; true once nothing is left.
async fn empty_namespace(state: &ApiState, ns: &str, force: bool) -> bool {
    let mut empty = true;
    for res in RESOURCES.iter().filter(|r| r.namespaced) {
        let (objects, _) = state.store.list(&res.namespace_prefix(ns));
        for o in objects {
            empty = false;
            let name = meta::name(&o.value).to_string();
            if force && !meta::finalizers(&o.value).is_empty() {
                let mut v = (*o.value).clone();
                meta::set_finalizers(&mut v, &[]);
                let _ = state.store.update(&o.key, v, Some(o.mod_revision)).await;
            }
            let grace = if force { Some(0) } else { None };
            let req = DeleteRequest {
                propagation: Some(Propagation::Background),
                grace_period_seconds: grace,
                ..Default::default()
            };
            let _ = ops::delete(state, res, Some(ns), &name, req).await;
        }
    }
    empty
}
