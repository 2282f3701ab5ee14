//! End to end: the Job controller, the garbage collector and the TTL-after-finished controller inside a real
//! `runlet server`, driven through the API. There is no node agent: the tests play kubelet by patching pod status
//! (phases, container states, restart counts, conditions) and by finishing graceful deletions with
//! `gracePeriodSeconds: 0`. Scenarios follow job-semantics.md (§3, §4, §5, §9); each test starts its own server.
//!
//! Job pods name another scheduler (so a scheduler in the server leaves them alone) and stay unbound unless the
//! test binds them with `nodeName` in the template: deleting an unbound pod is immediate once its finalizers are
//! gone, deleting a bound one waits for the "kubelet".

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Api, Kubectl, Server, eventually, have_kubectl};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const TRACKING: &str = "batch.kubernetes.io/job-tracking";
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
const FAILURE_COUNT_KEY: &str = "batch.kubernetes.io/job-index-failure-count";
/// How long the controller gets to react to one change.
const REACT: Duration = Duration::from_secs(15);

/// A server on a fresh data dir, a raw client and kubectl; the temp dir outlives the server.
struct Env {
    server: Server,
    api: Api,
    k: Kubectl,
    tmp: tempfile::TempDir,
}

impl Env {
    fn start() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
        let api = Api::new(&server);
        let k = Kubectl::new(server.kubeconfig(), tmp.path());
        Env { server, api, k, tmp }
    }

    /// SIGKILLs the server and starts another on the same data dir and address.
    fn crash_and_restart(self) -> Env {
        let Env { server, tmp, .. } = self;
        let (dir, addr) = server.kill9();
        let server = Server::start(&dir, &addr.to_string());
        let api = Api::new(&server);
        let k = Kubectl::new(server.kubeconfig(), tmp.path());
        Env { server, api, k, tmp }
    }

    fn create_job(&self, name: &str, spec: Value) -> Value {
        self.api.post(JOBS, &job(name, spec)).expect(201)
    }

    fn job(&self, name: &str) -> Value {
        self.api.get(&format!("{JOBS}/{name}")).expect(200)
    }

    fn job_opt(&self, name: &str) -> Option<Value> {
        let r = self.api.get(&format!("{JOBS}/{name}"));
        (r.code != 404).then(|| r.expect(200))
    }

    fn patch_job(&self, name: &str, patch: Value) -> Value {
        self.api.patch(&format!("{JOBS}/{name}"), "application/merge-patch+json", &patch).expect(200)
    }

    /// Waits until `ok` holds for the Job; panics with the last state seen otherwise.
    fn wait_job(&self, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.wait_job_for(name, what, REACT, ok)
    }

    fn wait_job_for(&self, name: &str, what: &str, timeout: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        eventually(timeout, || {
            last = self.job(name);
            ok(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("job {name}: {what} did not happen; last seen: {last:#}"))
    }

    /// Every pod whose labels match `selector` (`job-name=pi`), oldest name first.
    fn pods_matching(&self, selector: &str) -> Vec<Value> {
        let list = self.api.get(&format!("{PODS}?labelSelector={}", selector.replace('=', "%3D"))).expect(200);
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        items.sort_by_key(|p| (p["metadata"]["creationTimestamp"].to_string(), name_of(p).to_string()));
        items
    }

    /// Every pod of Job `job` (by the `job-name` label the controller gives them).
    fn pods(&self, job: &str) -> Vec<Value> {
        self.pods_matching(&format!("job-name={job}"))
    }

    fn active_pods(&self, job: &str) -> Vec<Value> {
        self.pods(job).into_iter().filter(is_active).collect()
    }

    /// Waits until Job `job` has exactly `n` active pods and returns them.
    fn wait_active(&self, job: &str, n: usize) -> Vec<Value> {
        let mut last = Vec::new();
        eventually(REACT, || {
            last = self.active_pods(job);
            (last.len() == n).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("job {job}: wanted {n} active pods, have {}: {last:#?}", last.len()))
    }

    fn pod_opt(&self, name: &str) -> Option<Value> {
        let r = self.api.get(&format!("{PODS}/{name}"));
        (r.code != 404).then(|| r.expect(200))
    }

    /// Plays kubelet: merges `status` into the pod's status.
    fn set_pod_status(&self, pod: &str, status: Value) {
        self.api
            .patch(&format!("{PODS}/{pod}/status"), "application/merge-patch+json", &json!({"status": status}))
            .expect(200);
    }

    fn succeed(&self, pod: &Value) {
        self.set_pod_status(name_of(pod), terminated(pod, "Succeeded", 0));
    }

    fn fail(&self, pod: &Value, exit_code: i32) {
        self.set_pod_status(name_of(pod), terminated(pod, "Failed", exit_code));
    }

    /// Plays kubelet finishing a graceful deletion: the containers were killed, then the object goes.
    fn kubelet_finish_deletion(&self, pod: &Value) {
        self.kubelet_finish_deletion_as(pod, "Failed", 143);
    }

    /// Plays kubelet finishing a graceful deletion whose containers ended with `exit_code`. (The API server may
    /// drop the pod as soon as it is terminal, before the kubelet's own delete.)
    fn kubelet_finish_deletion_as(&self, pod: &Value, phase: &str, exit_code: i32) {
        self.set_pod_status(name_of(pod), terminated(pod, phase, exit_code));
        let r = self.api.delete(&format!("{PODS}/{}", name_of(pod)), Some(&json!({"gracePeriodSeconds": 0})));
        assert!(r.code == 200 || r.code == 404, "kubelet delete: {} {}", r.code, r.text());
    }

    /// `(type, reason, message)` of every Event about object `name`, oldest first.
    fn events(&self, name: &str) -> Vec<(String, String, String)> {
        let list = self.api.get("/api/v1/namespaces/default/events").expect(200);
        let mut items: Vec<Value> = list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["involvedObject"]["name"] == name)
            .collect();
        items.sort_by_key(|e| e["metadata"]["name"].as_str().map(event_order).unwrap_or_default());
        items
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("type"), s("reason"), s("message"))
            })
            .collect()
    }

    fn has_event(&self, name: &str, type_: &str, reason: &str, message: &str) -> bool {
        self.events(name).iter().any(|(t, r, m)| t == type_ && r == reason && m == message)
    }
}

/// Events are named `<object>.<hex nanoseconds>`: order by the time part.
fn event_order(name: &str) -> u128 {
    name.rsplit('.').next().and_then(|h| u128::from_str_radix(h, 16).ok()).unwrap_or_default()
}

