//! Probe validation (upstream `validateProbe`, `validateHandler` and the liveness/readiness/startup rules), with
//! upstream's messages.

use runlet_codec::k8s_openapi::api::core::v1::Probe;
use runlet_codec::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::container::port_name_messages;
use crate::field::{FieldError, quote};
use crate::meta::nonnegative;

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// One probe of a container at `path` (e.g. `spec.containers[0].livenessProbe`).
pub(crate) fn validate_probe(probe: Option<&Probe>, kind: ProbeKind, path: &str) -> Vec<FieldError> {
    let Some(p) = probe else { return Vec::new() };
    let mut errs = validate_handler(p, path);
    for (field, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        errs.extend(nonnegative(i64::from(value.unwrap_or(0)), &format!("{path}.{field}")));
    }
    if let Some(grace) = p.termination_grace_period_seconds
        && grace <= 0
    {
        errs.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            grace.to_string(),
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let threshold = p.success_threshold.unwrap_or(0);
            if threshold != 1 {
                errs.push(FieldError::invalid(format!("{path}.successThreshold"), threshold.to_string(), "must be 1"));
            }
        }
        ProbeKind::Readiness => {
            if let Some(grace) = p.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    format!("{path}.terminationGracePeriodSeconds"),
                    grace.to_string(),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Exactly one of `exec`, `httpGet`, `tcpSocket`, `grpc`, each valid.
fn validate_handler(p: &Probe, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut handlers = 0;
    let mut handler = |name: &str, present: bool, check: &dyn Fn(&str) -> Vec<FieldError>| {
        if !present {
            return;
        }
        let field_path = format!("{path}.{name}");
        if handlers > 0 {
            errs.push(FieldError::forbidden(field_path, "may not specify more than 1 handler type"));
        } else {
            handlers += 1;
            errs.extend(check(&field_path));
        }
    };
    handler("exec", p.exec.is_some(), &|fp| {
        if p.exec.as_ref().and_then(|e| e.command.as_ref()).is_none_or(Vec::is_empty) {
            vec![FieldError::required(format!("{fp}.command"), "")]
        } else {
            Vec::new()
        }
    });
    handler("httpGet", p.http_get.is_some(), &|fp| {
        let Some(http) = &p.http_get else { return Vec::new() };
        let mut errs = Vec::new();
        if http.path.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{fp}.path"), ""));
        }
        errs.extend(port_num_or_name(&http.port, &format!("{fp}.port")));
        let scheme = http.scheme.as_deref().unwrap_or("");
        if !matches!(scheme, "HTTP" | "HTTPS") {
            errs.push(FieldError::unsupported(format!("{fp}.scheme"), scheme, &["HTTP", "HTTPS"]));
        }
        for header in http.http_headers.iter().flatten() {
            if header.name.is_empty() || !header.name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                errs.push(FieldError::invalid(
                    format!("{fp}.httpHeaders"),
                    quote(&header.name),
                    "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', \
                     regex used for validation is '[-A-Za-z0-9]+')",
                ));
            }
        }
        errs
    });
    handler("tcpSocket", p.tcp_socket.is_some(), &|fp| {
        p.tcp_socket.as_ref().map_or_else(Vec::new, |t| port_num_or_name(&t.port, &format!("{fp}.port")))
    });
    handler("grpc", p.grpc.is_some(), &|fp| {
        p.grpc.as_ref().map_or_else(Vec::new, |g| port_num_or_name(&IntOrString::Int(g.port), &format!("{fp}.port")))
    });
    if handlers == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// Upstream `ValidatePortNumOrName`.
fn port_num_or_name(port: &IntOrString, path: &str) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) if !(1..=65535).contains(n) => {
            vec![FieldError::invalid(path, n.to_string(), "must be between 1 and 65535, inclusive")]
        }
        IntOrString::Int(_) => Vec::new(),
        IntOrString::String(name) => {
            port_name_messages(name).into_iter().map(|m| FieldError::invalid(path, quote(name), m)).collect()
        }
    }
}
