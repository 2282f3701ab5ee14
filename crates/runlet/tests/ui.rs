//! The web UI in a real browser: Debian's chromium driven over WebDriver (chromedriver) against a real
//! `runlet server` whose pods really run. Skipped, with a SKIPPED line, only where chromium or chromedriver is
//! not installed (`scripts/setup` installs both).
//!
//! With `RUNLET_UI_SCREENSHOTS=<dir>` the test also saves the pictures of the main pages the README shows.

mod support;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{Api, Server, eventually, is_complete};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what the cluster does (pods run for seconds; the machine may be loaded).
const PAGE_DEADLINE: Duration = Duration::from_secs(90);

/// A chromedriver child on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    /// Kills chromedriver's whole process group: the browser it started too, even when the test panicked.
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        // A group of its own, which the browsers it starts join: one signal ends them all.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let up = eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()));
    assert!(up.is_some(), "chromedriver did not listen on {port}");
    driver
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1300,1000", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session")
}

/// Evaluates `script` (a JavaScript expression) until it is truthy; returns its value.
async fn wait_js(c: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + PAGE_DEADLINE;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        match c.execute(&format!("return ({script});"), vec![]).await {
            Ok(v) if !v.is_null() && v != json!(false) && v != json!("") && v != json!(0) => return v,
            Ok(v) => last = v,
            Err(e) => last = json!(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("{what}: not seen within {PAGE_DEADLINE:?} (last value: {last}); page: {}", page_text(c).await);
}

async fn page_text(c: &Client) -> String {
    c.execute("return document.body ? document.body.innerText : ''", vec![])
        .await
        .map(|v| v.as_str().unwrap_or_default().chars().take(2000).collect())
        .unwrap_or_default()
}

async fn screenshot(c: &Client, dir: &Option<PathBuf>, name: &str) {
    if let Some(dir) = dir {
        // Let the last watch events and the ticking ages land before the picture.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let png = c.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

fn job(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {"app": "ui-test"}}, "spec": spec})
}

fn container(script: &str) -> Value {
    json!({"name": "work", "image": "busybox", "command": ["sh", "-c", script]})
}

fn get_job(api: &Api, name: &str) -> Value {
    api.get(&format!("/apis/batch/v1/namespaces/default/jobs/{name}")).expect(200)
}

fn have_chromium() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED the browser tests: {} not installed (scripts/setup installs them)", missing.join(", "));
    }
    missing.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_in_a_real_browser() {
    if !have_chromium() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // hostPath lets a retried pod see what the failed one left (a marker file): one failure, then success.
    let server = Server::start_with(&tmp.path().join("data"), "127.0.0.1:0", &["--allow-host-path"]);
    let api = Api::new(&server);
    let base = api.base.clone();
    let driver = start_driver();
    // A relative directory is taken from the repository's root (tests run in the crate's directory).
    let shots = std::env::var_os("RUNLET_UI_SCREENSHOTS").map(|d| support::repo_root().join(d));
    let c = browser(&driver, &tmp.path().join("profile")).await;

    // Nothing is readable without the token: the page sends the browser to the login form, and the API, the
    // app's script and the timeline answer 401 to a request without a session.
    let anonymous = api.with_token(None);
    for path in ["/ui/api/k8s/api/v1/pods", "/ui/assets/app.js", "/ui/api/timeline/default/x"] {
        let reply = anonymous.get(path);
        assert_eq!(reply.code, 401, "{path}: {}", reply.text());
    }
    // Not even with the token as a bearer header: the UI's routes want the UI's session.
    assert_eq!(api.get("/ui/api/k8s/api/v1/pods").code, 401);
    let reply = anonymous.get("/ui/");
    assert_eq!((reply.code, reply.header_values("location")), (303, vec!["/ui/login".to_string()]));
    // A state-changing request without the UI's header is refused even with a session (see below).

    c.goto(&format!("{base}/ui/")).await.expect("open /ui/");
    wait_js(&c, "the login form", "location.pathname === '/ui/login' && !!document.getElementById('token')").await;
    // A wrong token is refused.
    c.find(Locator::Id("token")).await.unwrap().send_keys("not-the-token").await.unwrap();
    c.find(Locator::Id("signin")).await.unwrap().click().await.unwrap();
    wait_js(&c, "the refusal", "location.search === '?failed' && document.querySelector('.failed.shown') !== null")
        .await;
    screenshot(&c, &shots, "ui-login.png").await;
    let token = api.token.clone().expect("token");
    c.find(Locator::Id("token")).await.unwrap().send_keys(&token).await.unwrap();
    c.find(Locator::Id("signin")).await.unwrap().click().await.unwrap();
    wait_js(&c, "the Jobs page", "!!document.querySelector('#jobs tbody')").await;

    // The list follows a Job from Running to Complete without a reload (the marker survives only if the page
    // is never loaded again).
    c.execute("window.stillTheSamePage = true; return 1", vec![]).await.unwrap();
    api.post(
        "/apis/batch/v1/namespaces/default/jobs",
        &job(
            "quick",
            json!({"template": {"spec": {"restartPolicy": "Never",
            "containers": [container("echo working; sleep 3; echo finished")]}}}),
        ),
    )
    .expect(201);
    wait_js(
        &c,
        "quick listed as Running",
        "document.querySelector('tr[data-job=\"default/quick\"]')?.dataset.status === 'Running'",
    )
    .await;
    wait_js(
        &c,
        "quick listed as Complete",
        "document.querySelector('tr[data-job=\"default/quick\"]')?.dataset.status === 'Complete'",
    )
    .await;
    let text = wait_js(
        &c,
        "quick's completions",
        "document.querySelector('tr[data-job=\"default/quick\"] .count')?.textContent",
    )
    .await;
    assert_eq!(text, json!("1/1"));
    assert_eq!(c.execute("return window.stillTheSamePage === true", vec![]).await.unwrap(), json!(true));

    // An Indexed Job whose index 1 fails once, then succeeds on its retry: three rows, one failed bar, one
    // retried row.
    let marks = tmp.path().join("marks");
    let script = "echo index $JOB_COMPLETION_INDEX; sleep 1; \
        if [ \"$JOB_COMPLETION_INDEX\" = 1 ] && [ ! -e /marks/failed-once ]; then touch /marks/failed-once; echo failing; exit 3; fi; \
        echo index $JOB_COMPLETION_INDEX done";
    let mut work = container(script);
    work["volumeMounts"] = json!([{"name": "marks", "mountPath": "/marks"}]);
    api.post(
        "/apis/batch/v1/namespaces/default/jobs",
        &job("indexed", json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3, "backoffLimit": 2,
            "template": {"spec": {"restartPolicy": "Never", "containers": [work],
                "volumes": [{"name": "marks", "hostPath": {"path": marks.display().to_string(), "type": "DirectoryOrCreate"}}]}}})),
    )
    .expect(201);
    c.goto(&format!("{base}/ui/#/job/default/indexed")).await.unwrap();
    wait_js(&c, "a failed bar", "document.getElementById('timeline-summary')?.dataset.failed === '1'").await;
    wait_js(&c, "the Job completes", "document.querySelector('#job-status .badge')?.textContent === 'Complete'").await;
    let summary = wait_js(
        &c,
        "the retried row",
        "(s => s && s.dataset.retried === '1' && s.dataset.pods === '4' && {rows: s.dataset.rows, failed: s.dataset.failed})(document.getElementById('timeline-summary'))",
    )
    .await;
    assert_eq!(summary, json!({"rows": "3", "failed": "1"}));
    assert!(is_complete(&get_job(&api, "indexed")));
    let yaml = c.find(Locator::Id("job-yaml")).await.unwrap().text().await.unwrap();
    assert!(yaml.contains("completionMode: Indexed"), "{yaml}");
    screenshot(&c, &shots, "ui-job.png").await;

    // A pod's page shows its logs.
    let pods = api
        .get("/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io/job-completion-index%3D2")
        .expect(200);
    let pod = pods["items"][0]["metadata"]["name"].as_str().expect("the pod of index 2").to_string();
    c.goto(&format!("{base}/ui/#/pod/default/{pod}")).await.unwrap();
    wait_js(&c, "the pod's log", "document.getElementById('logs')?.textContent.includes('index 2 done')").await;
    wait_js(&c, "the container's state", "document.getElementById('containers')?.textContent.includes('exit 0')").await;
    screenshot(&c, &shots, "ui-pod.png").await;

    // Suspend from the UI suspends the Job (after the confirmation), and the page offers Resume.
    api.post(
        "/apis/batch/v1/namespaces/default/jobs",
        &job(
            "long",
            json!({"completions": 3, "parallelism": 1, "template": {"spec": {"restartPolicy": "Never",
            "containers": [container("sleep 60")]}}}),
        ),
    )
    .expect(201);
    c.goto(&format!("{base}/ui/#/job/default/long")).await.unwrap();
    wait_js(&c, "a running pod", "document.getElementById('timeline-summary')?.dataset.pods === '1'").await;
    c.wait().at_most(PAGE_DEADLINE).for_element(Locator::Id("suspend")).await.unwrap().click().await.unwrap();
    wait_js(&c, "the confirmation", "document.getElementById('confirm').open").await;
    c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
    let suspended = eventually(PAGE_DEADLINE, || {
        let j = get_job(&api, "long");
        let condition = j["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Suspended" && c["status"] == "True"));
        (j["spec"]["suspend"] == json!(true) && condition).then_some(())
    });
    assert!(suspended.is_some(), "the Job was not suspended: {}", get_job(&api, "long"));
    wait_js(&c, "the Resume button", "!!document.getElementById('resume')").await;
    wait_js(&c, "the suspended badge", "document.querySelector('#job-status .badge')?.textContent === 'Suspended'")
        .await;

    // The pages' state-changing calls need the UI's header: the same PATCH without it is refused even from
    // inside the signed-in page.
    let code = c
        .execute(
            "return fetch('/ui/api/k8s/apis/batch/v1/namespaces/default/jobs/long', {method: 'PATCH', \
             headers: {'Content-Type': 'application/merge-patch+json'}, body: '{\"spec\":{\"suspend\":false}}'}).then(r => r.status)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(code, json!(403));
    assert_eq!(get_job(&api, "long")["spec"]["suspend"], json!(true));

    c.goto(&format!("{base}/ui/#/jobs")).await.unwrap();
    wait_js(&c, "three Jobs listed", "document.querySelectorAll('#jobs tr[data-job]').length === 3").await;
    screenshot(&c, &shots, "ui-jobs.png").await;
    c.goto(&format!("{base}/ui/#/nodes")).await.unwrap();
    wait_js(&c, "the node", "!!document.querySelector('#nodes tr[data-node]')").await;
    screenshot(&c, &shots, "ui-nodes.png").await;

    // Scaling and deleting, each after its confirmation: the parallelism changes, then the Job goes with its
    // pods (foreground, as chosen) and the page returns to the list.
    c.goto(&format!("{base}/ui/#/job/default/long")).await.unwrap();
    let input = c.wait().at_most(PAGE_DEADLINE).for_element(Locator::Id("parallelism")).await.unwrap();
    wait_js(&c, "the parallelism shown", "document.getElementById('parallelism').value === '1'").await;
    input.clear().await.unwrap();
    input.send_keys("2").await.unwrap();
    c.find(Locator::Id("scale")).await.unwrap().click().await.unwrap();
    wait_js(&c, "the confirmation", "document.getElementById('confirm').open").await;
    c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
    let scaled = eventually(PAGE_DEADLINE, || (get_job(&api, "long")["spec"]["parallelism"] == json!(2)).then_some(()));
    assert!(scaled.is_some(), "parallelism not set: {}", get_job(&api, "long"));
    c.find(Locator::Id("cascade")).await.unwrap().select_by_value("Foreground").await.unwrap();
    c.find(Locator::Id("delete")).await.unwrap().click().await.unwrap();
    let question = wait_js(
        &c,
        "the confirmation",
        "document.getElementById('confirm').open && document.getElementById('confirm-text').textContent",
    )
    .await;
    assert!(question.as_str().is_some_and(|q| q.contains("after its pods")), "{question}");
    c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
    let gone = eventually(PAGE_DEADLINE, || {
        (api.get("/apis/batch/v1/namespaces/default/jobs/long").code == 404).then_some(())
    });
    assert!(gone.is_some(), "the Job was not deleted");
    wait_js(
        &c,
        "back on the list, without the Job",
        "location.hash === '#/jobs' && document.querySelectorAll('#jobs tr[data-job]').length === 2",
    )
    .await;

    // Signing out ends the session; `runlet ui --print-url` gives a link that signs in once.
    c.find(Locator::Css("form[action=logout] button")).await.unwrap().click().await.unwrap();
    wait_js(&c, "the login form after signing out", "location.pathname === '/ui/login'").await;
    let out = Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["ui", "--print-url", "--kubeconfig"])
        .arg(server.kubeconfig())
        .output()
        .expect("runlet ui");
    assert!(out.status.success(), "runlet ui: {}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(link.starts_with(&format!("{base}/ui/signin?ticket=")), "{link}");
    c.goto(&link).await.unwrap();
    wait_js(&c, "signed in by the link", "!!document.querySelector('#jobs tbody')").await;
    c.find(Locator::Css("form[action=logout] button")).await.unwrap().click().await.unwrap();
    wait_js(&c, "signed out again", "location.pathname === '/ui/login'").await;
    c.goto(&link).await.unwrap();
    wait_js(
        &c,
        "a spent link refused",
        "location.search === '?expired' && document.querySelector('.expired.shown') !== null",
    )
    .await;

    c.close().await.expect("close the browser");
    drop(driver);
}
