//! Request limits of the network listener, as kube-apiserver's `--max-requests-inflight` (400) and
//! `--max-mutating-requests-inflight` (200): past them a request is answered at once with 429 and
//! `Retry-After: 1` instead of queueing work the server cannot keep up with. A counted request taking longer
//! than the request timeout (60 s) is answered 504, as upstream's non-long-running timeout does.
//!
//! Long-running requests (watches, pod logs) are not counted, as upstream's long-running check leaves them out:
//! they last as long as the client wants, and would otherwise starve every short request. What bounds them is
//! the listener's connection cap ([`crate::server::ListenerLimits`]).
//!
//! In-process clients (the controllers and the local agent) call the router directly and are not limited, like
//! upstream's loopback client, which is exempt as a member of `system:masters`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::Method;
use tokio::sync::Semaphore;

use runlet_api::vocab::StatusReason;

use crate::error::ApiError;

/// Upstream's default `--max-requests-inflight`.
pub const DEFAULT_MAX_REQUESTS_INFLIGHT: usize = 400;
/// Upstream's default `--max-mutating-requests-inflight`.
pub const DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT: usize = 200;
/// Upstream's default `--request-timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// What a refused client is told to wait, in seconds (upstream's `Retry-After` for this filter).
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// How many requests of each kind may be served at once; 0 is no limit, as upstream reads its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflightLimits {
    /// Reads (`GET`, `HEAD`, `OPTIONS`) that are not long-running.
    pub read_only: usize,
    /// Writes (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub mutating: usize,
    /// How long a request that is not long-running may take (upstream's `--request-timeout`, 60 s); past it
    /// the client gets 504 and the permit is returned. The work may still complete, as upstream warns.
    pub request_timeout: std::time::Duration,
}

/// A pool of `limit` permits (0: as many as a semaphore holds, which no server reaches).
fn pool(limit: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(if limit == 0 { Semaphore::MAX_PERMITS } else { limit }))
}

impl Default for InflightLimits {
    fn default() -> Self {
        InflightLimits {
            read_only: DEFAULT_MAX_REQUESTS_INFLIGHT,
            mutating: DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Which pool a request is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    ReadOnly,
    Mutating,
    /// Watches and logs: served without a permit.
    LongRunning,
}

/// Classifies a request by method, path and query, the way upstream's `BasicLongRunningRequestCheck` and
/// non-mutating verbs do.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> RequestClass {
    let watch_query = query.is_some_and(|q| {
        q.split('&').any(|pair| matches!(pair.split_once('='), Some(("watch", "true" | "1"))) || pair == "watch")
    });
    let watch_path = path.split('/').any(|segment| segment == "watch");
    let log = path.ends_with("/log");
    if watch_query || watch_path || log {
        return RequestClass::LongRunning;
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => RequestClass::ReadOnly,
        _ => RequestClass::Mutating,
    }
}

#[derive(Clone)]
struct Pools {
    read_only: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
    request_timeout: std::time::Duration,
}

/// Puts `router` behind the in-flight limits.
pub fn limit_inflight(router: axum::Router, limits: InflightLimits) -> axum::Router {
    let pools = Pools {
        read_only: pool(limits.read_only),
        mutating: pool(limits.mutating),
        request_timeout: limits.request_timeout,
    };
    router.layer(middleware::from_fn_with_state(pools, admit))
}

async fn admit(State(pools): State<Pools>, req: Request, next: Next) -> Response {
    let pool = match classify(req.method(), req.uri().path(), req.uri().query()) {
        RequestClass::LongRunning => return next.run(req).await,
        RequestClass::ReadOnly => &pools.read_only,
        RequestClass::Mutating => &pools.mutating,
    };
    // The permit lives until the handler has answered; a full pool answers at once rather than queueing.
    let Ok(_permit) = pool.clone().try_acquire_owned() else {
        return too_many_requests();
    };
    match tokio::time::timeout(pools.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            504,
            StatusReason::Timeout,
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        )
        .into_response(),
    }
}

