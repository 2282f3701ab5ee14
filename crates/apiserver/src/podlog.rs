//! `GET pods/{name}/log`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::logs::{parse_options, waiting_error};
use crate::negotiate::Query;
use crate::resources::Resource;
use crate::state::ApiState;

/// True when the container has run at least once (so it has a log), per its status.
fn has_started(pod: &Value, container: &str, previous: bool) -> bool {
    let statuses = ["/status/containerStatuses", "/status/initContainerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten();
    for st in statuses {
        if st.get("name").and_then(Value::as_str) != Some(container) {
            continue;
        }
        if previous {
            return st.pointer("/lastState/terminated").is_some();
        }
        let state = st.get("state");
        let running_or_done = state.is_some_and(|s| s.get("running").is_some() || s.get("terminated").is_some());
        let restarted = st.get("restartCount").and_then(Value::as_i64).unwrap_or(0) > 0
            || st.pointer("/lastState/terminated").is_some();
        return running_or_done || restarted;
    }
    false
}

pub async fn handle(
    state: &ApiState,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    query: &Query,
) -> Result<Response, ApiError> {
    let pod = state.store.get(&resource.key(namespace, name)).ok_or_else(|| ApiError::not_found(resource, name))?;
    let opts = parse_options(query, &pod.value)?;
    if !has_started(&pod.value, &opts.container, opts.previous) {
        if opts.previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{}\" in pod \"{name}\" not found",
                opts.container
            )));
        }
        return Err(waiting_error(&pod.value, &opts.container));
    }
    let Some(source) = &state.logs else {
        return Err(waiting_error(&pod.value, &opts.container));
    };
    let stream = source.logs(&pod.value, opts).await?;
    Ok(([(http::header::CONTENT_TYPE, "text/plain")], Body::from_stream(stream)).into_response())
}
