//! WebDAV behind the layer (suite/examples/webdav.rs, the `dav-server` crate), and methods that
//! pass without authentication: through `oneshot`, then over a socket with curl and with
//! litmus, the WebDAV conformance client built on neon (which answers Digest with SHA-256
//! and checks `rspauth`).

#![allow(missing_docs, unreachable_pub)]

#[allow(dead_code)]
#[path = "../examples/webdav.rs"]
mod webdav;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{any, options};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
use webdav::{PASSWORD, REALM, USERNAME};

/// A fresh directory under the temp dir, removed on drop.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("tda-webdav-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempRoot(path)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn request(method: &str, uri: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 10], 50_000))));
    request
}

// ---- through oneshot ----

#[tokio::test]
async fn options_passes_without_credentials_when_listed() {
    let root = TempRoot::new();
    let response = webdav::app(&root.0, true)
        .oneshot(request("OPTIONS", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().contains_key("dav"),
        "dav-server answered"
    );
    assert!(!response.headers().contains_key("www-authenticate"));
    assert!(!response.headers().contains_key("authentication-info"));
}

#[tokio::test]
async fn options_is_401_when_not_listed_which_is_the_default() {
    let root = TempRoot::new();
    let response = webdav::app(&root.0, false)
        .oneshot(request("OPTIONS", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .count(),
        2
    );
    assert!(!response.headers().contains_key("dav"));
}

#[tokio::test]
async fn only_the_listed_methods_pass() {
    let root = TempRoot::new();
    std::fs::write(root.0.join("secret.txt"), "the pride lands").unwrap();
    for method in ["PROPFIND", "GET", "PUT", "DELETE", "MKCOL"] {
        let response = webdav::app(&root.0, true)
            .oneshot(request(method, "/secret.txt", None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method}");
    }
    assert!(root.0.join("secret.txt").exists());
}

/// An app whose OPTIONS handler says who it sees, and one route that needs a user.
fn probe_app() -> axum::Router {
    let users = MemoryCredentials::new(REALM, [(USERNAME, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .unauthenticated_methods([Method::OPTIONS])
        .build()
        .unwrap();
    axum::Router::new()
        .route(
            "/who",
            options(|user: Option<AuthenticatedUser>| async move {
                user.map_or("nobody".to_owned(), |u| u.username().to_owned())
            }),
        )
        .route(
            "/needs-login",
            any(|user: AuthenticatedUser| async move { user.username().to_owned() }),
        )
        .layer(layer)
}

#[tokio::test]
async fn a_passed_request_carries_no_user_and_its_credentials_are_not_checked() {
    for authorization in [None, Some("Digest username=\"Mufasa\", garbage")] {
        let response = probe_app()
            .oneshot(request("OPTIONS", "/who", authorization))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "nobody");
    }
}

#[tokio::test]
async fn a_401_from_inside_on_a_passed_method_carries_the_challenges() {
    let response = probe_app()
        .oneshot(request("OPTIONS", "/needs-login", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .count(),
        2
    );
}

// ---- over a socket ----

async fn start(root: &Path, options_pass: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let root = root.to_owned();
    tokio::spawn(async move { webdav::serve(listener, &root, options_pass).await.unwrap() });
    addr
}

/// One curl transfer: status code and body. `login` adds `--digest --user`.
async fn curl(login: Option<&str>, args: &[&str]) -> (u16, String) {
    let mut command = tokio::process::Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--noproxy",
        "*",
        "--max-time",
        "20",
    ]);
    if let Some(password) = login {
        command.args(["--digest", "--user", &format!("{USERNAME}:{password}")]);
    }
    command
        .args(["--write-out", "\nHTTP_CODE=%{http_code}"])
        .args(args);
    let output = command
        .output()
        .await
        .expect("curl runs (tests/interop-setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = stdout.rsplit_once("\nHTTP_CODE=").expect("curl's status");
    (code.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn curl_drives_webdav_with_digest_and_probes_with_options() {
    let root = TempRoot::new();
    let addr = start(&root.0, true).await;
    let url = |path: &str| format!("http://{addr}{path}");

    let (status, _) = curl(None, &["-X", "OPTIONS", "-i", &url("/")]).await;
    assert_eq!(status, 200, "OPTIONS without credentials");
    let (status, _) = curl(None, &["-X", "PROPFIND", "-H", "Depth: 1", &url("/")]).await;
    assert_eq!(status, 401, "PROPFIND without credentials");

    let ok = Some(PASSWORD);
    assert_eq!(curl(ok, &["-X", "MKCOL", &url("/docs")]).await.0, 201);
    let upload = root.0.join("upload.txt");
    std::fs::write(&upload, "Hakuna Matata\n").unwrap();
    let file = upload.to_str().unwrap();
    assert_eq!(curl(ok, &["-T", file, &url("/docs/song.txt")]).await.0, 201);
    assert_eq!(
        std::fs::read_to_string(root.0.join("docs/song.txt")).unwrap(),
        "Hakuna Matata\n"
    );
    let (status, body) = curl(ok, &[&url("/docs/song.txt")]).await;
    assert_eq!((status, body.as_str()), (200, "Hakuna Matata\n"));
    let (status, body) = curl(ok, &["-X", "PROPFIND", "-H", "Depth: 1", &url("/docs/")]).await;
    assert_eq!(status, 207);
    assert!(body.contains("/docs/song.txt"), "{body}");

    let (status, _) = curl(
        Some("wrong"),
        &["-X", "PROPFIND", "-H", "Depth: 1", &url("/")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        curl(Some("wrong"), &["-X", "DELETE", &url("/docs/song.txt")])
            .await
            .0,
        401
    );
    assert!(root.0.join("docs/song.txt").exists());
    assert_eq!(
        curl(ok, &["-X", "DELETE", &url("/docs/song.txt")]).await.0,
        204
    );
    assert!(!root.0.join("docs/song.txt").exists());
}

/// The raw bytes of the answer to `OPTIONS <target>` without credentials, sent over a
/// socket, with the `Date` header's line taken out (the only one that may differ).
async fn raw_options(addr: SocketAddr, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("OPTIONS {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).expect("an HTTP/1.1 answer is text");
    let without_date: Vec<&str> = answer
        .split_inclusive("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .collect();
    assert_eq!(
        without_date.len() + 1,
        answer.split_inclusive("\r\n").count(),
        "one Date header in {answer:?}"
    );
    without_date.concat()
}

#[tokio::test]
async fn options_without_a_login_is_byte_identical_for_a_missing_path_a_file_and_a_directory() {
    let root = TempRoot::new();
    std::fs::write(root.0.join("secret.txt"), "the pride lands").unwrap();
    std::fs::create_dir(root.0.join("docs")).unwrap();
    let addr = start(&root.0, true).await;

    let missing = raw_options(addr, "/nothing-here").await;
    assert!(missing.starts_with("HTTP/1.1 200 OK\r\n"), "{missing}");
    let lower = missing.to_ascii_lowercase();
    assert!(lower.contains("\r\ndav: 1,2"), "{missing}");
    assert!(lower.contains("\r\nallow: "), "{missing}");
    for target in ["/secret.txt", "/docs/", "/docs", "/", "*"] {
        assert_eq!(raw_options(addr, target).await, missing, "OPTIONS {target}");
    }
}

#[tokio::test]
async fn with_options_not_listed_curl_probing_without_credentials_gets_401() {
    let root = TempRoot::new();
    let addr = start(&root.0, false).await;
    let (status, _) = curl(None, &["-X", "OPTIONS", &format!("http://{addr}/")]).await;
    assert_eq!(status, 401);
    let (status, _) = curl(
        Some(PASSWORD),
        &["-X", "OPTIONS", &format!("http://{addr}/")],
    )
    .await;
    assert_eq!(status, 200, "with a login it passes");
}

/// Runs litmus's suites against `addr` from a scratch directory; its status, output and
/// network trace (`debug.log`).
async fn litmus(addr: SocketAddr, password: &str) -> (bool, String, String) {
    let scratch = TempRoot::new();
    let output = tokio::process::Command::new("litmus")
        .current_dir(&scratch.0)
        // PROPPATCH (props) and LOCK (locks) are dav-server's to implement, not ours.
        .env("TESTS", "basic copymove http")
        .args([&format!("http://{addr}/"), USERNAME, password])
        .output()
        .await
        .expect("litmus runs (tests/interop-setup.sh installs it)");
    let trace = std::fs::read_to_string(scratch.0.join("debug.log")).unwrap_or_default();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), text, trace)
}

#[tokio::test]
async fn litmus_passes_its_basic_copymove_and_http_suites_through_digest() {
    let root = TempRoot::new();
    let addr = start(&root.0, true).await;
    let (success, output, trace) = litmus(addr, PASSWORD).await;
    assert!(success, "litmus failed:\n{output}");
    for suite in ["basic", "copymove", "http"] {
        let summary = output
            .lines()
            .find(|l| l.contains(&format!("summary for `{suite}'")))
            .unwrap_or_else(|| panic!("no {suite} summary in\n{output}"));
        assert!(summary.contains(" 0 failed"), "{summary}");
    }
    assert!(
        trace.contains("Authorization: Digest") && trace.contains("algorithm=\"SHA-256\""),
        "litmus answered the SHA-256 Digest challenge"
    );

    let (success, output, _) = litmus(addr, "wrong").await;
    assert!(!success, "a wrong password must fail litmus:\n{output}");
}
