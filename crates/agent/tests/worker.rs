//! Pod workers with real processes: phases, restarts, deletion, deadlines, init containers, recovery.

mod common;

use std::time::{Duration, Instant};

use common::*;
use runlet_agent::worker::PodWorker;
use runlet_codec::{ContainerStatus, EnvVar, EnvVarSource, PodStatus};

fn only_container(status: &PodStatus) -> &ContainerStatus {
    &status.container_statuses.as_ref().expect("container statuses")[0]
}

fn terminated(cs: &ContainerStatus) -> (i32, String) {
    let t = cs.state.as_ref().and_then(|s| s.terminated.as_ref()).expect("terminated state");
    (t.exit_code, t.reason.clone().unwrap_or_default())
}

fn condition(status: &PodStatus, type_: &str) -> (String, Option<String>) {
    let c = status.conditions.iter().flatten().find(|c| c.type_ == type_).expect("condition");
    (c.status.clone(), c.reason.clone())
}

#[tokio::test]
async fn never_pods_end_succeeded_or_failed_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let cases = [
        (0, "Succeeded", "Completed", "PodCompleted"),
        (1, "Failed", "Error", "PodFailed"),
        (42, "Failed", "Error", "PodFailed"),
    ];
    for (code, phase, reason, ready_reason) in cases {
        let pod = pod(&format!("never-{code}"), "Never", vec![sh("c", &format!("exit {code}"))]);
        let _cleanup = cleanup(&rt, &pod);
        let status = run_pod(&rt, pod, Duration::from_secs(10)).await;
        assert_eq!(status.phase.as_deref(), Some(phase), "exit {code}");
        let cs = only_container(&status);
        assert_eq!(terminated(cs), (code, reason.to_string()));
        assert_eq!((cs.restart_count, cs.ready, cs.started), (0, false, Some(false)));
        assert!(cs.container_id.as_deref().is_some_and(|id| id.starts_with("runlet://")));
        assert_eq!(condition(&status, "Ready"), ("False".to_string(), Some(ready_reason.to_string())));
        assert_eq!(condition(&status, "PodReadyToStartContainers").0, "False");
        assert!(status.start_time.is_some());
    }
}

#[tokio::test]
async fn status_goes_pending_running_succeeded_and_events_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("phases", "Never", vec![sh("c", "sleep 0.3")]);
    let _cleanup = cleanup(&rt, &pod);
    let mut worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut events = worker.take_events().unwrap();
    let mut status = worker.status();
    let mut phases = Vec::new();
    let collect = async {
        loop {
            let phase = status.borrow_and_update().phase.clone().unwrap_or_default();
            if phases.last() != Some(&phase) {
                phases.push(phase.clone());
            }
            if phase == "Succeeded" || status.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect).await.unwrap();
    assert!(phases.ends_with(&["Running".to_string(), "Succeeded".to_string()]), "{phases:?}");
    worker.wait().await.unwrap();
    let mut reasons = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.field_path.as_deref(), Some("spec.containers{c}"));
        reasons.push((event.reason, event.message));
    }
    assert_eq!(
        reasons,
        [("Created", "Created container: c".to_string()), ("Started", "Started container c".to_string()),]
    );
}

