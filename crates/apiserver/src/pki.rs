//! The server's TLS material and bearer token, generated on first start and kept in the data dir.
//!
//! Files: `ca.crt`, `ca.key`, `server.crt`, `server.key`, `token`. Keys and the token are written with mode 0600.
//! Every file is replaced atomically (written aside, then renamed), a certificate before its key. On load each
//! pair must parse and match, and the serving certificate must chain to the CA and cover the names wanted;
//! otherwise it is issued again (by the same CA when the CA is sound), so a crash between two writes never leaves
//! a pair that blocks startup.
//!
//! The serving certificate covers `localhost`, `runlet`, `127.0.0.1` and `::1`, plus the address being listened
//! on. Listening on a wildcard address (`0.0.0.0`, `::`) adds the machine's host name and every address of its
//! network interfaces except loopback, multicast and IPv6 link-local ones (those need a zone a certificate cannot
//! name): other machines reach the server by those. An address the machine gains later is covered from the next
//! start on.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;

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

/// Writes a file readable only by its owner, atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, contents, 0o600)
}

/// Replaces `path` with `contents` so that a crash leaves either the old file or the new one, never a part.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    // The rename is durable only once the directory is; a failure here loses nothing already written.
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
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

/// What the machine is known by, for a certificate served on a wildcard address.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MachineNames {
    pub host_name: Option<String>,
    pub addresses: Vec<IpAddr>,
}

impl MachineNames {
    /// The host name and the addresses of the network interfaces; what cannot be read is left out.
    pub fn read() -> MachineNames {
        let host_name = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok());
        let addresses = match nix::ifaddrs::getifaddrs() {
            Ok(interfaces) => interfaces
                .filter_map(|i| i.address)
                .filter_map(|a| {
                    a.as_sockaddr_in()
                        .map(|v4| IpAddr::V4(v4.ip()))
                        .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list network interfaces; the certificate names the host only");
                Vec::new()
            }
        };
        MachineNames { host_name, addresses }
    }
}

/// Names the serving certificate covers (see the module docs). `machine` is consulted only for a wildcard
/// `listen_host`.
pub fn subject_names(listen_host: Option<IpAddr>, machine: &MachineNames) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string(), "runlet".to_string()];
    let mut add = |name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    match listen_host {
        Some(ip) if ip.is_unspecified() => {
            // Only a name a TLS client can ask for: anything else could never be matched.
            if let Some(host) = &machine.host_name
                && matches!(ServerName::try_from(host.as_str()), Ok(ServerName::DnsName(_)))
            {
                add(host.to_ascii_lowercase());
            }
            for ip in machine.addresses.iter().filter(|ip| reachable_from_elsewhere(ip)) {
                add(ip.to_string());
            }
        }
        Some(ip) => add(ip.to_string()),
        None => {}
    }
    names
}

fn reachable_from_elsewhere(ip: &IpAddr) -> bool {
    let link_local_v6 = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
    !ip.is_loopback() && !ip.is_unspecified() && !ip.is_multicast() && !link_local_v6
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

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The first certificate of a PEM text, if it has one that parses.
fn first_cert(pem: &str) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()
}

/// True when `cert_pem` holds a certificate for the private key in `key_pem`.
fn pair_matches(cert_pem: &str, key_pem: &str) -> bool {
    let (Some(cert), Ok(key)) = (first_cert(cert_pem), PrivateKeyDer::from_pem_slice(key_pem.as_bytes())) else {
        return false;
    };
    let Ok(signing_key) = provider().key_provider.load_private_key(key) else {
        return false;
    };
    CertifiedKey::new(vec![cert], signing_key).keys_match().is_ok()
}

/// True when the serving pair matches, chains to `ca_pem` and covers every name in `names`.
fn serving_cert_usable(cert_pem: &str, key_pem: &str, ca_pem: &str, names: &[String]) -> bool {
    if !pair_matches(cert_pem, key_pem) {
        return false;
    }
    let (Some(cert), Some(ca)) = (first_cert(cert_pem), first_cert(ca_pem)) else {
        return false;
    };
    let Ok(parsed) = ParsedCertificate::try_from(&cert) else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(ca).is_err() {
        return false;
    }
    let algorithms = provider().signature_verification_algorithms.all;
    if rustls::client::verify_server_cert_signed_by_trust_anchor(&parsed, &roots, &[], UnixTime::now(), algorithms)
        .is_err()
    {
        return false;
    }
    names.iter().all(|name| {
        ServerName::try_from(name.as_str())
            .is_ok_and(|server_name| rustls::client::verify_server_name(&parsed, &server_name).is_ok())
    })
}

