//! The header before the body: a request that fails on its header alone (locked out, forged or
//! expired nonce) is answered without its body being read, and a trickling body is cut off.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use http::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
use tower_digest_auth::{DigestLayer, MemoryCredentials};

use super::{Fixture, LIMIT, Outer, inner, post};
use crate::common::{Answer, PASSWORD, REALM, USER, challenges};
use crate::wire::{
    challenge_from, exchange, head_only, serve_layer, serve_strict, socket_challenge,
};

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
