//! `/livez`, `/readyz` and `/healthz` in upstream's per-check form: `?verbose` lists every check,
//! `?exclude=<check>` (repeatable) skips checks, `/readyz/<check>` runs one.
//!
//! Checks are registered by whoever knows the component (the store's by the API server, the controllers' and
//! the local agent's by `runlet server`); [`report`] is the pure part that renders the results.

use std::sync::{Arc, RwLock};

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::StatusCode;

use crate::state::ApiState;

/// Which endpoints run a check. A live server may still be unready; only what says the process must be
/// restarted belongs in `livez`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Livez,
    Readyz,
    Healthz,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
            Endpoint::Healthz => "healthz",
        }
    }
}

type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone)]
pub struct Check {
    pub name: String,
    /// Also part of `/livez` (every check is part of `/readyz` and `/healthz`).
    pub live: bool,
    probe: Probe,
}

impl Check {
    pub fn new<F, Fut>(name: impl Into<String>, live: bool, probe: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Check { name: name.into(), live, probe: Arc::new(move || Box::pin(probe())) }
    }

    fn applies_to(&self, endpoint: Endpoint) -> bool {
        self.live || endpoint != Endpoint::Livez
    }
}

/// The registered checks; shared by every clone of the API state.
#[derive(Clone, Default)]
pub struct Checks(Arc<RwLock<Vec<Check>>>);

impl Checks {
    /// Adds `check`, replacing one of the same name.
    pub fn register(&self, check: Check) {
        let mut checks = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        checks.retain(|c| c.name != check.name);
        checks.push(check);
    }

    fn for_endpoint(&self, endpoint: Endpoint) -> Vec<Check> {
        let checks = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        checks.iter().filter(|c| c.applies_to(endpoint)).cloned().collect()
    }
}

/// The outcome of one check in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Excluded,
    Failed(String),
}

/// Renders a report as upstream does: the status code and the body. Without `verbose` a healthy server says
/// only `ok`; a failing one always lists the checks (the reasons go to the log, not to the client).
pub fn report(
    endpoint: Endpoint,
    results: &[(String, Outcome)],
    unknown_excludes: &[String],
    verbose: bool,
) -> (StatusCode, String) {
    let failed = results.iter().any(|(_, o)| matches!(o, Outcome::Failed(_)));
    if !failed && !verbose {
        return (StatusCode::OK, "ok".into());
    }
    let mut body = String::new();
    for (name, outcome) in results {
        match outcome {
            Outcome::Passed => body.push_str(&format!("[+]{name} ok\n")),
            Outcome::Excluded => body.push_str(&format!("[+]{name} excluded: ok\n")),
            Outcome::Failed(_) => body.push_str(&format!("[-]{name} failed: reason withheld\n")),
        }
    }
    if !unknown_excludes.is_empty() {
        let quoted: Vec<String> = unknown_excludes.iter().map(|e| format!("{e:?}")).collect();
        body.push_str(&format!("warn: some health checks cannot be excluded: no matches for {}\n", quoted.join(", ")));
    }
    let what = endpoint.name();
    if failed {
        body.push_str(&format!("{what} check failed\n"));
        (StatusCode::INTERNAL_SERVER_ERROR, body)
    } else {
        body.push_str(&format!("{what} check passed\n"));
        (StatusCode::OK, body)
    }
}

/// `verbose` and the `exclude` values of a query string (`exclude` may repeat).
fn parse_query(query: Option<&str>) -> (bool, Vec<String>) {
    let mut verbose = false;
    let mut excludes = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "verbose" => verbose = value != "false" && value != "0",
            "exclude" => excludes.push(value.to_string()),
            _ => {}
        }
    }
    (verbose, excludes)
}

