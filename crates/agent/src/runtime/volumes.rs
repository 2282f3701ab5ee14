//! A pod's volumes: what each holds ([`volume_content`], pure), putting that on disk under the pod directory
//! ([`materialize`]), and where each container sees them ([`plan_mounts`]).
//!
//! In a sandbox every volume is bind-mounted at its `mountPath` (see [`super::sandbox`]). Without one (the
//! agent is not root) a mount can only be a symlink inside the pod directory (a relative `mountPath` is
//! taken relative to it, the default working directory there); anything else needs a sandbox and is refused
//! with a clear message rather than silently not mounted.
//!
//! ConfigMap, Secret, downward API and projected volumes are written the way the kubelet's atomic writer does:
//! the files go into a fresh `..<time>` directory, `..data` is switched to it with one rename, and each
//! top-level name is a symlink through `..data`, so a reader never sees half an update.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use runlet_codec::k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath};
use runlet_codec::{Container, Pod, Volume};

use super::env::{NodeFacts, expand_value, field_value};
use super::resources::resource_value;
use super::sandbox::BindMount;
use super::sources::{Kind, Sources};
use super::state::PodPaths;

/// What one container's mounts need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPlan {
    /// Without a sandbox: `(link, target)` symlinks to create.
    pub links: Vec<(PathBuf, PathBuf)>,
    /// In a sandbox: bind mounts.
    pub binds: Vec<BindMount>,
}

/// A mount that makes the container unrunnable (reported as `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("volumeMount {0:?}: no volume of that name in the pod")]
    NoSuchVolume(String),
    #[error("hostPath volume {0:?} is not allowed: the agent runs without allowing hostPath volumes")]
    HostPathNotAllowed(String),
    #[error("volumeMount {name:?}: invalid subPath {sub_path:?} (it must be a relative path that does not use '..')")]
    BadSubPath { name: String, sub_path: String },
    #[error(
        "volumeMount {name:?} at {mount_path:?} needs a pod sandbox, which this node cannot provide ({why}); only \
         relative mount paths (inside the pod directory) work here"
    )]
    NeedsSandbox { name: String, mount_path: String, why: String },
    #[error("volume {name:?}: {kind} volumes are not supported by the runlet process runtime")]
    Unsupported { name: String, kind: &'static str },
}

/// Whether a volume's files come from the API (ConfigMap, Secret, downward API, projected) and follow it.
pub fn is_projected(v: &Volume) -> bool {
    v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some()
}

fn find_volume<'a>(pod: &'a Pod, name: &str) -> Option<&'a Volume> {
    pod.spec.as_ref()?.volumes.as_ref()?.iter().find(|v| v.name == name)
}

/// The kind of a volume source runlet does not provide, if it is one.
fn unsupported_kind(v: &Volume) -> Option<&'static str> {
    let supported = v.empty_dir.is_some()
        || v.host_path.is_some()
        || v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some();
    if supported {
        return None;
    }
    Some(if v.persistent_volume_claim.is_some() {
        "persistentVolumeClaim"
    } else if v.nfs.is_some() {
        "nfs"
    } else if v.ephemeral.is_some() {
        "ephemeral"
    } else if v.csi.is_some() {
        "csi"
    } else if v.image.is_some() {
        "image"
    } else {
        "this type of"
    })
}

/// Where a volume's files are on the host.
fn volume_source(volume: &Volume, paths: &PodPaths, allow_host_path: bool) -> Result<PathBuf, MountError> {
    if let Some(kind) = unsupported_kind(volume) {
        return Err(MountError::Unsupported { name: volume.name.clone(), kind });
    }
    match &volume.host_path {
        Some(_) if !allow_host_path => Err(MountError::HostPathNotAllowed(volume.name.clone())),
        Some(host) => Ok(PathBuf::from(&host.path)),
        None => Ok(paths.volume(&volume.name)),
    }
}

/// A relative path without `..`, or None.
fn clean_relative(p: &str) -> Option<&str> {
    let ok = !p.is_empty() && Path::new(p).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    ok.then_some(p)
}

