//! `GET pods/{name}/log`: the query it takes and the seam to whoever holds the log files (the node agent).

use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::error::ApiError;
use crate::negotiate::Query;

/// Options of a log request (`kubectl logs` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<jiff::Timestamp>,
}

/// A stream of log bytes; an `Err` item ends the response early.
pub type LogStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Serves the logs of one container of one pod.
pub trait LogSource: Send + Sync {
    /// `pod` is the stored Pod object (with its status), `opts.container` already resolved.
    fn logs(&self, pod: &Value, opts: LogOptions) -> futures::future::BoxFuture<'static, Result<LogStream, ApiError>>;
}

/// Parses the query of a log request; `container` defaults to the pod's only (or default-annotated) container.
pub fn parse_options(query: &Query, pod: &Value) -> Result<LogOptions, ApiError> {
    let pod_name = crate::meta::name(pod);
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let init: Vec<&str> = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !containers.contains(&c) && !init.contains(&c) {
                return Err(ApiError::bad_request(format!("container {c} is not valid for pod {pod_name}")));
            }
            c.to_string()
        }
        None => {
            let default =
                pod.pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container").and_then(Value::as_str);
            match (default, containers.as_slice()) {
                (Some(d), _) => d.to_string(),
                (None, [only]) => (*only).to_string(),
                (None, _) => {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                        containers.join(" ")
                    )));
                }
            }
        }
    };
    let since_time = match query.get("sinceTime").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<jiff::Timestamp>().map_err(|e| ApiError::bad_request(format!("invalid sinceTime {s:?}: {e}")))?,
        ),
        None => None,
    };
    let opts = LogOptions {
        container,
        follow: query.flag("follow"),
        previous: query.flag("previous"),
        timestamps: query.flag("timestamps"),
        tail_lines: query.i64("tailLines")?,
        limit_bytes: query.i64("limitBytes")?,
        since_seconds: query.i64("sinceSeconds")?,
        since_time,
    };
    if opts.since_seconds.is_some() && opts.since_time.is_some() {
        return Err(ApiError::bad_request("at most one of sinceTime or sinceSeconds may be specified"));
    }
    for (name, v) in
        [("tailLines", opts.tail_lines), ("limitBytes", opts.limit_bytes), ("sinceSeconds", opts.since_seconds)]
    {
        if let Some(n) = v
            && (n < 0 || (name != "tailLines" && n == 0))
        {
            return Err(ApiError::bad_request(format!("{name}: Invalid value: {n}: must be greater than 0")));
        }
    }
    Ok(opts)
}

/// The 400 kubectl shows for a container that has not started yet.
pub fn waiting_error(pod: &Value, container: &str) -> ApiError {
    let pod_name = crate::meta::name(pod);
    let reason = container_waiting_reason(pod, container).unwrap_or_else(|| "ContainerCreating".into());
    ApiError::bad_request(format!("container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"))
}

fn container_waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    let st = statuses.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(container))?;
    st.pointer("/state/waiting/reason").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "pi-x"}, "spec": {"containers": [{"name": "pi"}]}})
    }

    #[test]
    fn parses_kubectl_flags() {
        let q = Query::parse(Some("container=pi&follow=true&tailLines=10&timestamps=true"));
        let o = parse_options(&q, &pod()).unwrap();
        assert_eq!(o.container, "pi");
        assert!(o.follow && o.timestamps);
        assert_eq!(o.tail_lines, Some(10));
    }

    #[test]
    fn defaults_to_the_only_container_and_rejects_unknown_ones() {
        let o = parse_options(&Query::default(), &pod()).unwrap();
        assert_eq!(o.container, "pi");
        let e = parse_options(&Query::parse(Some("container=nope")), &pod()).unwrap_err();
        assert_eq!(e.message, "container nope is not valid for pod pi-x");
        assert_eq!(
            waiting_error(&pod(), "pi").message,
            "container \"pi\" in pod \"pi-x\" is waiting to start: ContainerCreating"
        );
    }
}
