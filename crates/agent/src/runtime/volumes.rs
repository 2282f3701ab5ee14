//! Volumes without mount namespaces. An `emptyDir` is a directory in the pod directory; a `hostPath` (only
//! when the agent allows it) is the host directory itself. A container cannot see either at an arbitrary
//! `mountPath`, because the process shares the host's file system: a mount is made real by a symlink at the
//! mount path only when that path lies inside the pod directory (a relative `mountPath` is taken relative to
//! it, which is also the default working directory). Any other mount path is reported, not faked.

use std::path::{Component, Path, PathBuf};

use runlet_codec::{Container, Pod};

use super::state::PodPaths;

/// What one container's mounts need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPlan {
    /// `(link, target)`: create a symlink at `link` pointing to `target`.
    pub links: Vec<(PathBuf, PathBuf)>,
    /// Mounts that are skipped, each with a message for a `FailedMount` warning event.
    pub skipped: Vec<String>,
}

/// A mount that makes the container unrunnable (reported as `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("volumeMount {0:?}: no volume of that name in the pod")]
    NoSuchVolume(String),
    #[error("hostPath volume {0:?} is not allowed: the agent runs without allowing hostPath volumes")]
    HostPathNotAllowed(String),
    #[error("volumeMount {name:?}: invalid subPath {sub_path:?}")]
    BadSubPath { name: String, sub_path: String },
}

/// Where each volume's files are, or `Err(kind)` for volume kinds the process runtime does not provide.
fn volume_target(
    pod: &Pod,
    paths: &PodPaths,
    name: &str,
    allow_host_path: bool,
) -> Result<Result<PathBuf, &'static str>, MountError> {
    let volume = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .and_then(|vs| vs.iter().find(|v| v.name == name))
        .ok_or_else(|| MountError::NoSuchVolume(name.to_string()))?;
    if volume.empty_dir.is_some() {
        return Ok(Ok(paths.volume(name)));
    }
    if let Some(host) = &volume.host_path {
        if !allow_host_path {
            return Err(MountError::HostPathNotAllowed(name.to_string()));
        }
        return Ok(Ok(PathBuf::from(&host.path)));
    }
    let kind = if volume.config_map.is_some() {
        "configMap"
    } else if volume.secret.is_some() {
        "secret"
    } else if volume.projected.is_some() {
        "projected"
    } else if volume.downward_api.is_some() {
        "downwardAPI"
    } else if volume.persistent_volume_claim.is_some() {
        "persistentVolumeClaim"
    } else {
        "this volume type"
    };
    Ok(Err(kind))
}

/// Plans the symlinks for `container`'s `volumeMounts`.
pub fn plan_mounts(
    pod: &Pod,
    container: &Container,
    paths: &PodPaths,
    allow_host_path: bool,
) -> Result<MountPlan, MountError> {
    let mut plan = MountPlan::default();
    for mount in container.volume_mounts.iter().flatten() {
        let target = match volume_target(pod, paths, &mount.name, allow_host_path)? {
            Ok(target) => target,
            Err(kind) => {
                plan.skipped.push(format!(
                    "volume {:?} ({kind}) is not supported by the runlet process runtime; nothing is mounted at {:?}",
                    mount.name, mount.mount_path
                ));
                continue;
            }
        };
        let target = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => target,
            Some(sub) if Path::new(sub).components().all(|c| matches!(c, Component::Normal(_))) => target.join(sub),
            Some(sub) => {
                return Err(MountError::BadSubPath { name: mount.name.clone(), sub_path: sub.to_string() });
            }
        };
        let mount_path = Path::new(&mount.mount_path);
        let link = if mount_path.is_absolute() { mount_path.to_path_buf() } else { paths.dir.join(mount_path) };
        let inside = link.starts_with(&paths.dir)
            && link != paths.dir
            && !link.components().any(|c| matches!(c, Component::ParentDir));
        if inside {
            plan.links.push((link, target));
        } else {
            plan.skipped.push(format!(
                "volumeMount {:?} at {:?} is not supported by the runlet process runtime (no mount namespaces): \
                 only mount paths inside the pod directory {:?} can be provided; the volume's files are at {:?}",
                mount.name,
                mount.mount_path,
                paths.dir.display().to_string(),
                target.display().to_string()
            ));
        }
    }
    Ok(plan)
}

/// Creates the planned links (and the targets of emptyDir-style subPaths).
pub fn apply_links(plan: &MountPlan) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::k8s_openapi::api::core::v1::{
        EmptyDirVolumeSource, HostPathVolumeSource, SecretVolumeSource, VolumeMount,
    };
    use runlet_codec::{PodSpec, Volume};

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
                    Volume { secret: Some(SecretVolumeSource::default()), ..volume("creds") },
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
    fn mounts_table() {
        let paths = PodPaths::new(Path::new("/r"), "u");
        type Mounts<'a> = Vec<(&'a str, &'a str, Option<&'a str>)>;
        type Links<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(Mounts, bool, Links, usize)> = vec![
            (vec![("cache", "work/cache", None)], false, vec![("/r/pods/u/work/cache", "/r/pods/u/volumes/cache")], 0),
            (
                vec![("cache", "/r/pods/u/data", Some("a/b"))],
                false,
                vec![("/r/pods/u/data", "/r/pods/u/volumes/cache/a/b")],
                0,
            ),
            (vec![("cache", "/cache", None)], false, vec![], 1),
            (vec![("cache", "../escape", None)], false, vec![], 1),
            (vec![("creds", "creds", None)], false, vec![], 1),
            (vec![("host", "data", None)], true, vec![("/r/pods/u/data", "/srv/data")], 0),
        ];
        for (mounts, allow, links, skipped) in cases {
            let plan = plan_mounts(&pod(), &container(&mounts), &paths, allow).unwrap();
            let want: Vec<(PathBuf, PathBuf)> =
                links.iter().map(|(l, t)| (PathBuf::from(l), PathBuf::from(t))).collect();
            assert_eq!(plan.links, want, "mounts {mounts:?}");
            assert_eq!(plan.skipped.len(), skipped, "mounts {mounts:?}: {:?}", plan.skipped);
        }
    }

    #[test]
    fn mount_errors() {
        let paths = PodPaths::new(Path::new("/r"), "u");
        let cases = [
            (("host", "data", None), MountError::HostPathNotAllowed("host".into())),
            (("nope", "data", None), MountError::NoSuchVolume("nope".into())),
            (("cache", "data", Some("../x")), MountError::BadSubPath { name: "cache".into(), sub_path: "../x".into() }),
        ];
        for (mount, want) in cases {
            assert_eq!(plan_mounts(&pod(), &container(&[mount]), &paths, false), Err(want));
        }
    }

    #[test]
    fn links_are_created_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let plan =
            MountPlan { links: vec![(dir.path().join("w/cache"), dir.path().join("volumes/cache"))], skipped: vec![] };
        apply_links(&plan).unwrap();
        apply_links(&plan).unwrap();
        std::fs::write(dir.path().join("w/cache/f"), "x").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("volumes/cache/f")).unwrap(), "x");
    }
}
