//! The seed's job patterns, run from `examples/` the way their README sections say, against a real `runlet
//! server` with its node agent (pods are host processes) and real queue services started on loopback:
//!
//! - Job template expansion (`examples/job-template-expansion/`);
//! - a queue with a pod per work item, on RabbitMQ (`examples/queue-pod-per-item/`);
//! - a queue with a variable pod count, on Redis (`examples/queue-variable-pods/`).
//!
//! The fourth pattern, static work assignment, is an Indexed Job run by `runlet run` in `examples.rs`.
//! Skipped, with a message, where kubectl is absent.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::queues::{RabbitMq, Redis};
use support::{AgentEnv, eventually, have_kubectl, is_complete, repo_root};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
/// A handful of short pods, each a host process: generous under load.
const FINISH: Duration = Duration::from_secs(120);

fn example(path: &str) -> PathBuf {
    repo_root().join("examples").join(path)
}

/// Runs a script of an example with `env`, asserting success.
fn run_script(path: &str, env: &[(&str, &str)], dir: &std::path::Path) {
    let out = Command::new(example(path)).envs(env.iter().copied()).current_dir(dir).output().expect("run script");
    assert!(
        out.status.success(),
        "{path} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl AgentEnv {
    /// Waits until Job `name` is Complete; panics with what it looks like otherwise.
    fn wait_complete(&self, name: &str) -> Value {
        let mut last = Value::Null;
        eventually(FINISH, || {
            last = self.api.get(&format!("{JOBS}/{name}")).expect(200);
            is_complete(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("job {name} did not complete; last seen: {last:#}"))
    }

    /// The logs of each Succeeded pod of Job `job`, by pod name.
    fn succeeded_pod_logs(&self, job: &str) -> BTreeMap<String, String> {
        let list = self.api.get(&format!("{PODS}?labelSelector=job-name%3D{job}")).expect(200);
        let mut logs = BTreeMap::new();
        for pod in list["items"].as_array().cloned().unwrap_or_default() {
            if pod["status"]["phase"] != "Succeeded" {
                continue;
            }
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let log = self.api.get(&format!("{PODS}/{name}/log")).text();
            logs.insert(name, log);
        }
        logs
    }
}

#[test]
fn job_template_expansion() {
    if !have_kubectl("job_template_expansion") {
        return;
    }
    let env = AgentEnv::start();
    let jobs_dir = env.tmp.path().join("jobs");
    let jobs_dir_text = jobs_dir.to_string_lossy().into_owned();
    run_script(
        "job-template-expansion/expand.sh",
        &[("ITEMS", "apple banana cherry"), ("JOBS_DIR", &jobs_dir_text)],
        env.tmp.path(),
    );
    let created = env.k.ok(&["create", "-f", &jobs_dir_text]);
    let mut lines: Vec<&str> = created.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "job.batch/process-item-apple created",
            "job.batch/process-item-banana created",
            "job.batch/process-item-cherry created"
        ]
    );
    for item in ["apple", "banana", "cherry"] {
        env.wait_complete(&format!("process-item-{item}"));
    }
    // Selected afterwards by the label they share.
    let names = env.k.ok(&["get", "jobs", "-l", "jobgroup=jobexample", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["job.batch/process-item-apple", "job.batch/process-item-banana", "job.batch/process-item-cherry"]
    );
    let logs = env.k.ok(&["logs", "-l", "jobgroup=jobexample"]);
    for item in ["apple", "banana", "cherry"] {
        assert_eq!(logs.matches(&format!("Processing item {item}\n")).count(), 1, "{logs}");
    }
}

#[test]
fn queue_with_a_pod_per_work_item_on_rabbitmq() {
    if !have_kubectl("queue_with_a_pod_per_work_item_on_rabbitmq") {
        return;
    }
    let broker = RabbitMq::start();
    let env = AgentEnv::start();
    let url = broker.url();
    let items = ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"];
    run_script(
        "queue-pod-per-item/fill-queue.sh",
        &[("BROKER_URL", &url), ("ITEMS", &items.join(" "))],
        env.tmp.path(),
    );
    let manifest = std::fs::read_to_string(example("queue-pod-per-item/job.yaml")).unwrap();
    let manifest = manifest.replace("amqp://guest:guest@127.0.0.1:5672", &url);
    assert!(manifest.contains(&url), "the example names the broker's URL");
    assert_eq!(env.k.ok_stdin(&["create", "-f", "-"], &manifest).trim(), "job.batch/job-wq-1 created");

    let job = env.wait_complete("job-wq-1");
    assert_eq!(job["status"]["succeeded"], 8, "{job:#}");
    // Each pod took exactly one item, and every item was taken once.
    let logs = env.succeeded_pod_logs("job-wq-1");
    assert_eq!(logs.len(), 8, "{logs:#?}");
    let mut taken: Vec<&str> = logs.values().map(|l| l.trim()).collect();
    taken.sort();
    assert_eq!(taken, items, "{logs:#?}");
    // Nothing is left in the queue.
    let left = Command::new("amqp-get").args(["--url", &url, "-q", "job1"]).output().unwrap();
    assert!(!left.status.success(), "the queue still has {}", String::from_utf8_lossy(&left.stdout));
}

#[test]
fn queue_with_a_variable_pod_count_on_redis() {
    if !have_kubectl("queue_with_a_variable_pod_count_on_redis") {
        return;
    }
    let redis = Redis::start();
    let env = AgentEnv::start();
    let port = redis.port.to_string();
    let items = ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon", "orange", "plum"];
    run_script(
        "queue-variable-pods/fill-queue.sh",
        &[("REDIS_PORT", &port), ("ITEMS", &items.join(" "))],
        env.tmp.path(),
    );
    assert_eq!(redis.cli(&["LLEN", "job2"]).trim(), "10");
    let manifest = std::fs::read_to_string(example("queue-variable-pods/job.yaml")).unwrap();
    let manifest = manifest.replace("value: \"6379\"", &format!("value: \"{port}\""));
    assert!(manifest.contains(&port));
    assert_eq!(env.k.ok_stdin(&["create", "-f", "-"], &manifest).trim(), "job.batch/job-wq-2 created");

    let job = env.wait_complete("job-wq-2");
    // Three workers, no completion count: the Job is complete once the workers found the queue empty.
    assert_eq!(job["spec"]["completions"], Value::Null);
    assert_eq!(job["status"]["succeeded"], 3, "{job:#}");
    assert_eq!(redis.cli(&["LLEN", "job2"]).trim(), "0");
    assert_eq!(redis.cli(&["LLEN", "job2:processing"]).trim(), "0", "every lease was given back");
    let mut done: Vec<String> = redis.cli(&["SMEMBERS", "job2:done"]).lines().map(str::to_string).collect();
    done.sort();
    assert_eq!(done, items);
    let logs = env.succeeded_pod_logs("job-wq-2");
    assert_eq!(logs.len(), 3, "{logs:#?}");
    let mut worked: Vec<String> = logs
        .values()
        .flat_map(|l| l.lines().filter_map(|line| line.split(" works on ").nth(1)).map(str::to_string))
        .collect();
    worked.sort();
    assert_eq!(worked, items, "each item was worked on once: {logs:#?}");
    assert!(logs.values().all(|l| l.contains(": queue empty")), "{logs:#?}");
}
