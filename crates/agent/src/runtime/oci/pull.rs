//! Getting a container's image onto the node as the kubelet does: `imagePullPolicy`, credentials from
//! `imagePullSecrets`, and what is said about it (events and waiting reasons).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runlet_image::{Credentials, ImageRecord, ImageStore, PullOptions, Reference};
use tokio::sync::Mutex;

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The container's policy; unset (only possible for objects not defaulted by the API) follows the
    /// API's default for the image (`Always` for `:latest` or no tag).
    pub fn of(policy: Option<&str>, image: &str) -> PullPolicy {
        let policy = policy.unwrap_or_else(|| runlet_api::pod::default_pull_policy(image));
        match policy {
            "Always" => PullPolicy::Always,
            "Never" => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        }
    }

    /// Whether to pull, given whether the image is present (kubelet's `shouldPullImage`).
    pub fn should_pull(self, present: bool) -> bool {
        match self {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Never => false,
        }
    }
}

/// Why an image is not there, with the waiting reason the kubelet gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailure {
    /// `ErrImagePull`, `ErrImageNeverPull` or `InvalidImageName`.
    pub reason: &'static str,
    pub message: String,
}

/// The image ready for a container, and whether it was pulled now (with how long it took and its size).
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: ImageRecord,
    pub pulled: Option<(Duration, u64)>,
}

/// The node's images: its store and how it reaches registries. Pulls of one image are not run twice at once.
#[derive(Debug, Clone)]
pub struct ImageService {
    store: ImageStore,
    options: PullOptions,
    pulling: Arc<Mutex<HashSet<String>>>,
    lock: Arc<Mutex<()>>,
}

impl ImageService {
    pub fn new(store: ImageStore, options: PullOptions) -> ImageService {
        ImageService { store, options, pulling: Arc::default(), lock: Arc::default() }
    }

    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// Makes `image` present per `policy`. `credentials` are tried in order, then an anonymous pull.
    pub async fn ensure(
        &self,
        image: &str,
        policy: PullPolicy,
        credentials: &[Credentials],
    ) -> Result<Pulled, PullFailure> {
        let reference = Reference::parse(image).map_err(|e| PullFailure {
            reason: "InvalidImageName",
            message: format!("Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: {e}"),
        })?;
        let present = self.find(&reference).await;
        if !policy.should_pull(present.is_some()) {
            return match present {
                Some(image) => Ok(Pulled { image, pulled: None }),
                None => Err(PullFailure {
                    reason: "ErrImageNeverPull",
                    message: format!("Container image {image:?} is not present with pull policy of Never"),
                }),
            };
        }
        // One pull at a time per node keeps a registry and the disk from being hit by the same layers twice.
        let _one = self.lock.lock().await;
        self.pulling.lock().await.insert(reference.to_string());
        let started = Instant::now();
        let mut last_error = String::new();
        let attempts: Vec<Option<&Credentials>> = credentials.iter().map(Some).chain(std::iter::once(None)).collect();
        let mut result = None;
        for creds in attempts {
            match runlet_image::pull(&self.store, &reference, creds, &self.options).await {
                Ok(record) => {
                    result = Some(record);
                    break;
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        self.pulling.lock().await.remove(&reference.to_string());
        match result {
            Some(record) => {
                let size = record.size;
                Ok(Pulled { image: record, pulled: Some((started.elapsed(), size)) })
            }
            None => Err(PullFailure {
                reason: "ErrImagePull",
                message: format!("Failed to pull image {image:?}: {last_error}"),
            }),
        }
    }

    async fn find(&self, reference: &Reference) -> Option<ImageRecord> {
        let store = self.store.clone();
        let name = reference.to_string();
        tokio::task::spawn_blocking(move || store.find(&name).ok().flatten()).await.ok().flatten()
    }
}

/// The credentials the pod's `imagePullSecrets` hold for `registry` (Secrets of type
/// `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg`), in the order the pod lists them.
pub fn credentials(secrets: &[runlet_codec::Secret], registry: &str) -> Vec<Credentials> {
    let mut out = Vec::new();
    for secret in secrets {
        let data = secret.data.as_ref();
        let doc = match data.and_then(|d| d.get(".dockerconfigjson")) {
            Some(json) => json.0.clone(),
            // The older `.dockercfg` is the `auths` map alone.
            None => match data.and_then(|d| d.get(".dockercfg")) {
                Some(cfg) => {
                    let mut wrapped = b"{\"auths\":".to_vec();
                    wrapped.extend_from_slice(&cfg.0);
                    wrapped.push(b'}');
                    wrapped
                }
                None => continue,
            },
        };
        if let Some(c) = runlet_image::credentials_for(&doc, registry) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide_pulls() {
        let cases = [
            (Some("Always"), "x:1", true, true),
            (Some("IfNotPresent"), "x:1", true, false),
            (Some("IfNotPresent"), "x:1", false, true),
            (Some("Never"), "x:1", false, false),
            (None, "x", true, true),
            (None, "x:latest", true, true),
            (None, "x:1", true, false),
        ];
        for (policy, image, present, want) in cases {
            assert_eq!(PullPolicy::of(policy, image).should_pull(present), want, "{policy:?} {image} {present}");
        }
    }

    #[test]
    fn credentials_come_from_docker_config_secrets() {
        use base64::Engine;
        use runlet_codec::k8s_openapi::ByteString;
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
        let json = format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#);
        let cfg = r#"{"127.0.0.1:5000":{"username":"old","password":"x"}}"#;
        let secret = |key: &str, value: &str| runlet_codec::Secret {
            data: Some([(key.to_string(), ByteString(value.as_bytes().to_vec()))].into()),
            ..Default::default()
        };
        let secrets = [secret("other", "x"), secret(".dockerconfigjson", &json), secret(".dockercfg", cfg)];
        let found = credentials(&secrets, "127.0.0.1:5000");
        let names: Vec<&str> = found.iter().map(|c| c.username.as_str()).collect();
        assert_eq!(names, ["u", "old"]);
        assert!(credentials(&secrets, "docker.io").is_empty());
    }
}