async fn run(state: &ApiState, endpoint: Endpoint, query: Option<&str>) -> Response {
    let (verbose, excludes) = parse_query(query);
    let checks = state.health.for_endpoint(endpoint);
    let mut results = Vec::with_capacity(checks.len());
    for check in &checks {
        let outcome = if excludes.contains(&check.name) {
            Outcome::Excluded
        } else {
            match (check.probe)().await {
                Ok(()) => Outcome::Passed,
                Err(reason) => {
                    tracing::info!(check = %check.name, endpoint = endpoint.name(), %reason, "health check failed");
                    Outcome::Failed(reason)
                }
            }
        };
        results.push((check.name.clone(), outcome));
    }
    let unknown: Vec<String> = excludes.into_iter().filter(|e| !checks.iter().any(|c| &c.name == e)).collect();
    let (code, body) = report(endpoint, &results, &unknown, verbose);
    (code, [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn run_one(state: &ApiState, endpoint: Endpoint, name: &str) -> Response {
    let text = [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let Some(check) = state.health.for_endpoint(endpoint).into_iter().find(|c| c.name == name) else {
        return crate::error::ApiError::path_not_found().into_response();
    };
    match (check.probe)().await {
        Ok(()) => (StatusCode::OK, text, "ok".to_string()).into_response(),
        Err(reason) => {
            (StatusCode::INTERNAL_SERVER_ERROR, text, format!("internal server error: {reason}\n")).into_response()
        }
    }
}

pub async fn livez(State(state): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    run(&state, Endpoint::Livez, q.as_deref()).await
}

pub async fn readyz(State(state): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    run(&state, Endpoint::Readyz, q.as_deref()).await
}

pub async fn healthz(State(state): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    run(&state, Endpoint::Healthz, q.as_deref()).await
}

pub async fn livez_one(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    run_one(&state, Endpoint::Livez, &name).await
}

pub async fn readyz_one(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    run_one(&state, Endpoint::Readyz, &name).await
}

pub async fn healthz_one(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    run_one(&state, Endpoint::Healthz, &name).await
}

/// Where the store's check writes: outside every resource, one key per server (etcd's servers share the store).
const HEALTH_KEY_PREFIX: &str = "/registry/runlet/health/";

/// The checks every API server has: `ping`, and `store` (a write reaches durable storage and comes back).
pub fn register_builtin(state: &ApiState) {
    state.health.register(Check::new("ping", true, || async { Ok(()) }));
    let store = state.store.clone();
    let key = format!("{HEALTH_KEY_PREFIX}{}", uuid::Uuid::new_v4());
    state.health.register(Check::new("store", true, move || {
        let store = store.clone();
        let key = key.clone();
        async move {
            let value = serde_json::json!({"metadata": {}, "checked": jiff::Timestamp::now().to_string()});
            let written = match store.update(&key, value.clone(), None).await {
                Err(runlet_store::StoreError::NotFound { .. }) => store.create(&key, value).await,
                other => other,
            };
            written.map(|_| ()).map_err(|e| format!("the store refused a write: {e}"))
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(outcomes: &[(&str, Outcome)]) -> Vec<(String, Outcome)> {
        outcomes.iter().map(|(n, o)| (n.to_string(), o.clone())).collect()
    }

    #[test]
    fn reports_read_as_upstream_writes_them() {
        let healthy = results(&[("ping", Outcome::Passed), ("store", Outcome::Passed)]);
        let excluded = results(&[("ping", Outcome::Passed), ("store", Outcome::Excluded)]);
        let failing = results(&[("ping", Outcome::Passed), ("store", Outcome::Failed("disk full".into()))]);
        // (endpoint, results, unknown excludes, verbose, code, body)
        type Case<'a> = (Endpoint, &'a Vec<(String, Outcome)>, Vec<String>, bool, u16, &'a str);
        let cases: Vec<Case> = vec![
            (Endpoint::Readyz, &healthy, vec![], false, 200, "ok"),
            (Endpoint::Readyz, &healthy, vec![], true, 200, "[+]ping ok\n[+]store ok\nreadyz check passed\n"),
            (Endpoint::Livez, &excluded, vec![], true, 200, "[+]ping ok\n[+]store excluded: ok\nlivez check passed\n"),
            (
                Endpoint::Readyz,
                &healthy,
                vec!["nope".into()],
                true,
                200,
                "[+]ping ok\n[+]store ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n",
            ),
            (
                Endpoint::Healthz,
                &failing,
                vec![],
                false,
                500,
                "[+]ping ok\n[-]store failed: reason withheld\nhealthz check failed\n",
            ),
        ];
        for (endpoint, results, unknown, verbose, code, body) in cases {
            let (got_code, got_body) = report(endpoint, results, &unknown, verbose);
            assert_eq!((got_code.as_u16(), got_body.as_str()), (code, body), "{endpoint:?} verbose={verbose}");
        }
    }

    #[test]
    fn queries_name_verbosity_and_repeated_excludes() {
        let cases: &[(Option<&str>, bool, &[&str])] = &[
            (None, false, &[]),
            (Some("verbose"), true, &[]),
            (Some("verbose=true&exclude=store&exclude=agent"), true, &["store", "agent"]),
            (Some("verbose=false"), false, &[]),
        ];
        for (query, verbose, excludes) in cases {
            let (v, e) = parse_query(*query);
            assert_eq!(
                (v, e.iter().map(String::as_str).collect::<Vec<_>>()),
                (*verbose, excludes.to_vec()),
                "{query:?}"
            );
        }
    }
}
