//! The TTL-after-finished controller (job-semantics §5.1): deletes finished Jobs `ttlSecondsAfterFinished` after
//! their terminal condition, with Foreground propagation and a uid precondition. [`expiry`] and [`pass`] are pure;
//! [`expire`] is the one sequence (fresh read, check, delete) written against [`Effects`], which the controller
//! carries out against the API and the tests against an in-memory store.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::Job;

use runlet_client::Informer;

/// When a finished Job expires, per its TTL; None when it has no TTL, is not finished, or is being deleted.
pub fn expiry(job: &Job) -> Option<jiff::Timestamp> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished_at = job
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            (c.type_ == JobConditionType::Complete || c.type_ == JobConditionType::Failed)
                && c.status == ConditionStatus::True
        })?
        .last_transition_time
        .as_ref()?
        .0;
    Some(finished_at + jiff::SignedDuration::from_secs(i64::from(ttl)))
}

/// What one pass over the cached Jobs found: the Jobs whose TTL has run out, and how long until the next one
/// does.
#[derive(Debug, Default)]
pub struct Pass {
    pub expired: Vec<Arc<Job>>,
    pub next: Option<Duration>,
}

/// The Jobs of the cache whose TTL ran out by `now` (pure).
pub fn pass(jobs: impl IntoIterator<Item = Arc<Job>>, now: jiff::Timestamp) -> Pass {
    let mut out = Pass::default();
    for job in jobs {
        let Some(at) = expiry(&job) else { continue };
        if at <= now {
            out.expired.push(job);
        } else {
            let wait = Duration::try_from(at - now).unwrap_or(Duration::from_secs(1));
            out.next = Some(out.next.map_or(wait, |n| n.min(wait)));
        }
    }
    out
}

/// The TTL controller's side effects.
#[allow(async_fn_in_trait)] // Used with concrete types only.
pub trait Effects {
    type Error: std::fmt::Display;

    /// A fresh (uncached) read of the Job; None when it is gone.
    async fn read(&mut self, namespace: &str, name: &str) -> Result<Option<Job>, Self::Error>;
    /// Deletes the Job with Foreground propagation, on condition that its uid is still `uid`.
    async fn delete(&mut self, namespace: &str, name: &str, uid: &str) -> Result<(), Self::Error>;
}

/// What became of a Job the cache showed expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired {
    Deleted,
    /// The fresh read shows it gone, or no longer expired (the TTL is mutable, the Job may be new).
    NotDue,
}

/// Re-reads the Job (the cache may be behind), then deletes it if it is still expired at `now`: the uid
/// precondition keeps a Job re-created under the same name from going in its place.
pub async fn expire<E: Effects>(fx: &mut E, cached: &Job, now: jiff::Timestamp) -> Result<Expired, E::Error> {
    let namespace = cached.namespace().unwrap_or_default();
    let Some(fresh) = fx.read(&namespace, &cached.name_any()).await? else { return Ok(Expired::NotDue) };
    if expiry(&fresh).is_none_or(|at| at > now) {
        return Ok(Expired::NotDue);
    }
    fx.delete(&namespace, &fresh.name_any(), fresh.metadata.uid.as_deref().unwrap_or_default()).await?;
    Ok(Expired::Deleted)
}

pub struct TtlController {
    client: Client,
    jobs: Arc<Informer<Job>>,
}

impl TtlController {
    pub fn new(client: Client, jobs: Arc<Informer<Job>>) -> Self {
        TtlController { client, jobs }
    }