/// A Job with one container `c`, restartPolicy Never, and `spec` merged over that.
fn job(name: &str, spec: Value) -> Value {
    let mut j = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "schedulerName": "example.com/tests",
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        }}},
    });
    merge(&mut j["spec"], spec);
    j
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn name_of(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn uid_of(v: &Value) -> &str {
    v["metadata"]["uid"].as_str().unwrap_or_default()
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or_default()
}

fn is_active(p: &Value) -> bool {
    !matches!(phase(p), "Succeeded" | "Failed") && p["metadata"]["deletionTimestamp"].is_null()
}

fn finalizers(v: &Value) -> Vec<String> {
    v["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn has_tracking(v: &Value) -> bool {
    finalizers(v).iter().any(|f| f == TRACKING)
}

/// The object has ownerReferences (the API server may keep an emptied list as `[]`).
fn has_owner(v: &Value) -> bool {
    v["metadata"]["ownerReferences"].as_array().is_some_and(|o| !o.is_empty())
}

fn index_of(p: &Value) -> i64 {
    p["metadata"]["labels"][INDEX_KEY].as_str().and_then(|s| s.parse().ok()).expect("pod has an index label")
}

/// A status counter, 0 when absent.
fn count(job: &Value, field: &str) -> i64 {
    job["status"][field].as_i64().unwrap_or(0)
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// The Job has condition `type_` with status True.
fn has(job: &Value, type_: &str) -> bool {
    condition(job, type_).is_some_and(|c| c["status"] == "True")
}

/// `(type, status, reason, message)` of every condition, in order.
fn conditions(job: &Value) -> Vec<(String, String, String, String)> {
    job["status"]["conditions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (s("type"), s("status"), s("reason"), s("message"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn cond(type_: &str, reason: &str, message: &str) -> (String, String, String, String) {
    (type_.into(), "True".into(), reason.into(), message.into())
}

const COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";
const BACKOFF_LIMIT: &str = "Job has reached the specified backoff limit";

/// Asserts the Job's pod counters are all zero where a finished Job has them.
fn assert_nothing_running(job: &Value) {
    for f in ["active", "ready", "terminating"] {
        assert_eq!(count(job, f), 0, "{f}: {job:#}");
    }
    let uncounted = &job["status"]["uncountedTerminatedPods"];
    let empty = |k: &str| uncounted[k].as_array().is_none_or(|a| a.is_empty());
    assert!(empty("succeeded") && empty("failed"), "uncounted pods left: {job:#}");
}

/// RFC 3339 in whole seconds, UTC (what the API server writes).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

/// A kubelet's status for a pod whose containers all ended with `exit_code`.
fn terminated(pod: &Value, phase: &str, exit_code: i32) -> Value {
    let now = now();
    let reason = if exit_code == 0 { "Completed" } else { "Error" };
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c["name"], "image": c["image"], "imageID": "", "ready": false, "restartCount": 0,
                        "started": false,
                        "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now}},
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
        "containerStatuses": statuses,
    })
}

/// A kubelet's status for a pod whose container runs, ready or not.
fn running(ready: bool) -> Value {
    let now = now();
    let ready_s = if ready { "True" } else { "False" };
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": ready_s, "lastTransitionTime": now}],
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": ready, "restartCount": 0, "started": true,
            "state": {"running": {"startedAt": now}},
        }],
    })
}

/// A kubelet's status for a running OnFailure pod whose container crashed `restarts` times.
fn crash_looping(restarts: i32) -> Value {
    let now = now();
    json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": restarts, "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}},
        }],
    })
}

/// The data row of `kubectl get jobs` for `name`, split on whitespace.
fn get_jobs_row(env: &Env, name: &str) -> Vec<String> {
    let out = env.k.ok(&["get", "jobs"]);
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(head, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], "{out}");
    lines
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cols| cols.first().is_some_and(|c| c == name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
}

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

// ---------------------------------------------------------------------------------------------------------
// 1–3: NonIndexed Jobs, work queues, parallelism

#[test]
fn nonindexed_job_runs_up_to_parallelism_until_completions() {
    if !have_kubectl("nonindexed_job_runs_up_to_parallelism_until_completions") {
        return;
    }
    let env = Env::start();
    let created = env.create_job("pc", json!({"parallelism": 2, "completions": 3}));
    let uid = uid_of(&created).to_string();
    let pods = env.wait_active("pc", 2);
    for p in &pods {
        let name = name_of(p);
        assert!(name.starts_with("pc-") && name.len() == 8, "{name}");
        assert_eq!(p["metadata"]["generateName"], "pc-");
        assert_eq!(
            p["metadata"]["ownerReferences"],
            json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "pc", "uid": uid, "controller": true,
                    "blockOwnerDeletion": true}])
        );
        assert_eq!(finalizers(p), [TRACKING]);
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid.as_str());
        assert_eq!(labels["job-name"], "pc");
        assert!(p["metadata"]["annotations"][INDEX_KEY].is_null(), "{p}");
    }
    let j = env.wait_job("pc", "active=2 with a startTime", |j| count(j, "active") == 2);
    assert!(j["status"]["startTime"].is_string(), "{j:#}");
    assert_eq!(get_jobs_row(&env, "pc")[1..3], ["Running", "0/3"]);

    env.succeed(&pods[0]);
    env.wait_job("pc", "one success counted, a replacement running", |j| {
        count(j, "succeeded") == 1 && count(j, "active") == 2
    });
    assert_eq!(env.pods("pc").len(), 3);
    assert!(!has_tracking(&env.pod_opt(name_of(&pods[0])).unwrap()), "a counted pod keeps no finalizer");
    assert_eq!(get_jobs_row(&env, "pc")[1..3], ["Running", "1/3"]);

    env.succeed(&pods[1]);
    // One completion left: one pod is enough, none is added.
    env.wait_job("pc", "two successes, one active", |j| count(j, "succeeded") == 2 && count(j, "active") == 1);
    sleep(500);
    assert_eq!(env.pods("pc").len(), 3);
    let last = env.wait_active("pc", 1);
    env.succeed(&last[0]);

    let j = env.wait_job("pc", "Complete", |j| has(j, "Complete"));
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (3, 0), "{j:#}");
    assert_nothing_running(&j);
    assert_eq!(
        conditions(&j),
        [
            cond("SuccessCriteriaMet", "CompletionsReached", COMPLETIONS_REACHED),
            cond("Complete", "CompletionsReached", COMPLETIONS_REACHED)
        ]
    );
    assert_eq!(j["status"]["completionTime"], condition(&j, "Complete").unwrap()["lastTransitionTime"]);
    assert!(env.pods("pc").iter().all(|p| !has_tracking(p)));
    assert_eq!(get_jobs_row(&env, "pc")[1..3], ["Complete", "3/3"]);

    let all = env.pods("pc");
    let describe = eventually(REACT, || {
        let d = env.k.ok(&["describe", "job", "pc"]);
        d.contains("Job completed").then_some(d)
    })
    .unwrap_or_else(|| panic!("no Completed event: {:?}", env.events("pc")));
    let events = describe.split_once("Events:").expect("an Events section").1;
    for p in &all {
        let line = events.lines().find(|l| l.ends_with(&format!("Created pod: {}", name_of(p))));
        let line = line.unwrap_or_else(|| panic!("no SuccessfulCreate for {}:\n{describe}", name_of(p)));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((cols[0], cols[1]), ("Normal", "SuccessfulCreate"), "{line}");
        assert!(line.contains("job-controller"), "{line}");
    }
    let completed = events.lines().find(|l| l.ends_with("Job completed")).unwrap();
    assert!(completed.split_whitespace().take(2).eq(["Normal", "Completed"]), "{completed}");
    assert_eq!(env.events("pc").iter().filter(|e| e.1 == "SuccessfulCreate").count(), 3);
}

