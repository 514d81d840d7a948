//! `qop=auth-int`: the request body under the client's answer, 413 past the limit, the
//! body unchanged for the inner service, and `rspauth` over the response body. Through
//! `oneshot` with the suite's own client, and over a socket with aiohttp (a real client
//! that prefers auth-int when offered) and raw HTTP/1.1.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, client_addr, h, param, params};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::{
    AuthIntBody, AuthIntLayer, AuthMode, AuthenticatedUser, DigestLayer, FailureLimit, ManualClock,
    MemoryCredentials, PeerAddr, ThrottleConfig,
};

const LIMIT: usize = 1024;

type Inner = tower::util::BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;
type Outer =
    tower::util::BoxCloneSyncService<Request<Body>, Response<AuthIntBody<Body>>, Infallible>;

/// Echoes the body it got, after the user's name; `/big` answers 2 KiB.
fn inner(calls: Arc<AtomicUsize>) -> Inner {
    Inner::new(service_fn(move |request: Request<Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let user = request
                .extensions()
                .get::<AuthenticatedUser>()
                .unwrap()
                .clone();
            if request.uri().path() == "/big" {
                return Ok::<_, Infallible>(Response::new(Body::from(vec![b'x'; 2 * LIMIT])));
            }
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let mut echo = format!("{}:", user.username()).into_bytes();
            echo.extend_from_slice(&body);
            Ok(Response::new(Body::from(echo)))
        }
    }))
}

struct Fixture {
    service: Outer,
    calls: Arc<AtomicUsize>,
}

fn fixture() -> Fixture {
    let calls = Arc::new(AtomicUsize::new(0));
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .build_auth_int(LIMIT)
        .unwrap();
    Fixture {
        service: Outer::new(tower::Layer::layer(&layer, inner(calls.clone()))),
        calls,
    }
}

fn post(uri: &str, authorization: Option<&str>, body: Body) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri(uri);
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    let mut request = builder.body(body).unwrap();
    request.extensions_mut().insert(PeerAddr(client_addr()));
    request
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> (Response<()>, Bytes) {
        let response = self.service.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts, ()), body)
    }

    async fn challenge(&self) -> Challenge {
        let (response, _) = self.send(post("/echo", None, Body::empty())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        challenges(response.headers()).remove(0)
    }
}

fn info(response: &Response<()>) -> Vec<(String, String)> {
    params(response.headers()["authentication-info"].to_str().unwrap())
}

#[tokio::test]
async fn a_plain_build_never_offers_auth_int_and_refuses_it() {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users).build().unwrap();
    let service = tower::Layer::layer(&layer, inner(Arc::default()));
    let challenge_response = service
        .clone()
        .oneshot(post("/echo", None, Body::empty()))
        .await
        .unwrap();
    let challenge = challenges(challenge_response.headers()).remove(0);
    assert_eq!(challenge.qop, "auth");
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"hi")
        .header(&challenge);
    let response = service
        .oneshot(post("/echo", Some(&header), Body::from("hi")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn build_auth_int_offers_auth_and_auth_int() {
    let f = fixture();
    let (response, _) = f.send(post("/echo", None, Body::empty())).await;
    let all = challenges(response.headers());
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| c.qop == "auth,auth-int"), "{all:?}");
}

#[tokio::test]
async fn auth_int_success_passes_the_body_unchanged_and_rspauth_covers_the_response() {
    let f = fixture();
    for body in [&b"name=Mufasa&pride=rock"[..], b"", &[0u8, 255, 10, 13][..]] {
        let challenge = f.challenge().await;
        let answer = Answer::get("/echo").method("POST").auth_int(body);
        let request = post(
            "/echo",
            Some(&answer.header(&challenge)),
            Body::from(body.to_vec()),
        );
        let (response, echoed) = f.send(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut expected = b"Mufasa:".to_vec();
        expected.extend_from_slice(body);
        assert_eq!(echoed, expected, "the inner service got the body as sent");
        let info = info(&response);
        assert_eq!(param(&info, "qop"), Some("auth-int"));
        assert_eq!(
            param(&info, "rspauth"),
            Some(answer.rspauth_over(&challenge, &echoed).as_str()),
            "rspauth over the response body"
        );
        assert_ne!(
            param(&info, "rspauth"),
            Some(answer.rspauth(&challenge).as_str()),
            "not over an empty body"
        );
    }
}

#[tokio::test]
async fn a_tampered_body_is_refused_with_401() {
    let f = fixture();
    let challenge = f.challenge().await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"amount=10")
        .header(&challenge);
    let (response, _) = f
        .send(post("/echo", Some(&header), Body::from("amount=10000")))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenges(response.headers())[0].stale);
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        0,
        "the inner service never ran"
    );
}

