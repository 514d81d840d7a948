//! `examples/proxy.rs` over real sockets, driven by curl's `--proxy-digest` (the client does
//! its own Digest computation), in front of a recording origin on another loopback port.
//! The JDK's Digest proxy authentication is in the interop suite (`interop/proxy.rs`).

#![allow(missing_docs)]

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/proxy.rs"]
mod proxy_example;

#[path = "common/origin.rs"]
mod origin;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{Answer, Challenge, challenges_in, param, params};
use http::header::PROXY_AUTHENTICATE;
use origin::Origin;

const CREDENTIALS: &str = "Mufasa:Circle of Life";

async fn start_proxy() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy_example::serve(listener));
    addr
}

/// What curl did, from its `--verbose` trace.
#[derive(Debug)]
struct Curl {
    /// The final status.
    status: u16,
    body: String,
    /// Every status line curl received, in order (407s included).
    statuses: Vec<u16>,
    /// Every `Proxy-Authorization` curl sent.
    sent_proxy_authorization: Vec<String>,
    /// The headers of the last response.
    last_headers: http::HeaderMap,
    stderr: String,
}

/// `curl --proxy http://PROXY URL` with `args`; `--noproxy ""` so a `NO_PROXY` in the
/// environment cannot send the loopback target around the proxy.
async fn curl(proxy: SocketAddr, args: &[&str]) -> Curl {
    let proxy = format!("http://{proxy}");
    let mut command = tokio::process::Command::new("curl");
    command
        .args(["--silent", "--show-error", "--verbose", "--max-time", "20"])
        .args(["--noproxy", "", "--proxy", &proxy])
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("curl finished in time")
        .expect("curl runs (installed by tests/interop-setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    let mut statuses = Vec::new();
    let mut sent_proxy_authorization = Vec::new();
    let mut last_headers = http::HeaderMap::new();
    for line in stderr.lines() {
        if let Some(status_line) = line.strip_prefix("< HTTP/") {
            statuses.push(status_line.split(' ').nth(1).unwrap().parse().unwrap());
            last_headers.clear();
        } else if let Some((name, value)) = line.strip_prefix("< ").and_then(|l| l.split_once(':'))
        {
            last_headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        } else if let Some((name, value)) = line.strip_prefix("> ").and_then(|l| l.split_once(':'))
        {
            if name.eq_ignore_ascii_case("proxy-authorization") {
                sent_proxy_authorization.push(value.trim().to_owned());
            }
        }
    }
    Curl {
        status: status.parse().unwrap(),
        body: body.to_owned(),
        statuses,
        sent_proxy_authorization,
        last_headers,
        stderr,
    }
}

/// Asserts the proxy's `Proxy-Authentication-Info` proves it knows the password, by
/// recomputing `rspauth` independently from what curl sent.
fn assert_rspauth_verified(curl: &Curl, signed_uri: &str) {
    let sent = params(
        curl.sent_proxy_authorization
            .last()
            .unwrap()
            .strip_prefix("Digest ")
            .unwrap(),
    );
    assert_eq!(param(&sent, "uri"), Some(signed_uri), "{sent:?}");
    let challenge = Challenge {
        realm: param(&sent, "realm").unwrap().to_owned(),
        nonce: param(&sent, "nonce").unwrap().to_owned(),
        algorithm: param(&sent, "algorithm").unwrap().to_owned(),
        ..Challenge::default()
    };
    let nc = u32::from_str_radix(param(&sent, "nc").unwrap(), 16).unwrap();
    let answer = Answer {
        cnonce: param(&sent, "cnonce").unwrap(),
        ..Answer::get(signed_uri).nc(nc)
    };
    let info = params(
        curl.last_headers["proxy-authentication-info"]
            .to_str()
            .unwrap(),
    );
    assert_eq!(
        param(&info, "rspauth"),
        Some(answer.rspauth(&challenge).as_str())
    );
}

fn assert_407_with_challenges(curl: &Curl) {
    assert_eq!(curl.status, 407, "{}", curl.stderr);
    let offered = challenges_in(&curl.last_headers, &PROXY_AUTHENTICATE);
    let algorithms: Vec<_> = offered.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["SHA-256", "MD5"], "{}", curl.stderr);
    assert!(offered.iter().all(|c| c.realm == proxy_example::REALM));
    assert!(curl.last_headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn curl_proxy_digest_gets_through_to_a_loopback_origin_without_its_credentials() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let curl = curl(
        proxy,
        &[
            "--proxy-digest",
            "--proxy-user",
            CREDENTIALS,
            &origin.url("/dir/index.html?a=1"),
        ],
    )
    .await;

    assert_eq!(curl.status, 200, "{}", curl.stderr);
    assert_eq!(curl.statuses, [407, 200], "challenged, then let through");
    assert_eq!(curl.body, "origin saw GET /dir/index.html?a=1 body=");
    // curl signs the path and query of the absolute-form target it sends.
    assert_rspauth_verified(&curl, "/dir/index.html?a=1");
    let received = origin.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(
        received[0].target, "/dir/index.html?a=1",
        "origin-form at the origin"
    );
    assert!(received[0].headers.get("proxy-authorization").is_none());
    assert!(received[0].headers.get("proxy-connection").is_none());
    assert_eq!(
        received[0].headers["host"],
        origin.addr.to_string().as_str()
    );
}

#[tokio::test]
async fn curl_proxy_digest_posts_a_body() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let url = origin.url("/form");
    let args = [
        "--proxy-digest",
        "--proxy-user",
        CREDENTIALS,
        "--data",
        "a=1&b=2",
        &url,
    ];
    let curl = curl(proxy, &args).await;
    assert_eq!(curl.status, 200, "{}", curl.stderr);
    assert_eq!(curl.body, "origin saw POST /form body=a=1&b=2");
    assert_rspauth_verified(&curl, "/form");
}

