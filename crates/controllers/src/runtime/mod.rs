//! Reusable controller machinery: informers (watch + local cache) and a work queue with per-key serialization.

pub mod informer;
pub mod queue;

pub use informer::Informer;
pub use queue::WorkQueue;
