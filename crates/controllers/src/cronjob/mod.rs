//! The pure core of the CronJob controller: Kubernetes v1.33 `syncCronJob` and `cleanupFinishedJobs` as
//! functions of the CronJob, its Jobs, the time and the local time zone.
//!
//! One sync, driven by a runner that does the I/O:
//!
//! 1. [`lookups`]: live reads the caches cannot answer (re-read the CronJob when it controls an unfinished Job
//!    its active list lacks; GET each active Job the Job cache does not have). A failed read ends the sync
//!    with an error (rate-limited retry).
//! 2. [`sync`] with what they found → [`Plan`]: record [`Plan::events`].
//! 3. Delete [`Plan::cleanup`] (Background propagation; `SuccessfulDelete`/`FailedDelete` events, see
//!    [`deleted_event`]).
//! 4. If [`Plan::start`]: delete (Background) each of [`Start::replace`], removing it from the active list
//!    ([`remove_active`]); a failed delete ends the sync with an error after the status write. Then create
//!    [`Start::job`]: on success record [`created_event`]; on AlreadyExists GET the Job and go on only if the
//!    CronJob controls it and its active list lacks it; on a namespace being terminated stop; on any other error
//!    record [`failed_create_event`] and end with an error. Then [`started`] adds it to the active list.
//! 5. Write the status if it differs from the stored one (compare-and-swap; a conflict retries the sync).
//! 6. Look again after [`Plan::requeue_after`].

mod history;
mod schedule;
mod template;

#[cfg(test)]
mod tests;

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use runlet_api::cron;
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::{CronJob, CronJobStatus, Job, ObjectReference, Time};

pub use crate::job::JobEvent as Event;
pub use schedule::{MAX_MISSED_START_TIMES, Missed, NEXT_SCHEDULE_DELTA, Recent, format_schedule, most_recent};
pub use template::{
    BATCH_V1, CRONJOB_KIND, JOB_KIND, controller_of, controller_ref, is_controlled_by, job_from_template, job_name,
    job_ref, names_as_controller,
};

/// What one sync looks at.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The CronJob as cached (defaulted).
    pub cronjob: &'a CronJob,
    /// The Jobs in its namespace whose controller reference names it.
    pub jobs: &'a [Job],
    pub now: Timestamp,
    /// The zone of schedules without `timeZone` (the controller's own, as in Kubernetes).
    pub local: &'a TimeZone,
}

/// Live reads a sync needs first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// It controls unfinished Jobs its cached active list lacks: read the CronJob again.
    pub reread_cronjob: bool,
    /// Active Jobs the Job cache does not have: are they really gone?
    pub check_jobs: Vec<ObjectReference>,
}

/// What the live reads found.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The CronJob read again, when [`Lookups::reread_cronjob`].
    pub fresh: Option<CronJob>,
    /// UIDs of [`Lookups::check_jobs`] whose GET answered NotFound.
    pub gone: Vec<String>,
}

/// Everything one sync wants done.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The CronJob to write back: its status with the active list and `lastSuccessfulTime` brought up to date
    /// (possibly the freshly read copy, which then is the one to write over).
    pub cronjob: CronJob,
    pub events: Vec<Event>,
    /// Finished Jobs beyond the history limits, oldest first.
    pub cleanup: Vec<ObjectReference>,
    pub start: Option<Start>,
    /// When to look again (the next scheduled time); None when there is nothing to wait for.
    pub requeue_after: Option<Duration>,
}

/// A Job to start now.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub scheduled: Timestamp,
    pub job: Job,
    /// Running Jobs to delete first (`concurrencyPolicy: Replace`).
    pub replace: Vec<ObjectReference>,
}

/// `Complete` or `Failed`: the first terminal condition that is True.
pub fn finished_condition(job: &Job) -> Option<JobConditionType> {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions.iter().filter(|c| c.status == ConditionStatus::True).find_map(|c| {
        match JobConditionType::parse(&c.type_) {
            Some(t @ (JobConditionType::Complete | JobConditionType::Failed)) => Some(t),
            _ => None,
        }
    })
}