#[tokio::test]
async fn an_over_limit_body_is_413_with_or_without_a_length() {
    let f = fixture();
    let big = vec![b'a'; LIMIT + 1];
    let challenge = f.challenge().await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(&big)
        .header(&challenge);
    // A known length (Body::from(Vec) has an exact size hint).
    let (response, body) = f
        .send(post("/echo", Some(&header), Body::from(big.clone())))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body, "request body too large for auth-int");
    // Streamed in chunks with no length at all: counted as it arrives.
    let stream = Body::new(Chunks(
        big.chunks(100).map(Bytes::copy_from_slice).collect(),
    ));
    let (response, _) = f.send(post("/echo", Some(&header), stream)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly the limit is fine.
    let exact = vec![b'a'; LIMIT];
    let challenge = f.challenge().await;
    let answer = Answer::get("/echo").method("POST").auth_int(&exact);
    let (response, _) = f
        .send(post(
            "/echo",
            Some(&answer.header(&challenge)),
            Body::from(exact.clone()),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        1,
        "only the request within the limit ran"
    );
}

/// A body of ready chunks with no size hint, like a chunked upload.
struct Chunks(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|chunk| Ok(http_body::Frame::data(chunk))),
        )
    }
}

#[tokio::test]
async fn auth_answers_keep_working_when_auth_int_is_offered() {
    let f = fixture();
    let challenge = f.challenge().await;
    let answer = Answer::get("/echo").method("POST");
    let (response, echoed) = f
        .send(post(
            "/echo",
            Some(&answer.header(&challenge)),
            Body::from("plain"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(echoed, "Mufasa:plain");
    let info = info(&response);
    assert_eq!(param(&info, "qop"), Some("auth"));
    assert_eq!(
        param(&info, "rspauth"),
        Some(answer.rspauth(&challenge).as_str())
    );
}

#[tokio::test]
async fn a_response_over_the_limit_is_sent_whole_without_rspauth() {
    let f = fixture();
    let challenge = f.challenge().await;
    let answer = Answer::get("/big").method("POST").auth_int(b"");
    let (response, body) = f
        .send(post(
            "/big",
            Some(&answer.header(&challenge)),
            Body::empty(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body.len(), 2 * LIMIT, "the whole body, in order");
    assert!(body.iter().all(|&b| b == b'x'));
    let info = info(&response);
    assert_eq!(param(&info, "qop"), Some("auth-int"));
    assert_eq!(param(&info, "rspauth"), None);
    assert_eq!(param(&info, "nc"), Some("00000001"));
}

// ---- over a socket ----

async fn serve() -> SocketAddr {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .build_auth_int(LIMIT)
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::post(|user: AuthenticatedUser, body: Bytes| async move {
                let mut echo = format!("{}:", user.username()).into_bytes();
                echo.extend_from_slice(&body);
                echo
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// aiohttp's `DigestAuthMiddleware` POSTs `body`; prints status, body, the Authorization it
/// sent and the Authentication-Info it got, one per line (hex for the body).
const AIOHTTP: &str = r#"
import asyncio, sys
from aiohttp import ClientSession, DigestAuthMiddleware

async def main(url, user, password, body):
    async with ClientSession(middlewares=(DigestAuthMiddleware(user, password),)) as session:
        async with session.post(url, data=body) as response:
            text = await response.read()
            print(response.status)
            print(text.hex())
            print(response.request_info.headers.get("Authorization", ""))
            print(response.headers.get("Authentication-Info", ""))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()))
"#;

async fn aiohttp_post(url: &str, password: &str, body: &str) -> (u16, Vec<u8>, String, String) {
    let output = tokio::process::Command::new("python3")
        .args(["-c", AIOHTTP, url, USER, password, body])
        .env("NO_PROXY", "*")
        .output()
        .await
        .expect("python3 runs (tests/interop-setup.sh installs aiohttp)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "aiohttp failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let body = (0..lines[1].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&lines[1][i..i + 2], 16).unwrap())
        .collect();
    (
        lines[0].parse().unwrap(),
        body,
        lines[2].to_owned(),
        lines.get(3).copied().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn aiohttp_answers_with_auth_int_and_gets_a_correct_rspauth() {
    let addr = serve().await;
    let (status, body, sent, info) =
        aiohttp_post(&format!("http://{addr}/echo"), PASSWORD, "pride=rock").await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(body, b"Mufasa:pride=rock");
    let sent = params(sent.strip_prefix("Digest ").unwrap());
    assert_eq!(
        param(&sent, "qop"),
        Some("auth-int"),
        "aiohttp chose auth-int"
    );
    // rspauth recomputed independently from what aiohttp sent and got.
    let algorithm = param(&sent, "algorithm").unwrap();
    let ha1 = h(algorithm, format!("{USER}:{REALM}:{PASSWORD}").as_bytes());
    let uri = param(&sent, "uri").unwrap();
    let ha2 = h(
        algorithm,
        format!(":{uri}:{}", h(algorithm, &body)).as_bytes(),
    );
    let expected = h(
        algorithm,
        format!(
            "{ha1}:{}:{}:{}:auth-int:{ha2}",
            param(&sent, "nonce").unwrap(),
            param(&sent, "nc").unwrap(),
            param(&sent, "cnonce").unwrap()
        )
        .as_bytes(),
    );
    let info = params(&info);
    assert_eq!(param(&info, "qop"), Some("auth-int"));
    assert_eq!(param(&info, "rspauth"), Some(expected.as_str()));
    let (status, _, _, _) = aiohttp_post(&format!("http://{addr}/echo"), "wrong", "x").await;
    assert_eq!(status, 401);
}

/// One raw HTTP/1.1 exchange; the status code.
async fn raw(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap()
}

async fn socket_challenge(addr: SocketAddr) -> Challenge {
    let request =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let line = answer
        .lines()
        .find_map(|l| l.strip_prefix("www-authenticate: Digest "))
        .unwrap();
    let p = params(line);
    Challenge {
        realm: param(&p, "realm").unwrap().into(),
        nonce: param(&p, "nonce").unwrap().into(),
        opaque: param(&p, "opaque").map(Into::into),
        algorithm: param(&p, "algorithm").unwrap().into(),
        qop: param(&p, "qop").unwrap().into(),
        ..Challenge::default()
    }
}

#[tokio::test]
async fn over_a_socket_tampered_bodies_are_401_and_over_limit_bodies_413() {
    let addr = serve().await;
    let challenge = socket_challenge(addr).await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"amount=10")
        .header(&challenge);
    let tampered = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: 12\r\nConnection: close\r\n\r\namount=10000"
    );
    assert_eq!(raw(addr, tampered.as_bytes()).await, 401);
    let good = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: 9\r\nConnection: close\r\n\r\namount=10"
    );
    assert_eq!(raw(addr, good.as_bytes()).await, 200);

    // Declared too large: refused before the body is read.
    let challenge = socket_challenge(addr).await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(b"")
        .header(&challenge);
    let declared = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        LIMIT + 1
    );
    assert_eq!(raw(addr, declared.as_bytes()).await, 413);
    // Chunked, no length: counted as it arrives.
    let mut chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", LIMIT / 2).as_bytes());
        chunked.extend_from_slice(&vec![b'a'; LIMIT / 2]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(addr, &chunked).await, 413);
}

// ---- proxy mode ----

/// One HTTP/1.1 response read off a socket: status, headers (names lowercase), body.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads one response (head, then `Content-Length` bytes of body) without waiting for
/// the connection to close; panics unless it is all there within `within`.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> RawResponse {
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status = lines.next().unwrap().split(' ').nth(1).unwrap();
                let headers: Vec<(String, String)> = lines
                    .map(|line| {
                        let (name, value) = line.split_once(':').unwrap();
                        (name.to_ascii_lowercase(), value.trim().to_owned())
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                if buffer.len() >= end + 4 + length {
                    return RawResponse {
                        status: status.parse().unwrap(),
                        body: buffer[end + 4..end + 4 + length].to_vec(),
                        headers,
                    };
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-response: {buffer:?}");
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("no whole response within {within:?}"))
}

/// Sends `request` on a new connection and reads the response.
async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream, std::time::Duration::from_secs(10)).await
}

/// Serves `/echo` (the user's name, `:`, the body) behind `layer`.
async fn serve_layer(layer: AuthIntLayer<MemoryCredentials>) -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::post(|user: AuthenticatedUser, body: Bytes| async move {
                let mut echo = format!("{}:", user.username()).into_bytes();
                echo.extend_from_slice(&body);
                echo
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

fn challenge_from(header: &str) -> Challenge {
    let p = params(header.strip_prefix("Digest ").unwrap());
    Challenge {
        realm: param(&p, "realm").unwrap().into(),
        nonce: param(&p, "nonce").unwrap().into(),
        opaque: param(&p, "opaque").map(Into::into),
        algorithm: param(&p, "algorithm").unwrap().into(),
        qop: param(&p, "qop").unwrap().into(),
        stale: param(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        ..Challenge::default()
    }
}

#[tokio::test]
async fn in_proxy_mode_auth_int_is_read_from_proxy_authorization_and_rspauth_sent_in_proxy_authentication_info()
 {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .mode(AuthMode::Proxy)
        .build_auth_int(LIMIT)
        .unwrap();
    let addr = serve_layer(layer).await;
    // A forward proxy's request: absolute-form target.
    let target = "http://origin.example/echo";
    let asked = exchange(
        addr,
        format!("POST {target} HTTP/1.1\r\nHost: origin.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(asked.status, 407);
    assert!(asked.header("www-authenticate").is_none());
    let challenge = challenge_from(asked.all("proxy-authenticate")[0]);
    assert_eq!(challenge.qop, "auth,auth-int");

    let body = b"pride=rock";
    let answer = Answer::get(target).method("POST").auth_int(body);
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: origin.example\r\nProxy-Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\npride=rock",
        answer.header(&challenge),
        body.len()
    );
    let response = exchange(addr, request.as_bytes()).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body, b"Mufasa:pride=rock");
    assert!(response.header("authentication-info").is_none());
    let info = params(
        response
            .header("proxy-authentication-info")
            .expect("rspauth in Proxy-Authentication-Info"),
    );
    assert_eq!(param(&info, "qop"), Some("auth-int"));
    // rspauth recomputed here, from the password and what went over the wire.
    let algorithm = challenge.algorithm.as_str();
    let ha1 = h(algorithm, format!("{USER}:{REALM}:{PASSWORD}").as_bytes());
    let ha2 = h(
        algorithm,
        format!(":{target}:{}", h(algorithm, &response.body)).as_bytes(),
    );
    let expected = h(
        algorithm,
        format!(
            "{ha1}:{}:00000001:{}:auth-int:{ha2}",
            challenge.nonce, answer.cnonce
        )
        .as_bytes(),
    );
    assert_eq!(param(&info, "rspauth"), Some(expected.as_str()));
    assert_eq!(param(&info, "nc"), Some("00000001"));
}

// ---- the header before the body ----

/// A request body that records whether it was ever polled, and then yields `data`.
struct Watched {
    polled: Arc<AtomicBool>,
    data: Option<Bytes>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.polled.store(true, Ordering::SeqCst);
        std::task::Poll::Ready(
            self.data
                .take()
                .map(|data| Ok(http_body::Frame::data(data))),
        )
    }
}

/// A layer that locks a user (per address) after two failures, on a manual clock.
fn strict_fixture(clock: &ManualClock) -> Fixture {
    let calls = Arc::new(AtomicUsize::new(0));
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .clock(clock.clone())
        .throttle(
            ThrottleConfig::default()
                .per_address_and_user(FailureLimit::new(2, std::time::Duration::from_secs(600))),
        )
        .build_auth_int(LIMIT)
        .unwrap();
    Fixture {
        service: Outer::new(tower::Layer::layer(&layer, inner(calls.clone()))),
        calls,
    }
}

impl Fixture {
    /// Sends an auth-int answer over `body` in a body that records being read.
    async fn send_watched(&self, header: &str, body: &'static [u8]) -> (Response<()>, bool) {
        let polled = Arc::new(AtomicBool::new(false));
        let watched = Body::new(Watched {
            polled: polled.clone(),
            data: Some(Bytes::from_static(body)),
        });
        let (response, _) = self.send(post("/echo", Some(header), watched)).await;
        (response, polled.load(Ordering::SeqCst))
    }
}

const WATCHED: &[u8] = b"amount=10";

impl Fixture {
    /// An auth-int answer over [`WATCHED`] from `answer`'s user, to a fresh challenge.
    async fn watched_answer(&self, answer: Answer<'_>) -> (Response<()>, bool) {
        let challenge = self.challenge().await;
        let header = answer.method("POST").auth_int(WATCHED).header(&challenge);
        self.send_watched(&header, WATCHED).await
    }
}

#[tokio::test]
async fn a_locked_out_client_gets_429_without_its_body_being_read() {
    let f = strict_fixture(&ManualClock::new());
    // Two wrong passwords: each read and verified, each counted once (a double count
    // would lock after the first).
    for _ in 0..2 {
        let (response, read) = f
            .watched_answer(Answer::get("/echo").password("wrong"))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(read, "a header that passes is followed by its body");
    }
    // Locked now: even the right password gets 429, and its body is never read.
    let (response, read) = f.watched_answer(Answer::get("/echo")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(http::header::RETRY_AFTER));
    assert!(!read, "a locked-out client's body is never read");
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_forged_nonce_gets_401_without_the_body_being_read() {
    let f = strict_fixture(&ManualClock::new());
    let mut forged = f.challenge().await;
    forged.nonce = forged.nonce.chars().rev().collect();
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(WATCHED)
        .header(&forged);
    let (response, read) = f.send_watched(&header, WATCHED).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenges(response.headers())[0].stale);
    assert!(!read, "a forged nonce's body is never read");
}

#[tokio::test]
async fn an_expired_nonce_gets_a_stale_401_without_the_body_being_read_and_counts_nothing() {
    let clock = ManualClock::new();
    let f = strict_fixture(&clock);
    // Right and wrong passwords alike: the age is known before the password can be checked.
    for password in [PASSWORD, "wrong", "wrong", "wrong"] {
        let challenge = f.challenge().await;
        clock.advance(std::time::Duration::from_secs(31 * 60));
        let header = Answer::get("/echo")
            .method("POST")
            .password(password)
            .auth_int(WATCHED)
            .header(&challenge);
        let (response, read) = f.send_watched(&header, WATCHED).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(challenges(response.headers())[0].stale);
        assert!(!read, "an expired nonce's body is never read");
    }
    // Three wrong passwords on expired nonces counted nothing: not locked.
    let (response, read) = f.watched_answer(Answer::get("/echo")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(read);
}

/// Sends a request head that announces `length` body bytes and never sends them.
async fn head_only(addr: SocketAddr, authorization: &str, length: usize) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Well below the 30 s body timeout: the answer comes from the header alone.
    read_response(&mut stream, std::time::Duration::from_secs(5)).await
}

/// Serves `/echo` behind auth-int with a user locked after one failure per address.
async fn serve_strict() -> SocketAddr {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .throttle(
            ThrottleConfig::default()
                .per_address_and_user(FailureLimit::new(1, std::time::Duration::from_secs(600))),
        )
        .build_auth_int(LIMIT)
        .unwrap();
    serve_layer(layer).await
}

#[tokio::test]
async fn over_a_socket_a_forged_nonce_gets_401_before_the_body_is_sent() {
    let addr = serve_strict().await;
    let mut forged = socket_challenge(addr).await;
    forged.nonce = forged.nonce.chars().rev().collect();
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(&[b'a'; 1000])
        .header(&forged);
    let response = head_only(addr, &header, 1000).await;
    assert_eq!(response.status, 401);
    assert!(!challenge_from(response.all("www-authenticate")[0]).stale);
}

#[tokio::test]
async fn over_a_socket_a_locked_out_client_gets_429_before_the_body_is_sent() {
    let addr = serve_strict().await;
    // One wrong password locks the user from this address.
    let challenge = socket_challenge(addr).await;
    let wrong = Answer::get("/echo")
        .method("POST")
        .password("wrong")
        .auth_int(b"x")
        .header(&challenge);
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {wrong}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    );
    assert_eq!(exchange(addr, request.as_bytes()).await.status, 401);
    // The right password, the body announced and never sent: 429 at once.
    let challenge = socket_challenge(addr).await;
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(&[b'a'; 1000])
        .header(&challenge);
    let response = head_only(addr, &header, 1000).await;
    assert_eq!(response.status, 429);
    assert!(response.header("retry-after").is_some());
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_with_408() {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .build_auth_int(LIMIT)
        .unwrap()
        .body_timeout(std::time::Duration::from_millis(300));
    let addr = serve_layer(layer).await;
    let challenge = socket_challenge(addr).await;
    let body = [b'a'; 1000];
    let header = Answer::get("/echo")
        .method("POST")
        .auth_int(&body)
        .header(&challenge);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms, until the server stops listening (1000 bytes: 100 s).
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = reader.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    trickle.abort();
    assert!(
        read.is_ok(),
        "no answer within 10 s: the body was not cut off"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
}

#[tokio::test]
async fn a_method_that_passes_unauthenticated_is_not_checked_even_with_an_auth_int_header() {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .unauthenticated_methods([http::Method::OPTIONS])
        .build_auth_int(LIMIT)
        .unwrap();
    let echo = Inner::new(service_fn(|request: Request<Body>| async move {
        let body = request.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Body::from(body)))
    }));
    let service = Outer::new(tower::Layer::layer(&layer, echo));
    let mut forged = Fixture {
        service: service.clone(),
        calls: Arc::default(),
    }
    .challenge()
    .await;
    forged.nonce = forged.nonce.chars().rev().collect();
    let header = Answer::get("/echo")
        .method("OPTIONS")
        .auth_int(b"probe")
        .header(&forged);
    let mut request = post("/echo", Some(&header), Body::from("probe"));
    *request.method_mut() = http::Method::OPTIONS;
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "passed on, as the layer does"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "probe");
}
