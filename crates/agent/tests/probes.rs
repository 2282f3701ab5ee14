//! Probes of real containers through the pod worker: exec with its timeout, HTTPS without verification, TCP
//! and gRPC health checks against servers this test runs on loopback (pods share the host's network, and the
//! pod IP is loopback).

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use runlet_agent::worker::{PodEvent, PodWorker};
use runlet_codec::k8s_openapi::api::core::v1::{ExecAction, GRPCAction, HTTPGetAction, Probe, TCPSocketAction};
use runlet_codec::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runlet_codec::{ContainerStatus, PodStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;

fn probe(period: i32, failure: i32) -> Probe {
    Probe { period_seconds: Some(period), failure_threshold: Some(failure), ..Default::default() }
}

fn exec(command: &[&str]) -> Probe {
    Probe { exec: Some(ExecAction { command: Some(command.iter().map(|s| s.to_string()).collect()) }), ..probe(1, 1) }
}

fn statuses(s: &PodStatus) -> Vec<ContainerStatus> {
    s.container_statuses.clone().unwrap_or_default()
}

/// Waits (up to `limit`) until the published status satisfies `pred`.
async fn until(worker: &PodWorker, limit: Duration, what: &str, pred: impl Fn(&PodStatus) -> bool) -> PodStatus {
    let mut status = worker.status();
    let found = tokio::time::timeout(limit, status.wait_for(|s| pred(s))).await;
    match found {
        Ok(Ok(s)) => s.clone(),
        _ => panic!("{what}: not within {limit:?}; last status {:?}", worker.status().borrow()),
    }
}

/// The events received so far, as (reason, message).
fn drain(events: &mut Receiver<PodEvent>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push((e.reason.to_string(), e.message));
    }
    out
}

#[tokio::test]
async fn exec_probes_gate_readiness_and_a_failing_liveness_probe_restarts_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    // The first run plants `dead` a second after starting; the second run does not.
    let script = "cd state; n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; rm -f dead; \
                  if [ $n -eq 1 ]; then (sleep 1; touch dead) & fi; exec sleep 60";
    let mut c = sh("c", script);
    c.readiness_probe = Some(exec(&["cat", "state/n"]));
    c.liveness_probe =
        Some(Probe { initial_delay_seconds: Some(1), ..exec(&["sh", "-c", "echo checking; test ! -f state/dead"]) });
    let mut pod = with_state_volume(pod("exec-probes", "Always", vec![c]));
    pod.spec.as_mut().unwrap().termination_grace_period_seconds = Some(2);
    let _cleanup = cleanup(&rt, &pod);
    let mut worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut events = worker.take_events().unwrap();
    let ready =
        until(&worker, Duration::from_secs(20), "ready", |s| statuses(s).first().is_some_and(|c| c.ready)).await;
    assert_eq!(statuses(&ready)[0].restart_count, 0);
    let again = until(&worker, Duration::from_secs(30), "restarted and ready", |s| {
        statuses(s).first().is_some_and(|c| c.ready && c.restart_count == 1)
    })
    .await;
    let c = &statuses(&again)[0];
    let last = c.last_state.as_ref().and_then(|l| l.terminated.as_ref()).unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (143, Some("Error")));
    let conditions: Vec<(String, String)> =
        again.conditions.iter().flatten().map(|c| (c.type_.clone(), c.status.clone())).collect();
    assert!(conditions.contains(&("Ready".into(), "True".into())), "{conditions:?}");
    let seen = drain(&mut events);
    assert!(seen.contains(&("Unhealthy".into(), "Liveness probe failed: checking\n".into())), "{seen:?}");
    assert!(
        seen.contains(&("Killing".into(), "Container c failed liveness probe, will be restarted".into())),
        "{seen:?}"
    );
    worker.stop(Duration::ZERO);
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
}

#[tokio::test]
async fn an_exec_probe_that_runs_too_long_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let mut c = container("c", &["sleep", "60"]);
    c.readiness_probe = Some(Probe { timeout_seconds: Some(1), ..exec(&["sleep", "30"]) });
    let pod = pod("exec-timeout", "Never", vec![c]);
    let _cleanup = cleanup(&rt, &pod);
    let mut worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut events = worker.take_events().unwrap();
    let mut seen = Vec::new();
    let want = ("Unhealthy".to_string(), "Readiness probe failed: command \"sleep 30\" timed out".to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(&want) && tokio::time::Instant::now() < deadline {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            seen.push((e.reason.to_string(), e.message));
        }
    }
    assert!(seen.contains(&want), "{seen:?}");
    assert!(!statuses(&worker.status().borrow()).first().is_some_and(|c| c.ready));
    worker.stop(Duration::ZERO);
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
}

/// Answers every HTTP request with the status in `code`, over TLS when `tls` is given.
async fn status_server(code: Arc<AtomicU16>, tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (code, tls) = (code.clone(), tls.clone());
            tokio::spawn(async move {
                let reply = |code: u16| format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let mut buf = [0u8; 2048];
                match tls {
                    Some(acceptor) => {
                        let Ok(mut s) = acceptor.accept(stream).await else { return };
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(reply(code.load(Ordering::SeqCst)).as_bytes()).await;
                        let _ = s.shutdown().await;
                    }
                    None => {
                        let mut s = stream;
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(reply(code.load(Ordering::SeqCst)).as_bytes()).await;
                    }
                }
            });
        }
    });
    port
}

fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["somewhere.example".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn http_https_and_tcp_readiness_follow_their_servers() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let http_code = Arc::new(AtomicU16::new(200));
    let http_port = status_server(http_code.clone(), None).await;
    let https_port = status_server(Arc::new(AtomicU16::new(302)), Some(self_signed_acceptor())).await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let http_get = |port: u16, scheme: &str| Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(port.into()),
            path: Some("/healthz".into()),
            scheme: Some(scheme.into()),
            ..Default::default()
        }),
        ..probe(1, 2)
    };
    let mut web = container("web", &["sleep", "60"]);
    web.readiness_probe = Some(http_get(http_port, "HTTP"));
    let mut secure = container("secure", &["sleep", "60"]);
    secure.readiness_probe = Some(http_get(https_port, "HTTPS"));
    let mut db = container("db", &["sleep", "60"]);
    db.readiness_probe = Some(Probe {
        tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(tcp_port.into()), host: None }),
        ..probe(1, 2)
    });
    let pod = pod("net-probes", "Never", vec![web, secure, db]);
    let _cleanup = cleanup(&rt, &pod);
    let mut worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut events = worker.take_events().unwrap();
    let ready = until(&worker, Duration::from_secs(20), "all ready", |s| {
        let cs = statuses(s);
        cs.len() == 3 && cs.iter().all(|c| c.ready)
    })
    .await;
    let ready_condition = ready.conditions.iter().flatten().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready_condition.status, "True");
    // The HTTPS server redirects to nowhere: a success, with a warning.
    let seen = drain(&mut events);
    assert!(
        seen.contains(&(
            "ProbeWarning".into(),
            "Readiness probe warning: Probe terminated redirects, Response body: ".into()
        )),
        "{seen:?}"
    );

    http_code.store(503, Ordering::SeqCst);
    drop(tcp);
    let unready = until(&worker, Duration::from_secs(20), "web and db unready", |s| {
        let cs = statuses(s);
        !cs[0].ready && cs[1].ready && !cs[2].ready
    })
    .await;
    let condition = unready.conditions.iter().flatten().find(|c| c.type_ == "ContainersReady").unwrap();
    assert_eq!(condition.message.as_deref(), Some("containers with unready status: [web db]"));
    let seen = drain(&mut events);
    assert!(
        seen.contains(&("Unhealthy".into(), "Readiness probe failed: HTTP probe failed with statuscode: 503".into())),
        "{seen:?}"
    );
    let refused = format!("Readiness probe failed: dial tcp 127.0.0.1:{tcp_port}: connect: connection refused");
    assert!(seen.contains(&("Unhealthy".into(), refused)), "{seen:?}");
    worker.stop(Duration::ZERO);
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
}

/// A gRPC health server (HTTP/2 without TLS) answering with the status in `serving` (1 SERVING, 2 NOT_SERVING).
async fn health_server(serving: Arc<AtomicU16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let serving = serving.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let status = serving.load(Ordering::SeqCst) as u8;
                async move {
                    let path = request.uri().path().to_string();
                    let _ = request.into_body().collect().await;
                    let mut trailers = http::HeaderMap::new();
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> = if path == "/grpc.health.v1.Health/Check" {
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let message = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
                        vec![Ok(Frame::data(message)), Ok(Frame::trailers(trailers))]
                    } else {
                        trailers.insert("grpc-status", http::HeaderValue::from_static("12"));
                        vec![Ok(Frame::trailers(trailers))]
                    };
                    let response = hyper::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(StreamBody::new(futures::stream::iter(frames)))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_grpc_liveness_probe_restarts_a_container_whose_service_stops_serving() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let serving = Arc::new(AtomicU16::new(1));
    let port = health_server(serving.clone()).await;
    let mut c = container("c", &["sleep", "60"]);
    c.liveness_probe = Some(Probe { grpc: Some(GRPCAction { port: port.into(), service: None }), ..probe(1, 2) });
    let mut pod = pod("grpc-probe", "Always", vec![c]);
    pod.spec.as_mut().unwrap().termination_grace_period_seconds = Some(2);
    let _cleanup = cleanup(&rt, &pod);
    let mut worker = PodWorker::spawn(rt.clone(), pod, fast_backoff());
    let mut events = worker.take_events().unwrap();
    until(&worker, Duration::from_secs(10), "running", |s| statuses(s).first().is_some_and(|c| c.ready)).await;
    // Three periods of SERVING: no restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(statuses(&worker.status().borrow())[0].restart_count, 0);
    serving.store(2, Ordering::SeqCst);
    until(&worker, Duration::from_secs(20), "restarted", |s| statuses(s).first().is_some_and(|c| c.restart_count == 1))
        .await;
    let seen = drain(&mut events);
    assert!(
        seen.contains(&(
            "Unhealthy".into(),
            "Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")".into()
        )),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("Killing".into(), "Container c failed liveness probe, will be restarted".into())),
        "{seen:?}"
    );
    worker.stop(Duration::ZERO);
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.unwrap().unwrap();
}
