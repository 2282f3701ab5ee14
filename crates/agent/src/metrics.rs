//! The agent's per-node metrics, under the kubelet's names: pods running, containers started, and how long a
//! start takes.

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