/// Plans `container`'s `volumeMounts`: bind mounts in a sandbox (`sandbox_missing` None), symlinks otherwise.
/// `vars` are the container's variables, for `subPathExpr`.
pub fn plan_mounts(
    pod: &Pod,
    container: &Container,
    paths: &PodPaths,
    allow_host_path: bool,
    sandbox_missing: Option<&str>,
    vars: &[(String, String)],
) -> Result<MountPlan, MountError> {
    let mut plan = MountPlan::default();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = find_volume(pod, &mount.name).ok_or_else(|| MountError::NoSuchVolume(mount.name.clone()))?;
        let source = volume_source(volume, paths, allow_host_path)?;
        let sub_path = match (mount.sub_path.as_deref(), mount.sub_path_expr.as_deref()) {
            (Some(s), _) if !s.is_empty() => Some(s.to_string()),
            (_, Some(expr)) if !expr.is_empty() => Some(expand_value(expr, vars)),
            _ => None,
        };
        if let Some(sub) = &sub_path
            && clean_relative(sub).is_none()
        {
            return Err(MountError::BadSubPath { name: mount.name.clone(), sub_path: sub.clone() });
        }
        let read_only = mount.read_only == Some(true);
        match sandbox_missing {
            None => {
                let target = if mount.mount_path.starts_with('/') {
                    mount.mount_path.clone()
                } else {
                    format!("/{}", mount.mount_path)
                };
                plan.binds.push(BindMount { source, sub_path, target, read_only, name: mount.name.clone() });
            }
            Some(why) => {
                let mount_path = Path::new(&mount.mount_path);
                let link = if mount_path.is_absolute() { mount_path.to_path_buf() } else { paths.dir.join(mount_path) };
                let inside = link.starts_with(&paths.dir)
                    && link != paths.dir
                    && !link.components().any(|c| matches!(c, Component::ParentDir));
                if !inside {
                    return Err(MountError::NeedsSandbox {
                        name: mount.name.clone(),
                        mount_path: mount.mount_path.clone(),
                        why: why.to_string(),
                    });
                }
                let target = match &sub_path {
                    Some(sub) => source.join(sub),
                    None => source,
                };
                plan.links.push((link, target));
            }
        }
    }
    Ok(plan)
}

/// Creates the planned links (and the targets of subPaths).
pub fn apply_links(plan: &MountPlan) -> io::Result<()> {
    for (link, target) in &plan.links {
        if !target.exists() {
            std::fs::create_dir_all(target)?;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::read_link(link) {
            Ok(existing) if existing == *target => continue,
            Ok(_) => std::fs::remove_file(link)?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(target, link)?;
    }
    Ok(())
}

/// One file of a projected-style volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    /// Relative path inside the volume.
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What a volume holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeContent {
    /// `emptyDir`; `memory` for `medium: Memory` (a tmpfs of `size_limit` bytes).
    EmptyDir { memory: bool, size_limit: Option<u64> },
    /// ConfigMap, Secret, downward API and projected volumes; `secret` ones live on tmpfs where possible.
    Files { files: Vec<VolumeFile>, secret: bool },
    /// `hostPath` with its `type` check.
    Host { path: PathBuf, type_: String },
}

const DEFAULT_MODE: u32 = 0o644;

fn mode_of(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).map_or(default, |m| m & 0o7777)
}

/// The kubelet's message for an item naming a key the object does not have.
fn missing_key(kind: Kind, key: &str) -> String {
    match kind {
        Kind::ConfigMap => format!("configmap references non-existent config key: {key}"),
        Kind::Secret => format!("secret references non-existent secret key: {key}"),
    }
}

/// The files of a ConfigMap or Secret source: all keys, or `items` (a missing key is an error unless optional).
fn object_files(
    sources: &Sources,
    kind: Kind,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: bool,
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    let data = match sources.data(kind, name) {
        Ok(d) => d,
        Err(_) if optional => return Ok(Vec::new()),
        Err(message) => return Err(message),
    };
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(data.into_iter().map(|(path, data)| VolumeFile { path, data, mode: default_mode }).collect());
    };
    let mut files = Vec::new();
    for item in items {
        match data.get(&item.key) {
            Some(value) => files.push(VolumeFile {
                path: item.path.clone(),
                data: value.clone(),
                mode: mode_of(item.mode, default_mode),
            }),
            None if optional => {}
            None => return Err(missing_key(kind, &item.key)),
        }
    }
    Ok(files)
}

fn downward_files(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    node: &NodeFacts,
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    let mut files = Vec::new();
    for item in items {
        let value = match (&item.field_ref, &item.resource_field_ref) {
            (Some(f), _) => field_value(pod, &f.field_path, node).map_err(|e| e.to_string())?,
            (None, Some(r)) => resource_value(pod, None, r, &node.allocatable)?,
            (None, None) => String::new(),
        };
        files.push(VolumeFile {
            path: item.path.clone(),
            data: value.into_bytes(),
            mode: mode_of(item.mode, default_mode),
        });
    }
    Ok(files)
}

