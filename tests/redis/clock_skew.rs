//! Instances whose clocks differ by the whole tolerated skew (60 s) share one Redis: a
//! window lives as long as any of them still accepts its nonce.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::nonce::RedisNonceStore;
use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};

use super::common::{Answer, PASSWORD, REALM, USER, challenges};
use super::support::RedisServer;
use super::{connected, send};

const SKEW: Duration = Duration::from_secs(60);
const LIFETIME: Duration = Duration::from_secs(30);
/// The last millisecond of a nonce's life, after its issue.
const LAST_MS: Duration = Duration::from_millis(29_999);

fn instance(
    server: &RedisServer,
    clock: &ManualClock,
) -> DigestLayer<MemoryCredentials, RedisNonceStore> {
    DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(NonceKey::from_bytes(1, &[42; 32]).unwrap())
        .nonce_store(RedisNonceStore::from_url(&server.url()).unwrap().build())
        .nonce_lifetime(LIFETIME)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_accepted_by_a_fast_clock_near_its_nonces_end_is_never_accepted_by_a_slow_clock()
{
    let server = RedisServer::start();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let slow_clock = ManualClock::starting_at(start);
    let fast_clock = ManualClock::starting_at(start + SKEW);
    let (slow, fast) = (
        instance(&server, &slow_clock),
        instance(&server, &fast_clock),
    );
    connected(&slow).await;
    connected(&fast).await;

    let challenge = challenges(send(&fast, None).await.headers()).remove(0);
    let answer = Answer::get("/").header(&challenge);
    // The nonce's last millisecond by the fast clock.
    fast_clock.advance(LAST_MS);
    assert_eq!(send(&fast, Some(&answer)).await.status(), StatusCode::OK);

    // Long past a TTL of the nonce's remaining life by the fast clock (1 ms).
    tokio::time::sleep(Duration::from_millis(100)).await;
    // By the slow clock the nonce was issued 60 s ahead: accepted from now until the
    // slow clock's own last millisecond of the nonce's life.
    for advance in [Duration::ZERO, SKEW + LAST_MS] {
        slow_clock.advance(advance);
        let response = send(&slow, Some(&answer)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "replay on the slow clock, {advance:?} later"
        );
        assert!(
            challenges(response.headers()).iter().all(|c| !c.stale),
            "a replay, not stale"
        );
    }
    // The window outlives the slowest acceptance: at least the skew.
    let keys = server.cli(&["--scan", "--pattern", "digest:nonce:*"]);
    let ttls: Vec<i64> = keys
        .lines()
        .filter(|key| !key.is_empty())
        .map(|key| server.cli(&["PTTL", key]).trim().parse().unwrap())
        .filter(|ttl| *ttl >= 0)
        .collect();
    assert!(!ttls.is_empty());
    assert!(ttls.iter().all(|ttl| *ttl > 60_000), "PTTLs {ttls:?}");
}
