//! Watch responses: a chunked stream of `{"type": ..., "object": ...}` lines (kubectl-wire.md §5).

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use runlet_store::{Event, EventType, StoreError};
use serde_json::{Value, json};

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

/// Turns one store event into the wire event this watcher sees, or nothing if it does not concern it.
fn translate(resource: &Resource, filter: &Filter, ev: &Event) -> Option<(&'static str, Value)> {
    let now = (*ev.object.value).clone();
    let matches_now = filter.matches(resource.kind, &now);
    let matched_before = ev.prev.as_deref().is_some_and(|p| filter.matches(resource.kind, p));
    let kind = match ev.kind {
        EventType::Deleted => matched_before.then_some("DELETED")?,
        EventType::Added => matches_now.then_some("ADDED")?,
        EventType::Modified => match (matched_before, matches_now) {
            (true, true) => "MODIFIED",
            (false, true) => "ADDED",
            (true, false) => "DELETED",
            (false, false) => return None,
        },
    };
    // A synthetic ADDED from a snapshot has no `prev` but is the current state: keep it.
    Some((kind, now))
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut bytes = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
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
    let stream = match state.store.watch(&prefix, from) {
        Ok(w) => w,
        Err(StoreError::Expired { requested, .. }) => {
            // Upstream answers 200 and sends one ERROR event; informers then re-list.
            let status = ApiError::expired(format!("too old resource version: {requested}")).status();
            let body = Body::from(line("ERROR", status));
            return ([(http::header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut first = true;
    let events = stream.filter_map(move |ev| {
        let out = translate(resource, &filter, &ev).map(|(kind, obj)| {
            let obj = match output {
                Output::Json => obj,
                Output::Table(include) => {
                    let t = crate::table::table(resource, [&obj], include, None, first);
                    first = false;
                    t
                }
            };
            Ok::<Bytes, std::convert::Infallible>(line(kind, obj))
        });
        futures::future::ready(out)
    });
    let body = match timeout {
        Some(t) => Body::from_stream(events.take_until(tokio::time::sleep(t))),
        None => Body::from_stream(events),
    };
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
