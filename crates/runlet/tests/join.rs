//! Agents with identities of their own. `runlet token create` makes a bootstrap token; an agent joins with it,
//! pinning the cluster CA by hash, and gets a client certificate of its node, which it keeps (0600) and uses from
//! then on, restarts included. That identity reaches only what the node authorizer allows (403 in the Status
//! form otherwise); pods on the node still get their ConfigMaps and their logs reach `kubectl logs` through the
//! server's own client certificate, the only one the agent's log endpoint accepts. Wrong CA hashes, unknown and
//! expired tokens are refused.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::{Api, Server, eventually};

const NODES: &str = "/api/v1/nodes";

/// An agent process, killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(args: &[&str], dir: &Path, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_runlet"))
        .arg("agent")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .env("RUNLET_LOG", "warn")
        .stderr(stderr)
        .spawn()
        .expect("spawn runlet agent")
}

/// Runs an agent that must refuse to start; its stderr.
fn agent_fails(args: &[&str], dir: &Path) -> String {
    let mut child = agent(args, dir, Stdio::piped());
    let exited = eventually(Duration::from_secs(30), || child.try_wait().ok().flatten());
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("an agent with {args:?} kept running");
    };
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    assert!(!status.success(), "{stderr}");
    stderr
}

/// `runlet token create --print-join-command`: (the whole command's words after `runlet agent`, the token).
fn join_command(server: &Server) -> (Vec<String>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["token", "create", "--ttl", "1h", "--print-join-command", "--kubeconfig"])
        .arg(server.kubeconfig())
        .output()
        .expect("runlet token create");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let words: Vec<String> = stdout.split_whitespace().map(str::to_string).collect();
    assert_eq!(&words[..3], ["runlet", "agent", "--join"], "{stdout}");
    let token = words.iter().skip_while(|w| *w != "--token").nth(1).cloned().expect("--token");
    (words[2..].to_vec(), token)
}

/// Requests with a client certificate (and no token), through curl as the other API tests.
struct CertClient {
    base: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl CertClient {
    /// The client certificate and key of an agent's kubeconfig, written beside it for curl.
    fn of_kubeconfig(server: &Server, kubeconfig: &str, dir: &Path) -> CertClient {
        let field = |name: &str| {
            let line = kubeconfig.lines().find_map(|l| l.trim().strip_prefix(name)).expect(name);
            base64::engine::general_purpose::STANDARD.decode(line.trim()).expect("base64")
        };
        let (cert, key) = (dir.join("node.crt"), dir.join("node.key"));
        std::fs::write(&cert, field("client-certificate-data:")).unwrap();
        std::fs::write(&key, field("client-key-data:")).unwrap();
        CertClient { base: format!("https://{}", server.addr), ca: server.dir.join("pki/ca.crt"), cert, key }
    }

    /// (status code, body as JSON or Null).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "20", "--cacert"]).arg(&self.ca).arg("--cert").arg(&self.cert);
        c.arg("--key").arg(&self.key).args(["-X", method, "-w", "\n%{http_code}"]);
        if let Some(body) = body {
            let ct = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
            c.args(["-H", &format!("Content-Type: {ct}"), "--data-binary", &body.to_string()]);
        }
        let out = c.arg(format!("{}{path}", self.base)).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn code(&self, method: &str, path: &str, body: Option<&Value>) -> u16 {
        self.request(method, path, body).0
    }
}

fn ready(api: &Api, node: &str) -> bool {
    let node = api.get(&format!("{NODES}/{node}")).json();
    let conditions = node["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

#[test]
fn an_agent_joins_with_a_bootstrap_token_and_holds_only_its_own_node() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    let (join, token) = join_command(&server);
    let join: Vec<&str> = join.iter().map(String::as_str).collect();
    let agent_dir = tmp.path().join("agent");
    let token_at = join.iter().position(|w| *w == "--token").unwrap() + 1;

    // A server whose CA does not have the hash is not trusted with the token.
    let mut wrong_hash = join.clone();
    let hash_at = wrong_hash.iter().position(|w| *w == "--ca-cert-hash").unwrap() + 1;
    let zeros = format!("sha256:{}", "0".repeat(64));
    wrong_hash[hash_at] = &zeros;
    let refused = agent_fails(&[&wrong_hash[..], &["--node-name", "j1"]].concat(), &tmp.path().join("a1"));
    assert!(refused.contains("is not the cluster whose CA has hash"), "{refused}");
    // A token the server does not know, and one that expired, are refused.
    let mut unknown = join.clone();
    unknown[token_at] = "zzzzzz.0123456789abcdef";
    let refused = agent_fails(&[&unknown[..], &["--node-name", "j1"]].concat(), &tmp.path().join("a2"));
    assert!(refused.contains("Unauthorized"), "{refused}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let expired = json!({"metadata": {"name": "bootstrap-token-old123", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {"token-id": b64("old123"), "token-secret": b64("0123456789abcdef"),
                 "usage-bootstrap-authentication": b64("true"), "expiration": b64("2020-01-01T00:00:00Z")}});
    api.post("/api/v1/namespaces/kube-system/secrets", &expired).expect(201);
    let mut old = join.clone();
    old[token_at] = "old123.0123456789abcdef";
    let refused = agent_fails(&[&old[..], &["--node-name", "j1"]].concat(), &tmp.path().join("a3"));
    assert!(refused.contains("Unauthorized"), "{refused}");
    assert!(!tmp.path().join("a3/kubeconfig").exists());

