//! The server's TLS material and bearer token, generated on first start and kept in the data dir.
//!
//! Files: `ca.crt`, `ca.key`, `server.crt`, `server.key`, `token`. Keys and the token are written with mode 0600.
//! The serving certificate is re-issued (by the same CA) when it does not cover the address being served.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generating certificates: {0}")]
    Cert(#[from] rcgen::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_path_buf(), source }
}

/// PEM material for serving TLS and for clients to trust it.
#[derive(Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub token: String,
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn ca_params() -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "runlet-ca");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

/// Names the serving certificate covers: loopback always, plus the host being listened on.
fn subject_names(listen_host: Option<IpAddr>) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string(), "runlet".to_string()];
    if let Some(ip) = listen_host
        && !ip.is_unspecified()
        && !names.contains(&ip.to_string())
    {
        names.push(ip.to_string());
    }
    names
}

fn issue_server_cert(ca_key: &KeyPair, names: &[String]) -> Result<(String, String), PkiError> {
    let mut p = CertificateParams::new(names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "runlet-apiserver");
    p.distinguished_name = dn;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads the TLS material and token from `dir`, creating what is missing.
pub fn ensure(dir: &Path, listen_host: Option<IpAddr>) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let (ca_crt, ca_key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    let (srv_crt, srv_key, srv_names) = (dir.join("server.crt"), dir.join("server.key"), dir.join("server.names"));
    let token_path = dir.join("token");

    let ca_key = if ca_crt.exists() && ca_key_path.exists() {
        let pem = fs::read_to_string(&ca_key_path).map_err(io(&ca_key_path))?;
        KeyPair::from_pem(&pem)?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
        fs::write(&ca_crt, cert.pem()).map_err(io(&ca_crt))?;
        // A new CA invalidates any older serving certificate.
        let _ = fs::remove_file(&srv_crt);
        key
    };
    let ca_pem = fs::read_to_string(&ca_crt).map_err(io(&ca_crt))?;

    let wanted = subject_names(listen_host);
    let covered: Vec<String> = fs::read_to_string(&srv_names).unwrap_or_default().lines().map(str::to_string).collect();
    let fresh_enough = srv_crt.exists() && srv_key.exists() && wanted.iter().all(|n| covered.contains(n));
    if !fresh_enough {
        let (cert, key) = issue_server_cert(&ca_key, &wanted)?;
        write_private(&srv_key, key.as_bytes())?;
        fs::write(&srv_crt, cert).map_err(io(&srv_crt))?;
        fs::write(&srv_names, wanted.join("\n")).map_err(io(&srv_names))?;
    }
    let cert_pem = fs::read_to_string(&srv_crt).map_err(io(&srv_crt))?;
    let key_pem = fs::read_to_string(&srv_key).map_err(io(&srv_key))?;

    let token = match fs::read_to_string(&token_path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t = random_token();
            write_private(&token_path, t.as_bytes())?;
            t
        }
    };
    Ok(Pki { ca_pem, cert_pem, key_pem, token })
}

/// A kubeconfig for `server` (e.g. `https://127.0.0.1:6443`) trusting the CA and carrying the token.
pub fn kubeconfig(pki: &Pki, server: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(pki.ca_pem.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: runlet\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: runlet\n  user:\n    token: {token}\ncontexts:\n- name: runlet\n  context:\n    cluster: runlet\n    user: runlet\n    namespace: default\ncurrent-context: runlet\npreferences: {{}}\n",
        token = pki.token
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_and_keeps_secrets_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path(), None).unwrap();
        let b = ensure(dir.path(), None).unwrap();
        assert_eq!(a.token, b.token);
        assert_eq!(a.cert_pem, b.cert_pem);
        assert_eq!(a.token.len(), 64);
        for f in ["ca.key", "server.key", "token"] {
            let mode = fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        // A new address gets a new serving certificate from the same CA.
        let c = ensure(dir.path(), Some("10.1.2.3".parse().unwrap())).unwrap();
        assert_ne!(c.cert_pem, a.cert_pem);
        assert_eq!(c.ca_pem, a.ca_pem);
        let kc = kubeconfig(&c, "https://127.0.0.1:6443");
        assert!(kc.contains("server: https://127.0.0.1:6443"));
        assert!(kc.contains(&c.token));
    }
}
