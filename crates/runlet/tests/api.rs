//! The API server's HTTP contract, checked on a real `runlet server` process with `curl`: every answer's code,
//! `reason` and message as kubectl-wire.md, job-semantics.md §1–2, §5.2 and strategic-merge-patch.md §1.1, §4,
//! §5.1 state them. Each test starts its own server on a fresh data dir; the server's own controllers are kept
//! out of the way (Jobs name another `managedBy`, Pods another `schedulerName`) so every change seen is the test's.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server, TABLE_ACCEPT, eventually};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const CONFLICT: &str = "the object has been modified; please apply your changes to the latest version and try again";
const UNSUPPORTED_PATCH: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

/// A server on a fresh data dir and a client for it; the temp dir must outlive the server.
fn start() -> (tempfile::TempDir, Server, Api) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    (tmp, server, api)
}

/// A Job the server's own job controller leaves alone (`managedBy` names another controller), so every change
/// the tests see is one they made.
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

/// A Pod the server's scheduler leaves alone (another `schedulerName`), so it stays unbound and unchanged.
fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "schedulerName": "example.com/tests",
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}],
        },
    })
}

fn create(api: &Api, collection: &str, body: Value) -> Value {
    api.post(collection, &body).expect(201)
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"].as_str().unwrap_or_else(|| panic!("no resourceVersion: {v}")).parse().unwrap()
}

/// How long a test waits for something that should happen at once (generous: CI machines are slow).
const WAIT: Duration = Duration::from_secs(5);

fn conflict_message(qualified: &str, name: &str) -> String {
    format!("Operation cannot be fulfilled on {qualified} \"{name}\": {CONFLICT}")
}

// ---------------------------------------------------------------------------------------------------------------
// Authentication, the data dir, discovery

#[test]
fn everything_without_a_valid_token_is_401() {
    let (_tmp, _server, api) = start();
    let paths = [
        "/version",
        "/api",
        "/apis",
        "/api/v1",
        "/apis/batch/v1",
        "/openapi/v3",
        "/openapi/v3/apis/batch/v1",
        JOBS,
        "/api/v1/namespaces/default",
        "/no/such/path",
    ];
    for (label, client) in [("no token", api.with_token(None)), ("wrong token", api.with_token(Some("not-the-token")))]
    {
        for path in paths {
            let r = client.get(path);
            assert_eq!(r.code, 401, "{label} {path}: {}", r.text());
            r.expect_status(401, "Unauthorized", "Unauthorized");
        }
        client.post(JOBS, &job("x")).expect_status(401, "Unauthorized", "Unauthorized");
    }
    // A token of the right length but different content, and a different scheme, are refused too.
    let token = api.token.clone().unwrap();
    let flipped: String = token.chars().rev().collect();
    api.with_token(Some(&flipped)).get("/version").expect_status(401, "Unauthorized", "Unauthorized");
    let basic = api.with_token(None).request("GET", "/version", &[("Authorization", &format!("Basic {token}"))], None);
    basic.expect_status(401, "Unauthorized", "Unauthorized");
    // The scheme is case-insensitive, as upstream's bearer authenticator reads it.
    let lower = api.with_token(None).request("GET", "/version", &[("Authorization", &format!("bearer {token}"))], None);
    assert_eq!(lower.expect(200)["minor"], "33");
    assert!(lower.status_line.starts_with("HTTP/1.1 200"), "{}", lower.status_line);
    // Nothing was created by the refused POSTs.
    api.get(&format!("{JOBS}/x")).expect_status(404, "NotFound", "jobs.batch \"x\" not found");
}

#[test]
fn data_dir_is_locked_and_its_secrets_are_private() {
    let (tmp, server, _api) = start();
    let dir = tmp.path().join("data");
    let second = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["server", "--data-dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!second.status.success(), "a second server on the same data dir started");
    let stderr = String::from_utf8_lossy(&second.stderr);
    let want = format!(
        "runlet: data dir {} is in use by another runlet server (pid {}); stop it or pass another --data-dir",
        dir.display(),
        server.pid()
    );
    assert!(stderr.contains(&want), "stderr: {stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_runlet")).args(["kubeconfig", "--data-dir"]).arg(&dir).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", dir.join("kubeconfig").display()));
    let kubeconfig = std::fs::read_to_string(dir.join("kubeconfig")).unwrap();
    assert!(kubeconfig.contains(&format!("server: https://{}", server.addr)), "{kubeconfig}");

    let mut private: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("pki"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    assert!(private.len() >= 2, "ca.key and server.key: {private:?}");
    private.extend([dir.join("kubeconfig"), dir.join("pki/token")]);
    for f in &private {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }

    let missing = tmp.path().join("nothing-here");
    let out =
        Command::new(env!("CARGO_BIN_EXE_runlet")).args(["kubeconfig", "--data-dir"]).arg(&missing).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("no kubeconfig at {}", missing.join("kubeconfig").display())), "{stderr}");
}

