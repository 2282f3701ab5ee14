//! The Job controller's metrics, under upstream's names: sync latency and count, finished Jobs, and finished
//! pods, recorded from the status the controller writes (the one place a Job's counts and conditions change).

use std::time::Duration;

use runlet_codec::{Job, JobStatus};
use runlet_metrics::{FinishedLabels, PodsFinishedLabels, SyncLabels};

fn completion_mode(job: &Job) -> &'static str {
    match job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) {
        Some("Indexed") => "Indexed",
        _ => "NonIndexed",
    }
}

/// One sync of `job` (None when it was gone) that took `elapsed`.
pub fn record_sync(job: Option<&Job>, ok: bool, elapsed: Duration) {
    let labels = SyncLabels {
        completion_mode: job.map_or("NonIndexed", completion_mode),
        result: if ok { "success" } else { "error" },
        action: "reconciling",
    };
    let metrics = &runlet_metrics::global().job_controller;
    metrics.syncs.get_or_create(&labels).inc();
    metrics.sync_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
}

/// The condition (`Complete` or `Failed`, True) that finishes a Job, with its reason.
fn finished(status: Option<&JobStatus>) -> Option<(&'static str, String)> {
    let conditions = status?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == "True").find_map(|c| match c.type_.as_str() {
        "Complete" => Some(("succeeded", c.reason.clone().unwrap_or_default())),
        "Failed" => Some(("failed", c.reason.clone().unwrap_or_default())),
        _ => None,
    })
}

/// What changed between the status `base` had and the `written` one: newly counted pods, and the finish.
pub fn record_status_change(base: &Job, written: &JobStatus) {
    let metrics = &runlet_metrics::global().job_controller;
    let mode = completion_mode(base);
    let old = base.status.as_ref();
    let delta =
        |now: Option<i32>, before: Option<i32>| u64::try_from(now.unwrap_or(0) - before.unwrap_or(0)).unwrap_or(0);
    let succeeded = delta(written.succeeded, old.and_then(|s| s.succeeded));
    let failed = delta(written.failed, old.and_then(|s| s.failed));
    for (result, count) in [("succeeded", succeeded), ("failed", failed)] {
        if count > 0 {
            metrics.pods_finished.get_or_create(&PodsFinishedLabels { completion_mode: mode, result }).inc_by(count);
        }
    }
    if finished(old).is_none()
        && let Some((result, reason)) = finished(Some(written))
    {
        metrics.finished.get_or_create(&FinishedLabels { completion_mode: mode, result, reason }).inc();
    }
}
