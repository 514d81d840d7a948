//! Two example-server processes with the same `NONCE_KEY` and `REDIS_URL` behave as one
//! server for real clients: Python `requests` alternating between them keeps one nonce
//! (nc 1, 2, 3, ... across both), and a captured `(nonce, nc)` replayed on the other one
//! with curl is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::support::{RedisServer, wait_until};

const NONCE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Builds the example server with this test build's features (so nothing but the
/// example itself is compiled) and returns its path.
fn example_binary() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut features = vec!["axum", "redis"];
        if cfg!(feature = "redis-tls") {
            features.push("redis-tls");
        }
        let output = Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--example", "server", "--message-format=json"])
            .args(["--features", &features.join(",")])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build --example server");
        assert!(
            output.status.success(),
            "cargo build --example server failed"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "server")
            .find_map(|m| m["executable"].as_str().map(str::to_owned))
            .expect("cargo reported the example's executable")
    })
}

/// One example-server process, killed on drop.
pub(crate) struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, no path.
    pub(crate) url: String,
}

impl ServerProcess {
    /// The example server with `NONCE_KEY` and `REDIS_URL` set, as a deployment of several
    /// instances runs it.
    pub(crate) fn start(redis_url: &str) -> Self {
        let mut child = Command::new(example_binary())
            .env("ADDR", "127.0.0.1:0")
            .env("NONCE_KEY", NONCE_KEY)
            .env("REDIS_URL", redis_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the example server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = lines
            .find_map(|line| line.ok()?.strip_prefix("listening on ").map(str::to_owned))
            .expect("the server prints its address");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, url }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `requests` with one `HTTPDigestAuth`, getting each URL in turn; prints, per request,
/// the status, how many challenges it took, and the `Authorization` it finally sent.
const ALTERNATE: &str = r#"
import json, sys, requests
from requests.auth import HTTPDigestAuth
user, password, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
session = requests.Session()
session.auth = HTTPDigestAuth(user, password)
for url in urls:
    r = session.get(url, timeout=10)
    print(json.dumps({"url": url, "status": r.status_code, "challenges": len(r.history),
                      "authorization": r.request.headers.get("Authorization", "")}))
"#;

pub(crate) fn curl_status(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .expect("curl is installed by tests/interop-setup.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn param<'a>(authorization: &'a str, name: &str) -> &'a str {
    let params = authorization.strip_prefix("Digest ").unwrap();
    params
        .split(", ")
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .unwrap()
        .trim_matches('"')
}

#[test]
fn two_example_servers_with_one_key_and_one_redis_behave_as_one() {
    let redis = RedisServer::start();
    let a = ServerProcess::start(&redis.url());
    let b = ServerProcess::start(&redis.url());
    let path = "/api/whoami";
    let (url_a, url_b) = (format!("{}{path}", a.url), format!("{}{path}", b.url));
    wait_until(|| curl_status(&[&url_b]) == "401", "server b");

    // curl: a full handshake on each.
    for url in [&url_a, &url_b] {
        let status = curl_status(&["--digest", "-u", "Mufasa:Circle of Life", url]);
        assert_eq!(status, "200", "curl --digest {url}");
    }

    // requests: one nonce, taken from a's challenge, counted up across both servers.
    let urls: Vec<&str> = (0..10)
        .map(|i| if i % 2 == 0 { &*url_a } else { &*url_b })
        .collect();
    let out = Command::new("python3")
        .args(["-c", ALTERNATE, "Mufasa", "Circle of Life"])
        .args(&urls)
        .output()
        .expect("python3 with requests is installed by tests/interop-setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 10);
    for report in &reports {
        assert_eq!(report["status"], 200, "{report}");
    }
    let challenges: u64 = reports
        .iter()
        .map(|r| r["challenges"].as_u64().unwrap())
        .sum();
    assert_eq!(challenges, 1, "only the first request needed a challenge");
    let headers: Vec<&str> = reports
        .iter()
        .map(|r| r["authorization"].as_str().unwrap())
        .collect();
    let nonce = param(headers[0], "nonce");
    for (i, header) in headers.iter().enumerate() {
        assert_eq!(param(header, "nonce"), nonce, "one nonce on both servers");
        assert_eq!(param(header, "nc"), format!("{:08x}", i + 1));
    }

    // A captured request from a (nc 3, to a) replayed on b, and on a: refused both times.
    // (The URI must match, so the replay asks for the same path on the other server.)
    let captured = headers[2];
    for url in [&url_b, &url_a] {
        let status = curl_status(&["-H", &format!("Authorization: {captured}"), url]);
        assert_eq!(status, "401", "replay on {url}");
    }
    // And the servers still serve the honest client afterwards.
    assert_eq!(
        curl_status(&["--digest", "-u", "Mufasa:Circle of Life", &url_b]),
        "200"
    );
}

#[test]
fn an_example_server_started_while_redis_is_down_answers_500_then_recovers() {
    let port = crate::support::free_port(false);
    let server = ServerProcess::start(&format!("redis://127.0.0.1:{port}/"));
    let url = format!("{}/api/whoami", server.url);
    let digest = ["--digest", "-u", "Mufasa:Circle of Life", url.as_str()];
    assert_eq!(curl_status(&[&url]), "401", "challenges need no Redis");
    assert_eq!(
        curl_status(&digest),
        "500",
        "authenticated requests fail closed"
    );
    let _redis = RedisServer::start_on(port);
    wait_until(
        || curl_status(&digest) == "200",
        "recovery once Redis is up",
    );
}

#[test]
fn a_bad_nonce_key_is_a_clear_startup_error() {
    for (value, says) in [
        ("abc", "hex"),
        ("zz".repeat(32).as_str(), "hex"),
        ("ab".repeat(16).as_str(), "at least 64 hex digits"),
    ] {
        let out = Command::new(example_binary())
            .env("ADDR", "127.0.0.1:0")
            .env("NONCE_KEY", value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "NONCE_KEY={value} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "NONCE_KEY={value}: {stderr}");
        assert!(
            !stderr.contains(value) || value.len() < 8,
            "echoes the key: {stderr}"
        );
    }
}
