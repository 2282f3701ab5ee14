//! The container supervisor ("shim"): one small process per container run, started by the agent as
//! `<shim command> <run dir>/launch.json` (the `runlet` binary exposes it as a hidden `runlet shim`).
//!
//! Why a separate process: the exit status of a process can only be collected by its parent. If the agent
//! itself were the parent, a container that ends while the agent is down (upgrade, crash) would lose its exit
//! code. The shim leaves the agent's session, forks the container, copies its stdout/stderr into the CRI log
//! file, waits for it and writes `exit.json` (code, signal, OOM, times), so a restarted agent reads the real
//! outcome. It is single-threaded and does nothing else. It is a child subreaper: whatever the container
//! leaves behind (double forks, `setsid`) is killed when the container's main process ends. A sandboxed run
//! (see [`super::sandbox`]) is started through the sandbox's init, whose PID namespace ends with it.
//!
//! Protocol with the agent: after writing `started.json` (or, when exec failed, `exit.json`) the shim prints
//! one line, [`STARTED_LINE`] or [`EXITED_LINE`], on its stdout.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::cgroup;
use super::crilog::{self, LineSplitter, Stream};
use super::logfile::LogFile;
use super::procstat;
use super::sandbox::init::{self, Report, parse_report};
use super::state::{self, CgroupSet, ExitRecord, LaunchSpec, StartRecord};

pub const STARTED_LINE: &str = "started";
/// The only argument that makes the shim print [`BUILD`] and exit.
pub const BUILD_ARG: &str = "--build";
/// Which sources this shim was built from (a hash of the agent crate's sources, see the crate's build script):
/// the agent uses a separate shim executable only when it answers [`BUILD_ARG`] with the agent's own `BUILD`.
pub const BUILD: &str = env!("RUNLET_SHIM_BUILD");
pub const EXITED_LINE: &str = "exited";

/// How long output is still collected after the main process exited and the rest of its group was killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
enum ShimError {
    #[error("usage: shim <launch.json> | shim --exec <run dir> <timeout ms> <command...>")]
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
    let mut args = args.into_iter();
    let first = args.next().ok_or(ShimError::Usage)?;
    if first == super::sandbox::pid_holder::PID_HOLDER_ARG {
        super::sandbox::pid_holder::holder_main();
    }
    if first == BUILD_ARG {
        println!("{BUILD}");
        std::process::exit(0);
    }
    if first == EXEC_ARG {
        let run_dir = PathBuf::from(args.next().ok_or(ShimError::Usage)?);
        let timeout_ms: u64 =
            args.next().and_then(|t| t.to_str().and_then(|t| t.parse().ok())).ok_or(ShimError::Usage)?;
        let argv: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        let timeout = Duration::from_millis(timeout_ms);
        let code = super::exec::exec_in(&run_dir, &argv, timeout).map_err(|e| ShimError::Io("exec".into(), e))?;
        std::process::exit(code);
    }
    let launch_path = PathBuf::from(first);
    // Leave the agent's session and process group: a Ctrl-C or a signal to the agent's group must not reach
    // the containers, and the shim must outlive the agent.
    let _ = nix::unistd::setsid();
    // Orphans of the container (double forks, `setsid`) become the shim's children, so none outlives it.
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let spec: LaunchSpec = state::read_json(&launch_path)
        .map_err(io_err(launch_path.display().to_string()))?
        .ok_or_else(|| ShimError::Io(launch_path.display().to_string(), io::ErrorKind::NotFound.into()))?;
    let mut log =
        LogFile::open(&spec.log_path, spec.log_limits).map_err(io_err(spec.log_path.display().to_string()))?;

    let mut main = match spawn(&spec) {
        Ok(main) => main,
        Err(message) => {
            finish(&spec, &ExitRecord::cannot_run(message))?;
            announce(EXITED_LINE);
            return Ok(());
        }
    };
    let started_at = Timestamp::now();
    let pid = main.pid;
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

    let (status, finished_at) = pump(&mut main, &mut log, spec.cgroup.as_ref());
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
    if let Some(runc) = &spec.runc {
        super::oci::runc::delete(&spec, runc);
    }
    finish(&spec, &record)
}

/// The first argument that makes the shim run a command inside a running container (exec probes):
/// `shim --exec <run dir> <timeout ms> <argv...>`.
pub const EXEC_ARG: &str = "--exec";

/// The container's main process as the shim supervises it.
struct Main {
    /// The process to wait for: the container itself, or the init of its sandbox.
    pid: i32,
    stdout: Option<File>,
    stderr: Option<File>,
    /// The sandbox init's report pipe (the container's real exit status comes through it).
    report: Option<BufReader<File>>,
}

impl Main {
    /// The raw wait status, once the process has exited.
    fn try_wait(&mut self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer.
        let pid = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        (pid == self.pid).then(|| self.container_status(status))
    }

    fn wait(&mut self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: as above.
        let pid = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        (pid == self.pid).then(|| self.container_status(status))
    }

    /// A sandboxed run reports the container's own status; if the init died first (SIGKILL), its status it is.
    fn container_status(&mut self, init_status: i32) -> i32 {
        let Some(report) = self.report.as_mut() else { return init_status };
        let mut line = String::new();
        while report.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(Report::Exit(status)) = parse_report(&line) {
                return status;
            }
            line.clear();
        }
        init_status
    }
}

