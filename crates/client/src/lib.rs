//! Client-side machinery for the API's clients (controllers and node agents), in the manner of kube-rs's runtime:
//!
//! - [`informer`]: a watch plus local cache that also tells subscribers what changed;
//! - [`queue`]: a work queue with per-key serialization, delays and back-off;
//! - [`errors`]: what an API error means (not found, conflict, namespace terminating), by reason and cause;
//! - [`events`]: an event recorder that never blocks its caller and merges repeats;
//! - [`leader`]: Lease-based leader election, so that of several servers one runs the controllers.
//!
//! Nothing here knows about Jobs or pods in particular.

pub mod errors;
pub mod events;
pub mod informer;
pub mod leader;
pub mod queue;

pub use errors::ApiErrorExt;
pub use informer::Informer;
pub use queue::WorkQueue;
