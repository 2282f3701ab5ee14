//! Building a container's file system view inside its new mount namespace (called by [`super::init`] in the
//! first process of the namespace, before anything of the container runs). See [`super`] for the layout.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::resolve::{self, Create, Scope};
use super::{BindMount, SandboxSpec};

/// A setup step that failed, in words for the container's status.
pub type SetupError = String;

fn step<T>(what: impl FnOnce() -> String, r: Result<T, impl std::fmt::Display>) -> Result<T, SetupError> {
    r.map_err(|e| format!("{}: {e}", what()))
}

/// File systems that are not the host's files: replaced by fresh ones, never bound into the sandbox.
fn is_pseudo(mount_point: &Path, fs_type: &str) -> bool {
    const PSEUDO: &[&str] = &[
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "binfmt_misc",
        "autofs",
        "rpc_pipefs",
        "nsfs",
    ];
    PSEUDO.contains(&fs_type)
        || ["/proc", "/sys", "/dev"].iter().any(|p| mount_point.starts_with(p))
        || mount_point == Path::new("/")
}

/// Mount points of the host other than `/`, parents before children (`/proc/self/mountinfo` order).
fn host_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(point), Some(fs_type)) = (fields.get(4), fields.get(dash + 1)) else { continue };
        let point = PathBuf::from(unescape(point));
        if !is_pseudo(&point, fs_type) {
            found.retain(|p| p != &point);
            found.push(point);
        }
    }
    found.sort_by_key(|p| p.components().count());
    found
}

/// Mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bind(source: &str, target: &str, flags: MsFlags) -> nix::Result<()> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | flags, None::<&str>)
}

/// Remounts the bind mount at `target` read-only (with `extra` flags such as nosuid).
fn remount_read_only(target: &str, extra: MsFlags) -> nix::Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra;
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

fn inside(merged: &Path, host_path: &Path) -> PathBuf {
    merged.join(host_path.strip_prefix("/").unwrap_or(host_path))
}

/// Overlay options need `,` and `:` escaped; paths with them are refused rather than risked.
fn overlay_path(p: &Path) -> Result<String, SetupError> {
    let s = p.to_str().ok_or_else(|| format!("path {} is not UTF-8", p.display()))?;
    if s.contains([',', ':', '\\']) {
        return Err(format!("the runtime directory {s:?} contains ',', ':' or '\\', which overlay mounts cannot take"));
    }
    Ok(s.to_string())
}

/// Builds the view and makes it the root. Runs in a fresh mount namespace of the container's init.
pub fn build(spec: &SandboxSpec, working_dir: &Path) -> Result<(), SetupError> {
    // Nothing done here may propagate back to the host.
    step(
        || "making mounts private".into(),
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>),
    )?;
    let merged = spec.rootfs.join("merged");
    let lower = match &spec.image_root {
        Some(image) => overlay_path(image)?,
        None => "/".to_string(),
    };
    let options = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        overlay_path(&spec.rootfs.join("upper"))?,
        overlay_path(&spec.rootfs.join("work"))?
    );
    step(
        || "mounting the root overlay".into(),
        mount(Some("overlay"), &merged, Some("overlay"), MsFlags::MS_NODEV, Some(options.as_str())),
    )?;

    // Other host file systems, read-only, so host tools on them keep working and nothing on them changes.
    let host_points = if spec.image_root.is_some() { Vec::new() } else { host_mounts() };
    for point in host_points {
        if spec.hidden.iter().any(|h| point.starts_with(h)) || point.starts_with(&spec.rootfs) {
            continue;
        }
        let target = inside(&merged, &point);
        if !target.is_dir() {
            continue;
        }
        let target = target.to_string_lossy().into_owned();
        let source = point.to_string_lossy().into_owned();
        if bind(&source, &target, MsFlags::empty()).is_ok() {
            let _ = remount_read_only(&target, MsFlags::MS_NODEV);
        }
    }

    mount_proc(&merged)?;
    mount_dev(&merged)?;
    mount_sys(&merged);

    if spec.image_root.is_none() {
        for hidden in &spec.hidden {
            hide(&merged, hidden)?;
        }
    }

    let root = step(|| "opening the container root".into(), resolve::open_dir(&merged))?;
    for m in &spec.mounts {
        mount_volume(&root, m)?;
    }
    let dir = working_dir.to_string_lossy();
    step(
        || format!("creating working directory {dir}"),
        resolve::open_within(&root, &dir, Scope::InRoot, Create::Dir),
    )?;
    drop(root);
    if spec.read_only_root {
        step(
            || "making the root file system read-only".into(),
            remount_read_only(&merged.to_string_lossy(), MsFlags::MS_NODEV),
        )?;
    }
    pivot(&merged)?;
    step(|| format!("changing to working directory {dir}"), nix::unistd::chdir(working_dir))?;
    Ok(())
}

