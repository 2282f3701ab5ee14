//! Pods in sandboxes, through a real server and kubectl: ConfigMaps and Secrets, volumes at their mount paths,
//! a sidecar, and the escapes that must fail (reading the server's token by relative path, by absolute path,
//! through `/proc/<pid>/root`, through a `subPath` symlink; signalling the server; outliving the pod).

mod support;

use std::time::Duration;

use support::{Kubectl, Server, eventually, have_kubectl, repo_root};

fn sandboxes_possible(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED {test}: pod sandboxes need root");
    }
    root && have_kubectl(test)
}

/// Waits for the pod to reach a terminal phase; returns it.
fn finished(k: &Kubectl, pod: &str) -> String {
    eventually(Duration::from_secs(60), || {
        let phase = k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .unwrap_or_else(|| panic!("pod {pod} did not finish: {}", k.ok(&["describe", "pod", pod])))
}

#[test]
fn config_maps_secrets_and_a_sidecar_run_the_example_job() {
    if !sandboxes_possible("config_maps_secrets_and_a_sidecar_run_the_example_job") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let example = repo_root().join("examples/sidecar-config.yaml");
    k.ok(&["apply", "-f", example.to_str().unwrap()]);
    let waited = k.ok(&["wait", "--for=condition=complete", "job/report", "--timeout=90s"]);
    assert_eq!(waited.trim(), "job.batch/report condition met");
    let main = k.ok(&["logs", "job/report", "-c", "main"]);
    for want in ["prepared", "mode=batch", "hello from a ConfigMap", "secret file and env agree"] {
        assert!(main.contains(want), "{want:?} missing from {main}");
    }
    let shipper = k.ok(&["logs", "job/report", "-c", "shipper"]);
    assert!(shipper.contains("report written") && shipper.contains("shipper stopping"), "{shipper}");
    // The Secret's value never shows up in events.
    let events = k.ok(&["get", "events", "-o", "yaml"]);
    assert!(!events.contains("s3cret-from-a-secret"), "{events}");
    let tables = k.ok(&["get", "configmap,secret"]);
    assert!(tables.contains("configmap/report-settings") && tables.contains("Opaque"), "{tables}");
}

#[test]
fn kubectl_creates_config_maps_and_secrets_and_missing_ones_hold_the_container() {
    if !sandboxes_possible("kubectl_creates_config_maps_and_secrets_and_missing_ones_hold_the_container") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: waits}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo \"$MODE $TOKEN\"; cat /cfg/file.txt']\n    env:\n    - {name: MODE, valueFrom: {configMapKeyRef: {name: later, key: mode}}}\n    - {name: TOKEN, valueFrom: {secretKeyRef: {name: later-secret, key: token}}}\n    volumeMounts: [{name: cfg, mountPath: /cfg}]\n  volumes: [{name: cfg, configMap: {name: later}}]\n";
    k.ok_stdin(&["create", "-f", "-"], pod);
    let waiting = eventually(Duration::from_secs(30), || {
        let reason =
            k.ok(&["get", "pod", "waits", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"]);
        (reason == "CreateContainerConfigError").then_some(reason)
    });
    assert!(waiting.is_some(), "{}", k.ok(&["describe", "pod", "waits"]));
    let file = tmp.path().join("file.txt");
    std::fs::write(&file, "from a file\n").unwrap();
    k.ok(&["create", "configmap", "later", "--from-literal=mode=fast", &format!("--from-file={}", file.display())]);
    k.ok(&["create", "secret", "generic", "later-secret", "--from-literal=token=t0k3n"]);
    assert_eq!(finished(&k, "waits"), "Succeeded");
    let logs = k.ok(&["logs", "waits"]);
    assert_eq!(logs, "fast t0k3n\nfrom a file\n");
    let describe = k.ok(&["describe", "configmap", "later"]);
    assert!(describe.contains("from a file"), "{describe}");
    let invalid = k.fails(&["create", "secret", "docker-registry", "r", "--from-literal=x=y"]);
    assert!(!invalid.is_empty());
}

#[test]
fn no_pod_can_read_or_signal_the_server() {
    if !sandboxes_possible("no_pod_can_read_or_signal_the_server") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with_agent(&data, "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let data = std::fs::canonicalize(&data).unwrap();
    let token = std::fs::read_to_string(data.join("pki/token")).unwrap();
    let pid = server.pid();
    // Every attempt prints what it read; none may print the token.
    let script = format!(
        "cat ../../../pki/token ../../pki/token pki/token; cat {d}/pki/token {d}/store.db; \
         cat /proc/{pid}/root{d}/pki/token; cat /proc/1/root{d}/pki/token; \
         ls {d}/agent/pods; kill -0 {pid} && echo signalled; ls /proc | grep -x {pid} && echo sees-server; \
         mkdir -p /escape && echo ok > /escape/marker; echo done",
        d = data.display()
    );
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "thief"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    assert_eq!(finished(&k, "thief"), "Succeeded");
    let logs = k.ok(&["logs", "thief"]);
    assert!(logs.contains("done"), "{logs}");
    assert!(!logs.contains(token.trim()), "the token leaked: {logs}");
    assert!(!logs.contains("signalled") && !logs.contains("sees-server"), "{logs}");
    assert!(!std::path::Path::new("/escape/marker").exists(), "the pod wrote to the host's root");

    // A subPath through a symlink planted in an emptyDir by an earlier container: refused.
    let planted = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "planter"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "w", "emptyDir": {}}],
            "initContainers": [{"name": "plant", "image": "busybox",
                "command": ["sh", "-c", format!("ln -s {} /w/link && ln -s ../../../../../../../../.. /w/up", data.join("pki").display())],
                "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "cat /stolen/token; ls /stolen2"],
                "volumeMounts": [{"name": "w", "mountPath": "/stolen", "subPath": "link"},
                                 {"name": "w", "mountPath": "/stolen2", "subPath": "up"}]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &planted.to_string());
    let refused = eventually(Duration::from_secs(30), || {
        let out = k.ok(&["get", "pod", "planter", "-o", "jsonpath={.status.containerStatuses[0].state}"]);
        (out.contains("outside the volume")).then_some(out)
    });
    assert!(refused.is_some(), "{}", k.ok(&["describe", "pod", "planter"]));
    let logs = k.run(&["logs", "planter", "-c", "c"]);
    assert!(!String::from_utf8_lossy(&logs.stdout).contains(token.trim()));
}

/// Processes a pod started with `setsid` or a double fork are gone once the pod is deleted.
#[test]
fn deleting_a_pod_kills_everything_it_started() {
    if !sandboxes_possible("deleting_a_pod_kills_everything_it_started") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    let script = format!("setsid sleep {marker}.5 & (sleep {marker}.25 &) ; echo started; sleep {marker}");
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "forker"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                 "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    k.ok(&["wait", "--for=condition=Ready", "pod/forker", "--timeout=30s"]);
    let running = |needle: &str| {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
    };
    assert!(eventually(Duration::from_secs(10), || running(&format!("{marker}.5")).then_some(())).is_some());
    k.ok(&["delete", "pod", "forker", "--timeout=60s"]);
    let gone = eventually(Duration::from_secs(10), || {
        (!running(&format!("{marker}.5")) && !running(&format!("{marker}.25"))).then_some(())
    });
    assert!(gone.is_some(), "a process of the deleted pod survived");
}

/// A node that cannot sandbox (simulated with --no-sandbox) says so, and pods needing isolation are refused
/// with a clear message.
#[test]
fn a_node_without_sandboxes_says_so() {
    if !have_kubectl("a_node_without_sandboxes_says_so") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_args(&tmp.path().join("data"), "127.0.0.1:0", &["--no-sandbox"]);
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let describe = eventually(Duration::from_secs(20), || {
        let d = k.ok(&["describe", "node"]);
        d.contains("PodSandboxUnavailable").then_some(d)
    })
    .expect("the node shows its sandbox condition");
    assert!(describe.contains("pod sandboxes are turned off"), "{describe}");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: needs}\nspec:\n  restartPolicy: Never\n  volumes: [{name: w, emptyDir: {}}]\n  containers:\n  - {name: c, image: busybox, command: [\"true\"], volumeMounts: [{name: w, mountPath: /data}]}\n";
    k.ok_stdin(&["create", "-f", "-"], pod);
    let events = eventually(Duration::from_secs(30), || {
        let e = k.ok(&["get", "events", "--field-selector", "involvedObject.name=needs"]);
        e.contains("needs a pod sandbox").then_some(e)
    });
    assert!(events.is_some(), "{}", k.ok(&["describe", "pod", "needs"]));
}

/// `shareProcessNamespace: true` through the API: one container finds the other's process and stops it.
#[test]
fn containers_sharing_a_process_namespace_see_and_signal_each_other() {
    if !sandboxes_possible("containers_sharing_a_process_namespace_see_and_signal_each_other") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_agent(&tmp.path().join("data"), "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let marker = 5000 + std::process::id() % 1000;
    let finder = format!(
        "sleep 1; for p in /proc/[0-9]*; do if [ \"$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)\" = 'sleep {marker} ' ]; \
         then kill ${{p#/proc/}} && echo stopped the target; fi; done"
    );
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shared"},
        "spec": {"restartPolicy": "Never", "shareProcessNamespace": true,
                 "containers": [{"name": "target", "image": "busybox", "command": ["sleep", marker.to_string()]},
                                {"name": "finder", "image": "busybox", "command": ["sh", "-c", finder]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    assert_eq!(finished(&k, "shared"), "Failed", "the target ended by a signal");
    assert_eq!(k.ok(&["logs", "shared", "-c", "finder"]), "stopped the target\n");
    let codes =
        k.ok(&["get", "pod", "shared", "-o", "jsonpath={.status.containerStatuses[*].state.terminated.exitCode}"]);
    assert_eq!(codes, "143 0");
}
