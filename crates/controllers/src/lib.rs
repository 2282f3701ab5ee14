//! runlet's controllers: the Job controller (the pure reconcile core in [`job`], carried out against the API by
//! [`job_controller`]), the CronJob controller ([`cronjob`] and [`cronjob_controller`]), the [`scheduler`], the garbage collector ([`gc`]) and the TTL-after-finished
//! controller ([`ttl`]), the node lifecycle controller and pod garbage collector ([`nodelifecycle`], pure, carried
//! out by [`node_lifecycle_controller`] and [`pod_gc`]), started together by [`manager`]. They are API clients; the machinery they share with
//! node agents (informers, work queue, events) is in `runlet-client`.

pub mod cronjob;
pub mod cronjob_controller;
pub mod gc;
pub mod job;
pub mod job_controller;
pub mod job_metrics;
pub mod manager;
pub mod node_lifecycle_controller;
pub mod nodelifecycle;
pub mod pod_gc;
pub mod pod_index;
pub mod pod_trim;
pub mod scheduler;
pub mod ttl;

/// Controllers whose pass looks at every pod (eviction, the pod garbage collector) run it at most once per this
/// period for pod changes: a Job finishing thousands of pods would otherwise make each pass cost O(pods) per
/// pod change. Node changes and their own timers still wake them at once.
pub(crate) const POD_CHANGE_SPACING: std::time::Duration = std::time::Duration::from_secs(1);
