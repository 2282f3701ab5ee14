//! The Job timeline: one row per pod slot, a bar per pod from creation → start → end, coloured by outcome.
//!
//! Pure: the Job, its pods and its events in, compact data out (times are milliseconds from the Job's creation,
//! a bar is one JSON array), which the page draws on a canvas. A slot is what a retry takes over: for an
//! Indexed Job its completion index; otherwise a pod created after a failed pod ended continues that pod's row,
//! so a failure, the back-off gap and the replacement read left to right on one line.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use runlet_api::vocab::{ConditionStatus, JobConditionType, PodPhase};
use serde::Serialize;
use serde::ser::SerializeTuple;

/// The annotation (and label) a pod of an Indexed Job carries its index in.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// One pod's bar. Serialized as `[row, created, started, ended, outcome, pod, exitCode, reason, restarts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub row: usize,
    /// Milliseconds from the timeline's origin.
    pub created: i64,
    /// When its first container started; None while it has not.
    pub started: Option<i64>,
    /// When it finished; None while it runs.
    pub ended: Option<i64>,
    pub outcome: Outcome,
    pub pod: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// Container restarts in place (`restartPolicy: OnFailure`).
    pub restarts: i32,
}

impl Serialize for Bar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(9)?;
        t.serialize_element(&self.row)?;
        t.serialize_element(&self.created)?;
        t.serialize_element(&self.started)?;
        t.serialize_element(&self.ended)?;
        t.serialize_element(&self.outcome)?;
        t.serialize_element(&self.pod)?;
        t.serialize_element(&self.exit_code)?;
        t.serialize_element(&self.reason)?;
        t.serialize_element(&self.restarts)?;
        t.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Milliseconds since the epoch that every other time counts from: the Job's (or its first pod's) creation.
    pub origin: i64,
    /// The time the timeline was made (where unfinished bars end).
    pub now: i64,
    pub indexed: bool,
    /// One label per row: `#3` for an index, else the row's first pod.
    pub rows: Vec<String>,
    pub bars: Vec<Bar>,
    /// `status.startTime + activeDeadlineSeconds`, when the Job has a deadline and has started.
    pub deadline: Option<i64>,
    /// Periods the Job was suspended: `[from, to]`, `to` null while it still is.
    pub suspended: Vec<(i64, Option<i64>)>,
}

fn millis(t: &Timestamp) -> i64 {
    t.as_millisecond()
}

/// Builds the timeline of `job` from its pods and the events about it, as of `now`.
pub fn build(job: &Job, pods: &[Pod], events: &[Event], now: Timestamp) -> Timeline {
    let spec = job.spec.as_ref();
    let indexed = spec.and_then(|s| s.completion_mode.as_deref()) == Some("Indexed");
    let job_created = job.metadata.creation_timestamp.as_ref().map(|t| millis(&t.0));
    let first_pod = pods.iter().filter_map(|p| p.metadata.creation_timestamp.as_ref()).map(|t| millis(&t.0)).min();
    let origin = match (job_created, first_pod) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or_else(|| millis(&now)),
    };
    let rel = |t: &Timestamp| millis(t) - origin;

    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |p: &Pod| (p.metadata.creation_timestamp.as_ref().map(|t| t.0), p.metadata.name.clone());
        key(a).cmp(&key(b))
    });

    let mut rows: Vec<String> = Vec::new();
    if indexed {
        let completions = spec.and_then(|s| s.completions).unwrap_or(0).max(0) as usize;
        rows = (0..completions).map(|i| format!("#{i}")).collect();
    }
    // For each non-indexed row: (its last bar's outcome, when that bar ended).
    let mut row_ends: Vec<(Outcome, Option<i64>)> = Vec::new();
    let mut bars = Vec::with_capacity(sorted.len());
    for pod in sorted {
        let mut bar = bar_of(pod, &rel);
        bar.row = if indexed {
            match completion_index(pod) {
                Some(i) => {
                    while rows.len() <= i {
                        rows.push(format!("#{}", rows.len()));
                    }
                    i
                }
                // A pod without an index (made by hand) gets a row of its own at the end.
                None => {
                    rows.push(bar.pod.clone());
                    rows.len() - 1
                }
            }
        } else {
            // The failed row that freed up earliest before this pod was created is the one it retries.
            let retried = row_ends
                .iter()
                .enumerate()
                .filter(|(_, (outcome, ended))| *outcome == Outcome::Failed && ended.is_some_and(|e| e <= bar.created))
                .min_by_key(|(i, (_, ended))| (*ended, *i))
                .map(|(i, _)| i);
            match retried {
                Some(i) => i,
                None => {
                    rows.push(bar.pod.clone());
                    row_ends.push((bar.outcome, bar.ended));
                    rows.len() - 1
                }
            }
        };
        if !indexed {
            row_ends[bar.row] = (bar.outcome, bar.ended);
        }
        bars.push(bar);
    }

    let deadline = spec.and_then(|s| s.active_deadline_seconds).and_then(|seconds| {
        let started = job.status.as_ref()?.start_time.as_ref()?;
        Some(rel(&started.0) + seconds * 1000)
    });

    Timeline { origin, now: rel(&now), indexed, rows, bars, deadline, suspended: suspended_periods(job, events, &rel) }
}

