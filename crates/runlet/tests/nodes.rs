//! A node that is lost (its agent frozen with SIGSTOP, as a machine cut off from the network: its containers go
//! on running) turns `Ready=Unknown` and is tainted unreachable; its pods are evicted with `DisruptionTarget`
//! and a Job replaces them, with exact counts. When the agent comes back, the node is Ready again, the
//! containers of the pods deleted meanwhile are stopped, and the Job, whose `Complete` waited for them, completes.
//! With a `podFailurePolicy`, the lost pods are failed and removed once the node is declared out of service.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server, eventually};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const NODES: &str = "/api/v1/nodes";

/// Agents renew their Lease every 10 s: two renewals may be missed (a loaded machine) before a node is lost.
const GRACE: &str = "25s";

/// The server (local node `local`, cordoned so the Job's first pods go to `n2`) and the agent of node `n2`.
fn cluster(tmp: &tempfile::TempDir, marker: u32) -> (Server, Api, Agent) {
    let flags = [
        "--node-name",
        "local",
        "--node-monitor-grace-period",
        GRACE,
        "--node-monitor-period",
        "1s",
        "--default-unreachable-toleration-seconds",
        "2",
    ];
    let server = Server::start_with_args(&tmp.path().join("data"), "127.0.0.1:0", &flags);
    let api = Api::new(&server);
    let cordon = |unschedulable: bool| json!({"spec": {"unschedulable": unschedulable}});
    let cordoned = eventually(Duration::from_secs(30), || {
        let reply = api.patch(&format!("{NODES}/local"), "application/merge-patch+json", &cordon(true));
        (reply.code == 200).then_some(())
    });
    assert!(cordoned.is_some(), "the local node never registered");
    let child = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["agent", "--node-name", "n2", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("--dir")
        .arg(tmp.path().join("agent"))
        .env("RUNLET_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runlet agent");
    let agent = Agent { child, marker };
    let ready = eventually(Duration::from_secs(30), || (ready(&api, "n2").as_deref() == Some("True")).then_some(()));
    assert!(ready.is_some(), "n2 never became Ready");
    (server, api, agent)
}

/// The agent of `n2`; killed on drop, with the containers of the test's pods it leaves behind (a failed test
/// must not leave them sleeping).
struct Agent {
    child: Child,
    marker: u32,
}

impl Agent {
    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} the agent");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in sleepers(self.marker) {
            let _ = Command::new("kill").arg("-KILL").arg(pid).status();
        }
    }
}

/// A number for `sleep` that no other run of these tests uses at the same time (`offset` tells the tests apart).
fn marker(offset: u32) -> u32 {
    100_000 + (std::process::id() % 100_000) * 2 + offset
}

fn ready(api: &Api, node: &str) -> Option<String> {
    let node = api.get(&format!("{NODES}/{node}")).json();
    let conditions = node["status"]["conditions"].as_array()?.clone();
    conditions.iter().find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()).map(str::to_owned)
}

fn taint_keys(api: &Api, node: &str) -> Vec<String> {
    let node = api.get(&format!("{NODES}/{node}")).json();
    let taints = node["spec"]["taints"].as_array().cloned().unwrap_or_default();
    taints
        .iter()
        .map(|t| format!("{}:{}", t["key"].as_str().unwrap_or(""), t["effect"].as_str().unwrap_or("")))
        .collect()
}

fn job_pods(api: &Api, name: &str) -> Vec<Value> {
    let list = api.get(&format!("{PODS}?labelSelector=batch.kubernetes.io/job-name%3D{name}")).expect(200);
    list["items"].as_array().cloned().unwrap_or_default()
}

fn on_node<'a>(pods: &'a [Value], node: &str) -> Vec<&'a Value> {
    pods.iter().filter(|p| p["spec"]["nodeName"] == node).collect()
}

/// A Job of two pods that never finish on `n2` (they sleep `marker` seconds) and succeed at once elsewhere.
fn job(name: &str, marker: u32, extra: Value) -> Value {
    let script = format!("if [ \"$NODE\" = n2 ]; then exec sleep {marker}; fi; echo done");
    let mut spec = json!({
        "completions": 2, "parallelism": 2,
        "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]}}
    });
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec})
}