#[test]
fn version_and_discovery() {
    let (_tmp, _server, api) = start();
    let v = api.get("/version").expect(200);
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("33")), "{v}");
    assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.33."), "{v}");

    let core = api.get("/api").expect(200);
    assert_eq!(core["kind"], "APIVersions");
    assert_eq!(core["versions"], json!(["v1"]));

    let groups = api.get("/apis").expect(200);
    assert_eq!(groups["kind"], "APIGroupList");
    let batch = groups["groups"].as_array().unwrap().iter().find(|g| g["name"] == "batch").expect("batch group");
    assert_eq!(batch["versions"], json!([{"groupVersion": "batch/v1", "version": "v1"}]));
    assert_eq!(batch["preferredVersion"], json!({"groupVersion": "batch/v1", "version": "v1"}));

    let v1 = api.get("/api/v1").expect(200);
    assert_eq!((v1["kind"].as_str(), v1["groupVersion"].as_str()), (Some("APIResourceList"), Some("v1")));
    let find = |list: &Value, name: &str| -> Value {
        list["resources"].as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap_or_else(|| {
            panic!("{name} missing from {list}");
        })
    };
    // (resource, namespaced, kind, shortNames, categories)
    let core_cases: &[(&str, bool, &str, Value, Value)] = &[
        ("pods", true, "Pod", json!(["po"]), json!(["all"])),
        ("namespaces", false, "Namespace", json!(["ns"]), Value::Null),
        ("events", true, "Event", json!(["ev"]), Value::Null),
    ];
    for (name, namespaced, kind, short, categories) in core_cases {
        let r = find(&v1, name);
        assert_eq!(r["namespaced"], *namespaced, "{r}");
        assert_eq!(r["kind"], *kind, "{r}");
        assert_eq!(r["shortNames"], *short, "{r}");
        assert_eq!(r["categories"], *categories, "{r}");
        let verbs = r["verbs"].as_array().unwrap();
        for verb in ["create", "delete", "get", "list", "patch", "update", "watch"] {
            assert!(verbs.contains(&json!(verb)), "{name} lacks {verb}");
        }
    }
    assert_eq!(find(&v1, "pods/log")["verbs"], json!(["get"]));

    let bv1 = api.get("/apis/batch/v1").expect(200);
    assert_eq!(bv1["groupVersion"], "batch/v1");
    let jobs = find(&bv1, "jobs");
    assert_eq!((jobs["namespaced"].as_bool(), jobs["kind"].as_str()), (Some(true), Some("Job")));
    assert_eq!(jobs["categories"], json!(["all"]));
    find(&bv1, "jobs/status");
    let scale = find(&bv1, "jobs/scale");
    assert_eq!(
        (scale["group"].as_str(), scale["version"].as_str(), scale["kind"].as_str()),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
    assert_eq!(scale["verbs"], json!(["get", "patch", "update"]));
    assert_eq!(api.get("/apis/batch").expect(200)["preferredVersion"]["groupVersion"], "batch/v1");

    // OpenAPI: the root points at one document per group version; each declares fieldValidation on patch.
    let root = api.get("/openapi/v3").expect(200);
    for (gv, path, kind, group) in [
        ("apis/batch/v1", "/apis/batch/v1/namespaces/{namespace}/jobs/{name}", "Job", "batch"),
        ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "Pod", ""),
        ("api/v1", "/api/v1/namespaces/{name}", "Namespace", ""),
        ("api/v1", "/api/v1/namespaces/{namespace}/events/{name}", "Event", ""),
    ] {
        let url = root["paths"][gv]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{gv} in {root}"));
        assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
        let doc = api.get(url).expect(200);
        let op = &doc["paths"][path]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"], json!({"group": group, "version": "v1", "kind": kind}));
        let params = op["parameters"].as_array().unwrap();
        assert!(params.iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"), "{op}");
    }

    for path in [
        "/nope",
        "/api/v2",
        "/apis/batch/v2",
        "/apis/nope",
        "/apis/nope/v1",
        "/api/v1/namespaces/default/widgets",
        "/api/v1/pods/p1",
        "/api/v1/namespaces/default/pods/p1/exec",
        "/apis/batch/v1/namespaces/default/jobs/pi/nope",
        "/openapi/v3/apis/nope/v1",
        "/openapi/v2",
    ] {
        let s = api.get(path).expect_status(404, "NotFound", "the server could not find the requested resource");
        assert_eq!(s["details"], json!({}), "{path}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Create, read, update, patch, delete

#[test]
fn create_get_list_update_delete() {
    let (_tmp, _server, api) = start();
    let created = create(&api, JOBS, job("pi"));
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(uid.len(), 36, "{uid}");
    let ts = created["metadata"]["creationTimestamp"].as_str().unwrap();
    let shape: String = ts.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect();
    assert_eq!(shape, "0000-00-00T00:00:00Z", "{ts}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!((created["kind"].as_str(), created["apiVersion"].as_str()), (Some("Job"), Some("batch/v1")));
    assert!(created.get("status").is_none_or(|s| s == &json!({})), "{created}");

    api.post(JOBS, &job("pi")).expect_status(409, "AlreadyExists", "jobs.batch \"pi\" already exists");
    let got = api.get(&format!("{JOBS}/pi")).expect(200);
    assert_eq!(got, created);

    // Lists: namespaced and across namespaces, each item with kind/apiVersion, the list with a resourceVersion.
    create(&api, "/api/v1/namespaces", json!({"metadata": {"name": "other"}}));
    create(&api, "/apis/batch/v1/namespaces/other/jobs", job("po"));
    let list = api.get(JOBS).expect(200);
    assert_eq!((list["kind"].as_str(), list["apiVersion"].as_str()), (Some("JobList"), Some("batch/v1")));
    assert_eq!(names(&list), ["pi"]);
    assert_eq!(list["items"][0]["kind"], "Job");
    let all = api.get("/apis/batch/v1/jobs").expect(200);
    assert_eq!(names(&all), ["pi", "po"]);
    assert!(rv(&all) >= rv(&created), "{all}");
    assert_eq!(names(&api.get("/apis/batch/v1/namespaces/nowhere/jobs").expect(200)), Vec::<String>::new());

    // PUT: a stale resourceVersion is a conflict; the current one succeeds and bumps it.
    let mut changed = got.clone();
    changed["metadata"]["labels"]["extra"] = json!("yes");
    let updated = api.put(&format!("{JOBS}/pi"), &changed).expect(200);
    assert!(rv(&updated) > rv(&got));
    assert_eq!(updated["metadata"]["labels"]["extra"], "yes");
    assert_eq!(updated["metadata"]["uid"], uid.as_str());
    api.put(&format!("{JOBS}/pi"), &changed).expect_status(409, "Conflict", &conflict_message("jobs.batch", "pi"));
    // Without a resourceVersion, PUT is an unconditional update.
    let mut unconditional = updated.clone();
    unconditional["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    unconditional["metadata"]["labels"]["extra"] = json!("again");
    assert_eq!(api.put(&format!("{JOBS}/pi"), &unconditional).expect(200)["metadata"]["labels"]["extra"], "again");
    // A PUT that changes nothing writes nothing.
    let current = api.get(&format!("{JOBS}/pi")).expect(200);
    let same = api.put(&format!("{JOBS}/pi"), &current).expect(200);
    assert_eq!(same, current);
    // A PUT naming another object, or of a missing one.
    let mut renamed = unconditional.clone();
    renamed["metadata"]["name"] = json!("other");
    api.put(&format!("{JOBS}/pi"), &renamed).expect_status(
        400,
        "BadRequest",
        "the name of the object (other) does not match the name on the URL (pi)",
    );
    api.put(&format!("{JOBS}/nope"), &job("nope")).expect_status(404, "NotFound", "jobs.batch \"nope\" not found");

    // DELETE of a Job answers a Success Status naming it (kubectl-wire.md §10); then the object is gone.
    let gone = api.delete(&format!("{JOBS}/pi"), Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    assert_eq!(
        gone,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": "pi", "group": "batch", "kind": "jobs", "uid": uid}})
    );
    api.get(&format!("{JOBS}/pi")).expect_status(404, "NotFound", "jobs.batch \"pi\" not found");
    api.delete(&format!("{JOBS}/pi"), None).expect_status(404, "NotFound", "jobs.batch \"pi\" not found");
    api.get(&format!("{PODS}/x")).expect_status(404, "NotFound", "pods \"x\" not found");
    // Pods and namespaces answer with the deleted object itself (upstream ReturnDeletedObject).
    let p = create(&api, PODS, pod("x", json!({})));
    let deleted = api.delete(&format!("{PODS}/x"), None).expect(200);
    assert_eq!(
        (deleted["kind"].as_str(), deleted["metadata"]["uid"].as_str()),
        (Some("Pod"), p["metadata"]["uid"].as_str())
    );
}

#[test]
fn patch_in_every_format() {
    let (_tmp, _server, api) = start();
    let created = create(&api, JOBS, job("pa"));
    let path = format!("{JOBS}/pa");
    // (content type, body, field checked, value wanted)
    let cases: &[(&str, Value, &str, Value)] = &[
        ("application/strategic-merge-patch+json", json!({"spec": {"parallelism": 2}}), "/spec/parallelism", json!(2)),
        ("application/merge-patch+json", json!({"spec": {"parallelism": 3}}), "/spec/parallelism", json!(3)),
        (
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/parallelism", "value": 4}]),
            "/spec/parallelism",
            json!(4),
        ),
        (
            "application/strategic-merge-patch+json",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}}),
            "/spec/template/spec/containers/0/command",
            Value::Null,
        ),
        ("application/merge-patch+json", json!({"spec": {"backoffLimit": 3}}), "/spec/backoffLimit", json!(3)),
        // null deletes the field; defaulting brings it back (strategic-merge-patch.md §1.1 step 7).
        (
            "application/strategic-merge-patch+json",
            json!({"spec": {"backoffLimit": null}}),
            "/spec/backoffLimit",
            json!(6),
        ),
        (
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"team": "a"}}}),
            "/metadata/labels/team",
            json!("a"),
        ),
    ];
    let mut last_rv = rv(&created);
    for (ct, body, pointer, want) in cases {
        let r = api.patch(&path, ct, body);
        if *pointer == "/spec/template/spec/containers/0/command" {
            // The template is immutable: the merge happened (it kept `command`) and validation refused it.
            let s = r.expect(422);
            assert_eq!(s["reason"], "Invalid", "{s}");
            let msg = s["message"].as_str().unwrap();
            assert!(msg.starts_with("Job.batch \"pa\" is invalid: spec.template: Invalid value: "), "{msg}");
            assert!(msg.ends_with(": field is immutable"), "{msg}");
            continue;
        }
        let v = r.expect(200);
        assert_eq!(v.pointer(pointer).unwrap_or(&Value::Null), want, "{ct} {body}: {v}");
        assert!(rv(&v) > last_rv, "{ct} {body} did not bump resourceVersion");
        last_rv = rv(&v);
    }

    // Server-side apply: merges into the live object (the spec survives an annotation-only apply).
    let applied = api
        .request(
            "PATCH",
            &format!("{path}?fieldManager=kubectl-last-applied&force=false"),
            &[],
            Some((
                Some("application/apply-patch+yaml"),
                br#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pa","annotations":{"a":"b"}}}"#,
            )),
        )
        .expect(200);
    assert_eq!(applied["metadata"]["annotations"]["a"], "b");
    assert_eq!(applied["spec"]["parallelism"], 4);
    // SSA creates a missing object (201) and needs a field manager.
    let body = serde_json::to_vec(&job("ssa")).unwrap();
    let r = api.request(
        "PATCH",
        &format!("{JOBS}/ssa?fieldManager=kubectl&force=true"),
        &[],
        Some((Some("application/apply-patch+yaml"), &body)),
    );
    assert_eq!(r.expect(201)["metadata"]["name"], "ssa");
    api.request("PATCH", &format!("{JOBS}/ssa"), &[], Some((Some("application/apply-patch+yaml"), &body)))
        .expect_status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        );

    // A no-op patch writes nothing: same resourceVersion.
    let before = api.get(&path).expect(200);
    let same = api.patch(&path, "application/merge-patch+json", &json!({"spec": {"parallelism": 4}})).expect(200);
    assert_eq!(same["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
    let same = api.patch(&path, "application/strategic-merge-patch+json", &json!({})).expect(200);
    assert_eq!(same["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

    // Errors: unsupported type, force on a non-apply patch, stale precondition, malformed bodies, missing object.
    for ct in ["application/json", "text/plain", "application/yaml"] {
        api.patch(&path, ct, &json!({"spec": {}})).expect_status(415, "UnsupportedMediaType", UNSUPPORTED_PATCH);
    }
    api.request("PATCH", &path, &[], Some((None, b"{}"))).expect_status(415, "UnsupportedMediaType", UNSUPPORTED_PATCH);
    for ct in ["application/strategic-merge-patch+json", "application/merge-patch+json", "application/json-patch+json"]
    {
        api.request("PATCH", &format!("{path}?force=true"), &[], Some((Some(ct), b"{}"))).expect_status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        );
    }
    api.patch(
        &path,
        "application/merge-patch+json",
        &json!({"metadata": {"resourceVersion": "1"}, "spec": {"parallelism": 1}}),
    )
    .expect_status(409, "Conflict", &conflict_message("jobs.batch", "pa"));
    let s = api.request("PATCH", &path, &[], Some((Some("application/merge-patch+json"), b"not json"))).expect(400);
    assert_eq!(s["reason"], "BadRequest");
    api.request("PATCH", &path, &[], Some((Some("application/strategic-merge-patch+json"), b"[1]"))).expect_status(
        400,
        "BadRequest",
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    );
    api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"name": "x"}})).expect_status(
        400,
        "BadRequest",
        "the name of the object (x) does not match the name on the URL (pa)",
    );
    api.patch(&format!("{JOBS}/nope"), "application/merge-patch+json", &json!({})).expect_status(
        404,
        "NotFound",
        "jobs.batch \"nope\" not found",
    );
    let after = api.get(&path).expect(200);
    assert_eq!(after["metadata"]["resourceVersion"], applied["metadata"]["resourceVersion"]);
}

#[test]
fn dry_run_stores_nothing() {
    let (_tmp, _server, api) = start();
    let would = api.post(&format!("{JOBS}?dryRun=All"), &job("dry")).expect(201);
    assert_eq!(would["metadata"]["name"], "dry");
    assert!(would["spec"]["selector"]["matchLabels"].is_object(), "defaulted: {would}");
    api.get(&format!("{JOBS}/dry")).expect_status(404, "NotFound", "jobs.batch \"dry\" not found");

    let live = create(&api, JOBS, job("wet"));
    let path = format!("{JOBS}/wet");
    let mut changed = live.clone();
    changed["spec"]["parallelism"] = json!(5);
    let put = api.put(&format!("{path}?dryRun=All"), &changed).expect(200);
    assert_eq!(put["spec"]["parallelism"], 5);
    let patched = api
        .patch(&format!("{path}?dryRun=All"), "application/merge-patch+json", &json!({"spec": {"parallelism": 7}}))
        .expect(200);
    assert_eq!(patched["spec"]["parallelism"], 7);
    let deleted = api.delete(&format!("{path}?dryRun=All"), None).expect(200);
    assert_eq!(deleted["metadata"]["name"], "wet", "a raw delete only marks the Job (orphan finalizer): {deleted}");
    let body_dry = api.delete(&path, Some(&json!({"dryRun": ["All"], "propagationPolicy": "Background"}))).expect(200);
    assert_eq!((body_dry["status"].as_str(), body_dry["details"]["name"].as_str()), (Some("Success"), Some("wet")));
    assert_eq!(api.get(&path).expect(200), live, "a dry run changed the stored object");

    api.post(&format!("{JOBS}?dryRun=Some"), &job("x")).expect_status(
        400,
        "BadRequest",
        "unsupported dryRun value \"Some\": only \"All\"",
    );
}

#[test]
fn generate_name_uid_and_generation() {
    let (_tmp, _server, api) = start();
    let mut body = job("");
    body["metadata"] = json!({"generateName": "gen-"});
    let a = create(&api, JOBS, body.clone());
    let b = create(&api, JOBS, body);
    let (na, nb) = (a["metadata"]["name"].as_str().unwrap(), b["metadata"]["name"].as_str().unwrap());
    for n in [na, nb] {
        assert!(n.starts_with("gen-") && n.len() == 9, "{n}");
        assert!(n[4..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{n}");
    }
    assert_ne!(na, nb);
    assert_ne!(a["metadata"]["uid"], b["metadata"]["uid"]);
    assert_eq!(a["metadata"]["generateName"], "gen-");
    let mut nameless = job("");
    nameless["metadata"] = json!({});
    let s = api.post(JOBS, &nameless).expect(422);
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(
        s["message"],
        "Job.batch \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );

    // A client cannot set uid, creationTimestamp or generation; an update cannot change them.
    let mut forged = job("forged");
    forged["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    forged["metadata"]["creationTimestamp"] = json!("2000-01-01T00:00:00Z");
    forged["metadata"]["generation"] = json!(9);
    forged["metadata"]["resourceVersion"] = json!("12345");
    let f = create(&api, JOBS, forged);
    assert_ne!(f["metadata"]["uid"], "00000000-0000-0000-0000-000000000000");
    assert_ne!(f["metadata"]["creationTimestamp"], "2000-01-01T00:00:00Z");
    assert_eq!(f["metadata"]["generation"], 1);
    let path = format!("{JOBS}/forged");
    // Another uid names another object: refused as an immutable field, as upstream does.
    api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"uid": "x"}})).expect_status(
        422,
        "Invalid",
        "Job.batch \"forged\" is invalid: metadata.uid: Invalid value: \"x\": field is immutable",
    );
    let p = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"creationTimestamp": "2000-01-01T00:00:00Z", "generation": 7}}),
        )
        .expect(200);
    assert_eq!(p["metadata"]["uid"], f["metadata"]["uid"]);
    assert_eq!(p["metadata"]["creationTimestamp"], f["metadata"]["creationTimestamp"]);
    assert_eq!(p["metadata"]["generation"], 1);
    assert_eq!(p["metadata"]["resourceVersion"], f["metadata"]["resourceVersion"], "nothing changed: no write");

    // generation: labels and status do not bump it; a spec change does.
    let l = api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"labels": {"x": "y"}}})).expect(200);
    assert_eq!(l["metadata"]["generation"], 1);
    assert!(rv(&l) > rv(&f));
    let s = api
        .patch(&format!("{path}/status"), "application/merge-patch+json", &json!({"status": {"active": 1}}))
        .expect(200);
    assert_eq!(s["metadata"]["generation"], 1);
    assert_eq!(s["status"]["active"], 1);
    let g = api.patch(&path, "application/merge-patch+json", &json!({"spec": {"parallelism": 3}})).expect(200);
    assert_eq!(g["metadata"]["generation"], 2);
    let g = api
        .patch(
            &path,
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/spec/parallelism", "value": 4}]),
        )
        .expect(200);
    assert_eq!(g["metadata"]["generation"], 3);
}

