//! Where the client address comes from, over real sockets: `X-Real-IP` is believed from a
//! trusted proxy and ignored from anyone else. Clients connect from 127.0.0.1 (the trusted
//! proxy) and from 127.0.0.2 (anyone else), both of which reach a server on 127.0.0.1.

#![allow(missing_docs)]

mod common;
#[path = "common/wire.rs"]
mod wire;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges};
use http::StatusCode;
use tower_digest_auth::{AuthenticatedUser, ClientIpSource, DigestLayer, MemoryCredentials};
use wire::get_from;

const PROXY: &str = "127.0.0.1";
const OTHER: &str = "127.0.0.2";

/// A server trusting `X-Real-IP` from 127.0.0.1 only.
async fn server() -> SocketAddr {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .client_ip(ClientIpSource::XRealIp(vec![PROXY.parse().unwrap()]))
        .algorithms(["SHA-256".parse().unwrap()])
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|user: AuthenticatedUser| async move { user.username().to_owned() }),
        )
        .route_layer(layer);
    wire::serve(app).await
}

/// A challenge fetched from `from`, saying `X-Real-IP: real_ip`.
async fn challenge(server: SocketAddr, from: &str, real_ip: &str) -> Challenge {
    let (status, headers) = get_from(server, from, "/whoami", &[("x-real-ip", real_ip)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    challenges(&headers).remove(0)
}

/// The status of a correct answer to `challenge`, sent from `from` saying `X-Real-IP: real_ip`.
async fn answer(
    server: SocketAddr,
    challenge: &Challenge,
    from: &str,
    real_ip: &str,
) -> StatusCode {
    let authorization = Answer::get("/whoami").header(challenge);
    let headers = [
        ("authorization", authorization.as_str()),
        ("x-real-ip", real_ip),
    ];
    get_from(server, from, "/whoami", &headers).await.0
}

#[tokio::test]
async fn x_real_ip_from_a_trusted_proxy_is_the_client_the_nonce_is_bound_to() {
    let server = server().await;
    let nonce = challenge(server, PROXY, "203.0.113.9").await;
    // Another client behind the same proxy cannot use it...
    assert_eq!(
        answer(server, &nonce, PROXY, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    // ...the client it was issued to can.
    assert_eq!(
        answer(server, &nonce, PROXY, "203.0.113.9").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn x_real_ip_from_an_untrusted_peer_is_ignored() {
    let server = server().await;
    // The header changes nothing: the nonce is bound to the connection's address.
    let nonce = challenge(server, OTHER, "203.0.113.9").await;
    assert_eq!(
        answer(server, &nonce, OTHER, "198.51.100.1").await,
        StatusCode::OK
    );
    // Nor can an untrusted peer pose as a client behind the proxy.
    let proxied = challenge(server, PROXY, "203.0.113.9").await;
    assert_eq!(
        answer(server, &proxied, OTHER, "203.0.113.9").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_trusted_proxy_without_x_real_ip_gets_400() {
    let server = server().await;
    let (status, _) = get_from(server, PROXY, "/whoami", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
