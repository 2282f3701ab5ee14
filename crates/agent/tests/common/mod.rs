//! Shared helpers for the integration tests: a runtime rooted in a temp dir using the shim binary, and
//! small pod builders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use runlet_agent::runtime::{Launch, RunningContainer};
use runlet_agent::worker::{PodWorker, WorkerOptions};
use runlet_agent::{ProcessRuntime, RuntimeConfig, ShimCommand};
use runlet_codec::{Container, ObjectMeta, Pod, PodSpec, PodStatus};

pub fn shim() -> ShimCommand {
    ShimCommand { program: PathBuf::from(env!("CARGO_BIN_EXE_runlet-agent-shim")), args: vec![] }
}

pub fn runtime(root: &Path) -> ProcessRuntime {
    let mut config = RuntimeConfig::new(root, shim(), "node-1");
    config.cgroup_name = "runlet-test".to_string();
    config.host_ip = "10.1.2.3".to_string();
    ProcessRuntime::new(config).expect("runtime")
}

pub fn container(name: &str, command: &[&str]) -> Container {
    Container {
        name: name.to_string(),
        image: Some("busybox".to_string()),
        command: Some(command.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

pub fn sh(name: &str, script: &str) -> Container {
    container(name, &["sh", "-c", script])
}

pub fn pod(name: &str, policy: &str, containers: Vec<Container>) -> Pod {
    let uid = format!("{name}-{}", std::process::id());
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some("default".to_string()),
            uid: Some(uid),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.to_string()),
            containers,
            node_name: Some("node-1".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Adds an emptyDir `state` to the pod, mounted at the relative path `state` in every container: each run
/// starts from a fresh root (as a restarted container does), so what runs share lives there.
pub fn with_state_volume(mut pod: Pod) -> Pod {
    use runlet_codec::k8s_openapi::api::core::v1::VolumeMount;
    let spec = pod.spec.as_mut().expect("spec");
    for c in &mut spec.containers {
        let mount = VolumeMount { name: "state".into(), mount_path: "state".into(), ..Default::default() };
        c.volume_mounts.get_or_insert_with(Vec::new).push(mount);
    }
    let volume =
        runlet_codec::Volume { name: "state".into(), empty_dir: Some(Default::default()), ..Default::default() };
    spec.volumes.get_or_insert_with(Vec::new).push(volume);
    pod
}

pub fn fast_backoff() -> WorkerOptions {
    WorkerOptions {
        backoff: runlet_agent::worker::backoff::BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        },
        ..WorkerOptions::default()
    }
}

/// Runs a pod to its terminal phase (failing the test after `limit`).
pub async fn run_pod(rt: &ProcessRuntime, pod: Pod, limit: Duration) -> PodStatus {
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    tokio::time::timeout(limit, worker.wait()).await.expect("pod did not finish in time").expect("worker failed")
}

/// Starts one container directly through the runtime.
pub async fn start(rt: &ProcessRuntime, pod: &Pod, index: usize, attempt: u32) -> Launch {
    rt.prepare_pod(pod).expect("prepare pod");
    let container = &pod.spec.as_ref().unwrap().containers[index];
    let sources = runlet_agent::runtime::sources::Sources::default();
    let prepared = rt.prepare_container(pod, container, attempt, &sources, None).expect("prepare container");
    rt.start(pod.metadata.uid.as_deref().unwrap(), &container.name, attempt, prepared).await.expect("start")
}

pub fn started(launch: Launch) -> RunningContainer {
    match launch {
        Launch::Started(running) => running,
        Launch::Failed { record, .. } => panic!("container did not start: {record:?}"),
    }
}

/// The text of a run's log, without the CRI prefixes.
pub fn log_text(rt: &ProcessRuntime, pod: &Pod, container: &str, attempt: u32) -> String {
    let path = rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).log_file(container, attempt);
    let raw = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_, _, tag, text) = (parts.next(), parts.next(), parts.next(), parts.next().unwrap_or(""));
        out.push_str(text);
        if tag == Some("F") {
            out.push('\n');
        }
    }
    out
}

/// Removes a pod (processes, cgroups, directory) when dropped, so tests leave nothing behind.
pub struct Cleanup(pub ProcessRuntime, pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.remove_pod_blocking(&self.1);
    }
}

pub fn cleanup(rt: &ProcessRuntime, pod: &Pod) -> Cleanup {
    Cleanup(rt.clone(), pod.metadata.uid.clone().unwrap_or_default())
}
