//! Running an `oci` container with `runc`, under the container's shim.
//!
//! The agent decides everything in the [`LaunchSpec`] as for any sandboxed run; what this module adds is the
//! translation into an OCI runtime bundle and the calls to runc. The shim stays the supervisor: it owns the
//! log pipes, waits for the container's process, records the exit, and kills what is left, so logs, exit
//! codes, OOM kills, grace periods and restarts are the process runtime's.
//!
//! How one run goes (all in the shim, see [`start`] and [`delete`]):
//! 1. The shim moves into a mount namespace of its own and mounts the run's overlay (lower: the image's
//!    unpacked root, upper: the run's writable layer) at `rootfs/merged`; `subPath` mounts are resolved
//!    beneath their volume and bound at a staging path there. Nothing of this reaches the host's mounts, and
//!    it all goes away with the shim.
//! 2. `config.json` ([`runtime_config`], pure) is written into `<run dir>/bundle`.
//! 3. `runc create` starts the container's process, stopped before `exec`, with the shim's log pipes as its
//!    stdout and stderr. runc's process parent exits at once, so the container's process (PID 1 of its PID
//!    namespace) is handed to the shim, the nearest child subreaper: the shim waits for it as for any child.
//! 4. `runc start` lets it `exec` the container's program.
//! 5. After the exit (and the OOM count), `runc delete --force` removes runc's state and cgroups.
//!
//! Signals go to the container's PID 1 alone, which is what `runc kill` does (and what Kubernetes' runtimes
//! do): a PID 1 without a handler for SIGTERM ignores it, and the grace period's SIGKILL ends it.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::mount::{MsFlags, mount};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::runtime::cgroup;
use crate::runtime::sandbox::resolve::{self, Create, Scope};
use crate::runtime::sandbox::{BindMount, SandboxSpec};
use crate::runtime::state::{CgroupSet, CgroupVersion, LaunchSpec};

/// What the shim needs besides the launch itself to run a container with runc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuncRun {
    /// The runc binary.
    pub binary: PathBuf,
    /// `resources.limits.memory` in bytes (runc applies it to the cgroup it puts the container in).
    pub memory_bytes: Option<i64>,
    /// `resources.limits.cpu` in millicores.
    pub cpu_millis: Option<i64>,
}

/// runc on the agent's `PATH`, if there is one.
pub fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("runc")).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The CFS period the kubelet uses, and the smallest quota it writes (as the process runtime's cgroups).
const CPU_PERIOD_US: u64 = 100_000;
const MIN_CPU_QUOTA_US: i64 = 1_000;

/// Everything [`runtime_config`] turns into `config.json`.
#[derive(Debug, Clone)]
pub struct ConfigInput<'a> {
    pub spec: &'a LaunchSpec,
    pub sandbox: &'a SandboxSpec,
    pub runc: &'a RuncRun,
    /// The mounted root file system (the run's overlay).
    pub root: &'a Path,
    /// The volume mounts with their host sources as runc must bind them (`subPath`s already staged).
    pub mounts: &'a [BindMount],
    /// `linux.cgroupsPath`: the container's cgroup, relative to the hierarchy's mount point.
    pub cgroups_path: Option<String>,
}