    pub async fn run(self) {
        self.jobs.ready().await;
        let mut changes = self.jobs.subscribe();
        let mut fx = ApiEffects { client: self.client.clone() };
        loop {
            let now = jiff::Timestamp::now();
            let due = pass(self.jobs.store.state(), now);
            for job in &due.expired {
                match expire(&mut fx, job, now).await {
                    Ok(Expired::Deleted) => tracing::info!(job = %job.name_any(), "deleted finished job after its TTL"),
                    Ok(Expired::NotDue) => {}
                    Err(error) => tracing::debug!(job = %job.name_any(), %error, "TTL delete failed"),
                }
            }
            let sleep = due.next.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(10));
            tokio::select! {
                _ = changes.recv() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

/// The effects carried out against the API.
struct ApiEffects {
    client: Client,
}

impl Effects for ApiEffects {
    type Error = kube::Error;

    async fn read(&mut self, namespace: &str, name: &str) -> Result<Option<Job>, kube::Error> {
        Api::<Job>::namespaced(self.client.clone(), namespace).get_opt(name).await
    }

    async fn delete(&mut self, namespace: &str, name: &str, uid: &str) -> Result<(), kube::Error> {
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..Default::default()
        };
        Api::<Job>::namespaced(self.client.clone(), namespace).delete(name, &dp).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(v: serde_json::Value) -> Job {
        runlet_codec::decode_job(&v).unwrap().object
    }

    #[test]
    fn expiry_cases() {
        let done = json!({"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"});
        let failed = json!({"type": "Failed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"});
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let cases = [
            (
                json!({"spec": {"ttlSecondsAfterFinished": 10}, "status": {"conditions": [done.clone()]}}),
                Some(t0 + jiff::SignedDuration::from_secs(10)),
            ),
            (json!({"spec": {"ttlSecondsAfterFinished": 0}, "status": {"conditions": [failed]}}), Some(t0)),
            (json!({"spec": {}, "status": {"conditions": [done.clone()]}}), None),
            (json!({"spec": {"ttlSecondsAfterFinished": 10}, "status": {}}), None),
            (
                json!({"spec": {"ttlSecondsAfterFinished": 10}, "status": {"conditions": [{"type": "Complete", "status": "False"}]}}),
                None,
            ),
            (
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"ttlSecondsAfterFinished": 10}, "status": {"conditions": [done]}}),
                None,
            ),
        ];
        for (i, (j, want)) in cases.into_iter().enumerate() {
            let mut j = j;
            j["apiVersion"] = json!("batch/v1");
            j["kind"] = json!("Job");
            assert_eq!(expiry(&job(j)), want, "case {i}");
        }
    }

    /// An in-memory API: the Jobs a fresh read finds, and the deletions asked for.
    #[derive(Default)]
    struct Memory {
        stored: Vec<Job>,
        deleted: Vec<(String, String)>,
    }

    impl Effects for Memory {
        type Error = std::convert::Infallible;

        async fn read(&mut self, _namespace: &str, name: &str) -> Result<Option<Job>, Self::Error> {
            Ok(self.stored.iter().find(|j| j.name_any() == name).cloned())
        }

        async fn delete(&mut self, _namespace: &str, name: &str, uid: &str) -> Result<(), Self::Error> {
            self.deleted.push((name.to_string(), uid.to_string()));
            Ok(())
        }
    }

    fn finished(name: &str, uid: &str, ttl: i32) -> Job {
        job(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
            "spec": {"ttlSecondsAfterFinished": ttl},
            "status": {"conditions": [{"type": "Complete", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
    }

    #[test]
    fn a_pass_finds_the_expired_and_the_next_expiry() {
        let now: jiff::Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let jobs = [finished("a", "1", 10), finished("b", "2", 90), finished("c", "3", 60), finished("d", "4", 30)];
        let due = pass(jobs.into_iter().map(Arc::new), now);
        let names: Vec<String> = due.expired.iter().map(|j| j.name_any()).collect();
        assert_eq!(names, ["a", "d"], "expired at or before now");
        assert_eq!(due.next, Some(Duration::from_secs(30)), "c is the next to expire");
    }

    #[tokio::test]
    async fn the_fresh_read_decides() {
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let cached = finished("pi", "old", 10);
        // (case, what a fresh read finds, the result, the deletion asked for)
        let cases = [
            ("still expired: deleted by its uid", vec![cached.clone()], Expired::Deleted, Some(("pi", "old"))),
            ("already gone", vec![], Expired::NotDue, None),
            ("its TTL was raised", vec![finished("pi", "old", 3600)], Expired::NotDue, None),
            (
                "re-created and expired too: the new one's uid",
                vec![finished("pi", "new", 0)],
                Expired::Deleted,
                Some(("pi", "new")),
            ),
        ];
        for (name, stored, want, deletion) in cases {
            let mut fx = Memory { stored, ..Default::default() };
            let Ok(got) = expire(&mut fx, &cached, now).await;
            assert_eq!(got, want, "{name}");
            let want_deleted: Vec<(String, String)> =
                deletion.into_iter().map(|(n, u)| (n.to_string(), u.to_string())).collect();
            assert_eq!(fx.deleted, want_deleted, "{name}");
        }
    }
}