/// What `volume` holds for `pod`, given the ConfigMaps and Secrets read from the API.
pub fn volume_content(
    pod: &Pod,
    volume: &Volume,
    sources: &Sources,
    node: &NodeFacts,
) -> Result<VolumeContent, String> {
    if let Some(e) = &volume.empty_dir {
        let size_limit = e
            .size_limit
            .as_ref()
            .and_then(|q| runlet_api::quantity::parse_quantity(&q.0).ok())
            .and_then(|q| u64::try_from(q.value()).ok());
        return Ok(VolumeContent::EmptyDir { memory: e.medium.as_deref() == Some("Memory"), size_limit });
    }
    if let Some(h) = &volume.host_path {
        return Ok(VolumeContent::Host { path: PathBuf::from(&h.path), type_: h.type_.clone().unwrap_or_default() });
    }
    if let Some(cm) = &volume.config_map {
        let mode = mode_of(cm.default_mode, DEFAULT_MODE);
        let files =
            object_files(sources, Kind::ConfigMap, &cm.name, cm.items.as_deref(), cm.optional == Some(true), mode)?;
        return Ok(VolumeContent::Files { files, secret: false });
    }
    if let Some(s) = &volume.secret {
        let mode = mode_of(s.default_mode, DEFAULT_MODE);
        let name = s.secret_name.clone().unwrap_or_default();
        let files = object_files(sources, Kind::Secret, &name, s.items.as_deref(), s.optional == Some(true), mode)?;
        return Ok(VolumeContent::Files { files, secret: true });
    }
    if let Some(d) = &volume.downward_api {
        let mode = mode_of(d.default_mode, DEFAULT_MODE);
        let files = downward_files(pod, d.items.as_deref().unwrap_or_default(), node, mode)?;
        return Ok(VolumeContent::Files { files, secret: false });
    }
    if let Some(p) = &volume.projected {
        let mode = mode_of(p.default_mode, DEFAULT_MODE);
        let mut files = Vec::new();
        let mut secret = false;
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let optional = cm.optional == Some(true);
                files.extend(object_files(sources, Kind::ConfigMap, &cm.name, cm.items.as_deref(), optional, mode)?);
            } else if let Some(s) = &source.secret {
                secret = true;
                let optional = s.optional == Some(true);
                files.extend(object_files(sources, Kind::Secret, &s.name, s.items.as_deref(), optional, mode)?);
            } else if let Some(d) = &source.downward_api {
                files.extend(downward_files(pod, d.items.as_deref().unwrap_or_default(), node, mode)?);
            } else {
                return Err(format!(
                    "volume {:?}: only configMap, secret and downwardAPI projections are supported by the runlet \
                     process runtime",
                    volume.name
                ));
            }
        }
        return Ok(VolumeContent::Files { files, secret });
    }
    Err(format!(
        "volume {:?}: {} volumes are not supported by the runlet process runtime",
        volume.name,
        unsupported_kind(volume).unwrap_or("this type of")
    ))
}

/// How the agent may set up volumes on this node.
#[derive(Debug, Clone, Copy)]
pub struct Privileges {
    /// tmpfs mounts (Memory emptyDirs, secrets kept off the disk).
    pub can_mount: bool,
    /// `securityContext.fsGroup`: the group that owns the pod's volumes.
    pub fs_group: Option<u32>,
}

/// Puts `content` into the volume directory `dir` (idempotent: called before every container start, so
/// ConfigMap and Secret volumes show their latest data).
pub fn materialize(dir: &Path, content: &VolumeContent, privileges: Privileges) -> Result<(), String> {
    let err = |what: &str, e: io::Error| format!("{what} {}: {e}", dir.display());
    match content {
        VolumeContent::EmptyDir { memory, size_limit } => {
            std::fs::create_dir_all(dir).map_err(|e| err("creating", e))?;
            if *memory {
                if !privileges.can_mount {
                    return Err("emptyDir with medium Memory needs a tmpfs mount, which needs root".to_string());
                }
                let options = match size_limit {
                    Some(bytes) => format!("mode=0777,size={bytes}"),
                    None => "mode=0777".to_string(),
                };
                mount_tmpfs(dir, &options).map_err(|e| err("mounting tmpfs at", e))?;
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| err("chmod", e))?;
            set_group(dir, privileges.fs_group, true).map_err(|e| err("chown", e))?;
        }
        VolumeContent::Files { files, secret } => {
            std::fs::create_dir_all(dir).map_err(|e| err("creating", e))?;
            if *secret && privileges.can_mount {
                mount_tmpfs(dir, "mode=0755,size=16m").map_err(|e| err("mounting tmpfs at", e))?;
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| err("chmod", e))?;
            write_atomic(dir, files, privileges.fs_group).map_err(|e| err("writing", e))?;
        }
        VolumeContent::Host { path, type_ } => check_host_path(path, type_)?,
    }
    Ok(())
}

