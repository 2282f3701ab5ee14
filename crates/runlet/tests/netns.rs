//! Several machines, made of network namespaces the test creates (`ip netns`, veth pairs, addresses inside those
//! namespaces only): one server and three agents, each in its own namespace, the agents linked to the server's
//! namespace by a veth pair each. Cutting one agent's link loses its node: its pod is evicted and replaced on
//! another, and the Job gets its exact counts; restoring the link brings the node back, its stale container is
//! stopped, and the Job completes. The agents join with a bootstrap token, as on separate machines. Needs root
//! (skipped with a SKIPPED line otherwise).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::eventually;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const NODES: &str = "/api/v1/nodes";
const AGENTS: [&str; 3] = ["a1", "a2", "a3"];
/// The server's address on its link to agent `i` is 10.77.i.1, the agent's 10.77.i.2 (inside the test's
/// namespaces only: no address of the host is used).
const SERVER_ADDRESS: &str = "10.77.1.1";

/// The test's namespaces, deleted on drop (which ends every process still in them).
struct Namespaces {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn in_ns(ns: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, "ip"];
    all.extend(args);
    ip(&all);
}

/// True when this process may make network namespaces (root, with `ip` on PATH).
fn can_make_namespaces(test: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    let has_ip = Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success());
    if !root || !has_ip {
        eprintln!("SKIPPED {test}: making network namespaces needs root and iproute2's ip");
    }
    root && has_ip
}

/// The server's namespace and one per agent, agent `i` linked to the server by `s{i}` (server side) and `a{i}`.
fn topology(prefix: &str) -> Namespaces {
    let server = format!("{prefix}-s");
    let mut namespaces = Namespaces { names: Vec::new(), children: Vec::new() };
    ip(&["netns", "add", &server]);
    namespaces.names.push(server.clone());
    in_ns(&server, &["link", "set", "lo", "up"]);
    for (i, agent) in AGENTS.iter().enumerate() {
        let n = i + 1;
        let ns = format!("{prefix}-{agent}");
        ip(&["netns", "add", &ns]);
        namespaces.names.push(ns.clone());
        in_ns(&ns, &["link", "set", "lo", "up"]);
        let (server_end, agent_end) = (format!("s{n}"), format!("a{n}"));
        // Made inside the server's namespace, so no interface ever appears on the host.
        in_ns(&server, &["link", "add", &server_end, "type", "veth", "peer", "name", &agent_end, "netns", &ns]);
        in_ns(&server, &["addr", "add", &format!("10.77.{n}.1/24"), "dev", &server_end]);
        in_ns(&server, &["link", "set", &server_end, "up"]);
        in_ns(&ns, &["addr", "add", &format!("10.77.{n}.2/24"), "dev", &agent_end]);
        in_ns(&ns, &["link", "set", &agent_end, "up"]);
        in_ns(&ns, &["route", "add", "default", "via", &format!("10.77.{n}.1")]);
    }
    namespaces
}

fn runlet_in(ns: &str) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_runlet")]);
    command.env("RUNLET_LOG", "warn");
    command
}

/// The API of the server, through curl run in the server's namespace.
struct Api {
    ns: String,
    ca: PathBuf,
    token: String,
}

impl Api {
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, "curl", "-sS", "--max-time", "20", "--cacert"]).arg(&self.ca);
        c.args(["-X", method, "-H", &format!("Authorization: Bearer {}", self.token)]);
        if let Some(body) = body {
            let kind = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
            c.args(["-H", &format!("Content-Type: {kind}"), "--data-binary", &body.to_string()]);
        }
        c.arg(format!("https://{SERVER_ADDRESS}:6443{path}"));
        let out = c.output().expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn get(&self, path: &str) -> Value {
        self.request("GET", path, None)
    }
}

