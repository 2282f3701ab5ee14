//! Pod defaulting and validation.
//!
//! - [`defaults`]: defaulting on decode and what the registry and admission add on create.
//! - [`validate`]: pod spec, pod template and pod create validation (shared with Job templates), with
//!   volumes, security contexts and probes in their own modules.
//! - [`update`]: update and status-update rules and preparation.

mod container;
pub mod defaults;
mod probes;
mod resources;
mod security;
pub mod update;
pub mod validate;
mod volumes;

pub use defaults::{default_pod, default_pod_spec, default_pull_policy, prepare_for_pod_create, qos_class};
pub(crate) use resources::validate_resources;
pub use update::{prepare_for_pod_status_update, prepare_for_pod_update, validate_pod_status_update};
pub(crate) use validate::validate_tolerations;
pub use validate::{validate_pod_spec, validate_pod_template_spec};

use runlet_codec::Pod;

use crate::field::FieldError;
use crate::meta::dedupe;

/// Upstream `ValidatePodCreate`, duplicates removed as the API server's aggregate does.
pub fn validate_pod_create(pod: &Pod) -> Vec<FieldError> {
    dedupe(validate::validate_pod_create(pod))
}

/// Upstream `ValidatePodUpdate` (spec frozen except images, `activeDeadlineSeconds`, added tolerations, removed
/// scheduling gates; plus binding `nodeName` once, see [`update`]), duplicates removed.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    dedupe(update::validate_pod_update(new, old))
}

#[cfg(test)]
mod tests;
