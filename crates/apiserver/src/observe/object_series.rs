//! kube-state-metrics' object series for Jobs, CronJobs and Pods, computed from the store at each scrape, with
//! kube-state-metrics' names, types and labels: the monitoring mixin's alerts (`KubeJobFailed`,
//! `KubeJobNotCompleted`, ...) and dashboards built on them read runlet as they read a cluster.
//!
//! Pure: objects in, [`Sample`]s out; [`registry`] turns samples into a registry for the scrape.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use runlet_api::vocab::{ConditionStatus, JobConditionType, PodConditionType, PodPhase};
use runlet_metrics::prometheus_client::metrics::counter::Counter;
use runlet_metrics::prometheus_client::metrics::family::Family;
use runlet_metrics::prometheus_client::metrics::gauge::Gauge;
use runlet_metrics::prometheus_client::registry::Registry;
use serde_json::Value;

/// The type a family is declared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Gauge,
    Counter,
}

/// One family's declaration: the name as scraped (counters with their `_total`), help and type.
pub struct Declaration {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
}

const fn gauge(name: &'static str, help: &'static str) -> Declaration {
    Declaration { name, help, kind: Type::Gauge }
}

const fn counter(name: &'static str, help: &'static str) -> Declaration {
    Declaration { name, help, kind: Type::Counter }
}

/// Every object family, as kube-state-metrics declares it.
pub const FAMILIES: &[Declaration] = &[
    gauge("kube_job_info", "Information about job."),
    gauge("kube_job_created", "Unix creation timestamp"),
    gauge("kube_job_owner", "Information about the Job's owner."),
    gauge("kube_job_spec_parallelism", "The maximum desired number of pods the job should run at any given time."),
    gauge("kube_job_spec_completions", "The desired number of successfully finished pods the job should be run with."),
    gauge(
        "kube_job_spec_active_deadline_seconds",
        "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.",
    ),
    gauge("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded."),
    gauge("kube_job_status_failed", "The number of pods which reached Phase Failed and the reason for failure."),
    gauge("kube_job_status_active", "The number of actively running pods."),
    gauge("kube_job_complete", "The job has completed its execution."),
    gauge("kube_job_failed", "The job has failed its execution."),
    gauge("kube_job_status_start_time", "StartTime represents time when the job was acknowledged by the Job Manager."),
    gauge("kube_job_status_completion_time", "CompletionTime represents time when the job was completed."),
    gauge("kube_cronjob_info", "Info about cronjob."),
    gauge("kube_cronjob_created", "Unix creation timestamp"),
    gauge("kube_cronjob_status_active", "Active holds pointers to currently running jobs."),
    gauge(
        "kube_cronjob_status_last_schedule_time",
        "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.",
    ),
    gauge(
        "kube_cronjob_status_last_successful_time",
        "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.",
    ),
    gauge("kube_cronjob_spec_suspend", "Suspend flag tells the controller to suspend subsequent executions."),
    gauge(
        "kube_cronjob_spec_starting_deadline_seconds",
        "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
    ),
    gauge(
        "kube_cronjob_spec_successful_job_history_limit",
        "Successful job history limit tells the controller how many completed jobs should be preserved.",
    ),
    gauge(
        "kube_cronjob_spec_failed_job_history_limit",
        "Failed job history limit tells the controller how many failed jobs should be preserved.",
    ),
    gauge("kube_pod_info", "Information about pod."),
    gauge("kube_pod_owner", "Information about the Pod's owner."),
    gauge("kube_pod_created", "Unix creation timestamp"),
    gauge("kube_pod_start_time", "Start time in unix timestamp for a pod."),
    gauge("kube_pod_status_phase", "The pods current phase."),
    gauge("kube_pod_status_ready", "Describes whether the pod is ready to serve requests."),
    gauge("kube_pod_container_status_running", "Describes whether the container is currently in running state."),
    gauge("kube_pod_container_status_terminated", "Describes whether the container is currently in terminated state."),
    gauge("kube_pod_container_status_waiting", "Describes whether the container is currently in waiting state."),
    counter("kube_pod_container_status_restarts_total", "The number of container restarts per container."),
];

