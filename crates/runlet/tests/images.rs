//! The `oci` runtime handler through a real server and kubectl: an image built here from the static busybox
//! binary (an entrypoint, a cmd, an environment, a working directory and a non-root user), imported with
//! `runlet image import` from a `docker save` archive (no registry), run by pods with
//! `runtimeClassName: oci` by Kubernetes' entrypoint/cmd rules; images that are not there (ErrImageNeverPull,
//! ErrImagePull then ImagePullBackOff), a RuntimeClass that does not exist, `kubectl get runtimeclass`,
//! `runlet image ls` and `rm`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Kubectl, Server, eventually, have_kubectl};

const BUSYBOX: &str = "/bin/busybox";

fn possible(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED {test}: the oci runtime handler needs root (pod sandboxes)");
        return false;
    }
    let static_busybox = Command::new("file")
        .arg(BUSYBOX)
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("statically linked"));
    if !static_busybox {
        eprintln!("SKIPPED {test}: no static {BUSYBOX} (scripts/setup installs busybox-static)");
        return false;
    }
    have_kubectl(test)
}

fn tar(dir: &Path, out: &Path) {
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar of {}", dir.display());
}

/// A `docker save` archive of `docker.io/library/runlet-test:1` whose one layer holds busybox.
fn build_image(work: &Path) -> std::path::PathBuf {
    build_image_tagged(work, "runlet-test:1")
}

fn build_image_tagged(work: &Path, tag: &str) -> std::path::PathBuf {
    let work = work.join(tag.replace([':', '/'], "_"));
    let work = work.as_path();
    let root = work.join("rootfs");
    for d in ["bin", "etc", "work", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for tool in ["sh", "echo", "id", "pwd", "cat", "sleep", "ls"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/work:/bin/sh\n")
        .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    let archive = work.join("archive");
    std::fs::create_dir_all(archive.join("layer")).unwrap();
    tar(&root, &archive.join("layer/layer.tar"));
    let config = serde_json::json!({
        "architecture": if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" },
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo from-cmd $GREETING; id -u; pwd"],
            "Env": ["PATH=/bin", "GREETING=hello"],
            "User": "app",
            "WorkingDir": "/work"
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_of(&archive.join("layer/layer.tar"))]}
    });
    std::fs::write(archive.join("config.json"), config.to_string()).unwrap();
    let manifest = serde_json::json!([
        {"Config": "config.json", "RepoTags": [tag], "Layers": ["layer/layer.tar"]}
    ]);
    std::fs::write(archive.join("manifest.json"), manifest.to_string()).unwrap();
    let out = work.join("runlet-test.tar");
    tar(&archive, &out);
    out
}

fn sha256_of(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().expect("run sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", text.split_whitespace().next().unwrap_or_default())
}

/// A `docker-registry` on a free loopback port, with basic auth when `htpasswd` is given; killed on drop.
struct Registry {
    child: std::process::Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path, credentials: Option<(&str, &str)>) -> Registry {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(dir).unwrap();
    let mut config = format!(
        "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {addr}}}\n",
        dir.join("data").display()
    );
    if let Some((user, password)) = credentials {
        let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd");
        assert!(out.status.success());
        std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
        config.push_str(&format!(
            "auth: {{htpasswd: {{realm: runlet-test, path: {}}}}}\n",
            dir.join("htpasswd").display()
        ));
    }
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let registry = Registry { child, addr: addr.clone() };
    let up = eventually(Duration::from_secs(20), || std::net::TcpStream::connect(&addr).ok());
    assert!(up.is_some(), "docker-registry did not listen on {addr}");
    registry
}

fn push(archive: &Path, target: &str, credentials: Option<&str>) {
    let mut c = Command::new("skopeo");
    c.args(["copy", "--insecure-policy", "--dest-tls-verify=false"]);
    if let Some(creds) = credentials {
        c.args(["--dest-creds", creds]);
    }
    let out = c.arg(format!("docker-archive:{}", archive.display())).arg(format!("docker://{target}")).output();
    let out = out.expect("run skopeo");
    assert!(out.status.success(), "skopeo copy to {target}: {}", String::from_utf8_lossy(&out.stderr));
}