#[test]
fn field_validation_strict_warn_ignore() {
    let (_tmp, _server, api) = start();
    let mut body = job("fv");
    body["spec"]["foo"] = json!(1);
    api.post(&format!("{JOBS}?fieldValidation=Strict"), &body).expect_status(
        400,
        "BadRequest",
        "Job in version \"v1\" cannot be handled as a Job: strict decoding error: unknown field \"spec.foo\"",
    );
    let mut two = body.clone();
    two["metadata"]["name"] = json!("fv2");
    two["spec"]["template"]["spec"]["bar"] = json!(true);
    api.post(&format!("{JOBS}?fieldValidation=Strict"), &two).expect_status(
        400,
        "BadRequest",
        "Job in version \"v1\" cannot be handled as a Job: strict decoding error: unknown field \"spec.foo\", unknown field \"spec.template.spec.bar\"",
    );

    let warned = api.post(&format!("{JOBS}?fieldValidation=Warn"), &body);
    let v = warned.expect(201);
    assert_eq!(warned.header_values("warning"), ["299 - \"unknown field \\\"spec.foo\\\"\""]);
    assert!(v["spec"].get("foo").is_none(), "{v}");

    // Unset means Warn, as upstream.
    body["metadata"]["name"] = json!("fv-default");
    let r = api.post(JOBS, &body);
    r.expect(201);
    assert_eq!(r.header_values("warning").len(), 1);

    body["metadata"]["name"] = json!("fv-ignore");
    let ignored = api.post(&format!("{JOBS}?fieldValidation=Ignore"), &body);
    let v = ignored.expect(201);
    assert!(ignored.header_values("warning").is_empty());
    assert!(api.get(&format!("{JOBS}/fv-ignore")).expect(200)["spec"].get("foo").is_none(), "{v}");

    api.post(&format!("{JOBS}?fieldValidation=Loose"), &body).expect_status(
        400,
        "BadRequest",
        "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got \"Loose\"",
    );

    // Repeated keys (kubectl-wire.md §2.7): refused by Strict after the unknown fields, reported by Warn.
    let dup = |name: &str| {
        format!(
            r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{name}"}},"spec":{{"managedBy":"example.com/tests","parallelism":1,"foo":1,"parallelism":2,"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"c","image":"b","image":"c"}}]}}}}}}}}"#
        )
    };
    let strict = api.request(
        "POST",
        &format!("{JOBS}?fieldValidation=Strict"),
        &[],
        Some((Some("application/json"), dup("d1").as_bytes())),
    );
    strict.expect_status(
        400,
        "BadRequest",
        "Job in version \"v1\" cannot be handled as a Job: strict decoding error: unknown field \"spec.foo\", duplicate field \"spec.parallelism\", duplicate field \"spec.template.spec.containers[0].image\"",
    );
    let warn = api.request(
        "POST",
        &format!("{JOBS}?fieldValidation=Warn"),
        &[],
        Some((Some("application/json"), dup("d2").as_bytes())),
    );
    let created = warn.expect(201);
    assert_eq!(created["spec"]["parallelism"], 2, "the last value wins");
    assert_eq!(
        warn.header_values("warning"),
        [
            "299 - \"unknown field \\\"spec.foo\\\"\"",
            "299 - \"duplicate field \\\"spec.parallelism\\\"\"",
            "299 - \"duplicate field \\\"spec.template.spec.containers[0].image\\\"\"",
        ]
    );
    let ignore = api.request(
        "POST",
        &format!("{JOBS}?fieldValidation=Ignore"),
        &[],
        Some((Some("application/json"), dup("d3").as_bytes())),
    );
    ignore.expect(201);
    assert!(ignore.header_values("warning").is_empty());
    // The same on PUT.
    let put = dup("d2").replace(
        r#""metadata":{"name":"d2"}"#,
        &format!(r#""metadata":{{"name":"d2","resourceVersion":"{}"}}"#, rv(&created)),
    );
    let s = api.request(
        "PUT",
        &format!("{JOBS}/d2?fieldValidation=Strict"),
        &[],
        Some((Some("application/json"), put.as_bytes())),
    );
    let s = s.expect(400);
    assert!(s["message"].as_str().unwrap().contains("duplicate field \"spec.parallelism\""), "{s}");
    // A merge patch's own repeated keys come first in the patch's 422.
    let r = api.request(
        "PATCH",
        &format!("{JOBS}/d2?fieldValidation=Strict"),
        &[],
        Some((Some("application/merge-patch+json"), br#"{"spec":{"parallelism":3,"parallelism":4,"bar":1}}"#)),
    );
    let s = r.expect(422);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: duplicate field \"spec.parallelism\", unknown field \"spec.bar\""),
        "{s}"
    );

    // In a patch the strict error is a 422 about the patch (strategic-merge-patch.md §4 row 20).
    let s = api
        .patch(
            &format!("{JOBS}/fv?fieldValidation=Strict"),
            "application/merge-patch+json",
            &json!({"spec": {"bogus": 1}}),
        )
        .expect(422);
    assert_eq!(s["reason"], "Invalid");
    let msg = s["message"].as_str().unwrap();
    assert!(msg.starts_with(" \"\" is invalid: patch: Invalid value: \"map["), "{msg}");
    assert!(msg.ends_with("]\": strict decoding error: unknown field \"spec.bogus\""), "{msg}");
    assert_eq!(s["details"]["causes"][0]["field"], "patch");
}

#[test]
fn oversized_and_malformed_bodies() {
    let (_tmp, _server, api) = start();
    // 3 MiB of padding inside valid JSON: too large whatever it says.
    let mut big = job("big").to_string().into_bytes();
    big.splice(1..1, std::iter::repeat_n(b' ', 3 * 1024 * 1024));
    let r = api.request("POST", JOBS, &[], Some((Some("application/json"), &big)));
    r.expect_status(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728");
    api.get(&format!("{JOBS}/big")).expect_status(404, "NotFound", "jobs.batch \"big\" not found");
    // Just under the limit is fine.
    let mut fits = job("fits").to_string().into_bytes();
    let pad = 3 * 1024 * 1024 - fits.len();
    fits.splice(1..1, std::iter::repeat_n(b' ', pad));
    assert_eq!(fits.len(), 3 * 1024 * 1024);
    api.request("POST", JOBS, &[], Some((Some("application/json"), &fits))).expect(201);
    // The limit holds for every body: PUT, PATCH and DELETE too.
    let path = format!("{JOBS}/fits");
    for (method, ct) in
        [("PUT", "application/json"), ("PATCH", "application/merge-patch+json"), ("DELETE", "application/json")]
    {
        api.request(method, &path, &[], Some((Some(ct), &big))).expect_status(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        );
    }

    for bad in [&b"{not json"[..], b"", b"[1,2]", b"\"job\""] {
        let r = api.request("POST", JOBS, &[], Some((Some("application/json"), bad)));
        let s = r.expect(400);
        assert_eq!(s["reason"], "BadRequest", "{s}");
        assert!(!s["message"].as_str().unwrap().is_empty());
    }
    let s = api.request("POST", JOBS, &[], Some((Some("text/plain"), b"{}"))).expect(415);
    assert_eq!(s["reason"], "UnsupportedMediaType");
    let mut wrong_kind = job("wk");
    wrong_kind["kind"] = json!("Pod");
    api.post(JOBS, &wrong_kind).expect_status(
        400,
        "BadRequest",
        "Pod in version \"v1\" cannot be handled as a Job: the kind in the data (Pod) does not match the expected kind (Job)",
    );
    let mut wrong_ns = job("wn");
    wrong_ns["metadata"]["namespace"] = json!("other");
    api.post(JOBS, &wrong_ns).expect_status(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    );
    let wrong_type =
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "wt"}, "spec": {"parallelism": "two"}});
    let s = api.post(JOBS, &wrong_type).expect(400);
    assert!(s["message"].as_str().unwrap().starts_with("Job in version \"v1\" cannot be handled as a Job: "), "{s}");
}

// ---------------------------------------------------------------------------------------------------------------
// Jobs: defaulting, validation, status and scale

#[test]
fn job_defaulting_and_generated_selector() {
    let (_tmp, _server, api) = start();
    let j = create(&api, JOBS, job("plain"));
    let uid = j["metadata"]["uid"].as_str().unwrap();
    let generated = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "plain",
        "controller-uid": uid,
        "job-name": "plain",
    });
    assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    assert_eq!(j["spec"]["template"]["metadata"]["labels"], generated);
    assert_eq!(j["metadata"]["labels"], generated);
    let spec = &j["spec"];
    for (field, want) in [
        ("parallelism", json!(1)),
        ("completions", json!(1)),
        ("backoffLimit", json!(6)),
        ("completionMode", json!("NonIndexed")),
        ("suspend", json!(false)),
        ("podReplacementPolicy", json!("TerminatingOrFailed")),
    ] {
        assert_eq!(spec[field], want, "spec.{field}");
    }
    assert_eq!(spec["template"]["spec"]["terminationGracePeriodSeconds"], 30);

    /// (JSON pointer, expected value)
    type Checks = Vec<(&'static str, Value)>;
    // (name, spec overrides, metadata labels, checks)
    let cases: Vec<(&str, Value, Value, Checks)> = vec![
        (
            "work-queue",
            json!({"parallelism": 3}),
            Value::Null,
            vec![("/spec/parallelism", json!(3)), ("/spec/completions", Value::Null)],
        ),
        (
            "fixed",
            json!({"completions": 4}),
            Value::Null,
            vec![("/spec/parallelism", json!(1)), ("/spec/completions", json!(4))],
        ),
        (
            "per-index",
            json!({"completionMode": "Indexed", "completions": 2, "backoffLimitPerIndex": 1}),
            Value::Null,
            vec![("/spec/backoffLimit", json!(2147483647)), ("/spec/completionMode", json!("Indexed"))],
        ),
        (
            "with-policy",
            json!({"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}),
            Value::Null,
            vec![
                ("/spec/podReplacementPolicy", json!("Failed")),
                ("/spec/podFailurePolicy/rules/0/onPodConditions/0/status", json!("True")),
            ],
        ),
        // The Job's own labels are kept; the template's are not copied over them.
        ("own-labels", json!({}), json!({"team": "a"}), vec![("/metadata/labels", json!({"team": "a"}))]),
    ];
    for (name, overrides, labels, checks) in cases {
        let mut body = job(name);
        for (k, v) in overrides.as_object().unwrap() {
            body["spec"][k] = v.clone();
        }
        if !labels.is_null() {
            body["metadata"]["labels"] = labels;
        }
        let j = create(&api, JOBS, body);
        for (pointer, want) in checks {
            assert_eq!(j.pointer(pointer).unwrap_or(&Value::Null), &want, "{name} {pointer}: {j}");
        }
    }

    // Template labels of the user's are kept next to the generated ones, and copied to a label-less Job.
    let mut body = job("tl");
    body["spec"]["template"]["metadata"] = json!({"labels": {"app": "x"}});
    let j = create(&api, JOBS, body);
    let tl = &j["spec"]["template"]["metadata"]["labels"];
    assert_eq!(tl["app"], "x");
    assert_eq!(tl["job-name"], "tl");
    assert_eq!(j["metadata"]["labels"]["app"], "x", "{j}");

    // manualSelector: the user's selector stays and nothing is generated.
    let mut body = job("manual");
    body["spec"]["manualSelector"] = json!(true);
    body["spec"]["selector"] = json!({"matchLabels": {"app": "m"}});
    body["spec"]["template"]["metadata"] = json!({"labels": {"app": "m"}});
    let j = create(&api, JOBS, body);
    assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"app": "m"}}));
    assert_eq!(j["spec"]["template"]["metadata"]["labels"], json!({"app": "m"}));
}

