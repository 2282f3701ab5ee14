//! End to end: the real `kubectl` on PATH drives a real `runlet server` through the session of the foundation
//! issue (discovery, create/apply/patch/scale/get/watch/delete, protobuf namespace create, validation errors, a
//! restart that loses nothing). Skipped, with a message, where kubectl is absent.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::{Kubectl, Server, eventually, have_kubectl, repo_root};

const PA: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: pa
spec:
  parallelism: 1
  template:
    spec:
      containers:
      - name: pa
        image: perl
        command: ["perl", "-e", "print 1"]
      restartPolicy: Never
"#;

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: pi-manual
  labels:
    job-name: pi
spec:
  containers:
  - name: c
    image: busybox
    command: ["true"]
  restartPolicy: Never
"#;

const BAD: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: bad
spec:
  template:
    spec:
      containers:
      - name: c
        image: busybox
        command: ["true"]
      restartPolicy: Always
"#;

#[test]
fn kubectl_session_against_runlet_server() {
    if !have_kubectl("kubectl_session_against_runlet_server") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());

    let version = k.ok(&["version"]);
    assert!(version.contains("Server Version: v1.33"), "{version}");

    let resources = k.ok(&["api-resources"]);
    for want in ["jobs", "pods", "namespaces", "events"] {
        assert!(resources.lines().any(|l| l.starts_with(want)), "{want} missing from:\n{resources}");
    }
    assert!(resources.lines().any(|l| l.starts_with("pods") && l.contains(" po ")), "{resources}");

    let pi = repo_root().join("examples/pi.yaml");
    let pi = pi.to_str().unwrap();
    assert_eq!(k.ok(&["create", "-f", pi]).trim(), "job.batch/pi created");
    let again = k.fails(&["create", "-f", pi]);
    assert!(again.contains("AlreadyExists") && again.contains("jobs.batch \"pi\" already exists"), "{again}");

    let table = k.ok(&["get", "jobs"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["pi", "Running", "0/1"], "{table}");

    let yaml = k.ok(&["get", "job", "pi", "-o", "yaml"]);
    for want in ["backoffLimit: 4", "batch.kubernetes.io/controller-uid:", "completionMode: NonIndexed", "job-name: pi"]
    {
        assert!(yaml.contains(want), "{want} missing from:\n{yaml}");
    }

    // Client-side apply: created, configured, unchanged.
    assert_eq!(k.ok_stdin(&["apply", "-f", "-"], PA).trim(), "job.batch/pa created");
    let pa2 = PA.replace("parallelism: 1", "parallelism: 2");
    assert_eq!(k.ok_stdin(&["apply", "-f", "-"], &pa2).trim(), "job.batch/pa configured");
    assert_eq!(k.ok(&["get", "job", "pa", "-o", "jsonpath={.spec.parallelism}"]), "2");
    assert_eq!(k.ok_stdin(&["apply", "-f", "-"], &pa2).trim(), "job.batch/pa unchanged");

    // Patches: strategic (default) and merge; a no-op patch reports no change.
    assert_eq!(
        k.ok(&["patch", "job", "pi", "-p", r#"{"spec":{"activeDeadlineSeconds":100}}"#]).trim(),
        "job.batch/pi patched"
    );
    assert_eq!(
        k.ok(&["patch", "job", "pi", "--type=merge", "-p", r#"{"metadata":{"labels":{"team":"x"}}}"#]).trim(),
        "job.batch/pi patched"
    );
    assert_eq!(
        k.ok(&["patch", "job", "pi", "--type=merge", "-p", r#"{"metadata":{"labels":{"team":"x"}}}"#]).trim(),
        "job.batch/pi patched (no change)"
    );
    assert_eq!(
        k.ok(&["get", "job", "pi", "-o", "jsonpath={.spec.activeDeadlineSeconds}/{.metadata.labels.team}"]),
        "100/x"
    );
    let immutable = k.fails(&[
        "patch",
        "job",
        "pi",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/completions","value":3}]"#,
    ]);
    assert!(immutable.contains("field is immutable"), "{immutable}");

    assert_eq!(k.ok(&["scale", "--replicas=3", "jobs/pi"]).trim(), "job.batch/pi scaled");
    assert_eq!(k.ok(&["get", "job", "pi", "-o", "jsonpath={.spec.parallelism}"]), "3");

    // The Job controller made the Job's pod (this server has no node agent, so it stays Pending); a pod that
    // only carries a `job-name` label is listed by the selector too.
    assert_eq!(k.ok_stdin(&["create", "-f", "-"], POD).trim(), "pod/pi-manual created");
    let names = k.ok(&["get", "pods", "--selector=job-name=pi", "--output=jsonpath={.items..metadata.name}"]);
    let (manual, made): (Vec<&str>, Vec<&str>) = names.split_whitespace().partition(|n| *n == "pi-manual");
    assert_eq!(manual, ["pi-manual"], "{names}");
    assert_eq!(made.len(), 1, "{names}");
    assert!(made[0].starts_with("pi-") && made[0].len() == "pi-xxxxx".len(), "{names}");
    let pods = k.ok(&["get", "pods"]);
    assert!(pods.starts_with("NAME") && pods.contains("READY") && pods.contains("RESTARTS"), "{pods}");

    // A watch sees a change made after it started.
    let mut watch = k.command(&["get", "jobs", "-w"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    // The initial table: header + pa + pi.
    while seen.len() < 3 {
        seen.push(rx.recv_timeout(Duration::from_secs(20)).expect("initial watch rows"));
    }
    k.ok(&["patch", "job", "pa", "-p", r#"{"spec":{"parallelism":3}}"#]);
    let changed = eventually(Duration::from_secs(20), || rx.try_recv().ok().filter(|l| l.starts_with("pa ")));
    let _ = watch.kill();
    let _ = watch.wait();
    let changed = changed.expect("the watch saw no change to pa");
    assert!(changed.contains("0/1 of 3"), "{changed}");

    // `create namespace` sends protobuf.
    assert_eq!(k.ok(&["create", "namespace", "x"]).trim(), "namespace/x created");
    let empty = k.run(&["-n", "x", "get", "jobs"]);
    assert!(String::from_utf8_lossy(&empty.stderr).contains("No resources found in x namespace."));
    let missing = k.fails(&["-n", "nope", "create", "-f", pi]);
    assert!(missing.contains("namespaces \"nope\" not found"), "{missing}");

    let bad = String::from_utf8_lossy(&k.run_stdin(&["create", "-f", "-"], BAD).stderr).into_owned();
    assert!(
        bad.contains(r#"The Job "bad" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#),
        "{bad}"
    );
    let strict = k.run_stdin(
        &["create", "-f", "-"],
        &PA.replace("name: pa", "name: pb").replace("parallelism: 1", "parallelism: 1\n  bogus: 1"),
    );
    let strict = String::from_utf8_lossy(&strict.stderr).into_owned();
    assert!(strict.contains(r#"strict decoding error: unknown field "spec.bogus""#), "{strict}");

    // Restart in the middle: everything acknowledged survives, resourceVersions included.
    let rv_before = k.ok(&["get", "job", "pa", "-o", "jsonpath={.metadata.resourceVersion}"]);
    let addr = server.addr;
    let dir = server.dir.clone();
    server.stop();
    let server = Server::start(&dir, &addr.to_string());
    assert_eq!(k.ok(&["get", "job", "pa", "-o", "jsonpath={.metadata.resourceVersion}"]), rv_before);
    assert_eq!(k.ok(&["get", "job", "pi", "-o", "jsonpath={.spec.parallelism}"]), "3");
    assert_eq!(k.ok(&["get", "namespace", "x", "-o", "jsonpath={.metadata.name}"]), "x");

    let deleted = k.ok(&["delete", "jobs/pi"]);
    assert_eq!(deleted.trim(), "job.batch \"pi\" deleted");
    let gone = k.fails(&["get", "job", "pi"]);
    assert!(gone.contains("jobs.batch \"pi\" not found"), "{gone}");
    drop(server);
}

/// kubectl lists in chunks (`--chunk-size`, 500 by default): it gets every pod once, through pages it follows
/// with `continue` tokens (its request log shows them).
#[test]
fn kubectl_gets_lists_in_chunks() {
    if !have_kubectl("kubectl_gets_lists_in_chunks") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pods: String = (0..5)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: chunk-{i}\nspec:\n  schedulerName: example.com/tests\n  \
                 containers:\n  - name: c\n    image: busybox\n    command: [\"true\"]\n---\n"
            )
        })
        .collect();
    k.ok_stdin(&["create", "-f", "-"], &pods);
    for args in
        [&["get", "pods", "--chunk-size=2", "-v=6"][..], &["get", "pods", "-o", "name", "--chunk-size=2", "-v=6"]]
    {
        let out = k.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        for i in 0..5 {
            let seen = stdout
                .lines()
                .filter(|l| l.split_whitespace().next().is_some_and(|n| n.ends_with(&format!("chunk-{i}"))))
                .count();
            assert_eq!(seen, 1, "chunk-{i} in {args:?}:\n{stdout}");
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let pages = stderr.lines().filter(|l| l.contains("/pods?") && l.contains("limit=2")).count();
        let continued = stderr.lines().filter(|l| l.contains("/pods?") && l.contains("continue=")).count();
        assert_eq!((pages, continued), (3, 2), "{args:?} requests:\n{stderr}");
    }
}
