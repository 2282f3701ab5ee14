//! The image store of a node: content-addressed blobs (`blobs/sha256/<hex>`, written only after their digest
//! checked out), the image records (`images.json`), and each image's layers unpacked once into a root file
//! system (`rootfs/<id>`) that containers use as the lower layer of their overlay.
//!
//! One lock file serialises writers across processes (the agent and `runlet image`).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::digest::{Digest, HashingWriter};
use crate::reference::Reference;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("content does not match its digest: want {want}, got {got}")]
    DigestMismatch { want: String, got: String },
    #[error("image config {0} is not valid JSON: {1}")]
    BadConfig(String, serde_json::Error),
    #[error("the image store's index is damaged: {0}")]
    BadIndex(serde_json::Error),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image {0} is in use by a container")]
    InUse(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// One image: its id is the digest of its configuration, as Docker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// Normalised references it is known by: `docker.io/library/busybox:latest`, `...@sha256:...`.
    pub names: Vec<String>,
    /// Layer blob digests, lowest first.
    pub layers: Vec<String>,
    /// Bytes of its blobs.
    pub size: u64,
    /// Seconds since the epoch of its last use (pull or container start): what garbage collection orders by.
    pub last_used: u64,
}

impl ImageRecord {
    /// Whether `name` (a reference as written by a user, or an id or its prefix) designates this image.
    pub fn matches(&self, name: &str) -> bool {
        if let Ok(r) = Reference::parse(name) {
            let full = r.to_string();
            if self.names.contains(&full) {
                return true;
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        hex.len() >= 12 && self.id.strip_prefix("sha256:").is_some_and(|id| id.starts_with(hex))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: Vec<ImageRecord>,
}

/// The store under one directory (the node's `images/`).
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

/// An exclusive hold on the store's lock file.
struct Locked(fs::File);

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: the descriptor is open for as long as self.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl ImageStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore, StoreError> {
        let root = root.into();
        for dir in [root.join("blobs/sha256"), root.join("rootfs"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        Ok(ImageStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> Result<Locked, StoreError> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        // SAFETY: a valid descriptor; flock blocks until the lock is ours.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err("locking the image store")(io::Error::last_os_error()));
        }
        Ok(Locked(file))
    }

    /// A fresh temporary directory inside the store (same file system, so renames into place are atomic).
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err("making a temporary directory"))
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores what `reader` yields as a blob; when `want` is given the content must have that digest.
    pub fn put_blob(&self, reader: &mut dyn Read, want: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(io_err("creating a blob"))?;
        let mut writer = HashingWriter::new(io::BufWriter::new(tmp));
        io::copy(reader, &mut writer).map_err(io_err("writing a blob"))?;
        let (buffered, got, size) = writer.finish();
        let tmp = buffered.into_inner().map_err(|e| io_err("writing a blob")(e.into_error()))?;
        if let Some(want) = want
            && *want != got
        {
            return Err(StoreError::DigestMismatch { want: want.to_string(), got: got.to_string() });
        }
        tmp.as_file().sync_all().map_err(io_err("syncing a blob"))?;
        tmp.persist(self.blob_path(&got)).map_err(|e| io_err("storing a blob")(e.error))?;
        Ok((got, size))
    }

    /// Checks a stored blob against its digest (a blob found on disk is trusted only once it is verified).
    pub fn verify_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        let mut file = fs::File::open(&path).map_err(io_err(format!("opening blob {digest}")))?;
        let mut writer = HashingWriter::new(io::sink());
        io::copy(&mut file, &mut writer).map_err(io_err(format!("reading blob {digest}")))?;
        let (_, got, _) = writer.finish();
        if got != *digest {
            let _ = fs::remove_file(&path);
            return Err(StoreError::DigestMismatch { want: digest.to_string(), got: got.to_string() });
        }
        Ok(())
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        fs::read(self.blob_path(digest)).map_err(io_err(format!("reading blob {digest}")))
    }

    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig, StoreError> {
        let digest = Digest::parse(&image.id).map_err(|e| StoreError::NotFound(e.0))?;
        let bytes = self.read_blob(&digest)?;
        ImageConfig::parse(&bytes).map_err(|e| StoreError::BadConfig(image.id.clone(), e))
    }

    fn read_index(&self) -> Result<Index, StoreError> {
        match fs::read(self.root.join("images.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(StoreError::BadIndex),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_err("reading the image index")(e)),
        }
    }

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(index).map_err(StoreError::BadIndex)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root).map_err(io_err("writing the image index"))?;
        tmp.write_all(&bytes).map_err(io_err("writing the image index"))?;
        tmp.as_file().sync_all().map_err(io_err("writing the image index"))?;
        tmp.persist(self.root.join("images.json")).map_err(|e| io_err("writing the image index")(e.error))?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(self.read_index()?.images)
    }

    /// The image `name` designates (a reference, or an id or id prefix).
    pub fn find(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self.list()?.into_iter().find(|i| i.matches(name)))
    }

