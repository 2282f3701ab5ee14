//! Requests that once took `runlet server` down or were answered unlike Kubernetes, each checked on a real
//! server process: the server must answer every one with the `Status` kube-apiserver gives, and keep serving.

mod support;

use serde_json::{Value, json};
use support::{Api, Server};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn start() -> (tempfile::TempDir, Server, Api) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    (tmp, server, api)
}

/// A Job the server's own controller leaves alone (`managedBy` names another), so nothing but the test changes it.
fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"managedBy": "example.com/tests", "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        }}},
    })
}

/// A Pod no scheduler binds (another `schedulerName`).
fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"schedulerName": "example.com/tests", "restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox"}]},
    })
}

/// The server still reads and writes: it did not abort on the request before.
fn still_serving(api: &Api, name: &str) {
    api.get(JOBS).expect(200);
    api.post(JOBS, &job(&format!("{name}-after"))).expect(201);
}

#[test]
fn json_patch_copies_are_bounded() {
    let (_tmp, _server, api) = start();
    api.post(JOBS, &job("copies")).expect(201);
    // Each copy doubles /metadata: forty would need terabytes, and once aborted the whole process.
    let doubling: Vec<Value> =
        (0..40).map(|n| json!({"op": "copy", "from": "/metadata", "path": format!("/metadata/a{n}")})).collect();
    let s = api.patch(&format!("{JOBS}/copies"), "application/json-patch+json", &json!(doubling)).expect_status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    let cause = s["details"]["causes"][0]["message"].as_str().unwrap_or_default();
    assert!(cause.starts_with("Unable to complete the copy, the accumulated size increase of copy is "), "{s}");
    assert!(cause.ends_with(", exceeding the limit 3145728"), "{s}");

    // More operations than upstream allows is 413, as upstream answers it.
    let many = Value::Array(vec![json!({"op": "test", "path": "/metadata/name", "value": "copies"}); 10001]);
    api.patch(&format!("{JOBS}/copies"), "application/json-patch+json", &many).expect_status(
        413,
        "RequestEntityTooLarge",
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001",
    );
    still_serving(&api, "copies");
}

#[test]
fn a_patched_object_over_the_size_limit_is_not_stored() {
    let (_tmp, _server, api) = start();
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    // 800 KiB copied once: the body is small and the copy is far under 3 MiB, but the object would be over the
    // store's 1.5 MiB. It is refused after the patch is applied, before anything is stored.
    let big = "x".repeat(800 * 1024);
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "grows"},
                       "spec": {"holderIdentity": big}});
    api.post(leases, &lease).expect(201);
    let copy = json!([{"op": "copy", "from": "/spec/holderIdentity", "path": "/spec/preferredHolder"}]);
    let s = api.patch(&format!("{leases}/grows"), "application/json-patch+json", &copy).expect(413);
    assert_eq!(s["reason"], "RequestEntityTooLarge", "{s}");
    let stored = api.get(&format!("{leases}/grows")).expect(200);
    assert!(stored["spec"].get("preferredHolder").is_none(), "nothing stored");
    still_serving(&api, "grows");
}

#[test]
fn a_uid_that_is_not_the_stored_one_is_refused() {
    let (_tmp, _server, api) = start();
    let created = api.post(JOBS, &job("u")).expect(201);
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let path = format!("{JOBS}/u");
    let other = "0c6c6c8e-5b0a-4a4e-9a43-000000000000";

    // PUT: the uid is a precondition (409, upstream's words).
    let mut replaced = created.clone();
    replaced["metadata"]["uid"] = json!(other);
    replaced["metadata"]["labels"] = json!({"changed": "yes"});
    api.put(&path, &replaced).expect_status(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on jobs.batch \"u\": Precondition failed: UID in precondition: {other}, UID in object meta: {uid}"
        ),
    );
    // PATCH (every kind, main resource and status): an immutable field (422).
    let invalid = format!("Job.batch \"u\" is invalid: metadata.uid: Invalid value: \"{other}\": field is immutable");
    for (ct, body) in [
        ("application/merge-patch+json", json!({"metadata": {"uid": other, "labels": {"changed": "yes"}}})),
        ("application/strategic-merge-patch+json", json!({"metadata": {"uid": other}})),
        ("application/json-patch+json", json!([{"op": "replace", "path": "/metadata/uid", "value": other}])),
    ] {
        api.patch(&path, ct, &body).expect_status(422, "Invalid", &invalid);
        api.patch(&format!("{path}/status"), ct, &body).expect_status(422, "Invalid", &invalid);
    }
    let stored = api.get(&path).expect(200);
    assert_eq!(stored["metadata"]["uid"], json!(uid));
    assert!(stored["metadata"].get("labels").and_then(|l| l.get("changed")).is_none(), "{stored}");

    // The stored uid, or none at all, is accepted.
    api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"uid": uid, "labels": {"a": "1"}}}))
        .expect(200);
    let mut without = api.get(&path).expect(200);
    without["metadata"].as_object_mut().unwrap().remove("uid");
    without["metadata"]["labels"] = json!({"a": "2"});
    let put = api.put(&path, &without).expect(200);
    assert_eq!(put["metadata"]["uid"], json!(uid));
}

