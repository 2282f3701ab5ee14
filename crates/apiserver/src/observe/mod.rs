//! Observability of the API server: request metrics (a middleware), `GET /metrics` (the process's registry plus
//! kube-state-metrics' object series computed from the store), the `/livez`, `/readyz` and `/healthz` checks,
//! and the audit log.

pub mod audit;
pub mod health;
pub mod object_series;
pub mod request_info;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use runlet_metrics::prometheus_client::metrics::gauge::Gauge;
use runlet_metrics::{RequestKindLabels, RequestLabels};

use crate::error::ApiError;
use crate::resources;
use crate::state::ApiState;
use request_info::RequestInfo;

/// Records every request in `apiserver_request_total`, `apiserver_request_duration_seconds`,
/// `apiserver_current_inflight_requests` and `apiserver_longrunning_requests`, and writes its audit event.
pub async fn instrument(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let received = jiff::Timestamp::now();
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let info = request_info::classify(req.method(), req.uri().path(), req.uri().query(), content_type);
    let metrics = &runlet_metrics::global().apiserver;
    let labels = labels(&info);
    let kind = RequestKindLabels { request_kind: if info.mutating { "mutating" } else { "readOnly" } };
    let inflight = GaugeGuard::new(metrics.inflight.get_or_create(&kind).clone());
    let audit = state.audit.as_ref().map(|log| log.begin(&req, &info, received));
    let (req, audit) = match audit {
        Some(pending) => {
            let (req, pending) = pending.read_request(req).await;
            (req, Some(pending))
        }
        None => (req, None),
    };
    let response = next.run(req).await;
    let code = response.status().as_u16();
    metrics.requests.get_or_create(&labels.with_code(code)).inc();
    if let Some(pending) = audit {
        pending.finish(code, info.long_running);
    }
    if info.long_running {
        // Counted while the stream is open: the guard goes with the body.
        drop(inflight);
        let open = GaugeGuard::new(metrics.longrunning.get_or_create(&labels).clone());
        let (parts, body) = response.into_parts();
        return Response::from_parts(parts, Body::new(Tracked { inner: body, _guard: open }));
    }
    metrics.request_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

fn labels(info: &RequestInfo) -> RequestLabels {
    RequestLabels {
        verb: info.verb.to_string(),
        dry_run: if info.dry_run { "All".into() } else { String::new() },
        group: info.group.clone(),
        version: info.version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        scope: info.scope.to_string(),
        component: "apiserver".into(),
    }
}

/// Holds a gauge one higher for as long as it lives.
struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A response body that keeps a guard until the body is finished or dropped.
struct Tracked {
    inner: Body,
    _guard: GaugeGuard,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `GET /metrics`: the process's families, then the object series of the store's Jobs, CronJobs and Pods; in
/// OpenMetrics when the client asks for it (Prometheus does), else in the classic text format.
pub async fn metrics(State(state): State<ApiState>, headers: http::HeaderMap) -> Response {
    let accept = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let openmetrics = accept.contains("application/openmetrics-text");
    let mut samples = Vec::new();
    // One object parsed at a time: a scrape of a server keeping 100,000 pods must not hold them all parsed.
    let mut series = |group: &str, plural: &str, of: fn(&serde_json::Value, &mut Vec<object_series::Sample>)| {
        if let Some(r) = resources::find(group, "v1", plural) {
            state.store.for_each(&r.collection_prefix(None), |o| of(&o.value, &mut samples));
        }
    };
    series("batch", "jobs", object_series::job);
    series("batch", "cronjobs", object_series::cronjob);
    series("", "pods", object_series::pod);
    let objects = object_series::registry(samples);
    let store = store_registry(&state);
    match runlet_metrics::encode(&[&store, &objects]) {
        Ok(text) if openmetrics => {
            (StatusCode::OK, [(http::header::CONTENT_TYPE, runlet_metrics::CONTENT_TYPE)], text).into_response()
        }
        Ok(text) => {
            let text = runlet_metrics::to_text_format(&text);
            (StatusCode::OK, [(http::header::CONTENT_TYPE, runlet_metrics::TEXT_CONTENT_TYPE)], text).into_response()
        }
        Err(e) => ApiError::internal(format!("encoding metrics: {e}")).into_response(),
    }
}

/// The store's gauges of this scrape: `apiserver_storage_objects` per resource, open watches, commits.
fn store_registry(state: &ApiState) -> runlet_metrics::prometheus_client::registry::Registry {
    use runlet_metrics::prometheus_client::metrics::counter::Counter;
    use runlet_metrics::prometheus_client::metrics::family::Family;
    use runlet_metrics::prometheus_client::registry::Registry;
    let mut registry = Registry::default();
    let objects = Family::<Vec<(&'static str, String)>, Gauge>::default();
    for resource in resources::RESOURCES {
        let prefix = resource.collection_prefix(None);
        let count = state.store.count(&prefix);
        let name = if resource.group.is_empty() {
            resource.plural.to_string()
        } else {
            format!("{}.{}", resource.plural, resource.group)
        };
        objects.get_or_create(&vec![("resource", name)]).set(count as i64);
    }
    registry.register(
        "apiserver_storage_objects",
        "Number of stored objects at the time of last check split by kind",
        objects,
    );
    let stats = state.store.stats();
    let watchers = Gauge::<i64>::default();
    watchers.set(stats.watchers as i64);
    registry.register("runlet_store_watchers", "Watch streams open on the store", watchers);
    let commits = Counter::<u64>::default();
    commits.inc_by(stats.commits);
    registry.register("runlet_store_commits", "Store transactions committed", commits);
    let writes = Counter::<u64>::default();
    writes.inc_by(stats.writes);
    registry.register("runlet_store_writes", "Writes committed to the store", writes);
    registry
}
