//! A per-pod worker: behaves like a kubelet for one pod. It recovers what the disk knows about the pod,
//! starts containers as [`model::PodModel::decide`] says, feeds container exits back into the model and
//! publishes the pod status ([`status::build_status`]) whenever it changes. All decisions are in the pure
//! [`model`], [`status`] and [`backoff`] modules; this loop only does I/O.
//!
//! The lead drives a pod through [`PodWorker`]: `spawn` when the pod is bound to the node (also after an
//! agent restart: the worker adopts what is still running), watch `status()` and patch it into the API,
//! forward `events`, call `stop(grace)` when the pod is deleted, and `ProcessRuntime::remove_pod` once the
//! pod object is gone.

pub mod backoff;
pub mod model;
pub mod probe;
pub mod shutdown;
pub mod status;

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use futures::future::BoxFuture;
use jiff::Timestamp;
use nix::sys::signal::Signal;
use runlet_api::event::EventType;
use runlet_codec::{ConfigMap, Container, Pod, PodStatus, Secret};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::runtime::sources::{self, Sources};
use crate::runtime::state::{PodRecord, PodTerminationCause};
use crate::runtime::{
    ContainerHandle, Launch, PrepareError, ProcessRuntime, RecoveredRun, RunningContainer, RuntimeError,
};
use crate::runtime::{oci, volumes};
use backoff::BackoffConfig;
use model::{PodModel, SlotId, SlotState, Termination};
use probe::{Outcome, ProbeKind};

/// Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The kubelet's default `syncFrequency`.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(60);

/// How many events may wait for the lead before new ones are dropped.
const EVENT_BUFFER: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    pub backoff: BackoffConfig,
    /// How often volumes from ConfigMaps and Secrets are brought up to date while the pod runs (the
    /// kubelet's `syncFrequency`); [`DEFAULT_SYNC_PERIOD`] when unset.
    pub sync_period: Option<Duration>,
    /// Where ConfigMaps and Secrets are read from; without one, every reference to them is missing.
    pub objects: Option<Arc<dyn ObjectSource>>,
}

/// Reads the ConfigMaps and Secrets pods refer to (the API, for a real agent).
pub trait ObjectSource: Send + Sync + std::fmt::Debug {
    /// `Ok(None)` when it does not exist; `Err` with a message when it could not be read.
    fn config_map(&self, namespace: &str, name: &str) -> BoxFuture<'static, Result<Option<ConfigMap>, String>>;
    fn secret(&self, namespace: &str, name: &str) -> BoxFuture<'static, Result<Option<Secret>, String>>;
    /// A RuntimeClass (cluster-scoped); sources without them have none.
    fn runtime_class(&self, _name: &str) -> BoxFuture<'static, Result<Option<runlet_codec::RuntimeClass>, String>> {
        Box::pin(async { Ok(None) })
    }
}

/// An event the kubelet would record on the pod (`kubectl describe pod` shows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
    /// `spec.containers{name}` / `spec.initContainers{name}` for container events.
    pub field_path: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("pod has no uid")]
    NoUid,
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("recovering the pod's state: {0}")]
    Recover(#[from] std::io::Error),
    #[error("the pod worker stopped unexpectedly: {0}")]
    Aborted(String),
}

enum Command {
    Stop { grace: Duration },
}

/// A running pod worker.
#[derive(Debug)]
pub struct PodWorker {
    status: watch::Receiver<PodStatus>,
    commands: mpsc::UnboundedSender<Command>,
    events: Option<mpsc::Receiver<PodEvent>>,
    task: JoinHandle<Result<PodStatus, WorkerError>>,
}

impl PodWorker {
    /// Starts (or, after an agent restart, resumes) the pod. Must be called inside a Tokio runtime.
    pub fn spawn(runtime: ProcessRuntime, pod: Pod, options: WorkerOptions) -> PodWorker {
        let (status_tx, status_rx) = watch::channel(pod.status.clone().unwrap_or_default());
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let running = crate::metrics::RunningPod::new(&runtime.config().node_name);
        let task = tokio::spawn(async move {
            let _running = running;
            run(runtime, pod, options, status_tx, events_tx, commands_rx).await
        });
        PodWorker { status: status_rx, commands: commands_tx, events: Some(events_rx), task }
    }