fn spawn(spec: &LaunchSpec) -> Result<Main, String> {
    let program = spec.argv.first().map(String::as_str).unwrap_or("");
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
    let Some(sandbox) = &spec.sandbox else {
        return spawn_plain(spec, &procs_fds).map_err(|e| exec_error_message(program, &e));
    };
    if let Some(runc) = &spec.runc {
        // runc puts the container into its cgroup itself.
        drop(procs);
        let started = super::oci::runc::start(spec, sandbox, runc)?;
        return Ok(Main { pid: started.pid, stdout: Some(started.stdout), stderr: Some(started.stderr), report: None });
    }
    let cmd = init::Command {
        argv: &spec.argv,
        env: &spec.env,
        working_dir: &spec.working_dir,
        identity: &spec.identity,
        sandbox,
        cgroup_procs: &procs_fds,
    };
    let spawned = init::spawn(&cmd).map_err(|e| format!("creating the sandbox: {e}"))?;
    drop(procs);
    let mut report = BufReader::new(spawned.report);
    let mut line = String::new();
    let _ = report.read_line(&mut line);
    match parse_report(&line) {
        Some(Report::Started) => Ok(Main {
            pid: spawned.init.as_raw(),
            stdout: Some(spawned.stdout),
            stderr: Some(spawned.stderr),
            report: Some(report),
        }),
        other => {
            let _ = nix::sys::wait::waitpid(spawned.init, None);
            Err(match other {
                Some(Report::Error(message)) => message,
                _ => "the sandbox init exited without starting the container".to_string(),
            })
        }
    }
}

fn spawn_plain(spec: &LaunchSpec, procs_fds: &[RawFd]) -> io::Result<Main> {
    let program = spec.argv.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
    let procs_fds = procs_fds.to_vec();
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
    // (the caller's `procs` outlive `spawn`); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &procs_fds {
                libc::write(*fd, b"0".as_ptr().cast(), 1);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    Ok(Main {
        pid: child.id() as i32,
        stdout: child.stdout.take().map(|p| File::from(OwnedFd::from(p))),
        stderr: child.stderr.take().map(|p| File::from(OwnedFd::from(p))),
        report: None,
    })
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
fn pump(main: &mut Main, log: &mut LogFile, cgroup: Option<&CgroupSet>) -> (ExitStatus, Timestamp) {
    let mut pipes: Vec<Option<Pipe>> = vec![
        main.stdout.take().map(|file| Pipe { file, stream: Stream::Stdout, lines: LineSplitter::default() }),
        main.stderr.take().map(|file| Pipe { file, stream: Stream::Stderr, lines: LineSplitter::default() }),
    ];
    let pidfd = pidfd_open(main.pid);
    let mut exited: Option<(ExitStatus, Timestamp)> = None;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut log_failed = false;
    loop {
        if exited.is_none()
            && let Some(status) = main.try_wait()
        {
            exited = Some((ExitStatus::from_raw(status), Timestamp::now()));
            kill_leftovers(main.pid, cgroup);
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
            if let Some(status) = main.wait() {
                exited = Some((ExitStatus::from_raw(status), Timestamp::now()));
                kill_leftovers(main.pid, cgroup);
                drain_until = Some(Instant::now());
            }
            continue;
        }
        let timeout_ms: i32 = match (drain_until, watch_pidfd) {
            (Some(until), _) => until.saturating_duration_since(Instant::now()).as_millis().min(1000) as i32,
            // Orphans handed to the shim are reaped now and then.
            (None, true) => 1000,
            // No pidfd: look at the child every 100 ms.
            (None, false) => 100,
        };
        reap_orphans(main.pid);
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

/// Reaps exited children other than `main` (orphans the subreaper inherited).
fn reap_orphans(main: i32) {
    for child in procstat::children_of_self() {
        if child == main {
            continue;
        }
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer, on one of our own children.
        unsafe {
            libc::waitpid(child, &mut status, libc::WNOHANG);
        }
    }
}

fn flush_partial(pipe: &mut Pipe, log: &mut LogFile, log_failed: &mut bool) {
    let time = crilog::format_time(Timestamp::now());
    let mut records = Vec::new();
    let stream = pipe.stream;
    pipe.lines.finish(|content, partial| crilog::encode(&mut records, &time, stream, partial, content));
    write_log(log, &records, log_failed);
}

/// One write per batch of records, so readers see whole lines. A full disk must not block the container,
/// so output is dropped (and reported once) rather than retried.
fn write_log(log: &mut LogFile, records: &[u8], failed: &mut bool) {
    if records.is_empty() {
        return;
    }
    if let Err(e) = log.write(records)
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
/// As the subreaper, the shim also kills (and reaps) every descendant that left the group (`setsid`,
/// double forks); killing one may hand its own children to the shim, hence the rounds.
fn kill_leftovers(pgid: i32, cgroup: Option<&CgroupSet>) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    if let Some(set) = cgroup {
        cgroup::kill_all(set);
    }
    procstat::kill_descendants();
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
