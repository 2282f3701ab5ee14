//! A real etcd for tests: its own process on free loopback ports with a private data dir, stopped
//! when dropped. Shared by the store's tests and runlet's (which include this file by path).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd gets to answer its health check after starting (a loaded machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    /// Plain HTTP `/health`, whatever the client port speaks.
    metrics_port: u16,
    tls: bool,
}

/// File names, in the server's dir, of the material a TLS etcd uses and its clients need.
pub const CA_FILE: &str = "ca.crt";
pub const CLIENT_CERT_FILE: &str = "client.crt";
pub const CLIENT_KEY_FILE: &str = "client.key";
const SERVER_CERT_FILE: &str = "server.crt";
const SERVER_KEY_FILE: &str = "server.key";

/// A CA, a serving certificate for 127.0.0.1 and a client certificate, written into `dir`.
fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let ca_params = || {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params().self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params(), &ca_key);
    let issue = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cert_file: &str, key_file: &str| {
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("certificate");
        std::fs::write(dir.join(cert_file), cert.pem()).expect("write certificate");
        std::fs::write(dir.join(key_file), key.serialize_pem()).expect("write key");
    };
    std::fs::write(dir.join(CA_FILE), ca.pem()).expect("write CA");
    let server_names = vec!["127.0.0.1".into(), "localhost".into()];
    issue(server_names, ExtendedKeyUsagePurpose::ServerAuth, SERVER_CERT_FILE, SERVER_KEY_FILE);
    issue(vec!["runlet".into()], ExtendedKeyUsagePurpose::ClientAuth, CLIENT_CERT_FILE, CLIENT_KEY_FILE);
}

/// True when an `etcd` binary is on PATH. Without one, a test says so and skips, except in CI, where
/// `scripts/setup` installs etcd and a missing one is a failure.
pub fn have_etcd(test: &str) -> bool {
    let found = Command::new("etcd").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: etcd is not installed (scripts/setup installs it)");
        eprintln!("SKIPPED {test}: no etcd on PATH (scripts/setup installs Debian's etcd-server)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A private data dir, in memory when /dev/shm exists (etcd syncs every write; tests need not).
fn data_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir for etcd")
}

impl EtcdServer {
    /// Starts etcd, or None (after printing why) when there is none to start.
    pub fn start(test: &str) -> Option<EtcdServer> {
        Self::start_with(test, false)
    }

    /// Starts etcd serving clients over TLS only, and only those with a certificate from its CA: the
    /// files are at [`EtcdServer::file`] (`CA_FILE`, `CLIENT_CERT_FILE`, `CLIENT_KEY_FILE`).
    pub fn start_tls(test: &str) -> Option<EtcdServer> {
        Self::start_with(test, true)
    }

    fn start_with(test: &str, tls: bool) -> Option<EtcdServer> {
        if !have_etcd(test) {
            return None;
        }
        // A port picked free may be taken before etcd binds it: then try other ports.
        for _ in 0..3 {
            let mut etcd = EtcdServer {
                child: None,
                dir: data_root(),
                client_port: free_port(),
                peer_port: free_port(),
                metrics_port: free_port(),
                tls,
            };
            if tls {
                write_certificates(etcd.dir.path());
            }
            if etcd.launch() {
                return Some(etcd);
            }
        }
        panic!("{test}: etcd did not start (see its log above)");
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// A file of this server's TLS material.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Starts the process on this server's ports and data dir; true once it answers.
    fn launch(&mut self) -> bool {
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("etcd log");
        let mut command = Command::new("etcd");
        if self.tls {
            command
                .arg(format!("--cert-file={}", self.file(SERVER_CERT_FILE).display()))
                .arg(format!("--key-file={}", self.file(SERVER_KEY_FILE).display()))
                .arg(format!("--trusted-ca-file={}", self.file(CA_FILE).display()))
                .arg("--client-cert-auth");
        }
        let child = command
            .arg("--name=test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={}", self.endpoint()))
            .arg(format!("--advertise-client-urls={}", self.endpoint()))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg(format!("--listen-metrics-urls=http://127.0.0.1:{}", self.metrics_port))
            // Room for runlet's largest object (1.5 MiB) and the request around it.
            .arg("--max-request-bytes=2097152")
            .args(["--logger=zap", "--log-level=warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                eprintln!(
                    "etcd exited with {status}: {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
                self.child = None;
                return false;
            }
            if self.healthy() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        false
    }

    /// True when etcd's `/health` says so.
    fn healthy(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.metrics_port);
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.contains(r#""health":"true""#)
    }

    /// Kills etcd at once (SIGKILL), as a machine losing power would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data: everything committed is still there.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.launch(),
            "etcd did not start again: {}",
            std::fs::read_to_string(self.log_path()).unwrap_or_default()
        );
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}