/// Many pods: created in slow-start batches, all finishing at once, each counted exactly once.
#[test]
fn many_pods_finishing_together_are_each_counted_once() {
    let env = Env::start();
    env.create_job("many", json!({"parallelism": 30, "completions": 27}));
    let pods = env.wait_active("many", 27);
    env.wait_job("many", "active=27", |j| count(j, "active") == 27);
    // Only 27 are needed even though 30 may run at once.
    sleep(300);
    assert_eq!(env.pods("many").len(), 27);
    for (i, p) in pods.iter().enumerate() {
        if i % 9 == 8 { env.fail(p, 1) } else { env.succeed(p) }
    }
    let j = env.wait_job("many", "all counted", |j| count(j, "succeeded") == 24 && count(j, "failed") == 3);
    assert!(!has(&j, "Complete"), "{j:#}");
    let more = env.wait_active("many", 3);
    for p in &more {
        env.succeed(p);
    }
    let j = env.wait_job_for("many", "Complete", Duration::from_secs(30), |j| has(j, "Complete"));
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (27, 3), "{j:#}");
    assert_nothing_running(&j);
    // 30 creations, recorded as upstream's correlator would: nine events of their own, then the tenth
    // different message starts one combined event (its count patched as more come, within the budget of
    // writes of the Job and reason).
    let created: Vec<String> =
        env.events("many").into_iter().filter(|e| e.1 == "SuccessfulCreate").map(|e| e.2).collect();
    assert_eq!(created.len(), 10, "{created:#?}");
    assert_eq!(created.iter().filter(|m| m.starts_with("Created pod: many-")).count(), 9, "{created:#?}");
    assert_eq!(
        created.iter().filter(|m| m.starts_with("(combined from similar events): Created pod: many-")).count(),
        1,
        "{created:#?}"
    );
    assert!(env.pods("many").iter().all(|p| !has_tracking(p)));
}

#[test]
fn work_queue_job_stops_creating_after_the_first_success() {
    let env = Env::start();
    env.create_job("wq", json!({"parallelism": 2}));
    let pods = env.wait_active("wq", 2);
    env.succeed(&pods[0]);
    let j = env.wait_job("wq", "the success counted", |j| count(j, "succeeded") == 1);
    assert_eq!(count(&j, "active"), 1, "{j:#}");
    sleep(700);
    let j = env.job("wq");
    assert_eq!(env.pods("wq").len(), 2, "no pod is created once one succeeded");
    assert!(!has(&j, "Complete") && !has(&j, "SuccessCriteriaMet"), "{j:#}");
    if have_kubectl("work_queue_job_stops_creating_after_the_first_success") {
        assert_eq!(get_jobs_row(&env, "wq")[1..4], ["Running", "1/1", "of"]);
    }

    // The other one fails: still complete (a work queue completes once any pod succeeded and none is left).
    env.fail(&pods[1], 1);
    if have_kubectl("work_queue_job_stops_creating_after_the_first_success") {
        let out = env.k.ok(&["wait", "--for=condition=complete", "job/wq", "--timeout=15s"]);
        assert_eq!(out.trim(), "job.batch/wq condition met");
    }
    let j = env.wait_job("wq", "Complete", |j| has(j, "Complete"));
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (1, 1), "{j:#}");
    assert_nothing_running(&j);
    assert_eq!(env.pods("wq").len(), 2);
}

#[test]
fn parallelism_zero_pauses_and_scale_resumes() {
    if !have_kubectl("parallelism_zero_pauses_and_scale_resumes") {
        return;
    }
    let env = Env::start();
    env.create_job("pz", json!({"parallelism": 2, "completions": 4}));
    let first = env.wait_active("pz", 2);
    env.patch_job("pz", json!({"spec": {"parallelism": 0}}));
    env.wait_job("pz", "no active pods", |j| count(j, "active") == 0);
    assert!(eventually(REACT, || env.pods("pz").is_empty().then_some(())).is_some(), "pods of a paused Job stay");
    let j = env.job("pz");
    assert_eq!((count(&j, "failed"), count(&j, "succeeded")), (0, 0), "deleted pods are not failures: {j:#}");
    assert!(conditions(&j).is_empty(), "parallelism 0 is not a suspension: {j:#}");
    for p in &first {
        assert!(env.has_event("pz", "Normal", "SuccessfulDelete", &format!("Deleted pod: {}", name_of(p))));
    }
    sleep(500);
    assert!(env.pods("pz").is_empty());

    assert_eq!(env.k.ok(&["scale", "--replicas=2", "job/pz"]).trim(), "job.batch/pz scaled");
    let again = env.wait_active("pz", 2);
    assert!(again.iter().all(|p| !first.iter().any(|f| name_of(f) == name_of(p))));
    let j = env.wait_job("pz", "active=2", |j| count(j, "active") == 2);
    assert_eq!(count(&j, "failed"), 0);
}

// ---------------------------------------------------------------------------------------------------------
// 4: Indexed Jobs

