//! The TLS example (`suite/examples/tls.rs`) on a loopback port with a certificate generated per test,
//! logged into by real clients over HTTPS with HTTP/1.1 and HTTP/2 (curl with `--cacert`,
//! reqwest + diqwest over OpenSSL, and with the `interop-tests` feature headless Chromium), and
//! the plain example server's HTTP/2 without TLS (h2c).
//!
//! A recorder outside the Digest layer keeps what reached the app (protocol version, target,
//! `Host`, the `Authorization` sent) and what it answered; every success is checked against
//! the independent digest code of the interop suite (`interop/digest.rs`).

#![allow(missing_docs, unreachable_pub)]

#[path = "../../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../examples/tls.rs"]
mod tls;

#[allow(dead_code)]
#[path = "interop/digest.rs"]
mod digest;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use diqwest::WithDigestAuth;
use http::header::{AUTHORIZATION, HOST};
use http::{StatusCode, Version};
use tokio::net::TcpListener;
use tower::ServiceExt;

const WHOAMI: &str = "/api/whoami";
const WHOAMI_BODY: &str = r#"{"username":"Mufasa"}"#;
const WRONG_PASSWORD: &str = "Circle of Strife";

/// What the app (outside the Digest layer) saw and answered for one request.
#[derive(Debug, Clone)]
struct Exchange {
    version: Version,
    /// The request target as hyper handed it over: absolute form over HTTP/2.
    uri: String,
    host: Option<String>,
    authorization: Option<String>,
    status: StatusCode,
    authentication_info: Option<String>,
}

type Log = Arc<Mutex<Vec<Exchange>>>;

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let header = |request: &Request, name| {
        request
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let mut exchange = Exchange {
        version: request.version(),
        uri: request.uri().to_string(),
        host: header(&request, HOST),
        authorization: header(&request, AUTHORIZATION),
        status: StatusCode::OK,
        authentication_info: None,
    };
    let response = next.run(request).await;
    exchange.status = response.status();
    exchange.authentication_info = response
        .headers()
        .get("authentication-info")
        .map(|value| value.to_str().unwrap().to_owned());
    log.lock().unwrap().push(exchange);
    response
}

/// A server on `127.0.0.1:<ephemeral>` and what it recorded.
struct Server {
    addr: SocketAddr,
    log: Log,
    /// The self-signed certificate as PEM, and a file holding it (for `curl --cacert`).
    ca_pem: String,
    ca_file: PathBuf,
}

impl Server {
    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    /// Asserts that the last request was a verified login: 200, an `Authentication-Info`
    /// whose `rspauth` the independent digest code reproduces from what the client sent.
    fn assert_last_is_verified_login(&self, version: Version) -> Exchange {
        let exchanges = self.exchanges();
        // The last request for the protected page (a browser also asks for a favicon).
        let last = exchanges
            .iter()
            .rev()
            .find(|exchange| exchange.uri.ends_with(WHOAMI))
            .expect("requests were recorded")
            .clone();
        assert_eq!(last.status, StatusCode::OK, "{exchanges:#?}");
        assert_eq!(last.version, version, "{exchanges:#?}");
        let sent = last.authorization.as_deref().expect("an Authorization");
        let info = last
            .authentication_info
            .as_deref()
            .expect("Authentication-Info");
        if let Err(problem) = digest::check_authentication_info(sent, info, common::PASSWORD) {
            panic!("bad Authentication-Info: {problem}");
        }
        assert_eq!(
            digest::parse_params(sent)["uri"],
            WHOAMI,
            "clients sign the path"
        );
        last
    }

    /// Asserts how an HTTP/2 request reached the app: absolute form, no `Host`.
    fn assert_reached_in_absolute_form(&self, exchange: &Exchange, scheme: &str) {
        assert_eq!(
            exchange.uri,
            format!("{scheme}://127.0.0.1:{}{WHOAMI}", self.addr.port()),
            "{exchange:#?}"
        );
        assert_eq!(exchange.host, None, "{exchange:#?}");
    }
}

fn recording_app(log: &Log) -> axum::Router {
    tls::app(tls::ServerOptions::default())
        .layer(middleware::from_fn_with_state(log.clone(), record))
}

