//! Starting a container in its sandbox, and the small init that is PID 1 of its PID namespace.
//!
//! The shim (single-threaded, so forking is safe) creates the PID namespace and forks the init. The init makes
//! its mount namespace and view ([`super::mounts::build`]), forks the container process into its own session,
//! switches it to the container's identity and execs the command. It then forwards SIGTERM and friends to the
//! container's process group, reaps every orphan of the namespace, and reports to the shim, one line each on
//! a pipe: `started`, `error <message>` (the container never ran) or `exit <wait status>`. When the init ends,
//! the kernel kills whatever is left in the namespace.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};

use super::{Identity, SandboxSpec, mounts};

/// The container's process group, for the signal handler of the init.
static CONTAINER: AtomicI32 = AtomicI32::new(0);

/// Signals the init passes on to the container rather than acting on (the init of a PID namespace ignores
/// signals it has no handler for, so without this SIGTERM would never reach a container whose PID 1 is us).
const FORWARDED: &[libc::c_int] =
    &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];

extern "C" fn forward(sig: libc::c_int) {
    let pgid = CONTAINER.load(Ordering::Relaxed);
    if pgid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// The process a sandboxed run consists of, from the shim's side.
pub struct Spawned {
    /// The init's pid in the shim's namespace (signals sent to it reach the container).
    pub init: Pid,
    pub stdout: File,
    pub stderr: File,
    /// The init's report lines.
    pub report: File,
}

/// What the container process needs, prepared before forking (no allocation after the last fork).
pub struct Command<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub working_dir: &'a Path,
    pub identity: &'a Identity,
    pub sandbox: &'a SandboxSpec,
    /// `cgroup.procs` files of the container's cgroup, opened by the shim.
    pub cgroup_procs: &'a [RawFd],
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Creates the namespaces and starts the init. Only the shim calls this, once.
pub fn spawn(cmd: &Command<'_>) -> io::Result<Spawned> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (rep_r, rep_w) = pipe()?;
    match &cmd.sandbox.pid_namespace {
        Some(ns) => nix::sched::setns(File::open(ns)?, CloneFlags::CLONE_NEWPID)?,
        None => nix::sched::unshare(CloneFlags::CLONE_NEWPID)?,
    }
    // SAFETY: the shim is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => {
            Ok(Spawned { init: child, stdout: File::from(out_r), stderr: File::from(err_r), report: File::from(rep_r) })
        }
        ForkResult::Child => {
            drop((out_r, err_r, rep_r));
            let mut report = File::from(rep_w);
            let code = match run_init(cmd, out_w, err_w, &mut report) {
                Ok(()) => 0,
                Err(message) => {
                    let _ = writeln!(report, "error {}", message.replace('\n', " "));
                    1
                }
            };
            std::process::exit(code)
        }
    }
}

fn run_init(cmd: &Command<'_>, out_w: OwnedFd, err_w: OwnedFd, report: &mut File) -> Result<(), String> {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("creating the mount namespace: {e}"))?;
    mounts::build(cmd.sandbox, cmd.working_dir)?;
    // Joined after the sandbox is built: the directories and files building it makes are the runtime's,
    // not the container's. Charged to the container's memory cgroup, their page cache would outlive the
    // container and keep its removed cgroup alive (a "dying" cgroup holds one of v1's 65,535 memory
    // cgroup ids until that cache is reclaimed).
    for fd in cmd.cgroup_procs {
        // SAFETY: a plain write(2) on a descriptor the shim keeps open.
        unsafe {
            libc::write(*fd, b"0".as_ptr().cast(), 1);
        }
    }

    let program = find_program(cmd.argv, cmd.env)?;
    let argv: Vec<CString> = cmd.argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
    let env: Vec<CString> = cmd.env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<Result<_, _>>()?;
    let program_c = cstring(&program.to_string_lossy())?;
    let caps = match &cmd.identity.capabilities {
        Some(names) => Some(parse_caps(names)?),
        None => None,
    };
    let (exec_r, exec_w) = pipe().map_err(|e| format!("creating a pipe: {e}"))?;
    // In the pod's shared PID namespace this init is not PID 1: the kernel will not kill what the container
    // leaves behind, so the init adopts its orphans and kills them itself.
    let shared = cmd.sandbox.pid_namespace.is_some();
    if shared {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    }

    // SAFETY: the init is single-threaded.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("starting the container process: {e}"))? {
        ForkResult::Child => {
            drop(exec_r);
            let err = become_container(cmd.identity, caps.as_ref(), shared, (&out_w, &err_w), &program_c, &argv, &env);
            let mut w = File::from(exec_w);
            let _ = write!(w, "{err}");
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            drop((out_w, err_w, exec_w));
            let mut failure = String::new();
            let _ = File::from(exec_r).read_to_string(&mut failure);
            if !failure.is_empty() {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(failure);
            }
            CONTAINER.store(child.as_raw(), Ordering::Relaxed);
            for sig in FORWARDED {
                // SAFETY: installing a handler that only calls kill(2).
                unsafe {
                    libc::signal(*sig, forward as extern "C" fn(libc::c_int) as libc::sighandler_t);
                }
            }
            let _ = writeln!(report, "started");
            let status = reap_until(child.as_raw());
            if shared {
                crate::runtime::procstat::kill_descendants();
            }
            let _ = writeln!(report, "exit {status}");
            Ok(())
        }
    }
}

