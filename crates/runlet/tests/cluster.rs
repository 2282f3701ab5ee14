//! Several `runlet server` processes on one real etcd (started by the test on loopback, over TLS with
//! client certificates): each serves the API with the same CA and token; the controllers run in one
//! of them, elected on a Lease; when the leader is killed another takes over and a Job running across
//! the failover completes with exact counts.

#[path = "../../store/tests/support/etcd.rs"]
mod etcd;
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Api, Server, eventually};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/runlet-controller-manager";

/// Upstream's lease duration (15 s) and retry period (2 s), and room for a loaded machine.
const TAKEOVER: Duration = Duration::from_secs(30);

/// A server of the cluster on `etcd` (over TLS, with a client certificate): its own data dir and port,
/// a local node unless `node` is None.
fn member(tmp: &tempfile::TempDir, name: &str, etcd: &etcd::EtcdServer, node: Option<&str>) -> Server {
    let dir = tmp.path().join(name);
    let endpoint = etcd.endpoint();
    let file = |name: &str| etcd.file(name).display().to_string();
    let (ca, cert, key) = (file(etcd::CA_FILE), file(etcd::CLIENT_CERT_FILE), file(etcd::CLIENT_KEY_FILE));
    let mut flags = vec!["--etcd-servers", &endpoint, "--etcd-cafile", &ca, "--etcd-certfile", &cert];
    flags.extend(["--etcd-keyfile", key.as_str()]);
    match node {
        Some(node) => flags.extend(["--node-name", node]),
        None => flags.push("--no-agent"),
    }
    let server = Server::start_with(&dir, "127.0.0.1:0", &flags);
    assert!(server.identity.is_some(), "{name} takes part in the election");
    server
}

fn holder(api: &Api) -> Option<String> {
    let reply = api.get(LEASE);
    (reply.code == 200).then(|| reply.json()["spec"]["holderIdentity"].as_str().map(str::to_owned)).flatten()
}

fn job_object(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec})
}

fn job_pods(api: &Api, name: &str) -> Vec<Value> {
    let list = api.get(&format!("{PODS}?labelSelector=batch.kubernetes.io/job-name%3D{name}")).expect(200);
    list["items"].as_array().cloned().unwrap_or_default()
}

fn complete(job: &Value) -> bool {
    job["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Complete" && c["status"] == "True"))
}

#[test]
fn the_leader_is_killed_and_a_job_across_the_failover_completes_with_exact_counts() {
    let Some(etcd) =
        etcd::EtcdServer::start_tls("the_leader_is_killed_and_a_job_across_the_failover_completes_with_exact_counts")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The first server leads; it runs no pods, so killing it loses no node (nodes that vanish are
    // another matter than leader election).
    let first = member(&tmp, "s1", &etcd, None);
    let first_api = Api::new(&first);
    let led = eventually(TAKEOVER, || (holder(&first_api) == first.identity).then_some(()));
    assert!(led.is_some(), "the first server never led: {:?}", holder(&first_api));
    let second = member(&tmp, "s2", &etcd, Some("n2"));
    let third = member(&tmp, "s3", &etcd, Some("n3"));
    let (api2, api3) = (Api::new(&second), Api::new(&third));

    // One cluster: the same CA and token everywhere, and every server sees every node.
    for dir in [&second.dir, &third.dir] {
        for file in ["pki/ca.crt", "pki/token"] {
            assert_eq!(std::fs::read(first.dir.join(file)).ok(), std::fs::read(dir.join(file)).ok(), "{file}");
        }
    }
    let nodes = eventually(Duration::from_secs(30), || {
        let list = first_api.get("/api/v1/nodes").expect(200);
        let names: Vec<String> = list["items"]
            .as_array()?
            .iter()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        (names == ["n2", "n3"]).then_some(names)
    });
    assert!(nodes.is_some(), "the servers do not share their nodes");
    assert_eq!(holder(&api3), first.identity, "the others stand by");

    // A Job created on one server, long enough to run across the failover.
    let spec = json!({
        "completions": 8, "parallelism": 2, "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 2"]}]}}
    });
    api2.post(JOBS, &job_object("across", spec)).expect(201);
    let started = eventually(Duration::from_secs(60), || {
        let status = api3.get(&format!("{JOBS}/across")).expect(200)["status"].clone();
        (status["succeeded"].as_i64().unwrap_or(0) >= 1).then_some(())
    });
    assert!(started.is_some(), "the Job did not get going under the first leader");

    // The leader dies without a word; the others take over once its lease runs out.
    let killed = Instant::now();
    let _ = first.kill9();
    let successor = eventually(TAKEOVER + Duration::from_secs(10), || {
        holder(&api2).filter(|h| Some(h) == second.identity.as_ref() || Some(h) == third.identity.as_ref())
    });
    let took = killed.elapsed();
    let successor = successor.unwrap_or_else(|| panic!("no server took over within {took:?}: {:?}", holder(&api2)));
    // Not before the lease ran out: 15 s after the last renewal, which came a retry period (2 s, plus a
    // slow attempt on a loaded machine) or less before the kill ...
    assert!(took >= Duration::from_secs(10), "took over after {took:?}, before the lease ran out");
    // ... and soon after (lease 15 s, plus a retry period, plus a loaded machine).
    assert!(took <= TAKEOVER, "took over only after {took:?}");

    let done = eventually(Duration::from_secs(120), || {
        let job = api3.get(&format!("{JOBS}/across")).expect(200);
        complete(&job).then_some(job)
    });
    let job =
        done.unwrap_or_else(|| panic!("the Job did not complete: {}", api3.get(&format!("{JOBS}/across")).text()));
    // Exact counts: every completion counted once, no pod created twice, none failed.
    assert_eq!(job["status"]["succeeded"], 8, "{}", job["status"]);
    assert!(job["status"]["failed"].as_i64().unwrap_or(0) == 0, "{}", job["status"]);
    assert_eq!(job["status"]["uncountedTerminatedPods"], json!({}), "{}", job["status"]);
    let pods = job_pods(&api2, "across");
    let phases: Vec<&str> = pods.iter().filter_map(|p| p["status"]["phase"].as_str()).collect();
    assert_eq!(pods.len(), 8, "one pod per completion, none twice: {phases:?}");
    assert!(phases.iter().all(|p| *p == "Succeeded"), "{phases:?}");

    // A leader that stops gracefully hands over at once: the last server takes over well inside the
    // 15 s a lease takes to run out, and runs the next Job on its own node.
    let (leader, rest, rest_node) =
        if Some(&successor) == second.identity.as_ref() { (second, third, "n3") } else { (third, second, "n2") };
    let rest_api = Api::new(&rest);
    let stopped = Instant::now();
    leader.stop();
    let handed = eventually(TAKEOVER, || (holder(&rest_api) == rest.identity).then_some(()));
    assert!(handed.is_some(), "the last server did not take over: {:?}", holder(&rest_api));
    assert!(stopped.elapsed() < Duration::from_secs(12), "handed over after {:?}", stopped.elapsed());
    let spec = json!({
        "completions": 2, "parallelism": 2,
        "template": {"spec": {"restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": rest_node},
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
    });
    rest_api.post(JOBS, &job_object("after", spec)).expect(201);
    let done = eventually(Duration::from_secs(60), || {
        let job = rest_api.get(&format!("{JOBS}/after")).expect(200);
        complete(&job).then_some(job)
    });
    let job = done.unwrap_or_else(|| panic!("the last server's controllers did not run the Job"));
    assert_eq!(job["status"]["succeeded"], 2);
}
