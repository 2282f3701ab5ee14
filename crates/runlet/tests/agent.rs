//! The node agent inside `runlet server` runs pods for real; kubectl sees them as on a cluster.

mod support;

use std::time::Duration;

use support::{Kubectl, Server, eventually, have_kubectl, memory_cgroups_writable, repo_root};

#[test]
fn kubectl_runs_the_seed_job_for_real() {
    if !have_kubectl("kubectl_runs_the_seed_job_for_real") {
        return;
    }
    let perl_ok = std::process::Command::new("perl")
        .args(["-Mbignum=bpi", "-wle", "print bpi(2000)"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !perl_ok {
        eprintln!(
            "SKIPPED kubectl_runs_the_seed_job_for_real: perl's Math::BigInt cannot compute bpi(2000); run scripts/setup"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let nodes = k.ok(&["get", "nodes"]);
    assert!(nodes.contains(" Ready "), "{nodes}");
    let pi = repo_root().join("examples/pi.yaml");
    k.ok(&["create", "-f", pi.to_str().unwrap()]);
    let waited = k.ok(&["wait", "--for=condition=complete", "job/pi", "--timeout=60s"]);
    assert_eq!(waited.trim(), "job.batch/pi condition met");
    let logs = k.ok(&["logs", "job/pi"]);
    assert!(logs.contains("3.14159"), "{logs}");
    let pods = k.ok(&["get", "pods"]);
    assert!(pods.lines().any(|l| l.starts_with("pi-") && l.contains("Completed")), "{pods}");
    let table = k.ok(&["get", "jobs"]);
    assert!(table.lines().any(|l| l.starts_with("pi ") && l.contains("Complete") && l.contains("1/1")), "{table}");
    let describe = k.ok(&["describe", "job", "pi"]);
    assert!(describe.contains("SuccessfulCreate") && describe.contains("Completed"), "{describe}");

    // Deleting the Job (Background, kubectl's default) deletes its pods too.
    k.ok(&["delete", "job", "pi"]);
    let gone = eventually(Duration::from_secs(20), || {
        let out = k.run(&["get", "pods", "-o", "name"]);
        String::from_utf8_lossy(&out.stdout).trim().is_empty().then_some(())
    });
    assert!(gone.is_some(), "pods of the deleted job remain: {}", k.ok(&["get", "pods"]));
}

#[test]
fn deleting_a_running_pod_stops_it_gracefully() {
    if !have_kubectl("deleting_a_running_pod_stops_it_gracefully") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  terminationGracePeriodSeconds: 30\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [\"sh\", \"-c\", \"trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done\"]}]\n";
    k.ok_stdin(&["create", "-f", "-"], pod);
    k.ok(&["wait", "--for=condition=Ready", "pod/sleeper", "--timeout=30s"]);
    let logs = eventually(Duration::from_secs(10), || {
        let l = k.ok(&["logs", "sleeper"]);
        l.contains("started").then_some(l)
    });
    assert!(logs.is_some());
    let started = std::time::Instant::now();
    k.ok(&["delete", "pod", "sleeper", "--timeout=60s"]);
    // The trap answers SIGTERM at once: far less than the 30 s grace period.
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let gone = k.fails(&["get", "pod", "sleeper"]);
    assert!(gone.contains("not found"), "{gone}");
}

#[test]
fn a_pod_that_ends_while_the_server_is_down_reports_its_real_exit_code() {
    if !have_kubectl("a_pod_that_ends_while_the_server_is_down_reports_its_real_exit_code") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: survivor}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [\"sh\", \"-c\", \"echo before; sleep 2; echo after; exit 7\"]}]\n";
    k.ok_stdin(&["create", "-f", "-"], pod);
    k.ok(&["wait", "--for=condition=Ready", "pod/survivor", "--timeout=30s"]);
    // The server (and its agent) die; the container's shim does not.
    let (dir, addr) = server.kill9();
    std::thread::sleep(Duration::from_secs(3));
    let server = Server::start_with_agent(&dir, &addr.to_string());
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let ended = eventually(Duration::from_secs(20), || {
        let out = k.ok(&["get", "pod", "survivor", "-o", "jsonpath={.status.phase}/{.status.containerStatuses[0].state.terminated.exitCode}/{.status.containerStatuses[0].state.terminated.reason}"]);
        (out.starts_with("Failed/")).then_some(out)
    });
    assert_eq!(ended.as_deref(), Some("Failed/7/Error"));
    let logs = k.ok(&["logs", "survivor"]);
    assert!(logs.contains("before") && logs.contains("after"), "{logs}");
}

#[test]
fn an_agent_on_another_node_runs_pods_and_serves_their_logs() {
    if !have_kubectl("an_agent_on_another_node_runs_pods_and_serves_their_logs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let mut agent = std::process::Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["agent", "--node-name", "far-away", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("--dir")
        .arg(tmp.path().join("agent"))
        .env("RUNLET_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let ready = eventually(Duration::from_secs(20), || {
        let out = k.run(&["get", "node", "far-away"]);
        String::from_utf8_lossy(&out.stdout).contains(" Ready ").then_some(())
    });
    assert!(ready.is_some(), "the agent's node never became Ready");
    k.ok(&["create", "-f", repo_root().join("examples/indexed.yaml").to_str().unwrap()]);
    let waited = k.run(&["wait", "--for=condition=complete", "job/indexed", "--timeout=30s"]);
    if !waited.status.success() {
        let _ = agent.kill();
        panic!("{}", String::from_utf8_lossy(&waited.stderr));
    }
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(wide.lines().filter(|l| l.contains("far-away") && l.contains("Completed")).count(), 3, "{wide}");
    let logs = k.ok(&["logs", "-l", "job-name=indexed", "--prefix"]);
    let _ = agent.kill();
    let _ = agent.wait();
    for i in 0..3 {
        assert!(logs.contains(&format!("index {i} squared is {}", i * i)), "{logs}");
    }
    // Logs of pods on another node come through that node's agent, which is gone now: a clear error.
    let gone = k.fails(&["logs", "job/indexed"]);
    assert!(gone.contains("cannot get logs from node \"far-away\""), "{gone}");
}

#[test]
fn a_pod_that_fits_nowhere_stays_pending_and_says_why() {
    if !have_kubectl("a_pod_that_fits_nowhere_stays_pending_and_says_why") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: picky}\nspec:\n  nodeSelector: {disk: ssd}\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [\"true\"]}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: greedy}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [\"true\"], resources: {requests: {cpu: \"100000\"}}}]\n";
    k.ok_stdin(&["create", "-f", "-"], pods);
    for (pod, why) in
        [("picky", "1 node(s) didn't match Pod's node affinity/selector"), ("greedy", "1 Insufficient cpu")]
    {
        let message = eventually(Duration::from_secs(20), || {
            let m =
                k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"]);
            (!m.is_empty()).then_some(m)
        });
        assert_eq!(message.as_deref(), Some(format!("0/1 nodes are available: {why}.").as_str()), "{pod}");
        let phase = k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}/{.spec.nodeName}"]);
        assert_eq!(phase, "Pending/", "{pod}");
    }
    // Labelling the node makes room for the picky pod.
    let node = k.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    k.ok(&["label", "node", &node, "disk=ssd"]);
    let done = eventually(Duration::from_secs(20), || {
        let p = k.ok(&["get", "pod", "picky", "-o", "jsonpath={.status.phase}"]);
        (p == "Succeeded").then_some(())
    });
    assert!(done.is_some(), "{}", k.ok(&["get", "pod", "picky", "-o", "yaml"]));
}

#[test]
fn runlet_run_on_a_server_deletes_its_jobs_on_ctrl_c() {
    if !have_kubectl("runlet_run_on_a_server_deletes_its_jobs_on_ctrl_c") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let job = tmp.path().join("long.yaml");
    std::fs::write(
        &job,
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: long}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox, command: [\"sh\", \"-c\", \"echo started; sleep 60\"]}]\n",
    )
    .unwrap();
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["run", "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("-f")
        .arg(&job)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = eventually(Duration::from_secs(20), || {
        let p = k.ok(&["get", "pods", "-l", "job-name=long", "-o", "jsonpath={.items[0].status.phase}"]);
        (p == "Running").then_some(())
    });
    assert!(started.is_some());
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::process::Command::new("kill").arg("-INT").arg(run.id().to_string()).status();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut run.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.contains("] started"), "{out}");
    let gone = k.fails(&["get", "job", "long"]);
    assert!(gone.contains("not found"), "{gone}");
}

#[test]
fn a_pod_over_its_memory_limit_is_oom_killed() {
    if !have_kubectl("a_pod_over_its_memory_limit_is_oom_killed") {
        return;
    }
    if !memory_cgroups_writable() {
        eprintln!("SKIPPED a_pod_over_its_memory_limit_is_oom_killed: memory cgroups are not writable here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: hog}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: perl, command: [\"perl\", \"-e\", \"my $x = 'x' x (512 * 1024 * 1024); print length($x)\"], resources: {limits: {memory: 64Mi}}}]\n";
    k.ok_stdin(&["create", "-f", "-"], pod);
    let ended = eventually(Duration::from_secs(30), || {
        let out = k.ok(&["get", "pod", "hog", "-o", "jsonpath={.status.phase}/{.status.containerStatuses[0].state.terminated.reason}/{.status.containerStatuses[0].state.terminated.exitCode}"]);
        (out.starts_with("Failed/") || out.starts_with("Succeeded/")).then_some(out)
    });
    assert_eq!(ended.as_deref(), Some("Failed/OOMKilled/137"));
    let table = k.ok(&["get", "pod", "hog"]);
    assert!(table.contains("OOMKilled"), "{table}");
}

/// `runlet-shim` (what supervises containers when it sits next to `runlet`) and `runlet shim` are the same code:
/// both answer the agent's build question alike, which is what lets the agent use the small one.
#[test]
fn the_small_shim_and_runlet_shim_are_the_same_build() {
    let ask = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program).args(args).arg("--build").output().unwrap();
        assert!(out.status.success(), "{program} {args:?} --build: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let small = ask(env!("CARGO_BIN_EXE_runlet-shim"), &[]);
    let big = ask(env!("CARGO_BIN_EXE_runlet"), &["shim"]);
    assert!(!small.is_empty() && small.chars().all(|c| c.is_ascii_hexdigit()), "{small:?}");
    assert_eq!(small, big);
}

/// The server's agent starts each container under `runlet-shim`, not under a second copy of the whole server:
/// the container's parent (the shim, or the sandbox's init that the shim forked) shows it in its command line.
#[test]
fn containers_run_under_the_small_shim() {
    if !have_kubectl("containers_run_under_the_small_shim") {
        return;
    }
    let env = support::AgentEnv::start();
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "parent"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
            "command": ["sh", "-c", "tr '\\0' ' ' < /proc/$PPID/cmdline"]}]}
    });
    env.k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    let phase = eventually(Duration::from_secs(90), || {
        let phase = env.k.ok(&["get", "pod", "parent", "-o", "jsonpath={.status.phase}"]);
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    });
    assert_eq!(phase.as_deref(), Some("Succeeded"), "{}", env.k.ok(&["describe", "pod", "parent"]));
    let parent = env.k.ok(&["logs", "parent"]);
    let program = parent.split_whitespace().next().unwrap_or_default();
    assert!(program.ends_with("/runlet-shim"), "the container's parent is {parent:?}");
}
