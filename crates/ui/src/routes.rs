//! The `/ui/` routes: sign-in, the embedded pages, the API forwarded for a signed-in browser, the timeline.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use runlet_api::vocab::StatusReason;
use runlet_apiserver::ApiError;
use serde::Deserialize;
use tower::ServiceExt;

use crate::grants::{self, Grants, SESSION_COOKIE};
use crate::timeline;

/// The header every state-changing request from the pages carries. A cross-site form cannot set it, and a
/// cross-site script cannot send it without a CORS preflight the server never grants.
const UI_HEADER: &str = "x-runlet-ui";

/// Where the API is forwarded for a signed-in browser.
const API_PREFIX: &str = "/ui/api/k8s";

#[derive(Clone)]
struct Ui {
    /// The API routes without authentication (the in-process router), reached once a session is checked.
    api: Router,
    token: Arc<str>,
    sessions: Arc<Grants>,
    tickets: Arc<Grants>,
}

/// The UI's routes, all under `/ui`. `api` is the API router without authentication: the UI checks its own
/// session before forwarding anything to it. `token` is the server's bearer token.
pub fn router(api: Router, token: &str) -> Router {
    let ui = Ui {
        api,
        token: Arc::from(token),
        sessions: Arc::new(Grants::sessions()),
        tickets: Arc::new(Grants::tickets()),
    };
    Router::new()
        .route("/ui", get(|| async { see_other("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/login.css", get(|| async { asset("login.css") }))
        .route("/ui/logout", post(logout))
        .route("/ui/signin", get(signin))
        .route("/ui/tickets", post(ticket))
        .route("/ui/assets/{file}", get(signed_in_asset))
        .route("/ui/api/k8s/{*rest}", any(forward))
        .route("/ui/api/timeline/{namespace}/{name}", get(job_timeline))
        .with_state(ui)
}

/// The embedded files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/index.html")),
    ("login.css", "text/css; charset=utf-8", include_bytes!("../assets/login.css")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("timeline.js", "text/javascript; charset=utf-8", include_bytes!("../assets/timeline.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
];

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => {
            let mut response = Body::from(*bytes).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            with_page_headers(response)
        }
        None => ApiError::new(404, StatusReason::NotFound, "no such file").into_response(),
    }
}

/// What every page and file is served with: nothing from elsewhere, no framing, no caching of cluster data.
fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn see_other(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

impl Ui {
    /// Whether the request carries a live session cookie.
    fn signed_in(&self, headers: &HeaderMap) -> bool {
        session_of(headers).is_some_and(|s| self.sessions.check(s, Instant::now()))
    }

    /// A new session, and the answer that hands its cookie to the browser and sends it to the Jobs page.
    fn start_session(&self) -> Response {
        let session = self.sessions.issue(Instant::now());
        let cookie = format!(
            "{SESSION_COOKIE}={session}; Path=/ui; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
            grants::SESSION_LIFETIME.as_secs()
        );
        let mut response = see_other("/ui/");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }
}

fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| grants::cookie(h, SESSION_COOKIE))
}

async fn index(State(ui): State<Ui>, headers: HeaderMap) -> Response {
    if ui.signed_in(&headers) { asset("index.html") } else { see_other("/ui/login") }
}

/// The login form; after a wrong token or a spent link it says so (the page runs no script).
async fn login_page(RawQuery(query): RawQuery) -> Response {
    let page = String::from_utf8_lossy(include_bytes!("../assets/login.html"));
    let page = match query.as_deref() {
        Some("failed") => page.replace(r#"class="failed""#, r#"class="failed shown""#),
        Some("expired") => page.replace(r#"class="expired""#, r#"class="expired shown""#),
        _ => page.into_owned(),
    };
    let mut response = page.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    with_page_headers(response)
}

async fn signed_in_asset(State(ui): State<Ui>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    if !ui.signed_in(&headers) {
        return ApiError::unauthorized().into_response();
    }
    asset(&file)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(ui): State<Ui>, Form(form): Form<LoginForm>) -> Response {
    if grants::constant_time_eq(form.token.trim().as_bytes(), ui.token.as_bytes()) {
        ui.start_session()
    } else {
        see_other("/ui/login?failed")
    }
}

async fn logout(State(ui): State<Ui>, headers: HeaderMap) -> Response {
    if let Some(session) = session_of(&headers) {
        ui.sessions.revoke(session);
    }
    let mut response = see_other("/ui/login");
    let expired = format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct SigninQuery {
    ticket: String,
}

async fn signin(State(ui): State<Ui>, Query(q): Query<SigninQuery>) -> Response {
    if ui.tickets.check(&q.ticket, Instant::now()) { ui.start_session() } else { see_other("/ui/login?expired") }
}

/// `POST /ui/tickets` with the bearer token: a one-time sign-in link (path and query; the client knows the host).
async fn ticket(State(ui): State<Ui>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.trim().strip_prefix("Bearer ").or_else(|| h.trim().strip_prefix("bearer ")));
    match presented {
        Some(t) if grants::constant_time_eq(t.as_bytes(), ui.token.as_bytes()) => {
            let ticket = ui.tickets.issue(Instant::now());
            let body = serde_json::json!({ "path": format!("/ui/signin?ticket={ticket}") });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        _ => ApiError::unauthorized().into_response(),
    }
}

/// `/ui/api/k8s/<path>` → the API's `/<path>`, for a signed-in browser. Reads pass; anything else must carry
/// the UI's header (see [`UI_HEADER`]).
async fn forward(State(ui): State<Ui>, request: Request) -> Response {
    if !ui.signed_in(request.headers()) {
        return ApiError::unauthorized().into_response();
    }
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe && !request.headers().contains_key(UI_HEADER) {
        return ApiError::new(
            403,
            StatusReason::Forbidden,
            format!("requests from the UI carry the {UI_HEADER} header"),
        )
        .into_response();
    }
    let (mut parts, body) = request.into_parts();
    // The path as sent (still percent-encoded), so the API parses it exactly as it would from kubectl.
    let rest = parts.uri.path().strip_prefix(API_PREFIX).unwrap_or("/");
    let target = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    parts.uri = match target.parse() {
        Ok(uri) => uri,
        Err(_) => return ApiError::bad_request("invalid path").into_response(),
    };
    // The session cookie is the UI's business, not the API's.
    parts.headers.remove(header::COOKIE);
    match ui.api.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The largest list the timeline reads (pods of one Job, as JSON).
const LIST_LIMIT: usize = 512 * 1024 * 1024;

/// GETs `path` from the API in-process: the JSON body, or the API's own error answer.
async fn api_get(ui: &Ui, path: &str) -> Result<serde_json::Value, Response> {
    let request =
        Request::get(path).body(Body::empty()).map_err(|e| ApiError::internal(e.to_string()).into_response())?;
    let response = match ui.api.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !response.status().is_success() {
        return Err(response);
    }
    let bytes = axum::body::to_bytes(response.into_body(), LIST_LIMIT)
        .await
        .map_err(|e| ApiError::internal(format!("reading {path}: {e}")).into_response())?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(format!("decoding {path}: {e}")).into_response())
}

async fn job_timeline(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    if !ui.signed_in(&headers) {
        return ApiError::unauthorized().into_response();
    }
    match build_timeline(&ui, &namespace, &name).await {
        Ok(t) => axum::Json(t).into_response(),
        Err(response) => response,
    }
}

async fn build_timeline(ui: &Ui, namespace: &str, name: &str) -> Result<timeline::Timeline, Response> {
    let bad = |e: String| ApiError::internal(e).into_response();
    let job_json = api_get(ui, &format!("/apis/batch/v1/namespaces/{namespace}/jobs/{name}")).await?;
    let job = runlet_codec::decode_job(&job_json).map_err(|e| bad(e.to_string()))?.object;
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let pods_json = api_get(
        ui,
        &format!("/api/v1/namespaces/{namespace}/pods?labelSelector=batch.kubernetes.io/controller-uid%3D{uid}"),
    )
    .await?;
    let events_json =
        api_get(ui, &format!("/api/v1/namespaces/{namespace}/events?fieldSelector=involvedObject.uid%3D{uid}")).await?;
    let items = |list: &serde_json::Value| list["items"].as_array().cloned().unwrap_or_default();
    let mut pods = Vec::new();
    for item in items(&pods_json) {
        pods.push(runlet_codec::decode_pod(&item).map_err(|e| bad(e.to_string()))?.object);
    }
    let mut events = Vec::new();
    for item in items(&events_json) {
        events.push(runlet_codec::decode_event(&item).map_err(|e| bad(e.to_string()))?.object);
    }
    Ok(timeline::build(&job, &pods, &events, jiff::Timestamp::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "the-token";

    /// Stands in for the API: answers with what reached it (method, path and query, whether a cookie came).
    fn fake_api() -> Router {
        Router::new().fallback(|request: Request| async move {
            let cookie = request.headers().contains_key(header::COOKIE);
            format!("{} {} cookie={cookie}", request.method(), request.uri())
        })
    }

    async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    fn location(r: &Response) -> &str {
        r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    async fn text(r: Response) -> String {
        String::from_utf8_lossy(&axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap()).into_owned()
    }

    /// Signs in with the form and returns the `Cookie` header that carries the session.
    async fn sign_in(app: &Router) -> String {
        let form = [("content-type", "application/x-www-form-urlencoded")];
        let r = send(app, Method::POST, "/ui/login", &form, &format!("token={TOKEN}")).await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/ui/"));
        let set = r.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"), "{set}");
        assert!(!set.contains(TOKEN), "the token never goes into a cookie: {set}");
        set.split(';').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn nothing_without_a_session() {
        let app = router(fake_api(), TOKEN);
        let bearer = format!("Bearer {TOKEN}");
        // (method, path, headers, status, location)
        type Case<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str);
        let cases: Vec<Case> = vec![
            (Method::GET, "/ui", vec![], StatusCode::SEE_OTHER, "/ui/"),
            (Method::GET, "/ui/", vec![], StatusCode::SEE_OTHER, "/ui/login"),
            (Method::GET, "/ui/login", vec![], StatusCode::OK, ""),
            (Method::GET, "/ui/login.css", vec![], StatusCode::OK, ""),
            (Method::GET, "/ui/assets/app.js", vec![], StatusCode::UNAUTHORIZED, ""),
            (Method::GET, "/ui/api/k8s/api/v1/pods", vec![], StatusCode::UNAUTHORIZED, ""),
            // The UI's routes want the UI's session, not the API's bearer token.
            (
                Method::GET,
                "/ui/api/k8s/api/v1/pods",
                vec![("authorization", bearer.as_str())],
                StatusCode::UNAUTHORIZED,
                "",
            ),
            (Method::GET, "/ui/api/timeline/default/j", vec![], StatusCode::UNAUTHORIZED, ""),
            (Method::GET, "/ui/", vec![("cookie", "runlet-ui-session=made-up")], StatusCode::SEE_OTHER, "/ui/login"),
            (Method::POST, "/ui/tickets", vec![], StatusCode::UNAUTHORIZED, ""),
            (Method::POST, "/ui/tickets", vec![("authorization", "Bearer wrong")], StatusCode::UNAUTHORIZED, ""),
            (Method::GET, "/ui/signin?ticket=made-up", vec![], StatusCode::SEE_OTHER, "/ui/login?expired"),
        ];
        for (method, path, headers, status, want_location) in cases {
            let r = send(&app, method.clone(), path, &headers, "").await;
            assert_eq!((r.status(), location(&r)), (status, want_location), "{method} {path} {headers:?}");
        }
        let form = [("content-type", "application/x-www-form-urlencoded")];
        let r = send(&app, Method::POST, "/ui/login", &form, "token=wrong").await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/ui/login?failed"));
        assert!(r.headers().get(header::SET_COOKIE).is_none());
    }

    #[tokio::test]
    async fn a_session_reaches_the_api_and_changes_need_the_ui_header() {
        let app = router(fake_api(), TOKEN);
        let cookie = sign_in(&app).await;
        let r = send(&app, Method::GET, "/ui/", &[("cookie", &cookie)], "").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        // (method, path, with the UI header, status, what the API saw)
        let cases = [
            (
                Method::GET,
                "/ui/api/k8s/api/v1/pods?watch=true&labelSelector=a%3Db",
                false,
                200,
                "GET /api/v1/pods?watch=true&labelSelector=a%3Db cookie=false",
            ),
            (Method::PATCH, "/ui/api/k8s/apis/batch/v1/namespaces/d/jobs/j", false, 403, ""),
            (Method::DELETE, "/ui/api/k8s/apis/batch/v1/namespaces/d/jobs/j", false, 403, ""),
            (
                Method::GET,
                "/ui/api/k8s/api/v1/namespaces/d/pods/a%2Fb",
                false,
                200,
                "GET /api/v1/namespaces/d/pods/a%2Fb cookie=false",
            ),
            (
                Method::PATCH,
                "/ui/api/k8s/apis/batch/v1/namespaces/d/jobs/j",
                true,
                200,
                "PATCH /apis/batch/v1/namespaces/d/jobs/j cookie=false",
            ),
        ];
        for (method, path, ui_header, status, seen) in cases {
            let mut headers = vec![("cookie", cookie.as_str())];
            if ui_header {
                headers.push((UI_HEADER, "1"));
            }
            let r = send(&app, method.clone(), path, &headers, "").await;
            assert_eq!(r.status().as_u16(), status, "{method} {path}");
            if status == 200 {
                assert_eq!(text(r).await, seen, "{method} {path}");
            }
        }
        // Signing out ends the session.
        let r = send(&app, Method::POST, "/ui/logout", &[("cookie", &cookie)], "").await;
        assert_eq!(location(&r), "/ui/login");
        let r = send(&app, Method::GET, "/ui/api/k8s/api/v1/pods", &[("cookie", &cookie)], "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_sign_in_link_works_once() {
        let app = router(fake_api(), TOKEN);
        let bearer = format!("Bearer {TOKEN}");
        let r = send(&app, Method::POST, "/ui/tickets", &[("authorization", &bearer)], "").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let answer: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
        let path = answer["path"].as_str().unwrap().to_string();
        assert!(path.starts_with("/ui/signin?ticket=") && !path.contains(TOKEN), "{path}");
        let first = send(&app, Method::GET, &path, &[], "").await;
        assert_eq!(location(&first), "/ui/");
        let cookie = first.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        assert_eq!(send(&app, Method::GET, "/ui/", &[("cookie", &cookie)], "").await.status(), StatusCode::OK);
        let again = send(&app, Method::GET, &path, &[], "").await;
        assert_eq!(location(&again), "/ui/login?expired");
    }
}
