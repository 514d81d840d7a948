//! Helpers shared by the interop tests: start the example app on an ephemeral loopback port with
//! a recorder around it, run an external client with a timeout, and talk raw HTTP/1.1.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

use tower_digest_auth::{AuthenticatedUser, DigestLayer, DigestLayerBuilder, MemoryCredentials};

use crate::digest::{self, parse_params};
use crate::server::{self, ServerOptions};
use crate::tls;

pub const USERNAME: &str = "Mufasa";
pub const PASSWORD: &str = "Circle of Life";
pub const WRONG_PASSWORD: &str = "Circle of Strife";
pub const REALM: &str = "http-auth@example.org";
pub const PROTECTED: &str = "/dir/index.html";
pub const WHOAMI: &str = "/api/whoami";
/// Only for users with the admin role (Rafiki).
pub const ADMIN: &str = "/admin";

/// What the server saw and answered for one request, recorded outside the auth layer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// Path and query, as the request line had them.
    pub target: String,
    /// The raw `Authorization` header the client sent, if any.
    pub authorization: Option<String>,
    pub status: u16,
    /// One entry per `WWW-Authenticate` line of the answer.
    pub challenges: Vec<String>,
    pub authentication_info: Option<String>,
}

impl Exchange {
    /// The `Authorization` parameters, for a request that carried a Digest one.
    pub fn sent(&self) -> BTreeMap<String, String> {
        let header = self
            .authorization
            .as_deref()
            .unwrap_or_else(|| panic!("no Authorization in {self:#?}"));
        parse_params(header)
    }

    /// The `algorithm` the client answered with (upper case; MD5 when it sent none).
    pub fn sent_algorithm(&self) -> String {
        self.sent()
            .get("algorithm")
            .map_or_else(|| "MD5".to_owned(), |a| a.to_ascii_uppercase())
    }

    /// True when the answer carried `stale=true` on its challenges.
    pub fn is_stale(&self) -> bool {
        !self.challenges.is_empty()
            && self.challenges.iter().all(|c| {
                parse_params(c)
                    .get("stale")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"))
            })
    }

    /// Asserts a success whose `Authentication-Info` proves the server knew the password.
    pub fn assert_verified_success(&self) {
        assert_eq!(self.status, 200, "expected a success: {self:#?}");
        let authorization = self
            .authorization
            .as_deref()
            .unwrap_or_else(|| panic!("success without Authorization: {self:#?}"));
        let info = self
            .authentication_info
            .as_deref()
            .unwrap_or_else(|| panic!("success without Authentication-Info: {self:#?}"));
        if let Err(problem) = digest::check_authentication_info(authorization, info, PASSWORD) {
            panic!("bad Authentication-Info: {problem}");
        }
    }

    /// Asserts a refusal that carries a fresh challenge per offered algorithm and is not stale.
    pub fn assert_refused_not_stale(&self) {
        assert_eq!(self.status, 401, "expected a refusal: {self:#?}");
        assert!(
            !self.challenges.is_empty(),
            "401 without a challenge: {self:#?}"
        );
        assert!(!self.is_stale(), "refusal should not be stale: {self:#?}");
    }
}

/// The example app on `127.0.0.1:<ephemeral>`, every exchange recorded.
pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    task: JoinHandle<()>,
    /// Served over TLS: the file holding its self-signed certificate, for clients to trust.
    pub ca_file: Option<String>,
}

impl TestServer {
    /// Starts `server::app(options)` wrapped in a recorder, served the way `server::serve` does.
    pub async fn start(options: ServerOptions) -> Self {
        Self::start_app(server::app(options)).await
    }