#[test]
fn job_validation_errors_are_422_with_causes() {
    let (_tmp, _server, api) = start();
    // (name, spec/template change, message after `Job.batch "<name>" is invalid: `, cause reason, cause field)
    let restart = |p: &str| json!({"template": {"spec": {"restartPolicy": p}}});
    let cases: Vec<(&str, Value, &str, &str, &str)> = vec![
        (
            "always",
            restart("Always"),
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            "FieldValueRequired",
            "spec.template.spec.restartPolicy",
        ),
        (
            "negative",
            json!({"parallelism": -1}),
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "FieldValueInvalid",
            "spec.parallelism",
        ),
        (
            "mode",
            json!({"completionMode": "Foo"}),
            "spec.completionMode: Unsupported value: \"Foo\": supported values: \"NonIndexed\", \"Indexed\"",
            "FieldValueNotSupported",
            "spec.completionMode",
        ),
        (
            "indexed",
            json!({"completionMode": "Indexed", "completions": null, "parallelism": 2}),
            "spec.completions: Required value: when completion mode is Indexed",
            "FieldValueRequired",
            "spec.completions",
        ),
    ];
    for (name, change, want, reason, field) in cases {
        let mut body = job(name);
        merge(&mut body["spec"], &change);
        let s =
            api.post(JOBS, &body).expect_status(422, "Invalid", &format!("Job.batch \"{name}\" is invalid: {want}"));
        assert_eq!(s["details"]["name"], name);
        assert_eq!((s["details"]["group"].as_str(), s["details"]["kind"].as_str()), (Some("batch"), Some("Job")));
        let causes = s["details"]["causes"].as_array().unwrap();
        assert_eq!(causes.len(), 1, "{s}");
        assert_eq!(causes[0]["reason"], reason);
        assert_eq!(causes[0]["field"], field);
        assert_eq!(causes[0]["message"].as_str().unwrap(), want.split_once(": ").unwrap().1);
        api.get(&format!("{JOBS}/{name}")).expect(404);
    }
    let s = api.post(JOBS, &job("My_Job")).expect(422);
    assert!(
        s["message"].as_str().unwrap().starts_with(
            "Job.batch \"My_Job\" is invalid: metadata.name: Invalid value: \"My_Job\": a lowercase RFC 1123 subdomain"
        ),
        "{s}"
    );
    // An unknown restartPolicy fails both the pod rule and the Job rule, as upstream: the bracketed form, one cause
    // each.
    let mut foo = job("foo");
    merge(&mut foo["spec"], &restart("Foo"));
    let s = api.post(JOBS, &foo).expect_status(
        422,
        "Invalid",
        "Job.batch \"foo\" is invalid: [spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"Always\", \"OnFailure\", \"Never\", spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"OnFailure\", \"Never\"]",
    );
    let causes = s["details"]["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 2);
    assert!(causes.iter().all(|c| c["reason"] == "FieldValueNotSupported"), "{s}");
    // Two errors: the bracketed form, one cause each.
    let mut two = job("two");
    merge(&mut two["spec"], &json!({"parallelism": -1, "backoffLimit": -2}));
    let s = api.post(JOBS, &two).expect(422);
    assert_eq!(
        s["message"],
        "Job.batch \"two\" is invalid: [spec.parallelism: Invalid value: -1: must be greater than or equal to 0, spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0]"
    );
    assert_eq!(s["details"]["causes"].as_array().unwrap().len(), 2);

    // Immutable fields on update (job-semantics §1.4); mutable ones pass.
    let live = create(&api, JOBS, job("imm"));
    let path = format!("{JOBS}/imm");
    let immutable: &[(Value, &str, &str)] = &[
        (
            json!({"spec": {"completions": 3}}),
            "spec.completions",
            "spec.completions: Invalid value: 3: field is immutable",
        ),
        (
            json!({"spec": {"completionMode": "Indexed"}}),
            "spec.completionMode",
            "spec.completionMode: Invalid value: \"Indexed\": field is immutable",
        ),
        (
            json!({"spec": {"managedBy": "example.com/else"}}),
            "spec.managedBy",
            "spec.managedBy: Invalid value: \"example.com/else\": field is immutable",
        ),
    ];
    for (patch, field, want) in immutable {
        let s = api.patch(&path, "application/merge-patch+json", patch).expect_status(
            422,
            "Invalid",
            &format!("Job.batch \"imm\" is invalid: {want}"),
        );
        assert_eq!(s["details"]["causes"][0]["field"], *field, "{s}");
    }
    let s = api
        .patch(&path, "application/merge-patch+json", &json!({"spec": {"selector": {"matchLabels": {"a": "b"}}}}))
        .expect(422);
    assert!(s["message"].as_str().unwrap().contains("spec.selector: Invalid value: "), "{s}");
    assert!(s["details"]["causes"].as_array().unwrap().iter().any(|c| c["field"] == "spec.selector"), "{s}");
    let mut put = live.clone();
    put["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
    let s = api.put(&path, &put).expect(422);
    assert!(s["message"].as_str().unwrap().starts_with("Job.batch \"imm\" is invalid: spec.template: Invalid value: "));
    for patch in [
        json!({"spec": {"parallelism": 0}}),
        json!({"spec": {"activeDeadlineSeconds": 100, "backoffLimit": 1, "ttlSecondsAfterFinished": 5}}),
        json!({"spec": {"suspend": true}}),
    ] {
        api.patch(&path, "application/merge-patch+json", &patch).expect(200);
    }
}

/// RFC 7386 merge of `patch` into `target`, for building request bodies.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

#[test]
fn status_subresource_is_separate_from_the_main_resource() {
    let (_tmp, _server, api) = start();
    let live = create(&api, JOBS, job("st"));
    let path = format!("{JOBS}/st");
    let status_path = format!("{path}/status");
    assert_eq!(api.get(&status_path).expect(200), live);

    // /status: only status changes.
    let s = api
        .patch(
            &status_path,
            "application/merge-patch+json",
            &json!({"spec": {"parallelism": 9}, "status": {"active": 2, "startTime": "2026-01-01T00:00:00Z"}}),
        )
        .expect(200);
    assert_eq!((s["status"]["active"].as_i64(), s["spec"]["parallelism"].as_i64()), (Some(2), Some(1)), "{s}");
    assert_eq!(s["metadata"]["generation"], 1);
    let mut put = s.clone();
    put["spec"]["parallelism"] = json!(8);
    put["status"]["active"] = json!(3);
    let s = api.put(&status_path, &put).expect(200);
    assert_eq!((s["status"]["active"].as_i64(), s["spec"]["parallelism"].as_i64()), (Some(3), Some(1)), "{s}");
    // Status validation applies there.
    let s = api.patch(&status_path, "application/merge-patch+json", &json!({"status": {"active": -1}})).expect(422);
    assert_eq!(s["reason"], "Invalid");
    assert!(
        s["message"].as_str().unwrap().contains("status.active: Invalid value: -1: must be greater than or equal to 0"),
        "{s}"
    );

    // The main resource: status changes are ignored, spec changes apply.
    let m = api
        .patch(&path, "application/merge-patch+json", &json!({"spec": {"parallelism": 2}, "status": {"active": 7}}))
        .expect(200);
    assert_eq!((m["status"]["active"].as_i64(), m["spec"]["parallelism"].as_i64()), (Some(3), Some(2)), "{m}");
    let mut put = m.clone();
    put["status"] = json!({});
    let m = api.put(&path, &put).expect(200);
    assert_eq!(m["status"]["active"], 3, "{m}");
    api.request("DELETE", &status_path, &[], None).expect(405);
    api.get(&format!("{JOBS}/nope/status")).expect_status(404, "NotFound", "jobs.batch \"nope\" not found");
}

#[test]
fn scale_subresource_maps_to_parallelism() {
    let (_tmp, _server, api) = start();
    let live = create(&api, JOBS, job("sc"));
    let uid = live["metadata"]["uid"].as_str().unwrap();
    let path = format!("{JOBS}/sc/scale");
    let scale = api.get(&path).expect(200);
    assert_eq!((scale["kind"].as_str(), scale["apiVersion"].as_str()), (Some("Scale"), Some("autoscaling/v1")));
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], format!("batch.kubernetes.io/controller-uid={uid}"));
    assert_eq!(scale["metadata"]["resourceVersion"], live["metadata"]["resourceVersion"]);
    assert_eq!(scale["metadata"]["name"], "sc");

    let patched = api.patch(&path, "application/merge-patch+json", &json!({"spec": {"replicas": 3}})).expect(200);
    assert_eq!(patched["spec"]["replicas"], 3);
    let job_now = api.get(&format!("{JOBS}/sc")).expect(200);
    assert_eq!(job_now["spec"]["parallelism"], 3);
    assert_eq!(job_now["metadata"]["generation"], 2);
    assert_eq!(patched["metadata"]["resourceVersion"], job_now["metadata"]["resourceVersion"]);

    // PUT as `kubectl scale --current-replicas` sends it: no Content-Type, the resourceVersion read before.
    let mut put = patched.clone();
    put["spec"]["replicas"] = json!(2);
    let body = put.to_string();
    let r = api.request("PUT", &path, &[], Some((None, body.as_bytes())));
    assert_eq!(r.expect(200)["spec"]["replicas"], 2);
    let r = api.request("PUT", &path, &[], Some((None, body.as_bytes())));
    r.expect_status(409, "Conflict", &conflict_message("jobs.batch", "sc"));
    assert_eq!(api.get(&format!("{JOBS}/sc")).expect(200)["spec"]["parallelism"], 2);

    let mut negative = api.get(&path).expect(200);
    negative["spec"]["replicas"] = json!(-1);
    api.put(&path, &negative).expect_status(
        422,
        "Invalid",
        "Scale.autoscaling \"sc\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    api.get(&format!("{JOBS}/nope/scale")).expect_status(404, "NotFound", "jobs.batch \"nope\" not found");
}

// ---------------------------------------------------------------------------------------------------------------
// Lists, selectors, watches