#[test]
fn indexed_job_gives_each_pod_its_index() {
    let env = Env::start();
    env.create_job("idx", json!({"parallelism": 2, "completions": 3, "completionMode": "Indexed"}));
    let pods = env.wait_active("idx", 2);
    let mut indexes: Vec<i64> = pods.iter().map(index_of).collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1]);
    for p in &pods {
        let i = index_of(p);
        assert_eq!(p["metadata"]["generateName"], format!("idx-{i}-"));
        assert!(name_of(p).starts_with(&format!("idx-{i}-")));
        assert_eq!(p["metadata"]["annotations"][INDEX_KEY], i.to_string());
        assert_eq!(p["spec"]["hostname"], format!("idx-{i}"));
        assert_eq!(
            p["spec"]["containers"][0]["env"],
            json!([{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1",
                "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}])
        );
    }
    let by_index = |i: i64| pods.iter().find(|p| index_of(p) == i).unwrap().clone();

    env.succeed(&by_index(0));
    let j = env.wait_job("idx", "index 0 done", |j| j["status"]["completedIndexes"] == "0");
    assert_eq!(count(&j, "succeeded"), 1);
    let now_active = env.wait_active("idx", 2);
    let idx2 = now_active.iter().find(|p| index_of(p) == 2).expect("index 2 created next").clone();
    env.succeed(&idx2);
    env.wait_job("idx", "indexes 0 and 2 done", |j| j["status"]["completedIndexes"] == "0,2");
    env.succeed(&by_index(1));
    let j = env.wait_job("idx", "Complete", |j| has(j, "Complete"));
    assert_eq!(j["status"]["completedIndexes"], "0-2");
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (3, 0));
    assert_nothing_running(&j);
    assert_eq!(env.pods("idx").len(), 3);
}

// ---------------------------------------------------------------------------------------------------------
// 5: failures and back-off

#[test]
fn never_pods_fail_up_to_the_backoff_limit_with_a_backoff_delay() {
    let env = Env::start();
    env.create_job("bl", json!({"backoffLimit": 1}));
    let first = env.wait_active("bl", 1);
    env.fail(&first[0], 1);
    let failed_at = Instant::now();
    let j = env.wait_job("bl", "first failure counted", |j| count(j, "failed") == 1);
    assert!(conditions(&j).is_empty(), "{j:#}");
    // The replacement waits out the 10 s pod-failure back-off (finish times have 1 s resolution).
    while failed_at.elapsed() < Duration::from_secs(5) {
        assert_eq!(env.pods("bl").len(), 1, "replacement created {:?} after the failure", failed_at.elapsed());
        sleep(250);
    }
    let second = eventually(Duration::from_secs(12), || env.active_pods("bl").pop()).expect("a replacement pod");
    let waited = failed_at.elapsed();
    assert!(waited >= Duration::from_secs(8), "replacement after only {waited:?}");
    env.fail(&second, 2);

    let j = env.wait_job("bl", "Failed", |j| has(j, "Failed"));
    assert_eq!(
        conditions(&j),
        [
            cond("FailureTarget", "BackoffLimitExceeded", BACKOFF_LIMIT),
            cond("Failed", "BackoffLimitExceeded", BACKOFF_LIMIT)
        ]
    );
    assert_eq!((count(&j, "failed"), count(&j, "succeeded")), (2, 0), "{j:#}");
    assert_nothing_running(&j);
    assert!(j["status"]["completionTime"].is_null(), "{j:#}");
    let pods = env.pods("bl");
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| phase(p) == "Failed" && !has_tracking(p)), "{pods:#?}");
    assert!(
        eventually(REACT, || env.has_event("bl", "Warning", "BackoffLimitExceeded", BACKOFF_LIMIT).then_some(()))
            .is_some()
    );
    if have_kubectl("never_pods_fail_up_to_the_backoff_limit_with_a_backoff_delay") {
        assert_eq!(get_jobs_row(&env, "bl")[1..3], ["Failed", "0/1"]);
    }
}

/// Known issue #54870: with OnFailure the pod restarts in place and never fails; the restart count must fail
/// the Job.
#[test]
fn on_failure_restarts_count_toward_the_backoff_limit() {
    let env = Env::start();
    env.create_job("of", json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}));
    let pod = env.wait_active("of", 1).remove(0);
    env.set_pod_status(name_of(&pod), crash_looping(1));
    sleep(800);
    let j = env.job("of");
    assert!(conditions(&j).is_empty() && count(&j, "active") == 1, "one restart is below the limit: {j:#}");

    env.set_pod_status(name_of(&pod), crash_looping(2));
    let j = env.wait_job("of", "Failed", |j| has(j, "Failed"));
    assert_eq!(
        conditions(&j),
        [
            cond("FailureTarget", "BackoffLimitExceeded", BACKOFF_LIMIT),
            cond("Failed", "BackoffLimitExceeded", BACKOFF_LIMIT)
        ]
    );
    assert_eq!(count(&j, "failed"), 1, "{j:#}");
    assert_nothing_running(&j);
    assert!(eventually(REACT, || env.pod_opt(name_of(&pod)).is_none().then_some(())).is_some(), "the pod is deleted");
    assert_eq!(env.pods("of").len(), 0);
}

// ---------------------------------------------------------------------------------------------------------
// 6: pod failure policy

#[test]
fn pod_failure_policy_fail_job_on_exit_code() {
    let env = Env::start();
    env.create_job(
        "pfp",
        json!({"parallelism": 2, "completions": 2, "backoffLimit": 6, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [5, 6, 7]}},
        ]}}),
    );
    let pods = env.wait_active("pfp", 2);
    env.fail(&pods[0], 5);
    let j = env.wait_job("pfp", "Failed", |j| has(j, "Failed"));
    let message = format!(
        "Container c for pod default/{} failed with exit code 5 matching FailJob rule at index 1",
        name_of(&pods[0])
    );
    assert_eq!(
        conditions(&j),
        [cond("FailureTarget", "PodFailurePolicy", &message), cond("Failed", "PodFailurePolicy", &message)]
    );
    // The other pod was deleted and counted as failed too.
    assert_eq!(count(&j, "failed"), 2, "{j:#}");
    assert_nothing_running(&j);
    assert!(env.pod_opt(name_of(&pods[1])).is_none());
    assert!(
        eventually(REACT, || env.has_event("pfp", "Warning", "PodFailurePolicy", &message).then_some(())).is_some()
    );
}

#[test]
fn pod_failure_policy_ignores_disruptions() {
    let env = Env::start();
    env.create_job(
        "ign",
        json!({"backoffLimit": 0, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]}}),
    );
    let pod = env.wait_active("ign", 1).remove(0);
    let mut status = terminated(&pod, "Failed", 137);
    status["conditions"].as_array_mut().unwrap().push(json!({
        "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting", "lastTransitionTime": now(),
    }));
    env.set_pod_status(name_of(&pod), status);
    let failed_at = Instant::now();
    // Not counted, so backoffLimit 0 is not exceeded; a replacement comes after the back-off (ignored failures
    // still lengthen it).
    let j = env.wait_job("ign", "the pod's finalizer released", |_| {
        env.pod_opt(name_of(&pod)).is_some_and(|p| !has_tracking(&p))
    });
    assert_eq!(count(&j, "failed"), 0, "{j:#}");
    let replacement = eventually(Duration::from_secs(15), || env.active_pods("ign").pop()).expect("a replacement");
    assert!(failed_at.elapsed() >= Duration::from_secs(5), "replacement came after {:?}", failed_at.elapsed());
    let j = env.job("ign");
    assert!(conditions(&j).is_empty(), "{j:#}");
    assert_eq!(count(&j, "failed"), 0, "{j:#}");

    env.succeed(&replacement);
    let j = env.wait_job("ign", "Complete", |j| has(j, "Complete"));
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (1, 0), "{j:#}");
}

// ---------------------------------------------------------------------------------------------------------
// 7: success policy

