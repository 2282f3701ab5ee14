//! The process runtime with real processes: exit codes, signals, environment, working directory, limits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use runlet_agent::runtime::Launch;
use runlet_codec::{EnvVar, EnvVarSource, ObjectFieldSelector, Quantity, ResourceRequirements};

#[tokio::test]
async fn exit_codes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    for code in [0, 1, 42] {
        let pod = pod(&format!("exit-{code}"), "Never", vec![sh("c", &format!("exit {code}"))]);
        let _cleanup = cleanup(&rt, &pod);
        let record = started(start(&rt, &pod, 0, 0).await).wait().await;
        assert_eq!((record.exit_code, record.signal, record.oom_killed), (code, None, false), "exit {code}");
        assert!(record.started_at.is_some_and(|s| s <= record.finished_at));
    }
}

#[tokio::test]
async fn stop_sends_sigterm_to_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("term", "Never", vec![container("c", &["sleep", "30"])]);
    let _cleanup = cleanup(&rt, &pod);
    let running = started(start(&rt, &pod, 0, 0).await);
    let began = Instant::now();
    let record = running.stop(Duration::from_secs(5)).await;
    assert_eq!((record.exit_code, record.signal), (143, Some(15)));
    assert!(began.elapsed() < Duration::from_secs(2), "SIGTERM should end sleep at once");
}

#[tokio::test]
async fn stop_escalates_to_sigkill_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("kill", "Never", vec![sh("c", "trap '' TERM; echo ready; sleep 30")]);
    let _cleanup = cleanup(&rt, &pod);
    let running = started(start(&rt, &pod, 0, 0).await);
    // Give the shell time to install its trap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    let record = running.stop(Duration::from_secs(1)).await;
    let elapsed = began.elapsed();
    assert_eq!((record.exit_code, record.signal), (137, Some(9)));
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4), "took {elapsed:?}");
}

#[tokio::test]
async fn environment_field_refs_and_expansion() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.into(), api_version: None }),
            ..Default::default()
        }),
    };
    let value = |name: &str, v: &str| EnvVar { name: name.into(), value: Some(v.into()), value_from: None };
    // Positional parameters print the expanded arguments verbatim (no shell sees them as code).
    let script = "echo \"$POD $NS $NODE $IP $HOST $IDX $GREETING\"; echo \"$HOSTNAME\"; printf '%s\\n' \"$@\"";
    let mut c = container("c", &["sh", "-c", script, "sh", "$(ARG)", "$$(ARG)", "$(MISSING)"]);
    c.env = Some(vec![
        field("POD", "metadata.name"),
        field("NS", "metadata.namespace"),
        field("NODE", "spec.nodeName"),
        field("IP", "status.podIP"),
        field("HOST", "status.hostIP"),
        field("IDX", "metadata.annotations['batch.kubernetes.io/job-completion-index']"),
        value("NAME", "world"),
        value("GREETING", "hello-$(NAME)"),
        value("ARG", "expanded"),
    ]);
    let mut pod = pod("env", "Never", vec![c]);
    let _cleanup = cleanup(&rt, &pod);
    pod.metadata.annotations = Some([("batch.kubernetes.io/job-completion-index".to_string(), "4".to_string())].into());
    let record = started(start(&rt, &pod, 0, 0).await).wait().await;
    assert_eq!(record.exit_code, 0);
    assert_eq!(
        log_text(&rt, &pod, "c", 0),
        "env default node-1 127.0.0.1 10.1.2.3 4 hello-world\nenv\nexpanded\n$(ARG)\n$(MISSING)\n"
    );
}

#[tokio::test]
async fn working_directory_defaults_to_the_pod_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let other = tempfile::tempdir().unwrap();
    let mut absolute = container("abs", &["pwd"]);
    absolute.working_dir = Some(other.path().display().to_string());
    let mut relative = container("rel", &["pwd"]);
    relative.working_dir = Some("work/sub".into());
    let mut missing = container("missing", &["pwd"]);
    missing.working_dir = Some("/nonexistent-runlet-dir".into());
    let pod = pod("wd", "Never", vec![container("default", &["pwd"]), absolute, relative, missing]);
    let _cleanup = cleanup(&rt, &pod);
    let pod_dir = rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).dir;
    let sandboxed = rt.sandbox_missing().is_none();
    // In a sandbox the container's own root is the base, as in an image without WORKDIR; without one, the pod
    // directory is.
    let base = if sandboxed { std::path::PathBuf::from("/") } else { pod_dir.clone() };
    let cases = [
        (0, base.display().to_string()),
        (1, other.path().display().to_string()),
        (2, base.join("work/sub").display().to_string()),
    ];
    for (index, want) in cases {
        let record = started(start(&rt, &pod, index, 0).await).wait().await;
        assert_eq!(record.exit_code, 0);
        let name = &pod.spec.as_ref().unwrap().containers[index].name;
        assert_eq!(log_text(&rt, &pod, name, 0), format!("{want}\n"), "container {name}");
    }
    match start(&rt, &pod, 3, 0).await {
        // A sandboxed container creates it in its own root (the host's file system is untouched).
        Launch::Started(running) if sandboxed => {
            assert_eq!(running.wait().await.exit_code, 0);
            assert_eq!(log_text(&rt, &pod, "missing", 0), "/nonexistent-runlet-dir\n");
            assert!(!std::path::Path::new("/nonexistent-runlet-dir").exists());
        }
        Launch::Failed { record, .. } => {
            assert_eq!((record.exit_code, record.reason.as_deref()), (128, Some("ContainerCannotRun")));
            assert!(record.message.unwrap().contains("does not exist"));
        }
        Launch::Started(_) => panic!("a missing working directory outside the pod must not be created"),
    }
}