fn start_server(ns: &str, dir: &Path) -> Child {
    let mut child = runlet_in(ns)
        .args(["server", "--no-agent", "--listen", &format!("{SERVER_ADDRESS}:6443"), "--data-dir"])
        .arg(dir)
        .args(["--node-monitor-grace-period", "25s", "--node-monitor-period", "1s"])
        .args(["--default-unreachable-toleration-seconds", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the server did not start in time");
        match lines.next() {
            Some(Ok(line)) if line.starts_with("kubeconfig:") => break,
            Some(Ok(_)) => {}
            _ => panic!("the server exited before it was ready: {:?}", child.try_wait()),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

fn ready(api: &Api, node: &str) -> Option<String> {
    let node = api.get(&format!("{NODES}/{node}"));
    let conditions = node["status"]["conditions"].as_array()?.clone();
    conditions.iter().find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()).map(str::to_owned)
}

fn job_pods(api: &Api) -> Vec<Value> {
    let list = api.get(&format!("{PODS}?labelSelector=batch.kubernetes.io/job-name%3Dspread"));
    list["items"].as_array().cloned().unwrap_or_default()
}

fn has_condition(job: &Value, kind: &str) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

#[test]
fn an_agent_cut_off_from_the_server_loses_its_pods_to_the_others_and_comes_back() {
    let test = "an_agent_cut_off_from_the_server_loses_its_pods_to_the_others_and_comes_back";
    if !can_make_namespaces(test) {
        return;
    }
    let prefix = format!("runlet-{}", std::process::id());
    let mut namespaces = topology(&prefix);
    let tmp = tempfile::tempdir().unwrap();
    let server_ns = format!("{prefix}-s");
    let data = tmp.path().join("server");
    let server = start_server(&server_ns, &data);
    namespaces.children.push(server);
    let api = Api {
        ns: server_ns.clone(),
        ca: data.join("pki/ca.crt"),
        token: std::fs::read_to_string(data.join("pki/token")).expect("token").trim().to_string(),
    };
    // The agents join as on real machines: a bootstrap token made on the server's side, the CA pinned by hash,
    // and each agent's own node certificate from then on.
    let out = runlet_in(&server_ns)
        .args(["token", "create", "--print-join-command", "--kubeconfig"])
        .arg(data.join("kubeconfig"))
        .output()
        .expect("runlet token create");
    let join = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{join}{}", String::from_utf8_lossy(&out.stderr));
    let join: Vec<&str> = join.split_whitespace().skip(2).collect();
    assert_eq!(join.first(), Some(&"--join"), "{join:?}");
    for (i, agent) in AGENTS.iter().enumerate() {
        let child = runlet_in(&format!("{prefix}-{agent}"))
            .arg("agent")
            .args(&join)
            .args(["--node-name", agent, "--listen", &format!("10.77.{}.2:10250", i + 1)])
            .arg("--dir")
            .arg(tmp.path().join(agent))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn an agent");
        namespaces.children.push(child);
    }
    let all_ready = eventually(Duration::from_secs(60), || {
        AGENTS.iter().all(|a| ready(&api, a).as_deref() == Some("True")).then_some(())
    });
    assert!(all_ready.is_some(), "the agents did not all join: {}", api.get(NODES));

    // One pod per node (each asks for a tenth of a core, so the least loaded node differs each time); the
    // pod on a2 never finishes there, the others finish at once.
    let script = "if [ \"$NODE\" = a2 ]; then exec sleep 3600; fi; echo done";
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "spread"}, "spec": {
        "completions": 3, "parallelism": 3,
        "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                "resources": {"requests": {"cpu": "100m"}},
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]}}}});
    let created = api.request("POST", JOBS, Some(&job));
    assert_eq!(created["metadata"]["name"], "spread", "{created}");
    let on_a2 = eventually(Duration::from_secs(60), || {
        let pods = job_pods(&api);
        let running: Vec<Value> = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "a2" && p["status"]["phase"] == "Running")
            .cloned()
            .collect();
        let others_done = pods.iter().filter(|p| p["status"]["phase"] == "Succeeded").count();
        (!running.is_empty() && others_done + running.len() == 3).then_some(running.len())
    });
    let lost = on_a2.unwrap_or_else(|| panic!("no pod ran on a2: {:?}", job_pods(&api)));

    // The cable of a2 is pulled.
    in_ns(&server_ns, &["link", "set", "s2", "down"]);
    let met = eventually(Duration::from_secs(120), || {
        let job = api.get(&format!("{JOBS}/spread"));
        // Counted: the last success may still be in uncountedTerminatedPods when the condition is written.
        let settled = job["status"]["uncountedTerminatedPods"]
            .as_object()
            .is_none_or(|u| u.values().all(|v| v.as_array().is_none_or(Vec::is_empty)));
        (has_condition(&job, "SuccessCriteriaMet") && settled).then_some(job)
    });
    let job = met.unwrap_or_else(|| {
        panic!("the Job did not recover: {} {:?}", api.get(&format!("{JOBS}/spread")), job_pods(&api))
    });
    assert_eq!(job["status"]["succeeded"], 3, "{}", job["status"]);
    assert_eq!(job["status"]["failed"], lost, "the lost pods count as failed, once: {}", job["status"]);
    assert_eq!(ready(&api, "a2").as_deref(), Some("Unknown"));
    let replaced = job_pods(&api).iter().filter(|p| p["status"]["phase"] == "Succeeded").count();
    assert_eq!(replaced, 3, "{:?}", job_pods(&api));

    // The cable is back: the node recovers, stops the evicted pod's container, and the Job completes.
    in_ns(&server_ns, &["link", "set", "s2", "up"]);
    let complete = eventually(Duration::from_secs(120), || {
        let job = api.get(&format!("{JOBS}/spread"));
        (ready(&api, "a2").as_deref() == Some("True") && has_condition(&job, "Complete")).then_some(job)
    });
    let job = complete.unwrap_or_else(|| {
        panic!(
            "a2 did not recover: {:?} {} {:?}",
            ready(&api, "a2"),
            api.get(&format!("{JOBS}/spread")),
            job_pods(&api)
        )
    });
    assert_eq!((&job["status"]["succeeded"], &job["status"]["failed"]), (&json!(3), &json!(lost)), "{}", job["status"]);
    assert!(job_pods(&api).iter().all(|p| p["spec"]["nodeName"] != "a2"), "{:?}", job_pods(&api));
    drop(namespaces);
}