#[test]
fn empty_owner_references_and_finalizers_are_omitted() {
    let (_tmp, _server, api) = start();
    // The owner exists, so the garbage collector leaves the pod alone.
    let owner = api
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
                                                                "metadata": {"name": "owner"}}),
        )
        .expect(201);
    let owner_uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    let mut p = pod("orphan");
    p["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]);
    p["metadata"]["finalizers"] = json!(["example.com/keep"]);
    api.post(PODS, &p).expect(201);
    // What an orphaning collector does: remove the owner and the finalizer by strategic merge.
    let patched = api
        .patch(
            &format!("{PODS}/orphan"),
            "application/strategic-merge-patch+json",
            &json!({"metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
                "$deleteFromPrimitiveList/finalizers": ["example.com/keep"],
            }}),
        )
        .expect(200);
    let read = api.get(&format!("{PODS}/orphan")).expect(200);
    for v in [&patched, &read] {
        assert!(v["metadata"].get("ownerReferences").is_none(), "{v}");
        assert!(v["metadata"].get("finalizers").is_none(), "{v}");
    }
    // Created with empty lists and maps, the same.
    let mut empty = pod("empty");
    empty["metadata"]["labels"] = json!({});
    empty["metadata"]["finalizers"] = json!([]);
    let created = api.post(PODS, &empty).expect(201);
    assert!(created["metadata"].get("labels").is_none() && created["metadata"].get("finalizers").is_none());
}

#[test]
fn a_body_far_over_the_limit_gets_413_not_a_dropped_connection() {
    let (_tmp, _server, api) = start();
    // 20 MB: the server stops keeping it at 3 MiB, reads the rest away, and answers.
    let mut huge = job("huge").to_string().into_bytes();
    huge.splice(1..1, std::iter::repeat_n(b' ', 20 * 1000 * 1000));
    for http2 in [false, true] {
        let api = Api { http2, ..api.clone() };
        let r = api.request("POST", JOBS, &[], Some((Some("application/json"), &huge)));
        r.expect_status(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728");
    }
    api.get(&format!("{JOBS}/huge")).expect(404);
    still_serving(&api, "huge");
}

#[test]
fn mutating_requests_past_the_inflight_limit_get_429() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--no-agent", "--max-mutating-requests-inflight", "1", "--max-requests-inflight", "1"],
    );
    let api = Api::new(&server);
    // A create whose body is still being sent holds the only mutating permit: curl uploads stdin as it comes,
    // and its trace shows when the request head is on its way.
    let trace = tmp.path().join("held.trace");
    let hold = || {
        let _ = std::fs::remove_file(&trace);
        let child = Command::new("curl")
            .args(["-sS", "--http1.1", "--max-time", "60", "--cacert"])
            .arg(&api.ca)
            .args(["-X", "POST", "-T", "-", "-H", "Content-Type: application/json", "-H", "Expect:", "-o", "/dev/null"])
            .arg("--trace-ascii")
            .arg(&trace)
            .args(["-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {}", api.token.as_deref().unwrap_or_default()))
            .arg(format!("{}{JOBS}", api.base))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        support::eventually(Duration::from_secs(20), || {
            std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("=> Send header")).then_some(())
        })
        .expect("the held create sent its head");
        child
    };
    // A probe made once the held create is in: refused. Should the held one ever lose the race for the permit
    // (it then waits, refused, for its body to end), it is replaced.
    let mut codes = Vec::new();
    let mut held = hold();
    let refused = support::eventually(Duration::from_secs(30), || {
        let r = api.post(JOBS, &job("second"));
        codes.push(r.code);
        if r.code == 429 {
            return Some(r);
        }
        let _ = held.kill();
        let _ = held.wait();
        held = hold();
        None
    })
    .unwrap_or_else(|| panic!("a second create is never refused while the first holds the permit: {codes:?}"));
    let s = refused.json();
    assert_eq!((s["kind"].as_str(), s["reason"].as_str()), (Some("Status"), Some("TooManyRequests")), "{s}");
    assert_eq!(s["message"], "Too many requests, please try again later.");
    assert_eq!(refused.header_values("retry-after"), vec!["1".to_string()]);
    // Reads have their own pool, and watches are not counted at all.
    let mut watch = api.stream("/api/v1/namespaces?watch=true", &[]);
    watch.next(Duration::from_secs(20)).expect("the watch is open (its first ADDED event)");
    api.get(JOBS).expect(200);
    api.get(JOBS).expect(200);
    // The held create finishes; the pool serves again.
    let mut stdin = held.stdin.take().expect("stdin");
    stdin.write_all(job("first").to_string().as_bytes()).expect("body");
    drop(stdin);
    let out = held.wait_with_output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "201");
    api.post(JOBS, &job("third")).expect(201);
}
