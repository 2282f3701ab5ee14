//! Per-container cgroups: layout detection, limits, OOM detection and whole-cgroup kill.
//!
//! The layout is found at start from `/proc/self/cgroup` and `/proc/self/mountinfo`: on a v1 or hybrid host
//! (the memory controller listed on its own hierarchy line) the memory and cpu hierarchies are used; on a
//! pure v2 host the unified directory is. Container cgroups are created under the agent's own cgroup as
//! `<own>/<name>/<pod uid>/<container>-<attempt>`, one per run, so OOM counters start at zero.

use std::io;
use std::path::{Path, PathBuf};

use super::state::{CgroupSet, CgroupVersion};

/// Resource limits of one container, already converted to numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub memory_bytes: Option<i64>,
    pub cpu_millis: Option<i64>,
}

/// The CFS period the kubelet uses (100 ms), and the smallest quota it writes.
const CPU_PERIOD_US: i64 = 100_000;
const MIN_CPU_QUOTA_US: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Cpu,
}

/// One file write that applies a limit. `optional` writes may fail (the file is missing on some kernels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWrite {
    pub controller: Controller,
    pub file: &'static str,
    pub value: String,
    pub optional: bool,
}

/// The writes that apply `limits`, in the order they must happen.
pub fn limit_writes(version: CgroupVersion, limits: Limits) -> Vec<LimitWrite> {
    let mut writes = Vec::new();
    let write = |controller, file, value: String, optional| LimitWrite { controller, file, value, optional };
    if let Some(bytes) = limits.memory_bytes.filter(|b| *b > 0) {
        match version {
            CgroupVersion::V1 => {
                writes.push(write(Controller::Memory, "memory.limit_in_bytes", bytes.to_string(), false));
                // memory+swap equal to memory: no swapping past the limit (what runc does without a swap limit).
                writes.push(write(Controller::Memory, "memory.memsw.limit_in_bytes", bytes.to_string(), true));
            }
            CgroupVersion::V2 => {
                writes.push(write(Controller::Memory, "memory.max", bytes.to_string(), false));
                writes.push(write(Controller::Memory, "memory.swap.max", "0".to_string(), true));
            }
        }
    }
    if let Some(millis) = limits.cpu_millis.filter(|m| *m > 0) {
        let quota = (millis.saturating_mul(CPU_PERIOD_US) / 1000).max(MIN_CPU_QUOTA_US);
        match version {
            CgroupVersion::V1 => {
                writes.push(write(Controller::Cpu, "cpu.cfs_period_us", CPU_PERIOD_US.to_string(), false));
                writes.push(write(Controller::Cpu, "cpu.cfs_quota_us", quota.to_string(), false));
            }
            CgroupVersion::V2 => {
                writes.push(write(Controller::Cpu, "cpu.max", format!("{quota} {CPU_PERIOD_US}"), false))
            }
        }
    }
    writes
}

/// A line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroupLine {
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroupLine> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let controllers = controllers.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            Some(ProcCgroupLine { controllers, path: path.to_string() })
        })
        .collect()
}

/// The parts of a `/proc/self/mountinfo` line that matter for cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub super_options: Vec<String>,
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let _source = right.next()?;
            let super_options = right.next().unwrap_or("").split(',').map(str::to_string).collect();
            Some(Mount {
                root: unescape(left.get(3)?),
                mount_point: PathBuf::from(unescape(left.get(4)?)),
                fstype,
                super_options,
            })
        })
        .collect()
}

/// Where this process's cgroups are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// v1 or hybrid: the agent's own directory in the memory and cpu hierarchies (either may be missing).
    V1 { memory: Option<PathBuf>, cpu: Option<PathBuf> },
    /// Pure v2: the agent's own directory in the unified hierarchy.
    V2 { dir: PathBuf },
}

/// Joins a mount point with a cgroup path, relative to the mount's root.
fn join_cgroup_path(mount: &Mount, path: &str) -> PathBuf {
    let relative = path.strip_prefix(mount.root.as_str()).unwrap_or(path);
    mount.mount_point.join(relative.trim_start_matches('/'))
}

/// Finds the layout from the texts of `/proc/self/cgroup` and `/proc/self/mountinfo`.
pub fn detect_layout(proc_cgroup: &str, mountinfo: &str) -> Option<Layout> {
    let lines = parse_proc_cgroup(proc_cgroup);
    let mounts = parse_mountinfo(mountinfo);
    let v1_dir = |controller: &str| {
        let line = lines.iter().find(|l| l.controllers.iter().any(|c| c == controller))?;
        let mount = mounts.iter().find(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller))?;
        Some(join_cgroup_path(mount, &line.path))
    };
    let memory = v1_dir("memory");
    let cpu = v1_dir("cpu");
    if memory.is_some() || cpu.is_some() {
        return Some(Layout::V1 { memory, cpu });
    }
    let line = lines.iter().find(|l| l.controllers.is_empty())?;
    let mount = mounts.iter().find(|m| m.fstype == "cgroup2")?;
    Some(Layout::V2 { dir: join_cgroup_path(mount, &line.path) })
}

