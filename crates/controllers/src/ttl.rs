//! The TTL-after-finished controller (job-semantics §5.1): deletes finished Jobs `ttlSecondsAfterFinished` after
//! their terminal condition, with Foreground propagation and a uid precondition.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::{Client, ResourceExt};
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::Job;

use crate::runtime::Informer;

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
        loop {
            let now = jiff::Timestamp::now();
            let mut next: Option<Duration> = None;
            for job in self.jobs.store.state() {
                let Some(at) = expiry(&job) else { continue };
                if at <= now {
                    self.expire(&job).await;
                } else {
                    let wait = Duration::try_from(at - now).unwrap_or(Duration::from_secs(1));
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
            }
            let sleep = next.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(10));
            tokio::select! {
                _ = changes.recv() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Re-reads the Job (the TTL is mutable), then deletes it if it is still expired.
    async fn expire(&self, cached: &Job) {
        let api: Api<Job> = Api::namespaced(self.client.clone(), &cached.namespace().unwrap_or_default());
        let fresh = match api.get_opt(&cached.name_any()).await {
            Ok(Some(j)) => j,
            _ => return,
        };
        match expiry(&fresh) {
            Some(at) if at <= jiff::Timestamp::now() => {}
            _ => return,
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: fresh.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&fresh.name_any(), &dp).await {
            Ok(_) => tracing::info!(job = %fresh.name_any(), "deleted finished job after its TTL"),
            Err(e) => tracing::debug!(job = %fresh.name_any(), error = %e, "TTL delete failed"),
        }
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
}
