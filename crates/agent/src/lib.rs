//! The runlet node agent, below the API: a process runtime that runs a pod's containers as local
//! processes ([`runtime`]), a per-pod worker that behaves like a kubelet for one pod and reports the pod's
//! status ([`worker`]), and the reading of container logs for `pods/{name}/log` ([`logs`]).
//!
//! The API-facing part (watching pods bound to the node, status patches, node registration, the lease
//! heartbeat) drives these through [`worker::PodWorker`], [`ProcessRuntime`] and [`logs::read_logs`].
//! Every container run is supervised by a shim process ([`shim_main`], exposed by the binary as a hidden
//! `shim` subcommand) that records the real exit status on disk, so an agent restart loses nothing.
//!
//! Containers run in a pod sandbox when the agent is root ([`runtime::sandbox`]): their own mount and PID
//! namespaces on an overlay of the host root, volumes at their mount paths, runlet's directories hidden.
//! Probes (exec, httpGet, tcpSocket, grpc) run as the kubelet runs them ([`worker::probe`] decides,
//! [`runtime::probe`] probes). What the process runtime does not do: the `image` is only recorded (a container
//! needs `command`, or `args` alone).

pub mod logs;
pub mod metrics;
pub mod node;
pub mod runtime;
pub mod worker;

pub use runtime::shim::shim_main;
pub use runtime::{ProcessRuntime, RuntimeConfig, ShimCommand};