/// The runtime's cgroup subtree, set up and known to be writable.
#[derive(Debug, Clone)]
pub struct Cgroups {
    version: CgroupVersion,
    /// `(controller, base directory)`; for v2 a single entry for both controllers.
    bases: Vec<(Option<Controller>, PathBuf)>,
}

impl Cgroups {
    /// Detects the layout and creates `<own cgroup>/<name>`. `Err` says why limits cannot be enforced.
    pub fn setup(name: &str) -> io::Result<Cgroups> {
        let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let layout = detect_layout(&proc_cgroup, &mountinfo)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup hierarchy found"))?;
        match layout {
            Layout::V1 { memory, cpu } => {
                let mut bases = Vec::new();
                for (controller, own) in [(Controller::Memory, memory), (Controller::Cpu, cpu)] {
                    if let Some(own) = own {
                        let base = own.join(name);
                        std::fs::create_dir_all(&base)?;
                        bases.push((Some(controller), base));
                    }
                }
                let cgroups = Cgroups { version: CgroupVersion::V1, bases };
                cgroups.remove_empty_pod_dirs();
                Ok(cgroups)
            }
            Layout::V2 { dir } => {
                let base = dir.join(name);
                std::fs::create_dir_all(&base)?;
                if enable_v2_controllers(&dir).is_err() {
                    // "No internal processes": a cgroup with members cannot delegate controllers, so move
                    // the agent into a leaf of its own first.
                    let leaf = dir.join(format!("{name}-agent"));
                    std::fs::create_dir_all(&leaf)?;
                    std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())?;
                    enable_v2_controllers(&dir)?;
                }
                enable_v2_controllers(&base)?;
                let cgroups = Cgroups { version: CgroupVersion::V2, bases: vec![(None, base)] };
                cgroups.remove_empty_pod_dirs();
                Ok(cgroups)
            }
        }
    }

    /// Removes the pod directories left by an agent that stopped before its pods ended. `rmdir` of a
    /// cgroup fails while it has members or children, so a running pod's directory stays.
    fn remove_empty_pod_dirs(&self) {
        for (_, base) in &self.bases {
            let Ok(entries) = std::fs::read_dir(base) else { continue };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    pub(crate) fn pod_dirs<'a>(&'a self, pod_uid: &'a str) -> impl Iterator<Item = (Option<Controller>, PathBuf)> + 'a {
        self.bases.iter().map(move |(c, base)| (*c, base.join(pod_uid)))
    }

    /// Creates the cgroup of one container run and applies `limits` to it.
    pub fn create(&self, pod_uid: &str, container: &str, attempt: u32, limits: Limits) -> io::Result<CgroupSet> {
        let leaf = format!("{container}-{attempt}");
        let mut dirs = Vec::new();
        for (controller, pod_dir) in self.pod_dirs(pod_uid) {
            let dir = pod_dir.join(&leaf);
            // Another runtime sharing the base may sweep an empty pod directory away between the two
            // `mkdir`s (see `remove_empty_pod_dirs`): make it again.
            let mut attempts = 0;
            loop {
                let made = std::fs::create_dir_all(&pod_dir)
                    .and_then(|()| match self.version {
                        CgroupVersion::V2 => enable_v2_controllers(&pod_dir),
                        CgroupVersion::V1 => Ok(()),
                    })
                    .and_then(|()| match std::fs::create_dir(&dir) {
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                        other => other,
                    });
                match made {
                    Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                    other => break other?,
                }
            }
            for write in limit_writes(self.version, limits) {
                if controller.is_some_and(|c| c != write.controller) {
                    continue;
                }
                match std::fs::write(dir.join(write.file), &write.value) {
                    Err(e) if !write.optional => return Err(e),
                    _ => {}
                }
            }
            dirs.push(dir);
        }
        Ok(CgroupSet { version: self.version, dirs })
    }

    /// Kills everything left in the pod's cgroups and removes them.
    pub fn remove_pod(&self, pod_uid: &str) {
        for (_, pod_dir) in self.pod_dirs(pod_uid) {
            let children: Vec<PathBuf> = match std::fs::read_dir(&pod_dir) {
                Ok(entries) => entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect(),
                Err(_) => continue,
            };
            for child in &children {
                let set = CgroupSet { version: self.version, dirs: vec![child.clone()] };
                kill_all(&set);
                remove(&set);
            }
            let _ = std::fs::remove_dir(&pod_dir);
        }
    }
}

fn enable_v2_controllers(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu")
}

/// Number of OOM kills in the cgroup (v1 `memory.oom_control`, v2 `memory.events`, field `oom_kill`).
pub fn oom_kills(set: &CgroupSet) -> u64 {
    let file = match set.version {
        CgroupVersion::V1 => "memory.oom_control",
        CgroupVersion::V2 => "memory.events",
    };
    set.dirs
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
        .map(|text| parse_oom_kill(&text))
        .sum()
}

/// The `oom_kill N` field of `memory.oom_control` / `memory.events`.
pub fn parse_oom_kill(text: &str) -> u64 {
    text.lines().find_map(|line| line.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok())).unwrap_or(0)
}

