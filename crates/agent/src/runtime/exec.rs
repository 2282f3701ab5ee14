//! Running a command inside a running container (exec probes): `shim --exec <run dir> <timeout ms> <argv...>`
//! joins the container's mount and PID namespaces (through its init, `started.json`'s pid), its cgroup,
//! working directory, environment and identity, runs the command in its own process group with the shim's
//! stdout/stderr, and exits with its status. At the timeout the command's group is killed and the shim ends
//! by SIGKILL, so its parent can tell a timeout from a failing command. A run without a sandbox gets the same
//! minus the namespaces.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::unistd::ForkResult;

use super::sandbox::init::apply_identity;
use super::state::{self, LaunchSpec, StartRecord};

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{what} is missing: the container is not running"))
}

/// Runs `argv` in the container of `run_dir`; returns the exit code (128 + signal when killed).
pub fn exec_in(run_dir: &Path, argv: &[String], timeout: Duration) -> io::Result<i32> {
    let spec: LaunchSpec =
        state::read_json(&run_dir.join(state::LAUNCH_FILE))?.ok_or_else(|| not_found("launch.json"))?;
    let start: StartRecord =
        state::read_json(&run_dir.join(state::STARTED_FILE))?.ok_or_else(|| not_found("started.json"))?;
    if argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no command"));
    }
    let procs: Vec<File> = spec
        .cgroup
        .iter()
        .flat_map(|set| set.dirs.iter())
        .filter_map(|dir| OpenOptions::new().write(true).open(dir.join("cgroup.procs")).ok())
        .collect();
    if spec.sandbox.is_some() {
        let ns = |name: &str| File::open(format!("/proc/{}/ns/{name}", start.pid));
        let (pid_ns, mnt_ns) = (ns("pid")?, ns("mnt")?);
        nix::sched::setns(pid_ns, CloneFlags::CLONE_NEWPID)?;
        nix::sched::setns(mnt_ns, CloneFlags::CLONE_NEWNS)?;
    }
    let caps = match &spec.identity.capabilities {
        Some(names) => Some(
            names
                .iter()
                .map(|n| n.parse::<caps::Capability>())
                .collect::<Result<caps::CapsHashSet, _>>()
                .map_err(|e| io::Error::other(e.to_string()))?,
        ),
        None => None,
    };
    // SAFETY: the shim is single-threaded.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // Its own group, so a timeout can kill whatever the command started.
            let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
            for mut f in &procs {
                let _ = f.write_all(b"0");
            }
            let err = run_child(&spec, argv, caps.as_ref());
            let _ = writeln!(io::stderr(), "{err}");
            // SAFETY: leaving the forked child without the parent's destructors.
            unsafe { libc::_exit(126) }
        }
        ForkResult::Parent { child } => {
            let deadline = Instant::now() + timeout;
            let mut status = 0;
            loop {
                // SAFETY: waitpid with a valid pointer on our own child.
                let done = unsafe { libc::waitpid(child.as_raw(), &mut status, libc::WNOHANG) };
                if done == child.as_raw() || done < 0 {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = nix::sys::signal::killpg(child, nix::sys::signal::Signal::SIGKILL);
                    // SAFETY: as above.
                    unsafe {
                        libc::waitpid(child.as_raw(), &mut status, 0);
                    }
                    // Dying by SIGKILL tells the agent the command timed out.
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let status = std::process::ExitStatus::from_raw(status);
            Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
        }
    }
}

fn run_child(spec: &LaunchSpec, argv: &[String], caps: Option<&caps::CapsHashSet>) -> String {
    if nix::unistd::chdir(&spec.working_dir).is_err() {
        let _ = nix::unistd::chdir("/");
    }
    if spec.sandbox.is_some()
        && let Err(e) = apply_identity(&spec.identity, caps)
    {
        return e;
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).env_clear().envs(spec.env.iter().cloned()).exec();
    super::shim::exec_error_message(&argv[0], &err)
}