fn mount_tmpfs(dir: &Path, options: &str) -> io::Result<()> {
    if is_mount_point(dir) {
        return Ok(());
    }
    use nix::mount::{MsFlags, mount};
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some(options)).map_err(io::Error::from)
}

fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) {
        (Ok(d), Some(Ok(p))) => d.dev() != p.dev(),
        _ => false,
    }
}

/// Group ownership for `fsGroup` (and the setgid bit on directories, so new files inherit the group).
fn set_group(path: &Path, group: Option<u32>, dir: bool) -> io::Result<()> {
    let Some(gid) = group else { return Ok(()) };
    std::os::unix::fs::lchown(path, None, Some(gid))?;
    if dir {
        let mode = std::fs::metadata(path)?.permissions().mode();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o2070))?;
    }
    Ok(())
}

/// Whether the version `..data` points to holds exactly `files` (same paths, contents and modes), so a
/// refresh can leave it alone, as the kubelet's atomic writer does when the payload did not change.
fn unchanged(dir: &Path, files: &[VolumeFile], fs_group: Option<u32>) -> bool {
    let current = dir.join("..data");
    let mut want: BTreeMap<PathBuf, (&[u8], u32)> = BTreeMap::new();
    for f in files {
        let mode = if fs_group.is_some() { f.mode | 0o440 } else { f.mode };
        want.insert(PathBuf::from(&f.path), (&f.data, mode & 0o7777));
    }
    let mut found = 0;
    let mut pending = vec![current.clone()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { return false };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { return false };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let Some((data, mode)) = path.strip_prefix(&current).ok().and_then(|rel| want.get(rel)) else {
                return false;
            };
            if meta.permissions().mode() & 0o7777 != *mode || std::fs::read(&path).ok().as_deref() != Some(*data) {
                return false;
            }
            found += 1;
        }
    }
    found == want.len()
}

