//! The process runtime: runs a pod's containers as local processes, each under a shim (see [`shim`]),
//! in its own process group and, where the host allows, its own cgroup.

pub mod cgroup;
mod container;
pub mod crilog;
pub mod env;
mod exec;
pub mod launch;
pub mod logfile;
pub mod oci;
pub mod probe;
pub mod procstat;
mod recover;
pub mod resources;
pub mod sandbox;
mod shared_pid;
pub mod shim;
pub mod sources;
pub mod state;
pub mod volumes;

use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use runlet_codec::{Container, Pod};
use tokio::io::{AsyncBufReadExt, BufReader};

pub use container::{ContainerHandle, RunningContainer, lost_record};
pub use env::NodeFacts;
pub use launch::{PrepareError, Prepared};
use state::{ExitRecord, PodPaths, PodRecord};

/// How to start a shim: `program args... <launch.json>` (e.g. the `runlet` binary and `["shim"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl ShimCommand {
    /// Asks this shim which sources it was built from ([`shim::BUILD`]); a shim from before the question
    /// existed fails, which is an answer too (it is not this build).
    pub fn build(&self) -> io::Result<String> {
        let output = std::process::Command::new(&self.program)
            .args(&self.args)
            .arg(shim::BUILD_ARG)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!("{} {}: {}", self.program.display(), shim::BUILD_ARG, output.status)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Whether this shim runs the same code as this process's agent.
    pub fn is_this_build(&self) -> io::Result<bool> {
        Ok(self.build()? == shim::BUILD)
    }
}

/// Configuration of a [`ProcessRuntime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Pod directories go under `<root>/pods/`.
    pub root: PathBuf,
    pub shim: ShimCommand,
    pub node_name: String,
    pub host_ip: String,
    /// What `status.podIP` says; processes share the host network, so loopback by default.
    pub pod_ip: String,
    /// Whether `hostPath` volumes are honoured (they expose host files to the pod).
    pub allow_host_path: bool,
    /// Whether to try per-container cgroups at all.
    pub use_cgroups: bool,
    /// Name of the runtime's subtree under the agent's own cgroup.
    pub cgroup_name: String,
    /// Variables every container gets unless it sets them itself.
    pub base_env: Vec<(String, String)>,
    /// Run containers in sandboxes when this process can (root); false simulates a host that cannot.
    pub sandbox: bool,
    /// Host paths no container may see (the server's data dir, the agent's root, a kubeconfig).
    pub hidden: Vec<PathBuf>,
    pub log_limits: logfile::LogLimits,
    /// What the node offers containers (limits they leave unset, for the downward API).
    pub allocatable: resources::Allocatable,
    /// The runtime handler of pods that name no RuntimeClass: `process` or `oci`.
    pub default_handler: String,
    /// The node's images (for the `oci` handler); None: pods of that handler cannot start.
    pub images: Option<oci::ImageService>,
    /// The runc binary that runs `oci` containers; None: runlet's own sandbox init runs them.
    pub runc: Option<PathBuf>,
}

