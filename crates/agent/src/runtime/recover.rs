//! Picking container runs up again after an agent restart, from the records the shims left on disk.

use std::io;
use std::path::Path;
use std::time::Duration;

use super::container::{self, ContainerHandle, RunningContainer, lost_record};
use super::state::{self, ExitRecord, PodPaths};
use super::{FinishedRun, Recovered, RecoveredRun, cgroup, procstat};

pub(super) async fn recover_container(paths: &PodPaths, container: &str) -> io::Result<Recovered> {
    let attempts = state::attempts(&paths.container_dir(container))?;
    let Some(&latest) = attempts.last() else {
        return Ok(Recovered::default());
    };
    let previous = match latest.checked_sub(1).filter(|p| attempts.contains(p)) {
        Some(p) => Some(finished_run(&paths.run_dir(container, p))?),
        None => None,
    };
    let latest_run = recover_run(&paths.run_dir(container, latest)).await?;
    Ok(Recovered { runs: latest + 1, latest: Some(latest_run), previous })
}

fn container_id_of(run_dir: &Path) -> io::Result<String> {
    Ok(state::read_json::<state::LaunchSpec>(&run_dir.join(state::LAUNCH_FILE))?
        .map(|spec| spec.container_id)
        .unwrap_or_default())
}

fn finished_run(run_dir: &Path) -> io::Result<FinishedRun> {
    let container_id = container_id_of(run_dir)?;
    let record = state::read_json::<ExitRecord>(&run_dir.join(state::EXIT_FILE))?
        .unwrap_or_else(|| lost_record(None, "the container's exit status was never recorded"));
    Ok(FinishedRun { container_id, record })
}

/// How long recovery waits for a shim that was just being started when the previous agent stopped.
const STARTING_SHIM_WAIT: Duration = Duration::from_secs(2);

async fn recover_run(run_dir: &Path) -> io::Result<RecoveredRun> {
    let container_id = container_id_of(run_dir)?;
    let spec: Option<state::LaunchSpec> = state::read_json(&run_dir.join(state::LAUNCH_FILE))?;
    let main_only = spec.as_ref().is_some_and(|s| s.runc.is_some());
    let cgroup = spec.and_then(|s| s.cgroup);
    let deadline = tokio::time::Instant::now() + STARTING_SHIM_WAIT;
    loop {
        if let Some(record) = state::read_json::<ExitRecord>(&run_dir.join(state::EXIT_FILE))? {
            return Ok(RecoveredRun::Finished(FinishedRun { container_id, record }));
        }
        if let Some(start) = container::read_start(run_dir)? {
            let handle =
                ContainerHandle { run_dir: run_dir.to_path_buf(), pid: start.pid, cgroup: cgroup.clone(), main_only };
            if procstat::is_alive(start.shim_pid, start.shim_start_ticks) {
                return Ok(RecoveredRun::Running(RunningContainer::adopted(handle, container_id, start)));
            }
            // The shim may have written exit.json just before dying; look once more.
            if let Some(record) = state::read_json::<ExitRecord>(&run_dir.join(state::EXIT_FILE))? {
                return Ok(RecoveredRun::Finished(FinishedRun { container_id, record }));
            }
            kill_unsupervised(&handle, start.pid, start.pid_start_ticks);
            let record = lost_record(
                Some(start.started_at),
                "the container's shim died while the agent was down; the container was killed",
            );
            return Ok(RecoveredRun::Finished(FinishedRun { container_id, record }));
        }
        if tokio::time::Instant::now() >= deadline {
            if let Some(set) = &cgroup {
                cgroup::kill_all(set);
            }
            let record =
                lost_record(None, "the container was being started when the agent stopped; it never reported starting");
            return Ok(RecoveredRun::Finished(FinishedRun { container_id, record }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills a container whose shim is gone, making sure the pid still names the same process first.
fn kill_unsupervised(handle: &ContainerHandle, pid: i32, pid_start_ticks: u64) {
    if procstat::is_alive(pid, pid_start_ticks) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    if let Some(set) = &handle.cgroup {
        cgroup::kill_all(set);
    }
}

/// SIGKILLs every run of the pod that has not recorded an exit.
pub(super) fn kill_pod_processes(paths: &PodPaths) {
    let Ok(containers) = std::fs::read_dir(paths.dir.join("containers")) else { return };
    for container in containers.flatten() {
        for attempt in state::attempts(&container.path()).unwrap_or_default() {
            let run_dir = container.path().join(attempt.to_string());
            if run_dir.join(state::EXIT_FILE).exists() {
                continue;
            }
            let cgroup = state::read_json::<state::LaunchSpec>(&run_dir.join(state::LAUNCH_FILE))
                .ok()
                .flatten()
                .and_then(|s| s.cgroup);
            if let Ok(Some(start)) = container::read_start(&run_dir) {
                let handle = ContainerHandle { run_dir: run_dir.clone(), pid: start.pid, cgroup, main_only: false };
                kill_unsupervised(&handle, start.pid, start.pid_start_ticks);
                // Let a live shim record the end before the directory goes away under it.
                for _ in 0..50 {
                    if run_dir.join(state::EXIT_FILE).exists()
                        || !procstat::is_alive(start.shim_pid, start.shim_start_ticks)
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            } else if let Some(set) = cgroup {
                cgroup::kill_all(&set);
            }
        }
    }
}
