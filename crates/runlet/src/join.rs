//! How an agent gets its own credential (the kubelet's TLS bootstrap). With a bootstrap token it asks the server
//! for a client certificate of its node (`system:node:<name>` in `system:nodes`) through a
//! CertificateSigningRequest, keeps the key and certificate in a kubeconfig of its own (`<dir>/kubeconfig`,
//! 0600) and uses that from then on, restarts included. The server is recognised before the token is sent:
//! `--join` pins the cluster CA by the hash of its public key (kubeadm's `--ca-cert-hash`), a bootstrap
//! kubeconfig by the CA it holds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use base64::Engine;
use runlet_apiserver::auth::certs::{self, Subject};
use runlet_apiserver::auth::{bootstrap, csr};
use runlet_codec::k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestSpec};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

/// Where an agent keeps its own kubeconfig.
pub fn own_kubeconfig(dir: &Path) -> PathBuf {
    dir.join("kubeconfig")
}

/// How the agent was told to reach the server.
pub enum Joining {
    /// `--join URL --token T --ca-cert-hash sha256:...`.
    Token { server: String, token: String, ca_cert_hash: String },
    /// `--kubeconfig FILE`: with a bootstrap token it is a bootstrap kubeconfig, else the agent's credential.
    Kubeconfig(PathBuf),
    /// Neither: the agent must have joined before (its own kubeconfig is in its directory).
    Joined,
}

/// What the agent runs with: a kubeconfig's text, and the node its certificate names (None: a token's holder).
pub struct Credential {
    pub kubeconfig: String,
    /// The file, to hide from pods.
    pub path: PathBuf,
    pub node: Option<String>,
}

/// A kubeconfig for `server`, trusting `ca_pem`, as `user` (YAML fields under `user:`).
fn kubeconfig_text(server: &str, ca_pem: &str, user: &[(&str, String)]) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let user: String = user.iter().map(|(k, v)| format!("    {k}: {v}\n")).collect();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: runlet\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: node\n  user:\n{user}contexts:\n- name: runlet\n  context:\n    cluster: runlet\n    user: node\ncurrent-context: runlet\npreferences: {{}}\n",
        ca = b64(ca_pem)
    )
}

/// The kubeconfig's server, CA (PEM), token and client certificate (PEM), as far as it has them.
pub struct KubeconfigParts {
    pub server: String,
    pub ca_pem: Option<String>,
    pub token: Option<String>,
    pub client_cert_pem: Option<String>,
}

pub fn kubeconfig_parts(text: &str) -> anyhow::Result<KubeconfigParts> {
    let v: Value = serde_saphyr::from_str(text).context("parsing the kubeconfig")?;
    let decode = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
    };
    Ok(KubeconfigParts {
        server: v.pointer("/clusters/0/cluster/server").and_then(Value::as_str).unwrap_or_default().to_string(),
        ca_pem: decode("/clusters/0/cluster/certificate-authority-data"),
        token: v.pointer("/users/0/user/token").and_then(Value::as_str).map(str::to_string),
        client_cert_pem: decode("/users/0/user/client-certificate-data"),
    })
}

/// The node a client certificate names.
fn node_of_certificate(cert_pem: &str) -> Option<String> {
    let der = certs::first_certificate(cert_pem)?;
    let subject = certs::certificate_subject(der.as_ref())?;
    let node = subject.common_name.strip_prefix("system:node:")?;
    (!node.is_empty() && subject.organizations.iter().any(|o| o == "system:nodes")).then(|| node.to_string())
}