/// Pods p1..p4 with labels to select on; p1 is bound to node `elsewhere` (not the local agent's), p2 is Running.
fn selector_fixture(api: &Api) {
    create(api, PODS, pod("p1", json!({"app": "web", "tier": "front"})));
    create(api, PODS, pod("p2", json!({"app": "web", "tier": "back"})));
    create(api, PODS, pod("p3", json!({"app": "db"})));
    create(api, PODS, pod("p4", json!({})));
    api.patch(&format!("{PODS}/p1"), "application/merge-patch+json", &json!({"spec": {"nodeName": "elsewhere"}}))
        .expect(200);
    api.patch(&format!("{PODS}/p2/status"), "application/merge-patch+json", &json!({"status": {"phase": "Running"}}))
        .expect(200);
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn label_and_field_selectors_on_lists() {
    let (_tmp, _server, api) = start();
    selector_fixture(&api);
    let label_cases: &[(&str, &[&str])] = &[
        ("app=web", &["p1", "p2"]),
        ("app==web", &["p1", "p2"]),
        ("app!=web", &["p3", "p4"]),
        ("app in (web,db)", &["p1", "p2", "p3"]),
        ("app notin (web)", &["p3", "p4"]),
        ("tier", &["p1", "p2"]),
        ("!tier", &["p3", "p4"]),
        ("app=web,tier!=front", &["p2"]),
        ("app in (web),!tier", &[]),
        ("app", &["p1", "p2", "p3"]),
        ("", &["p1", "p2", "p3", "p4"]),
    ];
    for (selector, want) in label_cases {
        let list = api.get(&format!("{PODS}?labelSelector={}", encode(selector))).expect(200);
        assert_eq!(names(&list), *want, "labelSelector={selector}");
    }
    let field_cases: &[(&str, &[&str])] = &[
        ("metadata.name=p1", &["p1"]),
        ("metadata.name==p3", &["p3"]),
        ("metadata.name!=p1", &["p2", "p3", "p4"]),
        ("metadata.namespace=default", &["p1", "p2", "p3", "p4"]),
        ("spec.nodeName=elsewhere", &["p1"]),
        ("spec.nodeName=", &["p2", "p3", "p4"]),
        ("status.phase=Running", &["p2"]),
        ("status.phase!=Running,spec.nodeName!=elsewhere", &["p3", "p4"]),
        ("spec.restartPolicy=Never", &["p1", "p2", "p3", "p4"]),
    ];
    for (selector, want) in field_cases {
        let list = api.get(&format!("{PODS}?fieldSelector={}", encode(selector))).expect(200);
        assert_eq!(names(&list), *want, "fieldSelector={selector}");
    }
    // Both at once, and across namespaces.
    create(&api, "/api/v1/namespaces", json!({"metadata": {"name": "other"}}));
    create(&api, "/api/v1/namespaces/other/pods", pod("p5", json!({"app": "web"})));
    let both = api.get(&format!(
        "/api/v1/pods?labelSelector={}&fieldSelector={}",
        encode("app=web"),
        encode("metadata.namespace=other")
    ));
    assert_eq!(names(&both.expect(200)), ["p5"]);
    assert_eq!(
        names(&api.get(&format!("/api/v1/pods?labelSelector={}", encode("app=web"))).expect(200)),
        ["p1", "p2", "p5"]
    );

    // Unsupported fields: 400 with the kind's message (upstream field-label conversions).
    let bad: &[(&str, &str, &str)] = &[
        (PODS, "spec.foo=1", "field label not supported: spec.foo"),
        (JOBS, "status.succeeded=1", "field label \"status.succeeded\" not supported for batchv1.Job"),
        ("/api/v1/namespaces", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        ("/api/v1/namespaces/default/events", "message=x", "field label not supported: message"),
    ];
    for (path, selector, message) in bad {
        api.get(&format!("{path}?fieldSelector={}", encode(selector))).expect_status(400, "BadRequest", message);
        api.get(&format!("{path}?watch=true&fieldSelector={}", encode(selector))).expect_status(
            400,
            "BadRequest",
            message,
        );
    }
    let s = api.get(&format!("{PODS}?labelSelector={}", encode("app in (web"))).expect(400);
    assert_eq!(s["reason"], "BadRequest");
    let s = api.get(&format!("{PODS}?fieldSelector={}", encode("nooperator"))).expect(400);
    assert_eq!(s["reason"], "BadRequest");
    assert_eq!(s["message"], "invalid selector: 'nooperator'; can't understand 'nooperator'");
}

#[test]
fn event_field_selectors() {
    let (_tmp, _server, api) = start();
    let events = "/api/v1/namespaces/default/events";
    let event = |name: &str, kind: &str, object: &str, uid: &str, reason: &str| {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name},
            "involvedObject": {"kind": kind, "namespace": "default", "name": object, "uid": uid,
                               "apiVersion": if kind == "Job" { "batch/v1" } else { "v1" }},
            "reason": reason, "message": format!("{reason} {object}"), "type": "Normal",
            "source": {"component": "job-controller"}, "count": 1,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
        })
    };
    create(&api, events, event("e1", "Job", "pi", "u-pi", "SuccessfulCreate"));
    create(&api, events, event("e2", "Job", "pi", "u-pi", "Completed"));
    create(&api, events, event("e3", "Pod", "pi", "u-pod", "Started"));
    create(&api, events, event("e4", "Job", "other", "u-other", "SuccessfulCreate"));
    let cases: &[(&str, &[&str])] = &[
        // kubectl describe job
        (
            "involvedObject.kind=Job,involvedObject.uid=u-pi,involvedObject.name=pi,involvedObject.namespace=default",
            &["e1", "e2"],
        ),
        // kubectl describe pod
        ("involvedObject.name=pi,involvedObject.namespace=default,involvedObject.uid=u-pod", &["e3"]),
        // kubectl events --for job/pi
        ("involvedObject.kind=Job,involvedObject.apiVersion=batch/v1,involvedObject.name=pi", &["e1", "e2"]),
        ("involvedObject.name=pi", &["e1", "e2", "e3"]),
        ("reason=SuccessfulCreate", &["e1", "e4"]),
        ("source=job-controller,type=Normal", &["e1", "e2", "e3", "e4"]),
        ("involvedObject.kind!=Job", &["e3"]),
    ];
    for (selector, want) in cases {
        let list = api.get(&format!("{events}?fieldSelector={}", encode(selector))).expect(200);
        assert_eq!(names(&list), *want, "fieldSelector={selector}");
    }
}

#[test]
fn watch_resource_version_semantics() {
    let (_tmp, _server, api) = start();
    let a = create(&api, PODS, pod("a", json!({})));
    create(&api, PODS, pod("b", json!({})));
    let list = api.get(PODS).expect(200);
    let list_rv = rv(&list);
    let quiet = Duration::from_millis(400);

    let mut from_zero = api.stream(&format!("{PODS}?watch=true&resourceVersion=0"), &[]);
    let mut unset = api.stream(&format!("{PODS}?watch=1"), &[]);
    let mut from_list = api.stream(&format!("{PODS}?watch=true&resourceVersion={list_rv}"), &[]);
    let mut from_a = api.stream(&format!("{PODS}?watch=true&resourceVersion={}", rv(&a)), &[]);
    for w in [&mut from_zero, &mut unset] {
        let events = w.take(2, WAIT);
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e["type"].as_str().unwrap(), e["object"]["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds, [("ADDED", "a"), ("ADDED", "b")]);
        assert_eq!(events[0]["object"]["kind"], "Pod");
        assert_eq!(events[0]["object"]["apiVersion"], "v1");
        assert_eq!(events[0]["object"], a);
    }
    assert!(from_list.next(quiet).is_none(), "a watch from the list's resourceVersion replays nothing");
    let b_event = from_a.next(WAIT).expect("b was created after a");
    assert_eq!((b_event["type"].as_str(), b_event["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("b")));

    // Live changes reach every watcher, in order, with increasing resourceVersions.
    let c = create(&api, PODS, pod("c", json!({})));
    let c2 =
        api.patch(&format!("{PODS}/c"), "application/merge-patch+json", &json!({"metadata": {"labels": {"x": "1"}}}));
    let c2 = c2.expect(200);
    let gone = api.delete(&format!("{PODS}/c"), None).expect(200);
    for w in [&mut from_zero, &mut unset, &mut from_list, &mut from_a] {
        let events = w.take(3, WAIT);
        let seen: Vec<(&str, u64)> = events.iter().map(|e| (e["type"].as_str().unwrap(), rv(&e["object"]))).collect();
        assert_eq!(seen.len(), 3, "{events:?}");
        assert_eq!(seen[0], ("ADDED", rv(&c)));
        assert_eq!(seen[1], ("MODIFIED", rv(&c2)));
        assert_eq!(seen[2].0, "DELETED");
        assert!(seen[2].1 > rv(&c2), "DELETED carries the delete's resourceVersion: {events:?}");
        assert_eq!(events[2]["object"]["metadata"]["labels"]["x"], "1", "DELETED carries the last state");
    }
    assert!(rv(&gone) >= rv(&c2));
    api.get(&format!("{PODS}?watch=true&resourceVersion=abc")).expect(400);
}

#[test]
fn watch_with_selectors_turns_leaving_into_deleted() {
    let (_tmp, _server, api) = start();
    selector_fixture(&api);
    let list_rv = rv(&api.get(PODS).expect(200));
    let mut web = api.stream(&format!("{PODS}?watch=true&resourceVersion={list_rv}&labelSelector=app%3Dweb"), &[]);
    let mut named = api.stream(&format!("{PODS}?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dp2"), &[]);
    let mut running =
        api.stream(&format!("{PODS}?watch=true&resourceVersion={list_rv}&fieldSelector=status.phase%3DRunning"), &[]);
    let first = named.take(1, WAIT);
    assert_eq!(
        (first[0]["type"].as_str(), first[0]["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("p2"))
    );

    let relabel = |name: &str, app: &str| {
        api.patch(
            &format!("{PODS}/{name}"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"app": app}}}),
        )
        .expect(200)
    };
    relabel("p3", "web"); // starts matching
    relabel("p1", "api"); // stops matching
    relabel("p4", "other"); // never matches
    relabel("p2", "web2"); // stops matching
    api.patch(&format!("{PODS}/p3/status"), "application/merge-patch+json", &json!({"status": {"phase": "Running"}}))
        .expect(200);
    let events: Vec<(String, String)> = web
        .take(4, WAIT)
        .iter()
        .map(|e| (e["type"].as_str().unwrap().into(), e["object"]["metadata"]["name"].as_str().unwrap().into()))
        .collect();
    let want: Vec<(String, String)> = [("ADDED", "p3"), ("DELETED", "p1"), ("DELETED", "p2"), ("MODIFIED", "p3")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(events, want);
    assert!(web.next(Duration::from_millis(300)).is_none(), "p4 never matched app=web");
    // The DELETED of a pod that stopped matching carries its new state.
    let running_events = running.take(2, WAIT);
    let kinds: Vec<&str> = running_events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["MODIFIED", "ADDED"],
        "p2 relabelled (still Running), then p3 became Running: {running_events:?}"
    );

    let named_events = named.take(1, WAIT);
    assert_eq!(named_events[0]["type"], "MODIFIED");
    api.delete(&format!("{PODS}/p2"), None).expect(200);
    let deleted = named.next(WAIT).expect("DELETED p2");
    assert_eq!(
        (deleted["type"].as_str(), deleted["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("p2"))
    );
}

#[test]
fn watches_stay_open_until_their_timeout() {
    let (_tmp, _server, api) = start();
    let mut open = api.stream(&format!("{JOBS}?watch=true"), &[]);
    let mut timed = api.stream(&format!("{JOBS}?watch=true&timeoutSeconds=1"), &[]);
    let started = std::time::Instant::now();
    assert!(timed.ends_within(Duration::from_secs(4)), "timeoutSeconds=1 did not end the watch");
    assert!(started.elapsed() >= Duration::from_millis(900), "ended too early: {:?}", started.elapsed());
    assert!(timed.head_after_end().starts_with("HTTP/1.1 200"), "a watch answers 200");
    assert!(!open.ends_within(Duration::from_secs(2)), "the server closed a watch without timeoutSeconds");
    // Still delivering after the wait.
    create(&api, JOBS, job("late"));
    let ev = open.next(Duration::from_secs(2)).expect("event after idling");
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("late")));
}

#[test]
fn a_too_old_resource_version_gets_one_expired_error_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, "127.0.0.1:0");
    let api = Api::new(&server);
    let a = create(&api, PODS, pod("a", json!({})));
    create(&api, PODS, pod("b", json!({})));
    server.stop();
    // After a restart the watch history starts at the revision the store was loaded at, which is past `a`'s.
    let server = Server::start(&dir, "127.0.0.1:0");
    let api = Api::new(&server);
    let current = rv(&api.get(PODS).expect(200));
    let old = rv(&a);
    let mut w = api.stream(&format!("{PODS}?watch=true&resourceVersion={old}"), &[]);
    let ev = w.next(Duration::from_secs(3)).expect("an ERROR event");
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(
        ev["object"],
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("too old resource version: {old}"), "reason": "Expired", "code": 410})
    );
    assert!(w.ends_within(Duration::from_secs(3)), "the stream ends after the ERROR event");
    assert!(w.next(Duration::from_millis(100)).is_none());
    assert!(w.head_after_end().starts_with("HTTP/1.1 200"));
    // The list's own resourceVersion is still watchable.
    let mut ok = api.stream(&format!("{PODS}?watch=true&resourceVersion={current}"), &[]);
    create(&api, PODS, pod("c", json!({})));
    assert_eq!(ok.next(Duration::from_secs(3)).expect("ADDED c")["type"], "ADDED");
}

