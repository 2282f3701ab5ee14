//! End to end: runlet's own client (`runlet get`, `apply`, `logs`, ...) against a real `runlet server`, with
//! the seed's commands verbatim, every verb and flag, kubeconfig discovery, and one comparison with the real
//! kubectl's output for the same objects (skipped, with a message, where kubectl is absent).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{Kubectl, Server, eventually, have_kubectl, output_with_stdin, repo_root};

/// Long enough for a loaded machine; every wait ends as soon as its condition holds.
const PATIENCE: Duration = Duration::from_secs(90);

/// Runs `runlet` client commands against one kubeconfig, with HOME and the data dir of the test.
struct Client {
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Client {
    fn new(server: &Server, home: &Path) -> Client {
        Client { kubeconfig: server.kubeconfig(), home: home.to_path_buf() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_runlet"));
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("RUNLET_DATA_DIR")
            .env_remove("RUNLET_LOG")
            .current_dir(&self.home)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run runlet")
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        output_with_stdin(self.command(args), stdin)
    }

    /// Runs, asserts exit 0, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        succeeded(args, self.run_stdin(args, stdin))
    }

    /// Runs, asserts exit 1, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "runlet {args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    fn wait_complete(&self, job: &str) {
        let out = self.ok(&["wait", "--for=condition=complete", &format!("job/{job}"), "--timeout=120s"]);
        assert_eq!(out.trim(), format!("job.batch/{job} condition met"));
    }
}

fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "runlet {args:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn job_yaml(name: &str, script: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  labels:\n    suite: cli\nspec:\n{extra_spec}  backoffLimit: 0\n  template:\n    spec:\n      containers:\n      - name: main\n        image: busybox\n        command: [\"sh\", \"-c\", {script:?}]\n      restartPolicy: Never\n"
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

fn lines(s: &str) -> Vec<Vec<String>> {
    s.lines().map(|l| l.split_whitespace().map(String::from).collect()).collect()
}

#[test]
fn seed_commands_verbatim() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Client::new(&server, tmp.path());
    let seed = std::fs::read_to_string(repo_root().join("examples/pi.yaml")).unwrap();
    let job_file = write(tmp.path(), "job.yaml", &seed);

    assert_eq!(c.ok(&["create", "-f", "job.yaml"]).trim(), "job.batch/pi created");
    let names = eventually(PATIENCE, || {
        let out =
            c.ok(&["get", "pods", "--show-all", "--selector=job-name=pi", "--output=jsonpath={.items..metadata.name}"]);
        (!out.is_empty()).then_some(out)
    })
    .expect("the Job's pod appears");
    let names: Vec<&str> = names.split(' ').collect();
    assert!(names.iter().all(|n| n.starts_with("pi-") && n.len() == "pi-xxxxx".len()), "{names:?}");

    c.ok_stdin(&["create", "-f", "-"], &job_yaml("myjob", "sleep 60", "  suspend: true\n"));
    assert_eq!(c.ok(&["scale", "--replicas=10", "jobs/myjob"]).trim(), "job.batch/myjob scaled");
    assert_eq!(c.ok(&["get", "job", "myjob", "-o", "jsonpath={.spec.parallelism}"]), "10");

    c.wait_complete("pi");
    let pods = c.ok(&["get", "pods", "-a"]);
    let table = lines(&pods);
    assert_eq!(table[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{pods}");
    assert!(table[1..].iter().any(|r| r[0] == names[0] && r[2] == "Completed"), "{pods}");

    assert_eq!(c.ok(&["delete", "jobs/pi"]).trim(), "job.batch \"pi\" deleted");
    let gone = c.fails(&["get", "job", "pi"]);
    assert_eq!(gone.trim(), "Error from server (NotFound): jobs.batch \"pi\" not found");

    assert_eq!(c.ok(&["create", "-f", &job_file]).trim(), "job.batch/pi created");
    assert_eq!(c.ok(&["delete", "-f", "job.yaml"]).trim(), "job.batch \"pi\" deleted");
    assert!(c.fails(&["delete", "-f", "job.yaml"]).contains("error when deleting"));
    c.ok(&["delete", "-f", "job.yaml", "--ignore-not-found"]);
}

#[test]
fn help_describes_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_runlet")).arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for (command, words) in [
        ("agent", "Run a node agent for a runlet server on another machine"),
        ("kubeconfig", "Print the path of the kubeconfig the server wrote"),
        ("get", "Display one or many resources"),
        ("wait", "--for=finished"),
    ] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command) && l.contains(words)), "{command}: {help}");
    }
    assert!(!help.contains("shim"), "{help}");
}

