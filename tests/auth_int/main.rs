//! `qop=auth-int`: the request body under the client's answer, 413 past the limit, the
//! body unchanged for the inner service, and `rspauth` over the response body. Through
//! `oneshot` with the suite's own client, and over a socket with aiohttp (a real client
//! that prefers auth-int when offered) and raw HTTP/1.1.

#![allow(missing_docs)]

mod body_last;
#[path = "../common/mod.rs"]
mod common;
mod socket;
mod wire;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, client_addr, param, params};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceExt, service_fn};
use tower_digest_auth::auth_int::AuthIntBody;
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials, PeerAddr};

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
