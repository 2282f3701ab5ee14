//! runlet's controllers. For now: the pure reconcile core of the Job controller ([`job`]); the runners
//! that watch the API and apply its plans are built around it.

pub mod events;
pub mod gc;
pub mod job;
pub mod job_controller;
pub mod manager;
pub mod runtime;
pub mod scheduler;
pub mod ttl;