fn uid_of(job: &Job) -> &str {
    job.metadata.uid.as_deref().unwrap_or_default()
}

fn active(cj: &CronJob) -> &[ObjectReference] {
    cj.status.as_ref().and_then(|s| s.active.as_deref()).unwrap_or_default()
}

fn in_active(cj: &CronJob, uid: &str) -> bool {
    active(cj).iter().any(|r| r.uid.as_deref() == Some(uid))
}

/// Removes the Job with `uid` from the active list (an empty list is left out, as upstream's is).
pub fn remove_active(status: &mut CronJobStatus, uid: &str) {
    if let Some(list) = status.active.as_mut() {
        list.retain(|r| r.uid.as_deref() != Some(uid));
    }
    if status.active.as_ref().is_some_and(Vec::is_empty) {
        status.active = None;
    }
}

/// Records a started Job: it joins the active list and its time becomes `lastScheduleTime`.
pub fn started(status: &mut CronJobStatus, job: &Job, scheduled: Timestamp) {
    status.active.get_or_insert_with(Vec::new).push(job_ref(job));
    status.last_schedule_time = Some(Time(scheduled));
}

/// Step 1: the live reads the caches cannot stand in for.
pub fn lookups(input: &SyncInput<'_>) -> Lookups {
    let cj = input.cronjob;
    let reread_cronjob = input.jobs.iter().any(|j| !in_active(cj, uid_of(j)) && finished_condition(j).is_none());
    let check_jobs = active(cj)
        .iter()
        .filter(|r| !input.jobs.iter().any(|j| Some(uid_of(j)) == r.uid.as_deref()))
        .cloned()
        .collect();
    Lookups { reread_cronjob, check_jobs }
}

/// Step 2: reconciles the active list with the Jobs, then decides whether a Job is due.
pub fn sync(input: &SyncInput<'_>, observed: &Observed) -> Plan {
    let mut events = Vec::new();
    let mut cj = input.cronjob.clone();
    let cleanup = history::over_limit(&cj, input.jobs).into_iter().map(job_ref).collect();
    for job in input.jobs {
        let uid = uid_of(job);
        let name = job.metadata.name.as_deref().unwrap_or_default();
        let found = in_active(&cj, uid);
        let finished = finished_condition(job);
        match finished {
            None if !found => {
                if let Some(fresh) = observed.fresh.as_ref().filter(|f| in_active(f, uid)) {
                    // The cached CronJob was behind its own status write.
                    cj = fresh.clone();
                    continue;
                }
                events.push(Event::warning(
                    "UnexpectedJob",
                    &format!("Saw a job that the controller did not create or forgot: {name}"),
                ));
            }
            Some(condition) if found => {
                remove_active(cj.status.get_or_insert_with(Default::default), uid);
                events.push(Event::normal(
                    "SawCompletedJob",
                    &format!("Saw completed job: {name}, condition: {condition}"),
                ));
            }
            _ => {}
        }
        if finished == Some(JobConditionType::Complete)
            && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.as_ref())
        {
            let status = cj.status.get_or_insert_with(Default::default);
            if status.last_successful_time.as_ref().is_none_or(|t| done.0 > t.0) {
                status.last_successful_time = Some(done.clone());
            }
        }
    }
    for uid in &observed.gone {
        if let Some(r) = active(&cj).iter().find(|r| r.uid.as_deref() == Some(uid.as_str())) {
            let name = r.name.clone().unwrap_or_default();
            events.push(Event::normal("MissingJob", &format!("Active job went missing: {name}")));
            remove_active(cj.status.get_or_insert_with(Default::default), uid);
        }
    }
    let (start, requeue_after) = decide(&cj, input.now, input.local, &mut events);
    Plan { cronjob: cj, events, cleanup, start, requeue_after }
}

