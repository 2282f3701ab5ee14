//! `kubectl get cronjobs`: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE, wide CONTAINERS IMAGES
//! SELECTOR (upstream `printCronJob`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{AGE, Column, NAME, col, s, since};
use crate::codec::CronJob;
use crate::selector::format_api_selector;

const COLUMNS: [Column; 10] = [
    NAME,
    col("Schedule", "When Jobs are started, in cron syntax.", 0),
    col("Timezone", "The time zone the schedule is read in.", 0),
    Column { type_: "boolean", ..col("Suspend", "Whether new Jobs are held back.", 0) },
    Column { type_: "integer", ..col("Active", "How many of the CronJob's Jobs are running.", 0) },
    col("Last Schedule", "Time since a Job was last scheduled.", 0),
    AGE,
    col("Containers", "Names of each container in the template.", 1),
    col("Images", "Images referenced by each container in the template.", 1),
    col("Selector", "The selector of the Job template (generated for each Job when unset).", 1),
];

pub fn cronjob_columns() -> &'static [Column] {
    &COLUMNS
}

pub fn cronjob_cells(cj: &CronJob, now: Timestamp) -> Vec<Value> {
    let spec = cj.spec.as_ref();
    let status = cj.status.as_ref();
    let job = spec.and_then(|s| s.job_template.spec.as_ref());
    let containers = job.and_then(|j| j.template.spec.as_ref()).map(|p| p.containers.as_slice()).unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_deref().unwrap_or_default()).collect();
    let last_schedule = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .map_or_else(|| "<none>".to_string(), |t| since(Some(t), now));
    // Upstream prints the suspend flag as text in a boolean column, and `<unset>` when absent.
    let suspend = match spec.and_then(|s| s.suspend) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    vec![
        s(cj.metadata.name.clone().unwrap_or_default()),
        s(spec.map(|s| s.schedule.clone()).unwrap_or_default()),
        s(spec.and_then(|s| s.time_zone.clone()).unwrap_or_else(|| "<none>".to_string())),
        s(suspend),
        json!(status.and_then(|s| s.active.as_ref()).map_or(0, Vec::len)),
        s(last_schedule),
        s(since(cj.metadata.creation_timestamp.as_ref(), now)),
        s(names.join(",")),
        s(images.join(",")),
        s(job.and_then(|j| j.selector.as_ref()).map_or_else(|| "<none>".to_string(), format_api_selector)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let now: Timestamp = "2026-11-27T10:51:21Z".parse().unwrap();
        let cj = runlet_codec::decode_cron_job(&json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "creationTimestamp": "2026-11-27T10:41:21Z"},
            "spec": {"schedule": "*/1 * * * *", "timeZone": "Europe/Berlin", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                         {"name": "hello", "image": "busybox"}, {"name": "side"}]}}}}},
            "status": {"active": [{"name": "hello-1"}, {"name": "hello-2"}],
                       "lastScheduleTime": "2026-11-27T10:51:00Z"}
        }))
        .unwrap()
        .object;
        let cells = cronjob_cells(&cj, now);
        assert_eq!(cells.len(), cronjob_columns().len());
        assert_eq!(
            Value::Array(cells),
            json!([
                "hello",
                "*/1 * * * *",
                "Europe/Berlin",
                "False",
                2,
                "21s",
                "10m",
                "hello,side",
                "busybox,",
                "<none>"
            ])
        );
        let bare = cronjob_cells(&CronJob::default(), now);
        assert_eq!(
            Value::Array(bare),
            json!(["", "", "<none>", "<unset>", 0, "<none>", "<unknown>", "", "", "<none>"])
        );
    }
}
