//! The fault matrix: `runlet server` is killed with SIGKILL at seeded random moments while a Job runs, and after
//! every restart the counts must be exact and no write the API acknowledged may be missing.
//!
//! The test plays kubelet (the server runs without its agent): a thread marks each pod of the Job `Succeeded` and
//! logs every status write the API acknowledged with 200. The kill moments are chosen by progress (after a
//! seeded random number of further acknowledged writes), never by sleeping. Set `RUNLET_FAULT_SEED` to replay a
//! failing run (the seed is printed first); `RUNLET_FAULT_TRIALS` sets the kills per Job (10 by default).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server, eventually};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
const TRACKING: &str = "batch.kubernetes.io/job-tracking";
/// How long the Job may take to finish after the last restart (hundreds of pods through a loaded machine).
const FINISH: Duration = Duration::from_secs(240);

/// SplitMix64: the same kill moments for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("RUNLET_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn trials() -> u64 {
    std::env::var("RUNLET_FAULT_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

/// The writes the API acknowledged: pod uid → its name and index (when the Job is Indexed).
#[derive(Default)]
struct Acknowledged {
    succeeded: BTreeMap<String, (String, Option<String>)>,
}

/// Plays kubelet for every pod of Job `job`: marks each `Succeeded` and logs the writes the API acknowledged.
/// Requests made while the server is down fail (code 0) and are retried on the next pass.
fn kubelet(api: Api, job: String, acked: Arc<Mutex<Acknowledged>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let list = api.get(&format!("{PODS}?labelSelector=job-name%3D{job}"));
        // A kill can cut an answer short: only a whole list counts.
        let Ok(list) = serde_json::from_slice::<Value>(&list.body)
            .map_err(drop)
            .and_then(|l| if list.code == 200 { Ok(l) } else { Err(()) })
        else {
            continue;
        };
        let pods = list["items"].as_array().cloned().unwrap_or_default();
        let done: BTreeSet<String> = acked.lock().unwrap().succeeded.keys().cloned().collect();
        for pod in pods {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if done.contains(&uid)
                || pod["status"]["phase"] == "Succeeded"
                || pod["metadata"]["deletionTimestamp"].is_string()
            {
                continue;
            }
            // The uid makes it a write to this pod only, never to a newer one of the same name.
            let status = json!({"metadata": {"uid": uid}, "status": succeeded_status(&pod)});
            let r = api.patch(&format!("{PODS}/{name}/status"), "application/strategic-merge-patch+json", &status);
            if r.code == 200 {
                let index = pod["metadata"]["annotations"][INDEX_KEY].as_str().map(str::to_string);
                acked.lock().unwrap().succeeded.insert(uid, (name, index));
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
        }
    }
}

fn succeeded_status(pod: &Value) -> Value {
    let now = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()).to_string();
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "restartCount": 0,
                   "started": false,
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}})
        })
        .collect();
    json!({
        "phase": "Succeeded",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
        "containerStatuses": containers,
    })
}

/// The Job's pods, by uid.
fn pods(api: &Api, job: &str) -> BTreeMap<String, Value> {
    let list = api.get(&format!("{PODS}?labelSelector=job-name%3D{job}")).expect(200);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["metadata"]["uid"].as_str().unwrap_or_default().to_string(), p.clone()))
        .collect()
}

fn count(job: &Value, field: &str) -> u64 {
    job["status"][field].as_u64().unwrap_or(0)
}

/// What must hold right after any restart: every acknowledged write is there, and nothing is counted twice
/// or counted without a pod to show for it.
fn check_after_restart(api: &Api, name: &str, acked: &Acknowledged, indexed: bool, trial: u64) {
    let job = api.get(&format!("{JOBS}/{name}")).expect(200);
    let pods = pods(api, name);
    for (uid, (pod, _)) in &acked.succeeded {
        let stored = pods.get(uid).unwrap_or_else(|| panic!("trial {trial}: acknowledged pod {pod} ({uid}) is gone"));
        assert_eq!(stored["status"]["phase"], "Succeeded", "trial {trial}: acknowledged write to {pod} lost: {stored}");
    }
    let succeeded_pods = pods.values().filter(|p| p["status"]["phase"] == "Succeeded").count() as u64;
    assert!(
        count(&job, "succeeded") <= succeeded_pods,
        "trial {trial}: succeeded {} but only {succeeded_pods} Succeeded pods",
        count(&job, "succeeded")
    );
    if indexed {
        let mut per_index: BTreeMap<String, usize> = BTreeMap::new();
        for p in pods.values().filter(|p| p["status"]["phase"] == "Succeeded") {
            let index = p["metadata"]["annotations"][INDEX_KEY].as_str().unwrap_or("?").to_string();
            *per_index.entry(index).or_default() += 1;
        }
        let twice: Vec<_> = per_index.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "trial {trial}: indexes succeeded more than once: {twice:?}");
    }
}

