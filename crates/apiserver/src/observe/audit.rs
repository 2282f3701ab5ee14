//! The audit log: one `audit.k8s.io/v1` Event per request as a JSON line, at the level the policy gives it
//! (None, Metadata, Request), in a file rotated by size. Secrets' bodies are never written: a Secret request
//! is logged at Metadata whatever the policy says.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use super::request_info::RequestInfo;
use crate::state::MAX_BODY_BYTES;

/// Who made a request, as the authenticator found it (the router inserts it as a request extension).
#[derive(Clone, Debug)]
pub struct User {
    pub username: String,
    pub groups: Vec<String>,
}

impl User {
    /// The holder of the server's bearer token: a cluster administrator.
    pub fn token_holder() -> User {
        User { username: "runlet-admin".into(), groups: vec!["system:masters".into(), "system:authenticated".into()] }
    }

    /// In-process clients (controllers, the local agent), which reach the router without a token.
    pub fn in_process() -> User {
        User { username: "system:runlet".into(), groups: vec!["system:masters".into(), "system:authenticated".into()] }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    None,
    Metadata,
    Request,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
        }
    }
}

/// `audit.k8s.io/v1` Policy: the first rule that matches a request gives its level; no match is `None`.
/// Fields runlet does not implement are refused rather than ignored: a rule that silently matched more than
/// it says (a `userGroups` restriction dropped) would log what its author meant to keep out.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Accepted and moot: each request gets one event, at the stage its response reaches.
    #[serde(default)]
    pub omit_stages: Vec<String>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub level: Level,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Accepted and moot, as the policy's.
    #[serde(default)]
    pub omit_stages: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    /// `jobs`, `jobs/status`, `*/status`; empty: every resource of the group.
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit policy: {0}")]
    Policy(String),
    #[error("audit log {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Policy {
    /// Everything at Metadata: the policy of a server given a log path and no policy file.
    pub fn metadata_for_all() -> Policy {
        Policy {
            api_version: None,
            kind: None,
            metadata: None,
            omit_stages: vec![],
            rules: vec![Rule {
                level: Level::Metadata,
                users: vec![],
                verbs: vec![],
                resources: vec![],
                namespaces: vec![],
                non_resource_urls: vec![],
                omit_stages: vec![],
            }],
        }
    }

    pub fn parse(text: &str) -> Result<Policy, AuditError> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| AuditError::Policy(e.to_string()))?;
        if policy.kind.as_deref().is_some_and(|k| k != "Policy") {
            return Err(AuditError::Policy(format!("kind {:?} is not Policy", policy.kind)));
        }
        if policy.api_version.as_deref().is_some_and(|v| v != "audit.k8s.io/v1") {
            return Err(AuditError::Policy(format!("apiVersion {:?} is not audit.k8s.io/v1", policy.api_version)));
        }
        Ok(policy)
    }

    /// The level of a request: the first matching rule's, with Secrets held at Metadata at most.
    pub fn level(&self, info: &RequestInfo, path: &str, user: &User) -> Level {
        let level = self.rules.iter().find(|r| r.matches(info, path, user)).map_or(Level::None, |r| r.level);
        if info.resource == "secrets" && info.group.is_empty() { level.min(Level::Metadata) } else { level }
    }
}

impl Rule {
    fn matches(&self, info: &RequestInfo, path: &str, user: &User) -> bool {
        let any_or = |list: &[String], f: &dyn Fn(&str) -> bool| list.is_empty() || list.iter().any(|x| f(x));
        if !any_or(&self.users, &|u| u == user.username) || !any_or(&self.verbs, &|v| v == info.audit_verb) {
            return false;
        }
        let is_resource = !info.resource.is_empty();
        if !is_resource {
            // A rule about resources or namespaces is not about other paths.
            return self.resources.is_empty()
                && self.namespaces.is_empty()
                && any_or(&self.non_resource_urls, &|u| match u.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => path == u,
                });
        }
        if !self.non_resource_urls.is_empty() && self.resources.is_empty() {
            return false;
        }
        let full = if info.subresource.is_empty() {
            info.resource.clone()
        } else {
            format!("{}/{}", info.resource, info.subresource)
        };
        let resource_matches = |gr: &GroupResources| {
            gr.group == info.group
                && (gr.resources.is_empty()
                    || gr.resources.iter().any(|r| {
                        *r == full
                            || *r == "*"
                            || r.strip_prefix("*/").is_some_and(|sub| sub == info.subresource)
                            || r.strip_suffix("/*").is_some_and(|res| res == info.resource)
                    }))
        };
        (self.resources.is_empty() || self.resources.iter().any(resource_matches))
            && any_or(&self.namespaces, &|n| n == info.namespace)
    }
}