fn registry_possible(test: &str) -> bool {
    for tool in ["docker-registry", "skopeo", "htpasswd"] {
        if Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map_or(true, |o| !o.status.success())
        {
            eprintln!("SKIPPED {test}: no {tool} (scripts/setup installs it)");
            return false;
        }
    }
    possible(test)
}

fn runlet_image_output(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runlet"))
        .arg("image")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run runlet image")
}

fn runlet_image(data: &Path, args: &[&str]) -> String {
    let out = runlet_image_output(data, args);
    assert!(out.status.success(), "runlet image {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pod(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  runtimeClassName: oci\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: {image}\n{extra}"
    )
}

fn finished(k: &Kubectl, pod: &str) -> String {
    eventually(Duration::from_secs(60), || {
        let phase = k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .unwrap_or_else(|| panic!("pod {pod} did not finish: {}", k.ok(&["describe", "pod", pod])))
}

fn waiting_reason(k: &Kubectl, pod: &str) -> String {
    k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"])
}

#[test]
fn imported_images_run_by_kubernetes_rules() {
    if !possible("imported_images_run_by_kubernetes_rules") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with_agent(&data, "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());

    let classes = k.ok(&["get", "runtimeclass"]);
    assert!(classes.contains("oci") && classes.contains("process") && classes.contains("HANDLER"), "{classes}");
    let out = k.run_stdin(&["create", "-f", "-"], &pod("nope", "busybox", "").replace("oci", "gvisor"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server (Forbidden)")
            && stderr.contains("pod rejected: RuntimeClass \"gvisor\" not found"),
        "{stderr}"
    );

    let archive = build_image(tmp.path());
    let loaded = runlet_image(&data, &["import", archive.to_str().unwrap()]);
    assert_eq!(loaded, "Loaded image: docker.io/library/runlet-test:1\n");
    let listed = runlet_image(&data, &["ls"]);
    assert!(listed.contains("docker.io/library/runlet-test") && listed.contains("IMAGE ID"), "{listed}");

    let cases = [
        // The image's entrypoint and cmd, env, working directory and user.
        ("plain", "", "from-cmd hello\n1000\n/work\n"),
        // args replace the cmd; the entrypoint stays.
        ("args", "    args: ['echo args-$GREETING-$EXTRA']\n    env: [{name: EXTRA, value: x}]\n", "args-hello-x\n"),
        // command replaces the entrypoint (and the cmd goes with it); runAsUser overrides the image's user.
        (
            "command",
            "    command: [/bin/sh, -c, 'id -u; pwd']\n    workingDir: /tmp\n    securityContext: {runAsUser: 4242}\n",
            "4242\n/tmp\n",
        ),
    ];
    for (name, extra, _) in &cases {
        k.ok_stdin(&["create", "-f", "-"], &pod(name, "runlet-test:1", extra));
    }
    for (name, _, want) in &cases {
        assert_eq!(finished(&k, name), "Succeeded", "{}", k.ok(&["describe", "pod", name]));
        assert_eq!(k.ok(&["logs", name]), *want, "{name}");
    }
    // An imported archive has no repository digest: the status names the image by its id.
    let image_id = k.ok(&["get", "pod", "plain", "-o", "jsonpath={.status.containerStatuses[0].imageID}"]);
    assert!(image_id.starts_with("docker://sha256:") && image_id.len() == "docker://sha256:".len() + 64, "{image_id}");
    let events = k.ok(&["get", "events", "--field-selector", "involvedObject.name=plain"]);
    assert!(events.contains("already present on machine"), "{events}");

    // Not on the node, and never to be pulled.
    k.ok_stdin(&["create", "-f", "-"], &pod("never", "runlet-test:2", "    imagePullPolicy: Never\n"));
    let reason = eventually(Duration::from_secs(30), || {
        let r = waiting_reason(&k, "never");
        (r == "ErrImageNeverPull").then_some(r)
    });
    assert!(reason.is_some(), "{}", k.ok(&["describe", "pod", "never"]));

    // A registry that does not answer (nothing listens on port 1): ErrImagePull, then ImagePullBackOff.
    k.ok_stdin(&["create", "-f", "-"], &pod("unreachable", "127.0.0.1:1/none:1", ""));
    let mut seen = Vec::new();
    let backoff = eventually(Duration::from_secs(30), || {
        let r = waiting_reason(&k, "unreachable");
        if !r.is_empty() && !seen.contains(&r) {
            seen.push(r.clone());
        }
        (r == "ImagePullBackOff").then_some(r)
    });
    assert!(backoff.is_some(), "{seen:?} {}", k.ok(&["describe", "pod", "unreachable"]));
    let described = k.ok(&["describe", "pod", "unreachable"]);
    assert!(described.contains("Failed to pull image \"127.0.0.1:1/none:1\""), "{described}");
    assert!(described.contains("Back-off pulling image"), "{described}");

    // Pods on the node hold the image they ran.
    let refused = runlet_image_output(&data, &["rm", "runlet-test:1"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("is in use by a container"), "{stderr}");
    k.ok(&["delete", "pod", "plain", "args", "command", "never", "unreachable"]);
    // Once their directories are gone (the agent removes them as the pods go), nothing holds it.
    let removed = eventually(Duration::from_secs(30), || {
        let out = runlet_image_output(&data, &["rm", "runlet-test:1"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .expect("runlet image rm once the pods are gone");
    assert!(removed.contains("Untagged: docker.io/library/runlet-test:1") && removed.contains("Deleted: sha256:"));
    assert!(!runlet_image(&data, &["ls"]).contains("runlet-test"));
}

#[test]
fn images_are_pulled_from_loopback_registries_with_pull_secrets() {
    if !registry_possible("images_are_pulled_from_loopback_registries_with_pull_secrets") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let archive = build_image(tmp.path());
    let public = start_registry(&tmp.path().join("public"), None);
    let private = start_registry(&tmp.path().join("private"), Some(("bob", "s3cret")));
    let public_image = format!("{}/team/tool:1", public.addr);
    let private_image = format!("{}/team/secret-tool:1", private.addr);
    push(&archive, &public_image, None);
    push(&archive, &private_image, Some("bob:s3cret"));

    let data = tmp.path().join("data");
    let server = Server::start_with_agent(&data, "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());

    // IfNotPresent (a tag other than latest): pulled once, then found on the node.
    k.ok_stdin(&["create", "-f", "-"], &pod("first", &public_image, ""));
    assert_eq!(finished(&k, "first"), "Succeeded", "{}", k.ok(&["describe", "pod", "first"]));
    assert_eq!(k.ok(&["logs", "first"]), "from-cmd hello\n1000\n/work\n");
    let image_id = k.ok(&["get", "pod", "first", "-o", "jsonpath={.status.containerStatuses[0].imageID}"]);
    let pinned = format!("docker-pullable://{}/team/tool@sha256:", public.addr);
    assert!(image_id.starts_with(&pinned) && image_id.len() == pinned.len() + 64, "{image_id}");
    let first = k.ok(&["describe", "pod", "first"]);
    assert!(first.contains(&format!("Pulling image \"{public_image}\"")), "{first}");
    assert!(first.contains(&format!("Successfully pulled image \"{public_image}\"")), "{first}");
    k.ok_stdin(&["create", "-f", "-"], &pod("second", &public_image, ""));
    assert_eq!(finished(&k, "second"), "Succeeded");
    let second = k.ok(&["describe", "pod", "second"]);
    assert!(second.contains("already present on machine") && !second.contains("Pulling image"), "{second}");
    // Always pulls again.
    k.ok_stdin(&["create", "-f", "-"], &pod("always", &public_image, "    imagePullPolicy: Always\n"));
    assert_eq!(finished(&k, "always"), "Succeeded");
    let always = k.ok(&["describe", "pod", "always"]);
    assert!(always.contains("Successfully pulled image"), "{always}");
    let listed = runlet_image(&data, &["ls"]);
    assert!(listed.contains(&format!("{}/team/tool", public.addr)), "{listed}");

    // A tag the registry does not have.
    k.ok_stdin(&["create", "-f", "-"], &pod("missing", &format!("{}/team/tool:nope", public.addr), ""));
    let failed = eventually(Duration::from_secs(30), || {
        let r = waiting_reason(&k, "missing");
        (r == "ErrImagePull" || r == "ImagePullBackOff").then_some(r)
    });
    assert!(failed.is_some(), "{}", k.ok(&["describe", "pod", "missing"]));

    // The private registry refuses an anonymous pull, and serves one with the pod's imagePullSecret.
    k.ok_stdin(&["create", "-f", "-"], &pod("anonymous", &private_image, ""));
    let refused = eventually(Duration::from_secs(30), || {
        let r = waiting_reason(&k, "anonymous");
        (r == "ErrImagePull" || r == "ImagePullBackOff").then_some(r)
    });
    assert!(refused.is_some(), "{}", k.ok(&["describe", "pod", "anonymous"]));
    k.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", private.addr),
        "--docker-username=bob",
        "--docker-password=s3cret",
    ]);
    let with_secret = pod("authorized", &private_image, "")
        .replace("  restartPolicy: Never\n", "  restartPolicy: Never\n  imagePullSecrets: [{name: regcred}]\n");
    k.ok_stdin(&["create", "-f", "-"], &with_secret);
    assert_eq!(finished(&k, "authorized"), "Succeeded", "{}", k.ok(&["describe", "pod", "authorized"]));
    assert_eq!(k.ok(&["logs", "authorized"]), "from-cmd hello\n1000\n/work\n");
    // The secret's password appears in no event.
    assert!(!k.ok(&["get", "events", "-o", "yaml"]).contains("s3cret"));
}

#[test]
fn the_image_example_runs_from_an_imported_archive() {
    if !possible("the_image_example_runs_from_an_imported_archive") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with_agent(&data, "127.0.0.1:0");
    let archive = build_image_tagged(tmp.path(), "busybox:1.36");
    assert_eq!(
        runlet_image(&data, &["import", archive.to_str().unwrap()]),
        "Loaded image: docker.io/library/busybox:1.36\n"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["run", "-f"])
        .arg(support::repo_root().join("examples/image-hello.yaml"))
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .output()
        .expect("run runlet run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello from busybox:1.36") && stdout.contains("/bin/busybox"), "{stdout}");
}

fn runc_possible(test: &str) -> bool {
    if !Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED {test}: no runc (scripts/setup installs it)");
        return false;
    }
    possible(test)
}

/// `{.status.phase}/{reason}/{exitCode}` of the pod's (first) container once the pod has finished and the
/// container has terminated (a pod past its deadline is `Failed` before its container has stopped).
fn ended(k: &Kubectl, pod: &str) -> String {
    finished(k, pod);
    eventually(Duration::from_secs(60), || {
        let out = k.ok(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.phase}/{.status.containerStatuses[0].state.terminated.reason}/{.status.containerStatuses[0].state.terminated.exitCode}",
        ]);
        (!out.ends_with('/')).then_some(out)
    })
    .unwrap_or_else(|| panic!("the container of {pod} did not terminate: {}", k.ok(&["describe", "pod", pod])))
}

#[test]
fn runc_runs_image_containers_as_the_process_runtime_runs_processes() {
    if !runc_possible("runc_runs_image_containers_as_the_process_runtime_runs_processes") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with_agent(&data, "127.0.0.1:0");
    let k = Kubectl::new(server.kubeconfig(), tmp.path());
    let archive = build_image(tmp.path());
    runlet_image(&data, &["import", archive.to_str().unwrap()]);

    let sc = |sc: &str, script: &str| format!("    command: [/bin/sh, -c, '{script}']\n    securityContext: {sc}\n");
    let cases = [
        // runc's container: the program is PID 1 of its namespace; the host's resolver files are there; the
        // pod's user, group and allowPrivilegeEscalation: false (no_new_privs).
        (
            "identity",
            sc(
                "{runAsUser: 1000, runAsGroup: 3000, allowPrivilegeEscalation: false}",
                "echo pid=$$$$; test -s /etc/resolv.conf && echo resolv; id -u; id -g; /bin/busybox grep NoNewPrivs /proc/self/status",
            ),
            "pid=1\nresolv\n1000\n3000\nNoNewPrivs:\t1\n",
        ),
        // readOnlyRootFilesystem, as root.
        (
            "readonly",
            sc("{runAsUser: 0, readOnlyRootFilesystem: true}", "(echo x > /work/x) 2>/dev/null || echo read-only"),
            "read-only\n",
        ),
        // Capabilities: dropping all leaves root with none.
        (
            "nocaps",
            sc("{runAsUser: 0, capabilities: {drop: [ALL]}}", "/bin/busybox grep CapEff /proc/self/status"),
            "CapEff:\t0000000000000000\n",
        ),
    ];
    for (name, extra, _) in &cases {
        k.ok_stdin(&["create", "-f", "-"], &pod(name, "runlet-test:1", extra));
    }
    for (name, _, want) in &cases {
        assert_eq!(finished(&k, name), "Succeeded", "{}", k.ok(&["describe", "pod", name]));
        assert_eq!(k.ok(&["logs", name]), *want, "{name}");
    }

    // Exit codes, and a program that is not in the image.
    k.ok_stdin(
        &["create", "-f", "-"],
        &pod("exit", "runlet-test:1", "    command: [/bin/sh, -c, 'echo bye; exit 3']\n"),
    );
    k.ok_stdin(&["create", "-f", "-"], &pod("missing", "runlet-test:1", "    command: [/bin/nope]\n"));
    assert_eq!(ended(&k, "exit"), "Failed/Error/3", "{}", k.ok(&["describe", "pod", "exit"]));
    assert_eq!(k.ok(&["logs", "exit"]), "bye\n");
    assert_eq!(ended(&k, "missing"), "Failed/ContainerCannotRun/128");
    let message =
        k.ok(&["get", "pod", "missing", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.message}"]);
    assert!(message.contains("/bin/nope") && message.contains("no such file or directory"), "{message}");

    // Restarts: the first run fails, the second (the same emptyDir) succeeds; both logs kept.
    let restarting = pod(
        "restart",
        "runlet-test:1",
        "    command: [/bin/sh, -c, 'if [ -f /data/seen ]; then echo second; exit 0; fi; : > /data/seen; echo first; exit 1']\n    volumeMounts: [{name: data, mountPath: /data}]\n",
    )
    .replace("restartPolicy: Never", "restartPolicy: OnFailure")
    .replace("  containers:\n", "  volumes: [{name: data, emptyDir: {}}]\n  containers:\n");
    k.ok_stdin(&["create", "-f", "-"], &restarting);
    assert_eq!(finished(&k, "restart"), "Succeeded", "{}", k.ok(&["describe", "pod", "restart"]));
    assert_eq!(k.ok(&["get", "pod", "restart", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]), "1");
    assert_eq!(k.ok(&["logs", "restart"]), "second\n");
    assert_eq!(k.ok(&["logs", "restart", "--previous"]), "first\n");

    // Termination: SIGTERM goes to PID 1. A shell that traps it ends with its own code at once; `sleep` as
    // PID 1 has no handler, so the kernel ignores SIGTERM and SIGKILL ends it after the grace period.
    let deadline = |name: &str, script: &str| {
        pod(name, "runlet-test:1", &format!("    command: [/bin/sh, -c, '{script}']\n")).replace(
            "restartPolicy: Never\n",
            "restartPolicy: Never\n  activeDeadlineSeconds: 3\n  terminationGracePeriodSeconds: 2\n",
        )
    };
    k.ok_stdin(
        &["create", "-f", "-"],
        &deadline("trap", "trap \"echo got TERM; exit 4\" TERM; echo started; while true; do sleep 0.1; done"),
    );
    k.ok_stdin(&["create", "-f", "-"], &deadline("stubborn", "exec /bin/sleep 600"));
    assert_eq!(ended(&k, "trap"), "Failed/Error/4", "{}", k.ok(&["describe", "pod", "trap"]));
    assert_eq!(k.ok(&["logs", "trap"]), "started\ngot TERM\n");
    assert_eq!(ended(&k, "stubborn"), "Failed/Error/137", "{}", k.ok(&["describe", "pod", "stubborn"]));
    let times = k.ok(&[
        "get",
        "pod",
        "stubborn",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.startedAt} {.status.containerStatuses[0].state.terminated.finishedAt}",
    ]);
    let (started, finished_at) = times.split_once(' ').unwrap_or_else(|| panic!("{times}"));
    let run: jiff::Timestamp = started.parse().unwrap();
    let end: jiff::Timestamp = finished_at.parse().unwrap();
    // The deadline (3 s from the pod's start) and the whole grace period (2 s) passed before the kill; the
    // times have whole seconds.
    assert!(end.duration_since(run).as_secs_f64() >= 3.0, "{times}");

    // An exec probe runs inside the container: it sees the file the container wrote into its own root.
    let probed = pod(
        "probed",
        "runlet-test:1",
        "    command: [/bin/sh, -c, 'sleep 1; echo yes > /ready; exec /bin/sleep 600']\n    securityContext: {runAsUser: 0}\n    readinessProbe: {exec: {command: [/bin/cat, /ready]}, periodSeconds: 1}\n",
    );
    k.ok_stdin(&["create", "-f", "-"], &probed);
    k.ok(&["wait", "--for=condition=Ready", "pod/probed", "--timeout=60s"]);
    // shareProcessNamespace: a container sees the other's processes.
    let shared = pod("shared", "runlet-test:1", "    command: [/bin/sleep, '600']\n")
        .replace("  restartPolicy: Never\n", "  restartPolicy: Never\n  shareProcessNamespace: true\n")
        + "  - name: looker\n    image: runlet-test:1\n    command: [/bin/sh, -c, 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/busybox ps | /bin/busybox grep -q \"/bin/[s]leep 600\" && exit 0; sleep 1; done; exit 1']\n";
    k.ok_stdin(&["create", "-f", "-"], &shared);
    let looked = eventually(Duration::from_secs(60), || {
        let code = k.ok(&[
            "get",
            "pod",
            "shared",
            "-o",
            "jsonpath={.status.containerStatuses[?(@.name==\"looker\")].state.terminated.exitCode}",
        ]);
        (!code.is_empty()).then_some(code)
    });
    assert_eq!(looked.as_deref(), Some("0"), "{}", k.ok(&["describe", "pod", "shared"]));
    k.ok(&["delete", "pod", "probed", "shared", "--grace-period=1"]);

    // Over its memory limit: the kernel kills PID 1 in its cgroup, and the status says OOMKilled.
    if support::memory_cgroups_writable() {
        let hog = pod(
            "hog",
            "runlet-test:1",
            "    command: [/bin/sh, -c, 'x=$(/bin/busybox head -c 300000000 /dev/zero | /bin/busybox tr \"\\\\0\" a); echo ${#x}']\n    resources: {limits: {memory: 32Mi}}\n",
        );
        k.ok_stdin(&["create", "-f", "-"], &hog);
        assert_eq!(ended(&k, "hog"), "Failed/OOMKilled/137", "{}", k.ok(&["describe", "pod", "hog"]));
    } else {
        eprintln!(
            "runc_runs_image_containers_as_the_process_runtime_runs_processes: memory cgroups are not writable here, OOM case skipped"
        );
    }
}
