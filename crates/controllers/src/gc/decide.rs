//! What the collector decides about one object, apart from any I/O, and the one sequence of steps that carries
//! a decision out, written against [`Effects`] (the collector runs it against the API, the tests against a
//! recording fake).

use runlet_codec::{ObjectMeta, OwnerReference};

use super::{OwnerDeletion, owner_deletion_of};

/// Names one object for a write: where it is, and the uid that the write takes as its precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

impl Target {
    pub fn of(meta: &ObjectMeta) -> Target {
        Target {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
        }
    }
}

/// What to do about a dependent, looked at alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependentVerdict {
    /// It has a live owner in the cache, an owner of a kind this pair does not handle, no owners, or is being
    /// deleted already.
    Keep,
    /// Every owner looks gone from the cache: confirm with a live read, then delete it.
    OwnersLookGone,
}

/// The verdict on a dependent whose owners are of kind `owner_kind`; `cached` says whether an owner reference
/// names an owner in the cache (same name and uid).
pub fn dependent_verdict(
    dependent: &ObjectMeta,
    owner_kind: &str,
    cached: impl Fn(&OwnerReference) -> bool,
) -> DependentVerdict {
    let owners = dependent.owner_references.as_deref().unwrap_or_default();
    if owners.is_empty() || dependent.deletion_timestamp.is_some() {
        return DependentVerdict::Keep;
    }
    if owners.iter().any(|o| o.kind != owner_kind || cached(o)) {
        return DependentVerdict::Keep;
    }
    DependentVerdict::OwnersLookGone
}

/// What an owner being deleted needs from the collector, given its dependents as cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerPlan {
    /// Not being deleted with a finalizer the collector handles.
    Nothing,
    /// `orphan`: remove the owner's reference from each of these, then (when every one went through) the
    /// finalizer.
    Release(Vec<Target>),
    /// `foregroundDeletion`: delete these (the dependents not being deleted yet); the finalizer goes when no
    /// dependent that blocks owner deletion is left (`blocking` counts them).
    Foreground { delete: Vec<Target>, blocking: usize },
}

/// The plan for `owner`, whose dependents are `dependents` (the cached objects naming it as an owner).
pub fn owner_plan(owner: &ObjectMeta, dependents: &[&ObjectMeta]) -> OwnerPlan {
    match owner_deletion_of(owner) {
        None => OwnerPlan::Nothing,
        Some(OwnerDeletion::Orphan) => OwnerPlan::Release(dependents.iter().map(|d| Target::of(d)).collect()),
        Some(OwnerDeletion::Foreground) => OwnerPlan::Foreground {
            delete: dependents.iter().filter(|d| d.deletion_timestamp.is_none()).map(|d| Target::of(d)).collect(),
            blocking: dependents
                .iter()
                .filter(|d| d.owner_references.iter().flatten().any(|o| o.block_owner_deletion == Some(true)))
                .count(),
        },
    }
}

/// A write that did not go through (anything but "already gone", which the effects report as done).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

/// The collector's side effects for one owner kind and one dependent kind.
#[allow(async_fn_in_trait)] // Used with concrete types only.
pub trait Effects {
    /// A fresh (uncached) read: whether any of the dependent's `owners` exists with the same uid; None when a
    /// read failed.
    async fn any_owner_exists(&mut self, dependent: &Target, owners: &[OwnerReference]) -> Option<bool>;
    /// A Background delete of exactly this dependent (its uid as precondition); gone already or replaced by
    /// another object of the same name is done, not failed.
    async fn delete_dependent(&mut self, dependent: &Target) -> Result<(), Failed>;
    /// Removes the reference to the owner with `owner_uid` from the dependent; a dependent gone is done.
    async fn release(&mut self, dependent: &Target, owner_uid: &str) -> Result<(), Failed>;
    /// Removes `finalizer` from the owner.
    async fn remove_finalizer(&mut self, owner: &Target, finalizer: &str) -> Result<(), Failed>;
}

/// Carries out the verdict on one dependent. True when it must be looked at again (a read or the delete failed).
pub async fn settle_dependent<E: Effects>(
    fx: &mut E,
    dependent: &ObjectMeta,
    owner_kind: &str,
    cached: impl Fn(&OwnerReference) -> bool,
) -> bool {
    if dependent_verdict(dependent, owner_kind, cached) == DependentVerdict::Keep {
        return false;
    }
    let target = Target::of(dependent);
    let owners = dependent.owner_references.as_deref().unwrap_or_default();
    match fx.any_owner_exists(&target, owners).await {
        Some(true) => false,
        // When in doubt, keep the dependent (and look again soon).
        None => true,
        Some(false) => match fx.delete_dependent(&target).await {
            Ok(()) => {
                tracing::debug!(name = %target.name, "deleted a dependent whose owner is gone");
                false
            }
            Err(e) => {
                tracing::debug!(name = %target.name, error = %e, "could not delete orphaned dependent");
                true
            }
        },
    }
}