/// The OCI runtime spec (`config.json`) of a run. Pure.
pub fn runtime_config(input: &ConfigInput<'_>) -> Value {
    let spec = input.spec;
    let identity = &spec.identity;
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut user = json!({ "uid": identity.uid.unwrap_or(0), "gid": identity.gid.unwrap_or(0) });
    if !identity.supplementary_groups.is_empty() {
        user["additionalGids"] = json!(identity.supplementary_groups);
    }
    let caps: Vec<String> = identity
        .capabilities
        .clone()
        .unwrap_or_else(|| crate::runtime::sandbox::DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect());
    // As containerd: the set bounds, and is effective and permitted; a non-root process loses the last two
    // at `exec`, as it would on Kubernetes.
    let capabilities = json!({ "bounding": caps, "effective": caps, "permitted": caps });

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for m in input.mounts {
        let mut options = vec!["rbind", "rprivate", "nodev"];
        if m.read_only {
            options.push("ro");
        }
        mounts.push(json!({"destination": m.target, "type": "bind", "source": m.source, "options": options}));
    }

    let pid_namespace = match &input.sandbox.pid_namespace {
        Some(path) => json!({"type": "pid", "path": path}),
        None => json!({"type": "pid"}),
    };
    // The network (and so the host name) stays the host's, as for the process runtime's sandboxes.
    let namespaces = json!([pid_namespace, {"type": "ipc"}, {"type": "mount"}]);

    let mut resources = json!({ "devices": [{"allow": false, "access": "rwm"}] });
    if let Some(bytes) = input.runc.memory_bytes.filter(|b| *b > 0) {
        // Swap equal to the limit: no swapping past it, as the process runtime's cgroups.
        resources["memory"] = json!({ "limit": bytes, "swap": bytes });
    }
    if let Some(millis) = input.runc.cpu_millis.filter(|m| *m > 0) {
        let quota = (millis.saturating_mul(CPU_PERIOD_US as i64) / 1000).max(MIN_CPU_QUOTA_US);
        resources["cpu"] = json!({ "quota": quota, "period": CPU_PERIOD_US });
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
        ],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    if let Some(path) = &input.cgroups_path {
        linux["cgroupsPath"] = json!(path);
    }

    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": user,
            "args": spec.argv,
            "env": env,
            "cwd": spec.working_dir,
            "capabilities": capabilities,
            "noNewPrivileges": identity.no_new_privileges,
        },
        "root": { "path": input.root, "readonly": input.sandbox.read_only_root },
        "mounts": mounts,
        "linux": linux,
    })
}

/// `linux.cgroupsPath` for the container's cgroup: its directory relative to the mount point of its
/// hierarchy (on v1 the first directory, the memory one, whose OOM count the shim reads; runc makes the
/// same path in the other hierarchies). Pure, over the text of `/proc/self/mountinfo`.
pub fn cgroups_path(set: &CgroupSet, mountinfo: &str) -> Option<String> {
    let dir = set.dirs.first()?;
    let fstype = match set.version {
        CgroupVersion::V1 => "cgroup",
        CgroupVersion::V2 => "cgroup2",
    };
    let mount = cgroup::parse_mountinfo(mountinfo)
        .into_iter()
        .filter(|m| m.fstype == fstype && dir.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())?;
    let relative = dir.strip_prefix(&mount.mount_point).ok()?;
    Some(format!("/{}", relative.to_str()?))
}

/// The directory runc keeps the run's state in (inside the run directory, so it goes with the pod).
fn state_root(spec: &LaunchSpec) -> PathBuf {
    spec.run_dir.join("runc")
}

fn bundle_dir(spec: &LaunchSpec) -> PathBuf {
    spec.run_dir.join("bundle")
}

/// A container created and started by runc.
pub struct Started {
    /// The container's PID 1, as the host sees it; a child of the shim from now on.
    pub pid: i32,
    pub stdout: File,
    pub stderr: File,
}

fn pipe() -> Result<(File, OwnedFd), String> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    Ok((File::from(read), write))
}

