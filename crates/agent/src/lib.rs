//! The runlet node agent, below the API: a process runtime that runs a pod's containers as local
//! processes ([`runtime`]), a per-pod worker that behaves like a kubelet for one pod and reports the pod's
//! status ([`worker`]), and the reading of container logs for `pods/{name}/log` ([`logs`]).
//!
//! The API-facing part (watching pods bound to the node, status patches, node registration, the lease
//! heartbeat) drives these through [`worker::PodWorker`] and [`logs::read_logs`].

pub mod logs;
mod quantity;
pub mod runtime;
pub mod worker;

pub use runtime::shim::shim_main;
pub use runtime::{ProcessRuntime, RuntimeConfig, ShimCommand};