#[tokio::test]
async fn on_failure_restarts_in_place_with_crash_loop_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    // Fails twice (exit 3), then succeeds; the counter lives in an emptyDir (each run has a fresh root).
    let script =
        "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo run $n; [ $n -ge 3 ] || exit 3";
    let pod = common::with_state_volume(pod("onfailure", "OnFailure", vec![sh("c", &format!("cd state; {script}"))]));
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod.clone(), fast_backoff());
    let mut status = worker.status();
    let mut back_off_message = None;
    let watch = async {
        loop {
            {
                let s = status.borrow_and_update();
                if let Some(w) = s.container_statuses.iter().flatten().find_map(|c| c.state.as_ref()?.waiting.clone())
                    && w.reason.as_deref() == Some("CrashLoopBackOff")
                {
                    back_off_message = w.message.clone();
                }
                if matches!(s.phase.as_deref(), Some("Succeeded" | "Failed")) {
                    break;
                }
            }
            if status.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), watch).await.unwrap();
    let final_status = worker.wait().await.unwrap();
    assert_eq!(final_status.phase.as_deref(), Some("Succeeded"));
    let cs = only_container(&final_status);
    assert_eq!(cs.restart_count, 2);
    assert_eq!(terminated(cs), (0, "Completed".to_string()));
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    let uid = pod.metadata.uid.as_deref().unwrap();
    assert_eq!(
        back_off_message.as_deref(),
        Some(format!("back-off 100ms restarting failed container=c pod=onfailure_default({uid})").as_str())
    );
    for attempt in 0..3 {
        assert_eq!(log_text(&rt, &pod, "c", attempt), format!("run {}\n", attempt + 1), "log of attempt {attempt}");
    }
}

#[tokio::test]
async fn stop_terminates_gracefully_then_kills() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod =
        pod("stop", "Never", vec![container("polite", &["sleep", "30"]), sh("stubborn", "trap '' TERM; sleep 30")]);
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut status = worker.status();
    tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| s.phase.as_deref() == Some("Running")))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    worker.stop(Duration::from_secs(1));
    let final_status = tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
    let elapsed = began.elapsed();
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(final_status.phase.as_deref(), Some("Failed"));
    let codes: Vec<(i32, String)> = final_status.container_statuses.iter().flatten().map(terminated).collect();
    assert_eq!(codes, [(143, "Error".to_string()), (137, "Error".to_string())]);
}

#[tokio::test]
async fn a_container_that_exits_zero_on_sigterm_leaves_the_pod_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("graceful", "Never", vec![sh("c", "trap 'exit 0' TERM; while true; do sleep 0.05; done")]);
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut status = worker.status();
    tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| s.phase.as_deref() == Some("Running")))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.stop(Duration::from_secs(5));
    let final_status = tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
    assert_eq!(final_status.phase.as_deref(), Some("Succeeded"));
}

#[tokio::test]
async fn active_deadline_fails_the_pod() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mut pod = pod("deadline", "Never", vec![container("c", &["sleep", "30"])]);
    let _cleanup = cleanup(&rt, &pod);
    pod.spec.as_mut().unwrap().active_deadline_seconds = Some(1);
    pod.spec.as_mut().unwrap().termination_grace_period_seconds = Some(1);
    let began = Instant::now();
    let status = run_pod(&rt, pod, Duration::from_secs(10)).await;
    assert!(began.elapsed() < Duration::from_secs(4));
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(status.message.as_deref(), Some("Pod was active on the node longer than the specified deadline"));
    assert_eq!(terminated(only_container(&status)).0, 143);
}

#[tokio::test]
async fn init_containers_run_first_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    // The helper mounts the shared emptyDir in every container; the first two become the init containers.
    let all = vec![
        sh("first", "cd state; echo first > order"),
        sh("second", "cd state; echo second >> order"),
        sh("main", "cd state; cat order"),
    ];
    let mut pod = common::with_state_volume(pod("init", "Never", all));
    let _cleanup = cleanup(&rt, &pod);
    let spec = pod.spec.as_mut().unwrap();
    let main = spec.containers.pop().unwrap();
    spec.init_containers = Some(std::mem::replace(&mut spec.containers, vec![main]));
    let status = run_pod(&rt, pod.clone(), Duration::from_secs(10)).await;
    assert_eq!(status.phase.as_deref(), Some("Succeeded"));
    let init: Vec<(i32, String)> = status.init_container_statuses.iter().flatten().map(terminated).collect();
    assert_eq!(init, [(0, "Completed".to_string()), (0, "Completed".to_string())]);
    assert_eq!(log_text(&rt, &pod, "main", 0), "first\nsecond\n");
}