#[test]
fn success_policy_completes_an_indexed_job_early() {
    let env = Env::start();
    // Bound pods: the deleted leftovers stay Terminating until the "kubelet" ends them, so the interim
    // SuccessCriteriaMet is visible before Complete.
    env.create_job(
        "sp",
        json!({"parallelism": 2, "completions": 3, "completionMode": "Indexed",
               "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
               "template": {"spec": {"nodeName": "node-a"}}}),
    );
    let pods = env.wait_active("sp", 2);
    let zero = pods.iter().find(|p| index_of(p) == 0).unwrap();
    let one = pods.iter().find(|p| index_of(p) == 1).unwrap();
    env.succeed(zero);
    let message = "Matched rules at index 0";
    let j = env.wait_job("sp", "SuccessCriteriaMet", |j| has(j, "SuccessCriteriaMet"));
    assert_eq!(conditions(&j), [cond("SuccessCriteriaMet", "SuccessPolicy", message)]);
    assert_eq!(count(&j, "terminating"), 1, "{j:#}");
    assert_eq!(count(&j, "active"), 0, "{j:#}");
    let left = env.pod_opt(name_of(one)).expect("index 1 is terminating");
    assert!(left["metadata"]["deletionTimestamp"].is_string(), "{left:#}");
    sleep(500);
    assert!(!has(&env.job("sp"), "Complete"), "Complete waits for terminating pods");
    if have_kubectl("success_policy_completes_an_indexed_job_early") {
        // 1.33 has no SuccessCriteriaMet status column value.
        assert_eq!(get_jobs_row(&env, "sp")[1], "Running");
    }

    env.kubelet_finish_deletion(&left);
    let j = env.wait_job("sp", "Complete", |j| has(j, "Complete"));
    assert_eq!(
        conditions(&j),
        [cond("SuccessCriteriaMet", "SuccessPolicy", message), cond("Complete", "SuccessPolicy", message)]
    );
    assert_eq!(j["status"]["completedIndexes"], "0");
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (1, 0), "{j:#}");
    assert_nothing_running(&j);
    assert!(j["status"]["completionTime"].is_string());
}

// ---------------------------------------------------------------------------------------------------------
// 8: active deadline

#[test]
fn active_deadline_fails_the_job_and_counts_its_pods() {
    let env = Env::start();
    env.create_job(
        "ads",
        json!({"parallelism": 2, "completions": 4, "activeDeadlineSeconds": 1,
               "template": {"spec": {"nodeName": "node-a"}}}),
    );
    let msg = "Job was active longer than specified deadline";
    let j = env.wait_job("ads", "FailureTarget", |j| has(j, "FailureTarget"));
    assert_eq!(conditions(&j)[0], cond("FailureTarget", "DeadlineExceeded", msg));
    let j = env.wait_job("ads", "both pods counted", |j| count(j, "failed") == 2);
    assert_eq!(count(&j, "active"), 0, "{j:#}");
    let pods = env.pods("ads");
    assert_eq!(pods.len(), 2, "{pods:#?}");
    for p in &pods {
        assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p:#}");
        assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
    }
    assert!(!has(&env.job("ads"), "Failed"), "Failed waits for the terminating pods");
    for p in &pods {
        env.kubelet_finish_deletion(p);
    }
    let j = env.wait_job("ads", "Failed", |j| has(j, "Failed"));
    assert_eq!(
        conditions(&j),
        [cond("FailureTarget", "DeadlineExceeded", msg), cond("Failed", "DeadlineExceeded", msg)]
    );
    assert_eq!((count(&j, "failed"), count(&j, "succeeded")), (2, 0), "{j:#}");
    assert_nothing_running(&j);
    assert!(env.pods("ads").is_empty());
    assert!(eventually(REACT, || env.has_event("ads", "Warning", "DeadlineExceeded", msg).then_some(())).is_some());
}

// ---------------------------------------------------------------------------------------------------------
// 9: suspend and resume

#[test]
fn suspend_deletes_pods_without_counting_them() {
    let env = Env::start();
    env.create_job("sus", json!({"parallelism": 2, "completions": 4}));
    let first = env.wait_active("sus", 2);
    let started = env.wait_job("sus", "started", |j| j["status"]["startTime"].is_string());
    for p in &first {
        env.set_pod_status(name_of(p), running(true));
    }
    env.wait_job("sus", "both pods ready", |j| count(j, "ready") == 2 && count(j, "active") == 2);

    env.patch_job("sus", json!({"spec": {"suspend": true}}));
    let j = env.wait_job("sus", "Suspended", |j| has(j, "Suspended"));
    assert_eq!(conditions(&j), [cond("Suspended", "JobSuspended", "Job suspended")]);
    assert!(eventually(REACT, || env.pods("sus").is_empty().then_some(())).is_some(), "{:#?}", env.pods("sus"));
    let j = env.wait_job("sus", "no active pods", |j| count(j, "active") == 0);
    assert_eq!((count(&j, "failed"), count(&j, "succeeded"), count(&j, "ready")), (0, 0, 0), "{j:#}");
    assert_eq!(j["status"]["startTime"], started["status"]["startTime"], "suspending keeps startTime");
    assert!(env.has_event("sus", "Normal", "Suspended", "Job suspended"));
    for p in &first {
        assert!(env.has_event("sus", "Normal", "SuccessfulDelete", &format!("Deleted pod: {}", name_of(p))));
    }
    sleep(500);
    assert!(env.pods("sus").is_empty(), "a suspended Job creates no pods");
    if have_kubectl("suspend_deletes_pods_without_counting_them") {
        assert_eq!(get_jobs_row(&env, "sus")[1..3], ["Suspended", "0/4"]);
    }
}

#[test]
fn created_suspended_then_resumed_runs_to_completion() {
    let env = Env::start();
    env.create_job("cs", json!({"parallelism": 2, "completions": 2, "suspend": true}));
    let j = env.wait_job("cs", "Suspended", |j| has(j, "Suspended"));
    assert!(j["status"]["startTime"].is_null(), "a Job that never ran has no startTime: {j:#}");
    sleep(300);
    assert!(env.pods("cs").is_empty());

    env.patch_job("cs", json!({"spec": {"suspend": false}}));
    let pods = env.wait_active("cs", 2);
    let j = env.wait_job("cs", "resumed", |j| condition(j, "Suspended").is_some_and(|c| c["status"] == "False"));
    assert_eq!(conditions(&j), [("Suspended".into(), "False".into(), "JobResumed".into(), "Job resumed".into())]);
    assert!(j["status"]["startTime"].is_string(), "{j:#}");
    assert!(eventually(REACT, || env.has_event("cs", "Normal", "Resumed", "Job resumed").then_some(())).is_some());
    for p in &pods {
        env.succeed(p);
    }
    let j = env.wait_job("cs", "Complete", |j| has(j, "Complete"));
    assert_eq!(count(&j, "succeeded"), 2);
}

