//! The agent's side of a running container: signalling it, and waiting for the shim's `exit.json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::cgroup;
use super::procstat;
use super::state::{self, CgroupSet, ExitRecord, StartRecord};

/// How often an adopted container (whose shim is not our child) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(100);

/// Signals a container run. Cheap to clone; stays valid after the run ended (signals then do nothing).
#[derive(Debug, Clone)]
pub struct ContainerHandle {
    pub(crate) run_dir: PathBuf,
    /// The container's main process, which is also its process-group id.
    pub pid: i32,
    pub(crate) cgroup: Option<CgroupSet>,
    /// Signals go to the main process alone, not its group: a runc container's PID 1, as `runc kill` does.
    pub(crate) main_only: bool,
}

impl ContainerHandle {
    /// Whether the shim has recorded the end of the run.
    pub fn has_exited(&self) -> bool {
        self.run_dir.join(state::EXIT_FILE).exists()
    }

    /// Sends `signal` to the container's whole process group (or its main process alone), unless the run is already over (then the
    /// group id could belong to someone else).
    pub fn signal(&self, signal: Signal) {
        if self.has_exited() {
            return;
        }
        let _ = if self.main_only {
            kill(Pid::from_raw(self.pid), signal)
        } else {
            killpg(Pid::from_raw(self.pid), signal)
        };
    }

    /// SIGKILLs the process group and everything in the container's cgroup.
    pub fn kill(&self) {
        self.signal(Signal::SIGKILL);
        if let Some(set) = &self.cgroup {
            cgroup::kill_all(set);
        }
    }
}

/// How the runtime learns that a run ended.
#[derive(Debug)]
enum Shim {
    /// Started by this agent: its exit is awaited directly.
    Child(tokio::process::Child),
    /// Started by an earlier agent process: watched through `/proc` and the exit file.
    Adopted { pid: i32, start_ticks: u64 },
}

/// A started container run.
#[derive(Debug)]
pub struct RunningContainer {
    pub handle: ContainerHandle,
    pub container_id: String,
    pub start: StartRecord,
    shim: Shim,
}

impl RunningContainer {
    pub(crate) fn new_child(
        handle: ContainerHandle,
        container_id: String,
        start: StartRecord,
        child: tokio::process::Child,
    ) -> Self {
        RunningContainer { handle, container_id, start, shim: Shim::Child(child) }
    }

    pub(crate) fn adopted(handle: ContainerHandle, container_id: String, start: StartRecord) -> Self {
        let shim = Shim::Adopted { pid: start.shim_pid, start_ticks: start.shim_start_ticks };
        RunningContainer { handle, container_id, start, shim }
    }

    /// Waits for the run to end and returns how it ended.
    pub async fn wait(self) -> ExitRecord {
        let run_dir = self.handle.run_dir.clone();
        match self.shim {
            Shim::Child(mut child) => {
                let _ = child.wait().await;
            }
            Shim::Adopted { pid, start_ticks } => {
                while !run_dir.join(state::EXIT_FILE).exists() && procstat::is_alive(pid, start_ticks) {
                    tokio::time::sleep(ADOPTED_POLL).await;
                }
            }
        }
        match state::read_json::<ExitRecord>(&run_dir.join(state::EXIT_FILE)) {
            Ok(Some(record)) => record,
            // The shim died without recording anything: the container may still run, unsupervised.
            _ => {
                self.handle.kill();
                lost_record(
                    Some(self.start.started_at),
                    "the container's shim exited without recording its exit status",
                )
            }
        }
    }

    /// Stops the run: SIGTERM to the process group, SIGKILL after `grace`, and waits for the end.
    pub async fn stop(self, grace: Duration) -> ExitRecord {
        let handle = self.handle.clone();
        handle.signal(Signal::SIGTERM);
        let wait = self.wait();
        tokio::pin!(wait);
        tokio::select! {
            record = &mut wait => record,
            _ = tokio::time::sleep(grace) => {
                handle.kill();
                wait.await
            }
        }
    }
}

/// The record of a run whose real outcome is unknown, with the kubelet's reason for that case.
pub fn lost_record(started_at: Option<Timestamp>, message: &str) -> ExitRecord {
    ExitRecord {
        exit_code: 137,
        signal: None,
        oom_killed: false,
        started_at,
        finished_at: Timestamp::now(),
        reason: Some("ContainerStatusUnknown".to_string()),
        message: Some(message.to_string()),
    }
}

/// Reads the start record of a run directory.
pub(crate) fn read_start(run_dir: &Path) -> std::io::Result<Option<StartRecord>> {
    state::read_json(&run_dir.join(state::STARTED_FILE))
}
