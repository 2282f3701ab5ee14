//! runlet's Prometheus metrics: one process-wide registry holding the families of every component (API server,
//! store, Job controller, node agent), named and labelled as upstream Kubernetes names them, so dashboards and
//! alerts written for a cluster read runlet unchanged.
//!
//! The families live in one registry per process, as upstream's `legacyregistry`: a component records into
//! [`global()`] and whoever serves `/metrics` encodes it with [`encode`], together with any series computed at
//! scrape time (the API server's object series).

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use prometheus_client;

/// The content type of [`encode`]'s text (OpenMetrics, which Prometheus asks for first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`to_text_format`]'s text: Prometheus' classic text format, what kube-apiserver serves.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text as Prometheus' classic text format (version 0.0.4), for clients that do not ask for
/// OpenMetrics (`kubectl get --raw /metrics`, older scrapers): a counter family is declared under the name of
/// its samples (`# TYPE apiserver_request_total counter`, as upstream prints it) and `# EOF` goes.
pub fn to_text_format(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|rest| rest.strip_suffix(" counter")) {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let declared = ["# TYPE ", "# HELP "].iter().find_map(|p| line.strip_prefix(p).map(|rest| (*p, rest)));
        match declared {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Every family of the process, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub apiserver: ApiServerMetrics,
    pub store: StoreMetrics,
    pub job_controller: JobControllerMetrics,
    pub agent: AgentMetrics,
}

/// The process's metrics, registered on first use.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// The OpenMetrics text of the process's registry followed by `extra` (series computed for this scrape), as one
/// exposition. Families without a series yet are left out (the crate writes no lonely `# TYPE`).
pub fn encode(extra: &[&Registry]) -> Result<String, std::fmt::Error> {
    use prometheus_client::encoding::text;
    let mut out = String::new();
    text::encode_registry(&mut out, &global().registry)?;
    for registry in extra {
        text::encode_registry(&mut out, registry)?;
    }
    text::encode_eof(&mut out)?;
    Ok(out)
}

fn histogram(buckets: &'static [f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

/// A family of histograms with fixed buckets (a plain fn pointer, so the family type can be named).
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Upstream's request latency buckets (`apiserver_request_duration_seconds`).
const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
];
/// Sync latencies of the Job controller (upstream: exponential from 4 ms, factor 2, 15 buckets).
const SYNC_BUCKETS: &[f64] =
    &[0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384, 32.768, 65.536];
/// fsync-bound commit latencies (etcd's `etcd_disk_wal_fsync_duration_seconds` buckets).
const COMMIT_BUCKETS: &[f64] =
    &[0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
/// Writes per group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Container start latency (the kubelet's `kubelet_pod_start_duration_seconds` buckets, shortened at the top).
const START_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

fn request_histogram() -> Histogram {
    histogram(REQUEST_BUCKETS)
}
fn sync_histogram() -> Histogram {
    histogram(SYNC_BUCKETS)
}
fn commit_histogram() -> Histogram {
    histogram(COMMIT_BUCKETS)
}
fn batch_histogram() -> Histogram {
    histogram(BATCH_BUCKETS)
}
fn start_histogram() -> Histogram {
    histogram(START_BUCKETS)
}

/// The labels upstream puts on `apiserver_request_total` (without `code`) and the duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub dry_run: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: String,
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestCodeLabels {
    pub verb: String,
    pub dry_run: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: String,
    pub component: String,
    pub code: String,
}

impl RequestLabels {
    pub fn with_code(&self, code: u16) -> RequestCodeLabels {
        RequestCodeLabels {
            verb: self.verb.clone(),
            dry_run: self.dry_run.clone(),
            group: self.group.clone(),
            version: self.version.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            scope: self.scope.clone(),
            component: self.component.clone(),
            code: code.to_string(),
        }
    }
}

/// `request_kind` of `apiserver_current_inflight_requests`: `readOnly` or `mutating`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestKindLabels {
    pub request_kind: &'static str,
}

pub struct ApiServerMetrics {
    /// `apiserver_request_total`
    pub requests: Family<RequestCodeLabels, Counter>,
    /// `apiserver_request_duration_seconds` (not for watches, as upstream: they last as long as the client wants).
    pub request_duration: HistogramFamily<RequestLabels>,
    /// `apiserver_current_inflight_requests`
    pub inflight: Family<RequestKindLabels, Gauge>,
    /// `apiserver_longrunning_requests`: open watches and log follows.
    pub longrunning: Family<RequestLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `sqlite` or `etcd`.
    pub backend: &'static str,
}

pub struct StoreMetrics {
    /// `runlet_store_commit_batch_size`: writes per group commit (one transaction, one fsync).
    pub commit_batch_size: HistogramFamily<BackendLabels>,
    /// `runlet_store_commit_duration_seconds`: one commit, its fsync included.
    pub commit_duration: HistogramFamily<BackendLabels>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `NonIndexed` or `Indexed`.
    pub completion_mode: &'static str,
    /// `success` or `error`.
    pub result: &'static str,
    /// `reconciling`, `tracking`, `pods_created` or `pods_deleted`, as upstream.
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishedLabels {
    pub completion_mode: &'static str,
    /// `succeeded` or `failed`.
    pub result: &'static str,
    /// The reason of the Failed or SuccessCriteriaMet condition (`BackoffLimitExceeded`, ...), or empty.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodsFinishedLabels {
    pub completion_mode: &'static str,
    /// `succeeded` or `failed`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailurePolicyLabels {
    /// `FailJob`, `Ignore` or `Count`.
    pub action: &'static str,
}

pub struct JobControllerMetrics {
    /// `job_controller_job_sync_duration_seconds`
    pub sync_duration: HistogramFamily<SyncLabels>,
    /// `job_controller_job_syncs_total`
    pub syncs: Family<SyncLabels, Counter>,
    /// `job_controller_job_finished_total`
    pub finished: Family<FinishedLabels, Counter>,
    /// `job_controller_job_pods_finished_total`
    pub pods_finished: Family<PodsFinishedLabels, Counter>,
    /// `job_controller_pod_failures_handled_by_failure_policy_total`
    pub failure_policy: Family<FailurePolicyLabels, Counter>,
    /// `job_controller_terminated_pods_tracking_finalizer_total` (`event`: add or delete)
    pub tracking_finalizer: Family<EventLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    pub node: String,
}

pub struct AgentMetrics {
    /// `kubelet_running_pods`
    pub running_pods: Family<NodeLabels, Gauge>,
    /// `kubelet_started_containers_total`
    pub container_starts: Family<NodeLabels, Counter>,
    /// `kubelet_container_start_duration_seconds`: from the start request to the process running.
    pub container_start_duration: HistogramFamily<NodeLabels>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let apiserver = ApiServerMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(request_histogram as fn() -> Histogram),
            inflight: Family::default(),
            longrunning: Family::default(),
        };
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code",
            apiserver.requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component",
            apiserver.request_duration.clone(),
        );
        registry.register(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request kind in last second",
            apiserver.inflight.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component",
            apiserver.longrunning.clone(),
        );
        // Both kinds exist from the start, so a dashboard sees 0 rather than no series.
        for kind in ["readOnly", "mutating"] {
            let _ = apiserver.inflight.get_or_create(&RequestKindLabels { request_kind: kind });
        }

        let store = StoreMetrics {
            commit_batch_size: Family::new_with_constructor(batch_histogram as fn() -> Histogram),
            commit_duration: Family::new_with_constructor(commit_histogram as fn() -> Histogram),
        };
        registry.register(
            "runlet_store_commit_batch_size",
            "Writes committed together in one store transaction (group commit)",
            store.commit_batch_size.clone(),
        );
        registry.register(
            "runlet_store_commit_duration_seconds",
            "Latency of one store commit, its fsync included",
            store.commit_duration.clone(),
        );

        let job_controller = JobControllerMetrics {
            sync_duration: Family::new_with_constructor(sync_histogram as fn() -> Histogram),
            syncs: Family::default(),
            finished: Family::default(),
            pods_finished: Family::default(),
            failure_policy: Family::default(),
            tracking_finalizer: Family::default(),
        };
        registry.register(
            "job_controller_job_sync_duration_seconds",
            "The time it took to sync a job",
            job_controller.sync_duration.clone(),
        );
        registry.register("job_controller_job_syncs", "The number of job syncs", job_controller.syncs.clone());
        registry.register(
            "job_controller_job_finished",
            "The number of finished jobs",
            job_controller.finished.clone(),
        );
        registry.register(
            "job_controller_job_pods_finished",
            "The number of finished Pods that are fully tracked",
            job_controller.pods_finished.clone(),
        );
        registry.register(
            "job_controller_pod_failures_handled_by_failure_policy",
            "The number of failed Pods handled by failure policy with respect to the failure policy action applied based on the matched rule",
            job_controller.failure_policy.clone(),
        );
        registry.register(
            "job_controller_terminated_pods_tracking_finalizer",
            "The number of terminated pods (phase=Failed|Succeeded) that have the finalizer batch.kubernetes.io/job-tracking",
            job_controller.tracking_finalizer.clone(),
        );

        let agent = AgentMetrics {
            running_pods: Family::default(),
            container_starts: Family::default(),
            container_start_duration: Family::new_with_constructor(start_histogram as fn() -> Histogram),
        };
        registry.register(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            agent.running_pods.clone(),
        );
        registry.register(
            "kubelet_started_containers",
            "Cumulative number of containers started",
            agent.container_starts.clone(),
        );
        registry.register(
            "kubelet_container_start_duration_seconds",
            "Duration in seconds from a container's start request to its process running",
            agent.container_start_duration.clone(),
        );

        Metrics { registry, apiserver, store, job_controller, agent }
    }
}