/// Runs Job `spec` to completion through `trials()` SIGKILLs of the server, checking after each restart and at
/// the end that the counts are exact.
fn kill_during(name: &str, spec: Value, completions: u64, indexed: bool) {
    let seed = seed();
    eprintln!("fault matrix {name}: RUNLET_FAULT_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {
            // No scheduler binds these pods: the test is their kubelet.
            "schedulerName": "example.com/tests",
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        }}},
    });
    for (k, v) in spec.as_object().into_iter().flatten() {
        job["spec"][k] = v.clone();
    }
    api.post(JOBS, &job).expect(201);

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let player = {
        let (api, acked, stop, name) = (api.clone(), acked.clone(), stop.clone(), name.to_string());
        std::thread::spawn(move || kubelet(api, name, acked, stop))
    };
    let acked_count = || acked.lock().unwrap().succeeded.len() as u64;
    let trials = trials();
    for trial in 0..trials {
        // A random amount of further progress, so the kills spread over the whole run.
        let step = 1 + rng.below(completions / (trials + 1)).max(1);
        let target = (acked_count() + step).min(completions.saturating_sub(1));
        eventually(FINISH, || (acked_count() >= target).then_some(()))
            .unwrap_or_else(|| panic!("trial {trial}: stuck at {} acknowledged pods", acked_count()));
        let (dir, addr) = server.kill9();
        server = Server::start(&dir, &addr.to_string());
        check_after_restart(&api, name, &acked.lock().unwrap(), indexed, trial);
    }

    // After the last restart the Job finishes, counted exactly.
    eventually(FINISH, || {
        let j = api.get(&format!("{JOBS}/{name}")).expect(200);
        let complete = j["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete" && c["status"] == "True"));
        (complete && j["status"].get("uncountedTerminatedPods").is_none_or(|u| u == &json!({}))).then_some(())
    })
    .unwrap_or_else(|| panic!("{name} did not complete: {}", api.get(&format!("{JOBS}/{name}")).text()));
    stop.store(true, Ordering::SeqCst);
    player.join().expect("kubelet thread");
    // Read again with the kubelet stopped: nothing changes the pods any more.
    let done = api.get(&format!("{JOBS}/{name}")).expect(200);
    let acked = acked.lock().unwrap();
    check_after_restart(&api, name, &acked, indexed, trials);
    let pods = pods(&api, name);
    let succeeded: Vec<&Value> = pods.values().filter(|p| p["status"]["phase"] == "Succeeded").collect();
    assert_eq!(count(&done, "succeeded"), succeeded.len() as u64, "every Succeeded pod counted once: {done}");
    assert!(count(&done, "succeeded") >= completions, "{done}");
    assert_eq!(count(&done, "failed"), 0, "{done}");
    for p in &succeeded {
        let finalizers = p["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        assert!(!finalizers.iter().any(|f| f == TRACKING), "counted pod kept its tracking finalizer: {p}");
    }
    if indexed {
        assert_eq!(count(&done, "succeeded"), completions, "{done}");
        assert_eq!(done["status"]["completedIndexes"], format!("0-{}", completions - 1));
        let indexes: BTreeSet<&str> =
            succeeded.iter().filter_map(|p| p["metadata"]["annotations"][INDEX_KEY].as_str()).collect();
        assert_eq!(indexes.len() as u64, completions, "each index succeeded exactly once");
    }
    eprintln!("fault matrix {name}: {trials} kills, {} acknowledged writes all kept", acked.succeeded.len());
}

#[test]
fn kill9_during_a_nonindexed_job_keeps_counts_exact() {
    kill_during("nonindexed", json!({"completions": 300, "parallelism": 30}), 300, false);
}

#[test]
fn kill9_during_an_indexed_job_keeps_counts_exact() {
    kill_during("indexed", json!({"completions": 200, "parallelism": 30, "completionMode": "Indexed"}), 200, true);
}