/// Whether a Job is due now, and when to look again.
fn decide(
    cj: &CronJob,
    now: Timestamp,
    local: &TimeZone,
    events: &mut Vec<Event>,
) -> (Option<Start>, Option<Duration>) {
    let Some(spec) = cj.spec.as_ref().filter(|_| cj.metadata.deletion_timestamp.is_none()) else {
        return (None, None);
    };
    if let Some(tz) = spec.time_zone.as_deref()
        && let Err(e) = cron::load_location(tz, local)
    {
        events.push(Event::warning("UnknownTimeZone", &format!("invalid timeZone: {}: {e}", go_quote(tz))));
        return (None, None);
    }
    if spec.suspend == Some(true) {
        return (None, None);
    }
    if spec.schedule.contains("TZ") {
        events.push(Event::warning(
            "UnsupportedSchedule",
            &format!(
                "CRON_TZ or TZ used in schedule {} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                go_quote(&spec.schedule)
            ),
        ));
    }
    let sched = match cron::parse_standard(&format_schedule(cj, local), local) {
        Ok(s) => s,
        Err(e) => {
            let message = format!("unparseable schedule: {} : {e}", go_quote(&spec.schedule));
            events.push(Event::warning("UnparseableSchedule", &message));
            return (None, None);
        }
    };
    let requeue = |cj: &CronJob| schedule::requeue_after(cj, now, &sched);
    let scheduled = match most_recent(cj, now, &sched, true) {
        Err(e) => {
            events.push(Event::warning("InvalidSchedule", &format!("invalid schedule: {} : {e}", spec.schedule)));
            return (None, None);
        }
        Ok(Recent { most_recent: None, .. }) => return (None, requeue(cj)),
        Ok(Recent { most_recent: Some(t), missed, .. }) => {
            if missed == Missed::Many {
                events.push(Event::warning(
                    "TooManyMissedTimes",
                    "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                ));
            }
            t
        }
    };
    if let Some(deadline) = spec.starting_deadline_seconds
        && scheduled.checked_add(jiff::SignedDuration::from_secs(deadline)).is_ok_and(|end| end < now)
    {
        let at = scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000");
        events.push(Event::warning("MissSchedule", &format!("Missed scheduled time to start a job: {at}")));
        return (None, requeue(cj));
    }
    let name = job_name(cj, scheduled);
    let last = cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
    let namespace = cj.metadata.namespace.as_deref();
    let active_jobs = active(cj);
    if active_jobs.iter().any(|r| r.name.as_deref() == Some(&name) && r.namespace.as_deref() == namespace)
        || last == Some(scheduled)
    {
        return (None, requeue(cj));
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or(runlet_api::cronjob::ALLOW);
    if policy == runlet_api::cronjob::FORBID && !active_jobs.is_empty() {
        events.push(Event::normal(
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid",
        ));
        return (None, requeue(cj));
    }
    let replace = if policy == runlet_api::cronjob::REPLACE { active_jobs.to_vec() } else { Vec::new() };
    let job = job_from_template(cj, scheduled);
    // When to look again once it started: after the new lastScheduleTime.
    let mut after = cj.clone();
    started(after.status.get_or_insert_with(Default::default), &job, scheduled);
    (Some(Start { scheduled, job, replace }), requeue(&after))
}

/// Go's `%q` of a string.
fn go_quote(s: &str) -> String {
    runlet_api::field::quote(s)
}

/// `SuccessfulCreate`, after the Job was created.
pub fn created_event(job_name: &str) -> Event {
    Event::normal("SuccessfulCreate", &format!("Created job {job_name}"))
}

/// `FailedCreate` (not for AlreadyExists or a terminating namespace).
pub fn failed_create_event(error: &str) -> Event {
    Event::warning("FailedCreate", &format!("Error creating job: {error}"))
}

/// `SuccessfulDelete` or `FailedDelete`, after deleting a Job (history cleanup or Replace).
pub fn deleted_event(job_name: &str, error: Option<&str>) -> Event {
    match error {
        None => Event::normal("SuccessfulDelete", &format!("Deleted job {job_name}")),
        Some(e) => Event::warning("FailedDelete", &format!("Deleted job: {e}")),
    }
}

/// `FailedGet`, when a Job to replace could not be read.
pub fn failed_get_event(error: &str) -> Event {
    Event::warning("FailedGet", &format!("Get job: {error}"))
}