impl RuntimeConfig {
    pub fn new(root: impl Into<PathBuf>, shim: ShimCommand, node_name: impl Into<String>) -> Self {
        let root = root.into();
        RuntimeConfig {
            allocatable: resources::Allocatable::of_this_machine(root.parent().unwrap_or(&root)),
            root,
            shim,
            node_name: node_name.into(),
            host_ip: "127.0.0.1".to_string(),
            pod_ip: "127.0.0.1".to_string(),
            allow_host_path: false,
            use_cgroups: true,
            cgroup_name: "runlet".to_string(),
            base_env: launch::default_base_env(),
            sandbox: true,
            hidden: Vec::new(),
            log_limits: logfile::LogLimits::default(),
            default_handler: oci::HANDLER_PROCESS.to_string(),
            images: None,
            runc: oci::runc::find_binary(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("the container shim failed to start: {0}")]
    Shim(String),
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> RuntimeError {
    let what = what.to_string();
    move |e| RuntimeError::Io(what, e)
}

/// The outcome of starting a container run.
#[derive(Debug)]
pub enum Launch {
    Started(RunningContainer),
    /// The process never ran (exec failed, bad working directory, ...).
    Failed {
        container_id: String,
        record: ExitRecord,
    },
}

/// A finished run found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    pub container_id: String,
    pub record: ExitRecord,
}

/// The latest run of a container found on disk.
#[derive(Debug)]
pub enum RecoveredRun {
    /// Still running: adopted, and watched through its shim.
    Running(RunningContainer),
    Finished(FinishedRun),
}

/// What the disk says about one container of a pod.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Runs started so far (the latest attempt number + 1); 0 when it never ran.
    pub runs: u32,
    pub latest: Option<RecoveredRun>,
    /// The run before the latest one (the container's `lastState` source).
    pub previous: Option<FinishedRun>,
}

/// Runs containers as processes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RuntimeConfig,
    cgroups: Option<cgroup::Cgroups>,
    /// None when containers run in sandboxes; otherwise why they cannot.
    sandbox_missing: Option<String>,
}