/// Rotation by size, as kube-apiserver's `--audit-log-maxsize` and `--audit-log-maxbackup`.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    pub max_bytes: u64,
    /// Rotated files kept (`audit.log.1` is the newest); 0 keeps none.
    pub max_backups: usize,
}

struct Sink {
    path: PathBuf,
    file: File,
    written: u64,
    rotation: Rotation,
}

impl Sink {
    fn open(path: &Path, rotation: Rotation) -> Result<Sink, AuditError> {
        let io = |source| AuditError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let file = open_private(path).map_err(io)?;
        let written = file.metadata().map_err(io)?.len();
        Ok(Sink { path: path.to_path_buf(), file, written, rotation })
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.written > 0 && self.written + line.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.written += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.rotation.max_backups == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(self.rotation.max_backups));
            for n in (1..self.rotation.max_backups).rev() {
                if numbered(n).exists() {
                    fs::rename(numbered(n), numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = open_private(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The server's audit log.
pub struct AuditLog {
    policy: Policy,
    sink: Mutex<Sink>,
}

impl AuditLog {
    pub fn open(path: &Path, policy: Policy, rotation: Rotation) -> Result<Arc<AuditLog>, AuditError> {
        Ok(Arc::new(AuditLog { policy, sink: Mutex::new(Sink::open(path, rotation)?) }))
    }

    /// Starts the event of a request (the level is decided now; the event is written by [`Pending::finish`]).
    pub fn begin(self: &Arc<Self>, req: &Request, info: &RequestInfo, received: jiff::Timestamp) -> Pending {
        let user = req.extensions().get::<User>().cloned().unwrap_or_else(User::in_process);
        let path = req.uri().path();
        let level = self.policy.level(info, path, &user);
        let source = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level.name(),
            "auditID": uuid::Uuid::new_v4().to_string(),
            "requestURI": req.uri().path_and_query().map_or(path, |p| p.as_str()),
            "verb": info.audit_verb,
            "user": {"username": user.username, "groups": user.groups},
            "sourceIPs": source.into_iter().collect::<Vec<_>>(),
            "userAgent": user_agent,
            "requestReceivedTimestamp": micro_time(received),
        });
        if !info.resource.is_empty() {
            let mut object_ref = json!({"resource": info.resource, "apiVersion": info.version});
            let mut set = |key: &str, value: &str| {
                if !value.is_empty() {
                    object_ref[key] = json!(value);
                }
            };
            set("namespace", &info.namespace);
            set("name", &info.name);
            set("apiGroup", &info.group);
            set("subresource", &info.subresource);
            event["objectRef"] = object_ref;
        }
        Pending { log: self.clone(), level, event }
    }

    fn write(&self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = sink.write_line(&line) {
            tracing::error!(%error, path = %sink.path.display(), "cannot write the audit log");
        }
    }
}

/// An event waiting for its response.
pub struct Pending {
    log: Arc<AuditLog>,
    level: Level,
    event: Value,
}

impl Pending {
    /// At level Request, reads the body into the event (`requestObject`) and hands back an equal request.
    pub async fn read_request(mut self, req: Request) -> (Request, Pending) {
        if self.level < Level::Request {
            return (req, self);
        }
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => {
                if !bytes.is_empty() {
                    let object = serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .or_else(|| serde_saphyr::from_slice::<Value>(&bytes).ok());
                    if let Some(object) = object {
                        self.event["requestObject"] = object;
                    }
                }
                (Request::from_parts(parts, Body::from(bytes)), self)
            }
            // Too large or broken: the handler answers what it would have; the event has no body.
            Err(_) => (Request::from_parts(parts, Body::empty()), self),
        }
    }

    /// Writes the event with the response's code: `ResponseComplete`, or `ResponseStarted` for a long-running
    /// request (a watch's event is written when its stream starts).
    pub fn finish(mut self, code: u16, long_running: bool) {
        if self.level == Level::None {
            return;
        }
        self.event["stage"] = json!(if long_running { "ResponseStarted" } else { "ResponseComplete" });
        self.event["responseStatus"] = json!({"metadata": {}, "code": code});
        self.event["stageTimestamp"] = json!(micro_time(jiff::Timestamp::now()));
        self.log.write(&self.event);
    }
}

fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn info(method: Method, path: &str) -> RequestInfo {
        super::super::request_info::classify(&method, path, None, None)
    }

    #[test]
    fn the_first_matching_rule_gives_the_level_and_secrets_stay_at_metadata() {
        let policy = Policy::parse(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: Request
  resources:
  - group: batch
    resources: ["jobs"]
- level: Request
  resources:
  - group: ""
    resources: ["secrets"]
- level: Metadata
  namespaces: ["default"]
- level: Metadata
  nonResourceURLs: ["/readyz*"]
"#,
        )
        .expect("policy");
        let admin = User::token_holder();
        let cases: Vec<(Method, &str, Level)> = vec![
            (Method::GET, "/apis/batch/v1/namespaces/default/jobs", Level::None),
            (Method::POST, "/apis/batch/v1/namespaces/default/jobs", Level::Request),
            (Method::PUT, "/apis/batch/v1/namespaces/x/jobs/pi/status", Level::None),
            (Method::POST, "/api/v1/namespaces/default/secrets", Level::Metadata),
            (Method::POST, "/api/v1/namespaces/x/secrets", Level::Metadata),
            (Method::DELETE, "/api/v1/namespaces/default/pods/p", Level::Metadata),
            (Method::DELETE, "/api/v1/namespaces/x/pods/p", Level::None),
            (Method::POST, "/readyz/store", Level::Metadata),
        ];
        for (method, path, want) in cases {
            let i = info(method.clone(), path);
            assert_eq!(policy.level(&i, path, &admin), want, "{method} {path}");
        }
        assert!(Policy::parse("kind: Other\nrules: []").is_err());
        assert!(Policy::parse("rules:\n- level: Request\n  userGroups: [\"devs\"]\n").is_err(), "unknown fields");
        assert!(Policy::parse("rules:\n- level: RequestResponse\n").is_err(), "levels runlet does not write");
        assert!(Policy::parse("omitStages: [RequestReceived]\nrules:\n- level: None\n  omitStages: [Panic]\n").is_ok());
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_its_backups() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.log");
        let mut sink = Sink::open(&path, Rotation { max_bytes: 10, max_backups: 2 }).expect("open");
        for line in ["one-----\n", "two-----\n", "three---\n", "four----\n"] {
            sink.write_line(line.as_bytes()).expect("write");
        }
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        assert_eq!(read(path.clone()), "four----\n");
        assert_eq!(read(dir.path().join("audit.log.1")), "three---\n");
        assert_eq!(read(dir.path().join("audit.log.2")), "two-----\n");
        assert!(!dir.path().join("audit.log.3").exists(), "only two backups are kept");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_secret_created_at_request_level_is_logged_without_its_data() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.log");
        let policy = Policy::parse("rules:\n- level: Request\n").expect("policy");
        let log = AuditLog::open(&path, policy, Rotation { max_bytes: 1 << 20, max_backups: 1 }).expect("log");
        for (uri, body) in [
            ("/api/v1/namespaces/default/secrets", r#"{"metadata":{"name":"s"},"data":{"password":"aHVudGVyMg=="}}"#),
            ("/api/v1/namespaces/default/configmaps", r#"{"metadata":{"name":"c"},"data":{"k":"visible"}}"#),
        ] {
            let mut req = Request::builder().method("POST").uri(uri).body(Body::from(body)).expect("request");
            req.extensions_mut().insert(User::token_holder());
            let i = info(Method::POST, uri);
            let pending = log.begin(&req, &i, jiff::Timestamp::now());
            let (req, pending) = pending.read_request(req).await;
            let passed_on = axum::body::to_bytes(req.into_body(), 1 << 20).await.expect("body");
            assert_eq!(passed_on, body.as_bytes(), "the handler still gets the body");
            pending.finish(201, false);
        }
        let text = fs::read_to_string(&path).expect("log");
        assert!(!text.contains("aHVudGVyMg=="), "a Secret's data reached the audit log:\n{text}");
        let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["level"], "Metadata");
        assert_eq!(events[0]["objectRef"]["resource"], "secrets");
        assert_eq!(events[0]["user"]["username"], "runlet-admin");
        assert_eq!(events[1]["level"], "Request");
        assert_eq!(events[1]["requestObject"]["data"]["k"], "visible");
        assert_eq!(events[1]["stage"], "ResponseComplete");
        assert_eq!(events[1]["responseStatus"]["code"], 201);
        assert_eq!(events[1]["verb"], "create");
    }
}
