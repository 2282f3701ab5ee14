//! The API server's HTTP contract, checked on a real `runlet server` process with `curl`: every answer's code,
//! `reason` and message as kubectl-wire.md, job-semantics.md §1–2, §5.2 and strategic-merge-patch.md §1.1, §4, §5.1
//! state them. Each test starts its own server on a fresh data dir.

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

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        }}},
    })
}

fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
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

    for f in ["kubeconfig", "pki/ca.key", "pki/server.key", "pki/token"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
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
    assert!(jiff::Timestamp::from_str(ts).is_ok() && ts.ends_with('Z') && !ts.contains('.'), "{ts}");
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
    // A PUT naming another object, or of a missing one.
    let mut renamed = unconditional.clone();
    renamed["metadata"]["name"] = json!("other");
    api.put(&format!("{JOBS}/pi"), &renamed).expect_status(
        400,
        "BadRequest",
        "the name of the object (other) does not match the name on the URL (pi)",
    );
    api.put(&format!("{JOBS}/nope"), &job("nope")).expect_status(404, "NotFound", "jobs.batch \"nope\" not found");

    // DELETE with a body answers the last state; then the object is gone.
    let gone = api.delete(&format!("{JOBS}/pi"), Some(&json!({"propagationPolicy": "Background"}))).expect(200);
    assert_eq!(gone["metadata"]["name"], "pi");
    api.get(&format!("{JOBS}/pi")).expect_status(404, "NotFound", "jobs.batch \"pi\" not found");
    api.delete(&format!("{JOBS}/pi"), None).expect_status(404, "NotFound", "jobs.batch \"pi\" not found");
    api.get(&format!("{PODS}/x")).expect_status(404, "NotFound", "pods \"x\" not found");
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
    assert_eq!(deleted["metadata"]["name"], "wet");
    let body_dry = api.delete(&path, Some(&json!({"dryRun": ["All"], "propagationPolicy": "Background"}))).expect(200);
    assert_eq!(body_dry["metadata"]["name"], "wet");
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
    let p = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"uid": "x", "creationTimestamp": "2000-01-01T00:00:00Z", "generation": 7}}),
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
