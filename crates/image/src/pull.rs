//! Pulling images from Docker/OCI registries (with `oci-client`): HTTPS, or plain HTTP for loopback
//! registries and the ones the node lists as insecure; the manifest for this machine's platform out of a
//! multi-arch index; credentials from `kubernetes.io/dockerconfigjson` Secrets. Every blob is verified against
//! its digest before it enters the store.

use std::io::BufReader;

use base64::Engine;
use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, StoreError, now_secs};

/// A user name and password for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
}

/// The registry a `.dockerconfigjson` key stands for: `https://index.docker.io/v1/` is `docker.io`,
/// `http://127.0.0.1:5000/v2/` is `127.0.0.1:5000`.
fn config_key_registry(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" => crate::reference::DOCKER_HUB,
        other => other,
    }
}

/// The credentials a `.dockerconfigjson` document holds for `registry`, as the kubelet's keyring finds them.
pub fn credentials_for(docker_config_json: &[u8], registry: &str) -> Option<Credentials> {
    let config: DockerConfig = serde_json::from_slice(docker_config_json).ok()?;
    let entry = config.auths.iter().find(|(k, _)| config_key_registry(k) == registry).map(|(_, v)| v)?;
    match (&entry.username, &entry.password, &entry.auth) {
        (Some(u), Some(p), _) if !u.is_empty() => Some(Credentials { username: u.clone(), password: p.clone() }),
        (_, _, Some(auth)) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (u, p) = text.split_once(':')?;
            Some(Credentials { username: u.to_string(), password: p.to_string() })
        }
        _ => None,
    }
}

/// How a node reaches registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Registries (`host:port`) reached over plain HTTP besides the loopback ones.
    pub insecure_registries: Vec<String>,
}

fn client_for(reference: &Reference, options: &PullOptions) -> oci_client::Client {
    let mut plain: Vec<String> = options.insecure_registries.clone();
    if reference.registry_is_loopback() {
        plain.push(reference.registry.clone());
    }
    let config = ClientConfig { protocol: ClientProtocol::HttpsExcept(plain), ..Default::default() };
    oci_client::Client::new(config)
}

fn oci_reference(reference: &Reference) -> oci_client::Reference {
    match (&reference.tag, &reference.digest) {
        (_, Some(digest)) => {
            oci_client::Reference::with_digest(reference.registry.clone(), reference.repository.clone(), digest.clone())
        }
        (Some(tag), None) => {
            oci_client::Reference::with_tag(reference.registry.clone(), reference.repository.clone(), tag.clone())
        }
        (None, None) => oci_client::Reference::with_tag(
            reference.registry.clone(),
            reference.repository.clone(),
            crate::reference::DEFAULT_TAG.to_string(),
        ),
    }
}

fn registry_err(e: oci_client::errors::OciDistributionError) -> PullError {
    PullError::Registry(e.to_string())
}

/// Pulls `reference` into the store and returns its record (named by the reference and by
/// `name@<manifest digest>`). Layers already stored are not fetched again.
pub async fn pull(
    store: &ImageStore,
    reference: &Reference,
    credentials: Option<&Credentials>,
    options: &PullOptions,
) -> Result<ImageRecord, PullError> {
    let client = client_for(reference, options);
    let auth = match credentials {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => RegistryAuth::Anonymous,
    };
    let oci_ref = oci_reference(reference);
    // Resolves a multi-arch index to this platform's manifest (the client's platform resolver).
    let (manifest, manifest_digest) = client.pull_image_manifest(&oci_ref, &auth).await.map_err(registry_err)?;
    if let Some(pinned) = &reference.digest {
        // A digest-pinned reference may name the index; the manifest then comes from it and is not checked here.
        tracing::debug!(%pinned, %manifest_digest, "pulled a pinned reference");
    }
    let config_digest = Digest::parse(&manifest.config.digest).map_err(|e| PullError::Registry(e.to_string()))?;
    let mut size = 0u64;
    let mut blobs = vec![(config_digest.clone(), manifest.config.clone())];
    let mut layers = Vec::new();
    for layer in &manifest.layers {
        let d = Digest::parse(&layer.digest).map_err(|e| PullError::Registry(e.to_string()))?;
        layers.push(d.to_string());
        blobs.push((d, layer.clone()));
    }
    for (digest, descriptor) in blobs {
        if store.has_blob(&digest) && store.verify_blob(&digest).is_ok() {
            size += descriptor.size.max(0) as u64;
            continue;
        }
        let work = store.temp_dir()?;
        let download = work.path().join("blob");
        let mut file = tokio::fs::File::create(&download).await?;
        let mut stream = client.pull_blob_stream(&oci_ref, &descriptor).await.map_err(registry_err)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| PullError::Registry(e.to_string()))?;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        drop(file);
        let store2 = store.clone();
        let want = digest.clone();
        let (_, n) = tokio::task::spawn_blocking(move || -> Result<(Digest, u64), StoreError> {
            let f = std::fs::File::open(&download)
                .map_err(|source| StoreError::Io { what: "reading a download".into(), source })?;
            store2.put_blob(&mut BufReader::new(f), Some(&want))
        })
        .await
        .map_err(|e| PullError::Registry(e.to_string()))??;
        size += n;
    }
    let mut names = vec![reference.to_string()];
    if reference.digest.is_none() {
        names.push(reference.with_digest(&manifest_digest).to_string());
    }
    let record = ImageRecord { id: config_digest.to_string(), names, layers, size, last_used: now_secs() };
    Ok(store.add(record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_as_the_keyring_does() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        let doc = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"username":"hub","password":"pw"}},
                "http://127.0.0.1:5000/v2/":{{"auth":"{auth}"}},
                "registry.example.com":{{"username":"u","password":"p","auth":"ignored"}}}}}}"#
        );
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("docker.io", Some(("hub", "pw"))),
            ("127.0.0.1:5000", Some(("bob", "s3cret"))),
            ("registry.example.com", Some(("u", "p"))),
            ("127.0.0.1:5001", None),
        ];
        for (registry, want) in cases {
            let got = credentials_for(doc.as_bytes(), registry);
            let want = want.map(|(u, p)| Credentials { username: u.into(), password: p.into() });
            assert_eq!(got, want, "{registry}");
        }
        assert_eq!(credentials_for(b"not json", "docker.io"), None);
        assert_eq!(
            format!("{:?}", Credentials { username: "a".into(), password: "b".into() }),
            "Credentials(a, <redacted>)"
        );
    }
}
