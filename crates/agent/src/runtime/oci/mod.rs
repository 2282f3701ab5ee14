//! The `oci` runtime handler: a container's `image` is pulled (or found in the node's image store) and its
//! root file system is the lower layer of the container's overlay root, in place of the host's; the image's
//! configuration and the pod spec decide what runs ([`spec`]). Where the node has runc, runc runs the
//! container from an OCI runtime spec built from the same launch ([`runc`]); otherwise runlet's own sandbox init
//! does. Either way logs, exit codes, OOM kills, grace periods and restarts are the shim's, exactly as for the
//! `process` handler.

pub mod gc;
pub mod pull;
pub mod runc;
pub mod spec;

use std::path::{Path, PathBuf};

use super::sandbox::BindMount;

use runlet_image::{ImageRecord, ImageStore, RunConfig};

pub use pull::{ImageService, PullFailure, PullPolicy, Pulled};

/// The handler of the process runtime (the command runs on the host's root, the image is recorded).
pub const HANDLER_PROCESS: &str = runlet_api::runtime_class::HANDLER_PROCESS;
/// The handler that runs images.
pub const HANDLER_OCI: &str = runlet_api::runtime_class::HANDLER_OCI;

/// The files of the host's network an image container sees, as every container of a pod on the host's
/// network does on Kubernetes: `/etc/hosts` and `/etc/resolv.conf`, read-only, unless a volume is mounted there.
const HOST_NETWORK_FILES: &[&str] = &["/etc/hosts", "/etc/resolv.conf"];

/// Adds the bind mounts of [`HOST_NETWORK_FILES`] that exist on this host to an image run's mounts.
pub fn add_host_network_files(mounts: &mut Vec<BindMount>) {
    for file in HOST_NETWORK_FILES {
        if mounts.iter().any(|m| m.target == *file) || !Path::new(file).is_file() {
            continue;
        }
        mounts.insert(
            0,
            BindMount {
                source: PathBuf::from(file),
                sub_path: None,
                target: file.to_string(),
                read_only: true,
                name: file.trim_start_matches("/etc/").to_string(),
            },
        );
    }
}

/// A container status's `imageID`, as the kubelet reports it: `docker-pullable://<repository>@sha256:<manifest>`
/// for an image known by its repository digest (pulled), else `docker://sha256:<image id>` (an image imported
/// from an archive, which carries no manifest digest). Pure.
pub fn status_image_id(image: &ImageRecord) -> String {
    match image.names.iter().find(|n| n.contains("@sha256:")) {
        Some(pinned) => format!("docker-pullable://{pinned}"),
        None => format!("docker://{}", image.id),
    }
}

/// What a container of the `oci` handler is started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRun {
    /// The image's unpacked root file system (read-only: the lower layer of the overlay).
    pub rootfs: PathBuf,
    pub config: RunConfig,
    /// The image's `User`, as written, and as its `/etc/passwd` and `/etc/group` resolve it.
    pub user_text: String,
    pub user: Result<(u32, u32), String>,
    /// The image's `/etc/passwd` (for the primary group of a `runAsUser` without `runAsGroup`).
    pub passwd: String,
    /// `sha256:` id of the image (the container status's `imageID`).
    pub image_id: String,
}

impl ImageRun {
    /// Reads what the run needs from the store: the unpacked root (unpacked now if it is the first use) and
    /// the image's user files.
    pub fn load(store: &ImageStore, image: &ImageRecord) -> Result<ImageRun, String> {
        let config = store.config(image).map_err(|e| e.to_string())?;
        let rootfs = store.rootfs(image).map_err(|e| e.to_string())?;
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
        let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
        let run = config.run();
        let user_text = run.user.clone().unwrap_or_default();
        let user = spec::image_user(&user_text, &passwd, &group);
        Ok(ImageRun { rootfs, config: run, user_text, user, passwd, image_id: image.id.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_in_container_statuses() {
        let record = |names: &[&str]| ImageRecord {
            id: "sha256:c0ffee".into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            layers: vec![],
            size: 0,
            last_used: 0,
        };
        let pulled = record(&["127.0.0.1:5000/team/tool:1", "127.0.0.1:5000/team/tool@sha256:abc"]);
        assert_eq!(status_image_id(&pulled), "docker-pullable://127.0.0.1:5000/team/tool@sha256:abc");
        assert_eq!(status_image_id(&record(&["docker.io/library/busybox:1.36"])), "docker://sha256:c0ffee");
    }
}