#[tokio::test]
async fn missing_env_sources_wait_with_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mut c = container("c", &["true"]);
    c.env = Some(vec![EnvVar {
        name: "TOKEN".into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(runlet_codec::k8s_openapi::api::core::v1::SecretKeySelector {
                name: "missing-token".into(),
                key: "token".into(),
                optional: None,
            }),
            ..Default::default()
        }),
    }]);
    let pod = pod("configerr", "Never", vec![c]);
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut status = worker.status();
    let waiting = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| {
            s.container_statuses.as_ref().is_some_and(|cs| cs[0].state.as_ref().is_some_and(|st| st.waiting.is_some()))
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    let w = only_container(&waiting).state.as_ref().unwrap().waiting.clone().unwrap();
    assert_eq!(w.reason.as_deref(), Some("CreateContainerConfigError"));
    assert_eq!(w.message.as_deref(), Some("secret \"missing-token\" not found"));
    assert_eq!(waiting.phase.as_deref(), Some("Pending"));
    worker.stop(Duration::from_secs(1));
    let final_status = tokio::time::timeout(Duration::from_secs(5), worker.wait()).await.unwrap().unwrap();
    assert_eq!(final_status.phase.as_deref(), Some("Failed"));
    assert_eq!(terminated(only_container(&final_status)), (137, "ContainerStatusUnknown".to_string()));
}

#[tokio::test]
async fn missing_command_is_container_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mut c = container("c", &[]);
    c.command = None;
    let pod = pod("nocmd", "Never", vec![c]);
    let _cleanup = cleanup(&rt, &pod);
    let status = run_pod(&rt, pod, Duration::from_secs(5)).await;
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(terminated(only_container(&status)), (128, "ContainerCannotRun".to_string()));
}