#[tokio::test]
async fn curl_with_a_wrong_password_gets_407_and_nothing_is_forwarded() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let url = origin.url("/");
    let args = [
        "--proxy-digest",
        "--proxy-user",
        "Mufasa:Circle of Strife",
        &url,
    ];
    let curl = curl(proxy, &args).await;
    assert_407_with_challenges(&curl);
    assert_eq!(curl.sent_proxy_authorization.len(), 1, "curl answered once");
    assert!(origin.received().is_empty());
}

#[tokio::test]
async fn curl_without_credentials_gets_407_with_the_challenges() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let curl = curl(proxy, &[&origin.url("/")]).await;
    assert_407_with_challenges(&curl);
    assert_eq!(curl.body, "authentication required");
    assert!(origin.received().is_empty());
}

/// Authenticated, and still refused: a proxy that forwarded these would be open. The
/// machine's own host name resolves to loopback on most machines; the proxy resolves no
/// name, so even that one never reaches the origin listening there.
#[tokio::test]
async fn curl_to_a_non_loopback_target_gets_403_and_nothing_is_forwarded() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let port = origin.addr.port();
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut hosts = vec![
        "example.org".to_owned(),
        "127.0.0.1.nip.io".to_owned(),
        "localhost.localdomain".to_owned(),
        "[::ffff:8.8.8.8]".to_owned(),
    ];
    if !hostname.trim().is_empty() {
        hosts.push(hostname.trim().to_owned());
    }
    for host in hosts {
        let url = format!("http://{host}:{port}/secret");
        let curl = curl(
            proxy,
            &["--proxy-digest", "--proxy-user", CREDENTIALS, &url],
        )
        .await;
        assert_eq!(curl.statuses, [407, 403], "{host}: {}", curl.stderr);
        assert!(
            curl.body.contains("only to http:// loopback targets"),
            "{}",
            curl.body
        );
    }
    assert!(origin.received().is_empty(), "{:#?}", origin.received());
}

/// curl's CONNECT for an https URL: the proxy authenticates it against `host:port` (a 405
/// after the 407 means the credentials were accepted), then refuses to tunnel.
#[tokio::test]
async fn curl_connect_authenticates_against_the_authority_then_gets_405() {
    let origin = Origin::start().await;
    let proxy = start_proxy().await;
    let url = format!("https://{}/", origin.addr);
    let args = ["--proxy-digest", "--proxy-user", CREDENTIALS, &url];
    let curl = curl(proxy, &args).await;
    assert_eq!(curl.statuses, [407, 405], "{}", curl.stderr);
    let sent = params(
        curl.sent_proxy_authorization[0]
            .strip_prefix("Digest ")
            .unwrap(),
    );
    assert_eq!(param(&sent, "uri"), Some(origin.addr.to_string().as_str()));
    assert!(curl.stderr.contains("CONNECT tunnel failed, response 405"));
    assert!(origin.received().is_empty());
}

#[test]
fn only_literal_loopback_targets_are_forwarded() {
    let target = |uri: &str| proxy_example::loopback_target(&uri.parse().unwrap());
    let cases: &[(&str, Option<&str>)] = &[
        ("http://127.0.0.1:8080/x", Some("127.0.0.1:8080")),
        ("http://127.1.2.3/x", Some("127.1.2.3:80")),
        ("http://localhost:3000/", Some("127.0.0.1:3000")),
        ("http://LocalHost:3000/", Some("127.0.0.1:3000")),
        ("http://[::1]:3000/", Some("[::1]:3000")),
        (
            "http://[::ffff:127.0.0.1]:3000/",
            Some("[::ffff:127.0.0.1]:3000"),
        ),
        ("https://127.0.0.1/", None),
        ("/x", None),
        ("127.0.0.1:443", None),
        ("http://example.org/", None),
        ("http://127.0.0.1.nip.io/", None),
        ("http://localhost./", None),
        ("http://127.0.0.1@example.org/", None),
        ("http://user@127.0.0.1/", None),
        ("http://2130706433/", None),
        ("http://0x7f.0.0.1/", None),
        ("http://127.1/", None),
        ("http://[::ffff:8.8.8.8]/", None),
        ("http://[::]/", None),
        ("http://0.0.0.0/", None),
        ("http://10.0.0.1/", None),
    ];
    for (uri, expected) in cases {
        assert_eq!(
            target(uri),
            expected.map(|addr| addr.parse().unwrap()),
            "{uri}"
        );
    }
}
