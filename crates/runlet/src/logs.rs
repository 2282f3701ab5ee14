//! Pod logs across nodes. The API server reads logs of its local node's pods from disk; for a pod on another
//! node it asks that node's agent over HTTPS, pinning the agent's self-signed certificate by the fingerprint the
//! agent published on its Node (an authenticated write), and authenticating with the server's own client
//! certificate from the cluster CA (never the admin token: an agent holds nothing it could reuse against the API).

use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use kube::api::Api;
use runlet_agent::logs::{LogError, LogOptions as AgentLogOptions, read_logs};
use runlet_agent::node::{LOG_CERT_ANNOTATION, NodeAgent};
use runlet_api::vocab::StatusReason;
use runlet_apiserver::ApiError;
use runlet_apiserver::logs::{LogOptions, LogSource, LogStream};
use runlet_codec::{Node, Pod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

/// The path the agent serves a container's log at.
pub fn log_path(ns: &str, pod: &str, container: &str) -> String {
    format!("/containerLogs/{ns}/{pod}/{container}")
}

/// `follow=true&tailLines=10...`: a log request's options as the query the agent parses.
pub fn query_of(o: &LogOptions) -> String {
    let mut q = vec![format!("container={}", o.container)];
    if o.follow {
        q.push("follow=true".into());
    }
    if o.previous {
        q.push("previous=true".into());
    }
    if o.timestamps {
        q.push("timestamps=true".into());
    }
    for (k, v) in [("tailLines", o.tail_lines), ("limitBytes", o.limit_bytes), ("sinceSeconds", o.since_seconds)] {
        if let Some(v) = v {
            q.push(format!("{k}={v}"));
        }
    }
    if let Some(t) = o.since_time {
        q.push(format!("sinceTime={}", t.strftime("%Y-%m-%dT%H:%M:%SZ")));
    }
    q.join("&")
}

fn agent_options(o: &LogOptions) -> AgentLogOptions {
    AgentLogOptions {
        follow: o.follow,
        tail_lines: o.tail_lines,
        since_time: o.since_time,
        since_seconds: o.since_seconds,
        timestamps: o.timestamps,
        previous: o.previous,
        limit_bytes: o.limit_bytes,
    }
}

fn log_error(e: LogError) -> ApiError {
    match e {
        LogError::InvalidContainer { .. } | LogError::Unavailable(_) => ApiError::bad_request(e.to_string()),
        LogError::Io(io) => ApiError::internal(io.to_string()),
    }
}

/// Reads a container's log from this machine's agent files.
pub async fn read_local(agent: &NodeAgent, pod: &Pod, opts: &LogOptions) -> Result<LogStream, ApiError> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let paths = agent.runtime.pod_paths(&uid);
    read_logs(&paths, pod, &opts.container, agent_options(opts)).await.map_err(log_error)
}

/// The API server's log source: local files for the local node, the node's agent otherwise.
pub struct ClusterLogs {
    pub local: Option<Arc<NodeAgent>>,
    /// An in-process client, to read Node objects.
    pub client: kube::Client,
    /// The server's client certificate and key (PEM) for the agents' log endpoints.
    pub client_cert: Arc<ClientCert>,
}

/// A client certificate and its key, PEM.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl LogSource for ClusterLogs {
    fn logs(&self, pod: &Value, opts: LogOptions) -> BoxFuture<'static, Result<LogStream, ApiError>> {
        let local = self.local.clone();
        let client = self.client.clone();
        let cert = self.client_cert.clone();
        let pod = runlet_codec::decode_pod(pod).map(|d| d.object);
        Box::pin(async move {
            let pod = pod.map_err(|e| ApiError::internal(e.to_string()))?;
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
            if let Some(agent) = local.filter(|a| a.node_name == node) {
                return read_local(&agent, &pod, &opts).await;
            }
            fetch_remote(&client, &cert, &node, &pod, &opts).await
        })
    }
}

async fn fetch_remote(
    client: &kube::Client,
    cert: &ClientCert,
    node_name: &str,
    pod: &Pod,
    opts: &LogOptions,
) -> Result<LogStream, ApiError> {
    let unreachable = |why: String| ApiError::bad_request(format!("cannot get logs from node {node_name:?}: {why}"));
    let node = Api::<Node>::all(client.clone())
        .get_opt(node_name)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| unreachable("no such node".into()))?;
    let st = node.status.clone().unwrap_or_default();
    let port = st.daemon_endpoints.and_then(|d| d.kubelet_endpoint).map(|e| e.port).filter(|p| *p > 0);
    let address = st.addresses.unwrap_or_default().into_iter().find(|a| a.type_ == "InternalIP").map(|a| a.address);
    let pin = node.metadata.annotations.as_ref().and_then(|a| a.get(LOG_CERT_ANNOTATION)).cloned();
    let port = port.and_then(|p| u16::try_from(p).ok());
    let (Some(port), Some(address), Some(pin)) = (port, address, pin) else {
        return Err(unreachable("the node publishes no log endpoint".into()));
    };
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let path = format!(
        "{}?{}",
        log_path(&ns, &pod.metadata.name.clone().unwrap_or_default(), &opts.container),
        query_of(opts)
    );
    let fetch = https_get(&address, port, &pin, cert, &path);
    let (status, body) = tokio::time::timeout(CONNECT_TIMEOUT, fetch)
        .await
        .map_err(|_| unreachable(format!("no answer from {address}:{port} within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(format!("{e:#}")))?;
    if status != 200 {
        // The agent answers errors as Status objects; pass their message on.
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let answer = serde_json::from_slice::<Value>(&bytes).ok();
        let field = |name: &str| answer.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str);
        let msg = field("message").map_or_else(|| String::from_utf8_lossy(&bytes).into_owned(), str::to_string);
        // The agent's own reason when it sent a Status with one, else the one upstream gives a bare code.
        let reason = field("reason").and_then(StatusReason::parse).unwrap_or_else(|| StatusReason::for_code(status));
        return Err(ApiError::new(status, reason, msg));
    }
    let stream = body.into_data_stream().map(|r| r.map_err(std::io::Error::other));
    Ok(stream.boxed())
}

/// How long the server waits for a node agent to connect and answer (the body may then stream for longer).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One HTTPS GET to a node agent whose certificate must have SHA-256 `pin` (hex).
async fn https_get(
    address: &str,
    port: u16,
    pin: &str,
    cert: &ClientCert,
    path: &str,
) -> anyhow::Result<(u16, hyper::body::Incoming)> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .context("client certificate")?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).context("client key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCert { sha256_hex: pin.to_ascii_lowercase(), provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    let tcp = tokio::net::TcpStream::connect((address, port)).await.context("connecting")?;
    let name = ServerName::try_from(address.to_string()).context("node address")?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.context("TLS")?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, address)
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    Ok((resp.status().as_u16(), resp.into_body()))
}

/// Accepts exactly one certificate, by its SHA-256; signatures are still checked.
#[derive(Debug)]
struct PinnedCert {
    sha256_hex: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

pub fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256_hex(end_entity.as_ref()) == self.sha256_hex {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the node's certificate does not match the fingerprint it published".into()))
        }
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
    fn query_round_trips_through_the_apiserver_parser() {
        let o = LogOptions {
            container: "c".into(),
            follow: true,
            previous: false,
            timestamps: true,
            tail_lines: Some(10),
            limit_bytes: Some(100),
            since_seconds: None,
            since_time: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        };
        let q = runlet_apiserver::negotiate::Query::parse(Some(&query_of(&o)));
        let pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(runlet_apiserver::logs::parse_options(&q, &pod).unwrap(), o);
    }
}