/// Reaps every child (orphans of the namespace come to PID 1) until `main` exits; returns its wait status.
fn reap_until(main: i32) -> i32 {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == main {
            return status;
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            return 0;
        }
    }
}

fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

/// The program to exec: a path as given, or the first executable of that name in the container's `PATH`.
fn find_program(argv: &[String], env: &[(String, String)]) -> Result<PathBuf, String> {
    let name = argv.first().ok_or("empty command")?;
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = env.iter().rev().find(|(k, _)| k == "PATH").map_or(crate::runtime::launch::DEFAULT_PATH, |(_, v)| v);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(crate::runtime::shim::exec_error_message(name, &io::Error::from(io::ErrorKind::NotFound)))
}

fn parse_caps(names: &[String]) -> Result<caps::CapsHashSet, String> {
    names.iter().map(|n| n.parse::<caps::Capability>().map_err(|_| format!("unknown capability {n:?}"))).collect()
}

/// In the forked container process: session, output, identity, exec. Returns only on failure, with the
/// message for the container's status.
fn become_container(
    identity: &Identity,
    caps: Option<&caps::CapsHashSet>,
    die_with_init: bool,
    (out_w, err_w): (&OwnedFd, &OwnedFd),
    program: &CString,
    argv: &[CString],
    env: &[CString],
) -> String {
    let _ = nix::unistd::setsid();
    // SAFETY: dup2 onto the standard descriptors of this process.
    unsafe {
        libc::dup2(out_w.as_raw_fd(), 1);
        libc::dup2(err_w.as_raw_fd(), 2);
    }
    if let Ok(null) = File::open("/dev/null") {
        // SAFETY: as above.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
        }
    }
    if let Err(e) = apply_identity(identity, caps) {
        return e;
    }
    if die_with_init {
        // Set after the identity change, which clears it: a SIGKILLed init takes the container with it.
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
    }
    let e = nix::unistd::execve(program, argv, env).err().map(io::Error::from).unwrap_or_else(io::Error::last_os_error);
    crate::runtime::shim::exec_error_message(&program.to_string_lossy(), &e)
}

/// Groups, gid, capabilities, uid, `no_new_privs`, in the order that keeps the wanted capabilities.
pub fn apply_identity(identity: &Identity, caps: Option<&caps::CapsHashSet>) -> Result<(), String> {
    use caps::CapSet;
    if identity.uid.is_some() || identity.gid.is_some() {
        let groups: Vec<nix::unistd::Gid> =
            identity.supplementary_groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    }
    if let Some(gid) = identity.gid {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(|e| format!("setgid {gid}: {e}"))?;
    }
    if let Some(set) = caps {
        for cap in caps::all() {
            if !set.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| format!("dropping {cap}: {e}"))?;
            }
        }
    }
    if let Some(uid) = identity.uid {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
        }
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(|e| format!("setuid {uid}: {e}"))?;
    }
    if let Some(set) = caps {
        // Effective first: each step must stay a subset of the permitted set it leaves behind.
        for which in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
            caps::set(None, which, set).map_err(|e| format!("setting capabilities: {e}"))?;
        }
        if identity.uid.is_some_and(|u| u != 0) {
            // A non-root process keeps capabilities across exec only as ambient ones.
            for cap in set {
                let _ = caps::raise(None, CapSet::Ambient, *cap);
            }
        }
    }
    if identity.no_new_privileges {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("no_new_privs: {}", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// A report line from the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Started,
    Error(String),
    /// The container's raw wait status.
    Exit(i32),
}

pub fn parse_report(line: &str) -> Option<Report> {
    let line = line.trim_end();
    if line == "started" {
        return Some(Report::Started);
    }
    if let Some(message) = line.strip_prefix("error ") {
        return Some(Report::Error(message.to_string()));
    }
    line.strip_prefix("exit ").and_then(|s| s.parse().ok()).map(Report::Exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        assert_eq!(parse_report("started\n"), Some(Report::Started));
        assert_eq!(parse_report("error mounting /proc: EPERM"), Some(Report::Error("mounting /proc: EPERM".into())));
        assert_eq!(parse_report("exit 256"), Some(Report::Exit(256)));
        assert_eq!(parse_report("exit x"), None);
    }

    #[test]
    fn programs_are_found_in_the_container_path() {
        let env = vec![("PATH".to_string(), "/nonexistent:/bin:/usr/bin".to_string())];
        let found = find_program(&["sh".to_string()], &env).unwrap();
        assert!(found.ends_with("sh"), "{found:?}");
        assert_eq!(find_program(&["./x".to_string()], &env).unwrap(), PathBuf::from("./x"));
        assert_eq!(
            find_program(&["no-such-program".to_string()], &env).unwrap_err(),
            "exec: \"no-such-program\": executable file not found in $PATH"
        );
    }
}
