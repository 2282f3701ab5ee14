//! End to end: CronJobs in a real `runlet server` with its node agent, driven by the real `kubectl` (skipped,
//! with a message, where kubectl is absent). Schedules are `* * * * *`, so each test waits for at most a couple
//! of minute boundaries; the tests run in parallel.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{AgentEnv, eventually, have_kubectl, is_complete};

const CRONJOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
/// A minute boundary, a Job, its pod and its status: generous under load.
const NEXT_RUN: Duration = Duration::from_secs(150);
const REACT: Duration = Duration::from_secs(30);

impl AgentEnv {
    fn cronjob(&self, name: &str) -> Value {
        self.api.get(&format!("{CRONJOBS}/{name}")).expect(200)
    }

    /// Jobs whose controller is the CronJob `name`.
    fn jobs_of(&self, name: &str) -> Vec<Value> {
        let list = self.api.get(JOBS).expect(200);
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|j| {
                j["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|r| r["kind"] == "CronJob" && r["name"] == name))
            })
            .collect()
    }

    fn wait_cronjob(&self, name: &str, what: &str, timeout: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        eventually(timeout, || {
            last = self.cronjob(name);
            ok(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("cronjob {name}: {what} did not happen; last seen: {last:#}"))
    }

    /// The reasons of the events about CronJob `name`.
    fn event_reasons(&self, name: &str) -> Vec<String> {
        let list = self.api.get("/api/v1/namespaces/default/events").expect(200);
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|e| e["involvedObject"]["kind"] == "CronJob" && e["involvedObject"]["name"] == name)
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

#[test]
fn kubectl_cronjob_session() {
    if !have_kubectl("kubectl_cronjob_session") {
        return;
    }
    let env = AgentEnv::start();
    let k = &env.k;

    // `create cronjob` sends protobuf; the table has upstream's columns.
    let out = k.ok(&[
        "create",
        "cronjob",
        "hello",
        "--image=busybox",
        "--schedule=* * * * *",
        "--",
        "sh",
        "-c",
        "echo hello from $HOSTNAME",
    ]);
    assert_eq!(out.trim(), "cronjob.batch/hello created");
    let table = k.ok(&["get", "cronjobs"]);
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..8], ["hello", "*", "*", "*", "*", "*", "<none>", "False"], "{table}");
    // ACTIVE: 0, unless a minute boundary passed since the create.
    assert!(["0", "1"].contains(&row[8]), "{table}");
    let wide = k.ok(&["get", "cj", "-o", "wide"]);
    let header = wide.lines().next().unwrap();
    assert!(header.ends_with("CONTAINERS   IMAGES    SELECTOR"), "{wide}");
    assert!(wide.lines().nth(1).unwrap().ends_with("hello        busybox   <none>"), "{wide}");
    let spec = k.ok(&["get", "cj", "hello", "-o", "jsonpath={.spec.concurrencyPolicy}/{.spec.successfulJobsHistoryLimit}/{.spec.failedJobsHistoryLimit}/{.spec.suspend}"]);
    assert_eq!(spec, "Allow/3/1/false");

    // Validation errors are upstream's.
    let bad = k.run_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "bad"},
            "spec": {"schedule": "CRON_TZ=UTC 61 * * * *", "timeZone": "Mars/Base",
                     "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}]}}}}}}"#,
    );
    let bad = String::from_utf8_lossy(&bad.stderr).into_owned();
    // kubectl lists several errors one per line.
    for want in [
        r#"The CronJob "bad" is invalid: "#,
        r#"* spec.schedule: Invalid value: "CRON_TZ=UTC 61 * * * *": end of range (61) above maximum (59): 61"#,
        r#"* spec.schedule: Invalid value: "CRON_TZ=UTC 61 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#,
        r#"* spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base"#,
    ] {
        assert!(bad.contains(want), "{want} missing from {bad}");
    }

