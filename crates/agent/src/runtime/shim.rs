//! The container supervisor ("shim"): one small process per container run, started by the agent as
//! `<shim command> <run dir>/launch.json` (the `runlet` binary exposes it as a hidden `runlet shim`).
//!
//! Why a separate process: the exit status of a process can only be collected by its parent. If the agent
//! itself were the parent, a container that ends while the agent is down (upgrade, crash) would lose its exit
//! code. The shim leaves the agent's session, forks the container, copies its stdout/stderr into the CRI log
//! file, waits for it and writes `exit.json` (code, signal, OOM, times), so a restarted agent reads the real
//! outcome. It is single-threaded and does nothing else.
//!
//! Protocol with the agent: after writing `started.json` (or, when exec failed, `exit.json`) the shim prints
//! one line, [`STARTED_LINE`] or [`EXITED_LINE`], on its stdout.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::cgroup;
use super::crilog::{self, LineSplitter, Stream};
use super::procstat;
use super::state::{self, CgroupSet, ExitRecord, LaunchSpec, StartRecord};

pub const STARTED_LINE: &str = "started";
pub const EXITED_LINE: &str = "exited";

/// How long output is still collected after the main process exited and the rest of its group was killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
enum ShimError {
    #[error("usage: shim <launch.json>")]
    Usage,
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ShimError {
    let what = what.into();
    move |e| ShimError::Io(what, e)
}

/// Runs the shim with its arguments (the path of `launch.json`) and exits the process.
pub fn shim_main(args: impl IntoIterator<Item = OsString>) -> ! {
    let code = match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("runlet shim: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), ShimError> {
    let launch_path = PathBuf::from(args.into_iter().next().ok_or(ShimError::Usage)?);
    // Leave the agent's session and process group: a Ctrl-C or a signal to the agent's group must not reach
    // the containers, and the shim must outlive the agent.
    let _ = nix::unistd::setsid();
    let spec: LaunchSpec = state::read_json(&launch_path)
        .map_err(io_err(launch_path.display().to_string()))?
        .ok_or_else(|| ShimError::Io(launch_path.display().to_string(), io::ErrorKind::NotFound.into()))?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)
        .map_err(io_err(spec.log_path.display().to_string()))?;

    let mut child = match spawn(&spec) {
        Ok(child) => child,
        Err(e) => {
            let record =
                ExitRecord::cannot_run(exec_error_message(spec.argv.first().map(String::as_str).unwrap_or(""), &e));
            finish(&spec, &record)?;
            announce(EXITED_LINE);
            return Ok(());
        }
    };
    let started_at = Timestamp::now();
    let pid = child.id() as i32;
    let shim_pid = std::process::id() as i32;
    let start = StartRecord {
        shim_pid,
        shim_start_ticks: procstat::read_stat(shim_pid).map(|s| s.start_ticks).unwrap_or(0),
        pid,
        pid_start_ticks: procstat::read_stat(pid).map(|s| s.start_ticks).unwrap_or(0),
        started_at,
    };
    state::write_json(&spec.run_dir.join(state::STARTED_FILE), &start).map_err(io_err("started.json"))?;
    announce(STARTED_LINE);

    let (status, finished_at) = pump(&mut child, &mut log, spec.cgroup.as_ref());
    let signal = status.signal();
    let exit_code = match (status.code(), signal) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 128,
    };
    let record = ExitRecord {
        exit_code,
        signal,
        oom_killed: spec.cgroup.as_ref().is_some_and(|set| cgroup::oom_kills(set) > 0),
        started_at: Some(started_at),
        finished_at,
        reason: None,
        message: None,
    };
    finish(&spec, &record)
}

fn spawn(spec: &LaunchSpec) -> io::Result<Child> {
    let program = spec.argv.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
    // Opened here, written in the child before exec: the container joins its cgroup before it can fork.
    let procs: Vec<File> = spec
        .cgroup
        .iter()
        .flat_map(|set| set.dirs.iter())
        .filter_map(|dir| match OpenOptions::new().write(true).open(dir.join("cgroup.procs")) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("runlet shim: cannot join cgroup {}: {e}", dir.display());
                None
            }
        })
        .collect();
    let procs_fds: Vec<RawFd> = procs.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the whole container can be signalled at once.
        .process_group(0);
    // SAFETY: the closure only calls write(2), which is async-signal-safe, on descriptors that stay open
    // (`procs` outlives `spawn`); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &procs_fds {
                libc::write(*fd, b"0".as_ptr().cast(), 1);
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    drop(procs);
    child
}

/// The message of a container whose process could not be executed, in the words of the OCI runtime.
pub fn exec_error_message(program: &str, err: &io::Error) -> String {
    let cause = match err.kind() {
        io::ErrorKind::NotFound if !program.contains('/') => "executable file not found in $PATH".to_string(),
        _ => match err.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
            None => err.to_string(),
        },
    };
    format!("exec: {program:?}: {cause}")
}

fn announce(line: &str) {
    let mut out = io::stdout().lock();
    // The agent may be gone; nobody else needs the line.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn finish(spec: &LaunchSpec, record: &ExitRecord) -> Result<(), ShimError> {
    state::write_json(&spec.run_dir.join(state::EXIT_FILE), record).map_err(io_err("exit.json"))?;
    if let Some(set) = &spec.cgroup {
        cgroup::remove(set);
    }
    Ok(())
}

