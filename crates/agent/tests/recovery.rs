//! Agent-restart recovery: containers that finished or kept running while no agent watched.

mod common;

use std::time::Duration;

use common::*;
use runlet_agent::runtime::RecoveredRun;
use runlet_agent::runtime::state::{self, StartRecord};
use runlet_agent::worker::PodWorker;

#[tokio::test]
async fn a_container_that_finished_while_the_agent_was_down_reports_its_real_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod("finished", "Never", vec![sh("c", "sleep 0.3; exit 9")]);
    {
        let rt = runtime(dir.path());
        let running = started(start(&rt, &pod, 0, 0).await);
        // The agent "dies": its handle on the shim is dropped without waiting.
        drop(running);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let rt = runtime(dir.path());
    let _cleanup = cleanup(&rt, &pod);
    let recovered = rt.recover_container(pod.metadata.uid.as_deref().unwrap(), "c").await.unwrap();
    assert_eq!(recovered.runs, 1);
    match recovered.latest {
        Some(RecoveredRun::Finished(run)) => {
            assert_eq!((run.record.exit_code, run.record.reason), (9, None));
            assert!(!run.container_id.is_empty());
        }
        other => panic!("expected a finished run, got {other:?}"),
    }
}

#[tokio::test]
async fn a_still_running_container_is_adopted_and_its_exit_seen() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod("adopted", "Never", vec![sh("c", "sleep 0.5; exit 7")]);
    {
        let rt = runtime(dir.path());
        drop(started(start(&rt, &pod, 0, 0).await));
    }
    let rt = runtime(dir.path());
    let _cleanup = cleanup(&rt, &pod);
    let recovered = rt.recover_container(pod.metadata.uid.as_deref().unwrap(), "c").await.unwrap();
    let Some(RecoveredRun::Running(running)) = recovered.latest else { panic!("expected an adopted run") };
    let record = tokio::time::timeout(Duration::from_secs(5), running.wait()).await.unwrap();
    assert_eq!(record.exit_code, 7);
}

#[tokio::test]
async fn a_container_whose_shim_died_is_killed_and_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod("lostshim", "Never", vec![container("c", &["sleep", "30"])]);
    let uid = pod.metadata.uid.clone().unwrap();
    let rt = runtime(dir.path());
    let _cleanup = cleanup(&rt, &pod);
    let running = started(start(&rt, &pod, 0, 0).await);
    let start_record: StartRecord =
        state::read_json(&rt.pod_paths(&uid).run_dir("c", 0).join(state::STARTED_FILE)).unwrap().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(start_record.shim_pid), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    drop(running);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rt = runtime(dir.path());
    let recovered = rt.recover_container(&uid, "c").await.unwrap();
    let Some(RecoveredRun::Finished(run)) = recovered.latest else { panic!("expected a lost run") };
    assert_eq!((run.record.exit_code, run.record.reason.as_deref()), (137, Some("ContainerStatusUnknown")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let alive = runlet_agent::runtime::procstat::is_alive(start_record.pid, start_record.pid_start_ticks);
    assert!(!alive, "the unsupervised container must be killed");
}

#[tokio::test]
async fn a_restarted_worker_picks_up_restart_counts_and_running_containers() {
    let dir = tempfile::tempdir().unwrap();
    // Run 1 fails at once; run 2 runs for a while and succeeds.
    let script = "cd state; n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ] || exit 1; sleep 0.8";
    let pod = common::with_state_volume(pod("resume", "OnFailure", vec![sh("c", script)]));
    let first_id;
    {
        let rt = runtime(dir.path());
        let worker = PodWorker::spawn(rt.clone(), pod.clone(), fast_backoff());
        let mut status = worker.status();
        let running = tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| {
                s.container_statuses.as_ref().is_some_and(|cs| {
                    cs[0].restart_count == 1 && cs[0].state.as_ref().is_some_and(|st| st.running.is_some())
                })
            }),
        )
        .await
        .unwrap()
        .unwrap()
        .clone();
        first_id = running.container_statuses.unwrap()[0].container_id.clone();
        worker.detach();
    }
    let rt = runtime(dir.path());
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let final_status = tokio::time::timeout(Duration::from_secs(5), worker.wait()).await.unwrap().unwrap();
    assert_eq!(final_status.phase.as_deref(), Some("Succeeded"));
    let cs = &final_status.container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(cs.container_id, first_id, "the adopted run keeps its id");
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).unwrap();
    assert_eq!(last.exit_code, 1);
}

#[tokio::test]
async fn a_restarted_worker_reports_a_never_pod_that_finished_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod("meanwhile", "Never", vec![sh("c", "sleep 0.4; exit 3")]);
    {
        let rt = runtime(dir.path());
        let worker = PodWorker::spawn(rt.clone(), pod.clone(), fast_backoff());
        let mut status = worker.status();
        tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| s.phase.as_deref() == Some("Running")))
            .await
            .unwrap()
            .unwrap();
        worker.detach();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let rt = runtime(dir.path());
    let _cleanup = cleanup(&rt, &pod);
    let status = run_pod(&rt, pod, Duration::from_secs(5)).await;
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let t = status.container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
}
