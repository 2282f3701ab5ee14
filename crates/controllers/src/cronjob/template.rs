//! The Job a CronJob starts for one scheduled time (upstream `getJobFromTemplate2`), and references to Jobs.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use runlet_api::cron;
use runlet_api::cronjob::SCHEDULED_TIMESTAMP_ANNOTATION;
use runlet_codec::{CronJob, Job, ObjectMeta, ObjectReference, OwnerReference};

pub const CRONJOB_KIND: &str = "CronJob";
pub const JOB_KIND: &str = "Job";
pub const BATCH_V1: &str = "batch/v1";

/// `<cronjob>-<scheduled time in minutes since the epoch>`: the same name for the same scheduled time, so a
/// second attempt to start it finds the first.
pub fn job_name(cj: &CronJob, scheduled: Timestamp) -> String {
    format!("{}-{}", cj.metadata.name.as_deref().unwrap_or_default(), scheduled.as_second().div_euclid(60))
}

/// The controller reference a CronJob puts on its Jobs.
pub fn controller_ref(cj: &CronJob) -> OwnerReference {
    OwnerReference {
        api_version: BATCH_V1.to_string(),
        kind: CRONJOB_KIND.to_string(),
        name: cj.metadata.name.clone().unwrap_or_default(),
        uid: cj.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The Job for `scheduled`: the template's labels, annotations (plus the scheduled time, RFC 3339 in the
/// CronJob's time zone, UTC without one) and spec, controlled by the CronJob.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp) -> Job {
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    let zone = cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()).unwrap_or("");
    let tz = cron::load_location(zone, &TimeZone::UTC).unwrap_or(TimeZone::UTC);
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.to_string(), rfc3339(scheduled, &tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's `time.RFC3339` layout: `Z` for a zero offset, `+01:00` otherwise.
fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    let zoned = t.to_zoned(tz.clone());
    let offset = zoned.offset();
    let wall = zoned.strftime("%Y-%m-%dT%H:%M:%S");
    if offset.seconds() == 0 { format!("{wall}Z") } else { format!("{wall}{}", zoned.strftime("%:z")) }
}

/// How the active list refers to a Job (upstream `ref.GetReference`).
pub fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some(BATCH_V1.to_string()),
        kind: Some(JOB_KIND.to_string()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Whether the CronJob controls `job` (its controller reference has the CronJob's uid).
pub fn is_controlled_by(job: &Job, cj: &CronJob) -> bool {
    controller_of(job).is_some_and(|o| Some(&o.uid) == cj.metadata.uid.as_ref())
}

/// Whether `job` names a CronJob called `name` as its controller: such Jobs are the CronJob's to reconcile.
pub fn names_as_controller(job: &Job, name: &str) -> bool {
    controller_of(job).is_some_and(|o| o.kind == CRONJOB_KIND && o.name == name)
}

/// The Job's owner reference marked `controller: true`, if any.
pub fn controller_of(job: &Job) -> Option<&OwnerReference> {
    runlet_api::meta::controller_of(&job.metadata)
}
