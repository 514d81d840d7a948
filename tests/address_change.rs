//! A client whose address changes between requests, over real sockets: a server on
//! 127.0.0.1, clients bound to 127.0.0.2, 127.0.0.3 and 127.0.1.2 (all of 127.0.0.0/8
//! reaches it). A nonce answered rightly from an address outside its binding gets
//! `stale=true` and a nonce for the new address, never a password prompt; answered wrongly,
//! a 401 without `stale` that the throttle counts.

#![allow(missing_docs)]

mod common;
#[path = "common/wire.rs"]
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Answer, Challenge, REALM, USER, challenges};
use http::{HeaderMap, StatusCode};
use tower_digest_auth::nonce::AddressBinding;
use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};

const FIRST: &str = "127.0.0.2";
const MOVED: &str = "127.0.0.3";
const OTHER_NETWORK: &str = "127.0.1.2";

/// A server with `binding`, locking an address and user after one failed login.
async fn server(binding: AddressBinding) -> SocketAddr {
    let users = MemoryCredentials::new(REALM, [(USER, common::PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users)
        .algorithms(["SHA-256".parse().unwrap()])
        .address_binding(binding)
        .throttle(
            ThrottleConfig::default()
                .per_address_and_user(FailureLimit::new(1, Duration::from_secs(600))),
        )
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

/// One `GET /whoami` on its own connection from `from`, with `authorization` if any.
async fn get_from(
    server: SocketAddr,
    from: &str,
    authorization: Option<&str>,
) -> (StatusCode, HeaderMap) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    wire::get_from(server, from, "/whoami", &headers).await
}

/// The challenge `from` gets without credentials.
async fn challenge_for(server: SocketAddr, from: &str) -> Challenge {
    let (status, headers) = get_from(server, from, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    challenges(&headers).remove(0)
}

/// A 401 whose challenge is (or is not) stale; returns that challenge.
fn refused(answer: (StatusCode, HeaderMap), stale: bool) -> Challenge {
    let (status, headers) = answer;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
    let challenge = challenges(&headers).remove(0);
    assert_eq!(challenge.stale, stale, "{headers:?}");
    challenge
}

fn answer(challenge: &Challenge, nc: u32) -> String {
    Answer::get("/whoami").nc(nc).header(challenge)
}

#[tokio::test]
async fn a_right_answer_from_a_new_address_is_stale_and_the_new_nonce_logs_in() {
    let server = server(AddressBinding::exact()).await;
    let first = challenge_for(server, FIRST).await;
    let ok = get_from(server, FIRST, Some(&answer(&first, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);

    // The client moved: its nonce, next nc, right password, from 127.0.0.3.
    let moved = refused(
        get_from(server, MOVED, Some(&answer(&first, 2))).await,
        true,
    );
    // The fresh nonce is bound to the new address: it logs in from there ...
    let ok = get_from(server, MOVED, Some(&answer(&moved, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);
    // ... and is itself foreign to the old one.
    refused(
        get_from(server, FIRST, Some(&answer(&moved, 2))).await,
        true,
    );
    // Nothing was recorded for the refused use: the old nonce goes on from its address.
    let ok = get_from(server, FIRST, Some(&answer(&first, 2))).await;
    assert_eq!(ok.0, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_answer_from_a_new_address_is_not_stale_and_counts_as_a_failure() {
    let server = server(AddressBinding::exact()).await;
    let first = challenge_for(server, FIRST).await;
    let wrong = Answer::get("/whoami").password("guess").header(&first);
    refused(get_from(server, MOVED, Some(&wrong)).await, false);
    // One failure locks 127.0.0.3 for this user (the server's limit): even a right
    // answer to its own nonce is refused now, with 429.
    let own = challenge_for(server, MOVED).await;
    let locked = get_from(server, MOVED, Some(&answer(&own, 1))).await;
    assert_eq!(locked.0, StatusCode::TOO_MANY_REQUESTS);
    // The address the nonce was issued to is not locked.
    let ok = get_from(server, FIRST, Some(&answer(&first, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);
}

#[tokio::test]
async fn a_right_answer_from_a_new_address_is_no_failure() {
    let server = server(AddressBinding::exact()).await;
    let first = challenge_for(server, FIRST).await;
    refused(
        get_from(server, MOVED, Some(&answer(&first, 1))).await,
        true,
    );
    refused(
        get_from(server, MOVED, Some(&answer(&first, 2))).await,
        true,
    );
    // With a limit of one failure, either would have locked 127.0.0.3.
    let own = challenge_for(server, MOVED).await;
    let ok = get_from(server, MOVED, Some(&answer(&own, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);
}

#[tokio::test]
async fn a_network_binding_keeps_the_nonce_inside_the_network_and_is_stale_outside() {
    let server = server(AddressBinding::same_network()).await;
    let first = challenge_for(server, FIRST).await;
    // 127.0.0.2 and 127.0.0.3 share a /24: no round trip at all.
    let ok = get_from(server, MOVED, Some(&answer(&first, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);
    // 127.0.1.2 is another /24.
    let moved = refused(
        get_from(server, OTHER_NETWORK, Some(&answer(&first, 2))).await,
        true,
    );
    let ok = get_from(server, OTHER_NETWORK, Some(&answer(&moved, 1))).await;
    assert_eq!(ok.0, StatusCode::OK);
    // Replays are refused inside the network as everywhere.
    refused(
        get_from(server, FIRST, Some(&answer(&first, 1))).await,
        false,
    );
}

#[tokio::test]
async fn an_unbound_nonce_is_accepted_from_anywhere_once_per_nc() {
    let server = server(AddressBinding::unbound()).await;
    let first = challenge_for(server, FIRST).await;
    for (nc, from) in [(1, MOVED), (2, OTHER_NETWORK), (3, FIRST)] {
        let ok = get_from(server, from, Some(&answer(&first, nc))).await;
        assert_eq!(ok.0, StatusCode::OK, "nc {nc} from {from}");
    }
    refused(
        get_from(server, MOVED, Some(&answer(&first, 2))).await,
        false,
    );
}