    /// Records an image whose blobs are stored. Its names move to it from any other image (a tag that now
    /// points elsewhere); an image left without names stays, untagged, until removed or collected.
    pub fn add(&self, mut image: ImageRecord) -> Result<ImageRecord, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        for other in index.images.iter_mut().filter(|i| i.id != image.id) {
            other.names.retain(|n| !image.names.contains(n));
        }
        if let Some(existing) = index.images.iter_mut().find(|i| i.id == image.id) {
            for n in &existing.names {
                if !image.names.contains(n) {
                    image.names.push(n.clone());
                }
            }
            *existing = image.clone();
        } else {
            index.images.push(image.clone());
        }
        self.write_index(&index)?;
        Ok(image)
    }

    /// Marks an image used now.
    pub fn touch(&self, id: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        if let Some(i) = index.images.iter_mut().find(|i| i.id == id) {
            i.last_used = now_secs();
            self.write_index(&index)?;
        }
        Ok(())
    }

    /// The image's root file system, unpacked from its layers the first time it is asked for.
    pub fn rootfs(&self, image: &ImageRecord) -> Result<PathBuf, StoreError> {
        let hex = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
        let dir = self.root.join("rootfs").join(hex);
        if dir.is_dir() {
            return Ok(dir);
        }
        let _lock = self.lock()?;
        if dir.is_dir() {
            return Ok(dir);
        }
        let work = self.temp_dir()?;
        let staged = work.path().join("rootfs");
        fs::create_dir(&staged).map_err(io_err("creating a root file system"))?;
        for layer in &image.layers {
            let digest = Digest::parse(layer).map_err(|e| StoreError::NotFound(e.0))?;
            crate::unpack::apply_layer(&self.blob_path(&digest), &staged)
                .map_err(io_err(format!("unpacking layer {layer}")))?;
        }
        fs::rename(&staged, &dir).map_err(io_err("placing a root file system"))?;
        Ok(dir)
    }

    /// Removes the image `name` designates: only that name when the image has others (as `docker rmi` of one
    /// tag), else the whole image, unless `in_use` holds its id. Returns the ids deleted.
    pub fn remove(&self, name: &str, in_use: &HashSet<String>) -> Result<Vec<String>, StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let Some(pos) = index.images.iter().position(|i| i.matches(name)) else {
            return Err(StoreError::NotFound(name.to_string()));
        };
        let full = Reference::parse(name).map(|r| r.to_string()).ok();
        let image = &mut index.images[pos];
        let by_one_name = full.as_ref().is_some_and(|f| image.names.contains(f));
        let tag_names = image.names.iter().filter(|n| !n.contains('@')).count();
        if by_one_name && tag_names > 1 {
            image.names.retain(|n| Some(n) != full.as_ref());
            self.write_index(&index)?;
            return Ok(Vec::new());
        }
        if in_use.contains(&image.id) {
            return Err(StoreError::InUse(name.to_string()));
        }
        let removed = index.images.remove(pos);
        self.write_index(&index)?;
        self.delete_unreferenced(&index, &removed)?;
        Ok(vec![removed.id])
    }

    fn delete_unreferenced(&self, index: &Index, removed: &ImageRecord) -> Result<(), StoreError> {
        let kept: HashSet<&str> = index.images.iter().flat_map(|i| i.layers.iter().map(String::as_str)).collect();
        let hex = removed.id.strip_prefix("sha256:").unwrap_or(&removed.id);
        let rootfs = self.root.join("rootfs").join(hex);
        if rootfs.exists() {
            fs::remove_dir_all(&rootfs).map_err(io_err("removing a root file system"))?;
        }
        for blob in removed.layers.iter().chain(std::iter::once(&removed.id)) {
            if kept.contains(blob.as_str()) || index.images.iter().any(|i| i.id == *blob) {
                continue;
            }
            if let Ok(d) = Digest::parse(blob) {
                let _ = fs::remove_file(self.blob_path(&d));
            }
        }
        Ok(())
    }

    /// Bytes of the store's file system in use and its capacity (statvfs).
    pub fn disk_usage(&self) -> Result<(u64, u64), StoreError> {
        let c = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes())
            .map_err(|_| StoreError::NotFound(self.root.display().to_string()))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a zeroed struct to fill.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io_err("statvfs on the image store")(io::Error::last_os_error()));
        }
        let block = st.f_frsize as u64;
        let capacity = st.f_blocks as u64 * block;
        let available = st.f_bavail as u64 * block;
        Ok((capacity.saturating_sub(available), capacity))
    }

    /// Image garbage collection as the kubelet's: when the disk is at least `high_percent` full, unused images go,
    /// least recently used first, until `low_percent` would be reached. Returns the ids deleted.
    pub fn collect_garbage(
        &self,
        high_percent: u8,
        low_percent: u8,
        in_use: &HashSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let (used, capacity) = self.disk_usage()?;
        let images = self.list()?;
        let victims = plan_gc(&images, used, capacity, high_percent, low_percent, in_use);
        let mut deleted = Vec::new();
        for id in victims {
            match self.remove(&id, in_use) {
                Ok(ids) => deleted.extend(ids),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}

/// Which images to delete (kubelet's `realImageGCManager`): nothing below the high threshold; else the least
/// recently used images no container uses, until the bytes freed bring usage to the low threshold.
pub fn plan_gc(
    images: &[ImageRecord],
    used: u64,
    capacity: u64,
    high_percent: u8,
    low_percent: u8,
    in_use: &HashSet<String>,
) -> Vec<String> {
    if capacity == 0 || used * 100 < capacity * u64::from(high_percent) {
        return Vec::new();
    }
    let target = capacity * u64::from(low_percent) / 100;
    let mut to_free = used.saturating_sub(target);
    let mut candidates: Vec<&ImageRecord> = images.iter().filter(|i| !in_use.contains(&i.id)).collect();
    candidates.sort_by_key(|i| (i.last_used, i.id.clone()));
    let mut victims = Vec::new();
    for image in candidates {
        if to_free == 0 {
            break;
        }
        victims.push(image.id.clone());
        to_free = to_free.saturating_sub(image.size);
    }
    victims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, size: u64, last_used: u64) -> ImageRecord {
        ImageRecord { id: id.into(), names: vec![], layers: vec![], size, last_used }
    }

    #[test]
    fn gc_frees_least_recently_used_unused_images() {
        let images = [image("a", 10, 3), image("b", 10, 1), image("c", 10, 2), image("d", 50, 0)];
        let in_use: HashSet<String> = ["d".to_string()].into();
        let cases: &[(u64, &[&str])] = &[
            // Below 85% of 100: nothing.
            (84, &[]),
            // 85 → 80: 5 bytes, the oldest unused image (b).
            (85, &["b"]),
            // 95 → 80: 15 bytes: b, then c.
            (95, &["b", "c"]),
            (100, &["b", "c"]),
        ];
        for (used, want) in cases {
            assert_eq!(plan_gc(&images, *used, 100, 85, 80, &in_use), *want, "used {used}");
        }
        // 100 → 50 with only 30 unused bytes: every unused image, never d.
        assert_eq!(plan_gc(&images, 100, 100, 85, 50, &in_use), ["b", "c", "a"]);
        assert!(plan_gc(&images, 0, 0, 85, 80, &in_use).is_empty());
    }

    #[test]
    fn blobs_are_verified_and_images_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let good = Digest::of(b"hello");
        let bad = Digest::of(b"other");
        assert!(matches!(store.put_blob(&mut &b"hello"[..], Some(&bad)), Err(StoreError::DigestMismatch { .. })));
        assert!(!store.has_blob(&bad));
        assert_eq!(store.put_blob(&mut &b"hello"[..], Some(&good)).unwrap(), (good.clone(), 5));
        store.verify_blob(&good).unwrap();
        fs::write(store.blob_path(&good), b"tampered").unwrap();
        assert!(store.verify_blob(&good).is_err());
        assert!(!store.has_blob(&good), "a damaged blob is dropped");

        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let (id, _) = store.put_blob(&mut &config[..], None).unwrap();
        let one = ImageRecord {
            id: id.to_string(),
            names: vec!["docker.io/library/busybox:latest".into(), "docker.io/library/busybox:1".into()],
            layers: vec![],
            size: 1,
            last_used: 0,
        };
        store.add(one.clone()).unwrap();
        assert!(store.find("busybox").unwrap().is_some());
        assert!(store.find(&id.hex()[..12]).unwrap().is_some());
        assert!(store.find("busybox:2").unwrap().is_none());
        // Removing one of two tags keeps the image.
        assert_eq!(store.remove("busybox:1", &HashSet::new()).unwrap(), Vec::<String>::new());
        assert_eq!(store.list().unwrap()[0].names, ["docker.io/library/busybox:latest"]);
        let in_use: HashSet<String> = [id.to_string()].into();
        assert!(matches!(store.remove("busybox", &in_use), Err(StoreError::InUse(_))));
        assert_eq!(store.remove("busybox", &HashSet::new()).unwrap(), [id.to_string()]);
        assert!(store.list().unwrap().is_empty());
        assert!(!store.has_blob(&id), "the config blob goes with the image");
    }
}
