//! Restarts, key rotation, overlapping deploys and clock steps, without sleeping: a
//! request that succeeded once must never succeed again on another process, and a
//! genuine nonce must never be taken for a forgery.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use common::{Answer, PASSWORD, REALM, USER, challenges, request};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::clock::{Clock, ManualClock};
use tower_digest_auth::nonce::{MemoryNonceStore, NonceStore};
use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;
type Layer<N = MemoryNonceStore> = DigestLayer<MemoryCredentials, N>;

fn inner() -> Inner {
    tower::util::BoxCloneSyncService::new(service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    }))
}

fn key() -> NonceKey {
    NonceKey::from_bytes(1, &[1; 32]).unwrap()
}

/// A layer with the shared `key`, its own nonce store and `clock`: one process.
fn process(clock: &ManualClock) -> Layer {
    process_with(clock, MemoryNonceStore::new())
}

fn process_with<N: NonceStore>(clock: &ManualClock, nonces: N) -> Layer<N> {
    DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(key())
        .nonce_store(nonces)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn send<N: NonceStore>(layer: &Layer<N>, authorization: Option<&str>) -> Response<String> {
    tower::Layer::layer(layer, inner())
        .oneshot(request("GET", "/", authorization))
        .await
        .unwrap()
}

/// A challenge from `layer`, answered once there successfully: the captured request (nc 1)
/// and the next one the client would send (nc 2).
async fn captured<N: NonceStore>(layer: &Layer<N>) -> (String, String) {
    let response = send(layer, None).await;
    let challenge = challenges(response.headers()).remove(0);
    let first = Answer::get("/").header(&challenge);
    assert_eq!(send(layer, Some(&first)).await.status(), StatusCode::OK);
    (first, Answer::get("/").nc(2).header(&challenge))
}

fn assert_stale(response: &Response<String>, why: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenges = challenges(response.headers());
    assert!(!challenges.is_empty(), "{why}: a 401 carries challenges");
    assert!(challenges.iter().all(|c| c.stale), "{why}: stale=true");
}

#[tokio::test]
async fn a_replay_on_a_process_started_in_the_same_second_is_stale_never_200() {
    let clock = ManualClock::new();
    let old = process(&clock);
    let (first, next) = captured(&old).await;
    // The old process dies; the new one starts at the very same instant.
    let new = process(&clock);
    for answer in [&first, &next] {
        assert_stale(&send(&new, Some(answer)).await, "replayed after a restart");
    }
}

#[tokio::test]
async fn a_replay_on_a_process_started_before_the_nonce_was_issued_is_stale_never_200() {
    // Blue/green: the new process starts first, the old one keeps serving while it drains.
    let clock = ManualClock::new();
    let new = process(&clock);
    clock.advance(Duration::from_secs(5));
    let old = process(&clock);
    let (first, next) = captured(&old).await;
    for answer in [&first, &next] {
        assert_stale(&send(&new, Some(answer)).await, "replayed on the overlap");
    }
    // Its own nonces work as ever.
    let (_, own_next) = captured(&new).await;
    assert_eq!(send(&new, Some(&own_next)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn layers_sharing_one_store_accept_each_others_nonces_once() {
    let clock = ManualClock::new();
    let nonces = MemoryNonceStore::new();
    let a = process_with(&clock, nonces.clone());
    let b = process_with(&clock, nonces);
    let (first, next) = captured(&a).await;
    assert_eq!(send(&b, Some(&next)).await.status(), StatusCode::OK);
    assert_eq!(
        send(&b, Some(&first)).await.status(),
        StatusCode::UNAUTHORIZED,
        "nc 1 was used on the other layer"
    );
}

#[tokio::test]
async fn a_layer_clock_far_behind_the_system_clock_still_authenticates() {
    // NTP stepped the clock back after start, or a custom clock: only the layer's clock
    // counts, so nothing turns stale.
    let clock = ManualClock::starting_at(SystemTime::now() - Duration::from_secs(3 * 3600));
    let layer = process(&clock);
    let (_, next) = captured(&layer).await;
    assert_eq!(send(&layer, Some(&next)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_genuine_nonce_from_before_a_backward_clock_step_is_stale_not_forged() {
    let clock = ManualClock::new();
    let nonces = MemoryNonceStore::new();
    let layer = process_with(&clock, nonces.clone());
    let response = send(&layer, None).await;
    let challenge = challenges(response.headers()).remove(0);
    // The clock steps back two minutes: the nonce now looks issued in the future.
    let stepped = ManualClock::starting_at(clock.now() - Duration::from_secs(120));
    let after_step = process_with(&stepped, nonces);
    let answer = Answer::get("/").header(&challenge);
    assert_stale(
        &send(&after_step, Some(&answer)).await,
        "after a clock step",
    );
    // With a wrong password it is an ordinary failure: a plain 401, not stale.
    let wrong = Answer::get("/").password("nope").header(&challenge);
    let response = send(&after_step, Some(&wrong)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(response.headers()).iter().all(|c| !c.stale));
}

#[tokio::test]
async fn a_rotated_key_keeps_live_nonces_working() {
    let old_key = NonceKey::from_bytes(1, &[1; 32]).unwrap();
    let new_key = NonceKey::from_bytes(2, &[2; 32]).unwrap();
    let nonces = MemoryNonceStore::new();
    let old = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(old_key.clone())
        .nonce_store(nonces.clone())
        .build()
        .unwrap();
    let rotated = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(new_key)
        .previous_nonce_key(old_key)
        .nonce_store(nonces)
        .build()
        .unwrap();
    let (_, next) = captured(&old).await;
    assert_eq!(send(&rotated, Some(&next)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_a_restart_with_a_random_key_clients_get_a_fresh_challenge() {
    let users = || MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let before = DigestLayer::builder(REALM, users()).build().unwrap();
    let after = DigestLayer::builder(REALM, users()).build().unwrap();
    let (_, next) = captured(&before).await;
    let response = send(&after, Some(&next)).await;
    // Not a 400 for a changed opaque (it depends on the realm only), and not stale: the
    // nonce does not verify under the new key.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(response.headers());
    assert_eq!(challenges.len(), 2);
    assert!(challenges.iter().all(|c| !c.stale));
}

#[tokio::test]
async fn a_nonce_is_accepted_until_the_millisecond_before_its_lifetime_ends_and_stale_at_it() {
    // A whole second, so the issue time the nonce carries is exactly the clock's.
    let clock =
        ManualClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let lifetime = Duration::from_secs(30);
    let layer = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(key())
        .nonce_lifetime(lifetime)
        .clock(clock.clone())
        .build()
        .unwrap();
    let challenge = |response: Response<String>| challenges(response.headers()).remove(0);
    let last_moment = challenge(send(&layer, None).await);
    let at_the_end = challenge(send(&layer, None).await);

    clock.advance(Duration::from_millis(29_999));
    let response = send(&layer, Some(&Answer::get("/").header(&last_moment))).await;
    assert_eq!(response.status(), StatusCode::OK, "age = lifetime - 1 ms");

    clock.advance(Duration::from_millis(1));
    let response = send(&layer, Some(&Answer::get("/").header(&at_the_end))).await;
    assert_stale(&response, "age = lifetime");
}