impl ProcessRuntime {
    /// Creates `<root>/pods` and sets up cgroups; without writable cgroups containers run without limits
    /// (said once, here).
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let pods = config.root.join("pods");
        state::create_private_dir(&pods).map_err(io_err(pods.display()))?;
        let _ = std::fs::set_permissions(&config.root, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let sandbox_missing = if config.sandbox {
            sandbox::can_sandbox().err()
        } else {
            Some("pod sandboxes are turned off (--no-sandbox)".to_string())
        };
        if let Some(why) = &sandbox_missing {
            tracing::warn!(reason = %why, "pods run without a sandbox: as plain host processes of the agent's user");
        }
        let mut config = config;
        // The agent's own root is never visible to a pod.
        if !config.hidden.contains(&config.root) {
            config.hidden.push(config.root.clone());
        }
        let cgroups = if config.use_cgroups {
            match cgroup::Cgroups::setup(&config.cgroup_name) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cgroups are not writable: containers run without resource limits or OOM detection");
                    None
                }
            }
        } else {
            None
        };
        Ok(ProcessRuntime { inner: Arc::new(Inner { config, cgroups, sandbox_missing }) })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The node's images, when it has an image store.
    pub fn images(&self) -> Option<&oci::ImageService> {
        self.inner.config.images.as_ref()
    }

    /// None when containers run in sandboxes; otherwise why they cannot (for the Node's condition).
    pub fn sandbox_missing(&self) -> Option<&str> {
        self.inner.sandbox_missing.as_deref()
    }

    /// Whether containers get their own cgroups (limits, OOM detection).
    pub fn cgroups_enabled(&self) -> bool {
        self.inner.cgroups.is_some()
    }

    pub fn pod_paths(&self, uid: &str) -> PodPaths {
        PodPaths::new(&self.inner.config.root, uid)
    }

    pub fn node_facts(&self) -> NodeFacts {
        let c = &self.inner.config;
        NodeFacts {
            node_name: c.node_name.clone(),
            host_ip: c.host_ip.clone(),
            pod_ip: c.pod_ip.clone(),
            allocatable: c.allocatable,
        }
    }

    /// Pod uids that have a directory (for finding pods left over from before a restart). No `pods` directory (a
    /// fresh node, or one whose state directory is being removed as it shuts down) means no pods.
    pub fn list_pods(&self) -> io::Result<Vec<String>> {
        let mut uids = Vec::new();
        let dir = match std::fs::read_dir(self.inner.config.root.join("pods")) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(uids),
            Err(e) => return Err(e),
        };
        for entry in dir {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                uids.push(name.to_string());
            }
        }
        uids.sort();
        Ok(uids)
    }

    /// Creates the pod directory (private to the agent).
    pub fn prepare_pod(&self, pod: &Pod) -> Result<PodPaths, RuntimeError> {
        let paths = self.pod_paths(pod.metadata.uid.as_deref().unwrap_or_default());
        for dir in [paths.dir.join("logs"), paths.dir.join("volumes"), paths.dir.join("containers")] {
            state::create_private_dir(&dir).map_err(io_err(dir.display()))?;
        }
        Ok(paths)
    }

    /// Puts every volume of the pod in place (again: ConfigMap and Secret volumes get their current data).
    /// The error is the message of a `FailedMount` event; the container waits meanwhile.
    pub fn prepare_volumes(&self, pod: &Pod, sources: &sources::Sources) -> Result<(), String> {
        self.materialize_volumes(pod, sources, |_| true)
    }

    /// Updates the volumes whose content comes from the API (ConfigMaps, Secrets, the downward API) while
    /// containers run, as the kubelet's periodic sync does; unchanged content is left alone, a change is
    /// swapped in atomically. Mounts through a `subPath` keep what they had, as in Kubernetes.
    pub fn refresh_volumes(&self, pod: &Pod, sources: &sources::Sources) -> Result<(), String> {
        self.materialize_volumes(pod, sources, volumes::is_projected)
    }

    fn materialize_volumes(
        &self,
        pod: &Pod,
        sources: &sources::Sources,
        which: impl Fn(&runlet_codec::Volume) -> bool,
    ) -> Result<(), String> {
        let paths = self.pod_paths(pod.metadata.uid.as_deref().unwrap_or_default());
        let node = self.node_facts();
        let spec = pod.spec.as_ref();
        let fs_group = spec
            .and_then(|s| s.security_context.as_ref())
            .and_then(|sc| sc.fs_group)
            .and_then(|g| u32::try_from(g).ok());
        let privileges = volumes::Privileges {
            can_mount: self.inner.sandbox_missing.is_none(),
            fs_group: fs_group.filter(|_| self.inner.sandbox_missing.is_none()),
        };
        for volume in spec.iter().flat_map(|s| s.volumes.iter().flatten()).filter(|v| which(v)) {
            if volume.host_path.is_some() && !self.inner.config.allow_host_path {
                continue; // refused per mount, with its own message
            }
            let content = volumes::volume_content(pod, volume, sources, &node)
                .map_err(|e| format!("MountVolume.SetUp failed for volume {:?} : {e}", volume.name))?;
            volumes::materialize(&paths.volume(&volume.name), &content, privileges)
                .map_err(|e| format!("MountVolume.SetUp failed for volume {:?} : {e}", volume.name))?;
        }
        Ok(())
    }

    pub fn read_pod_record(&self, uid: &str) -> io::Result<PodRecord> {
        Ok(state::read_json(&self.pod_paths(uid).record())?.unwrap_or_default())
    }

    pub fn write_pod_record(&self, uid: &str, record: &PodRecord) -> io::Result<()> {
        state::write_json(&self.pod_paths(uid).record(), record)
    }

    /// Builds the launch of run `attempt` of `container` (pure apart from choosing a container id).
    pub fn prepare_container(
        &self,
        pod: &Pod,
        container: &Container,
        attempt: u32,
        sources: &sources::Sources,
        image: Option<&oci::ImageRun>,
    ) -> Result<Prepared, PrepareError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let paths = self.pod_paths(uid);
        let node = self.node_facts();
        let config = &self.inner.config;
        let ctx = launch::LaunchContext {
            paths: &paths,
            node: &node,
            base_env: &config.base_env,
            allow_host_path: config.allow_host_path,
            attempt,
            container_id: new_container_id(uid, &container.name, attempt),
            sources,
            sandbox_missing: self.inner.sandbox_missing.as_deref(),
            hidden: &config.hidden,
            log_limits: config.log_limits,
            agent_uid: nix::unistd::geteuid().as_raw(),
            image,
        };
        launch::prepare(pod, container, &ctx)
    }

    /// Starts a prepared run under a new shim and waits until the process exists (or failed to).
    pub async fn start(
        &self,
        pod_uid: &str,
        container: &str,
        attempt: u32,
        prepared: Prepared,
    ) -> Result<Launch, RuntimeError> {
        let Prepared { mut spec, limits, mounts, .. } = prepared;
        let container_id = spec.container_id.clone();
        let failed = |message: String| Launch::Failed {
            container_id: container_id.clone(),
            record: ExitRecord::cannot_run(message),
        };

        if spec.run_dir.exists() {
            // Left over from a run that never got recorded; its attempt number is being reused.
            std::fs::remove_dir_all(&spec.run_dir).map_err(io_err(spec.run_dir.display()))?;
        }
        state::create_private_dir(&spec.run_dir).map_err(io_err(spec.run_dir.display()))?;
        if let Some(log_dir) = spec.log_path.parent() {
            state::create_private_dir(log_dir).map_err(io_err(log_dir.display()))?;
        }
        let paths = self.pod_paths(pod_uid);
        if let Some(sandbox) = spec.sandbox.as_mut()
            && sandbox.share_pid_namespace
        {
            match shared_pid::ensure(&self.pod_paths(pod_uid), &self.inner.config.shim) {
                Ok(ns) => sandbox.pid_namespace = Some(ns),
                Err(message) => return Ok(failed(message)),
            }
        }
        if let Some(sandbox) = spec.sandbox.as_mut()
            && sandbox.image_root.is_some()
        {
            oci::add_host_network_files(&mut sandbox.mounts);
            if let Some(binary) = &self.inner.config.runc {
                spec.runc = Some(oci::runc::RuncRun {
                    binary: binary.clone(),
                    memory_bytes: limits.memory_bytes,
                    cpu_millis: limits.cpu_millis,
                });
            }
        }
        if let Some(sandbox) = &spec.sandbox {
            for layer in ["upper", "work", "merged"] {
                let dir = sandbox.rootfs.join(layer);
                std::fs::create_dir_all(&dir).map_err(io_err(dir.display()))?;
            }
            // The upper layer's root is the container's `/`: as open as the host's.
            let upper = sandbox.rootfs.join("upper");
            std::fs::set_permissions(&upper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(io_err(upper.display()))?;
        } else if !spec.working_dir.is_dir() {
            if !launch::creatable_working_dir(&paths, &spec.working_dir) {
                return Ok(failed(format!(
                    "working directory {:?} does not exist (the runlet process runtime creates working directories \
                     only inside the pod directory)",
                    spec.working_dir.display().to_string()
                )));
            }
            if let Err(e) = std::fs::create_dir_all(&spec.working_dir) {
                return Ok(failed(format!("creating working directory {}: {e}", spec.working_dir.display())));
            }
        }
        if let Err(e) = volumes::apply_links(&mounts) {
            return Ok(failed(format!("setting up volume mounts: {e}")));
        }
        if let Some(cgroups) = &self.inner.cgroups {
            match cgroups.create(pod_uid, container, attempt, limits) {
                Ok(set) => spec.cgroup = Some(set),
                Err(e) => {
                    tracing::warn!(error = %e, container, "cannot create the container's cgroup; running it without limits")
                }
            }
        }
        let launch_path = spec.run_dir.join(state::LAUNCH_FILE);
        state::write_json(&launch_path, &spec).map_err(io_err(launch_path.display()))?;

        let shim_log_path = spec.run_dir.join(state::SHIM_LOG_FILE);
        let shim_log = std::fs::File::create(&shim_log_path).map_err(io_err(shim_log_path.display()))?;
        let shim = &self.inner.config.shim;
        let mut child = tokio::process::Command::new(&shim.program)
            .args(&shim.args)
            .arg(&launch_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(shim_log)
            .spawn()
            .map_err(io_err(shim.program.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let mut reader = BufReader::new(stdout);
            // A shim that says nothing for this long is broken; the timeout keeps the worker from hanging.
            let _ = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line)).await;
        }
        let handle = ContainerHandle {
            run_dir: spec.run_dir.clone(),
            pid: 0,
            cgroup: spec.cgroup.clone(),
            main_only: spec.runc.is_some(),
        };
        match line.trim_end() {
            shim::STARTED_LINE => {
                let start = container::read_start(&spec.run_dir)
                    .map_err(io_err("started.json"))?
                    .ok_or_else(|| RuntimeError::Shim("started.json is missing".to_string()))?;
                let handle = ContainerHandle { pid: start.pid, ..handle };
                Ok(Launch::Started(RunningContainer::new_child(handle, container_id, start, child)))
            }
            shim::EXITED_LINE => {
                let record = state::read_json::<ExitRecord>(&spec.run_dir.join(state::EXIT_FILE))
                    .map_err(io_err("exit.json"))?
                    .ok_or_else(|| RuntimeError::Shim("exit.json is missing".to_string()))?;
                // Reap the shim, which exits right after saying so.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                Ok(Launch::Failed { container_id, record })
            }
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let diagnostics = std::fs::read_to_string(&shim_log_path).unwrap_or_default();
                Err(RuntimeError::Shim(diagnostics.trim().to_string()))
            }
        }
    }

    /// Finds what happened to `container`'s runs while no agent was watching: finished runs with their real
    /// exit status, a still-running run adopted, and a run whose shim died killed and reported as lost.
    pub async fn recover_container(&self, pod_uid: &str, container: &str) -> io::Result<Recovered> {
        recover::recover_container(&self.pod_paths(pod_uid), container).await
    }

    /// The pod has ended: its shared PID namespace, if it has one, goes (with anything left in it), and so
    /// do its cgroups and its memory-backed volumes. Finished pods are kept (records and logs) until
    /// deleted, but not what they ran with: the kernel has a fixed number of memory cgroup ids (65,535 on
    /// v1), which a host keeping a hundred thousand finished pods would run out of, and a Secret's tmpfs
    /// should not outlive its pod in memory (as the kubelet, which unmounts a terminated pod's volumes).
    pub fn pod_ended(&self, uid: &str) {
        let paths = self.pod_paths(uid);
        shared_pid::stop(&paths);
        let cgroups = self.inner.cgroups.clone();
        let uid = uid.to_string();
        // Off the async threads: removal waits briefly for a shim still leaving its container's cgroup.
        tokio::task::spawn_blocking(move || {
            if let Some(cgroups) = cgroups {
                cgroups.remove_pod(&uid);
            }
            volumes::unmount_below(&paths.dir);
        });
    }

    /// The pod's cgroup directories, one per hierarchy the runtime uses (none without cgroups).
    pub fn pod_cgroup_dirs(&self, uid: &str) -> Vec<PathBuf> {
        self.inner.cgroups.as_ref().map(|c| c.pod_dirs(uid).map(|(_, dir)| dir).collect()).unwrap_or_default()
    }

    /// Kills whatever still runs in the pod, removes its cgroups and deletes the pod directory (logs too).
    pub async fn remove_pod(&self, uid: &str) -> io::Result<()> {
        let runtime = self.clone();
        let uid = uid.to_string();
        tokio::task::spawn_blocking(move || runtime.remove_pod_blocking(&uid)).await.map_err(io::Error::other)?
    }

    /// [`ProcessRuntime::remove_pod`] for callers outside async code; blocks for up to a few seconds.
    pub fn remove_pod_blocking(&self, uid: &str) -> io::Result<()> {
        let paths = self.pod_paths(uid);
        shared_pid::stop(&paths);
        recover::kill_pod_processes(&paths);
        if let Some(cgroups) = &self.inner.cgroups {
            cgroups.remove_pod(uid);
        }
        // tmpfs volumes first: removing the directory must never reach into a mount.
        volumes::unmount_below(&paths.dir);
        match std::fs::remove_dir_all(&paths.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A random 128-bit hex id. `RandomState` is seeded randomly per process and per call.
fn new_container_id(uid: &str, name: &str, attempt: u32) -> String {
    let mut parts = [0u64; 2];
    for part in &mut parts {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write(uid.as_bytes());
        hasher.write(name.as_bytes());
        hasher.write_u32(attempt);
        hasher.write_i128(Timestamp::now().as_nanosecond());
        *part = hasher.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
