//! Namespaces: the ones that always exist, and emptying a namespace that is being deleted.
//!
//! The finalizer follows upstream's order: a terminating namespace is emptied; once empty, its `kubernetes` spec
//! finalizer is removed (upstream's `/finalize`); the object goes once no finalizer of any kind is left.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use runlet_api::labels::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use runlet_store::Object;
use serde_json::{Value, json};

use crate::meta;
use crate::negotiate::FieldValidation;
use crate::ops::{self, DeleteRequest, Propagation, WriteOptions};
use crate::resources::{Kind, RESOURCES, by_kind};
use crate::state::ApiState;
use crate::strategy::{self, NAMESPACE_FINALIZER, Origin};

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
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Objects in a terminating namespace whose finalizers are not released within this lose them, so a namespace
/// never hangs in Terminating because a controller is gone.
const FORCE_AFTER: Duration = Duration::from_secs(30);

/// How long a removed namespace's keys are still swept: a create that found the namespace alive just before it
/// was marked can commit after the last sweep of its content, and nothing else would ever remove that object.
const SWEEP_AFTER_REMOVAL: Duration = Duration::from_secs(5);

/// Forever: empties namespaces marked for deletion, then removes them.
pub async fn run_finalizer(state: ApiState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    let mut finalizer = Finalizer::default();
    loop {
        tick.tick().await;
        finalizer.sweep(&state, Instant::now()).await;
    }
}

/// What the finalizer remembers between sweeps.
#[derive(Default)]
struct Finalizer {
    /// Terminating namespaces by name: their uid, and when this finalizer first saw them terminating (what
    /// [`FORCE_AFTER`] counts from). Kept until the namespace is gone, whatever writes lose their races meanwhile.
    terminating: HashMap<String, (String, Instant)>,
    /// Namespaces seen removed, by name, and when.
    removed: HashMap<String, Instant>,
}

impl Finalizer {
    async fn sweep(&mut self, state: &ApiState, now: Instant) {
        let ns_res = by_kind(Kind::Namespace);
        let (namespaces, _) = state.store.list(&ns_res.prefix());
        let marked: Vec<&Object> = namespaces.iter().filter(|o| meta::deletion_timestamp(&o.value).is_some()).collect();
        self.forget_finished(&namespaces, &marked, now);
        for ns in marked {
            let name = meta::name(&ns.value).to_string();
            let uid = meta::uid(&ns.value).unwrap_or("").to_string();
            let since = match self.terminating.get(&name) {
                Some((seen, since)) if *seen == uid => *since,
                _ => {
                    self.terminating.insert(name.clone(), (uid, now));
                    now
                }
            };
            if empty_namespace(state, &name, now.duration_since(since) > FORCE_AFTER).await && finalize(state, ns).await
            {
                self.terminating.remove(&name);
                self.removed.insert(name, now);
            }
        }
        // A namespace created again under the name owns what is there now.
        self.removed.retain(|name, at| {
            now.duration_since(*at) <= SWEEP_AFTER_REMOVAL && state.store.get(&ns_res.key(None, name)).is_none()
        });
        for name in self.removed.keys() {
            empty_namespace(state, name, true).await;
        }
    }

    /// Forgets namespaces that are no longer terminating (removed by an update or delete elsewhere, or
    /// recreated), and notes the ones that are gone.
    fn forget_finished(&mut self, namespaces: &[Object], marked: &[&Object], now: Instant) {
        let removed = &mut self.removed;
        self.terminating.retain(|name, (uid, _)| {
            let still = marked.iter().any(|o| meta::name(&o.value) == name && meta::uid(&o.value) == Some(uid));
            if !still && !namespaces.iter().any(|o| meta::name(&o.value) == name) {
                removed.insert(name.clone(), now);
            }
            still
        });
    }
}

/// Deletes everything in `ns`; true if nothing was left to delete. `force` first takes away objects'
/// finalizers and ends their grace periods.
async fn empty_namespace(state: &ApiState, ns: &str, force: bool) -> bool {
    let mut empty = true;
    for res in RESOURCES.iter().filter(|r| r.namespaced) {
        let prefix = res.namespace_prefix(ns);
        if !state.store.has_prefix(&prefix) {
            continue;
        }
        empty = false;
        for o in state.store.list(&prefix).0 {
            let name = meta::name(&o.value).to_string();
            if force && !meta::finalizers(&o.value).is_empty() {
                let mut v = (*o.value).clone();
                meta::set_finalizers(&mut v, &[]);
                let _ = state.store.update(&o.key, v, Some(o.mod_revision)).await;
            }
            let req = DeleteRequest {
                propagation: Some(Propagation::Background),
                grace_period_seconds: force.then_some(0),
                ..Default::default()
            };
            let _ = ops::delete(state, res, Some(ns), &name, req).await;
        }
    }
    empty
}