fn completion_index(pod: &Pod) -> Option<usize> {
    let meta = &pod.metadata;
    let from = |m: &Option<std::collections::BTreeMap<String, String>>| m.as_ref()?.get(COMPLETION_INDEX)?.parse().ok();
    from(&meta.annotations).or_else(|| from(&meta.labels))
}

fn bar_of(pod: &Pod, rel: &impl Fn(&Timestamp) -> i64) -> Bar {
    let status = pod.status.as_ref();
    let containers: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        .collect();
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| rel(&t.0)).unwrap_or(0);
    let started_at = containers
        .iter()
        .filter_map(|c| {
            let state = c.state.as_ref()?;
            let running = state.running.as_ref().and_then(|r| r.started_at.as_ref());
            let terminated = state.terminated.as_ref().and_then(|t| t.started_at.as_ref());
            running.or(terminated).map(|t| rel(&t.0))
        })
        .chain(containers.iter().filter_map(|c| {
            let last = c.last_state.as_ref()?.terminated.as_ref()?;
            last.started_at.as_ref().map(|t| rel(&t.0))
        }))
        .min();
    let outcome = match status.and_then(|s| s.phase.as_deref()).and_then(PodPhase::parse) {
        Some(PodPhase::Succeeded) => Outcome::Succeeded,
        Some(PodPhase::Failed) => Outcome::Failed,
        Some(PodPhase::Running) => Outcome::Running,
        Some(PodPhase::Pending | PodPhase::Unknown) | None => Outcome::Pending,
    };
    let finished = matches!(outcome, Outcome::Succeeded | Outcome::Failed);
    let terminated: Vec<_> =
        containers.iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| (c, t))).collect();
    let ended = finished.then(|| {
        let last_finish = terminated.iter().filter_map(|(_, t)| t.finished_at.as_ref()).map(|t| rel(&t.0)).max();
        // A pod failed before any container finished (deadline, eviction): its last condition change.
        let last_condition = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().filter_map(|c| c.last_transition_time.as_ref()).map(|t| rel(&t.0)).max());
        last_finish.or(last_condition).unwrap_or(created).max(created)
    });
    // The exit that decided the outcome: the first non-zero one, else the main container's.
    let decisive = terminated.iter().find(|(_, t)| t.exit_code != 0).or_else(|| terminated.last());
    let exit_code = decisive.map(|(_, t)| t.exit_code);
    let reason = status.and_then(|s| s.reason.clone()).or_else(|| decisive.and_then(|(_, t)| t.reason.clone()));
    let restarts = containers.iter().map(|c| c.restart_count).sum();
    Bar {
        row: 0,
        created,
        started: started_at.map(|s| s.max(created)),
        ended,
        outcome,
        pod: pod.metadata.name.clone().unwrap_or_default(),
        exit_code,
        reason,
        restarts,
    }
}