#[tokio::test]
async fn exec_failure_is_container_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("noexec", "Never", vec![container("c", &["runlet-no-such-command"])]);
    let _cleanup = cleanup(&rt, &pod);
    match start(&rt, &pod, 0, 0).await {
        Launch::Failed { record, .. } => {
            assert_eq!((record.exit_code, record.reason.as_deref()), (128, Some("ContainerCannotRun")));
            assert_eq!(
                record.message.as_deref(),
                Some("exec: \"runlet-no-such-command\": executable file not found in $PATH")
            );
            assert_eq!(record.started_at, None);
        }
        Launch::Started(_) => panic!("should not start"),
    }
}

#[tokio::test]
async fn output_is_logged_with_partial_last_line_kept() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("out", "Never", vec![sh("c", "echo one; echo two >&2; printf 'no newline'")]);
    let _cleanup = cleanup(&rt, &pod);
    started(start(&rt, &pod, 0, 0).await).wait().await;
    let path = rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).log_file("c", 0);
    let raw = std::fs::read_to_string(path).unwrap();
    let records: Vec<(&str, &str, &str)> = raw
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            let _ = p.next();
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""))
        })
        .collect();
    let mut stdout: Vec<_> = records.iter().filter(|r| r.0 == "stdout").collect();
    stdout.sort();
    assert_eq!(stdout, [&("stdout", "F", "one"), &("stdout", "P", "no newline")]);
    assert!(records.contains(&("stderr", "F", "two")));
}

#[tokio::test]
async fn background_children_die_with_the_main_process() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("bg", "Never", vec![sh("c", "sleep 30 & echo started")]);
    let _cleanup = cleanup(&rt, &pod);
    let began = Instant::now();
    let record =
        tokio::time::timeout(Duration::from_secs(10), started(start(&rt, &pod, 0, 0).await).wait()).await.unwrap();
    assert_eq!(record.exit_code, 0);
    assert!(began.elapsed() < Duration::from_secs(5), "the leftover sleep must not hold the container open");
}

#[tokio::test]
async fn memory_limit_ends_in_oom_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    if !rt.cgroups_enabled() {
        println!("SKIPPED: cgroups are not writable on this machine, so memory limits cannot be enforced");
        return;
    }
    let mut hog = sh("hog", "head -c 300000000 /dev/zero | tail");
    hog.resources = Some(ResourceRequirements {
        limits: Some([("memory".to_string(), Quantity("32Mi".into()))].into()),
        ..Default::default()
    });
    let pod = pod("oom", "Never", vec![hog]);
    let _cleanup = cleanup(&rt, &pod);
    let record =
        tokio::time::timeout(Duration::from_secs(20), started(start(&rt, &pod, 0, 0).await).wait()).await.unwrap();
    assert_eq!((record.exit_code, record.oom_killed), (137, true), "{record:?}");
    rt.remove_pod(pod.metadata.uid.as_deref().unwrap()).await.unwrap();
}

#[tokio::test]
async fn remove_pod_kills_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("remove", "Never", vec![container("c", &["sleep", "30"])]);
    let running = started(start(&rt, &pod, 0, 0).await);
    let pid = running.handle.pid;
    let uid = pod.metadata.uid.clone().unwrap();
    rt.remove_pod(&uid).await.unwrap();
    assert!(!rt.pod_paths(&uid).dir.exists());
    let waited = tokio::time::timeout(Duration::from_secs(5), running.wait()).await;
    assert!(waited.is_ok(), "the container must be gone");
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(), "pid {pid} still alive");
}

#[tokio::test]
async fn runs_without_cgroups() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = runlet_agent::RuntimeConfig::new(dir.path(), shim(), "node-1");
    config.use_cgroups = false;
    let rt = runlet_agent::ProcessRuntime::new(config).unwrap();
    assert!(!rt.cgroups_enabled());
    let pod = pod("nocgroup", "Never", vec![sh("c", "sleep 30 & exit 5")]);
    let _cleanup = cleanup(&rt, &pod);
    let record =
        tokio::time::timeout(Duration::from_secs(5), started(start(&rt, &pod, 0, 0).await).wait()).await.unwrap();
    assert_eq!(record.exit_code, 5);
}
