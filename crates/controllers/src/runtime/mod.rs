//! Controller machinery: the shared pieces of `runlet-client` (informers, work queue) and the pod index the Job
//! controller keeps beside its pod informer.

pub mod pod_index;

pub use pod_index::PodIndex;
pub use runlet_client::informer;
pub use runlet_client::{Informer, WorkQueue};
