//! `runlet run -f FILE`: one-shot. Starts an ephemeral server in a temporary data dir (or uses `--kubeconfig`),
//! creates the ConfigMaps and Secrets of the file, then every Job of it, shows progress, streams pod logs prefixed by pod name, and exits 0 when all
//! Jobs Complete, 1 when any Failed (with the reason and the failed pods' last log lines), 2 on bad input.
//! Ctrl-C deletes what it created.

mod manifest;
mod progress;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use runlet_api::vocab::PodPhase;
use runlet_client::ApiErrorExt;
use runlet_codec::{ConfigMap, Job, Pod, Secret};
use tokio::sync::Mutex;

use progress::State;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The manifest: one or more batch/v1 Jobs and the v1 ConfigMaps and Secrets they use (YAML or JSON; `-`
    /// reads standard input)
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
    /// Use the server of this kubeconfig instead of starting an ephemeral one
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace to create the Jobs in
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Do not stream pod logs
    #[arg(short, long)]
    pub quiet: bool,
}

/// Exit statuses of `runlet run`.
pub const EXIT_COMPLETE: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

pub fn run(args: RunArgs) -> std::process::ExitCode {
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&args.file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("runlet: {}: {e}", args.file.display());
            return std::process::ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let manifest = match manifest::read(&args.file.display().to_string(), &text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("runlet: {e}");
            return std::process::ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runlet: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        match run_jobs(&args, manifest).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("runlet: {e:#}");
                EXIT_FAILED
            }
        }
    });
    // Logs and watches may still hold tasks; do not wait for them.
    rt.shutdown_timeout(Duration::from_millis(200));
    std::process::ExitCode::from(code)
}

/// The server the Jobs run on: an ephemeral one (kept alive by its temp dir) or an existing one.
struct Target {
    client: Client,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Target {
    /// The ephemeral server's pods may still hold tmpfs volumes (a pod stopped at exit does not get to
    /// clean up): unmounted first, so removing the temp dir removes everything and leaks no mount.
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            runlet_agent::runtime::volumes::unmount_below(dir.path());
        }
    }
}

impl Target {
    fn ephemeral(&self) -> bool {
        self.dir.is_some()
    }
}

async fn connect(args: &RunArgs) -> anyhow::Result<Target> {
    if let Some(path) = &args.kubeconfig {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let kc = kube::config::Kubeconfig::from_yaml(&text).context("parsing the kubeconfig")?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        return Ok(Target { client: Client::try_from(config)?, dir: None });
    }
    let dir = tempfile::Builder::new().prefix("runlet-run-").tempdir().context("creating a temporary data dir")?;
    let agent = crate::server::LocalAgent {
        node_name: crate::node::host_name(),
        max_pods: crate::node::DEFAULT_MAX_PODS,
        allow_host_path: false,
        pods: crate::node::PodFlags::default(),
    };
    let listen = "127.0.0.1:0".parse().context("listen address")?;
    let running = crate::server::start(dir.path(), listen, Some(agent)).await?;
    Ok(Target { client: running.client, dir: Some(dir) })
}