/// Processes running `sleep <marker>` (the containers of the pods on `n2`), found in `/proc`.
fn sleepers(marker: u32) -> Vec<String> {
    let want = format!("sleep\0{marker}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Creates the Job, waits for both pods to run on `n2`, freezes the agent and lets the local node take pods.
fn start_and_lose_n2(api: &Api, name: &str, marker: u32, extra: Value) {
    api.post(JOBS, &job(name, marker, extra)).expect(201);
    let running = eventually(Duration::from_secs(60), || {
        let pods = job_pods(api, name);
        let running = on_node(&pods, "n2").iter().filter(|p| p["status"]["phase"] == "Running").count();
        (running == 2 && sleepers(marker).len() == 2).then_some(())
    });
    assert!(running.is_some(), "the pods never ran on n2: {:?}", job_pods(api, name));
}

fn uncordon(api: &Api) {
    api.patch(&format!("{NODES}/local"), "application/merge-patch+json", &json!({"spec": {"unschedulable": false}}))
        .expect(200);
}

fn has_condition(job: &Value, kind: &str) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// Waits for the Job's `condition` (`SuccessCriteriaMet`, `Complete`) and returns the Job.
fn wait_for(api: &Api, name: &str, condition: &str) -> Value {
    let done = eventually(Duration::from_secs(120), || {
        let job = api.get(&format!("{JOBS}/{name}")).expect(200);
        // Counted: the last success may still be in uncountedTerminatedPods when the condition is written.
        let settled = job["status"]["uncountedTerminatedPods"]
            .as_object()
            .is_none_or(|u| u.values().all(|v| v.as_array().is_none_or(Vec::is_empty)));
        (has_condition(&job, condition) && settled).then_some(job)
    });
    done.unwrap_or_else(|| {
        panic!(
            "the Job never got {condition}: {}\nnode n2: {}\npods: {:?}",
            api.get(&format!("{JOBS}/{name}")).text(),
            api.get(&format!("{NODES}/n2")).text(),
            job_pods(api, name)
        )
    })
}

/// After the agent is back: n2 is Ready and untainted, and its pods' containers are gone.
fn n2_recovers(api: &Api, agent: &Agent, name: &str, marker: u32) {
    agent.signal("CONT");
    let back = eventually(Duration::from_secs(60), || {
        (ready(api, "n2").as_deref() == Some("True") && taint_keys(api, "n2").is_empty()).then_some(())
    });
    assert!(back.is_some(), "n2 did not recover: {:?} {:?}", ready(api, "n2"), taint_keys(api, "n2"));
    let stopped = eventually(Duration::from_secs(60), || {
        (sleepers(marker).is_empty() && on_node(&job_pods(api, name), "n2").is_empty()).then_some(())
    });
    assert!(stopped.is_some(), "stale containers: {:?} running, pods {:?}", sleepers(marker), job_pods(api, name));
}

/// Another agent (its own directory, so its own id) started as `n2` while n2's agent is alive is refused.
fn second_agent_is_refused(server: &Server, tmp: &tempfile::TempDir) {
    let mut second = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["agent", "--node-name", "n2", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("--dir")
        .arg(tmp.path().join("second-agent"))
        .env("RUNLET_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a second agent");
    let exited = eventually(Duration::from_secs(30), || second.try_wait().ok().flatten());
    let Some(status) = exited else {
        let _ = second.kill();
        let _ = second.wait();
        panic!("a second agent for n2 kept running");
    };
    let mut stderr = String::new();
    use std::io::Read;
    let _ = second.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("node \"n2\" is run by another agent"), "{stderr}");
}

#[test]
fn a_lost_node_s_pods_are_evicted_and_replaced_and_the_job_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = marker(0);
    let (server, api, agent) = cluster(&tmp, marker);
    second_agent_is_refused(&server, &tmp);
    start_and_lose_n2(&api, "lost", marker, json!({}));
    let pods = job_pods(&api, "lost");
    let tolerations = &pods[0]["spec"]["tolerations"];
    assert_eq!(
        tolerations,
        &json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}
        ]),
        "the default tolerations, with the server's values"
    );
    agent.signal("STOP");
    uncordon(&api);

    let job = wait_for(&api, "lost", "SuccessCriteriaMet");
    // The two pods lost with n2 count as failed (the Job has no podFailurePolicy) and were replaced.
    assert_eq!(job["status"]["succeeded"], 2, "{}", job["status"]);
    assert_eq!(job["status"]["failed"], 2, "{}", job["status"]);
    // As on Kubernetes since 1.31, `Complete` waits until no pod of the Job is terminating any more.
    assert_eq!(job["status"]["terminating"], 2, "{}", job["status"]);
    assert!(!has_condition(&job, "Complete"), "{}", job["status"]);
    assert_eq!(ready(&api, "n2").as_deref(), Some("Unknown"));
    let taints = taint_keys(&api, "n2");
    assert!(taints.contains(&"node.kubernetes.io/unreachable:NoExecute".to_string()), "{taints:?}");
    let pods = job_pods(&api, "lost");
    let evicted = on_node(&pods, "n2");
    assert_eq!(evicted.len(), 2, "the lost pods wait for their node to confirm: {pods:?}");
    for pod in evicted {
        assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod}");
        let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let disruption = conditions.iter().find(|c| c["type"] == "DisruptionTarget");
        assert_eq!(disruption.map(|c| &c["reason"]), Some(&json!("DeletionByTaintManager")), "{pod}");
    }
    assert_eq!(on_node(&pods, "local").len(), 2, "{pods:?}");

    n2_recovers(&api, &agent, "lost", marker);
    let job = wait_for(&api, "lost", "Complete");
    assert_eq!((&job["status"]["succeeded"], &job["status"]["failed"]), (&json!(2), &json!(2)), "{}", job["status"]);
    assert_eq!(job["status"]["terminating"], 0, "{}", job["status"]);
}

