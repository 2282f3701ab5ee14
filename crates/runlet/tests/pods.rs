//! What a pod's containers get from the node, through a real server and kubectl: probes (HTTP readiness
//! against a server the container runs, exec liveness restarts, a sidecar's TCP startup probe), the order
//! sidecars are stopped in, volumes that follow their ConfigMap, resources through the downward API, and
//! validation of what a pod asks for.

mod support;

use std::time::Duration;

use support::{AgentEnv, Kubectl, Server, eventually, have_kubectl};

/// busybox provides the small servers these pods run (scripts/setup installs it).
fn have_busybox(test: &str) -> bool {
    let ok = std::process::Command::new("busybox").arg("true").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED {test}: busybox is not installed (scripts/setup installs it)");
    }
    ok && have_kubectl(test)
}

/// A loopback port nobody listens on now (pods share the host's network).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn jsonpath(k: &Kubectl, pod: &str, path: &str) -> String {
    k.ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
}

fn events_of(k: &Kubectl, pod: &str) -> String {
    k.ok(&["get", "events", "--field-selector", &format!("involvedObject.name={pod}"), "-o", "yaml"])
}

fn phase_when_done(k: &Kubectl, pod: &str) -> String {
    eventually(Duration::from_secs(90), || {
        let phase = jsonpath(k, pod, "{.status.phase}");
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .unwrap_or_else(|| panic!("pod {pod} did not finish: {}", k.ok(&["describe", "pod", pod])))
}

#[test]
fn http_readiness_and_an_exec_liveness_probe_drive_the_pod() {
    if !have_busybox("http_readiness_and_an_exec_liveness_probe_drive_the_pod") {
        return;
    }
    let env = AgentEnv::start();
    let k = &env.k;
    let port = free_port();
    // The first run serves /healthz after two seconds and plants `dead` two seconds later; the run after the
    // restart only serves.
    let script = format!(
        "cd www; n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; rm -f dead healthz; \
         (sleep 2; echo ok > healthz; if [ $n -eq 1 ]; then sleep 2; touch dead; fi) & \
         exec busybox httpd -f -p {port} -h ."
    );
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 2,
            "volumes": [{"name": "www", "emptyDir": {}}],
            "containers": [{"name": "web", "image": "busybox", "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "www", "mountPath": "www"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 1},
                "livenessProbe": {"exec": {"command": ["sh", "-c", "test ! -f www/dead"]}, "periodSeconds": 1,
                                  "failureThreshold": 1}}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    // Running but not ready until /healthz answers.
    let unready = eventually(Duration::from_secs(30), || {
        let e = events_of(k, "web");
        e.contains("Readiness probe failed: HTTP probe failed with statuscode: 404").then_some(e)
    });
    assert!(unready.is_some(), "{}", k.ok(&["describe", "pod", "web"]));
    assert_eq!(jsonpath(k, "web", "{.status.phase}"), "Running");
    let waited = k.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]);
    assert_eq!(waited.trim(), "pod/web condition met");
    // The liveness probe fails once `dead` appears: the container is killed and runs again. (On a loaded
    // machine a probe may run in the moment between the restart and the script removing `dead`, which costs
    // one more restart: at least one is what is asserted.)
    let restarted = eventually(Duration::from_secs(60), || {
        let count = jsonpath(k, "web", "{.status.containerStatuses[0].restartCount}");
        let ready = jsonpath(k, "web", "{.status.containerStatuses[0].ready}");
        (count.parse::<u32>().is_ok_and(|n| n >= 1) && ready == "true").then_some(())
    });
    assert!(restarted.is_some(), "{}", k.ok(&["describe", "pod", "web"]));
    let events = events_of(k, "web");
    assert!(events.contains("Container web failed liveness probe, will be restarted"), "{events}");
    assert!(events.contains("reason: Unhealthy") && events.contains("Liveness probe failed"), "{events}");
    let table = k.ok(&["get", "pod", "web"]);
    assert!(table.contains("1/1") && table.contains("Running"), "{table}");
    k.ok(&["delete", "pod", "web", "--timeout=60s"]);
}

#[test]
fn a_sidecar_startup_probe_gates_the_next_init_container_and_sidecars_stop_last_in_reverse_order() {
    let test = "a_sidecar_startup_probe_gates_the_next_init_container_and_sidecars_stop_last_in_reverse_order";
    if !have_busybox(test) {
        return;
    }
    let env = AgentEnv::start();
    let k = &env.k;
    let port = free_port();
    let db = format!(
        "trap 'echo db stopping; exit 0' TERM; \
         (sleep 2; touch state/db-listening; exec busybox httpd -f -p {port}) & \
         while true; do sleep 0.1; done"
    );
    let proxy = "trap 'echo proxy stopping; sleep 1; echo proxy stopped; exit 0' TERM; while true; do sleep 0.1; done";
    let state = serde_json::json!([{"name": "state", "mountPath": "state"}]);
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ordered"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 20,
            "volumes": [{"name": "state", "emptyDir": {}}],
            "initContainers": [
                {"name": "db", "image": "busybox", "restartPolicy": "Always", "command": ["sh", "-c", db],
                 "volumeMounts": state,
                 "startupProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 30}},
                {"name": "proxy", "image": "busybox", "restartPolicy": "Always", "command": ["sh", "-c", proxy]},
                // Fails unless the database's startup probe passed before it began.
                {"name": "setup", "image": "busybox", "command": ["sh", "-c", "test -f state/db-listening && echo db was up"],
                 "volumeMounts": state}
            ],
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 1; echo main done"]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    assert_eq!(phase_when_done(k, "ordered"), "Succeeded", "{}", k.ok(&["describe", "pod", "ordered"]));
    assert_eq!(k.ok(&["logs", "ordered", "-c", "setup"]), "db was up\n");
    // The sidecars were stopped once main had finished, proxy (defined later) first: db's SIGTERM came only
    // after proxy had exited.
    let stamped = |container: &str, line: &str| -> jiff::Timestamp {
        let logs = k.ok(&["logs", "ordered", "-c", container, "--timestamps"]);
        let found = logs
            .lines()
            .find(|l| l.ends_with(line))
            .unwrap_or_else(|| panic!("{line:?} not in {logs}: {}", k.ok(&["get", "pod", "ordered", "-o", "yaml"])));
        found.split(' ').next().unwrap().parse().unwrap()
    };
    let main_done = stamped("main", "main done");
    let proxy_stopping = stamped("proxy", "proxy stopping");
    let proxy_stopped = stamped("proxy", "proxy stopped");
    let db_stopping = stamped("db", "db stopping");
    assert!(main_done <= proxy_stopping, "{main_done} {proxy_stopping}");
    assert!(proxy_stopped <= db_stopping, "proxy stopped at {proxy_stopped}, db was told at {db_stopping}");
    let statuses = jsonpath(k, "ordered", "{.status.initContainerStatuses[*].state.terminated.exitCode}");
    assert_eq!(statuses, "0 0 0");
}

#[test]
fn config_map_volumes_follow_their_config_map() {
    if !have_kubectl("config_map_volumes_follow_their_config_map") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_args(&tmp.path().join("data"), "127.0.0.1:0", &["--sync-frequency", "1s"]);
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    k.ok(&["create", "configmap", "live", "--from-literal=v=one"]);
    let script = "seen=''; for i in $(seq 1 600); do v=$(cat cfg/v); [ \"$v\" = \"$seen\" ] || echo \"$v\"; seen=$v; \
                  [ \"$v\" = two ] && exit 0; sleep 0.1; done; exit 1";
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "follower"},
        "spec": {"restartPolicy": "Never", "volumes": [{"name": "cfg", "configMap": {"name": "live"}}],
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "cfg", "mountPath": "cfg"}]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    let running = eventually(Duration::from_secs(30), || (k.ok(&["logs", "follower"]) == "one\n").then_some(()));
    assert!(running.is_some(), "{}", k.ok(&["describe", "pod", "follower"]));
    k.ok(&["patch", "configmap", "live", "-p", r#"{"data":{"v":"two"}}"#]);
    assert_eq!(phase_when_done(&k, "follower"), "Succeeded");
    assert_eq!(k.ok(&["logs", "follower"]), "one\ntwo\n");
}

#[test]
fn resources_reach_the_container_through_the_downward_api() {
    if !have_kubectl("resources_reach_the_container_through_the_downward_api") {
        return;
    }
    let env = AgentEnv::start();
    let k = &env.k;
    let field = |resource: &str, divisor: &str| serde_json::json!({"resourceFieldRef": {"resource": resource, "divisor": divisor}});
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sizes"},
        "spec": {"restartPolicy": "Never",
            "volumes": [{"name": "info", "downwardAPI": {"items": [
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}}],
            "containers": [{"name": "c", "image": "busybox",
                "command": ["sh", "-c", "echo $CPU_MILLIS $CPU $MEM_MI $NODE_DISK; cat info/mem"],
                "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"memory": "32Mi"}},
                "env": [
                    {"name": "CPU_MILLIS", "valueFrom": field("limits.cpu", "1m")},
                    {"name": "CPU", "valueFrom": field("limits.cpu", "1")},
                    {"name": "MEM_MI", "valueFrom": field("requests.memory", "1Mi")},
                    {"name": "NODE_DISK", "valueFrom": {"resourceFieldRef": {"containerName": "c", "resource": "limits.ephemeral-storage"}}}
                ],
                "volumeMounts": [{"name": "info", "mountPath": "info"}]}]}
    });
    k.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    assert_eq!(phase_when_done(k, "sizes"), "Succeeded", "{}", k.ok(&["describe", "pod", "sizes"]));
    let logs = k.ok(&["logs", "sizes"]);
    let fields: Vec<&str> = logs.split_whitespace().collect();
    // 250m is 250 millicores, and one core rounded up; an unset ephemeral-storage limit is the node's disk.
    assert_eq!(&fields[..3], ["250", "1", "32"], "{logs}");
    assert!(fields[3].parse::<u64>().is_ok_and(|n| n > 0), "{logs}");
    assert_eq!(fields[4], "64", "{logs}");
    let stored = k.ok(&[
        "get",
        "pod",
        "sizes",
        "-o",
        "jsonpath={.spec.containers[0].env[3].valueFrom.resourceFieldRef.divisor}",
    ]);
    assert_eq!(stored, "0", "an unset divisor reads back as upstream shows it");
}

#[test]
fn pods_asking_for_impossible_volumes_or_identities_are_refused_at_create() {
    if !have_kubectl("pods_asking_for_impossible_volumes_or_identities_are_refused_at_create") {
        return;
    }
    let env = AgentEnv::start();
    let pod = |spec: serde_json::Value| {
        let mut p = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}});
        if let (Some(obj), serde_json::Value::Object(extra)) = (p["spec"].as_object_mut(), spec) {
            obj.extend(extra);
        }
        p.to_string()
    };
    let cases = [
        (
            pod(serde_json::json!({"volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 512}}]})),
            "spec.volumes[0].secret.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive",
        ),
        (
            pod(
                serde_json::json!({"volumes": [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}]}),
            ),
            "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
        ),
        (
            pod(serde_json::json!({"securityContext": {"runAsUser": -1}})),
            "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
        ),
        (
            pod(
                serde_json::json!({"volumes": [{"name": "v", "emptyDir": {}}], "containers": [{"name": "c", "image": "busybox",
                "volumeMounts": [{"name": "v", "mountPath": "/a", "subPath": "x", "subPathExpr": "$(Y)"}]}]}),
            ),
            "spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: \"$(Y)\": subPathExpr and subPath are mutually exclusive",
        ),
    ];
    for (body, want) in cases {
        let out = env.k.run_stdin(&["create", "-f", "-"], &body);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("Pod \"bad\" is invalid") && err.contains(want), "{want}: {err}");
    }
    assert!(env.k.ok(&["get", "pods", "-o", "name"]).is_empty(), "nothing was stored");
}
