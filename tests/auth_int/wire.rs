//! HTTP/1.1 over a loopback socket: the layer served on a port, raw requests, and responses
//! read back.

use std::net::SocketAddr;

use axum::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_digest_auth::auth_int::AuthIntLayer;
use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};

use super::LIMIT;
use crate::common::{Challenge, PASSWORD, REALM, USER, param, params};

pub(super) async fn serve() -> SocketAddr {
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
/// One raw HTTP/1.1 exchange; the status code.
pub(super) async fn raw(addr: SocketAddr, request: &[u8]) -> u16 {
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

pub(super) async fn socket_challenge(addr: SocketAddr) -> Challenge {
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

/// One HTTP/1.1 response read off a socket: status, headers (names lowercase), body.
pub(super) struct RawResponse {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl RawResponse {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads one response (head, then `Content-Length` bytes of body) without waiting for
/// the connection to close; panics unless it is all there within `within`.
pub(super) async fn read_response(
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
pub(super) async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream, std::time::Duration::from_secs(10)).await
}

/// Serves `/echo` (the user's name, `:`, the body) behind `layer`.
pub(super) async fn serve_layer(layer: AuthIntLayer<MemoryCredentials>) -> SocketAddr {
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

pub(super) fn challenge_from(header: &str) -> Challenge {
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

/// Sends a request head that announces `length` body bytes and never sends them.
pub(super) async fn head_only(addr: SocketAddr, authorization: &str, length: usize) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Well below the 30 s body timeout: the answer comes from the header alone.
    read_response(&mut stream, std::time::Duration::from_secs(5)).await
}

/// Serves `/echo` behind auth-int with a user locked after one failure per address.
pub(super) async fn serve_strict() -> SocketAddr {
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
