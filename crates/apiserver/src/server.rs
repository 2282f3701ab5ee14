//! The HTTP surface: routes, bearer-token authentication, and serving over TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::discovery;
use crate::error::ApiError;
use crate::limits::{InflightLimits, limit_inflight};
use crate::observe::{self, health};
use crate::openapi;
use crate::pki::Pki;
use crate::rest::{self, json_response};
use crate::state::ApiState;

/// The API routes without authentication: what in-process clients (controllers, the local agent) talk to.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/version", get(|| async { json_response(StatusCode::OK, &discovery::version(), &[]) }))
        .route("/api", get(|| async { json_response(StatusCode::OK, &discovery::core_versions(), &[]) }))
        .route("/apis", get(|| async { json_response(StatusCode::OK, &discovery::group_list(), &[]) }))
        .route(crate::auth::csr::PATH, axum::routing::post(crate::auth::csr::create))
        .route("/api/{*rest}", any(rest::core))
        .route("/apis/{*rest}", any(rest::groups))
        .route("/openapi/v3", get(|| async { json_response(StatusCode::OK, &openapi::root(), &[]) }))
        .route("/openapi/v3/{*path}", get(openapi_doc))
        .route("/metrics", get(observe::metrics))
        .route("/healthz", get(health::healthz))
        .route("/healthz/{check}", get(health::healthz_one))
        .route("/livez", get(health::livez))
        .route("/livez/{check}", get(health::livez_one))
        .route("/readyz", get(health::readyz))
        .route("/readyz/{check}", get(health::readyz_one))
        .fallback(|| async { ApiError::path_not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), observe::instrument))
        .with_state(state)
}

async fn openapi_doc(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match openapi::document(&path) {
        Some(doc) => json_response(StatusCode::OK, doc, &[]),
        None => ApiError::path_not_found().into_response(),
    }
}

/// The routes behind authentication and authorization (see [`crate::auth`]) and the default in-flight limits:
/// what the network listener serves. `token` is the admin token.
pub fn authenticated_router(state: ApiState, token: &str) -> Router {
    authenticated_router_with(state, token, InflightLimits::default())
}

/// The routes behind authentication and authorization, then `inflight` (a request is authenticated before it
/// is counted, as upstream orders its filters).
pub fn authenticated_router_with(state: ApiState, token: &str, inflight: InflightLimits) -> Router {
    let store = state.store.clone();
    crate::auth::protect(limit_inflight(router(state), inflight), store, token)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Whose client certificates a listener verifies.
pub enum ClientCerts<'a> {
    /// None asked for.
    None,
    /// Certificates chaining to this CA (PEM) are verified and their holders known; clients without one may
    /// still use a token (the API).
    Optional(&'a str),
    /// A certificate chaining to this CA (PEM) is required (an agent's log endpoint).
    Required(&'a str),
}

/// A rustls server configuration for the PEM material, offering HTTP/2 and HTTP/1.1.
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    tls_config_with(pki, ClientCerts::None)
}

/// A rustls server configuration for the PEM material and `clients`, offering HTTP/2 and HTTP/1.1.
pub fn tls_config_with(pki: &Pki, clients: ClientCerts<'_>) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let mut certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    // The CA goes with the chain: an agent joining with `--ca-cert-hash` finds it there and pins it by its key.
    if pki.ca_pem != pki.cert_pem {
        for ca in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            certs.push(ca.map_err(|e| ServeError::Tls(e.to_string()))?);
        }
    }
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).map_err(|e| ServeError::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(&clients, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    clients: &ClientCerts<'_>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ServeError> {
    let (ca_pem, required) = match clients {
        ClientCerts::None => return Ok(rustls::server::WebPkiClientVerifier::no_client_auth()),
        ClientCerts::Optional(ca) => (ca, false),
        ClientCerts::Required(ca) => (ca, true),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| ServeError::Tls(format!("client CA: {e}")))?;
        roots.add(cert).map_err(|e| ServeError::Tls(format!("client CA: {e}")))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if required { builder } else { builder.allow_unauthenticated() };
    builder.build().map_err(|e| ServeError::Tls(format!("client CA: {e}")))
}

/// Limits of one listener, as kube-apiserver's secure serving sets them, plus a cap on connections. Each bounds
/// what a peer that connects and then does little can hold: a task, a socket, a file descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections served at once; one more is closed right after it is accepted.
    pub max_connections: usize,
    /// Time to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time from the handshake to the first request's head being read (upstream's `ReadHeaderTimeout`,
    /// 32 s). A later request's head must come within [`Self::idle_timeout`] of the one before ending.
    pub first_request_timeout: Duration,
    /// A connection with no request in flight for this long is closed (upstream's `IdleTimeout`, 90 s, for
    /// HTTP/1.1 keep-alive and HTTP/2 alike; pings do not count as activity).
    pub idle_timeout: Duration,
    /// HTTP/2 streams per connection (upstream's default, 250).
    pub http2_max_streams: u32,
    /// HTTP/2 pings: every this long, and the connection is closed when one is not answered in
    /// [`Self::http2_ping_timeout`] (a peer that vanished without a FIN).
    pub http2_ping_interval: Duration,
    pub http2_ping_timeout: Duration,
}

