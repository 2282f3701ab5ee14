//! The pure decisions of the pod manager ([`super::pods`]): what a pod event means for the pod's worker,
//! what a relist leaves to clean up, and the Event a worker's [`PodEvent`] becomes.

use std::collections::HashSet;
use std::time::Duration;

use runlet_api::vocab::PodPhase;
use runlet_codec::{ObjectReference, Pod, PodStatus};

use crate::worker::PodEvent;

/// The component name pod events are reported under, like upstream's kubelet.
pub const COMPONENT: &str = "kubelet";

/// What this agent already has for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// A worker runs it; `stopping` is the grace period it was last told to stop with.
    Running { stopping: Option<Duration> },
    /// Its worker has ended (its status is final).
    Finished,
    /// Nothing.
    Unknown,
}

/// The facts of a pod event that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub deleting: bool,
    /// The grace period a deletion allows (the pod's, when it is not being deleted).
    pub grace: Duration,
    pub terminal: bool,
    /// The API has a `startTime`: some agent started it.
    pub started: bool,
}

impl Seen {
    pub fn of(pod: &Pod) -> Seen {
        let status = pod.status.as_ref();
        Seen {
            deleting: pod.metadata.deletion_timestamp.is_some(),
            grace: grace_of(pod),
            terminal: status.is_some_and(is_terminal_status),
            started: status.and_then(|s| s.start_time.as_ref()).is_some(),
        }
    }
}

/// What to do about a pod event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenAction {
    Nothing,
    /// Tell the running worker to stop within this grace period (first deletion, or a shorter one since).
    Stop(Duration),
    /// Nothing runs here: confirm the deletion with grace 0 so the API server removes the object.
    FinishDeletion,
    /// Start (or, after a restart, recover) a worker, and stop it at once with this grace if being deleted.
    Start {
        stop: Option<Duration>,
    },
}

/// Decides what a pod event means. `on_disk` says whether the runtime has a directory for the pod; it is asked
/// only about a pod being deleted that the API never saw start (after an agent restart it may have started
/// here all the same, with its status report lost).
pub fn on_pod_seen(known: Known, pod: Seen, on_disk: impl FnOnce() -> bool) -> SeenAction {
    match known {
        Known::Running { stopping } => {
            if pod.deleting && stopping.is_none_or(|g| pod.grace < g) {
                SeenAction::Stop(pod.grace)
            } else {
                SeenAction::Nothing
            }
        }
        _ if known == Known::Finished || pod.terminal => {
            if pod.deleting {
                SeenAction::FinishDeletion
            } else {
                SeenAction::Nothing
            }
        }
        _ if pod.deleting && !pod.started && !on_disk() => SeenAction::FinishDeletion,
        _ => SeenAction::Start { stop: pod.deleting.then_some(pod.grace) },
    }
}

/// What a relist leaves to clean up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    /// Running pods the API no longer has: stop them and remove their directories.
    pub stop: Vec<String>,
    /// Directories of pods neither in the API nor running.
    pub remove_dirs: Vec<String>,
    /// Finished pods the API no longer has: nothing to remember about them.
    pub forget_finished: Vec<String>,
}

/// Compares what the API lists (`present`) with what runs here, has finished here and is on disk.
pub fn missing_after_relist(
    present: &HashSet<String>,
    running: &HashSet<String>,
    finished: &HashSet<String>,
    on_disk: &[String],
) -> Missing {
    let gone = |u: &&String| !present.contains(*u);
    let sorted = |set: &HashSet<String>| {
        let mut v: Vec<String> = set.iter().filter(gone).cloned().collect();
        v.sort();
        v
    };
    Missing {
        stop: sorted(running),
        remove_dirs: on_disk.iter().filter(gone).filter(|u| !running.contains(*u)).cloned().collect(),
        forget_finished: sorted(finished),
    }
}

pub fn is_terminal_status(status: &PodStatus) -> bool {
    PodPhase::of(Some(status)).is_some_and(PodPhase::is_terminal)
}

/// The grace period of the pod's deletion, else of its spec, else Kubernetes' default 30 s.
pub fn grace_of(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30);
    Duration::from_secs(secs.max(0) as u64)
}