    /// Starts any app (one with other users or another layer configuration), recorded and
    /// served the same way.
    pub async fn start_app(app: axum::Router) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind an ephemeral loopback port");
        let addr = listener.local_addr().expect("local address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = app.layer(middleware::from_fn_with_state(log.clone(), record));
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve the example app");
        });
        Self {
            addr,
            log,
            task,
            ca_file: None,
        }
    }

    /// Starts `tls::app(options)` over HTTPS as the TLS example serves it (each request
    /// marked `TlsConnection`), recorded, with a fresh self-signed certificate written to
    /// a file of its own for clients to trust.
    pub async fn start_tls(options: tls::ServerOptions) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind an ephemeral loopback port");
        let addr = listener.local_addr().expect("local address");
        let (identity, pem) = tls::Identity::self_signed().expect("a self-signed certificate");
        let ca_file = std::env::temp_dir().join(format!(
            "tower-digest-auth-interop-{}-{}.pem",
            std::process::id(),
            addr.port()
        ));
        std::fs::write(&ca_file, pem).expect("write the certificate");
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = tls::app(options).layer(middleware::from_fn_with_state(log.clone(), record));
        let config = tls::tls_config(identity).expect("a TLS configuration");
        let task = tokio::spawn(async move {
            tls::serve_tls(listener, config, app)
                .await
                .expect("serve the TLS example");
        });
        Self {
            addr,
            log,
            task,
            ca_file: Some(ca_file.to_string_lossy().into_owned()),
        }
    }

    /// The default options: SHA-256 and MD5 offered, 30 minute nonces.
    pub async fn start_default() -> Self {
        Self::start(ServerOptions::default()).await
    }

    pub fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path_and_query}", self.addr)
    }

    /// Everything recorded so far, in order of completion.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().expect("recorder lock").clone()
    }

    /// The recorded exchanges whose path (query ignored) is `path`.
    pub fn exchanges_for(&self, path: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.target.split('?').next() == Some(path))
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(ca_file) = &self.ca_file {
            let _ = std::fs::remove_file(ca_file);
        }
    }
}

async fn record(
    State(log): State<Arc<Mutex<Vec<Exchange>>>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let response = next.run(request).await;
    let headers = response.headers();
    let challenges = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let authentication_info = headers
        .get("authentication-info")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    log.lock().expect("recorder lock").push(Exchange {
        method,
        target,
        authorization,
        status: response.status().as_u16(),
        challenges,
        authentication_info,
    });
    response
}

/// A one-route app for tests that need other users or another layer configuration than the
/// example's: `GET PROTECTED` answers `hello <username>` behind a layer for `users` that
/// `configure` finishes.
pub fn custom_app(
    users: &[(&str, &str)],
    configure: impl FnOnce(
        DigestLayerBuilder<MemoryCredentials>,
    ) -> DigestLayerBuilder<MemoryCredentials>,
) -> axum::Router {
    let users = MemoryCredentials::new(REALM, users.iter().copied());
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .expect("valid digest configuration");
    axum::Router::new()
        .route(
            PROTECTED,
            axum::routing::get(|user: AuthenticatedUser| async move {
                format!("hello {}", user.username())
            }),
        )
        .route_layer(layer)
}

/// Starts the example exactly as its binary does, through `server::serve`, without a recorder.
pub async fn start_plain_server(options: ServerOptions) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind an ephemeral loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        server::serve(listener, options)
            .await
            .expect("server::serve");
    });
    addr
}