/// Resuming a Job that ran before restarts its deadline clock: the controller writes a new `startTime` together
/// with `Suspended=False`.
#[test]
fn resume_after_running_resets_start_time() {
    let env = Env::start();
    env.create_job("res", json!({"parallelism": 2, "completions": 4}));
    env.wait_active("res", 2);
    let started = env.wait_job("res", "started", |j| j["status"]["startTime"].is_string());
    let start1 = started["status"]["startTime"].as_str().unwrap().to_string();
    env.patch_job("res", json!({"spec": {"suspend": true}}));
    env.wait_job("res", "Suspended", |j| has(j, "Suspended") && count(j, "active") == 0);
    // Timestamps have whole seconds.
    sleep(1100);

    env.patch_job("res", json!({"spec": {"suspend": false}}));
    env.wait_active("res", 2);
    let j = env.wait_job("res", "resumed", |j| condition(j, "Suspended").is_some_and(|c| c["status"] == "False"));
    let c = condition(&j, "Suspended").unwrap();
    assert_eq!((c["reason"].as_str(), c["message"].as_str()), (Some("JobResumed"), Some("Job resumed")));
    let start2 = j["status"]["startTime"].as_str().unwrap();
    assert!(start2 > start1.as_str(), "startTime {start2} not reset after {start1}");
    assert!(eventually(REACT, || env.has_event("res", "Normal", "Resumed", "Job resumed").then_some(())).is_some());
    let j = env.wait_job("res", "two active", |j| count(j, "active") == 2);
    assert_eq!(count(&j, "failed"), 0);
}

// ---------------------------------------------------------------------------------------------------------
// 10: backoffLimitPerIndex

#[test]
fn backoff_limit_per_index_fails_indexes() {
    let env = Env::start();
    env.create_job(
        "bpi",
        json!({"parallelism": 2, "completions": 2, "completionMode": "Indexed", "backoffLimitPerIndex": 1}),
    );
    let pods = env.wait_active("bpi", 2);
    for p in &pods {
        assert_eq!(p["metadata"]["annotations"][FAILURE_COUNT_KEY], "0", "{p:#}");
    }
    let zero = pods.iter().find(|p| index_of(p) == 0).unwrap();
    let one = pods.iter().find(|p| index_of(p) == 1).unwrap();
    env.succeed(zero);
    env.fail(one, 1);
    // Index 1 gets one retry after its back-off, carrying the failure count.
    let retry = eventually(Duration::from_secs(15), || env.active_pods("bpi").pop()).expect("a retry of index 1");
    assert_eq!(index_of(&retry), 1);
    assert_eq!(retry["metadata"]["annotations"][FAILURE_COUNT_KEY], "1", "{retry:#}");
    let j = env.job("bpi");
    assert_eq!((count(&j, "failed"), j["status"]["failedIndexes"].as_str()), (1, Some("")), "{j:#}");
    env.fail(&retry, 1);

    let j = env.wait_job("bpi", "Failed", |j| has(j, "Failed"));
    let msg = "Job has failed indexes";
    assert_eq!(conditions(&j), [cond("FailureTarget", "FailedIndexes", msg), cond("Failed", "FailedIndexes", msg)]);
    assert_eq!(j["status"]["failedIndexes"], "1");
    assert_eq!(j["status"]["completedIndexes"], "0");
    assert_eq!((count(&j, "failed"), count(&j, "succeeded")), (2, 1), "{j:#}");
    assert_nothing_running(&j);
    assert!(env.pods("bpi").iter().all(|p| !has_tracking(p)));
}

#[test]
fn max_failed_indexes_fails_the_job_at_once() {
    let env = Env::start();
    env.create_job(
        "mfi",
        json!({"parallelism": 1, "completions": 4, "completionMode": "Indexed", "backoffLimitPerIndex": 0,
               "maxFailedIndexes": 0}),
    );
    let pod = env.wait_active("mfi", 1).remove(0);
    assert_eq!(index_of(&pod), 0);
    env.fail(&pod, 3);
    let j = env.wait_job("mfi", "Failed", |j| has(j, "Failed"));
    let msg = "Job has exceeded the specified maximal number of failed indexes";
    assert_eq!(
        conditions(&j),
        [cond("FailureTarget", "MaxFailedIndexesExceeded", msg), cond("Failed", "MaxFailedIndexesExceeded", msg)]
    );
    assert_eq!(j["status"]["failedIndexes"], "0");
    assert_eq!(count(&j, "failed"), 1, "{j:#}");
    assert_nothing_running(&j);
    assert_eq!(env.pods("mfi").len(), 1, "only one pod was ever created");
}

// ---------------------------------------------------------------------------------------------------------
// 11: managedBy

#[test]
fn job_managed_by_another_controller_is_left_alone() {
    let env = Env::start();
    env.create_job("ext", json!({"managedBy": "example.com/other", "parallelism": 2, "completions": 2}));
    // A Job we manage, created after it, shows the controller is working.
    env.create_job("own", json!({}));
    env.wait_active("own", 1);
    sleep(700);
    let j = env.job("ext");
    assert!(j.get("status").is_none_or(|s| s == &json!({})), "{j:#}");
    assert!(env.pods("ext").is_empty());
    assert!(env.events("ext").is_empty(), "{:?}", env.events("ext"));
}

// ---------------------------------------------------------------------------------------------------------
// 12: TTL after finished

#[test]
fn ttl_after_finished_deletes_the_job_and_its_pods() {
    let env = Env::start();
    // 2 s rather than 1: condition times have whole seconds, so the Job must outlive the moment its Complete
    // condition is seen by at least 1 s (minus how late that was seen).
    env.create_job("ttl", json!({"ttlSecondsAfterFinished": 2}));
    let pod = env.wait_active("ttl", 1).remove(0);
    env.succeed(&pod);
    let done = env.wait_job("ttl", "Complete", |j| has(j, "Complete"));
    let seen_complete = Instant::now();
    assert!(done["metadata"]["deletionTimestamp"].is_null());
    eventually(Duration::from_secs(10), || env.job_opt("ttl").is_none().then_some(())).expect("the Job is deleted");
    let after = seen_complete.elapsed();
    // Not at once (the TTL is at least 1 s past the whole-second finish time; allow for seeing Complete late), and
    // not long after.
    assert!(after >= Duration::from_millis(300) && after < Duration::from_secs(8), "deleted {after:?} after finishing");
    assert!(eventually(REACT, || env.pods("ttl").is_empty().then_some(())).is_some(), "its pod is deleted");
}

