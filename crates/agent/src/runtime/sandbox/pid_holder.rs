//! `shareProcessNamespace: true`: one PID namespace for all of a pod's containers, held by a small process
//! (the role of Kubernetes' pause container) that is its PID 1.
//!
//! The agent starts `runlet shim --pid-holder` and writes the directory the holder may use as its root on
//! the shim's stdin. The shim leaves the agent's session, creates the namespace and forks the holder, prints
//! the holder's pid and exits. The holder makes a private mount namespace whose root is an empty tmpfs (so
//! `/proc/1/root` shows nothing of the host to the pod's containers), makes itself undumpable (its `/proc`
//! entries cannot be read through), and reaps whatever is handed to it until it is killed. Every container of
//! the pod is started in this namespace ([`super::SandboxSpec::pid_namespace`]); each keeps its own mount
//! namespace and its own init, which kills what the container leaves behind when its main process ends.
//! Killing the holder ends the namespace and everything still in it.

use std::io::{self, BufRead, Write};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::ForkResult;
use serde::{Deserialize, Serialize};

/// The first argument that makes the shim start a holder.
pub const PID_HOLDER_ARG: &str = "--pid-holder";

/// What the agent records about a pod's holder (`pid-holder.json` in the pod directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderRecord {
    pub pid: i32,
    pub start_ticks: u64,
}

/// The shim side: reads the root directory from stdin, starts the holder, prints its pid. Never returns.
pub fn holder_main() -> ! {
    let code = match start() {
        Ok(pid) => {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{pid}");
            let _ = out.flush();
            0
        }
        Err(e) => {
            eprintln!("runlet shim: starting the pod's PID namespace: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn start() -> io::Result<i32> {
    let mut root = String::new();
    io::stdin().lock().read_line(&mut root)?;
    let root = root.trim_end_matches('\n').to_string();
    if root.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no root directory on stdin"));
    }
    let _ = nix::unistd::setsid();
    nix::sched::unshare(CloneFlags::CLONE_NEWPID)?;
    // SAFETY: the shim is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(child.as_raw()),
        ForkResult::Child => {
            if let Err(e) = hold(Path::new(&root)) {
                eprintln!("runlet shim: pod PID namespace holder: {e}");
                std::process::exit(1);
            }
            std::process::exit(0)
        }
    }
}

/// PID 1 of the pod's namespace: an empty root, no way in through `/proc`, reaping forever.
fn hold(root: &Path) -> io::Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), root, Some("tmpfs"), flags, Some("size=4k,mode=555"))?;
    nix::unistd::chdir(root)?;
    nix::unistd::pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")?;
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // Nothing of the shim's is needed any more; the agent reads our pid from the shim's stdout.
    for fd in 0..3 {
        let _ = nix::unistd::close(fd);
    }
    let mut children = SigSet::empty();
    children.add(Signal::SIGCHLD);
    children.thread_block()?;
    loop {
        let _ = children.wait();
        // Reap every orphan that ended (containers' processes are reparented here when their init is gone).
        while nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
            .is_ok_and(|s| s != nix::sys::wait::WaitStatus::StillAlive)
        {}
    }
}