#[test]
fn get_every_output_and_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Client::new(&server, tmp.path());

    // Before anything exists.
    let out = c.run(&["get", "jobs"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "No resources found in default namespace.\n");
    assert_eq!(text(&c.run(&["get", "jobs", "-A"]).stderr), "No resources found\n");
    assert_eq!(c.fails(&["get", "widgets"]).trim(), "error: the server doesn't have a resource type \"widgets\"");
    let no_type = c.fails(&["get"]);
    assert!(no_type.starts_with("error: You must specify the type of resource to get. This server has: "), "{no_type}");
    assert!(no_type.contains("jobs, leases, namespaces, nodes, pods"), "{no_type}");

    c.ok_stdin(&["create", "-f", "-"], &job_yaml("alpha", "echo alpha", ""));
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("beta", "echo beta", ""));
    c.ok_stdin(
        &["create", "-f", "-"],
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"other\"}}",
    );
    c.ok_stdin(&["create", "-f", "-", "-n", "other"], &job_yaml("gamma", "echo gamma", ""));
    for j in ["alpha", "beta"] {
        c.wait_complete(j);
    }
    c.ok(&["wait", "--for=condition=complete", "job/gamma", "-n", "other", "--timeout=120s"]);

    let jobs = lines(&c.ok(&["get", "jobs"]));
    assert_eq!(jobs[0], ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    assert_eq!(jobs[1][..3], ["alpha", "Complete", "1/1"]);
    assert_eq!(jobs[2][..3], ["beta", "Complete", "1/1"]);
    assert_eq!(jobs.len(), 3);
    let wide = lines(&c.ok(&["get", "jobs", "-o", "wide"]));
    assert_eq!(wide[0][5..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(lines(&c.ok(&["get", "job", "beta"])).len(), 2);
    let all_ns = lines(&c.ok(&["get", "jobs", "-A"]));
    assert_eq!(all_ns[0][..2], ["NAMESPACE", "NAME"]);
    assert!(all_ns.iter().any(|r| r[..2] == ["other", "gamma"]));
    assert_eq!(lines(&c.ok(&["get", "jobs", "-n", "other", "--no-headers"]))[0][0], "gamma");

    assert_eq!(c.ok(&["get", "jobs", "-o", "name"]), "job.batch/alpha\njob.batch/beta\n");
    // Pages of one object (the server honours `limit`) merge into the same answer as one unpaged list.
    // Compared on their first columns: AGE may tick between the two commands.
    let cases = [
        (&["get", "jobs", "-A"][..], 4, 3),
        (&["get", "jobs", "-A", "-o", "name"], 3, 1),
        (&["get", "pods", "-o", "wide"], 3, 3),
    ];
    for (args, rows, columns) in cases {
        let shown = |size: &str| -> Vec<Vec<String>> {
            let out = c.ok(&[args, &["--chunk-size", size][..]].concat());
            lines(&out).into_iter().map(|r| r[..columns].to_vec()).collect()
        };
        let paged = shown("1");
        assert_eq!(paged, shown("0"), "{args:?}");
        assert_eq!(paged.len(), rows, "{args:?}: {paged:?}");
    }
    assert_eq!(c.ok(&["get", "jobs", "-l", "suite=cli", "-o", "jsonpath={.items[*].metadata.name}"]), "alpha beta");
    assert_eq!(
        c.ok(&["get", "jobs", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Complete\")].status}{\"\\n\"}{end}"]),
        "alpha=True\nbeta=True\n"
    );
    assert_eq!(
        c.ok(&["get", "jobs", "-o", "custom-columns=NAME:.metadata.name,DONE:.status.succeeded,NOPE:.spec.nothing"]),
        "NAME    DONE   NOPE\nalpha   1      <none>\nbeta    1      <none>\n"
    );
    assert_eq!(c.ok(&["get", "jobs", "--sort-by=.metadata.name", "-o", "name"]), "job.batch/alpha\njob.batch/beta\n");
    let sorted = lines(&c.ok(&["get", "jobs", "--sort-by={.metadata.creationTimestamp}"]));
    assert_eq!(sorted.len(), 3);
    let labels = c.ok(&["get", "jobs", "--show-labels", "-L", "suite"]);
    let header = lines(&labels)[0].clone();
    assert_eq!(header[header.len() - 2..], ["SUITE", "LABELS"]);
    assert!(lines(&labels)[1..].iter().all(|r| r[r.len() - 2..] == ["cli", "suite=cli"]), "{labels}");
    let pod_labels = c.ok(&["get", "pods", "-l", "job-name=alpha", "--show-labels"]);
    assert!(pod_labels.contains("batch.kubernetes.io/job-name=alpha"), "{pod_labels}");

    let json: serde_json::Value = serde_json::from_str(&c.ok(&["get", "job", "alpha", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "Job");
    assert!(json["metadata"].get("managedFields").is_none());
    let list: serde_json::Value = serde_json::from_str(&c.ok(&["get", "jobs", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][1]["apiVersion"], "batch/v1");
    let yaml = c.ok(&["get", "job", "alpha", "-o", "yaml"]);
    assert!(yaml.starts_with("apiVersion: batch/v1\nkind: Job\nmetadata:\n"), "{yaml}");
    assert!(yaml.contains("backoffLimit: 0"));
    assert!(c.fails(&["get", "jobs", "-o", "xml"]).contains("unable to match a printer"));
    assert!(c.fails(&["get", "jobs", "-o", "jsonpath={.items["]).contains("error parsing jsonpath"));

    // Pods: by the label the Job controller sets, by field selector, across kinds.
    let pods = c.ok(&["get", "pods", "-l", "job-name=alpha", "-o", "name"]);
    assert!(pods.starts_with("pod/alpha-"), "{pods}");
    let succeeded = c.ok(&["get", "pods", "--field-selector", "status.phase=Succeeded", "-o", "name"]);
    assert_eq!(succeeded.lines().count(), 2, "{succeeded}");
    assert_eq!(c.ok(&["get", "pods", "--field-selector", "status.phase=Running", "-o", "name"]), "");
    let all = c.ok(&["get", "all"]);
    assert!(all.contains("pod/alpha-") && all.contains("job.batch/alpha"), "{all}");
    assert!(all.contains("\n\n"), "tables are separated by a blank line: {all}");
    let mixed = c.ok(&["get", "jobs/alpha", "ns/other"]);
    assert!(mixed.contains("job.batch/alpha") && mixed.contains("namespace/other"), "{mixed}");
    let both = c.run(&["get", "job", "alpha", "nosuch"]);
    assert_eq!(both.status.code(), Some(1));
    assert!(text(&both.stdout).contains("alpha"));
    assert!(text(&both.stderr).contains("jobs.batch \"nosuch\" not found"));

    let nodes = lines(&c.ok(&["get", "nodes"]));
    assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(nodes[1][1], "Ready");
    assert!(lines(&c.ok(&["get", "namespaces"])).iter().any(|r| r[0] == "other"));
    let events = c.ok(&["get", "events"]);
    assert!(events.contains("SuccessfulCreate") && events.contains("job/alpha"), "{events}");

    // A watch prints the current rows, then each change.
    let mut watch = c.command(&["get", "jobs", "-w"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(PATIENCE).unwrap();
    assert!(first.starts_with("NAME"), "{first}");
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(rx.recv_timeout(deadline - std::time::Instant::now()).unwrap());
    }
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("delta", "echo delta", "  suspend: true\n"));
    // First as created, then Suspended once the controller has seen it.
    eventually(PATIENCE, || rx.try_recv().ok().filter(|l| l.starts_with("delta ") && l.contains("Suspended")))
        .expect("the watch shows delta suspended");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn apply_create_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Client::new(&server, tmp.path());
    let dir = tmp.path().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    let two = format!(
        "{}---\n{}",
        job_yaml("one", "true", "  suspend: true\n"),
        job_yaml("two", "true", "  suspend: true\n")
    );
    write(&dir, "a.yaml", &two);
    write(
        &dir,
        "b.json",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"lone","labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox","command":["true"]}]}}"#,
    );
    write(&dir, "README.txt", "not a manifest");
    let d = dir.to_string_lossy().to_string();

    assert_eq!(c.ok(&["create", "-f", &d]), "job.batch/one created\njob.batch/two created\npod/lone created\n");
    let again = c.run(&["create", "-f", &d]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("Error from server (AlreadyExists): error when creating"),
        "{}",
        text(&again.stderr)
    );
    assert!(c.fails(&["create", "-f", "/nonexistent.yaml"]).contains("does not exist"));
    let bad = c.run_stdin(&["create", "-f", "-"], "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad}\nspec: {bogus: 1, template: {spec: {containers: [{name: c, image: x}], restartPolicy: Never}}}\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("unknown field \"spec.bogus\""), "{}", text(&bad.stderr));
    let ignored = c.run_stdin(&["create", "-f", "-", "--validate=false"], "apiVersion: batch/v1\nkind: Job\nmetadata: {name: lax}\nspec: {bogus: 1, template: {spec: {containers: [{name: c, image: x}], restartPolicy: Never}}}\n");
    assert!(ignored.status.success(), "{}", text(&ignored.stderr));

    // Client-side apply: created, unchanged, configured; a field dropped from the manifest goes.
    let three = job_yaml("three", "true", "  suspend: true\n  activeDeadlineSeconds: 50\n");
    assert_eq!(c.ok_stdin(&["apply", "-f", "-"], &three).trim(), "job.batch/three created");
    assert_eq!(c.ok_stdin(&["apply", "-f", "-"], &three).trim(), "job.batch/three unchanged");
    let changed = three.replace("  activeDeadlineSeconds: 50\n", "  parallelism: 3\n");
    assert_eq!(c.ok_stdin(&["apply", "-f", "-"], &changed).trim(), "job.batch/three configured");
    assert_eq!(
        c.ok(&["get", "job", "three", "-o", "jsonpath={.spec.parallelism}/{.spec.activeDeadlineSeconds}"]),
        "3/"
    );
    assert_eq!(c.ok_stdin(&["apply", "-f", "-", "-o", "name"], &changed).trim(), "job.batch/three");
    let wrong_ns = c.run_stdin(
        &["apply", "-f", "-", "-n", "default"],
        &changed.replace("  name: three\n", "  name: three\n  namespace: kube-system\n"),
    );
    assert!(text(&wrong_ns.stderr).contains("does not match the namespace"), "{}", text(&wrong_ns.stderr));

    // Deleting: by label, --all, with each cascade, without waiting.
    assert_eq!(c.ok(&["delete", "pods", "-l", "app=x", "--now"]).trim(), "pod \"lone\" deleted");
    assert_eq!(
        text(&c.run(&["delete", "pods", "-l", "app=x"]).stderr).trim(),
        "No resources found in default namespace."
    );
    assert!(c.fails(&["delete", "jobs"]).contains("no name was specified"));
    assert_eq!(c.ok(&["delete", "job", "one", "--cascade=orphan", "-o", "name"]).trim(), "job.batch/one");
    assert_eq!(
        c.ok(&["delete", "job/two", "--cascade=foreground", "--wait=false"]).trim(),
        "job.batch \"two\" deleted"
    );
    let rest = c.ok(&["delete", "jobs", "--all", "--timeout=60s"]);
    for j in ["three", "lax"] {
        assert!(rest.contains(&format!("job.batch \"{j}\" deleted")), "{rest}");
    }
    eventually(PATIENCE, || (c.ok(&["get", "jobs", "-o", "name"]).is_empty()).then_some(())).expect("all jobs go");

    // Cascades, seen in their effect on a Job's pod (this server has no node: pods stay Pending).
    let pod_of = |job: &str| {
        eventually(PATIENCE, || {
            let p = c.ok(&["get", "pods", "-l", &format!("job-name={job}"), "-o", "name"]);
            (!p.is_empty()).then_some(p)
        })
        .expect("the Job controller makes a pod")
    };
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("orphaned", "true", ""));
    let orphan = pod_of("orphaned");
    assert_eq!(c.ok(&["delete", "job", "orphaned", "--cascade=orphan"]).trim(), "job.batch \"orphaned\" deleted");
    assert_eq!(c.ok(&["get", "pods", "-l", "job-name=orphaned", "-o", "name"]), orphan, "orphan leaves the pod");
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("fg", "true", ""));
    pod_of("fg");
    // Foreground: the Job goes only after its pods, and delete waits for the Job.
    assert_eq!(c.ok(&["delete", "job", "fg", "--cascade=foreground"]).trim(), "job.batch \"fg\" deleted");
    assert!(c.fails(&["get", "job", "fg"]).contains("NotFound"));
    assert_eq!(c.ok(&["get", "pods", "-l", "job-name=fg", "-o", "name"]), "");
    assert_eq!(
        c.fails(&["delete", "job", "nosuch"]).trim(),
        "Error from server (NotFound): jobs.batch \"nosuch\" not found"
    );
    c.ok(&["delete", "job", "nosuch", "--ignore-not-found"]);
}