/// Someone else deleting a pod: by default it counts as failed at once (even though it later exits 0); with
/// `podReplacementPolicy: Failed` it is only `terminating` until it has really failed.
#[test]
fn deleted_pods_count_as_failed_per_the_replacement_policy() {
    let env = Env::start();
    let bound = json!({"template": {"spec": {"nodeName": "node-a"}}});
    env.create_job("dflt", bound.clone());
    let mut failed_policy = bound;
    failed_policy["podReplacementPolicy"] = json!("Failed");
    env.create_job("onfail", failed_policy);
    let dflt = env.wait_active("dflt", 1).remove(0);
    let onfail = env.wait_active("onfail", 1).remove(0);
    for p in [&dflt, &onfail] {
        env.set_pod_status(name_of(p), running(true));
        assert_eq!(env.api.delete(&format!("{PODS}/{}", name_of(p)), None).code, 200);
    }

    let j = env.wait_job("dflt", "the deleted pod counted as failed", |j| count(j, "failed") == 1);
    assert_eq!((count(&j, "active"), count(&j, "terminating")), (0, 1), "{j:#}");
    let j = env.wait_job("onfail", "the deleted pod terminating", |j| count(j, "terminating") == 1);
    assert_eq!((count(&j, "active"), count(&j, "failed"), count(&j, "ready")), (0, 0, 0), "{j:#}");
    sleep(500);
    assert_eq!(env.pods("onfail").len(), 1, "no replacement while the pod terminates");
    assert_eq!(count(&env.job("onfail"), "failed"), 0);

    // The kubelet ends both: the default-policy pod exited 0, still a failure; the other one failed.
    env.kubelet_finish_deletion_as(&dflt, "Succeeded", 0);
    env.kubelet_finish_deletion(&env.pod_opt(name_of(&onfail)).unwrap());
    let j = env.wait_job("dflt", "nothing terminating", |j| count(j, "terminating") == 0);
    assert_eq!((count(&j, "failed"), count(&j, "succeeded")), (1, 0), "{j:#}");
    let j = env.wait_job("onfail", "the pod counted once it failed", |j| count(j, "failed") == 1);
    assert_eq!(count(&j, "terminating"), 0, "{j:#}");
    assert!(env.pod_opt(name_of(&dflt)).is_none() && env.pod_opt(name_of(&onfail)).is_none());
}

// ---------------------------------------------------------------------------------------------------------
// 13: garbage collection

#[test]
fn deleting_a_job_cascades_as_asked() {
    if !have_kubectl("deleting_a_job_cascades_as_asked") {
        return;
    }
    let env = Env::start();
    for name in ["bg", "orph", "raw"] {
        env.create_job(name, json!({"parallelism": 2, "completions": 2}));
    }
    // Bound pods: a foreground delete must wait for them to be gone.
    env.create_job("fg", json!({"parallelism": 2, "completions": 2, "template": {"spec": {"nodeName": "node-a"}}}));
    for name in ["bg", "orph", "raw", "fg"] {
        env.wait_active(name, 2);
    }

    // Background (kubectl's default): the Job goes at once, the collector deletes its pods.
    assert_eq!(env.k.ok(&["delete", "job", "bg"]).trim(), "job.batch \"bg\" deleted");
    assert!(env.job_opt("bg").is_none());
    eventually(REACT, || env.pods("bg").is_empty().then_some(())).expect("pods of bg deleted");

    // Orphan: the pods stay, owned by nothing and with no tracking finalizer.
    let orphans: Vec<String> = env.pods("orph").iter().map(|p| name_of(p).to_string()).collect();
    assert_eq!(env.k.ok(&["delete", "job", "orph", "--cascade=orphan"]).trim(), "job.batch \"orph\" deleted");
    assert!(env.job_opt("orph").is_none());
    for name in &orphans {
        let p = eventually(REACT, || env.pod_opt(name).filter(|p| !has_owner(p)))
            .unwrap_or_else(|| panic!("{name} still owned: {:#?}", env.pod_opt(name)));
        let p = eventually(REACT, || env.pod_opt(name).filter(|p| !has_tracking(p))).unwrap_or(p);
        assert!(!has_tracking(&p), "{p:#}");
        assert!(p["metadata"]["deletionTimestamp"].is_null(), "{p:#}");
    }
    sleep(500);
    assert_eq!(env.pods("orph").len(), 2, "orphans are not collected");

    // A raw API delete without a policy orphans too, with a warning.
    let r = env.api.delete(&format!("{JOBS}/raw"), None);
    assert_eq!(r.code, 200, "{}", r.text());
    let warning = r.header_values("warning").join(" ");
    assert!(warning.contains("child pods are preserved by default when jobs are deleted"), "{warning}");
    eventually(REACT, || env.job_opt("raw").is_none().then_some(())).expect("raw deleted");
    eventually(REACT, || {
        let pods = env.pods("raw");
        (pods.len() == 2 && pods.iter().all(|p| !has_owner(p) && !has_tracking(p))).then_some(())
    })
    .unwrap_or_else(|| panic!("raw's pods not orphaned: {:#?}", env.pods("raw")));

    // Foreground: the Job stays (Terminating) until its pods are gone.
    let fg_pods = env.pods("fg");
    env.k.ok(&["delete", "job", "fg", "--cascade=foreground", "--wait=false"]);
    let j = env.job("fg");
    assert!(j["metadata"]["deletionTimestamp"].is_string(), "{j:#}");
    assert!(finalizers(&j).contains(&"foregroundDeletion".to_string()), "{j:#}");
    eventually(REACT, || env.pods("fg").iter().all(|p| p["metadata"]["deletionTimestamp"].is_string()).then_some(()))
        .expect("fg's pods are being deleted");
    sleep(500);
    assert!(env.job_opt("fg").is_some(), "the Job waits for its pods");
    assert_eq!(get_jobs_row(&env, "fg")[1], "Terminating");
    for p in &fg_pods {
        env.kubelet_finish_deletion(p);
    }
    eventually(REACT, || env.pods("fg").is_empty().then_some(())).expect("fg's pods gone");
    eventually(REACT, || env.job_opt("fg").is_none().then_some(())).expect("fg deleted after its pods");
}