    /// The pod status as the kubelet reports it; changes whenever the status does.
    pub fn status(&self) -> watch::Receiver<PodStatus> {
        self.status.clone()
    }

    /// The pod's events (taken once). Events are dropped when nobody takes them.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<PodEvent>> {
        self.events.take()
    }

    /// Stops the pod: SIGTERM to every container, SIGKILL after `grace`. A second call can shorten the
    /// grace period. The worker then reports the terminal phase and ends.
    pub fn stop(&self, grace: Duration) {
        let _ = self.commands.send(Command::Stop { grace });
    }

    /// Stops supervising the pod without touching its containers (agent shutdown): they keep running
    /// under their shims, and a later [`PodWorker::spawn`] for the same pod adopts them.
    pub fn detach(self) {
        self.task.abort();
    }

    /// Waits until the pod reached its terminal phase; returns the final status.
    pub async fn wait(self) -> Result<PodStatus, WorkerError> {
        drop(self.events);
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(WorkerError::Aborted(join.to_string())),
        }
    }
}

struct Worker {
    runtime: ProcessRuntime,
    objects: Option<Arc<dyn ObjectSource>>,
    pod: Pod,
    uid: String,
    model: PodModel,
    handles: HashMap<SlotId, ContainerHandle>,
    exits: mpsc::UnboundedSender<(SlotId, Termination)>,
    status: watch::Sender<PodStatus>,
    events: mpsc::Sender<PodEvent>,
    probe_results: mpsc::UnboundedSender<ProbeDone>,
}

/// A probe attempt that ended: which container, which probe, which run of the container, how it went.
struct ProbeDone {
    id: SlotId,
    kind: ProbeKind,
    run: u32,
    outcome: Outcome,
}

async fn run(
    runtime: ProcessRuntime,
    pod: Pod,
    options: WorkerOptions,
    status: watch::Sender<PodStatus>,
    events: mpsc::Sender<PodEvent>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> Result<PodStatus, WorkerError> {
    let uid = pod.metadata.uid.clone().filter(|u| !u.is_empty()).ok_or(WorkerError::NoUid)?;
    let (exits, mut exits_rx) = mpsc::unbounded_channel();
    let (probe_results, mut probes_rx) = mpsc::unbounded_channel();
    let model = PodModel::new(&pod, Timestamp::now(), options.backoff);
    let objects = options.objects.clone();
    let handles = HashMap::new();
    let mut worker = Worker { runtime, objects, pod, uid, model, handles, exits, status, events, probe_results };
    worker.recover().await?;
    if let Some(cause) = worker.model.termination {
        // The previous agent was tearing the pod down: carry on.
        worker.begin_termination(cause, worker.pod_grace());
    }
    let mut commands_open = true;
    let sync_period = options.sync_period.unwrap_or(DEFAULT_SYNC_PERIOD);
    let follows_api = worker.pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).any(volumes::is_projected);
    let mut next_sync = follows_api.then(|| tokio::time::Instant::now() + sync_period);
    loop {
        // A stop that is already waiting wins over starting anything (a pod deleted right after it was
        // handed to this worker must not start its containers only to kill them).
        while let Ok(Command::Stop { grace }) = commands.try_recv() {
            worker.begin_termination(PodTerminationCause::Stopped, grace);
        }
        let now = Timestamp::now();
        let decision = worker.model.decide(now);
        if let Some(cause) = decision.terminate {
            worker.begin_termination(cause, worker.pod_grace());
        }
        if worker.model.sidecars_to_stop() {
            // The main containers are done: the sidecars go (SIGTERM, then SIGKILL after the grace period).
            worker.begin_termination(PodTerminationCause::Stopped, worker.pod_grace());
        }
        for id in &decision.start {
            worker.start(*id).await;
        }
        for (id, kind) in &decision.probes {
            worker.probe(*id, *kind, now);
        }
        worker.stop_steps(Timestamp::now());
        let published = worker.publish(now);
        if worker.model.is_done() {
            worker.runtime.pod_ended(&worker.uid);
            return Ok(published);
        }
        if !decision.start.is_empty() {
            // A start may have failed at once and need another decision.
            continue;
        }
        // Stop steps and probes just begun moved the next thing to do.
        let wake = worker.model.decide(Timestamp::now()).wake_at.map(instant_at);
        tokio::select! {
            command = commands.recv(), if commands_open => match command {
                Some(Command::Stop { grace }) => worker.begin_termination(PodTerminationCause::Stopped, grace),
                // Nobody can stop the pod any more; it still runs to its end.
                None => commands_open = false,
            },
            Some((id, termination)) = exits_rx.recv() => worker.exited(id, termination),
            Some(done) = probes_rx.recv() => worker.probed(done),
            _ = sleep_until(next_sync) => {
                worker.refresh_volumes().await;
                next_sync = Some(tokio::time::Instant::now() + sync_period);
            }
            _ = sleep_until(wake) => {}
        }
    }
}

