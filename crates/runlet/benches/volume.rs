//! runlet at volume, each case next to its baselines measured in the same run, interleaved round by round (the
//! machine's load changes over a run; pairs measured together keep their ratio meaningful). Run it with
//! `scripts/bench` (a release build; `--short` for the small version CI runs); it prints Markdown tables.
//!
//! Cases (`--cases` picks some, comma-separated):
//! - `throughput`: one Job, `parallelism: 50`, `command: ["true"]`, POST → `Complete`; baselines
//!   `seq N | xargs -P 50 -n1 true` and `seq N | parallel -j 50 true` (GNU parallel, when installed);
//! - `latency`: one-pod Jobs one after another, POST → `Complete` seen by a watch, and POST → the container's
//!   process started (it touches a file; its mtime says when); baseline: the same command spawned directly;
//! - `scale`: an Indexed Job, `parallelism: 200`, to `completedIndexes: 0-(N-1)`; server peak RSS, store size,
//!   and `runlet get pods` (and `kubectl get pods`, when on PATH) over all of them;
//! - `api`: create/get/update/delete pods with 1 and with 20 concurrent clients, and a list of all of them by
//!   label selector, whole and in `limit=500` pages.
//!
//! Each round of `throughput` and `scale` starts a fresh `runlet server` (its peak RSS is that round's).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::Job;
use serde_json::{Value, json};

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    throughput_pods: usize,
    latency_jobs: usize,
    scale_completions: usize,
    api_pods: usize,
    rounds: usize,
}

const FULL: Sizes =
    Sizes { throughput_pods: 10_000, latency_jobs: 200, scale_completions: 100_000, api_pods: 10_000, rounds: 3 };
const SHORT: Sizes = Sizes { throughput_pods: 50, latency_jobs: 5, scale_completions: 100, api_pods: 200, rounds: 1 };

const CASES: [&str; 4] = ["throughput", "latency", "scale", "api"];

struct Options {
    sizes: Sizes,
    cases: Vec<String>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: scripts/bench [--short] [--rounds N] [--cases throughput,latency,scale,api]\n\
         \x20      [--throughput-pods N] [--latency-jobs N] [--scale-completions N] [--api-pods N]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut sizes = FULL;
    let mut overrides: Vec<(String, usize)> = Vec::new();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            // cargo bench passes `--bench` to harness-less benchmarks.
            "--bench" => {}
            "--short" => sizes = SHORT,
            "--rounds" => overrides.push(("rounds".into(), number("--rounds").max(1))),
            "--throughput-pods" => overrides.push(("throughput".into(), number(&arg))),
            "--latency-jobs" => overrides.push(("latency".into(), number(&arg).max(1))),
            "--scale-completions" => overrides.push(("scale".into(), number(&arg))),
            "--api-pods" => overrides.push(("api".into(), number(&arg))),
            "--cases" => {
                let list = args.next().unwrap_or_else(|| usage("--cases needs a list"));
                cases = list.split(',').map(str::to_string).collect();
                if let Some(bad) = cases.iter().find(|c| !CASES.contains(&c.as_str())) {
                    usage(&format!("unknown case {bad}"));
                }
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    for (what, n) in overrides {
        match what.as_str() {
            "rounds" => sizes.rounds = n,
            "throughput" => sizes.throughput_pods = n,
            "latency" => sizes.latency_jobs = n,
            "scale" => sizes.scale_completions = n,
            _ => sizes.api_pods = n,
        }
    }
    Options { sizes, cases }
}

/// A `runlet server` on a fresh data dir, killed on drop.
struct Server {
    child: Child,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> anyhow::Result<Server> {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_runlet"))
            .args(["server", "--listen", "127.0.0.1:0", "--max-pods", "1000", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env("RUNLET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("kubeconfig:") => break,
                Some(Ok(_)) => {}
                _ => anyhow::bail!("runlet server exited before it was ready: {:?}", child.try_wait()),
            }
        }
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, data, _dir: dir })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.data.join("kubeconfig")
    }

    async fn client(&self) -> anyhow::Result<kube::Client> {
        let text = std::fs::read_to_string(self.kubeconfig())?;
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&text)?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The server's peak resident set (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }

    /// Bytes of the store's files (the database and its write-ahead log).
    fn store_mib(&self) -> f64 {
        let bytes: u64 = std::fs::read_dir(&self.data)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("store"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        bytes as f64 / (1024.0 * 1024.0)
    }
}

impl Drop for Server {
    /// Stops the server as a user would (SIGTERM: its agent unmounts what its pods had mounted), killing it
    /// only if it has not ended after 20 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn job(name: &str, completions: usize, parallelism: usize, indexed: bool, command: Value) -> anyhow::Result<Job> {
    let mut spec = json!({"completions": completions, "parallelism": parallelism, "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "none", "command": command}]}}});
    if indexed {
        spec["completionMode"] = json!("Indexed");
    }
    let value = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec});
    Ok(serde_json::from_value(value)?)
}

fn finished(job: &Job) -> Option<bool> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == ConditionStatus::True).find_map(|c| {
        match JobConditionType::parse(&c.type_)? {
            JobConditionType::Complete => Some(true),
            JobConditionType::Failed => Some(false),
            _ => None,
        }
    })
}

/// Creates the Job and waits on a watch until it is Complete (an error if it fails). Returns the Job as last
/// seen and the time from just before the POST.
async fn run_job(api: &Api<Job>, job: &Job) -> anyhow::Result<(Job, Duration)> {
    let name = job.metadata.name.clone().unwrap_or_default();
    let start = Instant::now();
    let created = api.create(&PostParams::default(), job).await?;
    let rv = created.metadata.resource_version.clone().unwrap_or_default();
    let params = WatchParams::default().fields(&format!("metadata.name={name}")).timeout(290);
    let mut from = rv;
    loop {
        let mut events = api.watch(&params, &from).await?.boxed();
        while let Some(event) = events.try_next().await? {
            let seen = match event {
                WatchEvent::Added(j) | WatchEvent::Modified(j) => j,
                WatchEvent::Deleted(_) => anyhow::bail!("job {name} was deleted"),
                WatchEvent::Bookmark(b) => {
                    from = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Error(e) => anyhow::bail!("watching job {name}: {}", e.message),
            };
            from = seen.metadata.resource_version.clone().unwrap_or_default();
            match finished(&seen) {
                Some(true) => return Ok((seen, start.elapsed())),
                Some(false) => anyhow::bail!("job {name} failed"),
                None => {}
            }
        }
    }
}

/// Runs a shell pipeline and times it.
fn timed_shell(script: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = Command::new("sh").arg("-c").arg(script).stdout(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "{script}: {status}");
    Ok(start.elapsed())
}

fn gnu_parallel() -> bool {
    Command::new("parallel")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GNU parallel"))
}

fn have(command: &str) -> bool {
    Command::new(command).arg("version").arg("--client").output().is_ok_and(|o| o.status.success())
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One row of a result table: a measure, its median over the rounds, and every round's value.
fn row(measure: &str, unit: &str, values: &[f64]) {
    let all: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    println!("| {measure} | {:.2} {unit} | {} |", median(values), all.join(", "));
}

fn table_head(title: &str) {
    println!("\n### {title}\n\n| measure | median | rounds |\n|---|---|---|");
}

async fn throughput(sizes: Sizes) -> anyhow::Result<()> {
    let n = sizes.throughput_pods;
    let parallel = gnu_parallel();
    let (mut runlet_s, mut xargs_s, mut parallel_s, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut small_s, mut per_pod_growth) = (Vec::new(), Vec::new());
    for round in 0..sizes.rounds {
        eprintln!("throughput round {}: {n} pods", round + 1);
        xargs_s.push(timed_shell(&format!("seq {n} | xargs -P 50 -n1 true"))?.as_secs_f64());
        if parallel {
            parallel_s.push(timed_shell(&format!("seq {n} | parallel --will-cite -j 50 true"))?.as_secs_f64());
        }
        let server = Server::start(&[])?;
        let api: Api<Job> = Api::namespaced(server.client().await?, "default");
        let (_, took) = run_job(&api, &job("throughput", n, 50, false, json!(["true"]))?).await?;
        runlet_s.push(took.as_secs_f64());
        rss.push(server.peak_rss_mib());
        // A tenth of the size on a fresh server of the same round: the cost per pod must not grow with the pods.
        let small_n = (n / 10).max(1);
        let small = Server::start(&[])?;
        let api: Api<Job> = Api::namespaced(small.client().await?, "default");
        let (_, small_took) = run_job(&api, &job("throughput-tenth", small_n, 50, false, json!(["true"]))?).await?;
        per_pod_growth.push((took.as_secs_f64() / n as f64) / (small_took.as_secs_f64() / small_n as f64));
        small_s.push(small_took.as_secs_f64());
    }
    table_head(&format!("throughput: {n} pods of `true`, parallelism 50"));
    row("runlet: POST → Complete", "s", &runlet_s);
    row("baseline `xargs -P 50 -n1 true`", "s", &xargs_s);
    if parallel {
        row("baseline `parallel -j 50 true`", "s", &parallel_s);
    } else {
        println!("| baseline GNU parallel | not installed | |");
    }
    let pods_per_s: Vec<f64> = runlet_s.iter().map(|s| n as f64 / s).collect();
    row("runlet pods/s", "", &pods_per_s);
    let ratio: Vec<f64> = runlet_s.iter().zip(&xargs_s).map(|(r, x)| r / x).collect();
    row("runlet / xargs (same round)", "x", &ratio);
    if parallel {
        let ratio: Vec<f64> = runlet_s.iter().zip(&parallel_s).map(|(r, p)| r / p).collect();
        row("runlet / parallel (same round)", "x", &ratio);
    }
    row("server peak RSS", "MiB", &rss);
    row(&format!("runlet: {} pods, POST → Complete", (n / 10).max(1)), "s", &small_s);
    row(&format!("time per pod at {n} / at {} (same round)", (n / 10).max(1)), "x", &per_pod_growth);
    Ok(())
}

/// The mtime of `path`, once it exists.
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

async fn latency(sizes: Sizes) -> anyhow::Result<()> {
    let n = sizes.latency_jobs;
    let marks = tempfile::tempdir()?;
    // As root, containers run in a sandbox whose root is an overlay: the mark reaches the host through a
    // hostPath volume. Without the sandbox the process writes the host path itself.
    let sandboxed = nix::unistd::Uid::effective().is_root();
    let server = Server::start(&["--allow-host-path"])?;
    let api: Api<Job> = Api::namespaced(server.client().await?, "default");
    let marked_job = |name: &str| -> anyhow::Result<Job> {
        let mark =
            if sandboxed { format!("/bench-marks/{name}") } else { marks.path().join(name).display().to_string() };
        let mut j = job(name, 1, 1, false, json!(["touch", mark]))?;
        if sandboxed {
            let mut value = serde_json::to_value(&j)?;
            value["spec"]["template"]["spec"]["volumes"] =
                json!([{"name": "marks", "hostPath": {"path": marks.path(), "type": "Directory"}}]);
            value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
                json!([{"name": "marks", "mountPath": "/bench-marks"}]);
            j = serde_json::from_value(value)?;
        }
        Ok(j)
    };
    // The first pod also waits for the node to register.
    run_job(&api, &marked_job("warmup")?).await?;
    let (mut complete_ms, mut started_ms, mut direct_ms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("latency-{i}");
        let submitted = SystemTime::now();
        let (_, took) = run_job(&api, &marked_job(&name)?).await?;
        complete_ms.push(took.as_secs_f64() * 1000.0);
        let started = modified(&marks.path().join(&name)).ok_or_else(|| anyhow::anyhow!("{name} left no mark"))?;
        started_ms.push(started.duration_since(submitted).unwrap_or_default().as_secs_f64() * 1000.0);
        // Baseline, interleaved: the same command spawned directly.
        let direct = marks.path().join(format!("direct-{i}"));
        let start = Instant::now();
        let status = Command::new("touch").arg(&direct).status()?;
        anyhow::ensure!(status.success(), "touch: {status}");
        direct_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("\n### latency: {n} one-pod Jobs one after another\n\n| measure | p50 | p99 |\n|---|---|---|");
    for (measure, values) in [
        ("runlet: POST → Complete seen by a watch", &complete_ms),
        ("runlet: POST → container process started", &started_ms),
        ("baseline: the same `touch` spawned directly, to its exit", &direct_ms),
    ] {
        println!("| {measure} | {:.1} ms | {:.1} ms |", percentile(values, 50.0), percentile(values, 99.0));
    }
    Ok(())
}

/// Runs a client command against the server with its output thrown away; its time.
fn timed_client(command: &str, server: &Server, args: &[&str]) -> anyhow::Result<f64> {
    let start = Instant::now();
    let status =
        Command::new(command).args(args).env("KUBECONFIG", server.kubeconfig()).stdout(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "{command} {args:?}: {status}");
    Ok(start.elapsed().as_secs_f64())
}

async fn scale(sizes: Sizes) -> anyhow::Result<()> {
    let n = sizes.scale_completions;
    let kubectl = have("kubectl");
    let runlet = env!("CARGO_BIN_EXE_runlet");
    let want = if n == 1 { "0".to_string() } else { format!("0-{}", n.saturating_sub(1)) };
    let (mut took, mut rss_done, mut rss, mut store, mut get_runlet, mut get_kubectl) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cgroups_grew = Vec::new();
    for round in 0..sizes.rounds {
        eprintln!("scale round {}: {n} completions", round + 1);
        let cgroups_before = memory_cgroups();
        let server = Server::start(&[])?;
        let api: Api<Job> = Api::namespaced(server.client().await?, "default");
        let (done, elapsed) = run_job(&api, &job("scale", n, 200, true, json!(["true"]))?).await?;
        let indexes = done.status.and_then(|s| s.completed_indexes).unwrap_or_default();
        anyhow::ensure!(indexes == want, "completedIndexes {indexes}, not {want}");
        took.push(elapsed.as_secs_f64());
        // Before the lists below: what running the Job took, apart from what answering a list of every pod takes.
        rss_done.push(server.peak_rss_mib());
        if let (Some(before), Some(after)) = (cgroups_before, memory_cgroups()) {
            cgroups_grew.push(after - before);
        }
        get_runlet.push(timed_client(runlet, &server, &["get", "pods"])?);
        if kubectl {
            get_kubectl.push(timed_client("kubectl", &server, &["get", "pods"])?);
        }
        rss.push(server.peak_rss_mib());
        store.push(server.store_mib());
    }
    table_head(&format!("scale: Indexed Job, {n} completions, parallelism 200"));
    row(&format!("POST → Complete (completedIndexes {want})"), "s", &took);
    let pods_per_s: Vec<f64> = took.iter().map(|s| n as f64 / s).collect();
    row("pods/s", "", &pods_per_s);
    row("server peak RSS at Complete", "MiB", &rss_done);
    row("server peak RSS after the two lists", "MiB", &rss);
    row("store size", "MiB", &store);
    if !cgroups_grew.is_empty() {
        row("memory cgroups still held at Complete (kernel count, growth in the round)", "", &cgroups_grew);
    }
    row("`runlet get pods` over all of them", "s", &get_runlet);
    if kubectl {
        row("`kubectl get pods` over all of them", "s", &get_kubectl);
    }
    Ok(())
}

/// The kernel's count of memory cgroups (`/proc/cgroups`), removed-but-not-yet-freed ("dying") ones
/// included: on cgroup v1 there are at most 65,535, and a runtime whose removed cgroups stay pinned (by page
/// cache charged to them) runs out of them at volume.
fn memory_cgroups() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cgroups").ok()?;
    let line = text.lines().find(|l| l.starts_with("memory\t"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

const PODS: &str = "/api/v1/namespaces/default/pods";

/// A pod no scheduler or agent touches (another scheduler's name): the API's own cost only.
fn api_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "api", "round": "0"}},
        "spec": {"schedulerName": "example.com/bench", "restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "none", "command": ["true"]}]}})
}

async fn send(client: &kube::Client, method: http::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let bytes = body.map(serde_json::to_vec).transpose()?.unwrap_or_default();
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes)?;
    let text = client.request_text(request).await?;
    Ok(serde_json::from_str(&text)?)
}

/// Runs `op` on every name, `clients` at a time; operations per second.
async fn rate<F, Fut>(names: &[String], clients: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let start = Instant::now();
    let results: Vec<anyhow::Result<Value>> =
        futures::stream::iter(names.iter().cloned().map(op)).buffer_unordered(clients).collect().await;
    for result in results {
        result?;
    }
    Ok(names.len() as f64 / start.elapsed().as_secs_f64())
}

/// Lists every pod with the label selector, in pages of `limit` (0: at once); the time and the items seen.
async fn list(client: &kube::Client, limit: usize) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let mut items = 0;
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("{PODS}?labelSelector=bench%3Dapi");
        if limit > 0 {
            path.push_str(&format!("&limit={limit}"));
        }
        if let Some(t) = &token {
            path.push_str(&format!("&continue={t}"));
        }
        let page = send(client, http::Method::GET, &path, None).await?;
        items += page["items"].as_array().map_or(0, Vec::len);
        token = page["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok((start.elapsed().as_secs_f64() * 1000.0, items));
        }
    }
}