#[test]
fn logs_wait_patch_and_friends() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Client::new(&server, tmp.path());

    c.ok_stdin(&["create", "-f", "-"], &job_yaml("lines", "for i in 1 2 3 4 5; do echo line $i; done", ""));
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("broken", "echo about to fail; exit 3", ""));
    let two = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: duo\n  labels: {app: duo}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: first, image: busybox, command: [sh, -c, 'echo from first']}\n  - {name: second, image: busybox, command: [sh, -c, 'echo from second; sleep 2; echo later']}\n";
    c.ok_stdin(&["create", "-f", "-"], two);

    // wait: a condition, jsonpath, finished (Complete), finished (Failed exits 1), and a timeout.
    c.wait_complete("lines");
    assert_eq!(
        c.ok(&["wait", "--for=jsonpath={.status.succeeded}=1", "job/lines"]).trim(),
        "job.batch/lines condition met"
    );
    let by_label = c.ok(&["wait", "--for=jsonpath={.status.phase}=Succeeded", "pods", "-l", "job-name=lines"]);
    assert!(by_label.starts_with("pod/lines-") && by_label.trim().ends_with(" condition met"), "{by_label}");
    assert!(c.fails(&["wait", "--for=condition=complete", "jobs"]).contains("no name was specified"));
    assert_eq!(c.ok(&["wait", "--for=finished", "job/lines"]).trim(), "job.batch/lines condition met");
    let failed = c.fails(&["wait", "--for=finished", "job/broken", "--timeout=120s"]);
    assert!(failed.starts_with("error: job.batch/broken failed (BackoffLimitExceeded)"), "{failed}");
    let timeout = c.fails(&["wait", "--for=condition=Complete", "job/broken", "--timeout=1s"]);
    assert_eq!(timeout.trim(), "error: timed out waiting for the condition on jobs/broken");
    assert!(c.fails(&["wait", "--for=sunrise", "job/lines"]).contains("unrecognized condition"));
    assert!(c.fails(&["wait", "--for=condition=Complete", "job/nosuch"]).contains("not found"));

    // logs: a Job's pod, a pod and container, tail, timestamps, since, prefix, selectors, all containers.
    assert_eq!(c.ok(&["logs", "job/lines"]), "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert_eq!(c.ok(&["logs", "jobs/lines", "--tail=2"]), "line 4\nline 5\n");
    assert_eq!(c.ok(&["logs", "job/lines", "--since=1h"]).lines().count(), 5);
    let stamped = c.ok(&["logs", "job/lines", "--timestamps", "--tail=1"]);
    let (stamp, rest) = stamped.trim().split_once(' ').unwrap();
    assert!(stamp.parse::<jiff::Timestamp>().is_ok() && rest == "line 5", "{stamped}");
    assert_eq!(c.ok(&["logs", "job/broken"]), "about to fail\n");
    eventually(PATIENCE, || c.run(&["logs", "duo", "-c", "second"]).stdout.ends_with(b"later\n").then_some(()))
        .expect("duo ends");
    assert_eq!(c.ok(&["logs", "duo", "-c", "first"]), "from first\n");
    assert_eq!(c.ok(&["logs", "pod/duo", "second"]), "from second\nlater\n");
    let defaulted = c.run(&["logs", "duo"]);
    assert_eq!(text(&defaulted.stdout), "from first\n");
    assert!(text(&defaulted.stderr).contains("Defaulted container \"first\" out of: first, second"));
    assert_eq!(
        c.ok(&["logs", "duo", "--all-containers", "--prefix"]),
        "[pod/duo/first] from first\n[pod/duo/second] from second\n[pod/duo/second] later\n"
    );
    assert_eq!(c.ok(&["logs", "-l", "app=duo", "-c", "second", "--tail=1"]), "later\n");
    assert_eq!(c.ok(&["logs", "-l", "job-name=lines", "--prefix", "--tail=1"]).split_once("] ").unwrap().1, "line 5\n");
    assert!(c.fails(&["logs", "duo", "-c", "third"]).contains("container third is not valid for pod duo"));
    let previous = c.fails(&["logs", "duo", "-c", "first", "--previous"]);
    assert!(previous.starts_with("Error from server"), "{previous}");
    assert_eq!(c.ok(&["logs", "job/lines", "--limit-bytes=6"]), "line 1");

    // --previous: the run before a restart in place.
    // The mark lives in an emptyDir: each run of a container starts from a fresh root, as from its image.
    let retry = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: retry}\nspec:\n  template:\n    spec:\n      restartPolicy: OnFailure\n      volumes: [{name: state, emptyDir: {}}]\n      containers:\n      - name: main\n        image: busybox\n        volumeMounts: [{name: state, mountPath: /state}]\n        command: [sh, -c, 'if [ -e /state/ran-once ]; then echo second run; else touch /state/ran-once; echo first run; exit 1; fi']\n";
    c.ok_stdin(&["create", "-f", "-"], retry);
    c.wait_complete("retry");
    assert_eq!(c.ok(&["logs", "job/retry"]), "second run\n");
    assert_eq!(c.ok(&["logs", "job/retry", "--previous"]), "first run\n");

    // -f follows until the container ends.
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("slow", "echo start; sleep 2; echo end", ""));
    let followed = c.ok(&["logs", "-f", "job/slow", "--pod-running-timeout=60s"]);
    assert!(followed.ends_with("end\n"), "{followed}");
    let both = c.ok(&["logs", "-f", "-l", "app=duo", "--all-containers", "--prefix"]);
    assert_eq!(both.lines().count(), 3, "{both}");

    // patch (three types), suspend/resume, scale with a precondition.
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("held", "sleep 30", "  suspend: true\n"));
    assert_eq!(
        c.ok(&["patch", "job", "held", "-p", r#"{"spec":{"activeDeadlineSeconds":100}}"#]).trim(),
        "job.batch/held patched"
    );
    assert_eq!(
        c.ok(&["patch", "job/held", "--type=merge", "-p", "metadata: {labels: {team: x}}"]).trim(),
        "job.batch/held patched"
    );
    assert_eq!(
        c.ok(&["patch", "job/held", "--type=merge", "-p", r#"{"metadata":{"labels":{"team":"x"}}}"#]).trim(),
        "job.batch/held patched (no change)"
    );
    let patch_file = write(tmp.path(), "patch.json", r#"[{"op":"replace","path":"/spec/parallelism","value":2}]"#);
    assert_eq!(
        c.ok(&["patch", "job", "held", "--type=json", "--patch-file", &patch_file]).trim(),
        "job.batch/held patched"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "job",
            "held",
            "-o",
            "jsonpath={.spec.activeDeadlineSeconds}/{.metadata.labels.team}/{.spec.parallelism}"
        ]),
        "100/x/2"
    );
    assert!(c.fails(&["patch", "job", "held", "-p", "{not json"]).starts_with("error: unable to parse"));
    assert_eq!(c.ok(&["resume", "held"]).trim(), "job.batch/held resumed");
    assert_eq!(c.ok(&["get", "job", "held", "-o", "jsonpath={.spec.suspend}"]), "false");
    assert_eq!(c.ok(&["suspend", "job/held"]).trim(), "job.batch/held suspended");
    assert_eq!(c.ok(&["suspend", "jobs", "held"]).trim(), "job.batch/held suspended (no change)");
    assert_eq!(c.ok(&["get", "job", "held", "-o", "jsonpath={.spec.suspend}"]), "true");
    assert_eq!(c.ok(&["scale", "job", "held", "--replicas=4", "--current-replicas=2"]).trim(), "job.batch/held scaled");
    assert!(
        c.fails(&["scale", "job", "held", "--replicas=5", "--current-replicas=2"])
            .contains("Expected replicas to be 2, was 4")
    );
    assert_eq!(c.ok(&["get", "job", "held", "-o", "jsonpath={.spec.parallelism}"]), "4");

    // edit through an editor that is a script.
    let editor = write(tmp.path(), "editor.sh", "#!/bin/sh\nsed -i 's/team: x/team: edited/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = c.command(&["edit", "job", "held"]).env("EDITOR", &editor).env_remove("KUBE_EDITOR").output().unwrap();
    assert_eq!(text(&edited.stdout).trim(), "job.batch/held edited", "{}", text(&edited.stderr));
    assert_eq!(c.ok(&["get", "job", "held", "-o", "jsonpath={.metadata.labels.team}"]), "edited");
    let unchanged = c.command(&["edit", "job/held"]).env("EDITOR", "true").output().unwrap();
    assert_eq!(text(&unchanged.stdout).trim(), "Edit cancelled, no changes made.");
    let immutable = write(tmp.path(), "immutable.sh", "#!/bin/sh\nsed -i 's/image: busybox/image: other/' \"$1\"\n");
    std::fs::set_permissions(&immutable, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let refused = c.command(&["edit", "job/held"]).env("EDITOR", &immutable).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("A copy of your changes has been stored to"), "{}", text(&refused.stderr));

    // wait --for=delete, after a delete that does not wait.
    c.ok(&["delete", "job", "held", "--wait=false"]);
    assert_eq!(c.ok(&["wait", "--for=delete", "job/held", "--timeout=60s"]).trim(), "job.batch/held condition met");

    // describe: a Job with its events; a prefix of a name.
    let described = c.ok(&["describe", "job", "lines"]);
    assert!(described.starts_with("Name:             lines\nNamespace:        default\n"), "{described}");
    assert!(described.contains("Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed"), "{described}");
    assert!(described.contains("Normal  SuccessfulCreate"), "{described}");
    let by_prefix = c.ok(&["describe", "jobs", "brok"]);
    assert!(by_prefix.starts_with("Name:") && by_prefix.contains("broken"), "{by_prefix}");
    let pod = c.ok(&["describe", "pod", "duo", "--show-events=false"]);
    assert!(pod.contains("Containers:\n  first:\n") && !pod.contains("Events:"), "{pod}");
    let node = c.ok(&["describe", "nodes"]);
    assert!(node.contains("Non-terminated Pods:") && node.contains("Allocated resources:"), "{node}");
    assert!(c.fails(&["describe", "job", "zzz"]).contains("jobs.batch \"zzz\" not found"));

    // version and completion.
    let version = c.ok(&["version"]);
    assert!(
        version.starts_with(&format!("Client Version: v{}\nServer Version: v1.33", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert_eq!(c.ok(&["version", "--client"]).lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&c.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["minor"], "33");
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef runlet"), ("fish", "complete -c runlet")] {
        let script = c.ok(&["completion", shell]);
        assert!(
            script.contains(marker) && script.contains("describe"),
            "{shell}: {}",
            &script[..200.min(script.len())]
        );
    }
}

#[test]
fn kubeconfig_discovery() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let home = tmp.path();
    let bare = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runlet"));
        cmd.args(args)
            .env("HOME", home)
            .env_remove("KUBECONFIG")
            .env_remove("RUNLET_DATA_DIR")
            .env("XDG_DATA_HOME", home.join("xdg"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let kc = server.kubeconfig();
    let kc = kc.to_str().unwrap();

    // Nothing to find: a one-line error.
    let none = bare(&["get", "jobs"], &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).starts_with("error: no kubeconfig at "), "{}", text(&none.stderr));
    // The local server's kubeconfig, found through its data dir.
    let found = bare(&["get", "ns", "-o", "name"], &[("RUNLET_DATA_DIR", data.to_str().unwrap())]);
    assert!(text(&found.stdout).contains("namespace/default"), "{}", text(&found.stderr));
    // --kubeconfig, and KUBECONFIG (a list; missing files are skipped).
    assert!(
        text(&bare(&["get", "ns", "default", "-o", "name", "--kubeconfig", kc], &[]).stdout)
            .contains("namespace/default")
    );
    let list = format!("/nonexistent/config:{kc}");
    assert!(
        text(&bare(&["get", "ns", "default", "-o", "name"], &[("KUBECONFIG", &list)]).stdout)
            .contains("namespace/default")
    );

    // Contexts: a second context whose namespace is `kube-system`; an unknown context is refused.
    let original = std::fs::read_to_string(kc).unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&original).unwrap();
    let mut ctx = doc["contexts"][0].clone();
    ctx["name"] = "system".into();
    ctx["context"]["namespace"] = "kube-system".into();
    doc["contexts"].as_array_mut().unwrap().push(ctx);
    let two = write(tmp.path(), "two-contexts.yaml", &serde_json::to_string(&doc).unwrap());
    let created = bare(&["create", "-f", "-", "--kubeconfig", &two, "--context", "system"], &[]);
    assert_eq!(created.status.code(), Some(1), "stdin is empty: no objects");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["create", "-f", "-", "--kubeconfig", &two, "--context", "system"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(job_yaml("insys", "true", "  suspend: true\n").as_bytes()).unwrap();
    assert_eq!(text(&child.wait_with_output().unwrap().stdout).trim(), "job.batch/insys created");
    assert_eq!(
        text(&bare(&["get", "jobs", "-n", "kube-system", "-o", "name", "--kubeconfig", kc], &[]).stdout),
        "job.batch/insys\n"
    );
    // kubectl's other spelling: connection flags before the verb.
    assert_eq!(
        text(&bare(&["-n", "kube-system", "--kubeconfig", kc, "get", "jobs", "-o", "name"], &[]).stdout),
        "job.batch/insys\n"
    );
    assert_eq!(
        text(&bare(&["get", "jobs", "-o", "name", "--kubeconfig", &two, "--context", "system"], &[]).stdout),
        "job.batch/insys\n"
    );
    let unknown = bare(&["get", "jobs", "--kubeconfig", &two, "--context", "nope"], &[]);
    assert_eq!(text(&unknown.stderr).trim(), "error: context \"nope\" does not exist");
    // A wrong token: kubectl's words.
    let bad_token = write(tmp.path(), "bad-token.yaml", &original.replace(&token_of(&original), "not-the-token"));
    let denied = bare(&["get", "jobs", "--kubeconfig", &bad_token], &[]);
    assert_eq!(text(&denied.stderr).trim(), "error: You must be logged in to the server (Unauthorized)");
    // No server there: kubectl's words, and nothing else on stderr.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dead = write(tmp.path(), "dead.yaml", &original.replace(&server.addr.to_string(), &free.to_string()));
    let refused = bare(&["get", "jobs", "--kubeconfig", &dead], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        text(&refused.stderr),
        format!("The connection to the server {free} was refused - did you specify the right host or port?\n")
    );
}

fn token_of(kubeconfig: &str) -> String {
    kubeconfig.lines().find_map(|l| l.trim().strip_prefix("token: ")).expect("a token").trim_matches('"').to_string()
}

/// The same objects through runlet and the real kubectl print the same `get` tables and `describe` text.
#[test]
fn output_matches_kubectl() {
    if !have_kubectl("output_matches_kubectl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let c = Client::new(&server, tmp.path());
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("done", "echo ok", "  completions: 2\n  parallelism: 2\n"));
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("fails", "exit 1", ""));
    c.ok_stdin(&["create", "-f", "-"], &job_yaml("held", "true", "  suspend: true\n"));
    c.wait_complete("done");
    c.ok(&["wait", "--for=condition=failed", "job/fails", "--timeout=120s"]);
    let pod = c.ok(&["get", "pods", "-l", "job-name=done", "-o", "jsonpath={.items[0].metadata.name}"]);
    let node = c.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let commands: Vec<Vec<&str>> = vec![
        vec!["get", "jobs"],
        vec!["get", "jobs", "-o", "wide"],
        vec!["get", "pods", "-o", "wide"],
        vec!["get", "all", "-A"],
        vec!["get", "pods", "--show-labels"],
        vec!["get", "nodes"],
        vec!["get", "namespaces"],
        vec!["get", "events"],
        vec!["get", "jobs", "-o", "yaml"],
        vec!["get", "job", "done", "-o", "json"],
        vec!["get", "pods", "-o", "name"],
        vec!["get", "pods", "-o", "jsonpath={.items..metadata.name}"],
        vec!["get", "jobs", "-o", "custom-columns=NAME:.metadata.name,OK:.status.succeeded"],
        vec!["describe", "job", "done"],
        vec!["describe", "job", "fails"],
        vec!["describe", "job", "held"],
        vec!["describe", "pod", &pod],
        vec!["describe", "node", &node],
        vec!["describe", "namespace", "default"],
        vec!["describe", "pods", "-l", "job-name=fails"],
        vec!["describe", "jobs"],
        vec!["get", "pods", "-A", "-o", "wide"],
        vec!["get", "job", "nosuch"],
        vec!["get", "pods", "-l", "job-name=nosuch"],
        vec!["get", "widgets"],
    ];
    for args in commands {
        // Ages may tick between the two runs; a few tries at the same second settle it.
        let mut last = (String::new(), String::new());
        let same = (0..10).any(|_| {
            let ours = c.run(&args);
            let theirs = k.run(&args);
            last = (text(&ours.stdout) + &text(&ours.stderr), text(&theirs.stdout) + &text(&theirs.stderr));
            last.0 == last.1
        });
        assert!(same, "runlet {args:?} differs from kubectl:\n--- runlet\n{}\n--- kubectl\n{}", last.0, last.1);
    }
}

/// `kubectl explain` reads Kubernetes' field docs from the server's OpenAPI v3 documents, and
/// `--validate=strict` has the server refuse unknown fields.
#[test]
fn kubectl_explain_and_strict_validation() {
    if !have_kubectl("kubectl_explain_and_strict_validation") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let rules = k.ok(&["explain", "job.spec.podFailurePolicy.rules"]);
    assert!(rules.contains("FIELD: rules <[]PodFailurePolicyRule>"), "{rules}");
    assert!(rules.contains("A list of pod failure policy rules."), "{rules}");
    assert!(rules.contains("action\t<string> -required-"), "{rules}");
    let backoff = k.ok(&["explain", "job.spec.backoffLimit"]);
    assert!(backoff.contains("Specifies the number of retries before marking this job failed."), "{backoff}");
    for kind in ["pods", "nodes", "namespaces", "events", "leases"] {
        let out = k.ok(&["explain", kind]);
        assert!(out.contains("DESCRIPTION:") && out.contains("FIELDS:"), "{kind}: {out}");
    }
    assert!(k.ok(&["explain", "pod.spec.containers.command"]).contains("Entrypoint array."));

    let bad = job_yaml("strictly", "true", "  bogus: 1\n");
    let out = k.run_stdin(&["apply", "--validate=strict", "-f", "-"], &bad);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("strict decoding error: unknown field \"spec.bogus\""), "{}", text(&out.stderr));
    let out = k.run_stdin(&["apply", "--validate=warn", "-f", "-"], &bad);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unknown field \"spec.bogus\""), "{}", text(&out.stderr));
}
