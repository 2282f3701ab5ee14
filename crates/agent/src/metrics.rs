//! The agent's per-node metrics, under the kubelet's names: pods running, containers started, and how long a
//! start takes; and, under runlet's own name, how many log bytes the containers left.

use std::path::Path;
use std::time::Duration;

use runlet_metrics::NodeLabels;

/// Counts a pod in `kubelet_running_pods` for as long as it lives (the pod's worker holds it).
pub struct RunningPod(NodeLabels);

impl RunningPod {
    pub fn new(node: &str) -> RunningPod {
        let labels = NodeLabels { node: node.to_string() };
        runlet_metrics::global().agent.running_pods.get_or_create(&labels).inc();
        RunningPod(labels)
    }
}

impl Drop for RunningPod {
    fn drop(&mut self) {
        runlet_metrics::global().agent.running_pods.get_or_create(&self.0).dec();
    }
}

/// A container of `node` started, `elapsed` after the start was asked for.
pub fn container_started(node: &str, elapsed: Duration) {
    let agent = &runlet_metrics::global().agent;
    let labels = NodeLabels { node: node.to_string() };
    agent.container_starts.get_or_create(&labels).inc();
    agent.container_start_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
}

/// A container run of `node` ended with its log at `current`: the bytes of its files still on disk (that one and
/// the rotated ones kept) count in `runlet_agent_container_log_bytes_total`. A file that cannot be read counts 0.
pub fn container_run_logged(node: &str, current: &Path) {
    let rotated = crate::runtime::logfile::rotated(current).into_iter().map(|(_, path)| path);
    let files = rotated.chain([current.to_path_buf()]);
    let bytes: u64 = files.filter_map(|path| std::fs::metadata(path).ok()).map(|m| m.len()).sum();
    let labels = NodeLabels { node: node.to_string() };
    runlet_metrics::global().agent.container_log_bytes.get_or_create(&labels).inc_by(bytes);
}