// ---------------------------------------------------------------------------------------------------------------
// Tables

fn column_names(table: &Value) -> Vec<(String, i64)> {
    table["columnDefinitions"]
        .as_array()
        .unwrap_or_else(|| panic!("no columnDefinitions: {table}"))
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["priority"].as_i64().unwrap()))
        .collect()
}

fn is_age(cell: &Value) -> bool {
    cell.as_str().is_some_and(|s| s.ends_with('s') && s[..s.len() - 1].parse::<u32>().is_ok_and(|n| n < 60))
}

#[test]
fn tables_for_jobs_pods_events_namespaces() {
    let (_tmp, _server, api) = start();
    let tj = create(&api, JOBS, job("tj"));
    let uid = tj["metadata"]["uid"].as_str().unwrap();
    create(&api, PODS, pod("tp", json!({"app": "t"})));
    create(
        &api,
        "/api/v1/namespaces/default/events",
        json!({
            "metadata": {"name": "te"},
            "involvedObject": {"kind": "Job", "namespace": "default", "name": "tj", "uid": uid, "apiVersion": "batch/v1"},
            "reason": "SuccessfulCreate", "message": "Created pod: tj-abcde", "type": "Normal",
            "source": {"component": "job-controller"}, "count": 1,
            "firstTimestamp": meta_now(&tj), "lastTimestamp": meta_now(&tj),
        }),
    );

    // (collection, columns with priorities, expected cells of the one row checked; None = an Age cell)
    let p = |n: &str, pr: i64| (n.to_string(), pr);
    /// Column names with their priorities; expected cells, None for an age.
    type Columns = Vec<(String, i64)>;
    type Cells = Vec<Option<Value>>;
    let cases: Vec<(String, Columns, &str, Cells)> = vec![
        (
            JOBS.to_string(),
            vec![
                p("Name", 0),
                p("Status", 0),
                p("Completions", 0),
                p("Duration", 0),
                p("Age", 0),
                p("Containers", 1),
                p("Images", 1),
                p("Selector", 1),
            ],
            "tj",
            vec![
                Some(json!("tj")),
                Some(json!("Running")),
                Some(json!("0/1")),
                Some(json!("")),
                None,
                Some(json!("c")),
                Some(json!("busybox")),
                Some(json!(format!("batch.kubernetes.io/controller-uid={uid}"))),
            ],
        ),
        (
            PODS.to_string(),
            vec![
                p("Name", 0),
                p("Ready", 0),
                p("Status", 0),
                p("Restarts", 0),
                p("Age", 0),
                p("IP", 1),
                p("Node", 1),
                p("Nominated Node", 1),
                p("Readiness Gates", 1),
            ],
            "tp",
            vec![
                Some(json!("tp")),
                Some(json!("0/1")),
                Some(json!("Pending")),
                Some(json!("0")),
                None,
                Some(json!("<none>")),
                Some(json!("<none>")),
                Some(json!("<none>")),
                Some(json!("<none>")),
            ],
        ),
        (
            "/api/v1/namespaces".to_string(),
            vec![p("Name", 0), p("Status", 0), p("Age", 0)],
            "default",
            vec![Some(json!("default")), Some(json!("Active")), None],
        ),
        (
            "/api/v1/namespaces/default/events".to_string(),
            vec![
                p("Last Seen", 0),
                p("Type", 0),
                p("Reason", 0),
                p("Object", 0),
                p("Subobject", 1),
                p("Source", 1),
                p("Message", 0),
                p("First Seen", 1),
                p("Count", 1),
                p("Name", 1),
            ],
            "te",
            vec![
                None,
                Some(json!("Normal")),
                Some(json!("SuccessfulCreate")),
                Some(json!("job/tj")),
                Some(json!("")),
                Some(json!("job-controller")),
                Some(json!("Created pod: tj-abcde")),
                None,
                Some(json!(1)),
                Some(json!("te")),
            ],
        ),
    ];
    for (collection, columns, name, cells) in cases {
        let t = api.get_accept(&collection, TABLE_ACCEPT).expect(200);
        assert_eq!((t["kind"].as_str(), t["apiVersion"].as_str()), (Some("Table"), Some("meta.k8s.io/v1")), "{t}");
        assert!(rv(&t) > 0, "a list Table carries the resourceVersion to watch from");
        assert_eq!(column_names(&t), columns, "{collection}");
        let row = t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["object"]["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {t}"))
            .clone();
        let got = row["cells"].as_array().unwrap();
        assert_eq!(got.len(), cells.len(), "{row}");
        for (i, want) in cells.iter().enumerate() {
            match want {
                Some(v) => assert_eq!(&got[i], v, "{collection} cell {i} ({})", columns[i].0),
                None => assert!(is_age(&got[i]), "{collection} cell {i} is not an age: {}", got[i]),
            }
        }
        // Default includeObject=Metadata: PartialObjectMetadata with what -A, --show-labels and -L need.
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
        assert!(row["object"].get("spec").is_none());
        assert!(row["object"]["metadata"]["uid"].is_string());

        // One object as a Table: one row.
        let one = api.get_accept(&format!("{collection}/{name}"), TABLE_ACCEPT).expect(200);
        assert_eq!(one["rows"].as_array().unwrap().len(), 1);
        assert_eq!(column_names(&one), columns);
    }
    assert_eq!(
        api.get_accept(&format!("{PODS}/tp"), TABLE_ACCEPT).expect(200)["rows"][0]["object"]["metadata"]["labels"],
        json!({"app": "t"})
    );

    let full = api.get_accept(&format!("{JOBS}?includeObject=Object"), TABLE_ACCEPT).expect(200);
    assert_eq!(full["rows"][0]["object"], tj);
    let none = api.get_accept(&format!("{JOBS}?includeObject=None"), TABLE_ACCEPT).expect(200);
    assert!(none["rows"][0].get("object").is_none(), "{none}");
    assert_eq!(none["rows"][0]["cells"][0], "tj");
    let meta = api.get_accept(&format!("{JOBS}?includeObject=Metadata"), TABLE_ACCEPT).expect(200);
    assert_eq!(meta["rows"][0]["object"]["metadata"]["name"], "tj");
    api.get_accept(&format!("{JOBS}?includeObject=Everything"), TABLE_ACCEPT).expect(400);
    // Without the Table Accept: a plain list.
    assert_eq!(api.get_accept(JOBS, "application/json, */*").expect(200)["kind"], "JobList");
    let pb = api.get_accept(JOBS, "application/vnd.kubernetes.protobuf,application/json").expect(200);
    assert_eq!(pb["kind"], "JobList");

    // A Table watch: one row per event, column definitions on the first.
    let mut w = api.stream(&format!("{JOBS}?watch=true&resourceVersion=0"), &[("Accept", TABLE_ACCEPT)]);
    let first = w.next(Duration::from_secs(2)).expect("ADDED tj");
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(column_names(&first["object"]).len(), 8);
    create(&api, JOBS, job("tk"));
    let second = w.next(Duration::from_secs(2)).expect("ADDED tk");
    assert_eq!(second["object"]["rows"][0]["cells"][0], "tk");
    assert_eq!(second["object"]["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

/// The object's creationTimestamp (a valid event timestamp close to now).
fn meta_now(v: &Value) -> Value {
    v["metadata"]["creationTimestamp"].clone()
}

// ---------------------------------------------------------------------------------------------------------------
// Namespaces, finalizers, graceful pod deletion, restarts

/// `kubectl create namespace <name>`'s protobuf body (kubectl-wire.md §11).
fn namespace_protobuf(name: &str) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, u8::try_from(bytes.len()).unwrap()];
        v.extend_from_slice(bytes);
        v
    }
    let mut meta = field(0x0a, name.as_bytes());
    for tag in [0x12, 0x1a, 0x22, 0x2a, 0x32] {
        meta.extend(field(tag, b""));
    }
    meta.extend([0x38, 0x00]);
    meta.extend(field(0x42, b""));
    let mut namespace = field(0x0a, &meta);
    namespace.extend(field(0x12, b""));
    namespace.extend(field(0x1a, &field(0x0a, b"")));
    let mut type_meta = field(0x0a, b"v1");
    type_meta.extend(field(0x12, b"Namespace"));
    let mut body = b"k8s\0".to_vec();
    body.extend(field(0x0a, &type_meta));
    body.extend(field(0x12, &namespace));
    body.extend(field(0x1a, b""));
    body.extend(field(0x22, b""));
    body
}