fn instant_at(t: Timestamp) -> tokio::time::Instant {
    let wait = Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    fn container(&self, id: SlotId) -> Option<&Container> {
        let spec = self.pod.spec.as_ref()?;
        if id.init { spec.init_containers.as_ref()?.get(id.index) } else { spec.containers.get(id.index) }
    }

    fn field_path(&self, id: SlotId) -> String {
        let list = if id.init { "initContainers" } else { "containers" };
        format!("spec.{list}{{{}}}", self.model.slot(id).name)
    }

    fn pod_grace(&self) -> Duration {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .map_or(DEFAULT_GRACE, |s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
    }

    fn event(&self, type_: EventType, reason: &'static str, message: String, id: Option<SlotId>) {
        let field_path = id.map(|id| self.field_path(id));
        // A full buffer means nobody is reading; events are best-effort, like the kubelet's.
        let _ = self.events.try_send(PodEvent { type_, reason, message, field_path });
    }

    /// Rebuilds the model from the disk: the pod's start time and termination, and each container's runs.
    async fn recover(&mut self) -> Result<(), WorkerError> {
        self.runtime.prepare_pod(&self.pod)?;
        let mut record = self.runtime.read_pod_record(&self.uid)?;
        let api_start = self.pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
        let start_time = api_start.or(record.start_time).unwrap_or_else(Timestamp::now);
        if record.start_time != Some(start_time) {
            record.start_time = Some(start_time);
            self.runtime.write_pod_record(&self.uid, &record)?;
        }
        self.model.start_time = start_time;
        if let Some(cause) = record.termination {
            self.model.begin_termination(cause);
        }
        let now = Timestamp::now();
        for id in self.model.ids().collect::<Vec<_>>() {
            let name = self.model.slot(id).name.clone();
            let recovered = self.runtime.recover_container(&self.uid, &name).await?;
            let previous = recovered.previous.as_ref().map(Termination::from_run);
            match recovered.latest {
                None => {}
                Some(RecoveredRun::Running(running)) => {
                    self.model.on_started(id, running.start.started_at, &running.container_id);
                    self.watch(id, running);
                }
                Some(RecoveredRun::Finished(run)) => {
                    self.model.on_started(
                        id,
                        run.record.started_at.unwrap_or(run.record.finished_at),
                        &run.container_id,
                    );
                    self.model.on_exited(id, Termination::from_run(&run), now);
                }
            }
            let slot = self.model.slot(id).clone();
            let slot = model::Slot { runs: recovered.runs, previous, ..slot };
            if id.init {
                self.model.init[id.index] = slot;
            } else {
                self.model.regular[id.index] = slot;
            }
        }
        Ok(())
    }

    async fn start(&mut self, id: SlotId) {
        let Some(container) = self.container(id).cloned() else { return };
        let attempt = self.model.slot(id).runs;
        let now = Timestamp::now();
        let sources = match self.read_sources().await {
            Ok(sources) => sources,
            Err(message) => {
                self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
                self.model.on_config_error(id, message, now);
                return;
            }
        };
        if let Err(message) = self.runtime.prepare_volumes(&self.pod, &sources) {
            self.event(EventType::Warning, "FailedMount", message.clone(), Some(id));
            self.model.on_config_error(id, message, now);
            return;
        }
        let image_run = match self.handler().await {
            Err(message) => {
                self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
                self.model.on_config_error(id, message, now);
                return;
            }
            Ok(handler) if handler == oci::HANDLER_OCI => {
                match self.ensure_image(id, &container, &sources, now).await {
                    Some(run) => Some(run),
                    None => return,
                }
            }
            Ok(_) => None,
        };
        let prepared =
            match self.runtime.prepare_container(&self.pod, &container, attempt, &sources, image_run.as_ref()) {
                Ok(prepared) => prepared,
                Err(PrepareError::Config(message)) => {
                    self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
                    self.model.on_config_error(id, message, now);
                    return;
                }
                Err(PrepareError::CannotRun(message)) => {
                    self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
                    self.model.on_start_failed(id, cannot_run(message, now), now);
                    return;
                }
            };
        for message in &prepared.warnings {
            self.event(EventType::Warning, "InvalidEnvironmentVariableNames", message.clone(), Some(id));
        }
        // The process runtime runs the command on the host and uses no image, so unlike the kubelet it reports no
        // `Pulled` ("already present on machine") for it: that would be one untrue event per container, a third
        // of the events of a Job of short pods.
        let asked = std::time::Instant::now();
        match self.runtime.start(&self.uid, &container.name, attempt, prepared).await {
            Ok(Launch::Started(running)) => {
                crate::metrics::container_started(&self.runtime.config().node_name, asked.elapsed());
                self.event(EventType::Normal, "Created", format!("Created container: {}", container.name), Some(id));
                self.event(EventType::Normal, "Started", format!("Started container {}", container.name), Some(id));
                self.model.on_started(id, running.start.started_at, &running.container_id);
                self.watch(id, running);
            }
            Ok(Launch::Failed { container_id, record }) => {
                let termination = Termination::from_exit(&record, &container_id);
                self.event(
                    EventType::Warning,
                    "Failed",
                    format!("Error: {}", termination.message.clone().unwrap_or_default()),
                    Some(id),
                );
                self.model.on_start_failed(id, termination, now);
            }
            Err(e) => {
                tracing::warn!(error = %e, pod = %self.uid, container = %container.name, "container start failed");
                self.event(EventType::Warning, "Failed", format!("Error: {e}"), Some(id));
                self.model.on_start_failed(id, cannot_run(e.to_string(), now), now);
            }
        }
    }

    /// Brings volumes from ConfigMaps and Secrets up to date while containers run; a source that cannot be
    /// read leaves the volume as it was, with a `FailedMount` event.
    async fn refresh_volumes(&mut self) {
        if self.model.termination.is_some() || self.model.running().is_empty() {
            return;
        }
        let result = match self.read_sources().await {
            Ok(sources) => self.runtime.refresh_volumes(&self.pod, &sources),
            Err(message) => Err(message),
        };
        if let Err(message) = result {
            self.event(EventType::Warning, "FailedMount", message, None);
        }
    }

    /// The ConfigMaps and Secrets the pod refers to, as the API has them now.
    async fn read_sources(&self) -> Result<Sources, String> {
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        let mut sources = Sources { namespace: namespace.clone(), ..Sources::default() };
        let (config_maps, secrets) = sources::referenced(&self.pod);
        let Some(objects) = &self.objects else {
            sources.config_maps = config_maps.into_iter().map(|n| (n, None)).collect();
            sources.secrets = secrets.into_iter().map(|n| (n, None)).collect();
            return Ok(sources);
        };
        for name in config_maps {
            let cm = objects.config_map(&namespace, &name).await?;
            sources.config_maps.insert(name, cm);
        }
        for name in secrets {
            let secret = objects.secret(&namespace, &name).await?;
            sources.secrets.insert(name, secret);
        }
        Ok(sources)
    }

    /// The runtime handler of the pod: its RuntimeClass's, else the node's default.
    async fn handler(&self) -> Result<String, String> {
        let default = self.runtime.config().default_handler.clone();
        let Some(name) = self.pod.spec.as_ref().and_then(|s| s.runtime_class_name.clone()) else {
            return Ok(default);
        };
        let class = match &self.objects {
            Some(objects) => objects.runtime_class(&name).await?,
            None => None,
        };
        let handler = match class {
            Some(class) => class.handler,
            // The builtin classes are named after their handlers.
            None if [oci::HANDLER_PROCESS, oci::HANDLER_OCI].contains(&name.as_str()) => name,
            None => return Err(format!("RuntimeClass {name:?} not found")),
        };
        if handler != oci::HANDLER_PROCESS && handler != oci::HANDLER_OCI {
            return Err(format!("failed to get sandbox runtime: no runtime for {handler:?} is configured"));
        }
        Ok(handler)
    }

    /// Gets the container's image onto the node per its pull policy, with the kubelet's events; None when the
    /// container cannot start yet (the model then holds the waiting reason and when to look again).
    async fn ensure_image(
        &mut self,
        id: SlotId,
        container: &runlet_codec::Container,
        sources: &Sources,
        now: Timestamp,
    ) -> Option<oci::ImageRun> {
        let image = container.image.clone().unwrap_or_default();
        if let Some(image) = self.model.image_backoff(id, now) {
            self.event(EventType::Normal, "BackOff", format!("Back-off pulling image {image:?}"), Some(id));
            self.event(EventType::Warning, "Failed", "Error: ImagePullBackOff".to_string(), Some(id));
            return None;
        }
        let Some(images) = self.runtime.images().cloned() else {
            let message = "this node has no image store for the oci runtime handler".to_string();
            self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
            self.model.on_config_error(id, message, now);
            return None;
        };
        let policy = oci::PullPolicy::of(container.image_pull_policy.as_deref(), &image);
        let secrets: Vec<Secret> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.image_pull_secrets.iter().flatten())
            .filter_map(|r| sources.secrets.get(&r.name).cloned().flatten())
            .collect();
        let registry = runlet_image::Reference::parse(&image).map(|r| r.registry).unwrap_or_default();
        let credentials = oci::pull::credentials(&secrets, &registry);
        let present = {
            let store = images.store().clone();
            let name = image.clone();
            tokio::task::spawn_blocking(move || store.find(&name).ok().flatten().is_some()).await.unwrap_or(false)
        };
        if policy.should_pull(present) {
            self.event(EventType::Normal, "Pulling", format!("Pulling image {image:?}"), Some(id));
        }
        let pulled = match images.ensure(&image, policy, &credentials).await {
            Ok(pulled) => pulled,
            Err(failure) => {
                self.event(EventType::Warning, "Failed", failure.message.clone(), Some(id));
                self.event(EventType::Warning, "Failed", format!("Error: {}", failure.reason), Some(id));
                self.model.on_image_pull_failed(id, failure.reason, failure.message, now);
                return None;
            }
        };
        self.model.on_image_ready(id, oci::status_image_id(&pulled.image));
        match pulled.pulled {
            Some((took, size)) => {
                let secs = took.as_secs_f64();
                self.event(
                    EventType::Normal,
                    "Pulled",
                    format!(
                        "Successfully pulled image {image:?} in {secs:.3}s ({secs:.3}s including waiting). Image size: {size} bytes."
                    ),
                    Some(id),
                );
            }
            None => self.event(
                EventType::Normal,
                "Pulled",
                format!("Container image {image:?} already present on machine"),
                Some(id),
            ),
        }
        let store = images.store().clone();
        let record = pulled.image;
        let loaded = tokio::task::spawn_blocking(move || {
            let _ = store.touch(&record.id);
            oci::ImageRun::load(&store, &record)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match loaded {
            Ok(run) => Some(run),
            Err(message) => {
                let message = format!("preparing the image's root file system: {message}");
                self.event(EventType::Warning, "Failed", format!("Error: {message}"), Some(id));
                self.model.on_config_error(id, message, now);
                None
            }
        }
    }

    /// Waits for the run in the background; its end comes back through `exits`.
    fn watch(&mut self, id: SlotId, running: RunningContainer) {
        self.handles.insert(id, running.handle.clone());
        let exits = self.exits.clone();
        let container_id = running.container_id.clone();
        tokio::spawn(async move {
            let record = running.wait().await;
            let _ = exits.send((id, Termination::from_exit(&record, &container_id)));
        });
    }

    fn exited(&mut self, id: SlotId, termination: Termination) {
        self.handles.remove(&id);
        // The run that ended is the latest one started (`runs` already counts it).
        let slot = self.model.slot(id);
        let log = self.runtime.pod_paths(&self.uid).log_file(&slot.name, slot.runs.saturating_sub(1));
        crate::metrics::container_run_logged(&self.runtime.config().node_name, &log);
        self.model.on_exited(id, termination, Timestamp::now());
        if let SlotState::BackingOff { delay, .. } = self.model.slot(id).state
            && !delay.is_zero()
        {
            let name = self.model.slot(id).name.clone();
            let pod = status::pod_display_name(&self.pod);
            self.event(
                EventType::Warning,
                "BackOff",
                format!("Back-off restarting failed container {name} in pod {pod}"),
                Some(id),
            );
        }
    }

    fn begin_termination(&mut self, cause: PodTerminationCause, grace: Duration) {
        if self.model.termination.is_none() {
            self.model.begin_termination(cause);
            let record = PodRecord { start_time: Some(self.model.start_time), termination: Some(cause) };
            if let Err(e) = self.runtime.write_pod_record(&self.uid, &record) {
                tracing::warn!(error = %e, pod = %self.uid, "cannot record the pod's termination");
            }
            if cause == PodTerminationCause::DeadlineExceeded {
                self.event(EventType::Normal, "DeadlineExceeded", status::DEADLINE_MESSAGE.to_string(), None);
            }
            // As the kubelet, every container being stopped is named at once, even a sidecar whose turn
            // comes later.
            for id in self.model.running() {
                self.event(
                    EventType::Normal,
                    "Killing",
                    format!("Stopping container {}", self.model.slot(id).name),
                    Some(id),
                );
            }
        }
        self.model.begin_stop(Timestamp::now(), grace);
        self.stop_steps(Timestamp::now());
    }

    /// Sends the SIGTERMs and SIGKILLs that are due.
    fn stop_steps(&mut self, now: Timestamp) {
        let steps = self.model.stop_steps(now);
        for id in &steps.term {
            if let Some(handle) = self.handles.get(id) {
                handle.signal(Signal::SIGTERM);
            }
        }
        let handles: Vec<ContainerHandle> = steps.kill.iter().filter_map(|id| self.handles.get(id).cloned()).collect();
        if !handles.is_empty() {
            // Killing a v1 cgroup polls its member list briefly; keep that off the async threads.
            tokio::task::spawn_blocking(move || handles.iter().for_each(ContainerHandle::kill));
        }
    }

    /// Starts one probe attempt in the background; its outcome comes back through `probe_results`.
    fn probe(&mut self, id: SlotId, kind: ProbeKind, now: Timestamp) {
        let (Some(container), Some(handle)) = (self.container(id).cloned(), self.handles.get(&id)) else { return };
        let Some(spec) = kind.of(&container).cloned() else { return };
        self.model.probe_started(id, kind, now);
        let run = self.model.slot(id).runs;
        let timeout = probe::Timing::of(&spec).timeout;
        let action = crate::runtime::probe::resolve(
            &spec,
            &container,
            &self.runtime.node_facts().pod_ip,
            handle.run_dir.clone(),
        );
        let shim = self.runtime.config().shim.clone();
        let results = self.probe_results.clone();
        tokio::spawn(async move {
            let outcome = match action {
                Ok(action) => crate::runtime::probe::run(&action, timeout, &shim).await,
                Err(e) => Outcome::Error(e),
            };
            let _ = results.send(ProbeDone { id, kind, run, outcome });
        });
    }

    /// A probe attempt ended: its event, its count, and a kill when a liveness or startup probe failed.
    fn probed(&mut self, done: ProbeDone) {
        let ProbeDone { id, kind, run, outcome } = done;
        if self.model.slot(id).runs != run {
            return;
        }
        if let Some((type_, reason, message)) = probe::outcome_event(kind, &outcome) {
            self.event(type_, reason, message, Some(id));
        }
        let grace = self
            .container(id)
            .and_then(|c| kind.of(c))
            .and_then(|p| p.termination_grace_period_seconds)
            .map_or_else(|| self.pod_grace(), |s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        let now = Timestamp::now();
        if let Some(kill) = self.model.on_probe_result(id, kind, run, &outcome, now, grace) {
            self.event(EventType::Normal, "Killing", kill.message, Some(id));
            if let Some(handle) = self.handles.get(&id) {
                handle.signal(Signal::SIGTERM);
            }
        }
    }

    fn publish(&self, now: Timestamp) -> PodStatus {
        let node = self.runtime.node_facts();
        let next = status::build_status(&self.pod, &self.model, &self.status.borrow(), &node, now);
        self.status.send_if_modified(|current| {
            if *current == next {
                return false;
            }
            *current = next.clone();
            true
        });
        next
    }
}

fn cannot_run(message: String, now: Timestamp) -> Termination {
    Termination {
        exit_code: 128,
        reason: "ContainerCannotRun".to_string(),
        message: Some(message),
        started_at: None,
        finished_at: Some(now),
        container_id: String::new(),
    }
}
