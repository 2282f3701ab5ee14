//! Watch responses: a chunked stream of `{"type": ..., "object": ...}` lines (kubectl-wire.md §5).

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use runlet_store::{Event, EventType, StoreError};
use serde_json::{Value, json};

use runlet_api::vocab::StatusReason;

use crate::error::ApiError;
use crate::filter::Filter;
use crate::negotiate::Output;
use crate::resources::Resource;
use crate::state::ApiState;

/// Where a watch starts: `None` = current state first (synthetic ADDED), then changes.
pub fn start_revision(resource_version: Option<&str>) -> Result<Option<i64>, ApiError> {
    match resource_version {
        None | Some("") | Some("0") => Ok(None),
        Some(s) => {
            s.parse::<i64>().map(Some).map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
        }
    }
}

/// Turns one store event into the wire event this watcher sees, or nothing if it does not concern it. An object
/// that stops matching the selectors is sent as DELETED in its previous state (stamped with the event's
/// resourceVersion), as upstream does. Nothing is copied unless the event is sent.
fn translate<'a>(resource: &Resource, filter: &Filter, ev: &'a Event) -> Option<(&'static str, Cow<'a, Value>)> {
    let now = ev.object.value.as_ref();
    let matches_now = || filter.matches(resource.kind, now);
    let matched_before = || ev.prev.as_deref().is_some_and(|p| filter.matches(resource.kind, p));
    match ev.kind {
        EventType::Deleted => matched_before().then_some(("DELETED", Cow::Borrowed(now))),
        // A synthetic ADDED from a snapshot has no `prev` but is the current state: keep it.
        EventType::Added => matches_now().then_some(("ADDED", Cow::Borrowed(now))),
        EventType::Modified => match (matched_before(), matches_now()) {
            (true, true) => Some(("MODIFIED", Cow::Borrowed(now))),
            (false, true) => Some(("ADDED", Cow::Borrowed(now))),
            (true, false) => {
                let mut last = ev.prev.as_deref().cloned().unwrap_or(Value::Null);
                crate::meta::set_meta(&mut last, "resourceVersion", json!(ev.object.mod_revision.to_string()));
                Some(("DELETED", Cow::Owned(last)))
            }
            (false, false) => None,
        },
    }
}

/// One line of a watch stream: `{"type": ..., "object": ...}` and a newline, serialized without copying.
fn line(kind: &str, object: &Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct WireEvent<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut bytes = serde_json::to_vec(&WireEvent { kind, object }).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The response of `?watch=true` on a collection.
pub fn respond(
    state: &ApiState,
    resource: &'static Resource,
    prefix: String,
    filter: Filter,
    output: Output,
    from: Option<i64>,
    timeout: Option<Duration>,
) -> Response {
    if let Some(r) = from
        && r > state.store.revision()
    {
        // A revision this server never handed out (a restored store, a client of another store): answering with
        // a stream would silently skip everything up to it.
        let current = state.store.revision();
        return ApiError::new(
            504,
            StatusReason::Timeout,
            format!("Too large resource version: {r}, current: {current}"),
        )
        .into_response();
    }
    let stream = match state.store.watch(&prefix, from) {
        Ok(w) => w,
        Err(StoreError::Expired { requested, .. }) => {
            // Upstream answers 200 and sends one ERROR event; informers then re-list.
            let status = ApiError::expired(format!("too old resource version: {requested}")).status();
            let body = Body::from(line("ERROR", &status));
            return ([(http::header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut first = true;
    let events = stream.filter_map(move |ev| {
        let out = translate(resource, &filter, &ev).map(|(kind, obj)| {
            let bytes = match output {
                Output::Json => line(kind, &obj),
                Output::Table(include) => {
                    let t = crate::table::table(resource, [obj.as_ref()], include, None, first);
                    first = false;
                    line(kind, &t)
                }
            };
            Ok::<Bytes, std::convert::Infallible>(bytes)
        });
        futures::future::ready(out)
    });
    let body = match timeout {
        Some(t) => Body::from_stream(events.take_until(tokio::time::sleep(t))),
        None => Body::from_stream(events),
    };
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