#[test]
fn namespaces_exist_guard_creates_and_empty_on_delete() {
    let (_tmp, _server, api) = start();
    let ns = "/api/v1/namespaces";
    let default = api.get(&format!("{ns}/default")).expect(200);
    assert_eq!(default["status"]["phase"], "Active");
    for system in ["kube-system", "kube-node-lease"] {
        api.get(&format!("{ns}/{system}")).expect(200);
    }

    let s = api.post("/apis/batch/v1/namespaces/missing/jobs", &job("j")).expect_status(
        404,
        "NotFound",
        "namespaces \"missing\" not found",
    );
    assert_eq!(s["details"], json!({"name": "missing", "kind": "namespaces"}));
    api.post("/api/v1/namespaces/missing/pods", &pod("p", json!({}))).expect_status(
        404,
        "NotFound",
        "namespaces \"missing\" not found",
    );
    assert_eq!(names(&api.get("/apis/batch/v1/namespaces/missing/jobs").expect(200)), Vec::<String>::new());

    // `kubectl create namespace pbns`: protobuf in, JSON out.
    let body = namespace_protobuf("pbns");
    assert_eq!(namespace_protobuf("x").len(), 52, "the body of kubectl-wire.md §11");
    let r = api.request(
        "POST",
        &format!("{ns}?fieldManager=kubectl-create&fieldValidation=Strict"),
        &[("Accept", "application/vnd.kubernetes.protobuf,application/json")],
        Some((Some("application/vnd.kubernetes.protobuf"), &body)),
    );
    let created = r.expect(201);
    assert_eq!(created["metadata"]["name"], "pbns");
    assert_eq!(created["kind"], "Namespace");
    assert_eq!(created["status"]["phase"], "Active");
    assert_eq!(created["spec"]["finalizers"], json!(["kubernetes"]));
    assert!(r.header_values("content-type")[0].starts_with("application/json"));
    api.post(ns, &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pbns"}})).expect_status(
        409,
        "AlreadyExists",
        "namespaces \"pbns\" already exists",
    );
    let garbage = api.request("POST", ns, &[], Some((Some("application/vnd.kubernetes.protobuf"), b"k8s\0\xff\xff")));
    assert_eq!(garbage.expect(400)["reason"], "BadRequest");

    // Deleting a namespace empties it, then removes it. A finalizer on a pod holds it in Terminating meanwhile.
    create(&api, ns, json!({"metadata": {"name": "doomed"}}));
    let jobs = "/apis/batch/v1/namespaces/doomed/jobs";
    let pods = "/api/v1/namespaces/doomed/pods";
    create(&api, jobs, job("j1"));
    create(&api, pods, pod("free", json!({})));
    let mut held = pod("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    create(&api, pods, held);
    let marked = api.delete(&format!("{ns}/doomed"), Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    assert!(marked["metadata"]["deletionTimestamp"].is_string(), "{marked}");
    assert_eq!(marked["status"]["phase"], "Terminating");
    api.delete(&format!("{ns}/doomed"), None).expect_status(
        409,
        "Conflict",
        "Operation cannot be fulfilled on namespaces \"doomed\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
    );
    api.post(jobs, &job("late")).expect_status(
        403,
        "Forbidden",
        "unable to create new content in namespace doomed because it is being terminated",
    );
    let emptied = eventually(Duration::from_secs(3), || {
        let left = names(&api.get(pods).expect(200));
        (left == ["held"] && names(&api.get(jobs).expect(200)).is_empty()).then_some(())
    });
    assert!(emptied.is_some(), "the namespace was not emptied");
    let held = api.get(&format!("{pods}/held")).expect(200);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(api.get(&format!("{ns}/doomed")).expect(200)["status"]["phase"], "Terminating");
    api.patch(&format!("{pods}/held"), "application/merge-patch+json", &json!({"metadata": {"finalizers": null}}))
        .expect(200);
    let gone = eventually(Duration::from_secs(3), || (api.get(&format!("{ns}/doomed")).code == 404).then_some(()));
    assert!(gone.is_some(), "the emptied namespace was not removed");
    api.get(&format!("{ns}/doomed")).expect_status(404, "NotFound", "namespaces \"doomed\" not found");
}

#[test]
fn finalizers_and_propagation_policies() {
    let (_tmp, _server, api) = start();
    let hold = "example.com/hold";
    let with_finalizers = |name: &str, finalizers: &[&str]| {
        let mut j = job(name);
        j["metadata"]["finalizers"] = json!(finalizers);
        create(&api, JOBS, j)
    };

    // A finalizer keeps a deleted object, marked, until an update removes the last one.
    with_finalizers("held", &[hold, "example.com/second"]);
    let path = format!("{JOBS}/held");
    let marked = api.delete(&path, Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    let ts = marked["metadata"]["deletionTimestamp"].as_str().expect("deletionTimestamp").to_string();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(marked["metadata"]["finalizers"], json!([hold, "example.com/second"]));
    assert_eq!(api.get(&path).expect(200), marked);
    let again = api.delete(&path, Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    assert_eq!(again["metadata"]["deletionTimestamp"], ts.as_str(), "a second delete keeps the first mark");
    let table = api.get_accept(&path, TABLE_ACCEPT).expect(200);
    assert_eq!(table["rows"][0]["cells"][1], "Terminating");
    let one_left = api
        .patch(&path, "application/json-patch+json", &json!([{"op": "remove", "path": "/metadata/finalizers/1"}]))
        .expect(200);
    assert_eq!(one_left["metadata"]["finalizers"], json!([hold]));
    assert_eq!(one_left["metadata"]["deletionTimestamp"], ts.as_str(), "clients cannot unset deletionTimestamp");
    api.get(&path).expect(200);
    // No finalizer may be added once deletion started.
    api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"finalizers": [hold, "example.com/late"]}}))
        .expect_status(
            422,
            "Invalid",
            "Job.batch \"held\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/late\"}",
        );
    api.patch(&path, "application/merge-patch+json", &json!({"metadata": {"finalizers": null}})).expect(200);
    api.get(&path).expect_status(404, "NotFound", "jobs.batch \"held\" not found");

    // Background on a Job without finalizers: gone at once, no warning.
    create(&api, JOBS, job("bg"));
    let r = api.delete(&format!("{JOBS}/bg"), Some(&json!({"propagationPolicy": "Background"})));
    r.expect(200);
    assert!(r.header_values("warning").is_empty(), "{:?}", r.headers);
    api.get(&format!("{JOBS}/bg")).expect(404);

    // Foreground and Orphan mark the Job with their finalizer (the garbage collector takes it from there; the
    // hold finalizer keeps the object around for the assertions).
    for (name, body, finalizer) in [
        ("fg", json!({"propagationPolicy": "Foreground"}), "foregroundDeletion"),
        ("or", json!({"propagationPolicy": "Orphan"}), "orphan"),
        ("od", json!({"orphanDependents": true}), "orphan"),
    ] {
        with_finalizers(name, &[hold]);
        let r = api.delete(&format!("{JOBS}/{name}"), Some(&body));
        let m = r.expect(200);
        assert!(m["metadata"]["deletionTimestamp"].is_string(), "{name}: {m}");
        assert_eq!(m["metadata"]["finalizers"], json!([hold, finalizer]), "{name}");
        assert!(r.header_values("warning").is_empty(), "{name}");
        let now = api.get(&format!("{JOBS}/{name}")).expect(200);
        assert!(now["metadata"]["deletionTimestamp"].is_string());
    }
    let fg = with_finalizers("fg-query", &[hold]);
    let m = api.delete(&format!("{JOBS}/fg-query?propagationPolicy=Foreground"), None).expect(200);
    assert_eq!(m["metadata"]["finalizers"], json!([hold, "foregroundDeletion"]));
    assert_eq!(m["metadata"]["uid"], fg["metadata"]["uid"]);

    // A raw DELETE of a Job without a policy orphans, with upstream's warning.
    with_finalizers("raw", &[hold]);
    let r = api.delete(&format!("{JOBS}/raw"), None);
    let m = r.expect(200);
    assert_eq!(
        r.header_values("warning"),
        [
            "299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\""
        ]
    );
    assert_eq!(m["metadata"]["finalizers"], json!([hold, "orphan"]));
    // Pods have no such default.
    create(&api, PODS, pod("quiet", json!({})));
    let r = api.delete(&format!("{PODS}/quiet"), None);
    r.expect(200);
    assert!(r.header_values("warning").is_empty());

    with_finalizers("bad", &[hold]);
    api.delete(&format!("{JOBS}/bad"), Some(&json!({"propagationPolicy": "Sideways"}))).expect_status(
        422,
        "Invalid",
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
    );
    let s = api.delete(&format!("{JOBS}/bad"), Some(&json!({"preconditions": {"uid": "not-it"}}))).expect(409);
    assert_eq!(s["reason"], "Conflict");
    assert!(api.get(&format!("{JOBS}/bad")).expect(200)["metadata"].get("deletionTimestamp").is_none());
}

#[test]
fn graceful_deletion_of_pods() {
    let (_tmp, _server, api) = start();
    // A pod bound to a node and running waits for the node: marked with the grace period.
    let mut bound = pod("bound", json!({}));
    bound["spec"]["nodeName"] = json!("elsewhere");
    create(&api, PODS, bound);
    let path = format!("{PODS}/bound");
    api.patch(&format!("{path}/status"), "application/merge-patch+json", &json!({"status": {"phase": "Running"}}))
        .expect(200);
    let marked = api.delete(&path, None).expect(200);
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
    let ts = marked["metadata"]["deletionTimestamp"].as_str().expect("deletionTimestamp");
    assert!(ts > marked["metadata"]["creationTimestamp"].as_str().unwrap(), "now + grace: {ts}");
    assert_eq!(api.get(&path).expect(200)["metadata"]["deletionTimestamp"], ts);
    let table = api.get_accept(&path, TABLE_ACCEPT).expect(200);
    assert_eq!(table["rows"][0]["cells"][2], "Terminating");
    // A shorter grace period shortens it; 0 (what the node sends when the containers are gone) removes it.
    let shorter = api.delete(&path, Some(&json!({"gracePeriodSeconds": 5}))).expect(200);
    assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 5);
    api.delete(&format!("{path}?gracePeriodSeconds=0"), None).expect(200);
    api.get(&path).expect_status(404, "NotFound", "pods \"bound\" not found");

    // An explicit grace period on the first delete.
    let mut custom = pod("custom", json!({}));
    custom["spec"]["nodeName"] = json!("elsewhere");
    create(&api, PODS, custom);
    let m = api.delete(&format!("{PODS}/custom"), Some(&json!({"gracePeriodSeconds": 7}))).expect(200);
    assert_eq!(m["metadata"]["deletionGracePeriodSeconds"], 7);

    // Unbound, or already finished: removed at once.
    create(&api, PODS, pod("unbound", json!({})));
    api.delete(&format!("{PODS}/unbound"), None).expect(200);
    api.get(&format!("{PODS}/unbound")).expect(404);
    let mut done = pod("done", json!({}));
    done["spec"]["nodeName"] = json!("elsewhere");
    create(&api, PODS, done);
    api.patch(
        &format!("{PODS}/done/status"),
        "application/merge-patch+json",
        &json!({"status": {"phase": "Succeeded"}}),
    )
    .expect(200);
    api.delete(&format!("{PODS}/done"), None).expect(200);
    api.get(&format!("{PODS}/done")).expect(404);
}

#[test]
fn a_restart_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, "127.0.0.1:0");
    let api = Api::new(&server);
    create(&api, "/api/v1/namespaces", json!({"metadata": {"name": "kept"}}));
    create(&api, JOBS, job("j1"));
    let j1 = api.patch(&format!("{JOBS}/j1"), "application/merge-patch+json", &json!({"spec": {"parallelism": 4}}));
    let j1 = j1.expect(200);
    let p1 = create(&api, "/api/v1/namespaces/kept/pods", pod("p1", json!({"a": "b"})));
    create(&api, JOBS, job("j2"));
    api.delete(&format!("{JOBS}/j2"), Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    let mut held = job("j3");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    create(&api, JOBS, held);
    let j3 = api.delete(&format!("{JOBS}/j3"), Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    // The last write is a removal: its revision must not be handed out again after the restart.
    create(&api, PODS, pod("last", json!({})));
    let mut w = api.stream(&format!("{PODS}?watch=true&fieldSelector=metadata.name%3Dlast&resourceVersion=0"), &[]);
    w.take(1, WAIT);
    api.delete(&format!("{PODS}/last"), None).expect(200);
    let removal = rv(&w.take(1, WAIT)[0]["object"]);
    let before = rv(&api.get("/api/v1/pods").expect(200));
    assert!(before >= removal, "{before} < {removal}");
    let token = std::fs::read_to_string(dir.join("pki/token")).unwrap();
    server.stop();

    let server = Server::start(&dir, "127.0.0.1:0");
    let api = Api::new(&server);
    assert_eq!(std::fs::read_to_string(dir.join("pki/token")).unwrap(), token);
    assert_eq!(api.get(&format!("{JOBS}/j1")).expect(200), j1);
    assert_eq!(api.get("/api/v1/namespaces/kept/pods/p1").expect(200), p1);
    assert_eq!(api.get(&format!("{JOBS}/j3")).expect(200), j3, "a marked object stays marked");
    api.get(&format!("{JOBS}/j2")).expect(404);
    api.get("/api/v1/namespaces/kept").expect(200);
    let after = rv(&api.get("/api/v1/pods").expect(200));
    assert!(after >= before, "the revision went back: {before} -> {after}");
    let new = create(&api, JOBS, job("j4"));
    assert!(rv(&new) > before, "a new write reuses an old revision: {} <= {before}", rv(&new));
    // Optimistic concurrency still works across the restart.
    let mut stale = j1.clone();
    stale["metadata"]["resourceVersion"] = json!((rv(&j1) - 1).to_string());
    api.put(&format!("{JOBS}/j1"), &stale).expect_status(409, "Conflict", &conflict_message("jobs.batch", "j1"));
    let j1 = api.put(&format!("{JOBS}/j1"), &j1).expect(200);

    // A crash (SIGKILL, no shutdown) loses nothing acknowledged either.
    let j5 = create(&api, JOBS, job("j5"));
    drop(server);
    let server = Server::start(&dir, "127.0.0.1:0");
    let api = Api::new(&server);
    assert_eq!(api.get(&format!("{JOBS}/j5")).expect(200), j5);
    assert_eq!(api.get(&format!("{JOBS}/j1")).expect(200), j1);
    assert!(rv(&create(&api, JOBS, job("j6"))) > rv(&j5));
}

#[test]
fn http2_serves_requests_and_watches() {
    let (_tmp, _server, api) = start();
    let api = Api { http2: true, ..api };
    let r = api.get("/version");
    r.expect(200);
    assert!(r.status_line.starts_with("HTTP/2 200"), "{}", r.status_line);
    let mut w = api.stream(&format!("{JOBS}?watch=true"), &[]);
    create(&api, JOBS, job("h2"));
    let ev = w.next(WAIT).expect("ADDED over HTTP/2");
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("h2")));
    let r = api.delete(&format!("{JOBS}/h2"), Some(&json!({"propagationPolicy": "Background"})));
    assert_eq!(r.expect(200)["status"], "Success");
    let deleted = w.next(WAIT).expect("DELETED over HTTP/2");
    assert_eq!(deleted["type"], "DELETED");
}

