//! Real Redis servers for the tests: a single node (plain or TLS) and a 3-primary Redis
//! Cluster, each on free loopback ports in its own temporary directory, killed on drop.
//! `redis-server` and `redis-cli` come from Debian's packages, installed by
//! tests/redis-setup.sh (which tests/run-all.sh calls); without them the tests fail.

#![allow(unreachable_pub)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const STARTUP: Duration = Duration::from_secs(15);

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tda-{name}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on now (nor on `port + 10000`, a cluster's bus port,
/// when `bus` is set).
pub fn free_port(bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn tool(name: &'static str) -> &'static str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "{name} is missing: run `bash tests/redis-setup.sh` (tests/run-all.sh does)"
    );
    name
}

/// `redis-cli` against `port`, returning its standard output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(tool("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Certificates for a TLS server on 127.0.0.1: a CA and a server certificate it signed.
pub struct Certificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certificates {
    pub fn make(dir: &Path) -> Self {
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is needed for the TLS test (apt-get install openssl)");
            assert!(status.success(), "openssl {args:?} failed");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=tda-test-ca",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Certificates {
            ca: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }
}

/// One `redis-server` process; killed on drop.
pub struct RedisServer {
    pub port: u16,
    /// The TLS port, when started with certificates.
    pub tls_port: Option<u16>,
    args: Vec<String>,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// A plain single node without persistence: what it holds dies with it.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A plain single node on `port`.
    pub fn start_on(port: u16) -> Self {
        Self::start_on_with(port, &[])
    }

    /// A single node with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_on_with(free_port(false), extra)
    }

    fn start_on_with(port: u16, extra: &[&str]) -> Self {
        let dir = TempDir::new("redis");
        let mut server = RedisServer {
            port,
            tls_port: None,
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// A single node that also listens for TLS, with certificates made for 127.0.0.1.
    pub fn start_tls() -> (Self, Certificates) {
        let dir = TempDir::new("redis-tls");
        let certs = Certificates::make(dir.path());
        let tls_port = free_port(false);
        let args = [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            certs.cert.to_str().unwrap(),
            "--tls-key-file",
            certs.key.to_str().unwrap(),
            "--tls-ca-cert-file",
            certs.ca.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut server = RedisServer {
            port: free_port(false),
            tls_port: Some(tls_port),
            args,
            dir,
            child: None,
        };
        server.spawn();
        (server, certs)
    }

    fn spawn(&mut self) {
        let child = Command::new(tool("redis-server"))
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        wait_until(
            || cli(self.port, &["PING"]).trim() == "PONG",
            "redis-server PING",
        );
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The URL of a client speaking RESP3.
    pub fn resp3_url(&self) -> String {
        format!("redis://127.0.0.1:{}/?protocol=resp3", self.port)
    }

    /// A replica of `primary` (`--replicaof`), once its link to the primary is up.
    pub fn start_replica_of(primary: &RedisServer) -> Self {
        let port = primary.port.to_string();
        let replica = Self::start_with(&["--replicaof", "127.0.0.1", &port]);
        wait_until(
            || {
                replica
                    .cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
            },
            "replica link up",
        );
        replica
    }

    pub fn tls_url(&self) -> String {
        format!(
            "rediss://127.0.0.1:{}/",
            self.tls_port.expect("a TLS server")
        )
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// Stops the process (`SIGSTOP`) until [`resume`](Self::resume): it keeps its
    /// connections but answers nothing, as a replica cut off from its primary.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Kills the server (its data goes with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three primaries (no replicas) on loopback.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let dir = TempDir::new("redis-cluster");
                let mut node = RedisServer {
                    port: free_port(true),
                    tls_port: None,
                    args: [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                    dir,
                    child: None,
                };
                node.spawn();
                node
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(tool("redis-cli"))
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        wait_until(
            || {
                cluster.nodes.iter().all(|node| {
                    let info = node.cli(&["CLUSTER", "INFO"]);
                    info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
                })
            },
            "cluster_state:ok on every node",
        );
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// A "Redis" that accepts connections and never answers: every call must time out.
pub async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

pub fn wait_until(mut ready: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < STARTUP, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