/// The credential to run with: the agent's own kubeconfig when it has one, else one made now by joining, else
/// the kubeconfig given.
pub async fn credential(dir: &Path, joining: &Joining, node_name: Option<&str>) -> anyhow::Result<Credential> {
    let own = own_kubeconfig(dir);
    if let Ok(text) = std::fs::read_to_string(&own) {
        let parts = kubeconfig_parts(&text).with_context(|| format!("reading {}", own.display()))?;
        let node = parts.client_cert_pem.as_deref().and_then(node_of_certificate);
        let Some(node) = node else { bail!("{} holds no node certificate; remove it to join again", own.display()) };
        if let Some(wanted) = node_name.filter(|w| *w != node) {
            bail!(
                "this agent's credential ({}) is for node {node:?}, not {wanted:?}; use another --dir to run another node",
                own.display()
            );
        }
        let text = renew_if_due(&own, text, &parts, &node).await;
        return Ok(Credential { kubeconfig: text, path: own, node: Some(node) });
    }
    let (server, ca_pem, token) = match joining {
        Joining::Joined => bail!(
            "no credential in {}: pass --join URL --token TOKEN --ca-cert-hash HASH (from `runlet token create --print-join-command` on the server), or --kubeconfig",
            dir.display()
        ),
        Joining::Token { server, token, ca_cert_hash } => {
            if bootstrap::Token::parse(token).is_none() {
                bail!("--token must be a bootstrap token (`runlet token create` on the server prints one)");
            }
            let ca_pem = discover_ca(server, ca_cert_hash).await?;
            (server.clone(), ca_pem, token.clone())
        }
        Joining::Kubeconfig(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let parts = kubeconfig_parts(&text)?;
            match (parts.token.as_deref().and_then(bootstrap::Token::parse), parts.ca_pem) {
                (Some(_), Some(ca)) => (parts.server, ca, parts.token.unwrap_or_default()),
                (Some(_), None) => {
                    bail!("the bootstrap kubeconfig {} has no certificate-authority-data", path.display())
                }
                // Not a bootstrap kubeconfig: its credential is the agent's (e.g. the admin's).
                (None, _) => {
                    let node = parts.client_cert_pem.as_deref().and_then(node_of_certificate);
                    return Ok(Credential { kubeconfig: text, path: path.clone(), node });
                }
            }
        }
    };
    let node = node_name.map(str::to_string).unwrap_or_else(crate::node::host_name);
    let bootstrap = kubeconfig_text(&server, &ca_pem, &[("token", token)]);
    let (cert_pem, key_pem) = request_certificate(&bootstrap, &node).await?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let text = kubeconfig_text(
        &server,
        &ca_pem,
        &[("client-certificate-data", b64(&cert_pem)), ("client-key-data", b64(&key_pem))],
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    runlet_apiserver::pki::write_private(&own, text.as_bytes())
        .with_context(|| format!("writing {}", own.display()))?;
    tracing::info!(node = %node, path = %own.display(), "joined: the node's own credential is stored");
    Ok(Credential { kubeconfig: text, path: own, node: Some(node) })
}

/// The own kubeconfig, with a new certificate if the one it holds is past 80% of its life: the node asks for it
/// with its current certificate (a node may renew its own). If that fails while the old one is still valid,
/// the agent goes on with it and tries again at its next start.
async fn renew_if_due(path: &Path, text: String, parts: &KubeconfigParts, node: &str) -> String {
    let validity =
        parts.client_cert_pem.as_deref().and_then(certs::first_certificate).and_then(|c| certs::validity(c.as_ref()));
    let Some((not_before, not_after)) = validity else { return text };
    if !certs::due_for_renewal(not_before, not_after, jiff::Timestamp::now().as_second()) {
        return text;
    }
    let renewed = async {
        let (cert_pem, key_pem) = request_certificate(&text, node).await?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let ca_pem = parts.ca_pem.clone().context("the kubeconfig has no CA")?;
        let new = kubeconfig_text(
            &parts.server,
            &ca_pem,
            &[("client-certificate-data", b64(&cert_pem)), ("client-key-data", b64(&key_pem))],
        );
        runlet_apiserver::pki::write_private(path, new.as_bytes())?;
        anyhow::Ok(new)
    }
    .await;
    match renewed {
        Ok(new) => {
            tracing::info!(node, "renewed the node's client certificate");
            new
        }
        Err(e) => {
            tracing::warn!(node, error = %format!("{e:#}"), "could not renew the node's client certificate");
            text
        }
    }
}

async fn client_of(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).context("parsing the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.context("using the kubeconfig")?;
    kube::Client::try_from(config).context("building the API client")
}

/// Asks the server to sign a new key's certificate for `node`: (certificate PEM, key PEM).
async fn request_certificate(bootstrap_kubeconfig: &str, node: &str) -> anyhow::Result<(String, String)> {
    let subject = Subject { common_name: format!("system:node:{node}"), organizations: vec!["system:nodes".into()] };
    let (request_pem, key_pem) = certs::new_request(&subject).context("making a certificate signing request")?;
    let client = client_of(bootstrap_kubeconfig).await?;
    let api: kube::Api<CertificateSigningRequest> = kube::Api::all(client);
    let request = CertificateSigningRequest {
        metadata: runlet_codec::ObjectMeta { generate_name: Some("node-csr-".into()), ..Default::default() },
        spec: CertificateSigningRequestSpec {
            request: runlet_codec::k8s_openapi::ByteString(request_pem.into_bytes()),
            signer_name: csr::KUBELET_CLIENT_SIGNER.into(),
            usages: Some(vec!["digital signature".into(), "client auth".into()]),
            ..Default::default()
        },
        status: None,
    };
    let answered = api
        .create(&Default::default(), &request)
        .await
        .context("asking the server for the node's certificate (is the token valid and unexpired?)")?;
    let cert = answered
        .status
        .and_then(|s| s.certificate)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|c| !c.is_empty())
        .context("the server answered without a certificate")?;
    Ok((cert, key_pem))
}

