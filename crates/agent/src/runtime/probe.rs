//! Running one probe attempt, as the kubelet's probers do, with their words for what went wrong:
//!
//! - `exec`: the command runs inside the container (`runlet shim --exec`, [`super::exec`]); exit 0 is a
//!   success, anything else a failure whose output is the message.
//! - `httpGet`: `GET` on the pod IP (or `host`), HTTP or HTTPS without certificate verification, with the
//!   probe's headers; a status from 200 to 399 is a success. Redirects to the same host are followed (up to
//!   10); one to another host is a success with a warning.
//! - `tcpSocket`: a TCP connection that opens is a success.
//! - `grpc`: the standard health check (`grpc.health.v1.Health/Check`) answering `SERVING`.
//!
//! Pods share the host's network, so the pod IP is the node's (loopback on a single machine).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use runlet_codec::Container;
use runlet_codec::k8s_openapi::api::core::v1::Probe;
use runlet_codec::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::ShimCommand;
use crate::worker::probe::Outcome;

/// The `User-Agent` of the kubelet's HTTP probes.
const USER_AGENT: &str = "kube-probe/1.33";
/// How much of a response body or command output is kept (the kubelet's limit).
const MAX_OUTPUT: usize = 10 * 1024;
const MAX_REDIRECTS: usize = 10;

/// What one probe does, resolved against the container (named ports) and the pod IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command in the container whose current run is in `run_dir`.
    Exec {
        run_dir: PathBuf,
        command: Vec<String>,
    },
    Http {
        https: bool,
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Grpc {
        host: String,
        port: u16,
        service: String,
    },
}

/// The kubelet's `ResolveContainerPort`: a number, a named port of the container, or a number in a string
/// (with Go's words when it is none of them).
fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let n: i64 = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            match container.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str())) {
                Some(p) => i64::from(p.container_port),
                None => name.parse().map_err(|_| format!("strconv.Atoi: parsing {name:?}: invalid syntax"))?,
            }
        }
    };
    u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {n}"))
}

/// The action of `probe` for `container`, whose current run is in `run_dir`; `Err` is a probe that cannot
/// be run (reported as an error, not a failure).
pub fn resolve(probe: &Probe, container: &Container, pod_ip: &str, run_dir: PathBuf) -> Result<Action, String> {
    if let Some(exec) = &probe.exec {
        return Ok(Action::Exec { run_dir, command: exec.command.clone().unwrap_or_default() });
    }
    if let Some(http) = &probe.http_get {
        let host = http.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
        let headers = http.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        return Ok(Action::Http {
            https: http.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("HTTPS")),
            host,
            port: resolve_port(&http.port, container)?,
            path: http.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".to_string()),
            headers,
        });
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
        return Ok(Action::Tcp { host, port: resolve_port(&tcp.port, container)? });
    }
    if let Some(grpc) = &probe.grpc {
        let port =
            u16::try_from(grpc.port).ok().filter(|p| *p > 0).ok_or(format!("invalid port number: {}", grpc.port))?;
        return Ok(Action::Grpc { host: pod_ip.to_string(), port, service: grpc.service.clone().unwrap_or_default() });
    }
    Err(format!("missing probe handler for container {}", container.name))
}

/// Runs one attempt with the probe's timeout.
pub async fn run(action: &Action, timeout: Duration, shim: &ShimCommand) -> Outcome {
    match action {
        Action::Exec { run_dir, command } => exec(shim, run_dir, command, timeout).await,
        Action::Http { https, host, port, path, headers } => http(*https, host, *port, path, headers, timeout).await,
        Action::Tcp { host, port } => tcp(host, *port, timeout).await,
        Action::Grpc { host, port, service } => grpc(host, *port, service, timeout).await,
    }
}

