//! End to end: a real Prometheus scrapes a `runlet server` (with its local agent, so pods really run) with no
//! adapter, and the monitoring mixin's Job alerts work on what it scrapes; `/readyz` and `/livez` answer in
//! upstream's per-check form; the audit log records who did what. The Prometheus test is skipped, with a
//! message, where `prometheus` is not installed (`scripts/setup` installs it).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server, eventually};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

/// The monitoring mixin's Job alerts with their published expressions (selector `job="kube-state-metrics"`,
/// the scrape job's name below). The mixin waits `for: 15m` (KubeJobFailed) and `for: 15m` before
/// KubeJobNotCompleted; here `for` is 0 so a test of seconds can see them fire: the expressions are unchanged.
const RULES: &str = r#"groups:
- name: kubernetes-apps
  rules:
  - alert: KubeJobFailed
    expr: kube_job_failed{job="kube-state-metrics"}  > 0
    labels:
      severity: warning
  - alert: KubeJobNotCompleted
    expr: |
      time() - max by(namespace, job_name, cluster) (kube_job_status_start_time{job="kube-state-metrics"}
        and
      kube_job_status_active{job="kube-state-metrics"} > 0) > 43200
    labels:
      severity: warning
"#;

fn job(name: &str, script: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}}}
    })
}

fn condition(job: &Value, type_: &str) -> bool {
    job["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == type_ && c["status"] == "True"))
}

/// A Prometheus child process on loopback; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, server: &Server) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let config = format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
- job_name: kube-state-metrics
  scheme: https
  tls_config:
    ca_file: {ca}
  authorization:
    credentials_file: {token}
  static_configs:
  - targets: ["{target}"]
"#,
            rules = dir.join("rules.yml").display(),
            ca = server.dir.join("pki/ca.crt").display(),
            token = server.dir.join("pki/token").display(),
            target = server.addr,
        );
        std::fs::write(dir.join("rules.yml"), RULES).expect("rules");
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus");
        Prometheus { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// `GET /api/v1/<path>`'s `data`, or None while Prometheus is not up.
    fn api(&self, path: &str) -> Option<Value> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "-g"])
            .arg(format!("{}/api/v1/{path}", self.url))
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["status"] == "success").then(|| v["data"].clone())
    }

    fn query(&self, promql: &str) -> Vec<Value> {
        let encoded: String = promql
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        self.api(&format!("query?query={encoded}")).and_then(|d| d["result"].as_array().cloned()).unwrap_or_default()
    }
}