/// The server's CA, from the chain it presents, accepted only if its public key has `ca_cert_hash`
/// (`sha256:<hex>`) and the serving certificate chains to it for the address asked.
async fn discover_ca(server: &str, ca_cert_hash: &str) -> anyhow::Result<String> {
    let url: http::Uri = server.parse().with_context(|| format!("--join {server:?} is not a URL"))?;
    if url.scheme_str() != Some("https") {
        bail!("--join needs an https:// URL");
    }
    let host = url.host().context("--join has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_u16().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCa {
        hash: ca_cert_hash.trim().to_ascii_lowercase(),
        provider: provider.clone(),
        found: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let name = ServerName::try_from(host.clone()).context("the server's host")?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("{server} is not the cluster whose CA has hash {ca_cert_hash}"))?;
    let found = verifier.found.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let der = found.context("the server presented no CA")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    Ok(format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n")))
}

/// Accepts a server whose chain holds a CA with the pinned public key hash, and whose certificate that CA
/// signed for the name asked; remembers the CA.
#[derive(Debug)]
struct PinnedCa {
    hash: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
    found: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| certs::public_key_hash(c.as_ref()).is_some_and(|h| h == self.hash))
            .ok_or_else(|| {
                rustls::Error::General("no certificate of the server's chain has the pinned CA hash".into())
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        webpki.verify_server_cert(end_entity, &[], server_name, ocsp, now)?;
        *self.found.lock().unwrap_or_else(|e| e.into_inner()) = Some(ca.as_ref().to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_made_here_reads_back() {
        let text =
            kubeconfig_text("https://10.0.0.1:6443", "CA PEM", &[("token", "abc123.0123456789abcdef".to_string())]);
        let parts = kubeconfig_parts(&text).unwrap();
        assert_eq!(parts.server, "https://10.0.0.1:6443");
        assert_eq!(parts.ca_pem.as_deref(), Some("CA PEM"));
        assert_eq!(parts.token.as_deref(), Some("abc123.0123456789abcdef"));
        assert!(kube::config::Kubeconfig::from_yaml(&text).is_ok());
    }
}
