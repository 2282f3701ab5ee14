//! Reusable controller machinery: informers (watch + local cache), an index of the pod cache by controller, and
//! a work queue with per-key serialization.

pub mod informer;
pub mod pod_index;
pub mod queue;

pub use informer::Informer;
pub use pod_index::PodIndex;
pub use queue::WorkQueue;