/// One series: a family name, its labels (in kube-state-metrics' order) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// The conditions kube-state-metrics reports for a condition type: one series per status, 1 on the present one.
const CONDITION_STATUSES: [(&str, ConditionStatus); 3] =
    [("true", ConditionStatus::True), ("false", ConditionStatus::False), ("unknown", ConditionStatus::Unknown)];
/// In kube-state-metrics' order.
const POD_PHASES: [PodPhase; 5] =
    [PodPhase::Pending, PodPhase::Succeeded, PodPhase::Failed, PodPhase::Unknown, PodPhase::Running];

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn number_at(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

/// An RFC 3339 time as Unix seconds.
fn time_at(v: &Value, pointer: &str) -> Option<f64> {
    let t: jiff::Timestamp = v.pointer(pointer).and_then(Value::as_str)?.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Collects the samples of one object, with its identifying labels on each.
struct Out<'a> {
    samples: &'a mut Vec<Sample>,
    identity: Vec<(&'static str, String)>,
}

impl Out<'_> {
    fn push(&mut self, name: &'static str, extra: &[(&'static str, &str)], value: f64) {
        let mut labels = self.identity.clone();
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
        self.samples.push(Sample { name, labels, value });
    }

    fn push_some(&mut self, name: &'static str, value: Option<f64>) {
        if let Some(value) = value {
            self.push(name, &[], value);
        }
    }

    /// `<kind>_owner`: one series per owner reference, or one `<none>` series without owners.
    fn owners(&mut self, name: &'static str, object: &Value) {
        let owners = object.pointer("/metadata/ownerReferences").and_then(Value::as_array);
        match owners.filter(|o| !o.is_empty()) {
            None => self.push(
                name,
                &[("owner_kind", "<none>"), ("owner_name", "<none>"), ("owner_is_controller", "<none>")],
                1.0,
            ),
            Some(owners) => {
                for owner in owners {
                    let controller = owner.get("controller").and_then(Value::as_bool).unwrap_or(false);
                    self.push(
                        name,
                        &[
                            ("owner_kind", str_at(owner, "/kind")),
                            ("owner_name", str_at(owner, "/name")),
                            ("owner_is_controller", if controller { "true" } else { "false" }),
                        ],
                        1.0,
                    );
                }
            }
        }
    }

    /// One series per condition status for every condition of `type_`.
    fn condition(&mut self, name: &'static str, object: &Value, type_: &str) {
        let conditions = object.pointer("/status/conditions").and_then(Value::as_array);
        for condition in conditions.into_iter().flatten().filter(|c| str_at(c, "/type") == type_) {
            let status = str_at(condition, "/status");
            for (label, wanted) in CONDITION_STATUSES {
                self.push(name, &[("condition", label)], bool_value(status == wanted));
            }
        }
    }
}

fn condition_reason<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    let conditions = object.pointer("/status/conditions").and_then(Value::as_array)?;
    conditions
        .iter()
        .find(|c| str_at(c, "/type") == type_ && str_at(c, "/status") == ConditionStatus::True)
        .map(|c| str_at(c, "/reason"))
}

/// The series of one Job.
pub fn job(job: &Value, samples: &mut Vec<Sample>) {
    let identity = vec![
        ("namespace", str_at(job, "/metadata/namespace").to_string()),
        ("job_name", str_at(job, "/metadata/name").to_string()),
    ];
    let mut out = Out { samples, identity };
    out.push("kube_job_info", &[], 1.0);
    out.push_some("kube_job_created", time_at(job, "/metadata/creationTimestamp"));
    out.owners("kube_job_owner", job);
    out.push_some("kube_job_spec_parallelism", number_at(job, "/spec/parallelism"));
    out.push_some("kube_job_spec_completions", number_at(job, "/spec/completions"));
    out.push_some("kube_job_spec_active_deadline_seconds", number_at(job, "/spec/activeDeadlineSeconds"));
    let count = |field: &str| number_at(job, &format!("/status/{field}")).unwrap_or(0.0);
    out.push("kube_job_status_succeeded", &[], count("succeeded"));
    // The reason of the Failed condition, when there is one (BackoffLimitExceeded, DeadlineExceeded, ...).
    let reason = condition_reason(job, JobConditionType::Failed.as_str()).unwrap_or("");
    out.push("kube_job_status_failed", &[("reason", reason)], count("failed"));
    out.push("kube_job_status_active", &[], count("active"));
    out.condition("kube_job_complete", job, JobConditionType::Complete.as_str());
    out.condition("kube_job_failed", job, JobConditionType::Failed.as_str());
    out.push_some("kube_job_status_start_time", time_at(job, "/status/startTime"));
    out.push_some("kube_job_status_completion_time", time_at(job, "/status/completionTime"));
}