/// Pods still held by the tracking finalizer of a deleted Job are released even when a new Job of the same name
/// exists by then (they are matched by owner UID, not by name).
#[test]
fn recreating_a_job_under_the_same_name_releases_the_old_pods() {
    let env = Env::start();
    let mut created = env.create_job("again", json!({"parallelism": 2, "completions": 2}));
    let mut old = Vec::new();
    // A few rounds, so that the new Job sometimes exists before the old pods are looked at.
    for round in 0..4 {
        let created_at = Instant::now();
        let pods = env.wait_active("again", 2);
        // Nothing of the previous Job (its pod-failure back-off) holds the new one back.
        assert!(created_at.elapsed() < Duration::from_secs(5), "round {round}: pods after {:?}", created_at.elapsed());
        env.fail(&pods[0], 1);
        env.wait_job("again", "the failure counted", |j| count(j, "failed") == 1);
        old.extend(pods);
        let r = env.api.delete(&format!("{JOBS}/again"), Some(&json!({"propagationPolicy": "Background"})));
        assert_eq!(r.code, 200, "{}", r.text());
        created = env.create_job("again", json!({"parallelism": 2, "completions": 2}));
    }
    for p in &old {
        eventually(REACT, || env.pod_opt(name_of(p)).is_none().then_some(()))
            .unwrap_or_else(|| panic!("old pod stays: {:#}", env.pod_opt(name_of(p)).unwrap_or_default()));
    }
    let new = env.wait_active("again", 2);
    assert!(new.iter().all(|p| p["metadata"]["ownerReferences"][0]["uid"] == uid_of(&created)));

    // The same, deterministically: a pod of an earlier "again" that the live one never owned.
    let stale = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stale", "finalizers": [TRACKING], "labels": {"job-name": "again"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "again",
                                          "uid": "00000000-0000-0000-0000-000000000001", "controller": true,
                                          "blockOwnerDeletion": true}]},
        "spec": {"schedulerName": "example.com/tests", "restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox"}]},
    });
    env.api.post(PODS, &stale).expect(201);
    eventually(REACT, || env.pod_opt("stale").is_none().then_some(()))
        .unwrap_or_else(|| panic!("stale pod stays: {:#}", env.pod_opt("stale").unwrap_or_default()));
    assert_eq!(env.active_pods("again").len(), 2);
}

/// Deleting a namespace takes its running Job and the Job's pods with it (the pods' tracking finalizers do not
/// hold it up).
#[test]
fn deleting_a_namespace_with_a_running_job_finishes() {
    let env = Env::start();
    env.api
        .post("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}}))
        .expect(201);
    let jobs = "/apis/batch/v1/namespaces/tmp/jobs";
    env.api.post(jobs, &job("doomed", json!({"parallelism": 3, "completions": 6}))).expect(201);
    let pods_path = "/api/v1/namespaces/tmp/pods";
    eventually(REACT, || (env.api.get(pods_path).expect(200)["items"].as_array()?.len() == 3).then_some(()))
        .expect("three pods in tmp");
    assert_eq!(env.api.delete("/api/v1/namespaces/tmp", None).code, 200);
    eventually(Duration::from_secs(20), || (env.api.get("/api/v1/namespaces/tmp").code == 404).then_some(()))
        .unwrap_or_else(|| {
            panic!(
                "namespace stays: {:#}\n{:#}",
                env.api.get("/api/v1/namespaces/tmp").json(),
                env.api.get(pods_path).json()
            )
        });
}

// ---------------------------------------------------------------------------------------------------------
// 14: exactly-once counting across a crash

#[test]
fn counts_stay_exact_across_a_crash() {
    const COMPLETIONS: i64 = 8;
    let mut env = Env::start();
    env.create_job("crash", json!({"parallelism": 4, "completions": COMPLETIONS, "backoffLimit": 10}));
    let (mut succeeded, mut failed) = (0, 0);
    while succeeded < COMPLETIONS {
        // The replacement after the first round's failure waits out a 10 s back-off.
        let want = 4.min(COMPLETIONS - succeeded) as usize;
        let pods = eventually(Duration::from_secs(25), || {
            let a = env.active_pods("crash");
            (a.len() == want).then_some(a)
        })
        .unwrap_or_else(|| panic!("wanted {want} active pods: {:#?}", env.pods("crash")));
        // A burst of endings, then SIGKILL while the controller is counting them.
        for (i, p) in pods.iter().enumerate() {
            if failed == 0 && i == pods.len() - 1 {
                env.fail(p, 1);
                failed += 1;
            } else {
                env.succeed(p);
                succeeded += 1;
            }
        }
        env = env.crash_and_restart();
        let (s, f) = (succeeded, failed);
        env.wait_job("crash", "counts caught up", |j| count(j, "succeeded") == s && count(j, "failed") == f);
    }
    let j = env.wait_job("crash", "Complete", |j| has(j, "Complete"));
    assert_eq!((count(&j, "succeeded"), count(&j, "failed")), (COMPLETIONS, 1), "{j:#}");
    assert_nothing_running(&j);
    let pods = env.pods("crash");
    assert_eq!(pods.len() as i64, COMPLETIONS + 1, "{pods:#?}");
    assert!(pods.iter().all(|p| !has_tracking(p)));
}

// ---------------------------------------------------------------------------------------------------------
// 15: adoption and release

#[test]
fn orphans_matching_the_selector_are_adopted_and_strays_released() {
    let env = Env::start();
    let orphan = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "adopt"}},
        "spec": {"schedulerName": "example.com/tests", "restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox"}]},
    });
    env.api.post(PODS, &orphan).expect(201);
    let created = env.create_job(
        "adopt",
        json!({"parallelism": 2, "completions": 2, "manualSelector": true,
               "selector": {"matchLabels": {"app": "adopt"}},
               "template": {"metadata": {"labels": {"app": "adopt"}}}}),
    );
    let uid = uid_of(&created).to_string();
    let adopted = eventually(REACT, || {
        env.pod_opt("stray").filter(|p| p["metadata"]["ownerReferences"][0]["uid"] == uid.as_str())
    })
    .unwrap_or_else(|| panic!("not adopted: {:#?}", env.pod_opt("stray")));
    assert_eq!(
        adopted["metadata"]["ownerReferences"],
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "adopt", "uid": uid, "controller": true,
                "blockOwnerDeletion": true}])
    );
    assert_eq!(finalizers(&adopted), [TRACKING]);
    // The adopted pod counts as one of the two.
    let j = env.wait_job("adopt", "two active", |j| count(j, "active") == 2);
    assert_eq!(env.pods_matching("app=adopt").len(), 2, "{j:#}");

    // A pod whose labels stop matching is released (and loses the tracking finalizer); a new one replaces it.
    let other = env.pods_matching("app=adopt").into_iter().find(|p| name_of(p) != "stray").unwrap();
    env.api
        .patch(
            &format!("{PODS}/{}", name_of(&other)),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"app": "gone"}}}),
        )
        .expect(200);
    let released = eventually(REACT, || {
        env.pod_opt(name_of(&other))
            .filter(|p| p["metadata"]["ownerReferences"].as_array().is_none_or(|o| o.is_empty()) && !has_tracking(p))
    })
    .unwrap_or_else(|| panic!("not released: {:#?}", env.pod_opt(name_of(&other))));
    assert!(released["metadata"]["deletionTimestamp"].is_null());
    let now_active = eventually(REACT, || {
        let a: Vec<Value> = env.pods_matching("app=adopt").into_iter().filter(is_active).collect();
        (a.len() == 2).then_some(a)
    })
    .expect("a replacement for the released pod");

    // The adopted pod's success is counted like any other.
    for p in &now_active {
        env.succeed(p);
    }
    let j = env.wait_job("adopt", "Complete", |j| has(j, "Complete"));
    assert_eq!(count(&j, "succeeded"), 2, "{j:#}");
    assert!(env.pod_opt("stray").is_some_and(|p| !has_tracking(&p)));
}
