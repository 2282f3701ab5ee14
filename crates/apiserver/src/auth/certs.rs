//! Client certificates from the cluster's CA: what a verified certificate says about its holder (common name →
//! user, organizations → groups, as kube-apiserver's x509 authenticator reads them), node certificates signed
//! from a certificate signing request, the API server's own client certificate for the agents' log endpoints,
//! and the CA's public key hash that `--ca-cert-hash` pins (kubeadm's `sha256:<hex of the SubjectPublicKeyInfo>`).

use std::path::Path;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::FromDer;

use crate::observe::audit::User;

/// How long a node's client certificate is valid (kube-controller-manager's `--cluster-signing-duration`).
pub const NODE_CERT_DAYS: i64 = 365;
/// The common name of the API server's client certificate for agents (upstream's name for the same role).
pub const APISERVER_LOG_CLIENT: &str = "kube-apiserver-kubelet-client";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the CA's certificate or key does not parse: {0}")]
    Ca(rcgen::Error),
    #[error("the certificate signing request does not parse or its signature is wrong: {0}")]
    BadRequest(String),
    #[error("signing: {0}")]
    Sign(#[from] rcgen::Error),
}

/// The subject names of a certificate or request: common name and organizations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
}

fn subject_of(name: &x509_parser::x509::X509Name<'_>) -> Subject {
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_string);
    Subject {
        common_name: name.iter_common_name().find_map(text).unwrap_or_default(),
        organizations: name.iter_organization().filter_map(text).collect(),
    }
}

/// The subject of a DER certificate.
pub fn certificate_subject(der: &[u8]) -> Option<Subject> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(subject_of(cert.subject()))
}

/// A certificate's validity: (not before, not after), in seconds since the Unix epoch.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    Some((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// Whether a certificate valid from `not_before` to `not_after` should be renewed at `now` (seconds): once 80%
/// of its life has passed, as the kubelet rotates its client certificate well before it expires.
pub fn due_for_renewal(not_before: i64, not_after: i64, now: i64) -> bool {
    let life = not_after.saturating_sub(not_before).max(0);
    now >= not_before.saturating_add(life / 5 * 4)
}

/// Who a verified client certificate names (its chain was checked by the TLS handshake).
pub fn identity(der: &[u8]) -> Option<User> {
    let subject = certificate_subject(der)?;
    if subject.common_name.is_empty() {
        return None;
    }
    let mut groups = subject.organizations;
    groups.push("system:authenticated".into());
    Some(User { username: subject.common_name, groups })
}

/// kubeadm's CA hash: `sha256:` and the hex SHA-256 of the certificate's SubjectPublicKeyInfo.
pub fn public_key_hash(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.tbs_certificate.subject_pki.raw);
    Some(format!("sha256:{}", digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// The first certificate of a PEM text.
pub fn first_certificate(pem: &str) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()
}

/// A certificate signing request, read and its signature checked.
pub struct Request {
    pub subject: Subject,
    /// Whether it asks for subject alternative names or other extensions (a node's client certificate has none).
    pub has_extensions: bool,
    params: CertificateSigningRequestParams,
}

impl Request {
    pub fn parse(pem: &str) -> Result<Request, CertError> {
        let params =
            CertificateSigningRequestParams::from_pem(pem).map_err(|e| CertError::BadRequest(e.to_string()))?;
        let der = rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| CertError::BadRequest(e.to_string()))?;
        let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
            .map_err(|e| CertError::BadRequest(e.to_string()))?;
        let subject = subject_of(&csr.certification_request_info.subject);
        let has_extensions = csr.requested_extensions().is_some_and(|mut e| e.next().is_some());
        Ok(Request { subject, has_extensions, params })
    }
}

/// The cluster CA, able to sign.
pub struct Signer {
    ca_key: KeyPair,
    ca_pem: String,
}

