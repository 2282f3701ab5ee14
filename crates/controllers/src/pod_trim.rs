//! What the controllers' pod cache keeps of a pod. Finished pods stay in the cache for as long as they exist
//! (a Job keeps all of them), and a decoded pod is several times its JSON (a `Container` alone is 2 KB of struct
//! before any of its strings); once a pod has finished, the controllers read only its metadata, a few fields of
//! its spec and part of its status, so the cache drops the rest, as upstream's informers drop `managedFields`
//! with a transform.
//!
//! Kept of a finished pod, each for a reader:
//! - metadata whole but `managedFields` (selectors, owners, finalizers, the completion index annotations);
//! - of its spec, `nodeName` (pod GC, eviction), `tolerations` (eviction), `schedulerName` and `restartPolicy`
//!   (cheap, and read by the scheduler's and the Job controller's classifications), and the name and
//!   `restartPolicy` of its sidecars (restartable init containers: the Job controller dates a pod's finish by
//!   them). Regular containers go: only pods that still run are sized by the scheduler;
//! - of its status, `phase`, `reason`, `message`; all conditions of a failed pod (the pod failure policy
//!   matches any condition type), only `Ready` of a succeeded one (its finish time when containers give none);
//!   of each container status the name, restart count and the termination's exit code, signal, reason and
//!   finish time (finish times, exit-code rules, the `OnFailure` restart sum).
//!
//! Nothing writes a cached pod back to the API.

use runlet_api::vocab::{PodConditionType, PodPhase, RestartPolicy};
use runlet_codec::{Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodSpec, PodStatus};

/// Trims `pod` in place for the cache.
pub fn trim(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    let Some(phase) = PodPhase::of(pod.status.as_ref()).filter(|p| p.is_terminal()) else { return };
    if let Some(spec) = pod.spec.take() {
        pod.spec = Some(trim_spec(spec));
    }
    if let Some(status) = pod.status.take() {
        pod.status = Some(trim_status(status, phase));
    }
}

fn trim_spec(spec: PodSpec) -> PodSpec {
    let sidecars = spec.init_containers.map(|cs| {
        cs.into_iter()
            .filter(|c| c.restart_policy.as_deref() == Some(RestartPolicy::Always.as_str()))
            .map(|c| Container { name: c.name, restart_policy: c.restart_policy, ..Container::default() })
            .collect::<Vec<_>>()
    });
    PodSpec {
        node_name: spec.node_name,
        scheduler_name: spec.scheduler_name,
        restart_policy: spec.restart_policy,
        tolerations: spec.tolerations,
        init_containers: sidecars.filter(|cs| !cs.is_empty()),
        ..PodSpec::default()
    }
}

fn trim_status(status: PodStatus, phase: PodPhase) -> PodStatus {
    let conditions = match phase {
        PodPhase::Failed => status.conditions,
        _ => status.conditions.map(|cs| cs.into_iter().filter(|c| c.type_ == PodConditionType::Ready).collect()),
    };
    let statuses = |list: Option<Vec<ContainerStatus>>| list.map(|l| l.into_iter().map(trim_container).collect());
    PodStatus {
        phase: status.phase,
        reason: status.reason,
        message: status.message,
        conditions,
        container_statuses: statuses(status.container_statuses),
        init_container_statuses: statuses(status.init_container_statuses),
        ..PodStatus::default()
    }
}

fn trim_container(status: ContainerStatus) -> ContainerStatus {
    let terminated = status.state.and_then(|s| s.terminated).map(|t| ContainerStateTerminated {
        exit_code: t.exit_code,
        signal: t.signal,
        reason: t.reason,
        finished_at: t.finished_at,
        ..ContainerStateTerminated::default()
    });
    ContainerStatus {
        name: status.name,
        restart_count: status.restart_count,
        state: terminated.map(|t| ContainerState { terminated: Some(t), ..ContainerState::default() }),
        ..ContainerStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(phase: &str) -> Pod {
        let value = json!({
            "metadata": {"name": "p", "labels": {"job-name": "j"}, "finalizers": ["batch.kubernetes.io/job-tracking"],
                         "managedFields": [{"manager": "m", "operation": "Update"}]},
            "spec": {"nodeName": "n1", "schedulerName": "default-scheduler", "restartPolicy": "Never",
                     "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
                     "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 1"],
                                     "resources": {"requests": {"cpu": "1"}}}],
                     "initContainers": [{"name": "side", "image": "busybox", "restartPolicy": "Always"}],
                     "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": phase, "conditions": [{"type": "DisruptionTarget", "status": "True"}],
                       "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": false,
                                              "restartCount": 0,
                                              "state": {"terminated": {"exitCode": 1}}}]}
        });
        serde_json::from_value(value).unwrap_or_default()
    }

    fn json_of(pod: &Pod) -> Value {
        serde_json::to_value(pod).unwrap_or_default()
    }

    #[test]
    fn finished_pods_keep_what_controllers_read() {
        // (phase, kept whole?, conditions kept)
        for (phase, whole, conditions) in
            [("Pending", true, 1), ("Running", true, 1), ("Succeeded", false, 0), ("Failed", false, 1)]
        {
            let original = pod(phase);
            let mut trimmed = original.clone();
            trim(&mut trimmed);
            let (before, after) = (json_of(&original), json_of(&trimmed));
            assert!(after["metadata"].get("managedFields").is_none(), "{phase}");
            assert_eq!(before["metadata"]["labels"], after["metadata"]["labels"], "{phase}");
            assert_eq!(before["metadata"]["finalizers"], after["metadata"]["finalizers"], "{phase}");
            for field in ["nodeName", "schedulerName", "restartPolicy", "tolerations"] {
                assert_eq!(before["spec"][field], after["spec"][field], "{phase}: spec.{field}");
            }
            assert_eq!(after["spec"]["initContainers"][0]["restartPolicy"], "Always", "{phase}");
            assert_eq!(after["status"]["phase"], phase);
            let exit = &after["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"];
            assert_eq!(exit, 1, "{phase}");
            let kept = after["status"]["conditions"].as_array().map_or(0, Vec::len);
            assert_eq!(kept, conditions, "{phase}: conditions");
            assert_eq!(before["spec"] == after["spec"], whole, "{phase}");
            assert_eq!(before["status"] == after["status"], whole, "{phase}");
            if !whole {
                assert!(after["spec"].get("volumes").is_none(), "{phase}");
                assert_eq!(after["spec"]["containers"], json!([]), "{phase}");
                assert_eq!(after["status"]["containerStatuses"][0]["image"], "", "{phase}");
            }
        }
    }
}
