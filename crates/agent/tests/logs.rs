//! Reading container logs the way `pods/{name}/log` serves them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use jiff::Timestamp;
use runlet_agent::logs::{LogError, LogOptions, read_logs};
use runlet_agent::worker::PodWorker;
use runlet_codec::{ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodStatus};

async fn read(rt: &runlet_agent::ProcessRuntime, pod: &Pod, options: LogOptions) -> Result<String, LogError> {
    let paths = rt.pod_paths(pod.metadata.uid.as_deref().unwrap());
    let stream = read_logs(&paths, pod, "c", options).await?;
    let chunks: Vec<_> = stream.collect().await;
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&chunk?);
    }
    Ok(String::from_utf8(out).unwrap())
}

fn with_status(mut pod: Pod, status: PodStatus) -> Pod {
    pod.status = Some(status);
    pod
}

#[tokio::test]
async fn tail_timestamps_limit_and_since() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("logs", "Never", vec![sh("c", "echo one; echo two; echo three; sleep 0.3; printf four")]);
    let _cleanup = cleanup(&rt, &pod);
    let log_bytes = || {
        let node = runlet_metrics::NodeLabels { node: "node-1".to_string() };
        runlet_metrics::global().agent.container_log_bytes.get_or_create(&node).get()
    };
    let bytes_before = log_bytes();
    let status = run_pod(&rt, pod.clone(), Duration::from_secs(5)).await;
    let pod = with_status(pod, status);
    // The run's log file counts in `runlet_agent_container_log_bytes_total` once it ended (other tests of this
    // process run containers on the same node, so the counter can only have moved further).
    let file = rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).log_file("c", 0);
    let file_bytes = std::fs::metadata(&file).unwrap().len();
    assert!(file_bytes > 0);
    assert!(log_bytes() >= bytes_before + file_bytes, "the log bytes metric did not count {file_bytes} bytes");
    let far_future: Timestamp = "2999-01-01T00:00:00Z".parse().unwrap();
    let cases = [
        (LogOptions::default(), "one\ntwo\nthree\nfour"),
        (LogOptions { tail_lines: Some(2), ..Default::default() }, "three\nfour"),
        (LogOptions { tail_lines: Some(0), ..Default::default() }, ""),
        (LogOptions { tail_lines: Some(100), ..Default::default() }, "one\ntwo\nthree\nfour"),
        (LogOptions { limit_bytes: Some(6), ..Default::default() }, "one\ntw"),
        (LogOptions { since_time: Some(far_future), ..Default::default() }, ""),
        (LogOptions { since_seconds: Some(3600), ..Default::default() }, "one\ntwo\nthree\nfour"),
    ];
    for (options, want) in cases {
        assert_eq!(read(&rt, &pod, options.clone()).await.unwrap(), want, "{options:?}");
    }

    // `since` between the first lines and the last one (written 0.3 s later).
    let raw = std::fs::read_to_string(rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).log_file("c", 0)).unwrap();
    let last_time: Timestamp = raw.lines().last().unwrap().split(' ').next().unwrap().parse().unwrap();
    let since = LogOptions { since_time: Some(last_time), ..Default::default() };
    assert_eq!(read(&rt, &pod, since).await.unwrap(), "four");

    let stamped =
        read(&rt, &pod, LogOptions { timestamps: true, tail_lines: Some(2), ..Default::default() }).await.unwrap();
    let lines: Vec<&str> = stamped.split('\n').collect();
    assert_eq!(lines.len(), 2, "{stamped:?}");
    for (line, text) in lines.iter().zip(["three", "four"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, text);
        assert_eq!(time.len(), "2026-01-01T00:00:00.000000000Z".len(), "fixed nine fractional digits: {time}");
        assert!(time.parse::<Timestamp>().is_ok());
    }
}