/// Upstream's answer past the limit: 429, `Retry-After`, and its message, as a `Status`.
pub fn too_many_requests() -> Response {
    let error = ApiError::too_many_requests(RETRY_AFTER_SECONDS);
    let mut response = error.into_response();
    response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::any;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;
    use tower::ServiceExt;

    #[test]
    fn requests_are_classified_like_upstream() {
        // (method, path, query, class)
        let cases: &[(Method, &str, Option<&str>, RequestClass)] = &[
            (Method::GET, "/api/v1/pods", None, RequestClass::ReadOnly),
            (Method::HEAD, "/healthz", None, RequestClass::ReadOnly),
            (Method::GET, "/api/v1/pods", Some("watch=true"), RequestClass::LongRunning),
            (Method::GET, "/api/v1/pods", Some("labelSelector=a&watch=1"), RequestClass::LongRunning),
            (Method::GET, "/api/v1/pods", Some("watch=false"), RequestClass::ReadOnly),
            (Method::GET, "/api/v1/watch/namespaces/default/pods", None, RequestClass::LongRunning),
            (Method::GET, "/api/v1/namespaces/default/pods/p/log", Some("follow=true"), RequestClass::LongRunning),
            (Method::GET, "/api/v1/namespaces/default/pods/p/log", None, RequestClass::LongRunning),
            // A pod named "watch" or "log" is not a watch or a log.
            (Method::GET, "/api/v1/namespaces/default/pods/logs", None, RequestClass::ReadOnly),
            (Method::POST, "/apis/batch/v1/namespaces/default/jobs", None, RequestClass::Mutating),
            (Method::PATCH, "/apis/batch/v1/namespaces/default/jobs/j/status", None, RequestClass::Mutating),
            (Method::DELETE, "/api/v1/namespaces/x", None, RequestClass::Mutating),
            (Method::PUT, "/api/v1/namespaces/x", None, RequestClass::Mutating),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(classify(method, path, *query), *want, "{method} {path} {query:?}");
        }
    }

    /// A router whose every request counts itself in `entered`, then waits for `release`.
    fn held_router(entered: Arc<AtomicUsize>, release: Arc<Notify>, limits: InflightLimits) -> axum::Router {
        let handler = move || {
            let (entered, release) = (entered.clone(), release.clone());
            async move {
                let notified = release.notified();
                entered.fetch_add(1, Ordering::SeqCst);
                notified.await;
                "done"
            }
        };
        limit_inflight(axum::Router::new().route("/{*rest}", any(handler)), limits)
    }

    fn request(method: Method, uri: &str) -> Request {
        Request::builder().method(method).uri(uri).body(Body::empty()).expect("request")
    }

    /// Yields until `done` holds, failing after ten seconds.
    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_full_pool_answers_429_and_the_other_pool_is_untouched() {
        let (entered, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        let app = held_router(
            entered.clone(),
            release.clone(),
            InflightLimits { read_only: 1, mutating: 1, request_timeout: std::time::Duration::from_secs(600) },
        );
        // One read and one write hold their pools.
        let read = tokio::spawn(app.clone().oneshot(request(Method::GET, "/api/v1/pods")));
        let write = tokio::spawn(app.clone().oneshot(request(Method::POST, "/api/v1/pods")));
        until("the held requests never started", || entered.load(Ordering::SeqCst) == 2).await;
        // The next of each kind is refused at once while they are held.
        for method in [Method::GET, Method::PUT] {
            let response = app.clone().oneshot(request(method, "/api/v1/pods/p")).await.expect("response");
            assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
            let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
            let status: serde_json::Value = serde_json::from_slice(&body).expect("Status");
            assert_eq!(status["kind"], "Status");
            assert_eq!(status["code"], 429);
            assert_eq!(status["reason"], "TooManyRequests");
            assert_eq!(status["message"], "Too many requests, please try again later.");
            assert_eq!(status["details"]["retryAfterSeconds"], 1);
        }
        // Long-running requests pass however full the pools are.
        let watch = tokio::spawn(app.clone().oneshot(request(Method::GET, "/api/v1/pods?watch=true")));
        until("the watch was not let in", || entered.load(Ordering::SeqCst) == 3).await;
        release.notify_waiters();
        for held in [read, write, watch] {
            assert_eq!(held.await.expect("task").expect("response").status(), http::StatusCode::OK);
        }
        // Released, each pool serves again.
        let again = tokio::spawn(app.clone().oneshot(request(Method::POST, "/api/v1/pods")));
        until("no permit after the release", || entered.load(Ordering::SeqCst) == 4).await;
        release.notify_waiters();
        assert_eq!(again.await.expect("task").expect("response").status(), http::StatusCode::OK);
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_gets_504_and_frees_its_permit() {
        let (entered, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        let limits =
            InflightLimits { read_only: 1, mutating: 1, request_timeout: std::time::Duration::from_millis(100) };
        let app = held_router(entered.clone(), release.clone(), limits);
        let response = app.clone().oneshot(request(Method::POST, "/api/v1/pods")).await.expect("response");
        assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let status: serde_json::Value = serde_json::from_slice(&body).expect("Status");
        assert_eq!(status["reason"], "Timeout");
        assert_eq!(
            status["message"],
            "Timeout: request did not complete within requested timeout - context deadline exceeded"
        );
        // The permit came back: the next write is served (and held) rather than refused.
        let next = tokio::spawn(app.clone().oneshot(request(Method::POST, "/api/v1/pods")));
        until("the next write was not let in", || entered.load(Ordering::SeqCst) == 2).await;
        release.notify_waiters();
        let _ = next.await;
        // Long-running requests have no such timeout.
        let watch = tokio::spawn(app.clone().oneshot(request(Method::GET, "/api/v1/pods?watch=true")));
        until("the watch was not let in", || entered.load(Ordering::SeqCst) == 3).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!watch.is_finished(), "a watch was cut at the request timeout");
        release.notify_waiters();
        assert_eq!(watch.await.expect("task").expect("response").status(), http::StatusCode::OK);
    }
}