/// `host:port`, with brackets around an IPv6 address (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Go's way of printing a failed system call: the C library's words, lower case.
fn os_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// Connects like Go's dialer, with its error texts (`dial tcp 127.0.0.1:9: connect: connection refused`).
async fn dial(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addr = join_host_port(host, port);
    let attempt = async {
        let mut last = None;
        for target in
            tokio::net::lookup_host(&addr).await.map_err(|e| format!("dial tcp: lookup {host}: {}", os_words(&e)))?
        {
            match TcpStream::connect(target).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((target, e)),
            }
        }
        Err(match last {
            Some((target, e)) => format!("dial tcp {}: connect: {}", go_addr(target), os_words(&e)),
            None => format!("dial tcp: lookup {host}: no such host"),
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

fn go_addr(addr: SocketAddr) -> String {
    join_host_port(&addr.ip().to_string(), addr.port())
}

async fn tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    match dial(host, port, timeout).await {
        Ok(_) => Outcome::Success,
        Err(e) => Outcome::Failure(e),
    }
}

/// `shim --exec <run dir> <timeout ms> <argv...>`: stdout and stderr into one pipe, as the kubelet combines
/// them. The shim kills the command at the timeout and then dies of SIGKILL itself, which is how a timeout
/// is told apart from a command that failed.
async fn exec(shim: &ShimCommand, run_dir: &std::path::Path, command: &[String], timeout: Duration) -> Outcome {
    let shown = format!("{:?}", command.join(" "));
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Outcome::Error(format!("creating a pipe: {e}")),
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Outcome::Error(format!("creating a pipe: {e}")),
    };
    let child = tokio::process::Command::new(&shim.program)
        .args(&shim.args)
        .arg(super::shim::EXEC_ARG)
        .arg(run_dir)
        .arg(timeout.as_millis().to_string())
        .args(command)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Error(format!("starting {}: {e}", shim.program.display())),
    };
    let mut output = Vec::new();
    let mut pipe =
        match tokio::net::unix::pipe::Receiver::from_file(std::fs::File::from(std::os::fd::OwnedFd::from(reader))) {
            Ok(p) => p,
            Err(e) => return Outcome::Error(format!("reading the probe command's output: {e}")),
        };
    // The shim enforces the timeout; this is a backstop for a shim that hangs.
    let waited = tokio::time::timeout(timeout + Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        let mut open = true;
        loop {
            tokio::select! {
                status = child.wait() => return status,
                n = pipe.read(&mut buf), if open => match n {
                    Ok(n) if n > 0 => output.extend_from_slice(&buf[..n.min(MAX_OUTPUT.saturating_sub(output.len()))]),
                    _ => open = false,
                },
            }
        }
    })
    .await;
    let status = match waited {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Outcome::Error(format!("waiting for the probe command: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            return Outcome::Failure(format!("command {shown} timed out"));
        }
    };
    // What is left in the pipe; a process the command left behind may hold it open, so only briefly.
    let mut buf = [0u8; 4096];
    while output.len() < MAX_OUTPUT {
        match tokio::time::timeout(Duration::from_millis(200), pipe.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => output.extend_from_slice(&buf[..n.min(MAX_OUTPUT - output.len())]),
            _ => break,
        }
    }
    let output = String::from_utf8_lossy(&output).into_owned();
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Success,
        (Some(_), _) => Outcome::Failure(output),
        (None, Some(9)) => Outcome::Failure(format!("command {shown} timed out")),
        (None, _) => Outcome::Failure(output),
    }
}

/// A TLS client that accepts any certificate, as the kubelet's HTTPS probes do.
fn insecure_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the status, the `Location` header, the body (up to
/// [`MAX_OUTPUT`]).
async fn exchange<S>(stream: S, request: http::Request<Empty<Bytes>>) -> Result<(u16, Option<String>, String), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut body = response.into_body();
    let mut data = Vec::new();
    while data.len() < MAX_OUTPUT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(chunk) = frame.into_data() {
                    data.extend_from_slice(chunk.chunk());
                }
            }
            _ => break,
        }
    }
    data.truncate(MAX_OUTPUT);
    driver.abort();
    Ok((status, location, String::from_utf8_lossy(&data).into_owned()))
}

