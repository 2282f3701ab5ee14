//! Unpacking layers into an image's root file system, applying the whiteouts of the OCI layer format: a
//! `.wh.NAME` entry deletes NAME of the layers below, `.wh..wh..opq` empties its directory of them. Ownership,
//! modes and times are kept.

use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// What a layer entry does to the layers below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whiteout {
    /// Delete this path.
    Remove(PathBuf),
    /// Delete everything inside this directory.
    Opaque(PathBuf),
}

/// The whiteout an entry path stands for, if it is one; None for ordinary entries. Paths with `..` are not
/// whiteouts of anything (they are refused when unpacked).
pub fn whiteout(entry: &Path) -> Option<Whiteout> {
    let name = entry.file_name()?.to_str()?;
    let parent = entry.parent().unwrap_or(Path::new(""));
    if entry.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    if name == OPAQUE_WHITEOUT {
        return Some(Whiteout::Opaque(parent.to_path_buf()));
    }
    let target = name.strip_prefix(WHITEOUT_PREFIX)?;
    if target.is_empty() {
        return None;
    }
    Some(Whiteout::Remove(parent.join(target)))
}

/// Opens a layer blob, gzip-compressed or not (told by its first bytes).
fn open_layer(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let reader = BufReader::new(file);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Applies one layer on top of `root`: first its whiteouts (they are about the layers below), then its entries.
pub fn apply_layer(layer: &Path, root: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(open_layer(layer)?);
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry.path()?.into_owned();
        match whiteout(&path) {
            Some(Whiteout::Remove(target)) => remove_beneath(root, &target)?,
            Some(Whiteout::Opaque(dir)) => empty_beneath(root, &dir)?,
            None => {}
        }
    }
    let mut archive = tar::Archive::new(open_layer(layer)?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(is_root());
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if whiteout(&path).is_some() {
            continue;
        }
        // A directory of a lower layer replaced by something else, or the other way round.
        if let Some(rel) = relative(&path) {
            let target = root.join(&rel);
            if let Ok(meta) = fs::symlink_metadata(&target) {
                let entry_is_dir = entry.header().entry_type().is_dir();
                if meta.is_dir() && !entry_is_dir {
                    fs::remove_dir_all(&target)?;
                } else if !meta.is_dir() && entry_is_dir {
                    fs::remove_file(&target)?;
                }
            }
        }
        // unpack_in refuses `..` and anything that would land outside `root` through a symlink.
        entry.unpack_in(root)?;
    }
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The path inside the root, without a leading `/` or `.`; None when it climbs out.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The target inside `root` whose parents are real directories, not symlinks (a whiteout never follows one).
fn beneath(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = relative(path)?;
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, c) in parts.iter().enumerate() {
        at.push(c);
        if i + 1 < parts.len() && !fs::symlink_metadata(&at).map(|m| m.is_dir()).unwrap_or(false) {
            return None;
        }
    }
    Some(at)
}

fn remove_beneath(root: &Path, path: &Path) -> io::Result<()> {
    let Some(target) = beneath(root, path) else { return Ok(()) };
    match fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&target),
        Ok(_) => fs::remove_file(&target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn empty_beneath(root: &Path, dir: &Path) -> io::Result<()> {
    let Some(target) = beneath(root, dir) else { return Ok(()) };
    let Ok(entries) = fs::read_dir(&target) else { return Ok(()) };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        let cases: &[(&str, Option<Whiteout>)] = &[
            ("etc/.wh.passwd", Some(Whiteout::Remove("etc/passwd".into()))),
            (".wh.tmp", Some(Whiteout::Remove("tmp".into()))),
            ("var/cache/.wh..wh..opq", Some(Whiteout::Opaque("var/cache".into()))),
            ("etc/passwd", None),
            ("etc/.wh.", None),
            ("../.wh.x", None),
        ];
        for (path, want) in cases {
            assert_eq!(whiteout(Path::new(path)), *want, "{path}");
        }
    }

    fn layer(dir: &Path, name: &str, entries: &[(&str, Option<&[u8]>)]) -> PathBuf {
        let path = dir.join(name);
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        for (p, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match content {
                Some(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    // Written raw: the builder itself refuses `..`, a hostile archive does not.
                    let name = &mut h.as_old_mut().name;
                    name[..p.len()].copy_from_slice(p.as_bytes());
                    h.set_cksum();
                    b.append(&h, *data).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, p, &[][..]).unwrap();
                }
            }
        }
        b.finish().unwrap();
        path
    }

    #[test]
    fn layers_stack_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let lower = layer(
            dir.path(),
            "l1.tar",
            &[
                ("etc", None),
                ("etc/passwd", Some(b"root")),
                ("etc/keep", Some(b"k")),
                ("cache", None),
                ("cache/a", Some(b"a")),
                ("x", None),
            ],
        );
        let upper = layer(
            dir.path(),
            "l2.tar",
            &[
                ("etc/.wh.passwd", Some(b"")),
                ("cache/.wh..wh..opq", Some(b"")),
                ("cache/b", Some(b"b")),
                ("x", Some(b"now a file")),
                ("../escape", Some(b"no")),
            ],
        );
        apply_layer(&lower, &root).unwrap();
        // The escaping entry is refused (unpack_in skips `..` paths).
        apply_layer(&upper, &root).unwrap();
        assert!(!root.join("etc/passwd").exists());
        assert_eq!(fs::read(root.join("etc/keep")).unwrap(), b"k");
        assert!(!root.join("cache/a").exists());
        assert_eq!(fs::read(root.join("cache/b")).unwrap(), b"b");
        assert_eq!(fs::read(root.join("x")).unwrap(), b"now a file");
        assert!(!dir.path().join("escape").exists());
        assert!(!root.join("cache/.wh..wh..opq").exists());
    }
}
