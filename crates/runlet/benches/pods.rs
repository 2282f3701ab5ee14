//! Pod start latency and pod throughput of `runlet server`, against a baseline measured in the same run: the
//! same commands spawned directly as processes. Run with `cargo bench -p runlet --bench pods`; it prints a
//! Markdown table (BENCHMARKS.md keeps the results).
//!
//! Knobs (environment): `RUNLET_BENCH_PODS` (throughput pods, default 600), `RUNLET_BENCH_PARALLELISM`
//! (default 20), `RUNLET_BENCH_LATENCY_RUNS` (default 20).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, PostParams};
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::Job;
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn job(name: &str, completions: usize, parallelism: usize) -> Job {
    let v = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": 0,
                 "template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "none", "command": ["true"]}]}}}});
    runlet_codec::decode_job(&v).map(|d| d.object).unwrap_or_default()
}

async fn run_job(api: &Api<Job>, j: &Job) -> Duration {
    let name = j.metadata.name.clone().unwrap_or_default();
    let start = Instant::now();
    if let Err(e) = api.create(&PostParams::default(), j).await {
        panic!("creating {name}: {e}");
    }
    loop {
        if let Ok(j) = api.get(&name).await {
            let done = j.status.and_then(|s| s.conditions).unwrap_or_default().iter().any(|c| {
                (c.type_ == JobConditionType::Complete || c.type_ == JobConditionType::Failed)
                    && c.status == ConditionStatus::True
            });
            if done {
                return start.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Baseline: `n` runs of `true`, `parallelism` at a time, spawned directly.
fn spawn_baseline(n: usize, parallelism: usize) -> Duration {
    let start = Instant::now();
    let mut running = Vec::new();
    for _ in 0..n {
        if running.len() == parallelism {
            let mut c: std::process::Child = running.remove(0);
            let _ = c.wait();
        }
        if let Ok(c) = Command::new("true").spawn() {
            running.push(c);
        }
    }
    for mut c in running {
        let _ = c.wait();
    }
    start.elapsed()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let pods = env_usize("RUNLET_BENCH_PODS", 600);
    let parallelism = env_usize("RUNLET_BENCH_PARALLELISM", 20);
    let runs = env_usize("RUNLET_BENCH_LATENCY_RUNS", 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["server", "--listen", "127.0.0.1:0", "--max-pods", "1000", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RUNLET_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runlet server");
    let stderr = server.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.map(|l| l.starts_with("runlet server listening")).unwrap_or(false) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (latency, throughput) = rt.block_on(async {
        let text = std::fs::read_to_string(dir.path().join("data/kubeconfig")).expect("kubeconfig");
        let kc = kube::config::Kubeconfig::from_yaml(&text).expect("parse kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let api: Api<Job> = Api::namespaced(client, "default");
        // Warm up: the first pod also waits for the node to register.
        run_job(&api, &job("warmup", 1, 1)).await;
        let mut lat = Vec::new();
        for i in 0..runs {
            lat.push(run_job(&api, &job(&format!("lat-{i}"), 1, 1)).await);
        }
        let tp = run_job(&api, &job("throughput", pods, parallelism)).await;
        (median(lat), tp)
    });
    let rss = rss_kib(server.id());
    let _ = server.kill();
    let _ = server.wait();

    let base_one = median((0..runs).map(|_| spawn_baseline(1, 1)).collect());
    let base_many = spawn_baseline(pods, parallelism);
    let per_min = |n: usize, d: Duration| (n as f64) / d.as_secs_f64() * 60.0;
    println!("| measure | runlet | baseline (direct spawn) |");
    println!("|---|---|---|");
    println!(
        "| one pod: Job created → Complete (median of {runs}) | {:.1} ms | {:.2} ms |",
        latency.as_secs_f64() * 1000.0,
        base_one.as_secs_f64() * 1000.0
    );
    println!(
        "| {pods} pods, parallelism {parallelism}: total | {:.2} s | {:.2} s |",
        throughput.as_secs_f64(),
        base_many.as_secs_f64()
    );
    println!("| pods per minute | {:.0} | {:.0} |", per_min(pods, throughput), per_min(pods, base_many));
    println!("| server RSS after the run | {} MiB | — |", rss / 1024);
}
