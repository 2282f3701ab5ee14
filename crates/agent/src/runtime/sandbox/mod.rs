//! The pod sandbox of the process runtime: what a container's private view of the machine is made of.
//!
//! A sandboxed container run gets its own mount and PID namespaces. Its root is an overlay whose lower layer
//! is the host's root file system and whose upper layer is a directory of the run (so the host's tools are
//! there, and writes land in the run's own layer, never on the host). Other host file systems are bound
//! read-only at their places; `/proc` is a new proc of the container's PID namespace, `/dev` a small tmpfs
//! with the usual character devices, `/sys` read-only. runlet's own directories (the server's data dir, the
//! agent's root with every pod directory, the kubeconfig) are covered by empty read-only tmpfs mounts.
//! Volumes are bind-mounted at their `mountPath`; a `subPath` is resolved beneath its volume (a symlink that
//! leads out of it is refused). Then `pivot_root` makes the overlay the root and the host's root is detached.
//!
//! The first process of the namespace is the shim's own init ([`init`]): it forwards termination signals to
//! the container's process group, reaps orphans, and reports the container's exit status to the shim. When it
//! ends, the kernel kills every process left in the namespace, however it was started (`setsid`, double
//! forks): stopping a container stops everything it ever started.
//!
//! Everything here is described by [`SandboxSpec`] and [`Identity`] (written by the agent into the launch
//! file, carried out by the shim), so a later runtime handler can be given the same description.

pub mod init;
mod mounts;
pub mod pid_holder;
pub mod resolve;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The private file system view of one container run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Holds `upper/`, `work/` and `merged/` of the run's root overlay.
    pub rootfs: PathBuf,
    /// The lower layer of the root overlay: an image's unpacked root file system (the `oci` handler), or
    /// None for the host's root (the `process` handler). An image root shows nothing of the host: no host
    /// file systems are bound into it and nothing needs hiding.
    #[serde(default)]
    pub image_root: Option<PathBuf>,
    /// Host paths the container must not see (covered by empty read-only mounts).
    pub hidden: Vec<PathBuf>,
    /// Volume mounts, in the order they are made.
    pub mounts: Vec<BindMount>,
    /// `readOnlyRootFilesystem`: the overlay root is mounted read-only (volumes keep their own mode).
    pub read_only_root: bool,
    /// `shareProcessNamespace`: the run joins the pod's PID namespace (see [`pid_holder`]).
    #[serde(default)]
    pub share_pid_namespace: bool,
    /// The PID namespace to join instead of creating one: `/proc/<pid>/ns/pid` of the pod's holder, filled in
    /// when the run starts.
    #[serde(default)]
    pub pid_namespace: Option<PathBuf>,
}

/// One volume mount inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// The volume's directory (or file) on the host.
    pub source: PathBuf,
    /// Relative path beneath `source` (a `subPath`); symlinks in it must stay beneath `source`.
    pub sub_path: Option<String>,
    /// The absolute path inside the container.
    pub target: String,
    pub read_only: bool,
    /// For the `volumeMount` name in messages.
    pub name: String,
}

/// Who the container's process runs as, and with which privileges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identity {
    /// None: stay as the agent's user.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub supplementary_groups: Vec<u32>,
    /// The capability set the process keeps (names like `CAP_NET_BIND_SERVICE`); None: do not change it.
    pub capabilities: Option<Vec<String>>,
    /// `allowPrivilegeEscalation: false`: `no_new_privs`.
    pub no_new_privileges: bool,
}

/// The capabilities a container has unless its `securityContext` adds or drops some (containerd's default set).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Whether this process can build sandboxes: it must be root (mounts, namespaces, identities).
pub fn can_sandbox() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "the agent runs as uid {}, not root: mount and PID namespaces need root",
            nix::unistd::geteuid()
        ));
    }
    Ok(())
}

/// The capability set of a container: the default set, `add`ed to and `drop`ped from (`ALL` allowed in both),
/// names with or without the `CAP_` prefix, as the CRI accepts them.
pub fn capability_set(add: &[String], drop: &[String]) -> Vec<String> {
    let canonical = |name: &str| {
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") }
    };
    let is_all = |n: &String| n.eq_ignore_ascii_case("ALL");
    // As containerd: `ALL` first (add, then drop), then the single names, so `drop: [ALL]` with
    // `add: [NET_BIND_SERVICE]` keeps just that one.
    let mut set: Vec<String> = if add.iter().any(is_all) {
        caps::all().iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect()
    };
    if drop.iter().any(is_all) {
        set.clear();
    }
    set.extend(add.iter().filter(|n| !is_all(n)).map(|n| canonical(n)));
    for name in drop.iter().filter(|n| !is_all(n)) {
        let c = canonical(name);
        set.retain(|s| *s != c);
    }
    set.sort();
    set.dedup();
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let set = capability_set(&s(&["NET_ADMIN"]), &s(&["kill", "CAP_CHOWN"]));
        assert!(set.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!set.contains(&"CAP_KILL".to_string()) && !set.contains(&"CAP_CHOWN".to_string()));
        assert!(set.contains(&"CAP_SETUID".to_string()));
        assert_eq!(capability_set(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"])), ["CAP_NET_BIND_SERVICE"]);
        assert_eq!(capability_set(&[], &s(&["ALL"])), Vec::<String>::new());
        assert_eq!(capability_set(&s(&["ALL"]), &[]).len(), caps::all().len());
    }
}