/// The kubelet's atomic writer, in short.
fn write_atomic(dir: &Path, files: &[VolumeFile], fs_group: Option<u32>) -> io::Result<()> {
    for f in files {
        if clean_relative(&f.path).is_none() || f.path.starts_with("..") {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid item path {:?}", f.path)));
        }
    }
    if unchanged(dir, files, fs_group) {
        return Ok(());
    }
    let stamp = jiff::Timestamp::now().strftime("..%Y_%m_%d_%H_%M_%S.%f").to_string();
    let version = dir.join(&stamp);
    std::fs::create_dir(&version)?;
    set_group(&version, fs_group, true)?;
    for f in files {
        let path = version.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.data)?;
        // With fsGroup the group may read everything, as the kubelet's volume ownership does.
        let mode = if fs_group.is_some() { f.mode | 0o440 } else { f.mode };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        set_group(&path, fs_group, false)?;
    }
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&stamp, &tmp_link)?;
    std::fs::rename(&tmp_link, dir.join("..data"))?;
    let top: BTreeMap<String, ()> = files
        .iter()
        .filter_map(|f| Path::new(&f.path).components().next())
        .filter_map(|c| c.as_os_str().to_str().map(|s| (s.to_string(), ())))
        .collect();
    for name in top.keys() {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link)?;
        }
    }
    // Old versions and names no longer in the volume go.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_version = name.starts_with("..") && name != "..data" && name != stamp;
        let stale_link = !name.starts_with("..") && !top.contains_key(&name);
        if stale_version {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if stale_link && entry.file_type().is_ok_and(|t| t.is_symlink()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    super::state::sync_dir(dir)
}

/// The kubelet's `hostPath` type checks.
fn check_host_path(path: &Path, type_: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let meta = std::fs::metadata(path);
    let failed = |what: &str| Err(format!("hostPath type check failed: {shown} is not {what}"));
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(|e| format!("creating {shown}: {e}"))?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
            }
            Ok(())
        }
        "FileOrCreate" => {
            if meta.is_err() {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("creating {shown}: {e}"))?;
            }
            Ok(())
        }
        "Directory" if meta.as_ref().is_ok_and(|m| m.is_dir()) => Ok(()),
        "Directory" => failed("a directory"),
        "File" if meta.as_ref().is_ok_and(|m| m.is_file()) => Ok(()),
        "File" => failed("a file"),
        "Socket" if meta.as_ref().is_ok_and(|m| m.file_type().is_socket()) => Ok(()),
        "Socket" => failed("a socket file"),
        "CharDevice" if meta.as_ref().is_ok_and(|m| m.file_type().is_char_device()) => Ok(()),
        "CharDevice" => failed("a character device"),
        "BlockDevice" if meta.as_ref().is_ok_and(|m| m.file_type().is_block_device()) => Ok(()),
        "BlockDevice" => failed("a block device"),
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// Unmounts every mount below `dir` (tmpfs volumes), deepest first, before the directory is removed.
pub fn unmount_below(dir: &Path) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> =
        text.lines().filter_map(|l| l.split(' ').nth(4)).map(PathBuf::from).filter(|p| p.starts_with(dir)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::k8s_openapi::ByteString;
    use runlet_codec::k8s_openapi::api::core::v1::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, SecretVolumeSource, VolumeMount,
    };
    use runlet_codec::{ConfigMap, PodSpec, Secret};

    fn pod() -> Pod {
        let volume = |name: &str| Volume { name: name.into(), ..Default::default() };
        Pod {
            spec: Some(PodSpec {
                volumes: Some(vec![
                    Volume { empty_dir: Some(EmptyDirVolumeSource::default()), ..volume("cache") },
                    Volume {
                        host_path: Some(HostPathVolumeSource { path: "/srv/data".into(), type_: None }),
                        ..volume("host")
                    },
                    Volume {
                        secret: Some(SecretVolumeSource { secret_name: Some("creds".into()), ..Default::default() }),
                        ..volume("creds")
                    },
                    Volume { persistent_volume_claim: Some(Default::default()), ..volume("claim") },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn container(mounts: &[(&str, &str, Option<&str>)]) -> Container {
        Container {
            name: "c".into(),
            volume_mounts: Some(
                mounts
                    .iter()
                    .map(|(name, path, sub)| VolumeMount {
                        name: name.to_string(),
                        mount_path: path.to_string(),
                        sub_path: sub.map(str::to_string),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn sandboxed_mounts_bind_at_their_paths() {
        let paths = PodPaths::new(Path::new("/r"), "u");
        let mut c = container(&[("cache", "/data", None), ("creds", "/etc/creds", None), ("host", "/srv", None)]);
        c.volume_mounts.as_mut().unwrap()[1].read_only = Some(true);
        c.volume_mounts.as_mut().unwrap()[0].sub_path_expr = Some("$(POD)/work".into());
        let vars = vec![("POD".to_string(), "p1".to_string())];
        let plan = plan_mounts(&pod(), &c, &paths, true, None, &vars).unwrap();
        let got: Vec<(&str, Option<&str>, &str, bool)> = plan
            .binds
            .iter()
            .map(|b| (b.source.to_str().unwrap(), b.sub_path.as_deref(), b.target.as_str(), b.read_only))
            .collect();
        assert_eq!(
            got,
            [
                ("/r/pods/u/volumes/cache", Some("p1/work"), "/data", false),
                ("/r/pods/u/volumes/creds", None, "/etc/creds", true),
                ("/srv/data", None, "/srv", false),
            ]
        );
    }

    #[test]
    fn mount_errors() {
        let paths = PodPaths::new(Path::new("/r"), "u");
        let cases = [
            (("host", "/data", None), None, MountError::HostPathNotAllowed("host".into())),
            (("nope", "/data", None), None, MountError::NoSuchVolume("nope".into())),
            (
                ("cache", "/data", Some("../x")),
                None,
                MountError::BadSubPath { name: "cache".into(), sub_path: "../x".into() },
            ),
            (
                ("claim", "/data", None),
                None,
                MountError::Unsupported { name: "claim".into(), kind: "persistentVolumeClaim" },
            ),
            (
                ("cache", "/data", None),
                Some("not root"),
                MountError::NeedsSandbox { name: "cache".into(), mount_path: "/data".into(), why: "not root".into() },
            ),
        ];
        for (mount, missing, want) in cases {
            assert_eq!(plan_mounts(&pod(), &container(&[mount]), &paths, false, missing, &[]), Err(want));
        }
        // Without a sandbox, relative paths are links inside the pod directory.
        let plan = plan_mounts(&pod(), &container(&[("cache", "work", Some("a"))]), &paths, false, Some("x"), &[]);
        assert_eq!(
            plan.unwrap().links,
            [(PathBuf::from("/r/pods/u/work"), PathBuf::from("/r/pods/u/volumes/cache/a"))]
        );
    }

    fn sources() -> Sources {
        let cm = ConfigMap { data: Some([("a.conf".to_string(), "x=1".to_string())].into()), ..Default::default() };
        let s =
            Secret { data: Some([("pw".to_string(), ByteString(b"hunter2".to_vec()))].into()), ..Default::default() };
        Sources {
            namespace: "ns".into(),
            config_maps: [("settings".to_string(), Some(cm))].into(),
            secrets: [("creds".to_string(), Some(s))].into(),
        }
    }

    fn node() -> NodeFacts {
        NodeFacts::example("n", "127.0.0.1")
    }

    #[test]
    fn contents_follow_items_modes_and_optional() {
        let cm = |items: Option<Vec<KeyToPath>>, optional, name: &str| Volume {
            name: "v".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.into(),
                items,
                optional: Some(optional),
                default_mode: Some(0o600),
            }),
            ..Default::default()
        };
        let item = |key: &str, path: &str, mode| KeyToPath { key: key.into(), path: path.into(), mode };
        let files = |c: VolumeContent| match c {
            VolumeContent::Files { files, .. } => files.into_iter().map(|f| (f.path, f.mode)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let p = pod();
        let all = volume_content(&p, &cm(None, false, "settings"), &sources(), &node()).unwrap();
        assert_eq!(files(all), [("a.conf".to_string(), 0o600)]);
        let picked = volume_content(
            &p,
            &cm(Some(vec![item("a.conf", "conf/app", Some(0o400))]), false, "settings"),
            &sources(),
            &node(),
        );
        assert_eq!(files(picked.unwrap()), [("conf/app".to_string(), 0o400)]);
        let missing_key =
            volume_content(&p, &cm(Some(vec![item("nope", "x", None)]), false, "settings"), &sources(), &node());
        assert_eq!(missing_key.unwrap_err(), "configmap references non-existent config key: nope");
        assert_eq!(
            volume_content(&p, &cm(None, false, "absent"), &sources(), &node()).unwrap_err(),
            "configmap \"absent\" not found"
        );
        assert_eq!(files(volume_content(&p, &cm(None, true, "absent"), &sources(), &node()).unwrap()), []);
    }

    #[test]
    fn atomic_writes_replace_the_whole_volume() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("v");
        let privileges = Privileges { can_mount: false, fs_group: None };
        let content = |files: &[(&str, &str)]| VolumeContent::Files {
            files: files
                .iter()
                .map(|(p, d)| VolumeFile { path: p.to_string(), data: d.as_bytes().to_vec(), mode: 0o640 })
                .collect(),
            secret: false,
        };
        materialize(&v, &content(&[("a", "1"), ("sub/b", "2")]), privileges).unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(v.join("sub/b")).unwrap(), "2");
        assert_eq!(std::fs::metadata(v.join("a")).unwrap().permissions().mode() & 0o777, 0o640);
        assert!(std::fs::symlink_metadata(v.join("a")).unwrap().file_type().is_symlink());
        // The same content again leaves the version alone.
        let version = std::fs::read_link(v.join("..data")).unwrap();
        materialize(&v, &content(&[("a", "1"), ("sub/b", "2")]), privileges).unwrap();
        assert_eq!(std::fs::read_link(v.join("..data")).unwrap(), version);
        materialize(&v, &content(&[("a", "3")]), privileges).unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "3");
        assert_ne!(std::fs::read_link(v.join("..data")).unwrap(), version);
        assert!(!v.join("sub").exists());
        let versions = std::fs::read_dir(&v).unwrap().filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.starts_with("..") && n != "..data"
        });
        assert_eq!(versions.count(), 1);
    }

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("made");
        check_host_path(&d, "DirectoryOrCreate").unwrap();
        assert!(d.is_dir());
        check_host_path(&d, "Directory").unwrap();
        assert_eq!(
            check_host_path(&d, "File").unwrap_err(),
            format!("hostPath type check failed: {} is not a file", d.display())
        );
        let f = dir.path().join("f");
        check_host_path(&f, "FileOrCreate").unwrap();
        assert!(f.is_file());
    }
}
