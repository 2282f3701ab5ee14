//! Container resource requirements (upstream `ValidateContainerResourceRequirements`, without DRA claims):
//! resource names, quantities, and requests against limits.

use std::collections::BTreeMap;

use runlet_codec::Quantity;
use runlet_codec::k8s_openapi::api::core::v1::ResourceRequirements;

use crate::field::{FieldError, quote};
use crate::meta::NEGATIVE_MESSAGE;
use crate::names;
use crate::quantity::parse_quantity;

/// Resource names upstream knows without a domain prefix (`IsStandardResourceName`, abridged to the common ones).
fn is_standard_resource_name(name: &str) -> bool {
    const STANDARD: [&str; 18] = [
        "cpu",
        "memory",
        "ephemeral-storage",
        "storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    ];
    STANDARD.contains(&name) || is_huge_pages(name.trim_start_matches("requests.").trim_start_matches("limits."))
}

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_huge_pages(name)
}

/// Native resources are unprefixed or in the `kubernetes.io/` domain; everything else is an extended resource.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_huge_pages(name)
}

fn validate_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        names::qualified_name(name).into_iter().map(|m| FieldError::invalid(path, quote(name), m)).collect();
    if errs.is_empty() && !name.contains('/') && !is_standard_resource_name(name) {
        errs.push(FieldError::invalid(path, quote(name), "must be a standard resource type or fully qualified"));
    }
    if !name.contains('/') {
        if !is_standard_container_resource(name) {
            errs.push(FieldError::invalid(path, quote(name), "must be a standard resource for containers"));
        }
    } else if !is_native_resource(name)
        && (name.starts_with("requests.") || !names::qualified_name(&format!("requests.{name}")).is_empty())
    {
        errs.push(FieldError::invalid(path, quote(name), "doesn't follow extended resource name standard"));
    }
    errs
}

fn validate_quantity(name: &str, q: &Quantity, path: &str) -> Vec<FieldError> {
    match parse_quantity(&q.0) {
        // Upstream rejects this while decoding; runlet keeps quantities as strings and reports it here.
        Err(e) => vec![FieldError::invalid(path, quote(&q.0), e.to_string())],
        Ok(parsed) if parsed.is_negative() => vec![FieldError::invalid(path, quote(&q.0), NEGATIVE_MESSAGE)],
        Ok(parsed) if !is_native_resource(name) && !parsed.is_integer() => {
            vec![FieldError::invalid(path, q.0.clone(), "must be an integer")]
        }
        Ok(_) => Vec::new(),
    }
}

/// Requests and limits of one container.
pub(crate) fn validate_resources(resources: Option<&ResourceRequirements>, path: &str) -> Vec<FieldError> {
    let Some(resources) = resources else { return Vec::new() };
    let empty = BTreeMap::new();
    let limits = resources.limits.as_ref().unwrap_or(&empty);
    let requests = resources.requests.as_ref().unwrap_or(&empty);
    let (lim_path, req_path) = (format!("{path}.limits"), format!("{path}.requests"));
    let mut errs = Vec::new();
    let mut cpu_or_memory = false;
    let mut huge_pages = false;
    for (name, q) in limits {
        let item = format!("{lim_path}[{name}]");
        errs.extend(validate_resource_name(name, &item));
        errs.extend(validate_quantity(name, q, &item));
        huge_pages |= is_huge_pages(name);
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    for (name, q) in requests {
        let item = format!("{req_path}[{name}]");
        errs.extend(validate_resource_name(name, &item));
        errs.extend(validate_quantity(name, q, &item));
        match limits.get(name) {
            Some(limit) => {
                if let (Ok(request_value), Ok(limit_value)) = (parse_quantity(&q.0), parse_quantity(&limit.0)) {
                    if request_value != limit_value && !overcommit_allowed(name) {
                        errs.push(FieldError::invalid(
                            &req_path,
                            quote(&q.0),
                            format!("must be equal to {name} limit of {}", limit.0),
                        ));
                    } else if request_value > limit_value {
                        errs.push(FieldError::invalid(
                            &req_path,
                            quote(&q.0),
                            format!("must be less than or equal to {name} limit of {}", limit.0),
                        ));
                    }
                }
            }
            None if !overcommit_allowed(name) => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"));
            }
            None => {}
        }
        huge_pages |= is_huge_pages(name);
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    if huge_pages && !cpu_or_memory {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    errs
}