/// An output pipe being copied into the log.
struct Pipe {
    file: File,
    stream: Stream,
    lines: LineSplitter,
}

/// Copies the container's output into `log` until it exits; returns its status and finish time.
fn pump(child: &mut Child, log: &mut File, cgroup: Option<&CgroupSet>) -> (ExitStatus, Timestamp) {
    let mut pipes: Vec<Option<Pipe>> = vec![
        child.stdout.take().map(|p| Pipe {
            file: File::from(OwnedFd::from(p)),
            stream: Stream::Stdout,
            lines: LineSplitter::default(),
        }),
        child.stderr.take().map(|p| Pipe {
            file: File::from(OwnedFd::from(p)),
            stream: Stream::Stderr,
            lines: LineSplitter::default(),
        }),
    ];
    let pidfd = pidfd_open(child.id() as i32);
    let mut exited: Option<(ExitStatus, Timestamp)> = None;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut log_failed = false;
    loop {
        if exited.is_none()
            && let Ok(Some(status)) = child.try_wait()
        {
            exited = Some((status, Timestamp::now()));
            kill_leftovers(child.id() as i32, cgroup);
            drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
        }
        let open: Vec<usize> = (0..pipes.len()).filter(|i| pipes[*i].is_some()).collect();
        if let (Some(result), Some(until)) = (exited, drain_until)
            && (open.is_empty() || Instant::now() >= until)
        {
            for pipe in pipes.iter_mut().flatten() {
                flush_partial(pipe, log, &mut log_failed);
            }
            return result;
        }
        let mut fds: Vec<libc::pollfd> =
            open.iter().filter_map(|i| pipes[*i].as_ref()).map(|p| pollfd(p.file.as_raw_fd())).collect();
        let watch_pidfd = exited.is_none() && pidfd.is_some();
        if let (true, Some(fd)) = (watch_pidfd, &pidfd) {
            fds.push(pollfd(fd.as_raw_fd()));
        }
        if fds.is_empty() {
            // Output closed but the process lives on, and there is no pidfd to wait on: just wait.
            if let Ok(status) = child.wait() {
                exited = Some((status, Timestamp::now()));
                kill_leftovers(child.id() as i32, cgroup);
                drain_until = Some(Instant::now());
            }
            continue;
        }
        let timeout_ms: i32 = match (drain_until, watch_pidfd) {
            (Some(until), _) => until.saturating_duration_since(Instant::now()).as_millis().min(1000) as i32,
            (None, true) => -1,
            // No pidfd: look at the child every 100 ms.
            (None, false) => 100,
        };
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if ready <= 0 {
            continue;
        }
        for (slot, fd) in open.iter().zip(fds.iter()) {
            if fd.revents == 0 {
                continue;
            }
            let Some(pipe) = pipes[*slot].as_mut() else { continue };
            match pipe.file.read(&mut buf) {
                Ok(0) | Err(_) => {
                    flush_partial(pipe, log, &mut log_failed);
                    pipes[*slot] = None;
                }
                Ok(n) => {
                    let time = crilog::format_time(Timestamp::now());
                    let mut records = Vec::with_capacity(n + 64);
                    let stream = pipe.stream;
                    pipe.lines.push(&buf[..n], |content, partial| {
                        crilog::encode(&mut records, &time, stream, partial, content)
                    });
                    write_log(log, &records, &mut log_failed);
                }
            }
        }
    }
}

fn flush_partial(pipe: &mut Pipe, log: &mut File, log_failed: &mut bool) {
    let time = crilog::format_time(Timestamp::now());
    let mut records = Vec::new();
    let stream = pipe.stream;
    pipe.lines.finish(|content, partial| crilog::encode(&mut records, &time, stream, partial, content));
    write_log(log, &records, log_failed);
}

/// One write per batch of records, so readers see whole lines. A full disk must not block the container,
/// so output is dropped (and reported once) rather than retried.
fn write_log(log: &mut File, records: &[u8], failed: &mut bool) {
    if records.is_empty() {
        return;
    }
    if let Err(e) = log.write_all(records)
        && !*failed
    {
        *failed = true;
        eprintln!("runlet shim: writing the container log failed, output is being dropped: {e}");
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}

/// When the main process ends the container ends, as when PID 1 of a container exits: whatever it left
/// running in its process group or cgroup is killed.
fn kill_leftovers(pgid: i32, cgroup: Option<&CgroupSet>) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    if let Some(set) = cgroup {
        cgroup::kill_all(set);
    }
}

/// A descriptor that becomes readable when `pid` exits (Linux 5.3+); `None` on older kernels.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_error_messages() {
        let not_found = io::Error::from_raw_os_error(libc::ENOENT);
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        let cases = [
            ("nope", &not_found, "exec: \"nope\": executable file not found in $PATH"),
            ("/bin/nope", &not_found, "exec: \"/bin/nope\": no such file or directory"),
            ("./x", &denied, "exec: \"./x\": permission denied"),
        ];
        for (program, err, want) in cases {
            assert_eq!(exec_error_message(program, err), want);
        }
    }
}