/// The connection cap when the process may open many files: well below the usual hard limit, leaving room for
/// the store, log files and containers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(32),
            idle_timeout: Duration::from_secs(90),
            http2_max_streams: 250,
            http2_ping_interval: Duration::from_secs(30),
            http2_ping_timeout: Duration::from_secs(15),
        }
    }
}

impl ListenerLimits {
    /// The defaults, with the connection cap lowered to half the file descriptors this process may open, so
    /// connections alone can never use them all up.
    pub fn for_this_process() -> Self {
        let mut limits = ListenerLimits::default();
        if let Ok((soft, _)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
            let half = usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16);
            limits.max_connections = limits.max_connections.min(half);
        }
        limits
    }
}

/// Accepts TLS connections on `listener` and serves `app` with [`ListenerLimits::for_this_process`] until the
/// task is dropped.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    serve_tls_with(listener, tls, app, ListenerLimits::for_this_process()).await
}

/// Accepts TLS connections on `listener` and serves `app` within `limits` until the task is dropped.
pub async fn serve_tls_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ListenerLimits,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors (or a transient error): wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "too many connections: closing a new one");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // The handshake verified the chain (when the listener asks for certificates): what it names holds for
            // every request of the connection.
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| crate::auth::certs::identity(cert.as_ref()))
                .map(crate::auth::PeerCertificate);
            serve_connection(stream, app, limits, peer, identity).await;
        });
    }
}