/// Path of a file under `suite/tests/interop/`, beside these modules.
pub fn interop_file(name: &str) -> String {
    format!("{}/tests/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A finished client process.
#[derive(Debug)]
pub struct ClientOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args...` with a hard timeout; a client that is not installed fails the test.
pub async fn run_client(program: &str, args: &[&str], timeout: Duration) -> ClientOutput {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_PROXY", "*")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .kill_on_drop(true);
    let child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot start `{program}` ({e}): run tests/interop-setup.sh to install the interop clients")
    });
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => ClientOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("waiting for `{program}` failed: {e}"),
        Err(elapsed) => {
            panic!(
                "`{program} {args:?}` did not finish within {timeout:?} ({elapsed}); it was killed"
            )
        }
    }
}

/// Like [`run_client`], and the client must exit with success.
pub async fn run_client_ok(program: &str, args: &[&str], timeout: Duration) -> ClientOutput {
    let output = run_client(program, args, timeout).await;
    assert!(
        output.success,
        "`{program} {args:?}` failed\n--- stdout\n{}\n--- stderr\n{}",
        output.stdout, output.stderr
    );
    output
}

/// One response as a client script reported it: `name<TAB>value` lines, a new record at each
/// `response` line. Values escape `\`, tab, CR and LF with a backslash.
pub type Report = BTreeMap<String, String>;

pub fn parse_reports(stdout: &str) -> Vec<Report> {
    let mut reports: Vec<Report> = Vec::new();
    for line in stdout.lines() {
        let Some((name, value)) = line.split_once('\t') else {
            continue;
        };
        if name == "response" {
            reports.push(Report::new());
        }
        let report = reports
            .last_mut()
            .unwrap_or_else(|| panic!("field before the first response: {line:?}"));
        report.insert(name.to_owned(), unescape(value));
    }
    reports
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A field of a client report; panics with the whole report when it is missing.
pub fn field<'a>(report: &'a Report, name: &str) -> &'a str {
    report
        .get(name)
        .unwrap_or_else(|| panic!("no {name:?} in client report {report:#?}"))
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Opens a connection to `server` from `source` (any port).
pub async fn connect_from(source: IpAddr, server: SocketAddr) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().expect("tcp socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .unwrap_or_else(|e| panic!("bind to {source}: {e}"));
    tokio::time::timeout(Duration::from_secs(5), socket.connect(server))
        .await
        .expect("connect timed out")
        .expect("connect")
}

/// Writes `request` (which asks for `Connection: close`) and reads the answer to the end.
pub async fn try_exchange_on(
    mut stream: tokio::net::TcpStream,
    request: &[u8],
) -> Result<RawResponse, String> {
    // A server may answer and close before taking a large request whole: a failed write is
    // fine as long as an answer can be read.
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if raw.is_empty() => return Err(e),
                Err(_) => return Ok(()),
            }
        }
    })
    .await;
    match read {
        Err(_) => Err(format!(
            "no complete answer within 10s; got {:?}",
            String::from_utf8_lossy(&raw)
        )),
        Ok(Err(e)) => Err(format!("reading the answer failed: {e}")),
        Ok(Ok(())) => parse_response(&raw),
    }
}

/// Sends one raw request from `source`; any failure to get an answer fails the test.
pub async fn raw_request(source: IpAddr, server: SocketAddr, request: &[u8]) -> RawResponse {
    try_exchange_on(connect_from(source, server).await, request)
        .await
        .unwrap_or_else(|problem| panic!("{problem}"))
}

/// A `GET` with an optional `Authorization` value (any bytes), closing the connection after.
pub fn get_request(target: &str, authorization: Option<&[u8]>) -> Vec<u8> {
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
    if let Some(value) = authorization {
        request.extend_from_slice(b"Authorization: ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

fn parse_response(raw: &[u8]) -> Result<RawResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// A nonce and opaque from a fresh challenge, for one algorithm.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub nonce: String,
    pub opaque: String,
}

/// Asks for `target` without credentials from `source` and returns the challenge offered for
/// `algorithm` (e.g. `SHA-256`).
pub async fn fetch_challenge(
    source: IpAddr,
    server: SocketAddr,
    target: &str,
    algorithm: &str,
) -> Challenge {
    let response = raw_request(source, server, &get_request(target, None)).await;
    assert_eq!(
        response.status, 401,
        "unauthenticated request: {response:?}"
    );
    let challenges = response.all("www-authenticate");
    let params = challenges
        .iter()
        .map(|c| parse_params(c))
        .find(|p| {
            p.get("algorithm")
                .is_some_and(|a| a.eq_ignore_ascii_case(algorithm))
        })
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {challenges:?}"));
    Challenge {
        nonce: params["nonce"].clone(),
        opaque: params["opaque"].clone(),
    }
}

/// A correct `Authorization` for `GET target` with `challenge`, computed by the suite itself.
/// `answer_with` is the algorithm named and used in the answer (normally the challenge's).
pub fn authorization_for(
    challenge: &Challenge,
    answer_with: &str,
    target: &str,
    nc: u32,
) -> String {
    let nc = format!("{nc:08x}");
    let cnonce = format!("interop-cnonce-{nc}");
    let inputs = digest::Inputs {
        algorithm: digest::Algorithm::from_param(Some(answer_with)),
        username: USERNAME,
        realm: REALM,
        password: PASSWORD,
        nonce: &challenge.nonce,
        cnonce: &cnonce,
        nc: &nc,
        qop: "auth",
    };
    let response = inputs.response("GET", target);
    format!(
        "Digest username=\"{USERNAME}\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{target}\", \
         algorithm={answer_with}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", \
         response=\"{response}\", opaque=\"{}\"",
        challenge.nonce, challenge.opaque
    )
}

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const SECOND_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
