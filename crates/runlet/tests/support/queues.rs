//! Queue services for the job-pattern examples: a Redis server and a RabbitMQ broker, each started by the test
//! on 127.0.0.1 on free ports with a private data dir (never the system service), and stopped on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Fails the test with the fix when a program scripts/setup installs is missing.
pub fn require(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program} || test -x {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{program} is not installed: run scripts/setup");
}

/// Waits until `ready` holds; panics with `what` and the service's log otherwise.
fn wait_ready(what: &str, timeout: Duration, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} did not become ready within {timeout:?}; its output:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends SIGTERM to a process group and waits for its leader, SIGKILLing it after 10 s.
fn stop_group(child: &mut Child) {
    let pgid = child.id() as i32;
    let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pgid}")]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
    let _ = child.wait();
}

/// `redis-server` on 127.0.0.1, without persistence, in its own process group.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        require("redis-server");
        require("redis-cli");
        let dir = tempfile::tempdir().expect("redis dir");
        let port = free_port();
        let log = dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn redis-server");
        let redis = Redis { child, port, _dir: dir };
        wait_ready("redis-server", Duration::from_secs(30), &log, || redis.cli(&["PING"]).trim() == "PONG");
        redis
    }

    /// One `redis-cli` command; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// A RabbitMQ broker on 127.0.0.1 (AMQP, Erlang distribution and its own epmd all on loopback ports of their
/// own), with its node name, cookie, database and logs in a private dir.
pub struct RabbitMq {
    child: Child,
    pub port: u16,
    epmd_port: u16,
    _dir: tempfile::TempDir,
}

const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

impl RabbitMq {
    pub fn start() -> RabbitMq {
        require(RABBITMQ_SERVER);
        require("amqp-declare-queue");
        let dir = tempfile::tempdir().expect("rabbitmq dir");
        let d = dir.path();
        std::fs::write(d.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        let (port, dist_port, epmd_port) = (free_port(), free_port(), free_port());
        let log = d.join("out.log");
        let out = std::fs::File::create(&log).expect("rabbitmq log");
        let child = Command::new(RABBITMQ_SERVER)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", d)
            .env("RABBITMQ_NODENAME", format!("runlet-test-{port}@localhost"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("spawn rabbitmq-server");
        let broker = RabbitMq { child, port, epmd_port, _dir: dir };
        // The broker takes a while to boot; it is up once a client can declare a queue.
        wait_ready("rabbitmq-server", Duration::from_secs(120), &log, || {
            Command::new("amqp-declare-queue")
                .args(["--url", &broker.url(), "-q", "readiness-probe"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        broker
    }

    /// The AMQP URL of the broker (the default `guest` user, which may only connect from loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}", self.port)
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        stop_group(&mut self.child);
        // The broker started an epmd daemon of its own on its port: stop that too.
        let _ = Command::new("epmd")
            .arg("-kill")
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
