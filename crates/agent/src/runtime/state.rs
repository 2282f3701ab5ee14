//! What the runtime keeps on disk, and where. Everything the agent needs to pick a pod up again after a
//! restart lives in the pod directory:
//!
//! ```text
//! <root>/pods/<uid>/
//!   pod.json                                  PodRecord: start time, termination cause
//!   volumes/<volume>/                         the pod's volumes (emptyDir, configMap, secret, ...)
//!   logs/<container>/<attempt>.log            CRI-format logs, one file per run (rotated: .log.<n>)
//!   containers/<container>/<attempt>/
//!     launch.json                             LaunchSpec: what the shim runs (written by the agent)
//!     started.json                            StartRecord: shim and container pids (written by the shim)
//!     exit.json                               ExitRecord: the real exit status (written by the shim)
//!     shim.log                                the shim's own diagnostics
//!     rootfs/{upper,work,merged}              the run's root overlay (sandboxed runs)
//! ```
//!
//! `attempt` is the container's restart count when that run started. Records are written to a temporary
//! file and renamed, so a reader never sees half a record; directories are 0700 and records 0600.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::logfile::LogLimits;
use super::sandbox::{Identity, SandboxSpec};

/// Everything the shim needs to run one container attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Bare id; the API shows it as `runlet://<id>`.
    pub container_id: String,
    /// Program and arguments, after `$(VAR)` expansion; never empty.
    pub argv: Vec<String>,
    /// The complete environment of the process, in order.
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    pub log_path: PathBuf,
    /// The attempt directory the shim writes `started.json` and `exit.json` into.
    pub run_dir: PathBuf,
    /// The container's own cgroup, when limits are enforced.
    pub cgroup: Option<CgroupSet>,
    /// The container's private view of the machine; None runs it as a plain host process.
    #[serde(default)]
    pub sandbox: Option<SandboxSpec>,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub log_limits: LogLimits,
    /// Set when runc runs the container (the `oci` handler on a node with runc) instead of runlet's own
    /// sandbox init.
    #[serde(default)]
    pub runc: Option<super::oci::runc::RuncRun>,
}

/// The directories of one container's cgroup: one per v1 hierarchy, or the single v2 directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSet {
    pub version: CgroupVersion,
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Written by the shim once the container process exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord {
    pub shim_pid: i32,
    /// Start time of the shim in clock ticks since boot (`/proc/<pid>/stat` field 22): with the pid, it
    /// identifies the shim even if the pid is reused later.
    pub shim_start_ticks: u64,
    /// The container's main process; also its process-group id.
    pub pid: i32,
    /// Start time of the container's main process, to tell it from a later process with the same pid.
    pub pid_start_ticks: u64,
    pub started_at: Timestamp,
}

/// How a container run ended, written by the shim after reaping the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The process status: the exit code, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// `None` when the process never started.
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    /// Set when the runtime, not the process, decided the outcome (`ContainerCannotRun`, ...).
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl ExitRecord {
    /// A run that never started: the runtime could not run the command (`ContainerCannotRun`, exit code 128).
    pub fn cannot_run(message: String) -> ExitRecord {
        ExitRecord {
            exit_code: 128,
            signal: None,
            oom_killed: false,
            started_at: None,
            finished_at: Timestamp::now(),
            reason: Some("ContainerCannotRun".to_string()),
            message: Some(message),
        }
    }
}

/// Pod-level facts that must survive an agent restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PodRecord {
    pub start_time: Option<Timestamp>,
    pub termination: Option<PodTerminationCause>,
}

/// Why the agent is (or was) tearing a pod down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodTerminationCause {
    /// A stop request (the pod is being deleted).
    Stopped,
    /// `activeDeadlineSeconds` ran out.
    DeadlineExceeded,
}

/// Paths inside one pod directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPaths {
    pub dir: PathBuf,
}

impl PodPaths {
    pub fn new(root: &Path, uid: &str) -> Self {
        PodPaths { dir: root.join("pods").join(uid) }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("pod.json")
    }
    pub fn volume(&self, name: &str) -> PathBuf {
        self.dir.join("volumes").join(name)
    }
    pub fn log_dir(&self, container: &str) -> PathBuf {
        self.dir.join("logs").join(container)
    }
    pub fn log_file(&self, container: &str, attempt: u32) -> PathBuf {
        self.log_dir(container).join(format!("{attempt}.log"))
    }
    pub fn container_dir(&self, container: &str) -> PathBuf {
        self.dir.join("containers").join(container)
    }
    pub fn run_dir(&self, container: &str, attempt: u32) -> PathBuf {
        self.container_dir(container).join(attempt.to_string())
    }
}

pub const LAUNCH_FILE: &str = "launch.json";
pub const STARTED_FILE: &str = "started.json";
pub const EXIT_FILE: &str = "exit.json";
pub const SHIM_LOG_FILE: &str = "shim.log";

/// Writes `value` as JSON to `path` atomically: readers see the old record or the new one, never a part.
/// Records are private to the node's owner (they hold secrets' values).
///
/// Not fsynced, on purpose: these records only have to outlive the agent process (a crash or an upgrade of
/// the agent leaves the page cache, and every container, in place). A crash of the machine ends every
/// container with it, and what was already reported is durable in the API; recovery treats a record that did
/// not survive as missing. Syncing them cost about ten fsyncs per pod, most of the agent's I/O.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_file(path, &data, 0o600)
}

/// Writes `data` to `path` atomically with `mode` (see [`write_json`]).
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        file.write_all(data)?;
    }
    std::fs::rename(&tmp, path)
}

/// fsync of a directory: makes the names created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents with mode 0700 (the agent's directories are its own).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Reads a JSON record; `Ok(None)` when the file does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        // Empty: what a machine crash can leave of a record renamed into place before its data reached the
        // disk (see `write_json`); the record did not survive.
        Ok(data) if data.is_empty() => Ok(None),
        Ok(data) => serde_json::from_slice(&data).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Attempt numbers that have a run directory, ascending.
pub fn attempts(container_dir: &Path) -> io::Result<Vec<u32>> {
    let entries = match std::fs::read_dir(container_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        if let Some(n) = entry?.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EXIT_FILE);
        assert_eq!(read_json::<ExitRecord>(&path).unwrap(), None);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_json::<ExitRecord>(&path).unwrap(), None, "an empty record did not survive a crash");
        std::fs::remove_file(&path).unwrap();
        let record = ExitRecord {
            exit_code: 143,
            signal: Some(15),
            oom_killed: false,
            started_at: Some(Timestamp::from_second(10).unwrap()),
            finished_at: Timestamp::from_second(20).unwrap(),
            reason: None,
            message: None,
        };
        write_json(&path, &record).unwrap();
        assert_eq!(read_json::<ExitRecord>(&path).unwrap(), Some(record));
        assert!(!dir.path().join("exit.json.tmp").exists());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn attempts_are_sorted_numbers_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(attempts(&dir.path().join("absent")).unwrap(), Vec::<u32>::new());
        for name in ["10", "2", "0", "junk"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(attempts(dir.path()).unwrap(), vec![0, 2, 10]);
    }

    #[test]
    fn layout() {
        let paths = PodPaths::new(Path::new("/r"), "u1");
        assert_eq!(paths.log_file("pi", 3), Path::new("/r/pods/u1/logs/pi/3.log"));
        assert_eq!(paths.run_dir("pi", 0), Path::new("/r/pods/u1/containers/pi/0"));
        assert_eq!(paths.volume("cache"), Path::new("/r/pods/u1/volumes/cache"));
    }
}