async fn run_jobs(args: &RunArgs, manifest: manifest::Manifest) -> anyhow::Result<u8> {
    // Everything is decoded before anything is created.
    let decoded = decode(manifest);
    let (objects, jobs) = match decoded {
        Ok(d) => d,
        Err(e) => {
            eprintln!("runlet: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let target = connect(args).await?;
    let client = target.client.clone();
    let jobs_api: Api<Job> = Api::namespaced(client.clone(), &args.namespace);

    // The objects the Jobs use come first, so their pods find them at once.
    let mut config = Created::new(&client, &args.namespace);
    for object in objects {
        if let Err(e) = config.create(object).await {
            config.delete_all().await;
            return refused_or_failed(e, "creating a ConfigMap or Secret");
        }
    }
    let mut created: Vec<Job> = Vec::new();
    for job in jobs {
        match jobs_api.create(&PostParams::default(), &job).await {
            Ok(j) => created.push(j),
            Err(e) => {
                delete_all(&jobs_api, &created).await;
                config.delete_all().await;
                return refused_or_failed(e, "creating the job");
            }
        }
    }

    let bars = MultiProgress::with_draw_target(if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:.bold} {bar:30.cyan/blue} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut progress: BTreeMap<String, ProgressBar> = BTreeMap::new();
    for j in &created {
        let total = j.spec.as_ref().and_then(|s| s.completions).unwrap_or(1).max(1) as u64;
        let bar = bars.add(ProgressBar::new(total).with_style(style.clone()).with_prefix(j.name_any()));
        progress.insert(j.name_any(), bar);
    }
    let printer = Printer { bars: bars.clone() };
    let uids: HashSet<String> = created.iter().filter_map(|j| j.metadata.uid.clone()).collect();
    let logs = (!args.quiet).then(|| {
        Arc::new(LogFollower {
            pods: Api::namespaced(client.clone(), &args.namespace),
            job_uids: uids.clone(),
            printer: printer.clone(),
            following: Mutex::new(Some(HashMap::new())),
        })
    });
    if let Some(logs) = logs.clone() {
        // Driven by a watch of the pods: a container is followed as soon as its start is reported.
        tokio::spawn(async move {
            let mut events = watcher::watcher(logs.pods.clone(), watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::Apply(pod) | Event::InitApply(pod)) => logs.consider(&pod).await,
                    Ok(_) => {}
                    // The watcher lists and watches again when next polled; a pause keeps a broken server
                    // from being asked in a tight loop.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }

    let outcome = tokio::select! {
        r = wait_for_jobs(&jobs_api, &created, &progress) => r,
        _ = tokio::signal::ctrl_c() => {
            printer.line("runlet: interrupted; deleting the jobs it created");
            clean_up(&target, &jobs_api, &created, &uids).await;
            config.delete_all().await;
            return Ok(EXIT_INTERRUPTED);
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            clean_up(&target, &jobs_api, &created, &uids).await;
            config.delete_all().await;
            return Err(e);
        }
    };
    if let Some(logs) = &logs {
        logs.finish().await;
    }
    for bar in progress.values() {
        bar.finish();
    }
    let mut code = EXIT_COMPLETE;
    for (name, p) in &outcome {
        match &p.state {
            State::Complete => eprintln!("job {name} completed: {}", p.summary()),
            State::Failed { reason, message } => {
                code = EXIT_FAILED;
                eprintln!("job {name} failed: {reason}: {message} ({})", p.summary());
                explain_failure(&client, &args.namespace, name, &outcome_uid(&created, name)).await;
            }
            State::Running => {}
        }
    }
    Ok(code)
}

fn outcome_uid(created: &[Job], name: &str) -> String {
    created.iter().find(|j| j.name_any() == name).and_then(|j| j.metadata.uid.clone()).unwrap_or_default()
}

/// Watches until every Job is Complete or Failed; updates the bars on the way.
async fn wait_for_jobs(
    api: &Api<Job>,
    created: &[Job],
    bars: &BTreeMap<String, ProgressBar>,
) -> anyhow::Result<BTreeMap<String, progress::Progress>> {
    let names: HashSet<String> = created.iter().map(|j| j.name_any()).collect();
    let mut last: BTreeMap<String, progress::Progress> = BTreeMap::new();
    // The Jobs seen by the watcher's current list: one missing from it was deleted.
    let mut listed: HashSet<String> = HashSet::new();
    let mut failures = 0;
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => {
                failures = 0;
                event
            }
            // A transient error is retried (the watcher lists and watches again when next polled); a server
            // that stays unreachable ends the run.
            Err(e) => {
                failures += 1;
                if failures > 50 {
                    return Err(e.into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let job = match event {
            Event::Init => {
                listed.clear();
                continue;
            }
            Event::InitDone => {
                if let Some(gone) = names.iter().find(|n| !listed.contains(*n)) {
                    anyhow::bail!("job {gone} was deleted before it finished");
                }
                continue;
            }
            Event::Delete(j) if names.contains(&j.name_any()) && !finished(last.get(&j.name_any())) => {
                anyhow::bail!("job {} was deleted before it finished", j.name_any());
            }
            Event::Delete(_) => continue,
            Event::InitApply(j) => {
                listed.insert(j.name_any());
                j
            }
            Event::Apply(j) => j,
        };
        if !names.contains(&job.name_any()) {
            continue;
        }
        let p = progress::of(&job);
        if let Some(bar) = bars.get(&job.name_any()) {
            bar.set_position(p.succeeded.max(0) as u64);
            bar.set_message(p.summary());
        }
        last.insert(job.name_any(), p);
        if last.len() == names.len() && last.values().all(|p| p.state != State::Running) {
            return Ok(last);
        }
    }
    anyhow::bail!("the watch of the jobs ended")
}

fn finished(progress: Option<&progress::Progress>) -> bool {
    progress.is_some_and(|p| p.state != State::Running)
}

/// Deletes the Jobs; on an ephemeral server also waits (a bounded time) until their pods are gone, so no
/// container outlives the server that started it.
async fn clean_up(target: &Target, api: &Api<Job>, jobs: &[Job], uids: &HashSet<String>) {
    delete_all(api, jobs).await;
    if !target.ephemeral() {
        return;
    }
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), api.namespace().unwrap_or("default"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while tokio::time::Instant::now() < deadline {
        match pods.list(&ListParams::default()).await {
            Ok(list) if list.items.iter().any(|p| owned_by_any(p, uids)) => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The manifest's ConfigMaps and Secrets, and its Jobs, as typed objects.
fn decode(manifest: manifest::Manifest) -> Result<(Vec<Object>, Vec<Job>), runlet_codec::DecodeError> {
    let mut objects = Vec::new();
    for m in &manifest.config_maps {
        objects.push(Object::ConfigMap(runlet_codec::decode_config_map(m)?.object));
    }
    for m in &manifest.secrets {
        objects.push(Object::Secret(runlet_codec::decode_secret(m)?.object));
    }
    let jobs = manifest.jobs.iter().map(|m| runlet_codec::decode_job(m).map(|d| d.object)).collect::<Result<_, _>>()?;
    Ok((objects, jobs))
}

/// A create the server refused as bad input (invalid, already there, malformed) ends the run with
/// [`EXIT_BAD_INPUT`] and the server's message; anything else is an error.
fn refused_or_failed(e: kube::Error, what: &'static str) -> anyhow::Result<u8> {
    match e {
        e if e.is_bad_input() || e.is_already_exists() || e.is_conflict() => {
            eprintln!("runlet: {}", e.api_message());
            Ok(EXIT_BAD_INPUT)
        }
        e => Err(e).context(what),
    }
}

/// A ConfigMap or Secret of the manifest.
enum Object {
    ConfigMap(ConfigMap),
    Secret(Secret),
}

/// The ConfigMaps and Secrets this run created (on an ephemeral server they go with it; on a `--kubeconfig`
/// server they are deleted when the run is interrupted or its Jobs could not be created).
struct Created {
    config_maps: Api<ConfigMap>,
    secrets: Api<Secret>,
    names: Vec<(bool, String)>,
}

impl Created {
    fn new(client: &Client, namespace: &str) -> Self {
        Created {
            config_maps: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client.clone(), namespace),
            names: Vec::new(),
        }
    }

    async fn create(&mut self, object: Object) -> kube::Result<()> {
        let pp = PostParams::default();
        let (secret, name) = match object {
            Object::ConfigMap(cm) => (false, self.config_maps.create(&pp, &cm).await?.name_any()),
            Object::Secret(s) => (true, self.secrets.create(&pp, &s).await?.name_any()),
        };
        self.names.push((secret, name));
        Ok(())
    }

    async fn delete_all(&self) {
        let dp = DeleteParams::default();
        for (secret, name) in &self.names {
            if *secret {
                let _ = self.secrets.delete(name, &dp).await;
            } else {
                let _ = self.config_maps.delete(name, &dp).await;
            }
        }
    }
}

async fn delete_all(api: &Api<Job>, jobs: &[Job]) {
    let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
    for j in jobs {
        let _ = api.delete(&j.name_any(), &dp).await;
    }
}

/// Prints log lines above the progress bars (or plainly when there are none).
#[derive(Clone)]
struct Printer {
    bars: MultiProgress,
}

impl Printer {
    fn line(&self, s: &str) {
        if self.bars.is_hidden() {
            println!("{s}");
        } else {
            let _ = self.bars.println(s);
        }
    }
}

/// Follows the logs of every container of every pod of the Jobs, each line prefixed with `[pod]`.
struct LogFollower {
    pods: Api<Pod>,
    job_uids: HashSet<String>,
    printer: Printer,
    /// One follow per (pod, container, restart): a restart is a new log. None once [`LogFollower::finish`]
    /// took the follows: no pod event starts new ones after that.
    following: Mutex<Option<Follows>>,
}

/// (pod, container, restart) → the task printing that run's log.
type Follows = HashMap<(String, String, i32), tokio::task::JoinHandle<()>>;

impl LogFollower {
    /// Starts following every container of the pod that has started and is not followed yet.
    async fn consider(self: &Arc<Self>, pod: &Pod) {
        if !owned_by_any(pod, &self.job_uids) {
            return;
        }
        let mut guard = self.following.lock().await;
        let Some(following) = guard.as_mut() else { return };
        for (container, restarts) in started_containers(pod) {
            let key = (pod.name_any(), container.clone(), restarts);
            if following.contains_key(&key) {
                continue;
            }
            let me = self.clone();
            let name = pod.name_any();
            let handle = tokio::spawn(async move { me.follow(&name, container).await });
            following.insert(key, handle);
        }
    }

    /// Prints one run's log, following it while the container runs.
    async fn follow(&self, name: &str, container: String) {
        let lp = LogParams { follow: true, container: Some(container), ..Default::default() };
        for attempt in 0..8 {
            match self.pods.log_stream(name, &lp).await {
                Ok(stream) => {
                    let mut lines = stream.lines();
                    while let Some(Ok(line)) = lines.next().await {
                        self.printer.line(&format!("[{name}] {line}"));
                    }
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await,
            }
        }
    }

    /// A last look for containers whose start the watch had not reported yet, then waits (bounded) for every follow to drain.
    async fn finish(self: &Arc<Self>) {
        if let Ok(list) = self.pods.list(&ListParams::default()).await {
            for pod in &list.items {
                self.consider(pod).await;
            }
        }
        let handles: Vec<_> = self.following.lock().await.take().into_iter().flat_map(|m| m.into_values()).collect();
        let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(handles)).await;
    }
}

fn owned_by_any(pod: &Pod, uids: &HashSet<String>) -> bool {
    pod.owner_references().iter().any(|o| uids.contains(&o.uid))
}

/// Containers whose latest run has a log, with that run's restart count: running or ended, or waiting to
/// restart after a run that ended (crash-loop back-off), whose log is still the current one.
fn started_containers(pod: &Pod) -> Vec<(String, i32)> {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    statuses
        .into_iter()
        .filter(|s| {
            s.state.as_ref().is_some_and(|st| st.running.is_some() || st.terminated.is_some())
                || s.last_state.as_ref().is_some_and(|l| l.terminated.is_some())
        })
        .map(|s| (s.name, s.restart_count))
        .collect()
}

/// For a failed Job: the last log lines of each failed pod.
async fn explain_failure(client: &Client, ns: &str, job: &str, uid: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Ok(list) = pods.list(&ListParams::default()).await else { return };
    let uids = HashSet::from([uid.to_string()]);
    for pod in list.items.iter().filter(|p| owned_by_any(p, &uids)) {
        if PodPhase::of(pod.status.as_ref()) != Some(PodPhase::Failed) {
            continue;
        }
        let container = pod.spec.as_ref().and_then(|s| s.containers.first()).map(|c| c.name.clone());
        let lp = LogParams { container, tail_lines: Some(10), ..Default::default() };
        if let Ok(text) = pods.logs(&pod.name_any(), &lp).await {
            eprintln!("--- last log lines of failed pod {} (job {job}) ---", pod.name_any());
            for line in text.lines() {
                eprintln!("  {line}");
            }
        }
    }
}