/// What a worker's event is about: the pod, and the container by `fieldPath`.
pub fn pod_reference(pod: &Pod, e: &PodEvent) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        field_path: e.field_path.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::event::{EventType, event_object};
    use serde_json::json;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn seen(deleting: bool, grace: u64, terminal: bool, started: bool) -> Seen {
        Seen { deleting, grace: S(grace), terminal, started }
    }

    #[test]
    fn pod_events_decide_the_worker() {
        use SeenAction::*;
        let running = |g: Option<u64>| Known::Running { stopping: g.map(S) };
        // (known, pod, on disk, expected)
        let cases = [
            (running(None), seen(false, 30, false, true), false, Nothing),
            (running(None), seen(true, 30, false, true), false, Stop(S(30))),
            (running(Some(30)), seen(true, 30, false, true), false, Nothing),
            // A second delete with a shorter grace period shortens the stop.
            (running(Some(30)), seen(true, 5, false, true), false, Stop(S(5))),
            (running(Some(5)), seen(true, 30, false, true), false, Nothing),
            (running(Some(30)), seen(true, 0, false, true), false, Stop(S(0))),
            (Known::Finished, seen(false, 30, false, true), false, Nothing),
            (Known::Finished, seen(true, 30, false, true), false, FinishDeletion),
            (Known::Unknown, seen(false, 30, true, true), false, Nothing),
            (Known::Unknown, seen(true, 30, true, true), false, FinishDeletion),
            (Known::Unknown, seen(false, 30, false, false), false, Start { stop: None }),
            (Known::Unknown, seen(true, 10, false, true), false, Start { stop: Some(S(10)) }),
            // Deleted before it ever started: nothing to stop...
            (Known::Unknown, seen(true, 10, false, false), false, FinishDeletion),
            // ...unless it did start here and the report of it was lost (agent restart): recover and stop it.
            (Known::Unknown, seen(true, 10, false, false), true, Start { stop: Some(S(10)) }),
        ];
        for (i, (known, pod, on_disk, want)) in cases.into_iter().enumerate() {
            assert_eq!(on_pod_seen(known, pod, || on_disk), want, "case {i}");
        }
    }

    #[test]
    fn the_disk_is_read_only_when_it_matters() {
        let asked = std::cell::Cell::new(0);
        let on_disk = || {
            asked.set(asked.get() + 1);
            true
        };
        on_pod_seen(Known::Unknown, seen(false, 30, false, false), on_disk);
        on_pod_seen(Known::Unknown, seen(true, 30, false, true), on_disk);
        on_pod_seen(Known::Running { stopping: None }, seen(true, 30, false, false), on_disk);
        assert_eq!(asked.get(), 0);
        on_pod_seen(Known::Unknown, seen(true, 30, false, false), on_disk);
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn a_relist_cleans_up_what_the_api_lost() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<String>>();
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let present = set(&["a", "b", "f1"]);
        let running = set(&["a", "r-gone"]);
        let finished = set(&["f1", "f-gone", "f-gone2"]);
        let on_disk = strings(&["a", "b", "f1", "f-gone", "r-gone", "stray"]);
        let got = missing_after_relist(&present, &running, &finished, &on_disk);
        assert_eq!(
            got,
            Missing {
                stop: strings(&["r-gone"]),
                // r-gone's directory goes with its worker.
                remove_dirs: strings(&["f-gone", "stray"]),
                forget_finished: strings(&["f-gone", "f-gone2"]),
            }
        );
        let all = set(&["a", "r-gone", "f1", "f-gone", "f-gone2", "b", "stray"]);
        assert_eq!(missing_after_relist(&all, &running, &finished, &on_disk), Missing::default());
    }

    #[test]
    fn grace_periods() {
        let pod = |meta: serde_json::Value, spec: serde_json::Value| {
            let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
            runlet_codec::decode_pod(&v).unwrap().object
        };
        let cases = [
            (json!({}), json!({}), 30),
            (json!({}), json!({"terminationGracePeriodSeconds": 7}), 7),
            (json!({"deletionGracePeriodSeconds": 2}), json!({"terminationGracePeriodSeconds": 7}), 2),
            (json!({"deletionGracePeriodSeconds": -1}), json!({}), 0),
        ];
        for (i, (meta, spec, want)) in cases.into_iter().enumerate() {
            assert_eq!(grace_of(&pod(meta, spec)), S(want), "case {i}");
        }
    }

    #[test]
    fn worker_events_become_kubelet_events_on_the_pod() {
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pi-x", "namespace": "team", "uid": "u1", "resourceVersion": "9"}});
        let pod = runlet_codec::decode_pod(&v).unwrap().object;
        let now: jiff::Timestamp = "2026-11-27T10:51:17Z".parse().unwrap();
        let container = PodEvent {
            type_: EventType::Normal,
            reason: "Started",
            message: "Started container pi".into(),
            field_path: Some("spec.containers{pi}".into()),
        };
        let pod_level = PodEvent { field_path: None, ..container.clone() };
        for (e, field_path) in [(&container, Some("spec.containers{pi}")), (&pod_level, None)] {
            let ev =
                event_object(&pod_reference(&pod, e), e.type_, e.reason, &e.message, COMPONENT, Some("node-1"), now);
            let o = &ev.involved_object;
            assert_eq!(
                (o.api_version.as_deref(), o.kind.as_deref(), o.name.as_deref(), o.namespace.as_deref()),
                (Some("v1"), Some("Pod"), Some("pi-x"), Some("team"))
            );
            assert_eq!((o.uid.as_deref(), o.field_path.as_deref()), (Some("u1"), field_path));
            assert_eq!(ev.metadata.namespace.as_deref(), Some("team"));
            assert_eq!((ev.reason.as_deref(), ev.message.as_deref()), (Some("Started"), Some("Started container pi")));
            let source = ev.source.unwrap_or_default();
            assert_eq!((source.component.as_deref(), source.host.as_deref()), (Some("kubelet"), Some("node-1")));
            assert_eq!(ev.reporting_instance.as_deref(), Some("node-1"));
        }
    }
}