/// strategic-merge-patch.md §4: merge errors upstream answers as 500 without a reason (kubectl prints only the
/// message) or as 400, each with the upstream text.
#[test]
fn strategic_merge_patch_errors() {
    let (_tmp, _server, api) = start();
    let mut body = job("pa");
    body["metadata"]["finalizers"] = json!(["a/x", "b/y"]);
    body["spec"]["template"]["spec"]["containers"][0]["name"] = json!("pa");
    let live = create(&api, JOBS, body);
    let path = format!("{JOBS}/pa");
    let in_pod_spec = |v: Value| json!({"spec": {"template": {"spec": v}}});
    // (patch, code, message)
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            in_pod_spec(json!({"containers": [{"image": "nginx"}]})),
            500,
            "map: map[image:nginx] does not contain declared merge key: name",
        ),
        (
            in_pod_spec(json!({"containers": [{"$patch": "delete"}]})),
            500,
            "map: map[$patch:delete] does not contain declared merge key: name",
        ),
        (json!({"$patch": "foo"}), 500, "unknown patch type: foo in map: map[$patch:foo]"),
        (
            in_pod_spec(json!({"$patch": "merge", "restartPolicy": "OnFailure"})),
            500,
            "unknown patch type: merge in map: map[$patch:merge restartPolicy:OnFailure]",
        ),
        (
            in_pod_spec(json!({"containers": [{"name": "pa", "$patch": "merge"}]})),
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            500,
            "list element types are not identical: [[a/x b/y] [map[a:1]]]",
        ),
        (
            in_pod_spec(json!({
                "$setElementOrder/containers": [{"name": "side"}, {"name": "pa"}],
                "containers": [{"name": "pa", "image": "a"}, {"name": "side", "image": "b"}],
            })),
            500,
            "The order in patch list:\n[map[image:a name:pa] map[image:b name:side]]\n doesn't match $setElementOrder list:\n[map[name:side] map[name:pa]]\n",
        ),
        (
            in_pod_spec(json!({"$setElementOrder/containers": {"name": "side"}})),
            500,
            "expected a []interface {}, but received a map[string]interface {}",
        ),
        (
            in_pod_spec(json!({"$setElementOrder/containers": [{"nam": "x"}]})),
            500,
            "map: map[nam:x] does not contain declared merge key: name",
        ),
        (
            in_pod_spec(json!({"$setElementOrder/bogus": [{"name": "x"}]})),
            500,
            "unable to find api field in struct PodSpec for the json field \"bogus\"",
        ),
        (
            in_pod_spec(json!({"$setElementOrder/restartPolicy": ["x"]})),
            500,
            "expected a []interface {}, but received a string",
        ),
        (
            in_pod_spec(json!({"$setElementOrder": [{"name": "x"}]})),
            400,
            "invalid patch format of setElementOrder list",
        ),
        (in_pod_spec(json!({"$deleteFromPrimitiveList": ["x"]})), 400, "invalid patch format of primitive list"),
    ];
    for (patch, code, message) in cases {
        let s = api.patch(&path, "application/strategic-merge-patch+json", &patch).expect(code);
        assert_eq!(s["message"], message, "{patch}");
        assert_eq!((s["kind"].as_str(), s["status"].as_str()), (Some("Status"), Some("Failure")));
        if code == 500 {
            assert!(s.get("reason").is_none(), "a merge failure has no reason: {s}");
        } else {
            assert_eq!(s["reason"], "BadRequest");
        }
    }
    // A document that no longer decodes is a 422 about the patch (row 19).
    let s = api
        .patch(&path, "application/strategic-merge-patch+json", &json!({"metadata": {"finalizers": "x"}}))
        .expect(422);
    assert_eq!(s["reason"], "Invalid");
    assert!(s["message"].as_str().unwrap().starts_with(" \"\" is invalid: patch: Invalid value: \"map["), "{s}");
    assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
    assert_eq!(s["details"]["causes"][0]["field"], "patch");
    assert_eq!(api.get(&path).expect(200), live, "no failed patch wrote anything");
}

#[test]
fn subresources_and_all_namespace_paths_never_write_the_wrong_thing() {
    let (_tmp, _server, api) = start();
    create(&api, PODS, pod("p1", json!({})));
    // DELETE or PATCH on `log` is not a delete or patch of the pod.
    api.delete(&format!("{PODS}/p1/log"), None).expect(405);
    api.patch(&format!("{PODS}/p1/log"), "application/merge-patch+json", &json!({"metadata": {"labels": {"a": "b"}}}))
        .expect(405);
    let p = api.get(&format!("{PODS}/p1")).expect(200);
    assert!(p["metadata"].get("labels").is_none_or(|l| l.get("a").is_none()), "{p}");
    // The all-namespaces URL of a namespaced resource is for list and watch only.
    api.post("/apis/batch/v1/jobs", &job("stray")).expect(405);
    api.delete("/api/v1/pods", None).expect(405);
    assert_eq!(names(&api.get("/api/v1/pods").expect(200)), ["p1"]);
    assert_eq!(names(&api.get("/apis/batch/v1/jobs").expect(200)), Vec::<String>::new());
}

#[test]
fn concurrent_patches_without_preconditions_all_succeed() {
    let (_tmp, _server, api) = start();
    create(&api, PODS, pod("busy", json!({})));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let api = api.clone();
            std::thread::spawn(move || {
                let body = json!({"metadata": {"labels": {format!("k{i}"): "v"}}});
                api.patch(&format!("{PODS}/busy"), "application/merge-patch+json", &body).expect(200);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("patch thread");
    }
    let p = api.get(&format!("{PODS}/busy")).expect(200);
    assert_eq!(p["metadata"]["labels"].as_object().map(|m| m.len()), Some(32), "{p}");
}

#[test]
fn a_watch_from_a_revision_never_handed_out_is_refused() {
    let (_tmp, _server, api) = start();
    let s = api.get(&format!("{PODS}?watch=true&resourceVersion=999999999")).expect(504);
    assert_eq!(s["reason"], "Timeout", "{s}");
    assert!(s["message"].as_str().unwrap().starts_with("Too large resource version: 999999999, current: "), "{s}");
}

#[test]
fn delete_collection_checks_its_options_first_and_deletes_every_match() {
    let (_tmp, _server, api) = start();
    // Bad options are refused even when nothing matches.
    let nothing = format!("{PODS}?labelSelector=app%3Dnothing");
    let s = api.request("DELETE", &nothing, &[], Some((Some("application/json"), b"{not json"))).expect(400);
    assert_eq!(s["reason"], "BadRequest", "{s}");
    api.delete(&nothing, Some(&json!({"propagationPolicy": "Sideways"}))).expect_status(
        422,
        "Invalid",
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
    );
    let empty = api.delete(&nothing, None).expect(200);
    assert_eq!((empty["kind"].as_str(), empty["items"].as_array().map(Vec::len)), (Some("PodList"), Some(0)));

    // Deleted concurrently, answered in key order.
    let doomed: Vec<String> = (0..40).map(|i| format!("p{i:02}")).collect();
    for name in &doomed {
        create(&api, PODS, pod(name, json!({"app": "many"})));
    }
    create(&api, PODS, pod("kept", json!({"app": "other"})));
    let deleted = api.delete(&format!("{PODS}?labelSelector=app%3Dmany"), None).expect(200);
    assert_eq!(deleted["kind"], "PodList");
    assert_eq!(deleted["apiVersion"], "v1");
    assert!(deleted["metadata"]["resourceVersion"].is_string(), "{deleted}");
    let answered: Vec<&str> =
        deleted["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(answered, doomed);
    assert_eq!(names(&api.get(PODS).expect(200)), ["kept"]);
}

/// `limit` and `continue`: pages in key order, every page consistent with the first (a pod deleted and one
/// created between pages change nothing until a new list), `remainingItemCount` only without a selector, a
/// Table page carries the token too, and a bad token or a token with a resourceVersion is refused.
#[test]
fn chunked_lists_page_a_consistent_snapshot() {
    let (_tmp, _server, api) = start();
    for i in 0..7 {
        let group = if i % 2 == 0 { "even" } else { "odd" };
        create(&api, PODS, pod(&format!("p{i}"), json!({"group": group})));
    }
    let first = api.get(&format!("{PODS}?limit=3")).expect(200);
    assert_eq!(names(&first), ["p0", "p1", "p2"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 4, "{first}");
    let token = first["metadata"]["continue"].as_str().unwrap_or_else(|| panic!("no continue: {first}")).to_string();

    // Changes between pages: the next pages still show the list as it was at the first page's revision.
    api.delete(&format!("{PODS}/p4"), None).expect(200);
    create(&api, PODS, pod("p3a", json!({"group": "odd"})));
    let second = api.get(&format!("{PODS}?limit=3&continue={token}")).expect(200);
    assert_eq!(names(&second), ["p3", "p4", "p5"]);
    assert_eq!(rv(&second), rv(&first), "every page has the first page's revision");
    assert_eq!(second["metadata"]["remainingItemCount"], 1);
    let token = second["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    let last = api.get(&format!("{PODS}?limit=3&continue={token}")).expect(200);
    assert_eq!(names(&last), ["p6"]);
    assert!(last["metadata"].get("continue").is_none() && last["metadata"].get("remainingItemCount").is_none());
    // A new list sees the changes.
    assert_eq!(names(&api.get(PODS).expect(200)), ["p0", "p1", "p2", "p3", "p3a", "p5", "p6"]);

    // With a selector: pages of matching items, no count of what remains.
    let odd = api.get(&format!("{PODS}?limit=2&labelSelector=group%3Dodd")).expect(200);
    assert_eq!(names(&odd), ["p1", "p3"]);
    assert!(odd["metadata"].get("remainingItemCount").is_none(), "{odd}");
    let token = odd["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    let rest = api.get(&format!("{PODS}?limit=2&labelSelector=group%3Dodd&continue={token}")).expect(200);
    assert_eq!(names(&rest), ["p3a", "p5"]);

    // kubectl asks for Tables in chunks.
    let table = api.get_accept(&format!("{PODS}?limit=4"), TABLE_ACCEPT).expect(200);
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(4), "{table}");
    assert!(table["metadata"]["continue"].is_string() && table["metadata"]["remainingItemCount"] == 3, "{table}");

    api.get(&format!("{PODS}?limit=2&continue=not-a-token")).expect_status(
        400,
        "BadRequest",
        "continue key is not valid: expected format: base64 encoded JSON",
    );
    api.get(&format!("{PODS}?limit=2&continue={token}&resourceVersion=1")).expect_status(
        422,
        "Invalid",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersion: Forbidden: specifying resource version is not allowed when using continue",
    );
}