/// A gauge of `f64` (for timestamps and the object series).
pub type FloatGauge = Gauge<f64, AtomicU64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_encode_with_upstream_names_and_types() {
        let m = global();
        let labels = RequestLabels {
            verb: "LIST".into(),
            dry_run: String::new(),
            group: "batch".into(),
            version: "v1".into(),
            resource: "jobs".into(),
            subresource: String::new(),
            scope: "namespace".into(),
            component: "apiserver".into(),
        };
        m.apiserver.requests.get_or_create(&labels.with_code(200)).inc();
        m.apiserver.request_duration.get_or_create(&labels).observe(0.01);
        let text = encode(&[]).unwrap();
        let cases = [
            "# TYPE apiserver_request counter",
            "# TYPE apiserver_request_duration_seconds histogram",
            "# TYPE apiserver_current_inflight_requests gauge",
            "apiserver_current_inflight_requests{request_kind=\"mutating\"} 0",
        ];
        for want in cases {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        let total = text.lines().find(|l| l.starts_with("apiserver_request_total{") && l.contains("resource=\"jobs\""));
        let total = total.unwrap_or_else(|| panic!("no apiserver_request_total for jobs in:\n{text}"));
        assert!(total.contains("code=\"200\"") && total.contains("verb=\"LIST\""), "{total}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_classic_text_format_names_counters_by_their_samples() {
        let open = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{code=\"200\"} 1\n\
                    # HELP b Open.\n# TYPE b gauge\nb 2\n# EOF\n";
        let want = "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{code=\"200\"} 1\n\
                    # HELP b Open.\n# TYPE b gauge\nb 2\n";
        assert_eq!(to_text_format(open), want);
    }
}