/// A size-limited tmpfs the test mounts (root only), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "runlet-test"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        // Whole chunks while they fit, then single bytes, until nothing more fits.
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_fails_writes_with_a_status_and_keeps_reads_and_data() {
    let Some(disk) = SmallDisk::mount(64) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = disk.dir.path().join("data");
    let server = Server::start(&data, "127.0.0.1:0");
    let api = Api::new(&server);
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
               "spec": {"managedBy": "example.com/tests", "template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}})
    };
    api.post(JOBS, &job("before")).expect(201);

    let filler = disk.fill();
    // Writes fail with a 5xx Status (the store cannot grow); each is an answer, not a dropped connection.
    let mut refused = 0;
    for n in 0..20 {
        let mut big = job(&format!("full-{n}"));
        big["metadata"]["annotations"] = json!({"pad": "x".repeat(200 * 1024)});
        let r = api.post(JOBS, &big);
        if r.code >= 500 {
            let s = r.json();
            assert_eq!(s["kind"], "Status", "{s}");
            assert_eq!(s["status"], "Failure", "{s}");
            if refused == 0 {
                eprintln!("a write on the full disk: {} {}", r.code, s["message"]);
            }
            refused += 1;
        } else {
            assert_eq!(r.code, 201, "{}", r.text());
        }
    }
    assert!(refused > 0, "no write failed on a full disk");
    // Reads keep working.
    api.get(&format!("{JOBS}/before")).expect(200);
    api.get(JOBS).expect(200);

    // Space comes back: writes succeed again.
    std::fs::remove_file(&filler).expect("free the disk");
    eventually(Duration::from_secs(30), || (api.post(JOBS, &job("after")).code == 201).then_some(()))
        .expect("writes succeed once space returns");

    // Nothing is corrupted: a restart reads every acknowledged object back.
    let listed = api.get(JOBS).expect(200);
    let names = |list: &Value| -> BTreeSet<String> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    let (dir, addr) = server.kill9();
    let server = Server::start(&dir, &addr.to_string());
    let api = Api::new(&server);
    let relisted = api.get(JOBS).expect(200);
    assert_eq!(names(&relisted), names(&listed));
    assert!(names(&relisted).contains("before") && names(&relisted).contains("after"));
    drop(server);
}

/// Whether a process whose command line holds `marker` runs on this machine.
fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
    })
}

fn spawn_agent(server: &Server, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_runlet"))
        .args(["agent", "--node-name", "crashy", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("--dir")
        .arg(dir)
        .env("RUNLET_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn runlet agent")
}

fn terminated(pod: &Value) -> Option<(String, i64, String, u64)> {
    let cs = &pod["status"]["containerStatuses"][0];
    let code = cs["state"]["terminated"]["exitCode"].as_i64()?;
    let phase = pod["status"]["phase"].as_str()?.to_string();
    let id = cs["containerID"].as_str().unwrap_or_default().to_string();
    Some((phase, code, id, cs["restartCount"].as_u64().unwrap_or(0)))
}

#[test]
fn kill9_of_the_agent_mid_pod_adopts_running_containers_and_reports_real_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), "127.0.0.1:0");
    let api = Api::new(&server);
    let agent_dir = tmp.path().join("agent");
    let mut agent = spawn_agent(&server, &agent_dir);
    let ready = |api: &Api| {
        let node = api.get("/api/v1/nodes/crashy");
        node.code == 200
            && node.json()["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    };
    eventually(Duration::from_secs(30), || ready(&api).then_some(())).expect("the agent's node is Ready");
    // Unique markers find the containers' processes on this machine.
    let marker = format!("m{}", std::process::id());
    let (ends_early, ends_late) = (format!("{marker}-early"), format!("{marker}-late"));
    let pod = |name: &str, script: String| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"nodeName": "crashy", "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}})
    };
    // One container ends while the agent is down; one outlives the agent's restart.
    api.post(PODS, &pod("early", format!("sleep 1; exit 7 # {ends_early}"))).expect(201);
    api.post(PODS, &pod("late", format!("sleep 8; exit 3 # {ends_late}"))).expect(201);
    for name in ["early", "late"] {
        eventually(Duration::from_secs(30), || {
            (api.get(&format!("{PODS}/{name}")).json()["status"]["phase"] == "Running").then_some(())
        })
        .unwrap_or_else(|| panic!("{name} never ran"));
    }
    let late_id = api.get(&format!("{PODS}/late")).json()["status"]["containerStatuses"][0]["containerID"].clone();

    let _ = agent.kill();
    let _ = agent.wait();
    eventually(Duration::from_secs(20), || (!process_running(&ends_early)).then_some(()))
        .expect("the early container ends while the agent is down");
    assert!(process_running(&ends_late), "the late container must still run when the agent comes back");
    let mut agent = spawn_agent(&server, &agent_dir);

    let early = eventually(Duration::from_secs(30), || terminated(&api.get(&format!("{PODS}/early")).json()));
    let late = eventually(Duration::from_secs(40), || terminated(&api.get(&format!("{PODS}/late")).json()));
    let _ = agent.kill();
    let _ = agent.wait();
    let (phase, code, _, restarts) = early.expect("early reported");
    assert_eq!((phase.as_str(), code, restarts), ("Failed", 7, 0));
    let (phase, code, id, restarts) = late.expect("late reported");
    assert_eq!((phase.as_str(), code, restarts), ("Failed", 3, 0), "adopted, not run again");
    assert_eq!(json!(id), late_id, "the adopted container keeps its id");
}