/// The series of one CronJob.
pub fn cronjob(cronjob: &Value, samples: &mut Vec<Sample>) {
    let identity = vec![
        ("namespace", str_at(cronjob, "/metadata/namespace").to_string()),
        ("cronjob", str_at(cronjob, "/metadata/name").to_string()),
    ];
    let mut out = Out { samples, identity };
    let policy = cronjob.pointer("/spec/concurrencyPolicy").and_then(Value::as_str).unwrap_or("Allow");
    out.push(
        "kube_cronjob_info",
        &[("schedule", str_at(cronjob, "/spec/schedule")), ("concurrency_policy", policy)],
        1.0,
    );
    out.push_some("kube_cronjob_created", time_at(cronjob, "/metadata/creationTimestamp"));
    let active = cronjob.pointer("/status/active").and_then(Value::as_array).map_or(0, Vec::len);
    out.push("kube_cronjob_status_active", &[], active as f64);
    out.push_some("kube_cronjob_status_last_schedule_time", time_at(cronjob, "/status/lastScheduleTime"));
    out.push_some("kube_cronjob_status_last_successful_time", time_at(cronjob, "/status/lastSuccessfulTime"));
    let suspended = cronjob.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false);
    out.push("kube_cronjob_spec_suspend", &[], bool_value(suspended));
    out.push_some("kube_cronjob_spec_starting_deadline_seconds", number_at(cronjob, "/spec/startingDeadlineSeconds"));
    out.push_some(
        "kube_cronjob_spec_successful_job_history_limit",
        number_at(cronjob, "/spec/successfulJobsHistoryLimit"),
    );
    out.push_some("kube_cronjob_spec_failed_job_history_limit", number_at(cronjob, "/spec/failedJobsHistoryLimit"));
}

/// The series of one Pod.
pub fn pod(pod: &Value, samples: &mut Vec<Sample>) {
    let identity = vec![
        ("namespace", str_at(pod, "/metadata/namespace").to_string()),
        ("pod", str_at(pod, "/metadata/name").to_string()),
        ("uid", str_at(pod, "/metadata/uid").to_string()),
    ];
    let mut out = Out { samples, identity };
    let controller = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|owners| owners.iter().find(|o| o.get("controller").and_then(Value::as_bool) == Some(true)));
    let (created_by_kind, created_by_name) =
        controller.map_or(("<none>", "<none>"), |o| (str_at(o, "/kind"), str_at(o, "/name")));
    let host_network = pod.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false);
    out.push(
        "kube_pod_info",
        &[
            ("host_ip", str_at(pod, "/status/hostIP")),
            ("pod_ip", str_at(pod, "/status/podIP")),
            ("node", str_at(pod, "/spec/nodeName")),
            ("created_by_kind", created_by_kind),
            ("created_by_name", created_by_name),
            ("priority_class", str_at(pod, "/spec/priorityClassName")),
            ("host_network", if host_network { "true" } else { "false" }),
        ],
        1.0,
    );
    out.owners("kube_pod_owner", pod);
    out.push_some("kube_pod_created", time_at(pod, "/metadata/creationTimestamp"));
    out.push_some("kube_pod_start_time", time_at(pod, "/status/startTime"));
    let phase = str_at(pod, "/status/phase");
    if !phase.is_empty() {
        for p in POD_PHASES {
            out.push("kube_pod_status_phase", &[("phase", p.as_str())], bool_value(phase == p));
        }
    }
    out.condition("kube_pod_status_ready", pod, PodConditionType::Ready.as_str());
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
    for status in statuses.into_iter().flatten() {
        let container = str_at(status, "/name");
        let in_state = |s: &str| bool_value(status.pointer(&format!("/state/{s}")).is_some());
        out.push("kube_pod_container_status_running", &[("container", container)], in_state("running"));
        out.push("kube_pod_container_status_terminated", &[("container", container)], in_state("terminated"));
        out.push("kube_pod_container_status_waiting", &[("container", container)], in_state("waiting"));
        let restarts = number_at(status, "/restartCount").unwrap_or(0.0);
        out.push("kube_pod_container_status_restarts_total", &[("container", container)], restarts);
    }
}