/// Serves one connection until it ends, the peer goes idle, or it never sends a first request.
async fn serve_connection<S>(
    stream: S,
    app: Router,
    limits: ListenerLimits,
    peer: SocketAddr,
    identity: Option<crate::auth::PeerCertificate>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let service = hyper_util::service::TowerToHyperService::new(CountRequests {
        inner: app,
        activity: activity.clone(),
        peer,
        identity,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog below times request heads instead: hyper's timeout would also cut keep-alive
        // connections idle between requests after this short time, not after the idle timeout.
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(limits.http2_ping_interval)
        .keep_alive_timeout(limits.http2_ping_timeout);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        // Armed before the check, so an end of a request between the check and the wait is not missed.
        let idle = activity.went_idle.notified();
        let wait = if closing {
            None
        } else if activity.in_flight() > 0 {
            // Busy: nothing to time until the last request in flight is done.
            Some(tokio::time::Instant::now() + Duration::from_secs(24 * 3600))
        } else {
            Some(activity.idle_deadline(&limits))
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = idle => {}
            _ = tokio::time::sleep_until(wait.unwrap_or_else(tokio::time::Instant::now)), if wait.is_some() => {
                if activity.in_flight() == 0 && tokio::time::Instant::now() >= activity.idle_deadline(&limits) {
                    tracing::debug!(%peer, "closing an idle connection");
                    // HTTP/2 gets a GOAWAY, HTTP/1.1 is closed between requests.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Largest request head accepted (upstream's `MaxHeaderBytes`, 1 MiB).
const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// What the idle watchdog of one connection knows: requests in flight, and when the last one ended.
#[derive(Default)]
struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    /// When the connection last went from busy to idle; None before its first request.
    last_idle: std::sync::Mutex<Option<tokio::time::Instant>>,
    started: std::sync::OnceLock<tokio::time::Instant>,
    /// Signalled each time the last request in flight ends.
    went_idle: tokio::sync::Notify,
}

impl Activity {
    fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// When the connection counts as idle for too long if nothing happens before then.
    fn idle_deadline(&self, limits: &ListenerLimits) -> tokio::time::Instant {
        let started = *self.started.get_or_init(tokio::time::Instant::now);
        let last_idle = *self.last_idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match last_idle {
            None => started + limits.first_request_timeout,
            Some(at) => at + limits.idle_timeout,
        }
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn end(&self) {
        // The last request out stamps the time; the watchdog measures idleness from there.
        if self.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            *self.last_idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(tokio::time::Instant::now());
            self.went_idle.notify_one();
        }
    }
}

/// A request counts as in flight from its arrival until its response body is finished or dropped (a watch is
/// in flight as long as it streams).
#[derive(Clone)]
struct CountRequests {
    inner: Router,
    activity: Arc<Activity>,
    /// The peer's address, put on each request for the audit log's `sourceIPs`.
    peer: SocketAddr,
    /// The verified client certificate's holder, put on each request for authentication.
    identity: Option<crate::auth::PeerCertificate>,
}

impl tower::Service<Request<hyper::body::Incoming>> for CountRequests {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<hyper::body::Incoming>) -> Self::Future {
        use tower::ServiceExt;
        req.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        if let Some(identity) = &self.identity {
            req.extensions_mut().insert(identity.clone());
        }
        let guard = InFlight::new(self.activity.clone());
        let app = self.inner.clone();
        Box::pin(async move {
            let response = app.oneshot(req.map(axum::body::Body::new)).await?;
            let (parts, body) = response.into_parts();
            Ok(Response::from_parts(parts, axum::body::Body::new(GuardedBody { inner: body, _guard: guard })))
        })
    }
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.begin();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request counted until it is done.
struct GuardedBody {
    inner: axum::body::Body,
    _guard: InFlight,
}

impl hyper::body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Far longer than any limit the listener tests set: what "eventually" means there.
    const PATIENCE: Duration = Duration::from_secs(10);

    struct Listening {
        addr: SocketAddr,
        connector: tokio_rustls::TlsConnector,
        _dir: tempfile::TempDir,
        _task: tokio::task::JoinHandle<()>,
    }

    /// A listener serving `app` within `limits` on a loopback port, and a TLS connector trusting it.
    async fn listen(app: Router, limits: ListenerLimits) -> Listening {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = crate::pki::ensure(dir.path(), Some("127.0.0.1".parse().expect("ip"))).expect("pki");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(serve_tls_with(listener, tls_config(&pki).expect("tls"), app, limits));
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.expect("ca pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        Listening { addr, connector, _dir: dir, _task: task }
    }

    type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

    impl Listening {
        /// A connection with its TLS handshake done.
        async fn connect(&self) -> std::io::Result<Tls> {
            let tcp = tokio::net::TcpStream::connect(self.addr).await?;
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            tokio::time::timeout(PATIENCE, self.connector.connect(name, tcp))
                .await
                .map_err(|_| std::io::Error::other("handshake hung"))?
        }
    }

    /// Reads until the server closes the connection; Err if it is still open after [`PATIENCE`].
    async fn closed_by_server(tls: &mut Tls) -> Result<Vec<u8>, &'static str> {
        let mut seen = Vec::new();
        let read = tokio::time::timeout(PATIENCE, async {
            let mut buf = [0u8; 4096];
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        read.map(|_| seen).map_err(|_| "still open")
    }

    fn short_limits() -> ListenerLimits {
        ListenerLimits {
            max_connections: 2,
            first_request_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(500),
            ..ListenerLimits::default()
        }
    }

    fn slow_app() -> Router {
        Router::new().route("/healthz", get(|| async { "ok" })).route(
            "/slow",
            get(|| async {
                // Longer than the idle timeout: a request in flight keeps its connection.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow"
            }),
        )
    }

    #[tokio::test]
    async fn a_connection_that_never_sends_a_request_is_closed() {
        let server = listen(slow_app(), short_limits()).await;
        let mut silent = server.connect().await.expect("connect");
        let started = tokio::time::Instant::now();
        assert_eq!(closed_by_server(&mut silent).await, Ok(Vec::new()));
        assert!(started.elapsed() >= Duration::from_millis(250), "closed before its deadline");
    }

    #[tokio::test]
    async fn idle_connections_are_closed_and_busy_ones_kept() {
        let server = listen(slow_app(), short_limits()).await;
        let mut tls = server.connect().await.expect("connect");
        // A request that lasts three idle timeouts is answered on a connection that stays open for it.
        tls.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, tls.read(&mut buf)).await.expect("answered").expect("read");
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Then, with nothing in flight, the keep-alive connection is closed after the idle timeout.
        let started = tokio::time::Instant::now();
        closed_by_server(&mut tls).await.expect("closed once idle");
        assert!(started.elapsed() >= Duration::from_millis(400), "closed before the idle timeout");
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_closed_until_one_ends() {
        let limits = ListenerLimits { first_request_timeout: PATIENCE * 3, ..short_limits() };
        let server = listen(slow_app(), limits).await;
        let first = server.connect().await.expect("first");
        let _second = server.connect().await.expect("second");
        // The third is accepted and closed at once: its handshake fails.
        assert!(server.connect().await.is_err(), "a third connection was served");
        // One ends; a new one is served again (the slot is freed once the server sees the close).
        drop(first);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(mut tls) = server.connect().await {
                tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
                let mut buf = vec![0u8; 1024];
                let n = tls.read(&mut buf).await.expect("read");
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no connection served after one ended");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn bearer_tokens_are_read_like_upstream() {
        use crate::auth::{bearer_token, constant_time_eq};
        let cases: &[(&str, Option<&str>)] = &[
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("  BEARER abc  ", Some("abc")),
            ("Bearer abc extra", Some("abc")),
            ("Bearer  abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("Basic abc", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_token(header), *want, "{header:?}");
        }
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