#[tokio::test]
async fn previous_reads_the_run_before() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let script = "cd state; n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo run $n; \
                  [ $n -ge 2 ] || exit 1";
    let pod = common::with_state_volume(pod("logs-prev", "OnFailure", vec![sh("c", script)]));
    let _cleanup = cleanup(&rt, &pod);
    let status = run_pod(&rt, pod.clone(), Duration::from_secs(5)).await;
    let pod = with_status(pod, status);
    assert_eq!(read(&rt, &pod, LogOptions::default()).await.unwrap(), "run 2\n");
    assert_eq!(read(&rt, &pod, LogOptions { previous: true, ..Default::default() }).await.unwrap(), "run 1\n");

    let never = common::pod("logs-never", "Never", vec![sh("c", "echo once")]);
    let _cleanup_never = cleanup(&rt, &never);
    let status = run_pod(&rt, never.clone(), Duration::from_secs(5)).await;
    let never = with_status(never, status);
    let err = read(&rt, &never, LogOptions { previous: true, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.to_string(), "previous terminated container \"c\" in pod \"logs-never\" not found");
}

#[tokio::test]
async fn follow_streams_until_the_container_ends() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let pod = pod("logs-follow", "Never", vec![sh("c", "for i in 1 2 3; do echo $i; sleep 0.2; done; printf end")]);
    let _cleanup = cleanup(&rt, &pod);
    let worker = PodWorker::spawn(rt.clone(), pod.clone(), fast_backoff());
    let mut status = worker.status();
    let running =
        tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| s.phase.as_deref() == Some("Running")))
            .await
            .unwrap()
            .unwrap()
            .clone();
    let pod = with_status(pod, running);
    let began = Instant::now();
    let text = tokio::time::timeout(
        Duration::from_secs(5),
        read(&rt, &pod, LogOptions { follow: true, ..Default::default() }),
    )
    .await
    .expect("follow must end when the container ends")
    .unwrap();
    assert_eq!(text, "1\n2\n3\nend");
    assert!(began.elapsed() >= Duration::from_millis(300), "follow returned before the container ended");
    worker.wait().await.unwrap();
}

#[tokio::test]
async fn errors_use_the_kubernetes_texts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let waiting = ContainerStatus {
        name: "c".into(),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some("ContainerCreating".into()), message: None }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = with_status(
        pod("pi-x", "Never", vec![sh("c", "true")]),
        PodStatus { container_statuses: Some(vec![waiting]), ..Default::default() },
    );
    let err = read(&rt, &pod, LogOptions::default()).await.unwrap_err();
    assert_eq!(err.to_string(), "container \"c\" in pod \"pi-x\" is waiting to start: ContainerCreating");
    let paths = rt.pod_paths(pod.metadata.uid.as_deref().unwrap());
    let err = read_logs(&paths, &pod, "nope", LogOptions::default()).await.err().unwrap();
    assert_eq!(err.to_string(), "container nope is not valid for pod pi-x");
}

#[tokio::test]
async fn rotated_logs_are_read_across_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = runlet_agent::RuntimeConfig::new(dir.path(), common::shim(), "node-1");
    config.cgroup_name = "runlet-test".to_string();
    // Each CRI record of "line NN" is about 45 bytes: about 4 per file, 3 files kept.
    config.log_limits = runlet_agent::runtime::logfile::LogLimits { max_size: 200, max_files: 3 };
    let rt = runlet_agent::ProcessRuntime::new(config).unwrap();
    let pod = pod("logs-rotate", "Never", vec![sh("c", "for i in $(seq 10 40); do echo line $i; sleep 0.01; done")]);
    let _cleanup = cleanup(&rt, &pod);
    let status = run_pod(&rt, pod.clone(), Duration::from_secs(10)).await;
    let pod = with_status(pod, status);
    let log_path = rt.pod_paths(pod.metadata.uid.as_deref().unwrap()).log_file("c", 0);
    assert_eq!(runlet_agent::runtime::logfile::rotated(&log_path).len(), 2, "two rotated files kept");
    let all = read(&rt, &pod, LogOptions::default()).await.unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.last(), Some(&"line 40"));
    assert!(lines.len() > 4 && lines.len() < 31, "{lines:?}");
    // In order, without gaps, from the oldest file kept to the current one.
    let first: u32 = lines[0].trim_start_matches("line ").parse().unwrap();
    let want: Vec<String> = (first..=40).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, want);
    let tail = read(&rt, &pod, LogOptions { tail_lines: Some(6), ..Default::default() }).await.unwrap();
    assert_eq!(tail, (35..=40).map(|i| format!("line {i}\n")).collect::<String>());
}