    // A Job made by hand from the CronJob belongs to it (and the controller says it did not make it).
    assert_eq!(k.ok(&["create", "job", "--from=cronjob/hello", "manual"]).trim(), "job.batch/manual created");
    let manual = env.api.get(&format!("{JOBS}/manual")).expect(200);
    assert_eq!(manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    let owner = &manual["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str(), owner["controller"].as_bool()),
        (Some("CronJob"), Some("hello"), Some(true))
    );
    assert_eq!(owner["uid"], env.cronjob("hello")["metadata"]["uid"]);
    eventually(REACT, || env.event_reasons("hello").contains(&"UnexpectedJob".to_string()).then_some(()))
        .expect("an UnexpectedJob event");

    // The next minute: a Job named after its scheduled minute runs to completion, and the status says so.
    // (The manual Job's success counts for lastSuccessfulTime too, as upstream's does.)
    let cj = env.wait_cronjob("hello", "a successful scheduled run", NEXT_RUN, |cj| {
        let status = &cj["status"];
        let (Some(scheduled), Some(succeeded)) =
            (status["lastScheduleTime"].as_str(), status["lastSuccessfulTime"].as_str())
        else {
            return false;
        };
        status["active"].is_null() && succeeded >= scheduled
    });
    let last: jiff::Timestamp = cj["status"]["lastScheduleTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(last.as_second() % 60, 0, "scheduled on a minute: {last}");
    let scheduled_name = format!("hello-{}", last.as_second() / 60);
    let job = env.api.get(&format!("{JOBS}/{scheduled_name}")).expect(200);
    assert!(is_complete(&job), "{job:#}");
    assert_eq!(
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        json!(last.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    );
    let logs = k.ok(&["logs", &format!("job/{scheduled_name}")]);
    assert!(logs.contains("hello from"), "{logs}");
    let reasons = env.event_reasons("hello");
    for want in ["SuccessfulCreate", "SawCompletedJob"] {
        assert!(reasons.iter().any(|r| r == want), "{want} missing from {reasons:?}");
    }
    let row = k.ok(&["get", "cj", "hello", "--no-headers"]);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[6..9], ["<none>", "False", "0"], "{row}");
    assert_ne!(cells[9], "<none>", "LAST SCHEDULE is set: {row}");

    // Deleting the CronJob takes its Jobs (and their pods) with it.
    assert_eq!(k.ok(&["delete", "cronjob", "hello"]).trim(), "cronjob.batch \"hello\" deleted");
    eventually(REACT, || env.jobs_of("hello").is_empty().then_some(())).expect("the CronJob's Jobs are collected");
    let pods = eventually(REACT, || {
        let pods = k.ok(&["get", "pods", "-o", "name"]);
        pods.trim().is_empty().then_some(())
    });
    assert!(pods.is_some(), "the Jobs' pods are collected");
}

/// Two CronJobs whose Jobs outlast a minute: Forbid skips the next run while one is active, Replace deletes the
/// running Job and starts the next.
#[test]
fn concurrency_policies() {
    if !have_kubectl("concurrency_policies") {
        return;
    }
    let env = AgentEnv::start();
    for (name, policy) in [("forbid", "Forbid"), ("replace", "Replace")] {
        let body = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *", "concurrencyPolicy": policy,
                     "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                        "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "170"]}]}}}}}});
        env.api.post(CRONJOBS, &body).expect(201);
    }
    // First runs.
    let first_forbid = env.wait_cronjob("forbid", "a first run", NEXT_RUN, |cj| {
        cj["status"]["active"].as_array().is_some_and(|a| a.len() == 1)
    });
    let first_replace = env.wait_cronjob("replace", "a first run", NEXT_RUN, |cj| {
        cj["status"]["active"].as_array().is_some_and(|a| a.len() == 1)
    });
    let first_replace_job = first_replace["status"]["active"][0]["name"].as_str().unwrap().to_string();
    // The next minute: Replace swaps its Job for a new one.
    let replaced = env.wait_cronjob("replace", "a second run", NEXT_RUN, |cj| {
        cj["status"]["active"].as_array().is_some_and(|a| a.len() == 1 && a[0]["name"] != json!(first_replace_job))
    });
    let second = replaced["status"]["active"][0]["name"].as_str().unwrap().to_string();
    eventually(REACT, || {
        let names: Vec<String> = env.jobs_of("replace").iter().map(name_of).collect();
        (names == [second.clone()]).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "replace: only {second} should be left: {:?}",
            env.jobs_of("replace").iter().map(name_of).collect::<Vec<_>>()
        )
    });
    // Forbid reached the same minute: it declined to start a second Job.
    eventually(REACT, || env.event_reasons("forbid").contains(&"JobAlreadyActive".to_string()).then_some(()))
        .expect("forbid: a JobAlreadyActive event");
    let forbid = env.cronjob("forbid");
    assert_eq!(forbid["status"]["active"], first_forbid["status"]["active"], "forbid still runs only its first Job");
    assert_eq!(env.jobs_of("forbid").len(), 1);
    let reasons = env.event_reasons("replace");
    assert!(reasons.iter().any(|r| r == "SuccessfulDelete"), "{reasons:?}");
    // Stop the sleeping pods before the server goes.
    for name in ["forbid", "replace"] {
        env.k.ok(&["delete", "cronjob", name]);
    }
    eventually(NEXT_RUN, || env.k.ok(&["get", "pods", "-o", "name"]).trim().is_empty().then_some(()))
        .expect("pods deleted with their CronJobs");
}
