//! Upstream `ValidateCronJobCreate`, `ValidateCronJobUpdate` and `validateCronJobSpec`, in upstream's order so
//! that multi-error messages match.

use jiff::tz::TimeZone;
use runlet_codec::{CronJob, CronJobSpec};

use super::{CONCURRENCY_POLICIES, MAX_NAME_LENGTH};
use crate::cron;
use crate::field::{ErrorKind, FieldError, quote};
use crate::meta::{self, gofmt, nonnegative};
use crate::names;

pub(super) fn validate_create(cj: &CronJob) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&cj.metadata, true, names::dns1123_subdomain);
    errs.extend(validate_spec(cj.spec.as_ref(), None));
    let name = cj.metadata.name.as_deref().unwrap_or("");
    if name.len() > MAX_NAME_LENGTH {
        errs.push(FieldError::invalid(
            "metadata.name",
            quote(name),
            format!("must be no more than {MAX_NAME_LENGTH} characters"),
        ));
    }
    errs
}

pub(super) fn validate_update(new: &CronJob, old: &CronJob) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    let old_spec = old.spec.clone().unwrap_or_default();
    errs.extend(validate_spec(new.spec.as_ref(), Some(&old_spec)));
    errs
}

fn validate_spec(spec: Option<&CronJobSpec>, old: Option<&CronJobSpec>) -> Vec<FieldError> {
    let empty = CronJobSpec::default();
    let spec = spec.unwrap_or(&empty);
    let mut errs = Vec::new();
    if spec.schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        // An update may keep a `TZ=` that an older version let in.
        let allow_tz = old.is_some_and(|o| o.schedule.contains("TZ"));
        errs.extend(validate_schedule(&spec.schedule, allow_tz, spec.time_zone.as_deref()));
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        errs.extend(nonnegative(deadline, "spec.startingDeadlineSeconds"));
    }
    if old.is_none_or(|o| o.time_zone != spec.time_zone) {
        errs.extend(validate_time_zone(spec.time_zone.as_deref()));
    }
    match spec.concurrency_policy.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        p if CONCURRENCY_POLICIES.contains(&p) => {}
        other => errs.push(FieldError::unsupported("spec.concurrencyPolicy", other, &CONCURRENCY_POLICIES)),
    }
    errs.extend(validate_job_template(spec));
    for (field, limit) in [
        ("successfulJobsHistoryLimit", spec.successful_jobs_history_limit),
        ("failedJobsHistoryLimit", spec.failed_jobs_history_limit),
    ] {
        if let Some(limit) = limit {
            errs.extend(nonnegative(i64::from(limit), &format!("spec.{field}")));
        }
    }
    errs
}

fn validate_schedule(schedule: &str, allow_tz: bool, time_zone: Option<&str>) -> Vec<FieldError> {
    let path = "spec.schedule";
    let mut errs = Vec::new();
    if let Err(e) = cron::parse_standard(schedule, &TimeZone::UTC) {
        errs.push(FieldError::invalid(path, quote(schedule), e.to_string()));
    }
    let has_tz = schedule.contains("TZ");
    if allow_tz && has_tz && time_zone.is_some() {
        errs.push(FieldError::invalid(
            path,
            quote(schedule),
            "cannot use both timeZone field and TZ or CRON_TZ in schedule",
        ));
    } else if !allow_tz && has_tz {
        errs.push(FieldError::invalid(
            path,
            quote(schedule),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    errs
}

/// An IANA name part: letters, digits, `.`, `-`, `_`, `+`, 1 to 14 of them.
fn valid_zone_part(part: &str) -> bool {
    (1..=14).contains(&part.len())
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        && part != "."
        && part != ".."
        && !part.starts_with('-')
}

fn validate_time_zone(time_zone: Option<&str>) -> Vec<FieldError> {
    let path = "spec.timeZone";
    let Some(tz) = time_zone else { return Vec::new() };
    if tz.is_empty() {
        return vec![FieldError::invalid(path, quote(tz), "timeZone must be nil or non-empty string")];
    }
    if !tz.split('/').all(valid_zone_part) {
        return vec![FieldError::invalid(path, quote(tz), format!("unknown time zone {tz}"))];
    }
    let mut errs = Vec::new();
    if tz.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path,
            quote(tz),
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if let Err(e) = cron::load_location(tz, &TimeZone::UTC) {
        errs.push(FieldError::invalid(path, quote(tz), e));
    }
    errs
}

/// Upstream `ValidateJobTemplateSpec`: the Job spec rules under `spec.jobTemplate.spec`, and no selector of its
/// own (each Job gets a generated one).
fn validate_job_template(spec: &CronJobSpec) -> Vec<FieldError> {
    let empty = Default::default();
    let job_spec = spec.job_template.spec.as_ref().unwrap_or(&empty);
    let mut errs: Vec<FieldError> = crate::job::validate_template_spec(job_spec)
        .into_iter()
        .map(|mut e| {
            e.path = format!("spec.jobTemplate.{}", e.path);
            e
        })
        .collect();
    if let Some(selector) = &job_spec.selector {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            gofmt::label_selector(selector),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.manual_selector == Some(true) {
        errs.push(FieldError::new(
            ErrorKind::Unsupported,
            "spec.jobTemplate.spec.manualSelector",
            Some("true".to_string()),
            "supported values: \"nil\", \"false\"",
        ));
    }
    errs
}