    // A bootstrap token's holder may ask for a node certificate and read discovery, nothing else.
    let bootstrapper = api.with_token(Some(&token));
    bootstrapper.get("/version").expect(200);
    let refused = bootstrapper.get("/api/v1/namespaces/kube-system/secrets").expect(403);
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("User \"system:bootstrap:{}\"", &token[..6])), "{refused}");
    bootstrapper.get(NODES).expect(403);

    // Joining.
    assert_eq!(join[token_at], token);
    let first = Agent(agent(&[&join[..], &["--node-name", "j1"]].concat(), &agent_dir, Stdio::null()));
    assert!(eventually(Duration::from_secs(60), || ready(&api, "j1").then_some(())).is_some(), "j1 never Ready");
    let own = agent_dir.join("kubeconfig");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&own).unwrap().permissions().mode() & 0o777, 0o600);
    let kubeconfig = std::fs::read_to_string(&own).unwrap();
    assert!(kubeconfig.contains("client-certificate-data:") && !kubeconfig.contains("token:"), "{kubeconfig}");
    let node = CertClient::of_kubeconfig(&server, &kubeconfig, tmp.path());

    // What the node's identity may and may not do.
    api.post(NODES, &json!({"metadata": {"name": "other"}})).expect(201);
    api.post(
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "greeting"}, "data": {"text": "hello from j1"}}),
    )
    .expect(201);
    api.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "unrelated"}, "data": {"x": "y"}}))
        .expect(201);
    let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let cases: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("GET", format!("{NODES}/j1"), None, 200),
        ("PATCH", format!("{NODES}/j1"), Some(json!({"metadata": {"labels": {"mine": "yes"}}})), 200),
        ("GET", format!("{lease}/j1"), None, 200),
        ("PATCH", format!("{NODES}/j1"), Some(json!({"spec": {"unschedulable": true}})), 403),
        ("GET", format!("{NODES}/other"), None, 403),
        ("PATCH", format!("{NODES}/other/status"), Some(json!({"status": {}})), 403),
        ("GET", NODES.to_string(), None, 403),
        ("POST", lease.to_string(), Some(json!({"metadata": {"name": "other"}})), 403),
        ("GET", "/api/v1/namespaces/kube-system/secrets".to_string(), None, 403),
        ("GET", "/api/v1/namespaces/kube-system/secrets/bootstrap-token-old123".to_string(), None, 403),
        ("GET", "/api/v1/namespaces/default/configmaps/unrelated".to_string(), None, 403),
        ("GET", "/apis/batch/v1/namespaces/default/jobs".to_string(), None, 403),
        ("GET", "/api/v1/pods".to_string(), None, 403),
        ("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dj1".to_string(), None, 200),
        ("GET", "/version".to_string(), None, 200),
    ];
    for (method, path, body, want) in &cases {
        let (code, reply) = node.request(method, path, body.as_ref());
        assert_eq!(code, *want, "{method} {path}: {reply}");
        if *want == 403 {
            assert_eq!(reply["kind"], "Status", "{method} {path}: {reply}");
            assert_eq!(reply["reason"], "Forbidden", "{method} {path}: {reply}");
            let message = reply["message"].as_str().unwrap_or_default();
            assert!(message.contains("User \"system:node:j1\" cannot"), "{method} {path}: {message}");
        }
    }

    // The node may ask for a new certificate of its own (renewal), not for another node's.
    let csr_for = |node_name: &str| {
        let (key, csr) = (tmp.path().join(format!("{node_name}.key")), tmp.path().join(format!("{node_name}.csr")));
        let out = Command::new("openssl")
            .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj"])
            .arg(format!("/O=system:nodes/CN=system:node:{node_name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .output()
            .expect("openssl req");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "renew-"},
            "spec": {"request": b64(&std::fs::read_to_string(&csr).unwrap()),
                     "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                     "usages": ["digital signature", "client auth"]}})
    };
    let csrs = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let (code, renewed) = node.request("POST", csrs, Some(&csr_for("j1")));
    assert_eq!(code, 201, "{renewed}");
    assert_eq!(renewed["status"]["conditions"][0]["type"], "Approved", "{renewed}");
    assert!(renewed["status"]["certificate"].as_str().is_some_and(|c| !c.is_empty()), "{renewed}");
    let (code, refused) = node.request("POST", csrs, Some(&csr_for("j9")));
    assert_eq!((code, &refused["reason"]), (403, &json!("Forbidden")), "{refused}");

    // A pod on j1 reads the ConfigMap it references, and its log reaches the server's clients.
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "greet"},
        "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/hostname": "j1"},
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo \"$TEXT\""],
                "env": [{"name": "TEXT", "valueFrom": {"configMapKeyRef": {"name": "greeting", "key": "text"}}}]}]}}}});
    api.post("/apis/batch/v1/namespaces/default/jobs", &job).expect(201);
    let done = eventually(Duration::from_secs(60), || {
        let job = api.get("/apis/batch/v1/namespaces/default/jobs/greet").json();
        (job["status"]["succeeded"] == 1).then_some(())
    });
    assert!(done.is_some(), "{}", api.get("/api/v1/namespaces/default/pods").text());
    let pods = api.get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dgreet").json();
    let pod = pods["items"][0]["metadata"]["name"].as_str().expect("the Job's pod").to_string();
    let log = api.get(&format!("/api/v1/namespaces/default/pods/{pod}/log")).text();
    assert_eq!(log.trim(), "hello from j1");
    assert_eq!(node.code("GET", "/api/v1/namespaces/default/configmaps/greeting", None), 200, "referenced by its pod");
    assert_eq!(node.code("GET", &format!("/api/v1/namespaces/default/pods/{pod}"), None), 200);

    // The agent's log endpoint takes only the server's certificate: not the node's, not the admin token.
    let j1 = api.get(&format!("{NODES}/j1")).json();
    let port = j1["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64().expect("log port");
    let url = format!("https://127.0.0.1:{port}/containerLogs/default/{pod}/c");
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(extra)
            .arg(&url)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let with_cert = ["--cert", node.cert.to_str().unwrap(), "--key", node.key.to_str().unwrap()];
    assert_eq!(curl(&with_cert), "403", "a node's certificate");
    let admin = format!("Authorization: Bearer {}", api.token.clone().unwrap_or_default());
    assert_eq!(curl(&["-H", &admin]), "000", "no certificate: no handshake");

    // A restart needs no token: the agent's own credential is in its directory.
    let pinned = |api: &Api| api.get(&format!("{NODES}/j1")).json()["metadata"]["annotations"].clone();
    let before = pinned(&api);
    drop(first);
    let _second = Agent(agent(&[], &agent_dir, Stdio::null()));
    let back = eventually(Duration::from_secs(60), || (pinned(&api) != before && ready(&api, "j1")).then_some(()));
    assert!(back.is_some(), "the restarted agent never registered j1 again: {}", pinned(&api));
    // Another node name with this directory's credential is refused.
    let refused = agent_fails(&["--node-name", "j2"], &agent_dir);
    assert!(refused.contains("is for node \"j1\""), "{refused}");

    // The expired token's Secret is cleaned up (every 10 s), the valid one stays.
    let secret = |id: &str| api.get(&format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{id}")).code;
    let cleaned = eventually(Duration::from_secs(60), || (secret("old123") == 404).then_some(()));
    assert!(cleaned.is_some(), "the expired token's Secret is still there");
    assert_eq!(secret(&token[..6]), 200);
}