#[tokio::test]
async fn empty_dirs_are_shared_at_their_mount_paths() {
    use runlet_codec::Volume;
    use runlet_codec::k8s_openapi::api::core::v1::{EmptyDirVolumeSource, VolumeMount};
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mount = |path: &str| VolumeMount { name: "shared".into(), mount_path: path.into(), ..Default::default() };
    let mut writer = sh("writer", "echo hello > data/msg");
    writer.volume_mounts = Some(vec![mount("data")]);
    let mut reader = sh("c", "cat in/msg; cat /runlet-not-on-the-host/msg");
    reader.volume_mounts = Some(vec![mount("in"), mount("/runlet-not-on-the-host")]);
    let mut pod = pod("volumes", "Never", vec![reader]);
    let _cleanup = cleanup(&rt, &pod);
    let spec = pod.spec.as_mut().unwrap();
    spec.init_containers = Some(vec![writer]);
    spec.volumes = Some(vec![Volume {
        name: "shared".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }]);
    let mut worker = PodWorker::spawn(rt.clone(), pod.clone(), fast_backoff());
    let mut events = worker.take_events().unwrap();
    if rt.sandbox_missing().is_none() {
        let status = tokio::time::timeout(Duration::from_secs(5), worker.wait()).await.unwrap().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Succeeded"));
        assert_eq!(log_text(&rt, &pod, "c", 0), "hello\nhello\n");
        assert!(!std::path::Path::new("/runlet-not-on-the-host").exists(), "nothing is created on the host");
        return;
    }
    // Without a sandbox an absolute mount path cannot be honoured: the container waits with a clear message.
    let mut status = worker.status();
    let waiting = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| {
            s.container_statuses.iter().flatten().any(|c| {
                c.state.as_ref().is_some_and(|st| {
                    st.waiting.as_ref().is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
                })
            })
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    let message = format!("{waiting:?}");
    assert!(message.contains("needs a pod sandbox"), "{message}");
    assert!(events.try_recv().is_ok());
    worker.stop(Duration::ZERO);
}

#[tokio::test]
async fn a_pod_stopped_before_it_started_never_runs_its_containers() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let marker = dir.path().join("ran");
    // Ignoring SIGTERM: had the container started, it would outlive the stop long enough to leave the marker.
    let pod = pod("stopped-early", "Never", vec![sh("c", &format!("trap '' TERM; touch {}", marker.display()))]);
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    worker.stop(Duration::from_secs(1));
    let status = tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.expect("ends").expect("worker");
    assert!(matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")), "{status:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!marker.exists(), "the container ran although the pod was stopped first");
}

/// `shareProcessNamespace`: one container sees and signals another's processes; the namespace's PID 1 shows
/// nothing of the host; the namespace is gone once the pod ended.
#[tokio::test]
async fn containers_of_a_pod_that_shares_its_process_namespace_see_and_signal_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    if rt.sandbox_missing().is_some() {
        eprintln!("SKIPPED: shared process namespaces need a pod sandbox (root)");
        return;
    }
    let marker = 3000 + std::process::id() % 1000;
    let finder = format!(
        "sleep 0.5; for p in /proc/[0-9]*; do if [ \"$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\" = 'sleep {marker} ' ]; \
         then kill ${{p#/proc/}} && echo signalled; fi; done; echo root: $(ls -A /proc/1/root 2>/dev/null | wc -l); \
         setsid sleep {marker}9 & echo done"
    );
    let mut pod =
        pod("shared-pid", "Never", vec![container("target", &["sleep", &format!("{marker}")]), sh("finder", &finder)]);
    pod.spec.as_mut().unwrap().share_process_namespace = Some(true);
    let _cleanup = cleanup(&rt, &pod);
    let status = run_pod(&rt, pod.clone(), Duration::from_secs(20)).await;
    let codes: Vec<i32> = status.container_statuses.iter().flatten().map(|c| terminated(c).0).collect();
    assert_eq!(codes, [143, 0], "the target was killed by the other container: {status:?}");
    assert_eq!(log_text(&rt, &pod, "finder", 0), "signalled\nroot: 0\ndone\n");
    // What the finder left behind in the namespace does not outlive the pod.
    let left = |needle: &str| {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while left(&format!("sleep\0{marker}9")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!left(&format!("sleep\0{marker}9")), "a process of the pod survived it");
}

/// Finished pods are kept until deleted, their cgroups and memory-backed volumes are not: a host keeping
/// more finished pods than the kernel has memory cgroup ids (65,535 on v1) could otherwise start no
/// container at all, and every tmpfs would hold its memory (and a Secret's bytes) for as long.
#[tokio::test]
async fn an_ended_pod_keeps_its_record_but_not_its_cgroups_or_tmpfs() {
    use runlet_codec::Volume;
    use runlet_codec::k8s_openapi::api::core::v1::{EmptyDirVolumeSource, VolumeMount};
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    if !rt.cgroups_enabled() || rt.sandbox_missing().is_some() {
        println!("SKIPPED: needs writable cgroups and the sandbox (root)");
        return;
    }
    let mut main = sh("c", "echo done > scratch/out");
    main.volume_mounts =
        Some(vec![VolumeMount { name: "scratch".into(), mount_path: "scratch".into(), ..Default::default() }]);
    let mut pod = pod("ended-cleanup", "Never", vec![main]);
    let spec = pod.spec.as_mut().unwrap();
    spec.init_containers = Some(vec![sh("init", "true")]);
    spec.volumes = Some(vec![Volume {
        name: "scratch".into(),
        empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), ..Default::default() }),
        ..Default::default()
    }]);
    let uid = pod.metadata.uid.clone().unwrap();
    let _cleanup = cleanup(&rt, &pod);
    let pod_dir = rt.pod_paths(&uid).dir;
    let mounted = || {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        text.lines().filter_map(|l| l.split(' ').nth(4)).any(|p| std::path::Path::new(p).starts_with(&pod_dir))
    };
    let status = run_pod(&rt, pod, Duration::from_secs(10)).await;
    assert_eq!(status.phase.as_deref(), Some("Succeeded"), "{status:?}");
    let dirs = rt.pod_cgroup_dirs(&uid);
    assert!(!dirs.is_empty());
    // Clean-up runs in the background right after the worker ends; give it a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (dirs.iter().any(|d| d.exists()) || mounted()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    assert!(!mounted(), "the Memory emptyDir is still mounted under {}", pod_dir.display());
    assert!(pod_dir.join("pod.json").exists(), "the pod's record and logs stay until it is deleted");
}