/// The Job's suspended periods, from its `Suspended`/`Resumed` events and its `Suspended` condition (whose
/// transition time is when the current state began, even after the events have expired).
fn suspended_periods(job: &Job, events: &[Event], rel: &impl Fn(&Timestamp) -> i64) -> Vec<(i64, Option<i64>)> {
    let mut changes: Vec<(i64, bool)> = events
        .iter()
        .filter_map(|e| {
            let suspended = match e.reason.as_deref()? {
                "Suspended" => true,
                "Resumed" => false,
                _ => return None,
            };
            let at = e.event_time.as_ref().map(|t| t.0).or(e.last_timestamp.as_ref().map(|t| t.0))?;
            Some((rel(&at), suspended))
        })
        .collect();
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref());
    if let Some(c) = conditions.into_iter().flatten().find(|c| c.type_ == JobConditionType::Suspended)
        && let Some(at) = &c.last_transition_time
    {
        changes.push((rel(&at.0), c.status == ConditionStatus::True));
    }
    changes.sort();
    let mut periods: Vec<(i64, Option<i64>)> = Vec::new();
    let mut open: Option<i64> = None;
    for (at, suspended) in changes {
        match (suspended, open) {
            (true, None) => open = Some(at),
            (false, Some(from)) => {
                periods.push((from, Some(at)));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        periods.push((from, None));
    }
    periods
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const T0: &str = "2026-01-01T00:00:00Z";

    fn at(seconds: i64) -> String {
        let t: Timestamp = T0.parse().unwrap();
        (t + jiff::SignedDuration::from_secs(seconds)).to_string()
    }

    fn job(spec: Value, status: Value) -> Job {
        let v = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "default", "uid": "u1", "creationTimestamp": at(0)},
            "spec": spec, "status": status});
        runlet_codec::decode_job(&v).unwrap().object
    }

    /// A pod created at `created`, its container started at `started`, ended at `ended` with `exit` (phase
    /// from the exit), or still running when `ended` is None.
    fn pod(name: &str, index: Option<u32>, created: i64, started: i64, ended: Option<(i64, i32)>) -> Pod {
        let state = match ended {
            Some((end, exit)) => json!({"terminated": {"exitCode": exit, "startedAt": at(started),
                "finishedAt": at(end), "reason": if exit == 0 { "Completed" } else { "Error" }}}),
            None => json!({"running": {"startedAt": at(started)}}),
        };
        let phase = match ended {
            Some((_, 0)) => "Succeeded",
            Some(_) => "Failed",
            None => "Running",
        };
        let annotations = match index {
            Some(i) => json!({ COMPLETION_INDEX: i.to_string() }),
            None => json!({}),
        };
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": at(created),
                "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "image": "x", "imageID": "",
                "ready": false, "restartCount": 0, "state": state}]}});
        runlet_codec::decode_pod(&v).unwrap().object
    }

    fn event(reason: &str, time: i64) -> Event {
        let v = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": format!("e{time}")},
            "involvedObject": {"kind": "Job", "name": "j", "uid": "u1"}, "reason": reason,
            "lastTimestamp": at(time), "firstTimestamp": at(time)});
        runlet_codec::decode_event(&v).unwrap().object
    }

    fn now(seconds: i64) -> Timestamp {
        at(seconds).parse().unwrap()
    }

    /// (row, pod, created, started, ended, outcome) of a bar: what the picture shows.
    type Shape<'a> = (usize, &'a str, i64, Option<i64>, Option<i64>, Outcome);

    fn shape(t: &Timeline) -> Vec<Shape<'_>> {
        t.bars.iter().map(|b| (b.row, b.pod.as_str(), b.created, b.started, b.ended, b.outcome)).collect()
    }

    #[test]
    fn rows_and_bars() {
        use Outcome::*;
        let indexed = json!({"completionMode": "Indexed", "completions": 3, "template": {}});
        let plain = json!({"completions": 2, "template": {}});
        type Case = (&'static str, Value, Vec<Pod>, Vec<&'static str>, Vec<Shape<'static>>);
        let cases: Vec<Case> = vec![
            (
                "an index retried after a failure stays on its row; an index not yet started is an empty row",
                indexed.clone(),
                vec![
                    pod("j-0", Some(0), 1, 2, Some((5, 0))),
                    pod("j-1-a", Some(1), 1, 2, Some((3, 1))),
                    pod("j-1-b", Some(1), 13, 14, None),
                ],
                vec!["#0", "#1", "#2"],
                vec![
                    (0, "j-0", 1000, Some(2000), Some(5000), Succeeded),
                    (1, "j-1-a", 1000, Some(2000), Some(3000), Failed),
                    (1, "j-1-b", 13000, Some(14000), None, Running),
                ],
            ),
            (
                "a replacement continues the row of the pod that failed before it was created",
                plain.clone(),
                vec![
                    pod("a", None, 1, 2, Some((3, 2))),
                    pod("b", None, 1, 2, Some((9, 0))),
                    pod("c", None, 13, 14, Some((20, 0))),
                ],
                vec!["a", "b"],
                vec![
                    (0, "a", 1000, Some(2000), Some(3000), Failed),
                    (1, "b", 1000, Some(2000), Some(9000), Succeeded),
                    (0, "c", 13000, Some(14000), Some(20000), Succeeded),
                ],
            ),
            (
                "a pod created while the failed one still ran is not its retry",
                plain,
                vec![pod("a", None, 1, 2, Some((10, 1))), pod("b", None, 5, 6, None)],
                vec!["a", "b"],
                vec![(0, "a", 1000, Some(2000), Some(10000), Failed), (1, "b", 5000, Some(6000), None, Running)],
            ),
            (
                "indices beyond completions and pods without an index get rows of their own",
                indexed,
                vec![pod("j-4", Some(4), 1, 2, None), pod("stray", None, 1, 2, None)],
                vec!["#0", "#1", "#2", "#3", "#4", "stray"],
                vec![(4, "j-4", 1000, Some(2000), None, Running), (5, "stray", 1000, Some(2000), None, Running)],
            ),
        ];
        for (name, spec, pods, rows, bars) in cases {
            let t = build(&job(spec, json!({})), &pods, &[], now(30));
            assert_eq!(t.rows, rows, "{name}");
            assert_eq!(shape(&t), bars, "{name}");
            assert_eq!(t.now, 30_000, "{name}");
        }
    }

    #[test]
    fn exit_codes_and_reasons_come_from_the_decisive_container() {
        let t = build(
            &job(json!({"template": {}}), json!({})),
            &[pod("a", None, 0, 1, Some((2, 7))), pod("b", None, 0, 1, Some((2, 0)))],
            &[],
            now(5),
        );
        let got: Vec<_> = t.bars.iter().map(|b| (b.exit_code, b.reason.as_deref())).collect();
        assert_eq!(got, vec![(Some(7), Some("Error")), (Some(0), Some("Completed"))]);
        let wire = serde_json::to_value(&t.bars[0]).unwrap();
        assert_eq!(wire, json!([0, 0, 1000, 2000, "failed", "a", 7, "Error", 0]));
    }

    #[test]
    fn ten_thousand_pods_make_compact_data() {
        // 10,000 pods of a 5,000-index Job, each index failing once and then succeeding.
        let spec = json!({"completionMode": "Indexed", "completions": 5000, "template": {}});
        let mut pods = Vec::new();
        for i in 0..5000u32 {
            let t = i64::from(i % 600);
            pods.push(pod(&format!("j-{i}-a"), Some(i), t, t + 1, Some((t + 2, 1))));
            pods.push(pod(&format!("j-{i}-b"), Some(i), t + 12, t + 13, Some((t + 20, 0))));
        }
        let t = build(&job(spec, json!({})), &pods, &[], now(700));
        assert_eq!((t.rows.len(), t.bars.len()), (5000, 10_000));
        assert!(t.bars.iter().all(|b| b.row == b.pod[2..b.pod.len() - 2].parse::<usize>().unwrap()));
        let bytes = serde_json::to_vec(&t).unwrap().len();
        // About 60 bytes a pod: one small array each, so a browser takes 10,000 pods in well under a megabyte.
        assert!(bytes < 10_000 * 80, "{bytes} bytes");
    }

    #[test]
    fn deadline_and_suspended_periods() {
        let suspended_now = json!({"startTime": at(2), "conditions": [
            {"type": "Suspended", "status": "True", "lastTransitionTime": at(20)}]});
        let resumed = json!({"startTime": at(2), "conditions": [
            {"type": "Suspended", "status": "False", "lastTransitionTime": at(15)}]});
        // (name, spec, status, events, deadline, suspended)
        type Case = (&'static str, Value, Value, Vec<Event>, Option<i64>, Vec<(i64, Option<i64>)>);
        let cases: Vec<Case> = vec![
            (
                "no deadline, never suspended",
                json!({"template": {}}),
                json!({"startTime": at(2)}),
                vec![],
                None,
                vec![],
            ),
            (
                "the deadline counts from the start time",
                json!({"activeDeadlineSeconds": 60, "template": {}}),
                json!({"startTime": at(2)}),
                vec![],
                Some(62_000),
                vec![],
            ),
            (
                "a deadline before the Job started is not drawn",
                json!({"activeDeadlineSeconds": 60}),
                json!({}),
                vec![],
                None,
                vec![],
            ),
            (
                "suspended and resumed, then suspended again until now",
                json!({}),
                suspended_now,
                vec![event("Suspended", 5), event("Resumed", 15), event("Suspended", 20)],
                None,
                vec![(5_000, Some(15_000)), (20_000, None)],
            ),
            (
                "the condition closes a period whose events are all there",
                json!({}),
                resumed,
                vec![event("Suspended", 5)],
                None,
                vec![(5_000, Some(15_000))],
            ),
        ];
        for (name, spec, status, events, deadline, suspended) in cases {
            let t = build(&job(spec, status), &[], &events, now(30));
            assert_eq!(t.deadline, deadline, "{name}");
            assert_eq!(t.suspended, suspended, "{name}");
        }
    }
}
