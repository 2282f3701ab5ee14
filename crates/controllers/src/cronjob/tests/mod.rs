//! Table tests of the CronJob core with an injected clock: schedules, misses, policies, time zones, DST, the
//! active list and history limits.

mod history;
mod reconcile;
mod scheduling;

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use runlet_codec::{CronJob, Job};
use serde_json::{Value, json};

use super::*;

pub(super) const CJ_UID: &str = "cj-uid";

pub(super) fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `patch` merged into `target` as a JSON merge patch (objects merged, `null` deletes).
fn merge(target: &mut Value, patch: Value) {
    *target = runlet_patch::merge_patch(target, &patch).expect("a JSON merge patch applies");
}

/// CronJob `hello` (every minute, Allow, defaulted limits) created at `created`, with `patch` merged in.
pub(super) fn cronjob(created: &str, patch: Value) -> CronJob {
    let mut v = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": "default", "uid": CJ_UID, "creationTimestamp": created},
        "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": false,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"app": "hello"}},
                                 "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                                "restartPolicy": "OnFailure"}}}}},
        "status": {}
    });
    merge(&mut v, patch);
    runlet_codec::decode_cron_job(&v).expect("test CronJob decodes").object
}

/// A Job of `hello`: `state` is "running", "complete" or "failed"; `at` its start (and completion) time.
pub(super) fn job(name: &str, uid: &str, state: &str, at: Option<&str>) -> Job {
    let mut status = json!({});
    if let Some(at) = at {
        status["startTime"] = json!(at);
    }
    match state {
        "complete" => {
            status["conditions"] = json!([{"type": "SuccessCriteriaMet", "status": "True"},
                                          {"type": "Complete", "status": "True"}]);
            status["completionTime"] = json!(at);
        }
        "failed" => status["conditions"] = json!([{"type": "Failed", "status": "True"}]),
        _ => {}
    }
    let v = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "uid": uid,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                          "uid": CJ_UID, "controller": true}]},
        "spec": {"template": {"spec": {"containers": []}}}, "status": status});
    runlet_codec::decode_job(&v).expect("test Job decodes").object
}

/// A reference in the active list.
pub(super) fn active_ref(name: &str, uid: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "name": name, "namespace": "default", "uid": uid})
}

pub(super) fn run(cj: &CronJob, jobs: &[Job], now: &str, observed: &Observed) -> Plan {
    let local = TimeZone::UTC;
    sync(&SyncInput { cronjob: cj, jobs, now: ts(now), local: &local }, observed)
}

pub(super) fn reasons(plan: &Plan) -> Vec<&str> {
    plan.events.iter().map(|e| e.reason.as_str()).collect()
}

/// Milliseconds, to compare requeue delays.
pub(super) fn ms(d: Option<Duration>) -> Option<u128> {
    d.map(|d| d.as_millis())
}
