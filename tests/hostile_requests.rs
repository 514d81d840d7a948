//! Defects found in review (issue 8, part 4), each driven through the service with
//! `oneshot`: what a hostile client could do before, and what it gets now.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use common::{Answer, REALM, USER, challenges, request, request_from};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::{
    AuthenticatedUser, ClientIpSource, DigestLayer, DigestLayerBuilder, MemoryCredentials,
};

type Service = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

fn service(
    configure: impl FnOnce(
        DigestLayerBuilder<MemoryCredentials>,
    ) -> DigestLayerBuilder<MemoryCredentials>,
) -> Service {
    let users = MemoryCredentials::new(REALM, [(USER, common::PASSWORD)]);
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .unwrap();
    let inner = service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(format!("hello {}", user.username())))
    });
    Service::new(tower::Layer::layer(&layer, inner))
}

async fn send(service: &Service, request: Request<String>) -> Response<String> {
    service.clone().oneshot(request).await.unwrap()
}

// ---- CONNECT host:port ----

#[tokio::test]
async fn connect_answers_must_name_the_authority_not_slash() {
    let service = service(|b| b);
    let connect =
        |authorization: Option<&str>| request("CONNECT", "example.org:443", authorization);
    let response = send(&service, connect(None)).await;
    let challenge = challenges(response.headers()).remove(0);

    // An answer computed for `uri="/"` (any origin-form request to `/` would do) was
    // accepted for a tunnel to any host: the target has no path, and `/` was assumed.
    let slash = Answer::get("/").method("CONNECT").header(&challenge);
    let response = send(&service, connect(Some(&slash))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.body(), "uri does not match the request target");

    let authority = Answer::get("example.org:443")
        .method("CONNECT")
        .nc(2)
        .header(&challenge);
    let response = send(&service, connect(Some(&authority))).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The same answer does not open a tunnel elsewhere.
    let elsewhere = Answer::get("example.org:443")
        .method("CONNECT")
        .nc(3)
        .header(&challenge);
    let response = send(
        &service,
        request("CONNECT", "evil.example:443", Some(&elsewhere)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

// ---- C1 control characters in the plain username ----

#[tokio::test]
async fn c1_control_characters_in_a_plain_username_are_refused_like_in_username_star() {
    let service = service(|b| b);
    let response = send(&service, request("GET", "/", None)).await;
    let challenge = challenges(response.headers()).remove(0);
    // U+009B is a terminal's CSI: "\u{9b}31m" would colour a log viewer's output.
    for name in ["Mu\u{9b}31mfasa", "Mufasa\u{85}", "\u{80}"] {
        let header = Answer::get("/").username(name).header(&challenge);
        let mut request = request("GET", "/", None);
        request.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(header.as_bytes()).unwrap(),
        );
        let response = send(&service, request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(response.body(), "username has control characters");
    }
    // username* refused the same characters already.
    let header = Answer::get("/")
        .header(&challenge)
        .replace("username=\"Mufasa\"", "username*=UTF-8''Mu%C2%9B31mfasa");
    let response = send(&service, request("GET", "/", Some(&header))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Other non-ASCII letters stay welcome (an unknown user here: 401, not 400).
    let header = Answer::get("/").username("Mufas\u{e4}").header(&challenge);
    let mut request = request("GET", "/", None);
    request.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(header.as_bytes()).unwrap(),
    );
    assert_eq!(
        send(&service, request).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

// ---- forwarding headers behind a trusted proxy ----

const PROXY: &str = "10.0.0.1:80";

fn behind_proxy(source: ClientIpSource) -> Service {
    service(|b| b.client_ip(source))
}

fn xff(ranges: &[&str]) -> ClientIpSource {
    ClientIpSource::XForwardedFor(ranges.iter().map(|r| r.parse().unwrap()).collect())
}

/// A request as the proxy passes it on: `forwarded` is the whole header it writes.
fn via_proxy(forwarded: &[u8], authorization: Option<&str>) -> Request<String> {
    let proxy: SocketAddr = PROXY.parse().unwrap();
    let mut request = request_from(proxy, "GET", "/", authorization);
    request.headers_mut().insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(forwarded).unwrap(),
    );
    request
}

/// What a client writes into `X-Forwarded-For` before its proxy appends the real address
/// is never read: 40 hops of padding or non-ASCII bytes no longer turn into a 500 with an
/// error-level log.
#[tokio::test]
async fn client_written_forwarding_hops_cannot_force_a_500() {
    let service = behind_proxy(xff(&["10.0.0.0/8"]));
    let padding = vec!["198.51.100.1"; 40].join(", ");
    let cases: [Vec<u8>; 3] = [
        format!("{padding}, 203.0.113.5").into_bytes(),
        b"\xc3\xa9t\xc3\xa9, 203.0.113.5".to_vec(),
        b"\xff, 203.0.113.5".to_vec(),
    ];
    for forwarded in cases {
        let response = send(&service, via_proxy(&forwarded, None)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{:?}",
            String::from_utf8_lossy(&forwarded)
        );
        // The nonce is bound to the client the proxy named.
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/").header(&challenge);
        let response = send(&service, via_proxy(&forwarded, Some(&header))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = send(&service, via_proxy(b"203.0.113.6", Some(&header))).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "another client"
        );
    }
}

#[tokio::test]
async fn an_unusable_forwarding_header_from_a_trusted_proxy_is_a_400_with_its_reason() {
    let service = behind_proxy(xff(&["10.0.0.0/8"]));
    let trusted_chain = vec!["10.0.0.2"; 33].join(", ");
    let cases: [(&[u8], &str); 3] = [
        (
            trusted_chain.as_bytes(),
            "forwarding header has more than 32 trusted hops",
        ),
        (
            b"203.0.113.5, \xff",
            "forwarding header has a hop that is not ASCII",
        ),
        (
            b"unknown",
            "forwarding header has a hop that is not an address",
        ),
    ];
    for (forwarded, reason) in cases {
        let response = send(&service, via_proxy(forwarded, None)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        assert_eq!(response.body(), reason);
        assert!(response.headers().get("www-authenticate").is_none());
    }
    let proxy: SocketAddr = PROXY.parse().unwrap();
    let response = send(&service, request_from(proxy, "GET", "/", None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.body(), "trusted proxy sent no forwarding header");
}

/// Trusted ranges written as IPv4-mapped IPv6 hold their IPv4 proxies: before, the /104
/// was applied to the 32 IPv4 bits, the proxy was not trusted, and every client behind it
/// shared the proxy's address (one client's nonce worked for all of them).
#[tokio::test]
async fn ipv4_mapped_trusted_ranges_trust_their_ipv4_proxies() {
    for range in ["::ffff:10.0.0.0/104", "::ffff:0:0/96"] {
        let service = behind_proxy(xff(&[range]));
        let response = send(&service, via_proxy(b"203.0.113.5", None)).await;
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/").header(&challenge);
        let other = send(&service, via_proxy(b"203.0.113.6", Some(&header))).await;
        assert_eq!(
            other.status(),
            StatusCode::UNAUTHORIZED,
            "{range}: a nonce of 203.0.113.5 must not work for 203.0.113.6"
        );
        let same = send(&service, via_proxy(b"203.0.113.5", Some(&header))).await;
        assert_eq!(same.status(), StatusCode::OK, "{range}");
    }
}