type Labels = Vec<(&'static str, String)>;

/// A registry holding `samples`, each family declared as [`FAMILIES`] says.
pub fn registry(samples: Vec<Sample>) -> Registry {
    let mut by_name: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        by_name.entry(s.name).or_default().push(s);
    }
    let mut registry = Registry::default();
    for family in FAMILIES {
        let Some(samples) = by_name.remove(family.name) else { continue };
        match family.kind {
            Type::Gauge => {
                let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
                for s in samples {
                    f.get_or_create(&s.labels).set(s.value);
                }
                registry.register(family.name, family.help.trim_end_matches('.'), f);
            }
            Type::Counter => {
                let f = Family::<Labels, Counter<f64, AtomicU64>>::default();
                for s in samples {
                    f.get_or_create(&s.labels).inc_by(s.value);
                }
                // The crate appends `_total` to counters itself.
                let name = family.name.trim_end_matches("_total");
                registry.register(name, family.help.trim_end_matches('.'), f);
            }
        }
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (family, a label its series must carry, the values of the matching series in order)
    type FamilyCase = (&'static str, Option<(&'static str, &'static str)>, Vec<f64>);

    fn find<'a>(samples: &'a [Sample], name: &str, label: Option<(&str, &str)>) -> Vec<&'a Sample> {
        samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.iter().any(|(lk, lv)| *lk == k && lv == v)))
            .collect()
    }

    #[test]
    fn every_sample_belongs_to_a_declared_family() {
        let mut samples = Vec::new();
        job(&failed_job(), &mut samples);
        pod(
            &json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": [{"name": "c"}]}}),
            &mut samples,
        );
        cronjob(&json!({"metadata": {"name": "c"}, "spec": {"schedule": "* * * * *"}}), &mut samples);
        for s in &samples {
            assert!(FAMILIES.iter().any(|f| f.name == s.name), "{} is not declared", s.name);
        }
    }

    fn failed_job() -> Value {
        json!({
            "metadata": {"namespace": "default", "name": "bad", "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"kind": "CronJob", "name": "nightly", "controller": true}]},
            "spec": {"parallelism": 1, "completions": 1},
            "status": {"failed": 2, "startTime": "2026-01-01T00:00:01Z",
                "conditions": [{"type": "FailureTarget", "status": "True"},
                               {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
        })
    }

    #[test]
    fn job_series_as_kube_state_metrics_writes_them() {
        let complete = json!({
            "metadata": {"namespace": "default", "name": "ok"},
            "status": {"succeeded": 1, "completionTime": "2026-01-01T00:01:00Z",
                "conditions": [{"type": "Complete", "status": "True"}]}
        });
        let running = json!({"metadata": {"namespace": "default", "name": "busy"}, "status": {"active": 3}});
        let failed = failed_job();
        // (job, family, a label it must carry, the values of that family's series, in order)
        type Case<'a> = (&'a Value, &'a str, Option<(&'a str, &'a str)>, Vec<f64>);
        let cases: Vec<Case> = vec![
            (&failed, "kube_job_failed", Some(("condition", "true")), vec![1.0]),
            (&failed, "kube_job_failed", None, vec![1.0, 0.0, 0.0]),
            (&failed, "kube_job_complete", None, vec![]),
            (&failed, "kube_job_status_failed", Some(("reason", "BackoffLimitExceeded")), vec![2.0]),
            (&failed, "kube_job_status_start_time", None, vec![1_767_225_601.0]),
            (&failed, "kube_job_owner", Some(("owner_kind", "CronJob")), vec![1.0]),
            (&failed, "kube_job_spec_completions", None, vec![1.0]),
            (&complete, "kube_job_complete", Some(("condition", "true")), vec![1.0]),
            (&complete, "kube_job_failed", None, vec![]),
            (&complete, "kube_job_status_succeeded", None, vec![1.0]),
            (&complete, "kube_job_status_completion_time", None, vec![1_767_225_660.0]),
            (&complete, "kube_job_owner", Some(("owner_kind", "<none>")), vec![1.0]),
            (&complete, "kube_job_spec_completions", None, vec![]),
            (&running, "kube_job_status_active", Some(("job_name", "busy")), vec![3.0]),
            (&running, "kube_job_status_start_time", None, vec![]),
        ];
        for (object, family, label, want) in cases {
            let mut samples = Vec::new();
            job(object, &mut samples);
            let got: Vec<f64> = find(&samples, family, label).iter().map(|s| s.value).collect();
            assert_eq!(got, want, "{family} {label:?} of {}", object["metadata"]["name"]);
        }
    }

    #[test]
    fn pod_series_as_kube_state_metrics_writes_them() {
        let p = json!({
            "metadata": {"namespace": "default", "name": "bad-x", "uid": "u1",
                "ownerReferences": [{"kind": "Job", "name": "bad", "controller": true}]},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "main", "restartCount": 2, "state": {"terminated": {"exitCode": 1}}}]}
        });
        let mut samples = Vec::new();
        pod(&p, &mut samples);
        let cases: Vec<FamilyCase> = vec![
            ("kube_pod_status_phase", Some(("phase", "Failed")), vec![1.0]),
            ("kube_pod_status_phase", None, vec![0.0, 0.0, 1.0, 0.0, 0.0]),
            ("kube_pod_info", Some(("created_by_name", "bad")), vec![1.0]),
            ("kube_pod_owner", Some(("owner_is_controller", "true")), vec![1.0]),
            ("kube_pod_status_ready", Some(("condition", "false")), vec![1.0]),
            ("kube_pod_container_status_terminated", Some(("container", "main")), vec![1.0]),
            ("kube_pod_container_status_running", None, vec![0.0]),
            ("kube_pod_container_status_restarts_total", Some(("uid", "u1")), vec![2.0]),
        ];
        for (family, label, want) in cases {
            let got: Vec<f64> = find(&samples, family, label).iter().map(|s| s.value).collect();
            assert_eq!(got, want, "{family} {label:?}");
        }
        // No phase yet: no phase series at all, as kube-state-metrics.
        let mut samples = Vec::new();
        pod(&json!({"metadata": {"name": "new"}}), &mut samples);
        assert!(find(&samples, "kube_pod_status_phase", None).is_empty());
    }

    #[test]
    fn cronjob_series_as_kube_state_metrics_writes_them() {
        let c = json!({
            "metadata": {"namespace": "default", "name": "nightly"},
            "spec": {"schedule": "0 1 * * *", "suspend": true, "successfulJobsHistoryLimit": 3},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "2026-01-01T01:00:00Z"}
        });
        let mut samples = Vec::new();
        cronjob(&c, &mut samples);
        let cases: Vec<FamilyCase> = vec![
            ("kube_cronjob_info", Some(("concurrency_policy", "Allow")), vec![1.0]),
            ("kube_cronjob_info", Some(("schedule", "0 1 * * *")), vec![1.0]),
            ("kube_cronjob_status_active", Some(("cronjob", "nightly")), vec![1.0]),
            ("kube_cronjob_spec_suspend", None, vec![1.0]),
            ("kube_cronjob_status_last_schedule_time", None, vec![1_767_229_200.0]),
            ("kube_cronjob_spec_successful_job_history_limit", None, vec![3.0]),
            ("kube_cronjob_spec_failed_job_history_limit", None, vec![]),
        ];
        for (family, label, want) in cases {
            let got: Vec<f64> = find(&samples, family, label).iter().map(|s| s.value).collect();
            assert_eq!(got, want, "{family} {label:?}");
        }
    }

    #[test]
    fn the_registry_declares_each_family_with_its_type() {
        let mut samples = Vec::new();
        job(&failed_job(), &mut samples);
        pod(
            &json!({"metadata": {"name": "p"}, "status": {"containerStatuses": [{"name": "c", "restartCount": 1}]}}),
            &mut samples,
        );
        let mut text = String::new();
        runlet_metrics::prometheus_client::encoding::text::encode(&mut text, &registry(samples)).unwrap();
        for want in [
            "# TYPE kube_job_failed gauge",
            "# TYPE kube_job_status_start_time gauge",
            "# TYPE kube_pod_container_status_restarts counter",
            "kube_pod_container_status_restarts_total{namespace=\"\",pod=\"p\",uid=\"\",container=\"c\"} 1",
            "kube_job_failed{namespace=\"default\",job_name=\"bad\",condition=\"true\"} 1",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }
}