#[test]
fn prometheus_scrapes_runlet_and_the_mixin_job_alerts_fire_as_on_kubernetes() {
    if Command::new("prometheus").arg("--version").output().is_err() {
        eprintln!("skipping: no prometheus on PATH (scripts/setup installs it)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    api.post(JOBS, &job("fails", "exit 3")).expect(201);
    api.post(JOBS, &job("completes", "exit 0")).expect(201);
    let finished = eventually(Duration::from_secs(60), || {
        let fails = api.get(&format!("{JOBS}/fails")).json();
        let completes = api.get(&format!("{JOBS}/completes")).json();
        (condition(&fails, "Failed") && condition(&completes, "Complete")).then_some(())
    });
    assert!(finished.is_some(), "the Jobs did not finish");

    let prometheus = Prometheus::start(tmp.path(), &server);
    // Firing: the failed Job's alert, once a scrape and a rule evaluation (1 s each) have happened.
    let alerts = eventually(Duration::from_secs(90), || {
        let alerts = prometheus.api("alerts")?["alerts"].as_array()?.clone();
        alerts
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "KubeJobFailed"
                    && a["labels"]["job_name"] == "fails"
                    && a["state"] == "firing"
            })
            .then_some(alerts)
    });
    let alerts = alerts
        .unwrap_or_else(|| panic!("KubeJobFailed never fired for the failed Job: {:?}", prometheus.api("alerts")));
    // The completed Job is scraped too (so its missing alert is no missing data) and raises nothing.
    let complete = prometheus.query(r#"kube_job_complete{job_name="completes",condition="true"} == 1"#);
    assert_eq!(complete.len(), 1, "the completed Job's series: {complete:?}");
    let about_completed: Vec<&Value> = alerts.iter().filter(|a| a["labels"]["job_name"] == "completes").collect();
    assert!(about_completed.is_empty(), "alerts about the completed Job: {about_completed:?}");
    assert!(
        !alerts.iter().any(|a| a["labels"]["alertname"] == "KubeJobNotCompleted"),
        "no Job has been running for 12 hours: {alerts:?}"
    );

    // Every family, by name and type, as Prometheus recorded them from the scrape (a counter's family is
    // named without `_total` in OpenMetrics, which Prometheus negotiates; its samples carry `_total`).
    let families: &[(&str, &str)] = &[
        ("apiserver_request", "counter"),
        ("apiserver_request_duration_seconds", "histogram"),
        ("apiserver_current_inflight_requests", "gauge"),
        ("apiserver_longrunning_requests", "gauge"),
        ("apiserver_storage_objects", "gauge"),
        ("runlet_store_commit_batch_size", "histogram"),
        ("runlet_store_commit_duration_seconds", "histogram"),
        ("runlet_store_watchers", "gauge"),
        ("job_controller_job_sync_duration_seconds", "histogram"),
        ("job_controller_job_syncs", "counter"),
        ("job_controller_job_finished", "counter"),
        ("job_controller_job_pods_finished", "counter"),
        ("kube_job_status_succeeded", "gauge"),
        ("kube_job_status_failed", "gauge"),
        ("kube_job_status_active", "gauge"),
        ("kube_job_complete", "gauge"),
        ("kube_job_failed", "gauge"),
        ("kube_job_status_start_time", "gauge"),
        ("kube_job_status_completion_time", "gauge"),
        ("kube_job_owner", "gauge"),
        ("kube_pod_status_phase", "gauge"),
        ("kube_pod_info", "gauge"),
        ("kube_pod_container_status_restarts", "counter"),
        ("kubelet_running_pods", "gauge"),
        ("kubelet_started_containers", "counter"),
        ("kubelet_container_start_duration_seconds", "histogram"),
    ];
    let metadata = prometheus.api("metadata").unwrap_or_default();
    let mut wrong = Vec::new();
    for (name, kind) in families {
        let got = metadata[name][0]["type"].as_str().unwrap_or("missing");
        if got != *kind {
            wrong.push(format!("{name}: {got}, not {kind}"));
        }
    }
    assert!(wrong.is_empty(), "families scraped with the wrong type or not at all: {wrong:#?}");
    // The series dashboards select on, under their sample names.
    for series in [
        r#"apiserver_request_total{resource="jobs",verb="POST",code="201"}"#,
        r#"kube_pod_status_phase{phase="Failed"} == 1"#,
        r#"job_controller_job_finished_total{result="failed"}"#,
    ] {
        assert!(!prometheus.query(series).is_empty(), "no {series}");
    }
}

#[test]
fn health_checks_answer_per_check_and_the_audit_log_records_who_did_what() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let audit = tmp.path().join("audit/audit.log");
    let audit_flag = audit.display().to_string();
    let server = Server::start_with_args(&tmp.path().join("data"), "127.0.0.1:0", &["--audit-log-path", &audit_flag]);
    let api = Api::new(&server);

    // Ready once the controllers' informers have listed and the agent has renewed its Lease.
    let verbose = eventually(Duration::from_secs(30), || {
        let r = api.get("/readyz?verbose");
        (r.code == 200).then(|| r.text())
    })
    .unwrap_or_else(|| panic!("never ready: {}", api.get("/readyz?verbose").text()));
    for check in ["ping", "store", "controllers", "informer-sync", "local-agent"] {
        assert!(verbose.contains(&format!("[+]{check} ok\n")), "{check} missing from:\n{verbose}");
    }
    assert!(verbose.ends_with("readyz check passed\n"), "{verbose}");
    assert_eq!(api.get("/readyz").text(), "ok");
    assert_eq!(api.get("/readyz/store").text(), "ok");
    assert_eq!(api.get("/readyz/no-such-check").code, 404);
    let excluded = api.get("/livez?verbose&exclude=store").text();
    assert!(excluded.contains("[+]store excluded: ok\n") && excluded.contains("[+]ping ok\n"), "{excluded}");
    assert!(!excluded.contains("informer-sync"), "livez runs only the liveness checks:\n{excluded}");
    assert_eq!(api.with_token(None).get("/metrics").code, 401, "metrics need the token, as upstream");
    let text = api.get("/metrics");
    assert!(text.text().contains("# TYPE apiserver_request_total counter\n"), "the classic text format by default");

    api.post(
        "/api/v1/namespaces/default/secrets",
        &json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    )
    .expect(201);
    let events = eventually(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&audit).ok()?;
        let events: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        events.iter().any(|e| e["objectRef"]["resource"] == "secrets").then_some((text, events))
    });
    let (text, events) = events.expect("the Secret's creation in the audit log");
    assert!(!text.contains("hunter2"), "a Secret's data reached the audit log");
    let created = events.iter().find(|e| e["objectRef"]["resource"] == "secrets").expect("event");
    assert_eq!(created["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(created["verb"], "create");
    assert_eq!(created["user"]["username"], "runlet-admin");
    assert_eq!(created["sourceIPs"][0], "127.0.0.1");
    assert_eq!(created["responseStatus"]["code"], 201);
    assert!(
        events.iter().any(|e| e["user"]["username"] == "system:runlet"),
        "the controllers' requests are audited too"
    );
}
