//! `runlet image import FILE`: images from `docker save` archives and OCI image layouts (a directory or a
//! tar of one, gzip-compressed or not), for machines without registry access. Every blob is verified against
//! its digest where the archive names one.

use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::this_platform;
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, StoreError, now_secs};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("reading {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0} is neither a docker save archive nor an OCI image layout")]
    UnknownFormat(String),
    #[error("{what} is not valid: {source}")]
    BadJson { what: String, source: serde_json::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.display().to_string(), source }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ImportError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| ImportError::BadJson { what: path.display().to_string(), source })
}

/// Imports every image of `file` and returns their records.
pub fn import(store: &ImageStore, file: &Path) -> Result<Vec<ImageRecord>, ImportError> {
    let work = store.temp_dir()?;
    let dir: PathBuf = if file.is_dir() {
        file.to_path_buf()
    } else {
        let target = work.path().join("archive");
        fs::create_dir(&target).map_err(io_err(&target))?;
        extract(file, &target)?;
        target
    };
    if dir.join("index.json").is_file() && dir.join("oci-layout").is_file() {
        import_oci_layout(store, &dir)
    } else if dir.join("manifest.json").is_file() {
        import_docker_save(store, &dir)
    } else {
        Err(ImportError::UnknownFormat(file.display().to_string()))
    }
}

fn extract(file: &Path, target: &Path) -> Result<(), ImportError> {
    let mut f = fs::File::open(file).map_err(io_err(file))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io_err(file))?;
    f.seek(SeekFrom::Start(0)).map_err(io_err(file))?;
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(io_err(file))? {
        let mut entry = entry.map_err(io_err(file))?;
        // Only files and directories matter in these archives; unpack_in keeps everything below `target`.
        let t = entry.header().entry_type();
        if t.is_file() || t.is_dir() || t.is_symlink() {
            entry.unpack_in(target).map_err(io_err(file))?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerSaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A path the archive's manifest names, which must stay inside the archive.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf, ImportError> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(ImportError::Invalid(format!("the archive names a path outside itself: {rel}")));
    }
    Ok(dir.join(p))
}

fn store_file(store: &ImageStore, path: &Path, want: Option<&Digest>) -> Result<(Digest, u64), ImportError> {
    let mut f = BufReader::new(fs::File::open(path).map_err(io_err(path))?);
    Ok(store.put_blob(&mut f, want)?)
}

fn import_docker_save(store: &ImageStore, dir: &Path) -> Result<Vec<ImageRecord>, ImportError> {
    let entries: Vec<DockerSaveEntry> = read_json(&dir.join("manifest.json"))?;
    let mut out = Vec::new();
    for entry in entries {
        let (config, config_size) = store_file(store, &inside(dir, &entry.config)?, None)?;
        let mut size = config_size;
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let (digest, n) = store_file(store, &inside(dir, layer)?, None)?;
            size += n;
            layers.push(digest.to_string());
        }
        let mut names = Vec::new();
        for tag in entry.repo_tags.iter().flatten() {
            let r = Reference::parse(tag).map_err(|e| ImportError::Invalid(format!("{tag}: {e}")))?;
            names.push(r.to_string());
        }
        out.push(store.add(ImageRecord { id: config.to_string(), names, layers, size, last_used: now_secs() })?);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    #[serde(default)]
    media_type: String,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

pub(crate) fn is_index(media_type: &str) -> bool {
    media_type.ends_with("image.index.v1+json") || media_type.ends_with("manifest.list.v2+json")
}

/// Of an index's manifests, the one for this machine (the first when none says its platform).
pub(crate) fn pick_platform(manifests: &[(String, Option<(String, String)>)]) -> Option<usize> {
    let (os, arch) = this_platform();
    manifests
        .iter()
        .position(|(_, p)| p.as_ref().is_some_and(|(o, a)| o == os && a == arch))
        .or_else(|| manifests.iter().position(|(_, p)| p.is_none()))
}

fn layout_blob(dir: &Path, digest: &str) -> Result<(Digest, PathBuf), ImportError> {
    let d = Digest::parse(digest).map_err(|e| ImportError::Invalid(e.to_string()))?;
    let path = dir.join("blobs/sha256").join(d.hex());
    Ok((d, path))
}

fn import_oci_layout(store: &ImageStore, dir: &Path) -> Result<Vec<ImageRecord>, ImportError> {
    let index: IndexDoc = read_json(&dir.join("index.json"))?;
    let mut out = Vec::new();
    for top in &index.manifests {
        let names: Vec<String> = top
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| *k == "io.containerd.image.name" || *k == "org.opencontainers.image.ref.name")
            // A bare tag (`1.0`, `latest`) names no repository: only references with one name an image.
            .filter(|(_, v)| v.contains('/') || v.contains(':'))
            .filter_map(|(_, v)| Reference::parse(v).ok().map(|r| r.to_string()))
            .collect();
        let mut descriptor_digest = top.digest.clone();
        let mut media_type = top.media_type.clone();
        // Follow indexes down to this platform's manifest.
        let manifest = loop {
            let (d, path) = layout_blob(dir, &descriptor_digest)?;
            let (_, _) = store_file(store, &path, Some(&d))?;
            let doc: ManifestDoc = read_json(&path)?;
            let mt = if doc.media_type.is_empty() { media_type.clone() } else { doc.media_type.clone() };
            if is_index(&mt) || (!doc.manifests.is_empty() && doc.config.is_none()) {
                let choices: Vec<(String, Option<(String, String)>)> = doc
                    .manifests
                    .iter()
                    .map(|m| (m.digest.clone(), m.platform.as_ref().map(|p| (p.os.clone(), p.architecture.clone()))))
                    .collect();
                let Some(i) = pick_platform(&choices) else {
                    return Err(ImportError::Invalid(format!("no image for {:?} in {}", this_platform(), d)));
                };
                descriptor_digest = doc.manifests[i].digest.clone();
                media_type = doc.manifests[i].media_type.clone();
                continue;
            }
            break doc;
        };
        let Some(config) = manifest.config else {
            return Err(ImportError::Invalid(format!("manifest {descriptor_digest} has no config")));
        };
        let (config_digest, config_path) = layout_blob(dir, &config.digest)?;
        let (_, mut size) = store_file(store, &config_path, Some(&config_digest))?;
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            let (d, path) = layout_blob(dir, &layer.digest)?;
            let (_, n) = store_file(store, &path, Some(&d))?;
            size += n.max(layer.size);
            layers.push(d.to_string());
        }
        out.push(store.add(ImageRecord {
            id: config_digest.to_string(),
            names,
            layers,
            size,
            last_used: now_secs(),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_this_platform() {
        let (os, arch) = this_platform();
        let choices = vec![
            ("a".to_string(), Some(("linux".to_string(), "s390x".to_string()))),
            ("b".to_string(), Some((os.to_string(), arch.to_string()))),
        ];
        assert_eq!(pick_platform(&choices), Some(1));
        assert_eq!(pick_platform(&choices[..1]), None);
        assert_eq!(pick_platform(&[("c".to_string(), None)]), Some(0));
        assert!(is_index("application/vnd.oci.image.index.v1+json"));
        assert!(is_index("application/vnd.docker.distribution.manifest.list.v2+json"));
        assert!(!is_index("application/vnd.oci.image.manifest.v1+json"));
    }
}
