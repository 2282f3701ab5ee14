//! Node lifecycle, pure: when a silent node's conditions turn `Unknown` ([`health`]), the taints its `Ready`
//! condition implies ([`taints`]), when pods on a tainted node are evicted ([`eviction`]), and which pods are
//! force-deleted because no agent will confirm their end ([`podgc`]). The controllers that carry these out
//! against the API are [`crate::node_lifecycle_controller`] and [`crate::pod_gc`].

pub mod eviction;
pub mod health;
pub mod podgc;
pub mod taints;
