//! Image garbage collection on a node, as the kubelet's: every five minutes, when the image file system is at
//! least 85% full (`--image-gc-high-threshold`), images no container of the node's pods uses go, least recently
//! used first, until 80% (`--image-gc-low-threshold`).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::ImageService;

/// The kubelet's `ImageGCPeriod`, and the defaults of `imageGCHighThresholdPercent` and
/// `imageGCLowThresholdPercent`.
pub const PERIOD: Duration = Duration::from_secs(300);
pub const HIGH_PERCENT: u8 = 85;
pub const LOW_PERCENT: u8 = 80;

/// When collection starts (disk use at or above `high_percent`) and where it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub high_percent: u8,
    pub low_percent: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { high_percent: HIGH_PERCENT, low_percent: LOW_PERCENT }
    }
}

impl Thresholds {
    /// The kubelet's checks of its two flags, in its words. 100 turns collection off.
    pub fn new(high_percent: u8, low_percent: u8) -> Result<Thresholds, String> {
        if high_percent > 100 {
            return Err(format!(
                "invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) {high_percent} must be between 0 and 100, inclusive"
            ));
        }
        if low_percent > 100 {
            return Err(format!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low_percent} must be between 0 and 100, inclusive"
            ));
        }
        if low_percent >= high_percent {
            return Err(format!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low_percent} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) {high_percent}"
            ));
        }
        Ok(Thresholds { high_percent, low_percent })
    }
}

/// The ids of images some container run of a pod still on the node was started from (running or not: its
/// pod may restart it), read from the runs' launch files.
pub fn images_in_use(agent_root: &Path) -> HashSet<String> {
    let mut used = HashSet::new();
    let Ok(pods) = std::fs::read_dir(agent_root.join("pods")) else { return used };
    for pod in pods.flatten() {
        let Ok(containers) = std::fs::read_dir(pod.path().join("containers")) else { continue };
        for container in containers.flatten() {
            let Ok(runs) = std::fs::read_dir(container.path()) else { continue };
            for run in runs.flatten() {
                let Ok(text) = std::fs::read(run.path().join(crate::runtime::state::LAUNCH_FILE)) else { continue };
                let Ok(launch) = serde_json::from_slice::<serde_json::Value>(&text) else { continue };
                let root = launch.pointer("/sandbox/image_root").and_then(serde_json::Value::as_str);
                if let Some(hex) = root.and_then(|r| Path::new(r).file_name()).and_then(|n| n.to_str()) {
                    used.insert(format!("sha256:{hex}"));
                }
            }
        }
    }
    used
}

/// Forever: collects the node's unused images when its disk fills up.
pub async fn run(images: ImageService, agent_root: std::path::PathBuf, thresholds: Thresholds) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let store = images.store().clone();
        let root = agent_root.clone();
        let result = tokio::task::spawn_blocking(move || {
            store.collect_garbage(thresholds.high_percent, thresholds.low_percent, &images_in_use(&root))
        })
        .await;
        match result {
            Ok(Ok(deleted)) if !deleted.is_empty() => tracing::info!(?deleted, "image garbage collection"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "image garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "image garbage collection panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_checked_as_the_kubelet_checks_them() {
        assert_eq!(Thresholds::new(85, 80), Ok(Thresholds::default()));
        assert!(Thresholds::new(100, 0).is_ok());
        assert_eq!(
            Thresholds::new(101, 80).unwrap_err(),
            "invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) 101 must be between 0 and 100, inclusive"
        );
        assert_eq!(
            Thresholds::new(80, 80).unwrap_err(),
            "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) 80 must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) 80"
        );
    }

    #[test]
    fn runs_of_present_pods_hold_their_images() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("pods/u1/containers/c/0");
        std::fs::create_dir_all(&run).unwrap();
        let hex = "ab".repeat(32);
        let launch = serde_json::json!({"sandbox": {"image_root": format!("/x/images/rootfs/{hex}")}});
        std::fs::write(run.join("launch.json"), launch.to_string()).unwrap();
        let host_run = dir.path().join("pods/u2/containers/c/0");
        std::fs::create_dir_all(&host_run).unwrap();
        std::fs::write(host_run.join("launch.json"), r#"{"sandbox": {"image_root": null}}"#).unwrap();
        assert_eq!(images_in_use(dir.path()), [format!("sha256:{hex}")].into());
        assert!(images_in_use(&dir.path().join("nothing")).is_empty());
    }
}