/// Prepares the bundle and has runc create and start the container. Runs in the shim, which must be a child
/// subreaper. The error is the run's `ContainerCannotRun` message.
pub fn start(spec: &LaunchSpec, sandbox: &SandboxSpec, runc: &RuncRun) -> Result<Started, String> {
    let image_root = sandbox.image_root.as_ref().ok_or("runc runs only image containers")?;
    // A mount namespace of the shim's own: the overlay and staged subPaths never reach the host, and go when
    // the shim and the container have ended.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| format!("creating a mount namespace: {e}"))?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| format!("making mounts private: {e}"))?;
    let merged = sandbox.rootfs.join("merged");
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        overlay_path(image_root)?,
        overlay_path(&sandbox.rootfs.join("upper"))?,
        overlay_path(&sandbox.rootfs.join("work"))?
    );
    mount(Some("overlay"), &merged, Some("overlay"), MsFlags::MS_NODEV, Some(options.as_str()))
        .map_err(|e| format!("mounting the root overlay: {e}"))?;
    let mounts = stage_mounts(spec, &sandbox.mounts)?;

    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroups_path = spec.cgroup.as_ref().and_then(|set| cgroups_path(set, &mountinfo));
    let config = runtime_config(&ConfigInput { spec, sandbox, runc, root: &merged, mounts: &mounts, cgroups_path });
    let bundle = bundle_dir(spec);
    std::fs::create_dir_all(&bundle).map_err(|e| format!("creating {}: {e}", bundle.display()))?;
    let text = serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?;
    std::fs::write(bundle.join("config.json"), text).map_err(|e| format!("writing config.json: {e}"))?;

    let (stdout, stdout_w) = pipe()?;
    let (stderr, stderr_w) = pipe()?;
    let pid_file = bundle.join("container.pid");
    let log_file = bundle.join("runc.log");
    let status = runc_command(spec, runc, &log_file)
        .arg("create")
        .arg("--bundle")
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&spec.container_id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout_w))
        .stderr(Stdio::from(stderr_w))
        .status()
        .map_err(|e| format!("running {}: {e}", runc.binary.display()))?;
    if !status.success() {
        delete(spec, runc);
        return Err(runc_error(&log_file).unwrap_or_else(|| format!("runc create failed ({status})")));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| "runc create wrote no container pid".to_string())?;
    let output = runc_command(spec, runc, &log_file)
        .arg("start")
        .arg(&spec.container_id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running {}: {e}", runc.binary.display()))?;
    if !output.success() {
        let message = runc_error(&log_file).unwrap_or_else(|| format!("runc start failed ({output})"));
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        delete(spec, runc);
        return Err(message);
    }
    Ok(Started { pid, stdout, stderr })
}

