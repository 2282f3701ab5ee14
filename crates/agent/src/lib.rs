//! The runlet node agent, below the API: a process runtime that runs a pod's containers as local
//! processes ([`runtime`]), a per-pod worker that behaves like a kubelet for one pod and reports the pod's
//! status ([`worker`]), and the reading of container logs for `pods/{name}/log` ([`logs`]).
//!
//! The API-facing part (watching pods bound to the node, status patches, node registration, the lease
//! heartbeat) drives these through [`worker::PodWorker`], [`ProcessRuntime`] and [`logs::read_logs`].
//! Every container run is supervised by a shim process ([`shim_main`], exposed by the binary as a hidden
//! `shim` subcommand) that records the real exit status on disk, so an agent restart loses nothing.
//!
//! What the process runtime does not do (no image, no namespaces): the `image` is only recorded; a
//! container needs `command` (or `args` alone); volume mounts are symlinks and work only for mount paths
//! inside the pod directory (see [`runtime::volumes`]); Secret/ConfigMap/resourceField env sources,
//! probes and restartable init containers (sidecars) are reported as `CreateContainerConfigError`
//! or ignored (probes: a running container is ready).

pub mod logs;
pub mod node;
pub mod runtime;
pub mod worker;

pub use runtime::shim::shim_main;
pub use runtime::{ProcessRuntime, RuntimeConfig, ShimCommand};
