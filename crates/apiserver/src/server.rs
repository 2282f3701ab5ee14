//! The HTTP surface: routes, bearer-token authentication, and serving over TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
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
use crate::observe::{self, audit::User, health};
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

/// The token every request from outside must carry as `Authorization: Bearer <token>`.
#[derive(Clone)]
struct Token(Arc<str>);

async fn require_token(State(token): State<Token>, mut req: Request, next: Next) -> Response {
    let presented = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), token.0.as_bytes()) => {
            req.extensions_mut().insert(User::token_holder());
            next.run(req).await
        }
        _ => ApiError::unauthorized().into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` header, read as upstream's bearer-token authenticator does:
/// the scheme is case-insensitive, the token is the second space-separated word and must not be empty.
fn bearer_token(header: &str) -> Option<&str> {
    let mut parts = header.trim().splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The routes behind bearer-token authentication: what the network listener serves.
pub fn authenticated_router(state: ApiState, token: &str) -> Router {
    require_bearer_token(router(state), token)
}

/// Puts any router behind the bearer token (the node agent's log endpoint uses it too).
pub fn require_bearer_token(router: Router, token: &str) -> Router {
    router.layer(middleware::from_fn_with_state(Token(Arc::from(token)), require_token))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A rustls server configuration for the PEM material, offering HTTP/2 and HTTP/1.1.
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).map_err(|e| ServeError::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Accepts TLS connections on `listener` and serves `app` until the task is dropped.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // A peer that never finishes the handshake (or never sends a request) must not hold a task forever.
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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
            // The peer's address, for the audit log's `sourceIPs`.
            let app = tower::ServiceExt::map_request(app, move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_like_upstream() {
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