fn read_if_present(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Unreadable bytes are as good as absent: the file is written again.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// The CA's key and certificate: the stored ones if they form a pair, else a new CA.
fn ensure_ca(dir: &Path) -> Result<(KeyPair, String), PkiError> {
    let (crt_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    if let (Some(crt), Some(key)) = (read_if_present(&crt_path)?, read_if_present(&key_path)?)
        && pair_matches(&crt, &key)
        && let Ok(key) = KeyPair::from_pem(&key)
    {
        return Ok((key, crt));
    }
    let key = KeyPair::generate()?;
    let crt = ca_params()?.self_signed(&key)?.pem();
    write_atomic(&crt_path, crt.as_bytes(), 0o644)?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    Ok((key, crt))
}

/// Loads the TLS material and token from `dir`, creating or re-issuing what is missing or unusable.
pub fn ensure(dir: &Path, listen_host: Option<IpAddr>) -> Result<Pki, PkiError> {
    let machine = match listen_host {
        Some(ip) if ip.is_unspecified() => MachineNames::read(),
        _ => MachineNames::default(),
    };
    ensure_for(dir, &subject_names(listen_host, &machine))
}

fn ensure_for(dir: &Path, names: &[String]) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let (ca_key, ca_pem) = ensure_ca(dir)?;
    let (crt_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    // Coverage used to be recorded beside the certificate; the certificate itself is the truth now.
    let _ = fs::remove_file(dir.join("server.names"));
    let stored = (read_if_present(&crt_path)?, read_if_present(&key_path)?);
    let (cert_pem, key_pem) = match stored {
        (Some(cert), Some(key)) if serving_cert_usable(&cert, &key, &ca_pem, names) => (cert, key),
        _ => {
            let (cert, key) = issue_server_cert(&ca_key, names)?;
            write_atomic(&crt_path, cert.as_bytes(), 0o644)?;
            write_private(&key_path, key.as_bytes())?;
            (cert, key)
        }
    };

    let token_path = dir.join("token");
    let token = match read_if_present(&token_path)? {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LOOPBACK: [&str; 4] = ["localhost", "127.0.0.1", "::1", "runlet"];

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
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // A new address gets a new serving certificate from the same CA.
        let c = ensure(dir.path(), Some(ip("10.1.2.3"))).unwrap();
        assert_ne!(c.cert_pem, a.cert_pem);
        assert_eq!(c.ca_pem, a.ca_pem);
        assert!(serving_cert_usable(&c.cert_pem, &c.key_pem, &c.ca_pem, &["10.1.2.3".to_string()]));
        let kc = kubeconfig(&c, "https://127.0.0.1:6443");
        assert!(kc.contains("server: https://127.0.0.1:6443"));
        assert!(kc.contains(&c.token));
    }

    #[test]
    fn subject_names_per_listen_address() {
        let machine = MachineNames {
            host_name: Some("Build-01.example.com".into()),
            addresses: vec![ip("127.0.0.1"), ip("10.0.0.5"), ip("::1"), ip("fe80::1"), ip("fd00::5"), ip("10.0.0.5")],
        };
        let bad_host = MachineNames { host_name: Some("not a name".into()), addresses: vec![ip("192.168.1.2")] };
        let unknown = MachineNames::default();
        let cases: Vec<(Option<IpAddr>, &MachineNames, Vec<&str>)> = vec![
            (None, &machine, vec![]),
            (Some(ip("127.0.0.1")), &machine, vec![]),
            (Some(ip("10.1.2.3")), &machine, vec!["10.1.2.3"]),
            (Some(ip("0.0.0.0")), &machine, vec!["build-01.example.com", "10.0.0.5", "fd00::5"]),
            (Some(ip("::")), &machine, vec!["build-01.example.com", "10.0.0.5", "fd00::5"]),
            (Some(ip("0.0.0.0")), &bad_host, vec!["192.168.1.2"]),
            (Some(ip("0.0.0.0")), &unknown, vec![]),
        ];
        for (listen, machine, extra) in cases {
            let want: Vec<&str> = LOOPBACK.iter().copied().chain(extra).collect();
            assert_eq!(subject_names(listen, machine), want, "{listen:?}");
        }
    }

    #[test]
    fn a_wildcard_listener_gets_a_certificate_for_the_machine() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ensure(dir.path(), Some(ip("0.0.0.0"))).unwrap();
        let wanted = subject_names(Some(ip("0.0.0.0")), &MachineNames::read());
        assert!(serving_cert_usable(&pki.cert_pem, &pki.key_pem, &pki.ca_pem, &wanted), "{wanted:?}");
    }

    #[test]
    fn broken_or_mismatched_files_are_replaced() {
        fn write(dir: &Path, name: &str, contents: &str) {
            fs::write(dir.join(name), contents).unwrap();
        }
        // (what is done to a good data dir, whether the CA survives)
        type Damage = Box<dyn Fn(&Path, &Pki)>;
        let other = {
            let dir = tempfile::tempdir().unwrap();
            ensure(dir.path(), None).unwrap()
        };
        let (other_cert, other_key) = (other.cert_pem.clone(), other.key_pem.clone());
        let other_ca = other.ca_pem.clone();
        let cases: Vec<(&str, Damage, bool)> = vec![
            ("a new certificate beside the old key", Box::new(move |d, _| write(d, "server.crt", &other_cert)), true),
            ("a new key beside the old certificate", Box::new(move |d, _| write(d, "server.key", &other_key)), true),
            ("a truncated certificate", Box::new(|d, p| write(d, "server.crt", &p.cert_pem[..100])), true),
            ("a missing key", Box::new(|d, _| fs::remove_file(d.join("server.key")).unwrap()), true),
            ("an empty key", Box::new(|d, _| write(d, "server.key", "")), true),
            ("a CA certificate of another key", Box::new(move |d, _| write(d, "ca.crt", &other_ca)), false),
            ("a missing CA key", Box::new(|d, _| fs::remove_file(d.join("ca.key")).unwrap()), false),
        ];
        for (what, damage, ca_survives) in cases {
            let dir = tempfile::tempdir().unwrap();
            let before = ensure(dir.path(), None).unwrap();
            damage(dir.path(), &before);
            let after = ensure(dir.path(), None).unwrap();
            assert!(pair_matches(&after.cert_pem, &after.key_pem), "{what}");
            assert!(pair_matches(&after.ca_pem, &fs::read_to_string(dir.path().join("ca.key")).unwrap()), "{what}");
            assert!(serving_cert_usable(&after.cert_pem, &after.key_pem, &after.ca_pem, &[]), "{what}");
            assert!(crate::server::tls_config(&after).is_ok(), "{what}");
            assert_eq!(after.ca_pem == before.ca_pem, ca_survives, "{what}");
            assert_eq!(after.token, before.token, "{what}");
            // What was answered is what is on disk.
            assert_eq!(fs::read_to_string(dir.path().join("server.crt")).unwrap(), after.cert_pem, "{what}");
            assert_eq!(fs::read_to_string(dir.path().join("server.key")).unwrap(), after.key_pem, "{what}");
        }
    }

    #[test]
    fn a_serving_certificate_of_another_ca_is_replaced() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = ensure(a.path(), None).unwrap();
        let foreign = ensure(b.path(), None).unwrap();
        assert!(!serving_cert_usable(&foreign.cert_pem, &foreign.key_pem, &first.ca_pem, &[]));
        fs::write(a.path().join("server.crt"), &foreign.cert_pem).unwrap();
        fs::write(a.path().join("server.key"), &foreign.key_pem).unwrap();
        let again = ensure(a.path(), None).unwrap();
        assert_ne!(again.cert_pem, foreign.cert_pem);
        assert!(serving_cert_usable(&again.cert_pem, &again.key_pem, &first.ca_pem, &[]));
    }
}