/// The namespace as upstream's `/finalize` leaves it once it is empty: without the `kubernetes` spec finalizer.
/// The garbage collector's finalizers go too: a namespace owns no objects, and runlet's collector only handles
/// Jobs. Other finalizers stay for their owners. None when there is nothing to change.
fn finalized(ns: &Value) -> Option<Value> {
    let spec_has = strategy::namespace_spec_finalizers(ns).iter().any(|f| f == NAMESPACE_FINALIZER);
    let finalizers = meta::finalizers(ns);
    let kept: Vec<String> =
        finalizers.iter().filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_DELETION_FINALIZER).cloned().collect();
    if !spec_has && kept.len() == finalizers.len() {
        return None;
    }
    let mut out = ns.clone();
    meta::set_finalizers(&mut out, &kept);
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        let left: Vec<String> =
            strategy::namespace_spec_finalizers(ns).into_iter().filter(|f| f != NAMESPACE_FINALIZER).collect();
        if left.is_empty() {
            spec.remove("finalizers");
        } else {
            spec.insert("finalizers".into(), json!(left));
        }
    }
    Some(out)
}

/// Finalizes an empty namespace, then removes it if nothing holds it any more; true once it is gone. A write
/// that loses a race changes nothing: the next sweep tries again.
async fn finalize(state: &ApiState, ns: &Object) -> bool {
    let ns_res = by_kind(Kind::Namespace);
    let name = meta::name(&ns.value);
    if let Some(value) = finalized(&ns.value)
        && let Err(e) = state.store.update(&ns.key, value, Some(ns.mod_revision)).await
    {
        tracing::debug!(namespace = name, error = %e, "could not finalize namespace");
        return false;
    }
    // The delete checks again that the namespace is empty and has no finalizer left before it removes it.
    let req = DeleteRequest { propagation: Some(Propagation::Background), ..Default::default() };
    match ops::delete(state, ns_res, None, name, req).await {
        Ok(d) => d.gone,
        Err(e) => e.is_not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_store::{Store, StoreOptions};

    #[test]
    fn finalizing_removes_only_the_kubernetes_and_gc_finalizers() {
        // (spec finalizers, metadata finalizers) → what is left, or None for no change
        type Lists = (Vec<&'static str>, Vec<&'static str>);
        let cases: Vec<(Lists, Option<Lists>)> = vec![
            ((vec!["kubernetes"], vec![]), Some((vec![], vec![]))),
            ((vec!["kubernetes"], vec!["example.com/keep"]), Some((vec![], vec!["example.com/keep"]))),
            ((vec!["kubernetes", "example.com/ns"], vec![]), Some((vec!["example.com/ns"], vec![]))),
            ((vec![], vec!["orphan", "example.com/keep"]), Some((vec![], vec!["example.com/keep"]))),
            ((vec![], vec!["foregroundDeletion"]), Some((vec![], vec![]))),
            ((vec![], vec!["example.com/keep"]), None),
            ((vec!["example.com/ns"], vec![]), None),
        ];
        for ((spec, metadata), want) in cases {
            let ns = json!({"metadata": {"name": "n", "finalizers": metadata}, "spec": {"finalizers": spec}});
            let got = finalized(&ns).map(|v| {
                let spec = strategy::namespace_spec_finalizers(&v);
                (spec, meta::finalizers(&v))
            });
            let want = want.map(|(s, m)| {
                let owned = |l: Vec<&str>| l.into_iter().map(String::from).collect::<Vec<_>>();
                (owned(s), owned(m))
            });
            assert_eq!(got, want, "spec {spec:?} metadata {metadata:?}");
        }
    }

    async fn state() -> ApiState {
        let store = Store::open_memory(StoreOptions::default()).await.expect("store");
        let state = ApiState::new(store);
        ensure_system_namespaces(&state).await.expect("system namespaces");
        state
    }

    fn opts() -> WriteOptions {
        WriteOptions::new(false, FieldValidation::Strict, Origin::Body)
    }

    async fn create_namespace(state: &ApiState, name: &str, finalizers: &[&str]) {
        let body =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "finalizers": finalizers}});
        ops::create(state, by_kind(Kind::Namespace), None, body, opts()).await.expect("create namespace");
    }

    async fn create_lease(state: &ApiState, ns: &str, name: &str, finalizers: &[&str]) {
        let body = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": name, "finalizers": finalizers}});
        ops::create(state, by_kind(Kind::Lease), Some(ns), body, opts()).await.expect("create lease");
    }

    async fn mark(state: &ApiState, name: &str, propagation: Propagation) {
        let req = DeleteRequest { propagation: Some(propagation), ..Default::default() };
        ops::delete(state, by_kind(Kind::Namespace), None, name, req).await.expect("delete namespace");
    }

    fn namespace(state: &ApiState, name: &str) -> Option<Value> {
        state.store.get(&by_kind(Kind::Namespace).key(None, name)).map(|o| (*o.value).clone())
    }

    fn leases(state: &ApiState, ns: &str) -> Vec<String> {
        let (objects, _) = state.store.list(&by_kind(Kind::Lease).namespace_prefix(ns));
        objects.iter().map(|o| meta::name(&o.value).to_string()).collect()
    }

    #[tokio::test]
    async fn an_empty_namespace_loses_its_spec_finalizer_first_and_goes_once_nothing_holds_it() {
        let state = state().await;
        create_namespace(&state, "held", &["example.com/keep"]).await;
        mark(&state, "held", Propagation::Background).await;
        let mut finalizer = Finalizer::default();
        let t0 = Instant::now();
        finalizer.sweep(&state, t0).await;
        let ns = namespace(&state, "held").expect("still there: a metadata finalizer holds it");
        assert!(strategy::namespace_spec_finalizers(&ns).is_empty(), "{ns}");
        assert_eq!(meta::finalizers(&ns), ["example.com/keep"]);
        assert_eq!(ns["status"]["phase"], "Terminating");

        // Sweeps that change nothing keep the time the namespace was first seen terminating.
        finalizer.sweep(&state, t0 + Duration::from_secs(1)).await;
        assert_eq!(finalizer.terminating.get("held").map(|(_, since)| *since), Some(t0));

        // Its owner releases it: the update removes it, and the finalizer forgets it.
        let release = |v: &Value| {
            let mut v = v.clone();
            meta::set_finalizers(&mut v, &[]);
            Ok(v)
        };
        let written = ops::update(
            &state,
            by_kind(Kind::Namespace),
            None,
            "held",
            crate::strategy::Part::Main,
            ops::Change::Compute(&release),
            opts(),
        )
        .await
        .expect("release");
        assert!(namespace(&state, "held").is_none(), "{}", written.value);
        finalizer.sweep(&state, t0 + Duration::from_secs(2)).await;
        assert!(finalizer.terminating.is_empty());
        assert!(finalizer.removed.contains_key("held"));
    }

    #[tokio::test]
    async fn gc_finalizers_do_not_hold_a_namespace() {
        let state = state().await;
        create_namespace(&state, "orphaned", &[]).await;
        mark(&state, "orphaned", Propagation::Orphan).await;
        assert_eq!(namespace(&state, "orphaned").map(|v| meta::finalizers(&v)), Some(vec!["orphan".to_string()]));
        Finalizer::default().sweep(&state, Instant::now()).await;
        assert!(namespace(&state, "orphaned").is_none());
    }

    #[tokio::test]
    async fn content_is_deleted_and_forced_out_after_the_timeout() {
        let state = state().await;
        create_namespace(&state, "doomed", &[]).await;
        create_lease(&state, "doomed", "free", &[]).await;
        create_lease(&state, "doomed", "held", &["example.com/hold"]).await;
        mark(&state, "doomed", Propagation::Background).await;
        let mut finalizer = Finalizer::default();
        let t0 = Instant::now();
        finalizer.sweep(&state, t0).await;
        assert_eq!(leases(&state, "doomed"), ["held"]);
        finalizer.sweep(&state, t0 + FORCE_AFTER / 2).await;
        assert_eq!(leases(&state, "doomed"), ["held"]);
        assert!(namespace(&state, "doomed").is_some());
        finalizer.sweep(&state, t0 + FORCE_AFTER + Duration::from_secs(1)).await;
        assert!(leases(&state, "doomed").is_empty());
        // Emptied in that sweep, removed in the next.
        finalizer.sweep(&state, t0 + FORCE_AFTER + Duration::from_secs(2)).await;
        assert!(namespace(&state, "doomed").is_none());
        assert!(finalizer.terminating.is_empty());
    }

    #[tokio::test]
    async fn a_create_that_commits_after_the_removal_is_swept_away() {
        let state = state().await;
        create_namespace(&state, "racy", &[]).await;
        mark(&state, "racy", Propagation::Background).await;
        let mut finalizer = Finalizer::default();
        let t0 = Instant::now();
        finalizer.sweep(&state, t0).await;
        assert!(namespace(&state, "racy").is_none());
        // A create that checked the namespace before it was marked commits only now.
        let key = by_kind(Kind::Lease).key(Some("racy"), "late");
        let late = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": "late", "namespace": "racy", "finalizers": ["example.com/hold"]}});
        state.store.create(&key, late.clone()).await.expect("late create");
        finalizer.sweep(&state, t0 + SWEEP_EVERY).await;
        assert!(leases(&state, "racy").is_empty());
        // Past the window, and for a namespace created again, nothing is swept.
        finalizer.sweep(&state, t0 + SWEEP_AFTER_REMOVAL + Duration::from_secs(1)).await;
        assert!(finalizer.removed.is_empty());
        state.store.create(&key, late).await.expect("create after the window");
        finalizer.sweep(&state, t0 + SWEEP_AFTER_REMOVAL + Duration::from_secs(2)).await;
        assert_eq!(leases(&state, "racy"), ["late"]);
    }
}