#[test]
fn pods_on_an_out_of_service_node_are_ignored_by_a_disruption_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = marker(1);
    let (_server, api, agent) = cluster(&tmp, marker);
    // Any counted failure would fail this Job: only the DisruptionTarget rule lets it through.
    let policy = json!({
        "backoffLimit": 0,
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    });
    start_and_lose_n2(&api, "ignored", marker, policy);
    agent.signal("STOP");
    uncordon(&api);

    // Evicted, but with a podFailurePolicy a pod is replaced only once it is Failed, which no agent will say.
    let evicted = eventually(Duration::from_secs(90), || {
        let pods = job_pods(&api, "ignored");
        let lost = on_node(&pods, "n2");
        (lost.len() == 2 && lost.iter().all(|p| p["metadata"]["deletionTimestamp"].is_string())).then_some(())
    });
    assert!(evicted.is_some(), "the pods on n2 were not evicted: {:?}", job_pods(&api, "ignored"));
    // The administrator declares n2 shut down: its terminating pods are failed and removed at once.
    let out_of_service = json!({"spec": {"taints": [
        {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
    ]}});
    // Merge patches replace the list: keep what the controller set.
    let mut taints = api.get(&format!("{NODES}/n2")).json()["spec"]["taints"].as_array().cloned().unwrap_or_default();
    taints.extend(out_of_service["spec"]["taints"].as_array().cloned().unwrap_or_default());
    api.patch(&format!("{NODES}/n2"), "application/merge-patch+json", &json!({"spec": {"taints": taints}})).expect(200);

    let job = wait_for(&api, "ignored", "Complete");
    assert_eq!(job["status"]["succeeded"], 2, "{}", job["status"]);
    assert_eq!(job["status"].get("failed").and_then(Value::as_i64).unwrap_or(0), 0, "{}", job["status"]);
    let pods = job_pods(&api, "ignored");
    assert!(on_node(&pods, "n2").is_empty(), "the lost pods were collected: {pods:?}");
    assert_eq!(on_node(&pods, "local").len(), 2, "{pods:?}");

    let back = json!({"spec": {"taints": null}});
    api.patch(&format!("{NODES}/n2"), "application/merge-patch+json", &back).expect(200);
    n2_recovers(&api, &agent, "ignored", marker);
}