impl Signer {
    /// The CA of a server's `pki` dir (`ca.crt`, `ca.key`).
    pub fn load(dir: &Path) -> Result<Signer, CertError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| CertError::Io { path: path.display().to_string(), source })
        };
        let ca_pem = read("ca.crt")?;
        let ca_key = KeyPair::from_pem(&read("ca.key")?).map_err(CertError::Ca)?;
        Ok(Signer { ca_key, ca_pem })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, CertError> {
        Issuer::from_ca_cert_pem(&self.ca_pem, &self.ca_key).map_err(CertError::Ca)
    }

    /// A client certificate for `subject`, valid for `days` from now (five minutes earlier, for clock skew).
    fn client_params(subject: &Subject, days: i64) -> Result<CertificateParams, CertError> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        for organization in &subject.organizations {
            dn.push(DnType::OrganizationName, organization.as_str());
        }
        dn.push(DnType::CommonName, subject.common_name.as_str());
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::days(days);
        Ok(p)
    }

    /// Signs `request` as a client certificate naming exactly `subject` (whatever else it asked for), PEM.
    pub fn sign(&self, request: &Request, subject: &Subject, days: i64) -> Result<String, CertError> {
        let params = Self::client_params(subject, days)?;
        Ok(params.signed_by(&request.params.public_key, &self.issuer()?)?.pem())
    }

    /// A new key and client certificate for `subject`: (certificate PEM, key PEM).
    pub fn issue(&self, subject: &Subject, days: i64) -> Result<(String, String), CertError> {
        let key = KeyPair::generate()?;
        let cert = Self::client_params(subject, days)?.signed_by(&key, &self.issuer()?)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A new key and a certificate signing request for `subject`: (request PEM, key PEM).
pub fn new_request(subject: &Subject) -> Result<(String, String), CertError> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    for organization in &subject.organizations {
        dn.push(DnType::OrganizationName, organization.as_str());
    }
    dn.push(DnType::CommonName, subject.common_name.as_str());
    p.distinguished_name = dn;
    let csr = p.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_after_four_fifths_of_a_certificate_s_life() {
        let cases = [(0, 100, 79, false), (0, 100, 80, true), (0, 100, 150, true), (1000, 1000, 1000, true)];
        for (from, to, now, due) in cases {
            assert_eq!(due_for_renewal(from, to, now), due, "{from}..{to} at {now}");
        }
    }

    #[test]
    fn a_node_request_signed_by_the_ca_names_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::ensure(dir.path(), None).unwrap();
        let signer = Signer::load(dir.path()).unwrap();
        let wanted = Subject { common_name: "system:node:n2".into(), organizations: vec!["system:nodes".into()] };
        let (csr, _key) = new_request(&wanted).unwrap();
        let request = Request::parse(&csr).unwrap();
        assert_eq!(request.subject, wanted);
        assert!(!request.has_extensions);
        let cert = signer.sign(&request, &wanted, NODE_CERT_DAYS).unwrap();
        let der = first_certificate(&cert).unwrap();
        let (from, to) = validity(der.as_ref()).unwrap();
        assert_eq!((to - from) / 86_400, NODE_CERT_DAYS, "a year, from five minutes ago");
        let user = identity(der.as_ref()).unwrap();
        assert_eq!(user.username, "system:node:n2");
        assert_eq!(user.groups, vec!["system:nodes".to_string(), "system:authenticated".to_string()]);
        // It chains to the CA as a client certificate.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first_certificate(&pki.ca_pem).unwrap()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        assert!(verifier.verify_client_cert(&der, &[], now).is_ok());
        // A tampered request is refused.
        // A request whose subject was changed after signing (n2 → n3) is refused.
        let der = rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr.as_bytes()).unwrap();
        let mut bytes = der.as_ref().to_vec();
        let at = bytes.windows(14).position(|w| w == b"system:node:n2").unwrap();
        bytes[at + 13] = b'3';
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let tampered = format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n");
        assert!(Request::parse(&tampered).is_err());
        // The CA hash is the same from the CA's certificate every time, and differs from another key's.
        let ca = first_certificate(&pki.ca_pem).unwrap();
        let hash = public_key_hash(ca.as_ref()).unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 7 + 64, "{hash}");
        assert_ne!(public_key_hash(der.as_ref()), Some(hash));
    }
}