async fn api(sizes: Sizes) -> anyhow::Result<()> {
    let n = sizes.api_pods;
    let server = Server::start(&["--no-agent"])?;
    let client = server.client().await?;
    let groups: Vec<(usize, Vec<String>)> =
        [1, 20].iter().map(|&c| (c, (0..n / 2).map(|i| format!("api-{c}-{i}")).collect())).collect();
    let mut rates: Vec<(String, f64)> = Vec::new();
    for (clients, names) in &groups {
        let r = rate(names, *clients, |name| {
            let client = client.clone();
            async move { send(&client, http::Method::POST, PODS, Some(&api_pod(&name))).await }
        })
        .await?;
        rates.push((format!("create, {clients} client(s)"), r));
    }
    let total = groups.iter().map(|(_, names)| names.len()).sum::<usize>();
    let (mut whole, mut paged) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        for (limit, times) in [(0, &mut whole), (500, &mut paged)] {
            let (ms, items) = list(&client, limit).await?;
            anyhow::ensure!(items == total, "listed {items} of {total} pods");
            times.push(ms);
        }
    }
    for (clients, names) in &groups {
        let r = rate(names, *clients, |name| {
            let client = client.clone();
            async move { send(&client, http::Method::GET, &format!("{PODS}/{name}"), None).await }
        })
        .await?;
        rates.push((format!("get, {clients} client(s)"), r));
    }
    for (clients, names) in &groups {
        let r = rate(names, *clients, |name| {
            let client = client.clone();
            async move {
                let path = format!("{PODS}/{name}");
                let mut pod = send(&client, http::Method::GET, &path, None).await?;
                pod["metadata"]["labels"]["round"] = json!("1");
                send(&client, http::Method::PUT, &path, Some(&pod)).await
            }
        })
        .await?;
        rates.push((format!("update (GET + PUT), {clients} client(s)"), r));
    }
    for (clients, names) in &groups {
        let r = rate(names, *clients, |name| {
            let client = client.clone();
            async move { send(&client, http::Method::DELETE, &format!("{PODS}/{name}"), None).await }
        })
        .await?;
        rates.push((format!("delete, {clients} client(s)"), r));
    }
    table_head(&format!("API: {total} pods (no scheduler, no agent)"));
    row(&format!("list all {total} by label selector, at once"), "ms", &whole);
    row(&format!("list all {total} by label selector, `limit=500` pages"), "ms", &paged);
    println!("\n| operation | per second |\n|---|---|");
    for (what, r) in rates {
        println!("| {what} | {r:.0} |");
    }
    println!("\nserver peak RSS: {:.1} MiB", server.peak_rss_mib());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let sizes = options.sizes;
    let runtime = tokio::runtime::Runtime::new()?;
    println!("## runlet benchmarks\n\nsizes: {sizes:?}; cases: {}", options.cases.join(", "));
    let started = Instant::now();
    for case in &options.cases {
        let case_started = Instant::now();
        runtime.block_on(async {
            match case.as_str() {
                "throughput" => throughput(sizes).await,
                "latency" => latency(sizes).await,
                "scale" => scale(sizes).await,
                _ => api(sizes).await,
            }
        })?;
        eprintln!("{case}: {:.1} s", case_started.elapsed().as_secs_f64());
    }
    println!("\n(all cases: {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}