/// Pids currently in the cgroup.
pub fn pids(set: &CgroupSet) -> Vec<i32> {
    let mut all = Vec::new();
    for dir in &set.dirs {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            all.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// SIGKILLs every process in the cgroup: `cgroup.kill` on v2, each pid of `cgroup.procs` otherwise.
pub fn kill_all(set: &CgroupSet) {
    if set.version == CgroupVersion::V2 && set.dirs.iter().all(|d| std::fs::write(d.join("cgroup.kill"), "1").is_ok()) {
        return;
    }
    // Processes may fork while being killed; a few rounds catch the stragglers.
    for _ in 0..5 {
        let pids = pids(set);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Removes the cgroup directories, waiting briefly for killed processes to leave them.
pub fn remove(set: &CgroupSet) {
    for dir in &set.dirs {
        for _ in 0..50 {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_CGROUP: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n";
    const HYBRID_MOUNTS: &str = "\
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 25 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2_CGROUP: &str = "0::/user.slice/session-1.scope\n";
    const V2_MOUNTS: &str = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn layout_detection_table() {
        let cases = [
            (
                HYBRID_CGROUP,
                HYBRID_MOUNTS,
                Some(Layout::V1 {
                    memory: Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")),
                    cpu: Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")),
                }),
            ),
            (
                V2_CGROUP,
                V2_MOUNTS,
                Some(Layout::V2 { dir: PathBuf::from("/sys/fs/cgroup/user.slice/session-1.scope") }),
            ),
            // A container whose mount root is its own cgroup: paths are relative to that root.
            (
                "0::/kubepods/pod1\n",
                "35 24 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                Some(Layout::V2 { dir: PathBuf::from("/sys/fs/cgroup") }),
            ),
            ("", "", None),
            (V2_CGROUP, "", None),
        ];
        for (cgroup, mounts, want) in cases {
            assert_eq!(detect_layout(cgroup, mounts), want, "cgroup {cgroup:?}");
        }
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        let mounts = parse_mountinfo("1 2 0:1 / /mnt/with\\040space rw - cgroup cgroup rw,memory\n");
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt/with space"));
    }

    #[test]
    fn limit_writes_table() {
        let w =
            |controller, file, value: &str, optional| LimitWrite { controller, file, value: value.into(), optional };
        let both = Limits { memory_bytes: Some(64 << 20), cpu_millis: Some(500) };
        let cases = [
            (CgroupVersion::V1, Limits::default(), vec![]),
            (
                CgroupVersion::V1,
                both,
                vec![
                    w(Controller::Memory, "memory.limit_in_bytes", "67108864", false),
                    w(Controller::Memory, "memory.memsw.limit_in_bytes", "67108864", true),
                    w(Controller::Cpu, "cpu.cfs_period_us", "100000", false),
                    w(Controller::Cpu, "cpu.cfs_quota_us", "50000", false),
                ],
            ),
            (
                CgroupVersion::V2,
                both,
                vec![
                    w(Controller::Memory, "memory.max", "67108864", false),
                    w(Controller::Memory, "memory.swap.max", "0", true),
                    w(Controller::Cpu, "cpu.max", "50000 100000", false),
                ],
            ),
            (
                CgroupVersion::V2,
                Limits { memory_bytes: None, cpu_millis: Some(1) },
                vec![w(Controller::Cpu, "cpu.max", "1000 100000", false)],
            ),
        ];
        for (version, limits, want) in cases {
            assert_eq!(limit_writes(version, limits), want, "{version:?} {limits:?}");
        }
    }

    #[test]
    fn oom_kill_field() {
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
        assert_eq!(parse_oom_kill("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 1);
        assert_eq!(parse_oom_kill("oom_kill_disable 0\n"), 0);
    }
}
