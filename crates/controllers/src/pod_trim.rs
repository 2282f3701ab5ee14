//! What the controllers' pod cache keeps of a pod. Finished pods stay in the cache for as long as they exist
//! (a Job keeps all of them), and a decoded pod is several times its JSON; once a pod has finished, the
//! controllers read only its metadata, its status and a few fields of its spec, so the cache drops the rest,
//! as upstream's informers drop `managedFields` with a transform.
//!
//! Kept of a finished pod's spec, each for a reader: `nodeName` (pod GC, eviction), `tolerations` (eviction),
//! `schedulerName` and `restartPolicy` (cheap, and read by the scheduler's and the Job controller's
//! classifications), container names, and the name and `restartPolicy` of init containers (the Job controller
//! tells sidecars by them when it dates a pod's finish). Nothing writes a cached pod back to the API.

use runlet_api::vocab::PodPhase;
use runlet_codec::{Container, Pod, PodSpec};

/// Trims `pod` in place for the cache.
pub fn trim(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if !PodPhase::of(pod.status.as_ref()).is_some_and(PodPhase::is_terminal) {
        return;
    }
    let Some(spec) = pod.spec.take() else { return };
    let named = |c: Container| Container { name: c.name, restart_policy: c.restart_policy, ..Container::default() };
    pod.spec = Some(PodSpec {
        node_name: spec.node_name,
        scheduler_name: spec.scheduler_name,
        restart_policy: spec.restart_policy,
        tolerations: spec.tolerations,
        containers: spec.containers.into_iter().map(named).collect(),
        init_containers: spec.init_containers.map(|cs| cs.into_iter().map(named).collect()),
        ..PodSpec::default()
    });
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
        // (phase, spec kept whole?)
        for (phase, whole) in [("Pending", true), ("Running", true), ("Succeeded", false), ("Failed", false)] {
            let original = pod(phase);
            let mut trimmed = original.clone();
            trim(&mut trimmed);
            let (before, after) = (json_of(&original), json_of(&trimmed));
            assert!(after["metadata"].get("managedFields").is_none(), "{phase}");
            assert_eq!(before["metadata"]["labels"], after["metadata"]["labels"], "{phase}");
            assert_eq!(before["metadata"]["finalizers"], after["metadata"]["finalizers"], "{phase}");
            assert_eq!(before["status"], after["status"], "{phase}: status is kept whole");
            for field in ["nodeName", "schedulerName", "restartPolicy", "tolerations"] {
                assert_eq!(before["spec"][field], after["spec"][field], "{phase}: spec.{field}");
            }
            assert_eq!(after["spec"]["containers"][0]["name"], "c", "{phase}");
            assert_eq!(after["spec"]["initContainers"][0]["restartPolicy"], "Always", "{phase}");
            assert_eq!(before["spec"] == after["spec"], whole, "{phase}");
            if !whole {
                assert!(after["spec"].get("volumes").is_none(), "{phase}");
                assert!(after["spec"]["containers"][0].get("command").is_none(), "{phase}");
            }
        }
    }
}