/// Carries out the plan for one owner. True while the owner still waits on the collector (its finalizer is
/// not removed yet).
pub async fn settle_owner<E: Effects>(fx: &mut E, owner: &ObjectMeta, dependents: &[&ObjectMeta]) -> bool {
    let target = Target::of(owner);
    let uid = owner.uid.as_deref().unwrap_or_default();
    match owner_plan(owner, dependents) {
        OwnerPlan::Nothing => false,
        OwnerPlan::Release(dependents) => {
            let mut all_released = true;
            for d in &dependents {
                if let Err(e) = fx.release(d, uid).await {
                    tracing::debug!(name = %d.name, error = %e, "could not orphan dependent");
                    all_released = false;
                }
            }
            !all_released || remove_finalizer(fx, &target, runlet_api::labels::ORPHAN_FINALIZER).await
        }
        OwnerPlan::Foreground { delete, blocking } => {
            for d in &delete {
                if let Err(e) = fx.delete_dependent(d).await {
                    tracing::debug!(name = %d.name, error = %e, "could not delete dependent");
                }
            }
            blocking > 0 || remove_finalizer(fx, &target, runlet_api::labels::FOREGROUND_DELETION_FINALIZER).await
        }
    }
}

/// True when the finalizer is still there.
async fn remove_finalizer<E: Effects>(fx: &mut E, owner: &Target, finalizer: &str) -> bool {
    match fx.remove_finalizer(owner, finalizer).await {
        Ok(()) => false,
        Err(e) => {
            tracing::debug!(name = %owner.name, error = %e, "could not remove finalizer");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const AT: &str = "2026-01-01T00:00:00Z";

    /// Writes (as the fake logs them) that fail, or that are expected.
    type Writes = &'static [&'static str];

    fn meta(v: Value) -> ObjectMeta {
        serde_json::from_value(v).unwrap()
    }

    fn job_ref(uid: &str, block: bool) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "name": format!("job-{uid}"), "uid": uid,
            "blockOwnerDeletion": block})
    }

    fn pod(name: &str, refs: Vec<Value>, deleting: bool) -> ObjectMeta {
        let mut m = json!({"namespace": "ns", "name": name, "uid": format!("u-{name}"), "ownerReferences": refs});
        if deleting {
            m["deletionTimestamp"] = json!(AT);
        }
        meta(m)
    }

    #[test]
    fn dependent_verdicts() {
        let node_ref = json!({"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "node"});
        // (dependent, owners in the cache, verdict)
        let cases = [
            (pod("no-owner", vec![], false), vec![], DependentVerdict::Keep),
            (pod("live", vec![job_ref("j1", true)], false), vec!["j1"], DependentVerdict::Keep),
            (pod("gone", vec![job_ref("j1", true)], false), vec![], DependentVerdict::OwnersLookGone),
            (
                pod("one-of-two", vec![job_ref("j1", true), job_ref("j2", false)], false),
                vec!["j2"],
                DependentVerdict::Keep,
            ),
            (
                pod("both-gone", vec![job_ref("j1", true), job_ref("j2", false)], false),
                vec![],
                DependentVerdict::OwnersLookGone,
            ),
            (pod("deleting", vec![job_ref("j1", true)], true), vec![], DependentVerdict::Keep),
            // An owner of another kind is not this pair's to judge.
            (pod("other-kind", vec![job_ref("j1", true), node_ref.clone()], false), vec![], DependentVerdict::Keep),
        ];
        for (dependent, cached, want) in cases {
            let got = dependent_verdict(&dependent, "Job", |r| cached.contains(&r.uid.as_str()));
            assert_eq!(got, want, "{:?}", dependent.name);
        }
    }

    #[test]
    fn owner_plans() {
        let owner = |finalizers: &[&str], deleting: bool| {
            let mut m = json!({"namespace": "ns", "name": "j", "uid": "j1", "finalizers": finalizers});
            if deleting {
                m["deletionTimestamp"] = json!(AT);
            }
            meta(m)
        };
        let blocking = pod("a", vec![job_ref("j1", true)], false);
        let free = pod("b", vec![job_ref("j1", false)], false);
        let going = pod("c", vec![job_ref("j1", true)], true);
        let deps = [&blocking, &free, &going];
        let t = |m: &ObjectMeta| Target::of(m);

        assert_eq!(owner_plan(&owner(&["orphan"], false), &deps), OwnerPlan::Nothing);
        assert_eq!(owner_plan(&owner(&[], true), &deps), OwnerPlan::Nothing);
        assert_eq!(
            owner_plan(&owner(&["orphan", "foregroundDeletion"], true), &deps),
            OwnerPlan::Release(vec![t(&blocking), t(&free), t(&going)])
        );
        assert_eq!(
            owner_plan(&owner(&["foregroundDeletion"], true), &deps),
            OwnerPlan::Foreground { delete: vec![t(&blocking), t(&free)], blocking: 2 }
        );
        assert_eq!(
            owner_plan(&owner(&["foregroundDeletion"], true), &[&free]),
            OwnerPlan::Foreground { delete: vec![t(&free)], blocking: 0 }
        );
    }

    /// Records every effect; answers reads and fails writes as told.
    #[derive(Default)]
    struct Fake {
        owner_exists: Option<bool>,
        fail: Vec<String>,
        log: Vec<String>,
    }

    impl Fake {
        fn outcome(&self, what: String) -> Result<(), Failed> {
            if self.fail.contains(&what) { Err(Failed("refused".into())) } else { Ok(()) }
        }
    }

    impl Effects for Fake {
        async fn any_owner_exists(&mut self, dependent: &Target, _: &[OwnerReference]) -> Option<bool> {
            self.log.push(format!("read owners of {}", dependent.name));
            self.owner_exists
        }
        async fn delete_dependent(&mut self, dependent: &Target) -> Result<(), Failed> {
            let what = format!("delete {}", dependent.name);
            self.log.push(what.clone());
            self.outcome(what)
        }
        async fn release(&mut self, dependent: &Target, owner_uid: &str) -> Result<(), Failed> {
            let what = format!("release {} from {owner_uid}", dependent.name);
            self.log.push(what.clone());
            self.outcome(what)
        }
        async fn remove_finalizer(&mut self, owner: &Target, finalizer: &str) -> Result<(), Failed> {
            let what = format!("remove {finalizer} from {}", owner.name);
            self.log.push(what.clone());
            self.outcome(what)
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn a_dependent_is_deleted_only_once_the_api_confirms_its_owners_are_gone() {
        let gone = pod("p", vec![job_ref("j1", true)], false);
        // (live read answer, failing writes, effects, look again)
        let cases: [(Option<bool>, Writes, Writes, bool); 4] = [
            (Some(false), &[], &["read owners of p", "delete p"], false),
            (Some(true), &[], &["read owners of p"], false),
            (None, &[], &["read owners of p"], true),
            (Some(false), &["delete p"], &["read owners of p", "delete p"], true),
        ];
        for (answer, fail, want, again) in cases {
            let mut fx =
                Fake { owner_exists: answer, fail: fail.iter().map(|s| s.to_string()).collect(), ..Fake::default() };
            let pending = block_on(settle_dependent(&mut fx, &gone, "Job", |_| false));
            assert_eq!(
                (fx.log.as_slice(), pending),
                (want.iter().map(|s| s.to_string()).collect::<Vec<_>>().as_slice(), again),
                "{answer:?} {fail:?}"
            );
        }
        // A dependent whose owner is cached is not even read.
        let mut fx = Fake::default();
        assert!(!block_on(settle_dependent(&mut fx, &gone, "Job", |_| true)));
        assert!(fx.log.is_empty());
    }

    #[test]
    fn owners_keep_their_finalizer_until_their_dependents_are_dealt_with() {
        let owner = |finalizer: &str| {
            meta(
                json!({"namespace": "ns", "name": "j", "uid": "j1", "finalizers": [finalizer], "deletionTimestamp": AT}),
            )
        };
        let blocking = pod("a", vec![job_ref("j1", true)], false);
        let free = pod("b", vec![job_ref("j1", false)], false);
        // (finalizer, dependents, failing writes, effects, still waiting)
        let cases: [(&str, Vec<&ObjectMeta>, Writes, Writes, bool); 5] = [
            (
                "orphan",
                vec![&blocking, &free],
                &[],
                &["release a from j1", "release b from j1", "remove orphan from j"],
                false,
            ),
            (
                "orphan",
                vec![&blocking, &free],
                &["release a from j1"],
                &["release a from j1", "release b from j1"],
                true,
            ),
            ("foregroundDeletion", vec![&blocking, &free], &[], &["delete a", "delete b"], true),
            ("foregroundDeletion", vec![&free], &[], &["delete b", "remove foregroundDeletion from j"], false),
            (
                "foregroundDeletion",
                vec![],
                &["remove foregroundDeletion from j"],
                &["remove foregroundDeletion from j"],
                true,
            ),
        ];
        for (finalizer, deps, fail, want, waiting) in cases {
            let mut fx = Fake { fail: fail.iter().map(|s| s.to_string()).collect(), ..Fake::default() };
            let pending = block_on(settle_owner(&mut fx, &owner(finalizer), &deps));
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!((fx.log, pending), (want, waiting), "{finalizer} {fail:?}");
        }
    }
}