fn mount_proc(merged: &Path) -> Result<(), SetupError> {
    let proc_dir = merged.join("proc");
    let _ = std::fs::create_dir_all(&proc_dir);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    step(|| "mounting /proc".into(), mount(Some("proc"), &proc_dir, Some("proc"), flags, None::<&str>))?;
    // As OCI runtimes do: kernel interfaces that would reach beyond the container stay out of reach.
    for masked in ["kcore", "keys", "timer_list", "sched_debug", "sysrq-trigger", "kallsyms"] {
        let p = proc_dir.join(masked);
        if p.exists() {
            let _ = bind("/dev/null", &p.to_string_lossy(), MsFlags::empty());
        }
    }
    for read_only in ["sys", "bus", "irq", "fs"] {
        let p = proc_dir.join(read_only).to_string_lossy().into_owned();
        if bind(&p, &p, MsFlags::MS_REC).is_ok() {
            let _ = remount_read_only(&p, MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        }
    }
    Ok(())
}

/// A small `/dev`: the usual character devices bound from the host, a private `pts` and `shm`.
fn mount_dev(merged: &Path) -> Result<(), SetupError> {
    let dev = merged.join("dev");
    let _ = std::fs::create_dir_all(&dev);
    step(
        || "mounting /dev".into(),
        mount(
            Some("tmpfs"),
            &dev,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("mode=755,size=65536k"),
        ),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        step(|| format!("creating /dev/{name}"), std::fs::write(&target, b""))?;
        step(
            || format!("binding /dev/{name}"),
            bind(&host.to_string_lossy(), &target.to_string_lossy(), MsFlags::empty()),
        )?;
    }
    let pts = dev.join("pts");
    let shm = dev.join("shm");
    let _ = std::fs::create_dir_all(&pts);
    let _ = std::fs::create_dir_all(&shm);
    let _ = mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    );
    let _ =
        mount(Some("shm"), &shm, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=1777,size=65536k"));
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(to, dev.join(link));
    }
    Ok(())
}

fn mount_sys(merged: &Path) {
    let sys = merged.join("sys");
    let _ = std::fs::create_dir_all(&sys);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    if mount(Some("sysfs"), &sys, Some("sysfs"), flags, None::<&str>).is_err() {
        let target = sys.to_string_lossy().into_owned();
        if bind("/sys", &target, MsFlags::empty()).is_ok() {
            let _ = remount_read_only(&target, MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        }
    }
}

/// Covers a host path inside the view with something empty and read-only.
fn hide(merged: &Path, host_path: &Path) -> Result<(), SetupError> {
    let Ok(meta) = std::fs::metadata(host_path) else { return Ok(()) };
    let target = inside(merged, host_path);
    let shown = || format!("hiding {}", host_path.display());
    if meta.is_dir() {
        if !target.is_dir() {
            return Ok(());
        }
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        step(shown, mount(Some("tmpfs"), &target, Some("tmpfs"), flags, Some("size=4k,mode=755")))
    } else {
        if !target.exists() {
            return Ok(());
        }
        step(shown, bind("/dev/null", &target.to_string_lossy(), MsFlags::empty()))
    }
}

fn mount_volume(root: &std::os::fd::OwnedFd, m: &BindMount) -> Result<(), SetupError> {
    let source_meta =
        step(|| format!("volume {:?} source {}", m.name, m.source.display()), std::fs::metadata(&m.source))?;
    let (source, is_dir) = match &m.sub_path {
        None => (step(|| format!("opening volume {:?}", m.name), open_path(&m.source))?, source_meta.is_dir()),
        Some(sub) => {
            let base = step(|| format!("opening volume {:?}", m.name), resolve::open_dir(&m.source))?;
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
            let is_dir = std::fs::metadata(resolve::fd_path(&fd)).map(|md| md.is_dir()).unwrap_or(true);
            (fd, is_dir)
        }
    };
    let create = if is_dir { Create::Dir } else { Create::File };
    let target = step(
        || format!("creating mount point {} for volume {:?}", m.target, m.name),
        resolve::open_within(root, &m.target, Scope::InRoot, create),
    )?;
    let flags = MsFlags::MS_REC | MsFlags::MS_NODEV;
    step(
        || format!("mounting volume {:?} at {}", m.name, m.target),
        bind(&resolve::fd_path(&source), &resolve::fd_path(&target), flags),
    )?;
    if m.read_only {
        // The descriptor still names the directory under the new mount: look the path up again.
        let mounted =
            step(|| format!("reopening {}", m.target), resolve::open_within(root, &m.target, Scope::InRoot, create))?;
        step(
            || format!("making volume {:?} at {} read-only", m.name, m.target),
            remount_read_only(&resolve::fd_path(&mounted), MsFlags::MS_NODEV),
        )?;
    }
    Ok(())
}

fn open_path(p: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    Ok(nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?)
}

/// `pivot_root` into `merged` and detach the host's root from the namespace.
fn pivot(merged: &Path) -> Result<(), SetupError> {
    step(|| "entering the container root".into(), nix::unistd::chdir(merged))?;
    step(|| "pivot_root".into(), nix::unistd::pivot_root(".", "."))?;
    step(|| "detaching the host root".into(), umount2(".", MntFlags::MNT_DETACH))?;
    step(|| "entering /".into(), nix::unistd::chdir("/"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescaping_and_pseudo_file_systems() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape("/plain"), "/plain");
        assert!(is_pseudo(Path::new("/proc/sys/fs/binfmt_misc"), "binfmt_misc"));
        assert!(is_pseudo(Path::new("/dev/shm"), "tmpfs"));
        assert!(is_pseudo(Path::new("/"), "ext4"));
        assert!(!is_pseudo(Path::new("/home"), "ext4"));
    }
}