/// A file of its own for each test's certificate.
fn temp_path(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "tower-digest-auth-tls-test-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

async fn loopback_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The TLS example serving the recorded app with `identity`.
async fn start_tls_with(identity: tls::Identity, ca_pem: String) -> Server {
    let (listener, addr) = loopback_listener().await;
    let ca_file = temp_path("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let log = Log::default();
    let config = tls::tls_config(identity).unwrap();
    tokio::spawn(tls::serve_tls(listener, config, recording_app(&log)));
    Server {
        addr,
        log,
        ca_pem,
        ca_file,
    }
}

async fn start_tls() -> Server {
    let (identity, pem) = tls::Identity::self_signed().unwrap();
    start_tls_with(identity, pem).await
}

/// The plain example server, served as `examples/server.rs` serves it (`axum::serve`).
async fn start_plain() -> Server {
    let (listener, addr) = loopback_listener().await;
    let log = Log::default();
    let app = recording_app(&log);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Server {
        addr,
        log,
        ca_pem: String::new(),
        ca_file: PathBuf::new(),
    }
}

/// What one curl transfer ended with.
#[derive(Debug)]
struct Curl {
    status: u16,
    /// `%{http_version}`: `1.1` or `2`.
    http_version: String,
    body: String,
    /// The last `Authentication-Info` curl received (from its `-v` trace).
    authentication_info: Option<String>,
    /// Every `WWW-Authenticate` line curl received.
    challenges: http::HeaderMap,
}

async fn curl(args: &[&str]) -> Curl {
    let mut command = tokio::process::Command::new("curl");
    command
        .args([
            "--silent",
            "--show-error",
            "--verbose",
            "--noproxy",
            "*",
            "--max-time",
            "20",
            "--write-out",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("curl finished in time")
        .expect("curl runs (installed by tests/interop-setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}\n{stderr}",
        output.status
    );
    let (body, summary) = stdout.rsplit_once('\n').unwrap();
    let (status, http_version) = summary.split_once(' ').unwrap();
    let received = |wanted: &str| -> Vec<String> {
        stderr
            .lines()
            .filter_map(|line| {
                let (name, value) = line.strip_prefix("< ")?.split_once(':')?;
                name.eq_ignore_ascii_case(wanted)
                    .then(|| value.trim().to_owned())
            })
            .collect()
    };
    let mut challenges = http::HeaderMap::new();
    for challenge in received("www-authenticate") {
        challenges.append(http::header::WWW_AUTHENTICATE, challenge.parse().unwrap());
    }
    Curl {
        status: status.parse().unwrap(),
        http_version: http_version.to_owned(),
        body: body.to_owned(),
        authentication_info: received("authentication-info").pop(),
        challenges,
    }
}

/// `curl --digest` over HTTPS, trusting only the test's certificate.
async fn curl_https(server: &Server, protocol: &str, password: &str) -> Curl {
    let user = format!("{}:{password}", common::USER);
    let url = format!("https://127.0.0.1:{}{WHOAMI}", server.addr.port());
    let ca_file = server.ca_file.to_str().unwrap();
    curl(&[
        protocol, "--cacert", ca_file, "--digest", "--user", &user, &url,
    ])
    .await
}

fn assert_curl_logged_in(server: &Server, transfer: &Curl, http_version: &str) {
    assert_eq!(transfer.status, 200, "{transfer:#?}");
    assert_eq!(transfer.http_version, http_version, "{transfer:#?}");
    assert_eq!(transfer.body, WHOAMI_BODY);
    let version = if http_version == "2" {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let last = server.assert_last_is_verified_login(version);
    assert_eq!(
        transfer.authentication_info, last.authentication_info,
        "curl received the verified Authentication-Info"
    );
}

/// A reqwest client (OpenSSL, ALPN `h2`) trusting only `server`'s certificate.
fn reqwest_https(server: &Server) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(server.ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([root])
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn curl_logs_in_over_https_with_http1() {
    let server = start_tls().await;
    let transfer = curl_https(&server, "--http1.1", common::PASSWORD).await;
    assert_curl_logged_in(&server, &transfer, "1.1");
    let last = server.exchanges().pop().unwrap();
    assert_eq!(last.uri, WHOAMI, "HTTP/1.1 sends the origin form");
    assert_eq!(
        last.host,
        Some(format!("127.0.0.1:{}", server.addr.port())),
        "and a Host header"
    );
}

#[tokio::test]
async fn curl_logs_in_over_https_with_http2() {
    let server = start_tls().await;
    let transfer = curl_https(&server, "--http2", common::PASSWORD).await;
    assert_curl_logged_in(&server, &transfer, "2");
    let exchanges = server.exchanges();
    assert_eq!(
        exchanges.len(),
        2,
        "one challenge, one answer: {exchanges:#?}"
    );
    assert_eq!(exchanges[0].status, StatusCode::UNAUTHORIZED);
    server.assert_reached_in_absolute_form(&exchanges[1], "https");
}

#[tokio::test]
async fn curl_with_a_wrong_password_gets_401_over_https_with_either_protocol() {
    let server = start_tls().await;
    for (protocol, http_version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let transfer = curl_https(&server, protocol, WRONG_PASSWORD).await;
        assert_eq!(transfer.status, 401, "{transfer:#?}");
        assert_eq!(transfer.http_version, http_version, "{transfer:#?}");
        assert_eq!(transfer.authentication_info, None);
    }
    let exchanges = server.exchanges();
    assert_eq!(exchanges.len(), 4, "{exchanges:#?}");
    for answered in [&exchanges[1], &exchanges[3]] {
        assert!(answered.authorization.is_some(), "{exchanges:#?}");
        assert_eq!(answered.status, StatusCode::UNAUTHORIZED, "{exchanges:#?}");
    }
}

#[tokio::test]
async fn reqwest_with_diqwest_logs_in_over_https_with_http2() {
    let server = start_tls().await;
    let client = reqwest_https(&server);
    let url = format!("https://127.0.0.1:{}{WHOAMI}", server.addr.port());

    let response = client
        .get(&url)
        .send_digest_auth((common::USER, common::PASSWORD))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let received = response.headers()["authentication-info"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.text().await.unwrap(), WHOAMI_BODY);
    let last = server.assert_last_is_verified_login(Version::HTTP_2);
    assert_eq!(last.authentication_info.as_deref(), Some(received.as_str()));
    server.assert_reached_in_absolute_form(&last, "https");

    let refused = reqwest_https(&server)
        .get(&url)
        .send_digest_auth((common::USER, WRONG_PASSWORD))
        .await
        .unwrap();
    assert_eq!(refused.version(), Version::HTTP_2);
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// Headless Chromium, driven by the interop suite's playwright script (installed by
/// `tests/interop-setup.sh`), negotiates h2 and logs in with its own Digest code. It is
/// told to accept the self-signed certificate.
#[cfg(feature = "interop-tests")]
#[tokio::test]
async fn chromium_logs_in_over_https_with_http2() {
    let server = start_tls().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/chromium.mjs");
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let mut command = tokio::process::Command::new("node");
    command
        .args([script, &base, common::USER, common::PASSWORD, WHOAMI])
        .env("IGNORE_HTTPS_ERRORS", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("Chromium finished in time")
        .expect("node runs (installed by tests/interop-setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: std::collections::BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    assert_eq!(report["status"], "200", "{report:#?}");
    assert_eq!(report["protocol"], "h2", "{report:#?}");
    assert_eq!(report["body"].replace(char::is_whitespace, ""), WHOAMI_BODY);
    let last = server.assert_last_is_verified_login(Version::HTTP_2);
    assert_eq!(
        last.authentication_info.as_deref(),
        Some(report["authentication_info"])
    );
    server.assert_reached_in_absolute_form(&last, "https");
}

/// The other way to get a certificate: PEM files, as `TLS_CERT` / `TLS_KEY` name them.
#[tokio::test]
async fn tls_example_serves_a_certificate_and_key_loaded_from_pem_files() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_file, key_file) = (temp_path("cert.pem"), temp_path("key.pem"));
    std::fs::write(&cert_file, certified.cert.pem()).unwrap();
    std::fs::write(&key_file, certified.signing_key.serialize_pem()).unwrap();
    let identity = tls::Identity::from_pem_files(&cert_file, &key_file).unwrap();
    let server = start_tls_with(identity, certified.cert.pem()).await;

    let transfer = curl_https(&server, "--http2", common::PASSWORD).await;
    assert_curl_logged_in(&server, &transfer, "2");

    assert!(tls::Identity::from_pem_files(&key_file, &key_file).is_err());
    assert!(tls::Identity::from_pem_files(&cert_file, &cert_file).is_err());
}

/// h2c: the plain example server speaks HTTP/2 to a client that knows it does (prior
/// knowledge), and the layer gets the target in absolute form with the `http` scheme.
#[tokio::test]
async fn reqwest_with_diqwest_logs_in_over_h2c_prior_knowledge() {
    let server = start_plain().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}{WHOAMI}", server.addr.port());
    let response = client
        .get(&url)
        .send_digest_auth((common::USER, common::PASSWORD))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), WHOAMI_BODY);
    let last = server.assert_last_is_verified_login(Version::HTTP_2);
    server.assert_reached_in_absolute_form(&last, "http");
}

/// curl 7.88 sends nothing after the first response on an h2c prior-knowledge connection
/// (see the README), so `--digest` cannot finish there; one transfer per request can. The
/// server's side of the handshake is all HTTP/2.
#[tokio::test]
async fn curl_logs_in_over_h2c_prior_knowledge_one_transfer_per_request() {
    let server = start_plain().await;
    let url = format!("http://127.0.0.1:{}{WHOAMI}", server.addr.port());
    let first = curl(&["--http2-prior-knowledge", &url]).await;
    assert_eq!((first.status, first.http_version.as_str()), (401, "2"));
    assert_eq!(server.exchanges()[0].version, Version::HTTP_2);

    // The challenge curl received, answered by the tests' own digest code.
    let challenge = common::challenges(&first.challenges).remove(0);
    let answer = common::Answer::get(WHOAMI);
    let authorization = format!("Authorization: {}", answer.header(&challenge));
    let second = curl(&["--http2-prior-knowledge", "--header", &authorization, &url]).await;
    assert_eq!(second.status, 200, "{second:#?}");
    assert_eq!(second.http_version, "2");
    assert_eq!(second.body, WHOAMI_BODY);
    server.assert_last_is_verified_login(Version::HTTP_2);
}

/// `curl --http2` on `http://` asks for `Upgrade: h2c`. hyper does not upgrade (RFC 9113
/// deprecates it), so the answers are plain HTTP/1.1 and the login completes on them.
#[tokio::test]
async fn curl_asking_to_upgrade_to_h2c_logs_in_over_http1() {
    let server = start_plain().await;
    let user = format!("{}:{}", common::USER, common::PASSWORD);
    let url = format!("http://127.0.0.1:{}{WHOAMI}", server.addr.port());
    let transfer = curl(&["--http2", "--digest", "--user", &user, &url]).await;
    assert_curl_logged_in(&server, &transfer, "1.1");
    let exchanges = server.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
}

/// The layer alone, with what hyper hands over for an HTTP/2 request: an absolute-form
/// target, no `Host`. A path-only `uri` names it; another authority does not.
#[tokio::test]
async fn absolute_form_target_without_host_matches_a_path_only_uri() {
    let app = tls::app(tls::ServerOptions::default());
    let target = "https://127.0.0.1:3443/api/whoami";
    let request = |authorization: Option<String>| {
        let mut request = http::Request::builder()
            .uri(target)
            .version(Version::HTTP_2);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let mut request = request.body(axum::body::Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                50_000,
            ))));
        request
    };
    let first = app.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = common::challenges(first.headers()).remove(0);

    let answer = common::Answer::get(WHOAMI);
    let ok = app
        .clone()
        .oneshot(request(Some(answer.header(&challenge))))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let elsewhere = common::Answer::get("https://evil.example/api/whoami").nc(2);
    let refused = app
        .oneshot(request(Some(elsewhere.header(&challenge))))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}