async fn http(
    https: bool,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Outcome {
    let scheme = if https { "https" } else { "http" };
    let mut url = format!("{scheme}://{}{path}", join_host_port(host, port));
    let attempt = async {
        let (mut host, mut port, mut path, mut https) = (host.to_string(), port, path.to_string(), https);
        for _ in 0..=MAX_REDIRECTS {
            let (status, location, body) =
                http_once(https, &host, port, &path, headers).await.map_err(|e| format!("Get {url:?}: {e}"))?;
            // The redirects Go's client follows.
            let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
            let Some(location) = location.filter(|_| redirect) else {
                return Ok((status, body));
            };
            let Some(next) = follow(&url, &location) else { return Ok((status, body)) };
            // Only redirects to the same host are followed; the kubelet stops at any other.
            if next.host != host {
                return Ok((status, body));
            }
            (host, port, path, https) = (next.host, next.port, next.path, next.https);
            url = next.url;
        }
        Err(format!("Get {url:?}: stopped after {MAX_REDIRECTS} redirects"))
    };
    let result = tokio::time::timeout(timeout, attempt).await;
    match result {
        Err(_) => Outcome::Failure(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Ok(Err(e)) => Outcome::Failure(e),
        Ok(Ok((status, body))) => match status {
            200..=299 => Outcome::Success,
            300..=399 => Outcome::Warning(format!("Probe terminated redirects, Response body: {body}")),
            _ => Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")),
        },
    }
}

async fn http_once(
    https: bool,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, Option<String>, String), String> {
    let stream = dial(host, port, Duration::from_secs(3600)).await?;
    let mut builder = http::Request::get(path);
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        builder = builder.header(http::header::HOST, join_host_port(host, port));
    }
    if !has("user-agent") {
        builder = builder.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has("accept") {
        builder = builder.header(http::header::ACCEPT, "*/*");
    }
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    if !https {
        return exchange(stream, request).await;
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let tls =
        tokio_rustls::TlsConnector::from(insecure_tls()?).connect(name, stream).await.map_err(|e| e.to_string())?;
    exchange(tls, request).await
}

/// Where a redirect leads.
struct Next {
    url: String,
    https: bool,
    host: String,
    port: u16,
    path: String,
}

/// Resolves `location` against `base` (absolute URLs, absolute paths; relative paths against the base's
/// directory).
fn follow(base: &str, location: &str) -> Option<Next> {
    let parse = |url: &str| -> Option<Next> {
        let (https, rest) =
            if let Some(r) = url.strip_prefix("https://") { (true, r) } else { (false, url.strip_prefix("http://")?) };
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let default_port = if https { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()?),
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Some(Next { url: url.to_string(), https, host, port, path: path.to_string() })
    };
    if location.starts_with("http://") || location.starts_with("https://") {
        return parse(location);
    }
    let b = parse(base)?;
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = b.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    let scheme = if b.https { "https" } else { "http" };
    let url = format!("{scheme}://{}{path}", join_host_port(&b.host, b.port));
    Some(Next { url, path, ..b })
}

/// The gRPC health check over HTTP/2 without TLS, as the kubelet's gRPC probe makes it.
async fn grpc(host: &str, port: u16, service: &str, timeout: Duration) -> Outcome {
    let addr = join_host_port(host, port);
    let secs = timeout.as_secs();
    let connect = async {
        let stream = dial(host, port, timeout).await?;
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())
    };
    let (mut sender, conn) = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(c)) => c,
        _ => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service {addr:?} within {secs}s: context deadline exceeded"
            ));
        }
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let call = async {
        let mut message = Vec::new();
        if !service.is_empty() {
            message.push(0x0a); // field 1, length-delimited
            push_varint(&mut message, service.len() as u64);
            message.extend_from_slice(service.as_bytes());
        }
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(frame)))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        let headers = response.headers().clone();
        let collected = response.into_body().collect().await.map_err(|e| e.to_string())?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let body = collected.to_bytes();
        let field = |name: &str| {
            trailers.get(name).or_else(|| headers.get(name)).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        let code: u32 = field("grpc-status").and_then(|s| s.parse().ok()).unwrap_or(2);
        Ok::<_, String>((code, field("grpc-message").unwrap_or_default(), body))
    };
    let result = tokio::time::timeout(timeout, call).await;
    driver.abort();
    match result {
        Err(_) => Outcome::Failure(format!("timeout: health rpc did not complete within {secs}s")),
        Ok(Err(e)) => Outcome::Failure(format!("error: health rpc probe failed: {e}")),
        Ok(Ok((12, message, _))) => Outcome::Failure(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): rpc error: code = Unimplemented desc = {message}"
        )),
        Ok(Ok((0, _, body))) => match health_status(&body) {
            1 => Outcome::Success,
            status => Outcome::Failure(format!("service unhealthy (responded with {:?})", status_name(status))),
        },
        Ok(Ok((code, message, _))) => Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = {} desc = {message}",
            code_name(code)
        )),
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `status` field of a `HealthCheckResponse` in one gRPC frame (0, `UNKNOWN`, when absent).
fn health_status(body: &[u8]) -> u64 {
    let Some(message) = body.get(5..) else { return 0 };
    let mut i = 0;
    while i < message.len() {
        let key = message[i];
        i += 1;
        let mut value = 0u64;
        let mut shift = 0;
        while i < message.len() {
            let b = message[i];
            i += 1;
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        if key == 0x08 {
            return value;
        }
        if key & 0x07 != 0 {
            // Not a varint field: nothing else a HealthCheckResponse holds.
            return 0;
        }
    }
    0
}

fn status_name(status: u64) -> &'static str {
    match status {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, TCPSocketAction};

    fn container() -> Container {
        Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }]),
            ..Default::default()
        }
    }

    #[test]
    fn actions_table() {
        let http = |port: IntOrString, scheme: Option<&str>| Probe {
            http_get: Some(HTTPGetAction {
                port,
                path: Some("/healthz".into()),
                scheme: scheme.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        };
        let tcp = |port: IntOrString| Probe {
            tcp_socket: Some(TCPSocketAction { port, host: Some("10.0.0.9".into()) }),
            ..Default::default()
        };
        let cases: Vec<(Probe, Result<Action, String>)> = vec![
            (
                http(IntOrString::String("http".into()), Some("HTTPS")),
                Ok(Action::Http {
                    https: true,
                    host: "127.0.0.1".into(),
                    port: 8080,
                    path: "/healthz".into(),
                    headers: vec![],
                }),
            ),
            (
                http(IntOrString::String("9090".into()), None),
                Ok(Action::Http {
                    https: false,
                    host: "127.0.0.1".into(),
                    port: 9090,
                    path: "/healthz".into(),
                    headers: vec![],
                }),
            ),
            (
                http(IntOrString::String("metrics".into()), None),
                Err("strconv.Atoi: parsing \"metrics\": invalid syntax".into()),
            ),
            (http(IntOrString::Int(70000), None), Err("invalid port number: 70000".into())),
            (tcp(IntOrString::Int(5432)), Ok(Action::Tcp { host: "10.0.0.9".into(), port: 5432 })),
            (Probe::default(), Err("missing probe handler for container web".into())),
        ];
        for (probe, want) in cases {
            assert_eq!(resolve(&probe, &container(), "127.0.0.1", PathBuf::from("/run")), want, "{probe:?}");
        }
    }

    #[test]
    fn redirects_resolve_against_the_request() {
        let next = |base: &str, loc: &str| follow(base, loc).map(|n| (n.https, n.host, n.port, n.path, n.url));
        assert_eq!(
            next("http://127.0.0.1:8080/a/b", "/c"),
            Some((false, "127.0.0.1".into(), 8080, "/c".into(), "http://127.0.0.1:8080/c".into()))
        );
        assert_eq!(next("http://127.0.0.1:8080/a/b", "c").map(|n| n.3), Some("/a/c".into()));
        assert_eq!(
            next("http://127.0.0.1:8080/", "https://example.com/x"),
            Some((true, "example.com".into(), 443, "/x".into(), "https://example.com/x".into()))
        );
        assert_eq!(next("http://[::1]:81/", "/y").map(|n| (n.2, n.1)), Some((81, "::1".into())));
    }

    #[test]
    fn health_responses() {
        let frame = |msg: &[u8]| {
            let mut f = vec![0u8];
            f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
            f.extend_from_slice(msg);
            f
        };
        assert_eq!(health_status(&frame(&[0x08, 0x01])), 1);
        assert_eq!(health_status(&frame(&[0x08, 0x02])), 2);
        assert_eq!(health_status(&frame(&[])), 0);
        assert_eq!(status_name(2), "NOT_SERVING");
        let mut v = Vec::new();
        push_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }

    #[tokio::test]
    async fn tcp_and_http_against_loopback_listeners() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let second = Duration::from_secs(1);
        assert_eq!(
            tcp("127.0.0.1", refused, second).await,
            Outcome::Failure(format!("dial tcp 127.0.0.1:{refused}: connect: connection refused"))
        );
        assert_eq!(
            http(false, "127.0.0.1", refused, "/", &[], second).await,
            Outcome::Failure(format!(
                "Get \"http://127.0.0.1:{refused}/\": dial tcp 127.0.0.1:{refused}: connect: connection refused"
            ))
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(tcp("127.0.0.1", port, second).await, Outcome::Success);
        // A server that answers each request with the status named by its path, and shows what it got.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                let log = log.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    log.lock().unwrap().push(request.clone());
                    let path = request.split(' ').nth(1).unwrap_or("/").to_string();
                    let reply = match path.as_str() {
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_string()
                        }
                        "/moved" => "HTTP/1.1 302 Found\r\nlocation: /200\r\ncontent-length: 0\r\n\r\n".to_string(),
                        "/away" => {
                            "HTTP/1.1 301 Moved\r\nlocation: http://example.invalid/\r\ncontent-length: 4\r\n\r\ngone"
                                .to_string()
                        }
                        p => format!("HTTP/1.1 {} X\r\ncontent-length: 0\r\n\r\n", p.trim_start_matches('/')),
                    };
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        let headers = vec![("X-Probe".to_string(), "yes".to_string())];
        let cases = [
            ("/200", Outcome::Success),
            ("/399", Outcome::Warning("Probe terminated redirects, Response body: ".into())),
            ("/moved", Outcome::Success),
            ("/away", Outcome::Warning("Probe terminated redirects, Response body: gone".into())),
            ("/400", Outcome::Failure("HTTP probe failed with statuscode: 400".into())),
            ("/503", Outcome::Failure("HTTP probe failed with statuscode: 503".into())),
            (
                "/slow",
                Outcome::Failure(format!(
                    "Get \"http://127.0.0.1:{port}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(http(false, "127.0.0.1", port, path, &headers, second).await, want, "{path}");
        }
        let requests = seen.lock().unwrap().clone();
        // The TCP probe's connection sent nothing; the first GET follows.
        let first = requests.iter().find(|r| r.starts_with("GET ")).unwrap().to_lowercase();
        assert!(first.contains("user-agent: kube-probe/1.33") && first.contains("accept: */*"), "{first}");
        assert!(first.contains("x-probe: yes"), "{first}");
        assert!(first.contains(&format!("host: 127.0.0.1:{port}")), "{first}");
    }
}
