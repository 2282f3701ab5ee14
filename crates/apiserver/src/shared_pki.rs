//! One CA and one token for every API server on a shared store (etcd), so a kubeconfig from any of
//! them works against all. The first server to start puts its CA (certificate and key) and token
//! in the store under a key no API resource can reach; every other server takes them from there
//! into its own `pki` dir, then issues itself a serving certificate from that CA as usual.
//!
//! Whoever can read the store can read these, as they can read every Secret: etcd must be
//! protected like the API server's own keys.

use std::path::Path;

use serde_json::{Value, json};

use crate::pki::{self, Pki, PkiError};
use runlet_store::{Store, StoreError};

/// Where the shared material is kept: under the store's root but outside every resource's prefix
/// (those are `/registry/<group>/<resource>/`, and no API group is named `runlet`).
pub const SHARED_PKI_KEY: &str = "/registry/runlet/pki";

const FILES: [(&str, &str); 3] = [("ca.crt", "caCert"), ("ca.key", "caKey"), ("token", "token")];

#[derive(Debug, thiserror::Error)]
pub enum SharedPkiError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("the shared certificates in the store are incomplete (no {0})")]
    Incomplete(&'static str),
}

/// The shared material as stored, from the files `pki::ensure` keeps in `dir`.
fn read_local(dir: &Path) -> Result<Value, SharedPkiError> {
    let mut shared = json!({"metadata": {}});
    for (file, field) in FILES {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| SharedPkiError::Read { path: path.display().to_string(), source })?;
        shared[field] = Value::String(text);
    }
    Ok(shared)
}

/// Puts the shared material into `dir`, replacing what differs. True when anything changed.
fn write_local(dir: &Path, shared: &Value) -> Result<bool, SharedPkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.to_path_buf(), source })?;
    // All present before anything is written.
    let mut texts = Vec::new();
    for (file, field) in FILES {
        texts.push((file, shared[field].as_str().ok_or(SharedPkiError::Incomplete(field))?));
    }
    let mut changed = false;
    for (file, text) in texts {
        let path = dir.join(file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            pki::write_private(&path, text.as_bytes())?;
            changed = true;
        }
    }
    Ok(changed)
}

/// `pki::ensure`, with the CA and token shared through `store`.
pub async fn ensure_shared(
    store: &Store,
    dir: &Path,
    listen_host: Option<std::net::IpAddr>,
) -> Result<Pki, SharedPkiError> {
    let stored = match store.get(SHARED_PKI_KEY) {
        Some(stored) => stored.value,
        None => {
            // First server: publish what this one has (made now if it has nothing).
            pki::ensure(dir, listen_host)?;
            match store.create(SHARED_PKI_KEY, read_local(dir)?).await {
                Ok(created) => created.value,
                // Another server published first: use theirs.
                Err(StoreError::AlreadyExists { .. }) => match store.get(SHARED_PKI_KEY) {
                    Some(theirs) => theirs.value,
                    None => return Err(SharedPkiError::Incomplete("object")),
                },
                Err(e) => return Err(e.into()),
            }
        }
    };
    if write_local(dir, &stored)? {
        tracing::warn!(dir = %dir.display(), "took the CA and token shared by the servers on this store");
    }
    Ok(pki::ensure(dir, listen_host)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_store::StoreOptions;

    #[tokio::test]
    async fn servers_on_one_store_share_the_ca_and_token() {
        let store = Store::open_memory(StoreOptions::default()).await.expect("store");
        let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = ensure_shared(&store, a.path(), None).await.expect("first server");
        // The second already has material of its own (it ran alone before): the shared one wins.
        let own = pki::ensure(b.path(), None).unwrap();
        assert_ne!(own.ca_pem, first.ca_pem);
        let second = ensure_shared(&store, b.path(), Some("10.1.2.3".parse().unwrap())).await.expect("second");
        let third = ensure_shared(&store, c.path(), None).await.expect("third");
        for joined in [&second, &third] {
            assert_eq!(joined.ca_pem, first.ca_pem);
            assert_eq!(joined.token, first.token);
        }
        // Each serves its own certificate from the shared CA, naming its own address.
        assert_ne!(second.cert_pem, first.cert_pem);
        assert!(crate::server::tls_config(&second).is_ok());
        // Keys and token stay private on disk.
        use std::os::unix::fs::PermissionsExt;
        for file in ["ca.key", "token"] {
            let mode = std::fs::metadata(b.path().join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        // A restart changes nothing.
        let again = ensure_shared(&store, a.path(), None).await.expect("restart");
        assert_eq!((again.ca_pem, again.token), (first.ca_pem, first.token));
    }

    #[tokio::test]
    async fn incomplete_shared_material_is_an_error_not_a_new_ca() {
        let store = Store::open_memory(StoreOptions::default()).await.expect("store");
        store.create(SHARED_PKI_KEY, json!({"metadata": {}, "caCert": "x"})).await.expect("seed");
        let dir = tempfile::tempdir().unwrap();
        let error = ensure_shared(&store, dir.path(), None).await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("the shared certificates in the store are incomplete (no caKey)"));
        assert!(!dir.path().join("ca.crt").exists(), "nothing written from incomplete material");
    }
}