/// Removes runc's record of the run (and the cgroups it made); the container has ended or is killed.
pub fn delete(spec: &LaunchSpec, runc: &RuncRun) {
    let log_file = bundle_dir(spec).join("runc.log");
    let result = runc_command(spec, runc, &log_file)
        .arg("delete")
        .arg("--force")
        .arg(&spec.container_id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !result.is_ok_and(|s| s.success()) {
        eprintln!("runlet shim: runc delete {} failed: {:?}", spec.container_id, runc_error(&log_file));
    }
    remove_pod_cgroups(spec);
}

/// On cgroup v1, runc made the container's cgroup path in every hierarchy, and `runc delete` removed only
/// the leaves: the pod's directory goes too once its last container has ended (`rmdir` fails while others
/// are in it). The hierarchies the agent itself uses are left to the agent.
fn remove_pod_cgroups(spec: &LaunchSpec) {
    let Some(set) = spec.cgroup.as_ref().filter(|set| set.version == CgroupVersion::V1) else { return };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(path) = cgroups_path(set, &mountinfo) else { return };
    let Some(pod_dir) = Path::new(&path).parent() else { return };
    for mount in cgroup::parse_mountinfo(&mountinfo).into_iter().filter(|m| m.fstype == "cgroup") {
        let dir = mount.mount_point.join(pod_dir.strip_prefix("/").unwrap_or(pod_dir));
        if !set.dirs.iter().any(|d| d.starts_with(&dir)) {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

fn runc_command(spec: &LaunchSpec, runc: &RuncRun, log_file: &Path) -> Command {
    let mut cmd = Command::new(&runc.binary);
    cmd.arg("--root").arg(state_root(spec)).arg("--log").arg(log_file).arg("--log-format").arg("json");
    cmd
}

/// The last error runc logged (its JSON log lines: `{"level":"error","msg":...}`).
fn runc_error(log_file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log_file).ok()?;
    last_error(&text)
}

/// The message of the last `error` line of a runc JSON log. Pure.
pub fn last_error(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("level").and_then(Value::as_str) == Some("error"))
        .filter_map(|v| v.get("msg").and_then(Value::as_str).map(str::to_string))
        .next_back()
}

/// Overlay options need `,` and `:` escaped; paths with them are refused rather than risked.
fn overlay_path(p: &Path) -> Result<String, String> {
    let s = p.to_str().ok_or_else(|| format!("path {} is not UTF-8", p.display()))?;
    if s.contains([',', ':', '\\']) {
        return Err(format!("the runtime directory {s:?} contains ',', ':' or '\\', which overlay mounts cannot take"));
    }
    Ok(s.to_string())
}

/// The volume mounts as runc binds them: a `subPath` is resolved beneath its volume now (a symlink leading
/// out of the volume is refused, as by the kubelet) and the result bound at `<run dir>/subpaths/<n>` in the
/// shim's mount namespace, so runc binds exactly what was checked.
fn stage_mounts(spec: &LaunchSpec, mounts: &[BindMount]) -> Result<Vec<BindMount>, String> {
    let mut staged = Vec::with_capacity(mounts.len());
    for (n, m) in mounts.iter().enumerate() {
        let Some(sub) = &m.sub_path else {
            staged.push(m.clone());
            continue;
        };
        let base = resolve::open_dir(&m.source).map_err(|e| format!("opening volume {:?}: {e}", m.name))?;
        let fd = resolve::open_within(&base, sub, Scope::Beneath, Create::Dir).map_err(|e| {
            if resolve::is_escape(&e) {
                format!(
                    "subPath {sub:?} of volumeMount {:?} leads outside the volume (symlinks must stay inside it)",
                    m.name
                )
            } else {
                format!("preparing subPath {sub:?} of volumeMount {:?}: {e}", m.name)
            }
        })?;
        let source = resolve::fd_path(&fd);
        let is_dir = std::fs::metadata(&source).map(|md| md.is_dir()).unwrap_or(true);
        let stage = spec.run_dir.join("subpaths").join(n.to_string());
        let made = match is_dir {
            true => std::fs::create_dir_all(&stage),
            false => {
                std::fs::create_dir_all(spec.run_dir.join("subpaths")).and_then(|()| File::create(&stage).map(drop))
            }
        };
        made.map_err(|e| format!("staging subPath {sub:?}: {e}"))?;
        mount(Some(source.as_str()), &stage, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(|e| format!("staging subPath {sub:?} of volumeMount {:?}: {e}", m.name))?;
        staged.push(BindMount { source: stage, sub_path: None, ..m.clone() });
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::logfile::LogLimits;
    use crate::runtime::sandbox::Identity;

    fn launch() -> (LaunchSpec, SandboxSpec) {
        let sandbox = SandboxSpec {
            rootfs: PathBuf::from("/r/run/rootfs"),
            image_root: Some(PathBuf::from("/r/images/rootfs/abc")),
            hidden: vec![],
            mounts: vec![],
            read_only_root: true,
            share_pid_namespace: false,
            pid_namespace: None,
        };
        let spec = LaunchSpec {
            container_id: "c1".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
            env: vec![("PATH".into(), "/bin".into()), ("X".into(), "a=b".into())],
            working_dir: PathBuf::from("/srv"),
            log_path: PathBuf::from("/r/logs/0.log"),
            run_dir: PathBuf::from("/r/run"),
            cgroup: None,
            sandbox: Some(sandbox.clone()),
            identity: Identity {
                uid: Some(1000),
                gid: Some(1001),
                supplementary_groups: vec![2000],
                capabilities: Some(vec!["CAP_NET_BIND_SERVICE".into()]),
                no_new_privileges: true,
            },
            log_limits: LogLimits::default(),
            runc: None,
        };
        (spec, sandbox)
    }

    #[test]
    fn the_runtime_spec_carries_the_launch() {
        let (spec, mut sandbox) = launch();
        sandbox.pid_namespace = Some(PathBuf::from("/proc/42/ns/pid"));
        let runc = RuncRun { binary: "runc".into(), memory_bytes: Some(64 << 20), cpu_millis: Some(250) };
        let mounts = vec![BindMount {
            source: PathBuf::from("/r/volumes/data"),
            sub_path: None,
            target: "/data".into(),
            read_only: true,
            name: "data".into(),
        }];
        let config = runtime_config(&ConfigInput {
            spec: &spec,
            sandbox: &sandbox,
            runc: &runc,
            root: Path::new("/r/run/rootfs/merged"),
            mounts: &mounts,
            cgroups_path: Some("/runlet/pod/c-0".into()),
        });
        let process = &config["process"];
        assert_eq!(process["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(process["env"], json!(["PATH=/bin", "X=a=b"]));
        assert_eq!(process["cwd"], json!("/srv"));
        assert_eq!(process["user"], json!({"uid": 1000, "gid": 1001, "additionalGids": [2000]}));
        assert_eq!(process["capabilities"]["bounding"], json!(["CAP_NET_BIND_SERVICE"]));
        assert_eq!(process["noNewPrivileges"], json!(true));
        assert_eq!(process["terminal"], json!(false));
        assert_eq!(config["root"], json!({"path": "/r/run/rootfs/merged", "readonly": true}));
        let volume = config["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/data").unwrap();
        assert_eq!(volume["source"], json!("/r/volumes/data"));
        assert!(volume["options"].as_array().unwrap().contains(&json!("ro")));
        let linux = &config["linux"];
        assert_eq!(linux["namespaces"][0], json!({"type": "pid", "path": "/proc/42/ns/pid"}));
        assert!(!linux["namespaces"].as_array().unwrap().contains(&json!({"type": "network"})));
        assert_eq!(linux["cgroupsPath"], json!("/runlet/pod/c-0"));
        assert_eq!(linux["resources"]["memory"]["limit"], json!(64 << 20));
        assert_eq!(linux["resources"]["cpu"], json!({"quota": 25_000, "period": 100_000}));
    }

    #[test]
    fn defaults_when_the_pod_sets_nothing() {
        let (mut spec, mut sandbox) = launch();
        spec.identity = Identity::default();
        sandbox.read_only_root = false;
        let runc = RuncRun { binary: "runc".into(), memory_bytes: None, cpu_millis: Some(1) };
        let config = runtime_config(&ConfigInput {
            spec: &spec,
            sandbox: &sandbox,
            runc: &runc,
            root: Path::new("/m"),
            mounts: &[],
            cgroups_path: None,
        });
        assert_eq!(config["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(config["process"]["noNewPrivileges"], json!(false));
        let bounding = config["process"]["capabilities"]["bounding"].as_array().unwrap().len();
        assert_eq!(bounding, crate::runtime::sandbox::DEFAULT_CAPABILITIES.len());
        assert_eq!(config["root"]["readonly"], json!(false));
        assert_eq!(config["linux"]["namespaces"][0], json!({"type": "pid"}));
        assert!(config["linux"].get("cgroupsPath").is_none());
        assert!(config["linux"]["resources"].get("memory").is_none());
        // The smallest quota the kubelet writes.
        assert_eq!(config["linux"]["resources"]["cpu"]["quota"], json!(1_000));
    }

    #[test]
    fn cgroup_paths_are_relative_to_their_hierarchy() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
";
        let v1 = CgroupSet {
            version: CgroupVersion::V1,
            dirs: vec![
                PathBuf::from("/sys/fs/cgroup/memory/own/runlet/pod/c-0"),
                PathBuf::from("/sys/fs/cgroup/cpu/runlet/pod/c-0"),
            ],
        };
        assert_eq!(cgroups_path(&v1, mountinfo).as_deref(), Some("/own/runlet/pod/c-0"));
        let v2_mounts = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        let v2 = CgroupSet {
            version: CgroupVersion::V2,
            dirs: vec![PathBuf::from("/sys/fs/cgroup/system.slice/runlet/pod/c-0")],
        };
        assert_eq!(cgroups_path(&v2, v2_mounts).as_deref(), Some("/system.slice/runlet/pod/c-0"));
        assert_eq!(cgroups_path(&v2, mountinfo), None);
    }

    #[test]
    fn runc_errors_come_from_its_log() {
        let log = r#"{"level":"warning","msg":"x","time":"t"}
{"level":"error","msg":"runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH","time":"t"}
not json
"#;
        assert_eq!(
            last_error(log).as_deref(),
            Some(
                "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
            )
        );
        assert_eq!(last_error(""), None);
    }
}
