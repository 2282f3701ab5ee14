//! Resolving paths inside a directory without ever leaving it, with `openat2(2)`: a `subPath` beneath its
//! volume (a symlink that points out of the volume is an error, as on a kubelet) and a mount target inside the
//! container's root (absolute symlinks are taken relative to that root, as `chroot` would see them).
//! Missing directories on the way are created, and the answer is an `O_PATH` descriptor, so what is mounted
//! is exactly what was checked (no window for a symlink swap).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

/// How `..` and symlinks are contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Escaping is an error (`EXDEV`): for `subPath`.
    Beneath,
    /// The directory acts as `/`: for mount targets inside the container root.
    InRoot,
}

/// What to create when the last component is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Dir,
    File,
}

fn how(scope: Scope) -> OpenHow {
    let resolve = match scope {
        Scope::Beneath => ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        Scope::InRoot => ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    };
    OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(resolve)
}

fn open(base: &OwnedFd, path: &str, scope: Scope) -> io::Result<OwnedFd> {
    let path = if path.is_empty() { "." } else { path };
    openat2(base.as_fd(), path, how(scope)).map_err(io::Error::from)
}

/// Opens `path` (relative; a leading `/` is ignored) inside `base`, creating what is missing: directories on
/// the way and, at the end, `create`.
pub fn open_within(base: &OwnedFd, path: &str, scope: Scope, create: Create) -> io::Result<OwnedFd> {
    let parts: Vec<&str> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str(),
            Component::ParentDir => Some(".."),
            _ => None,
        })
        .collect();
    let mut done = String::new();
    let mut current = open(base, "", scope)?;
    for (i, part) in parts.iter().enumerate() {
        let next = if done.is_empty() { part.to_string() } else { format!("{done}/{part}") };
        match open(base, &next, scope) {
            Ok(fd) => current = fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && *part != ".." => {
                let name = CString::new(*part).map_err(io::Error::other)?;
                let last = i + 1 == parts.len();
                if last && create == Create::File {
                    // SAFETY: `current` is a valid directory descriptor and `name` a NUL-terminated string.
                    let fd = unsafe {
                        libc::openat(
                            current.as_raw_fd(),
                            name.as_ptr(),
                            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                            0o644,
                        )
                    };
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // SAFETY: just opened, owned by nobody else.
                    drop(unsafe { OwnedFd::from_raw_fd(fd) });
                } else {
                    match nix::sys::stat::mkdirat(current.as_fd(), name.as_c_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                current = open(base, &next, scope)?;
            }
            Err(e) => return Err(e),
        }
        done = next;
    }
    Ok(current)
}

/// Opens a host directory as the base of a resolution.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok(fd)
}

/// `/proc/self/fd/N`: how a mount call names what an `O_PATH` descriptor holds.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Whether an error means the path led out of its base.
pub fn is_escape(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn target_of(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn sub_paths_stay_beneath_their_volume() {
        let tmp = tempfile::tempdir().unwrap();
        let volume = tmp.path().join("vol");
        std::fs::create_dir_all(volume.join("data")).unwrap();
        std::fs::write(tmp.path().join("secret"), "x").unwrap();
        symlink("/etc", volume.join("abs")).unwrap();
        symlink("../secret", volume.join("up")).unwrap();
        symlink("data", volume.join("inside")).unwrap();
        let base = open_dir(&volume).unwrap();
        // A symlink that stays inside is followed; missing directories are created.
        let fd = open_within(&base, "inside/new/dir", Scope::Beneath, Create::Dir).unwrap();
        assert_eq!(target_of(&fd), volume.join("data/new/dir"));
        for escape in ["abs", "up", "../secret", "data/../../secret", "abs/passwd"] {
            let err = open_within(&base, escape, Scope::Beneath, Create::Dir).unwrap_err();
            assert!(is_escape(&err), "{escape}: {err}");
        }
    }

    #[test]
    fn targets_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/real", root.join("link")).unwrap();
        let base = open_dir(&root).unwrap();
        let fd = open_within(&base, "/link/sub", Scope::InRoot, Create::Dir).unwrap();
        assert_eq!(target_of(&fd), root.join("real/sub"));
        let fd = open_within(&base, "/../../etc/f", Scope::InRoot, Create::File).unwrap();
        assert_eq!(target_of(&fd), root.join("etc/f"));
        assert!(root.join("etc/f").is_file());
    }
}
