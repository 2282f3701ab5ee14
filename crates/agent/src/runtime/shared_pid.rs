//! The agent's side of a pod's shared PID namespace (see [`super::sandbox::pid_holder`]): start the holder
//! once, find it again after an agent restart, kill it when the pod is done.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;

use super::sandbox::pid_holder::{HolderRecord, PID_HOLDER_ARG};
use super::state::{self, PodPaths};
use super::{ShimCommand, procstat};

fn record_path(paths: &PodPaths) -> PathBuf {
    paths.dir.join("pid-holder.json")
}

fn live_holder(paths: &PodPaths) -> Option<HolderRecord> {
    let record: HolderRecord = state::read_json(&record_path(paths)).ok()??;
    procstat::is_alive(record.pid, record.start_ticks).then_some(record)
}

/// The pod's PID namespace (`/proc/<holder>/ns/pid`), starting its holder if none runs.
pub(super) fn ensure(paths: &PodPaths, shim: &ShimCommand) -> Result<PathBuf, String> {
    if let Some(record) = live_holder(paths) {
        return Ok(PathBuf::from(format!("/proc/{}/ns/pid", record.pid)));
    }
    let root = paths.dir.join("pid-holder");
    state::create_private_dir(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let mut child = std::process::Command::new(&shim.program)
        .args(&shim.args)
        .arg(PID_HOLDER_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the pod's PID namespace: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{}", root.display());
    }
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let output = child.wait_with_output().map_err(|e| format!("starting the pod's PID namespace: {e}"))?;
    let pid: i32 = line
        .trim()
        .parse()
        .map_err(|_| format!("starting the pod's PID namespace: {}", String::from_utf8_lossy(&output.stderr).trim()))?;
    // The holder is ready once it left the shim's mount namespace; its start time identifies it from now on.
    let start_ticks = procstat::read_stat(pid).map(|s| s.start_ticks).ok_or("the pod's PID namespace ended at once")?;
    let record = HolderRecord { pid, start_ticks };
    state::write_json(&record_path(paths), &record).map_err(|e| format!("recording the pod's PID namespace: {e}"))?;
    Ok(PathBuf::from(format!("/proc/{pid}/ns/pid")))
}

/// Kills the holder, and with it everything left in the namespace.
pub(super) fn stop(paths: &PodPaths) {
    if let Some(record) = live_holder(paths) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(record.pid), nix::sys::signal::Signal::SIGKILL);
    }
}
