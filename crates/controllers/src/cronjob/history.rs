//! Which finished Jobs go (upstream `cleanupFinishedJobs`): beyond `successfulJobsHistoryLimit` Complete Jobs
//! and `failedJobsHistoryLimit` Failed Jobs, the oldest by start time (then name).

use std::cmp::Ordering;

use runlet_codec::{CronJob, Job};

use super::finished_condition;
use runlet_api::vocab::JobConditionType;

/// The Jobs to delete, oldest first. Jobs already being deleted are neither counted nor deleted again.
pub fn over_limit<'a>(cj: &CronJob, jobs: &'a [Job]) -> Vec<&'a Job> {
    let spec = cj.spec.as_ref();
    let mut out = Vec::new();
    for (limit, kind) in [
        (spec.and_then(|s| s.successful_jobs_history_limit), JobConditionType::Complete),
        (spec.and_then(|s| s.failed_jobs_history_limit), JobConditionType::Failed),
    ] {
        let Some(limit) = limit else { continue };
        let mut finished: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none() && finished_condition(j) == Some(kind))
            .collect();
        let excess = finished.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
        finished.sort_by(|a, b| by_start_time(a, b));
        out.extend(finished.into_iter().take(excess));
    }
    out
}

/// Started Jobs first, earliest start first; ties (including never started) by name.
fn by_start_time(a: &Job, b: &Job) -> Ordering {
    let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    let name = |j: &Job| j.metadata.name.clone().unwrap_or_default();
    match (start(a), start(b)) {
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (x, y) if x == y => name(a).cmp(&name(b)),
        (x, y) => x.cmp(&y),
    }
}
