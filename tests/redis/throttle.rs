//! The shared failed-login throttle: one contract run against every `FailureStore` (the
//! memory store, one Redis node, a Redis Cluster), layers and example-server processes
//! that share a Redis counting together, and a Redis that fails or never answers.

use std::fmt::Debug;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_digest_auth::throttle::{
    Admission, AttemptOutcome, FailureKey, FailureLimit, FailureStore, MemoryFailureStore,
    NewLocks, RedisFailureStore, ThrottleConfig,
};
use tower_digest_auth::{DigestLayer, MemoryCredentials};

use super::common::{Answer, PASSWORD, REALM, USER, challenges};
use super::e2e::{ServerProcess, curl_status};
use super::support::{self, RedisCluster, RedisServer, wait_until};
use super::{rand_u64, send};

// ---------------------------------------------------------------------------------------
// The store contract, one body for every store.

/// A store under test, with a way to count the records it holds.
trait Subject: FailureStore<Error: Debug> {
    /// How many records the store holds at `at` (the layer's clock); a shared store
    /// also proves that each has a TTL.
    async fn held(&self, at: SystemTime) -> usize;
}

impl Subject for MemoryFailureStore {
    async fn held(&self, at: SystemTime) -> usize {
        self.sweep_expired(at);
        self.len()
    }
}

/// A Redis store with the servers whose keys it counts.
#[derive(Clone)]
struct OnRedis {
    store: RedisFailureStore,
    prefix: String,
    ports: Vec<u16>,
}

impl OnRedis {
    fn single(server: &RedisServer) -> Self {
        let prefix = format!("t{}:", rand_u64());
        let store = RedisFailureStore::from_url(&server.url())
            .unwrap()
            .prefix(prefix.clone())
            .build();
        OnRedis {
            store,
            prefix,
            ports: vec![server.port],
        }
    }

    fn cluster(cluster: &RedisCluster) -> Self {
        let prefix = format!("t{}:", rand_u64());
        let store = RedisFailureStore::from_cluster_urls(cluster.urls())
            .unwrap()
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .build();
        OnRedis {
            store,
            prefix,
            ports: cluster.nodes.iter().map(|n| n.port).collect(),
        }
    }

    /// Every key of this store, per node.
    fn keys(&self) -> Vec<(u16, String)> {
        let pattern = format!("{}*", self.prefix);
        let mut keys = Vec::new();
        for &port in &self.ports {
            let found = support::cli(port, &["--scan", "--pattern", &pattern]);
            keys.extend(
                found
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|k| (port, k.to_owned())),
            );
        }
        keys
    }
}

impl FailureStore for OnRedis {
    type Error = <RedisFailureStore as FailureStore>::Error;

    async fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Admission, Self::Error> {
        self.store.reserve(key, limits, now).await
    }

    async fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<NewLocks, Self::Error> {
        self.store.settle(key, outcome, limits, now).await
    }

    async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, Self::Error> {
        self.store.lock(key, now).await
    }
}

impl Subject for OnRedis {
    async fn held(&self, _at: SystemTime) -> usize {
        let keys = self.keys();
        for (port, key) in &keys {
            let ttl: i64 = support::cli(*port, &["TTL", key]).trim().parse().unwrap();
            // The longest a record lives: a window past the longest lock.
            assert!((1..=600 + 240 + 600).contains(&ttl), "{key}: TTL {ttl}");
        }
        keys.len()
    }
}

/// Times of the layer's clock, in whole seconds from an arbitrary start.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn limits(per_user: u32, per_address: u32) -> ThrottleConfig {
    let limit = |max| {
        FailureLimit::new(max, Duration::from_secs(600))
            .lockout(Duration::from_secs(60), Duration::from_secs(240))
    };
    ThrottleConfig::default()
        .per_address_and_user(limit(per_user))
        .per_address(limit(per_address))
}

fn key(address: &str, username: &'static str) -> FailureKey<'static> {
    FailureKey::new(address.parse::<IpAddr>().unwrap(), username)
}

const SECOND: Admission = Admission::Refused(Duration::from_secs(1));

async fn reserve<S: Subject>(
    store: &S,
    key: FailureKey<'_>,
    limits: &ThrottleConfig,
    now: u64,
) -> Admission {
    store.reserve(key, limits, at(now)).await.unwrap()
}

async fn settle<S: Subject>(
    store: &S,
    key: FailureKey<'_>,
    outcome: AttemptOutcome,
    limits: &ThrottleConfig,
    now: u64,
) -> NewLocks {
    store.settle(key, outcome, limits, at(now)).await.unwrap()
}

/// Admission while attempts are in flight, failures and locks under both keys, the
/// doubling after a lock, successes, void attempts, reservations that run out, and
/// records that hold nothing being let go.
async fn failure_store_contract<S: Subject>(store: S) {
    locks_and_admission(&store).await;
    successes_reservations_and_windows(&store).await;
}

async fn locks_and_admission<S: Subject>(store: &S) {
    use Admission::Admitted;
    use AttemptOutcome::{Failed, Void};
    let limits = limits(3, 6);
    let alice = key("192.0.2.1", "alice");
    assert_eq!(store.held(at(0)).await, 0, "starts empty");

    // A void attempt gives its room back and leaves nothing behind.
    assert_eq!(reserve(store, alice, &limits, 0).await, Admitted);
    assert_eq!(
        settle(store, alice, Void, &limits, 0).await,
        NewLocks::default()
    );
    assert_eq!(
        store.held(at(0)).await,
        0,
        "a void attempt leaves no record"
    );

    // Three in flight fill the user's budget before any has failed.
    for _ in 0..3 {
        assert_eq!(reserve(store, alice, &limits, 0).await, Admitted);
    }
    assert_eq!(
        reserve(store, alice, &limits, 0).await,
        SECOND,
        "fourth in flight"
    );
    assert_eq!(
        store.lock(alice, at(0)).await.unwrap(),
        None,
        "full is not locked"
    );
    // Another user on the address, the user on another address: their own budgets.
    let bob = key("192.0.2.1", "bob");
    assert_eq!(reserve(store, bob, &limits, 0).await, Admitted);
    assert_eq!(
        settle(store, bob, Void, &limits, 0).await,
        NewLocks::default()
    );
    let elsewhere = key("192.0.2.2", "alice");
    assert_eq!(reserve(store, elsewhere, &limits, 0).await, Admitted);
    assert_eq!(
        settle(store, elsewhere, Void, &limits, 0).await,
        NewLocks::default()
    );
    // The three fail: the third locks the user for a minute.
    assert_eq!(
        settle(store, alice, Failed, &limits, 0).await,
        NewLocks::default()
    );
    assert_eq!(
        settle(store, alice, Failed, &limits, 1).await,
        NewLocks::default()
    );
    let locks = settle(store, alice, Failed, &limits, 2).await;
    assert_eq!(locks.address_and_user, Some(Duration::from_secs(60)));
    assert_eq!(locks.address, None);
    assert_eq!(
        store.lock(alice, at(2)).await.unwrap(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        store.lock(alice, at(32)).await.unwrap(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        reserve(store, alice, &limits, 32).await,
        Admission::Refused(Duration::from_secs(30))
    );
    assert_eq!(store.lock(bob, at(32)).await.unwrap(), None);
    assert_eq!(store.held(at(32)).await, 2, "one record per key");

    // After the lock, one attempt at a time; its failure locks twice as long.
    assert_eq!(reserve(store, alice, &limits, 62).await, Admitted);
    assert_eq!(reserve(store, alice, &limits, 62).await, SECOND);
    let locks = settle(store, alice, Failed, &limits, 62).await;
    assert_eq!(locks.address_and_user, Some(Duration::from_secs(120)));

    // Two failures of other users reach the address's limit of 6 (alice's four, then
    // these): the whole address is locked.
    for user in ["carol", "dave"] {
        let other = key("192.0.2.1", user);
        assert_eq!(reserve(store, other, &limits, 63).await, Admitted);
        let locks = settle(store, other, Failed, &limits, 63).await;
        assert_eq!(locks.address_and_user, None);
        if user == "dave" {
            assert_eq!(locks.address, Some(Duration::from_secs(60)));
        }
    }
    assert_eq!(
        store.lock(key("192.0.2.1", "erin"), at(63)).await.unwrap(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        store.lock(key("192.0.2.3", "erin"), at(63)).await.unwrap(),
        None
    );
}

async fn successes_reservations_and_windows<S: Subject>(store: &S) {
    use Admission::Admitted;
    use AttemptOutcome::{Failed, Succeeded, Void};
    let limits = limits(3, 6);
    // A success starts the user's count over, and keeps the address's.
    let frank = key("198.51.100.1", "frank");
    for now in 0..2 {
        assert_eq!(reserve(store, frank, &limits, now).await, Admitted);
        settle(store, frank, Failed, &limits, now).await;
    }
    assert_eq!(reserve(store, frank, &limits, 2).await, Admitted);
    assert_eq!(
        settle(store, frank, Succeeded, &limits, 2).await,
        NewLocks::default()
    );
    for now in 3..5 {
        assert_eq!(reserve(store, frank, &limits, now).await, Admitted);
        let locks = settle(store, frank, Failed, &limits, now).await;
        assert_eq!(locks.address_and_user, None, "counting from zero again");
        if now == 4 {
            // 2 + 2 failures, the success not counted: short of the address's 6.
            assert_eq!(locks.address, None);
        }
    }

    // A reservation never settled (a crashed instance) frees its room after a minute.
    let one = limits_one();
    let grace = key("203.0.113.9", "grace");
    assert_eq!(reserve(store, grace, &one, 0).await, Admitted);
    assert_eq!(reserve(store, grace, &one, 59).await, SECOND);
    assert_eq!(reserve(store, grace, &one, 60).await, Admitted);
    settle(store, grace, Void, &one, 60).await;

    // A window without failures starts the count over.
    let heidi = key("203.0.113.10", "heidi");
    for now in [0, 1] {
        assert_eq!(reserve(store, heidi, &limits, now).await, Admitted);
        settle(store, heidi, Failed, &limits, now).await;
    }
    assert_eq!(reserve(store, heidi, &limits, 600).await, Admitted);
    let locks = settle(store, heidi, Failed, &limits, 600).await;
    assert_eq!(
        locks.address_and_user, None,
        "the window began at the first failure"
    );
}

fn limits_one() -> ThrottleConfig {
    limits(1, 1000)
}

#[tokio::test]
async fn memory_failure_store_keeps_the_contract() {
    failure_store_contract(MemoryFailureStore::new()).await;
}

#[tokio::test]
async fn redis_failure_store_keeps_the_contract_on_one_node() {
    let server = RedisServer::start();
    let store = OnRedis::single(&server);
    failure_store_contract(store).await;
}

#[tokio::test]
async fn redis_failure_store_keeps_the_contract_on_a_cluster() {
    let cluster = RedisCluster::start();
    let store = OnRedis::cluster(&cluster);
    failure_store_contract(store.clone()).await;
    // Addresses spread over the primaries; both keys of one attempt share a slot.
    let limits = limits(10, 100);
    let addresses: Vec<String> = (0..30).map(|n| format!("10.0.0.{n}")).collect();
    for address in &addresses {
        let key = FailureKey::new(address.parse().unwrap(), "spray");
        assert!(matches!(
            store.reserve(key, &limits, at(0)).await.unwrap(),
            Admission::Admitted
        ));
        store
            .settle(key, AttemptOutcome::Failed, &limits, at(0))
            .await
            .unwrap();
    }
    let keys = store.keys();
    let nodes: std::collections::HashSet<u16> = keys.iter().map(|(port, _)| *port).collect();
    assert!(nodes.len() >= 2, "keys on {} node(s)", nodes.len());
}

// ---------------------------------------------------------------------------------------
// Instances that share a Redis share the budget.

type ThrottledLayer = DigestLayer<
    MemoryCredentials,
    tower_digest_auth::nonce::MemoryNonceStore,
    tower_digest_auth::rejection::PlainTextRejection,
    RedisFailureStore,
>;

fn throttled_layer(store: RedisFailureStore) -> ThrottledLayer {
    DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .throttle_store(store)
        .build()
        .unwrap()
}

async fn login(layer: &ThrottledLayer, password: &str) -> StatusCode {
    let challenge = challenges(send(layer, None).await.headers()).remove(0);
    let answer = Answer::get("/").password(password).header(&challenge);
    send(layer, Some(&answer)).await.status()
}

#[tokio::test]
async fn ten_wrong_passwords_spread_over_two_layers_lock_the_user_on_both() {
    let server = RedisServer::start();
    let prefix = format!("t{}:", rand_u64());
    let store = || {
        RedisFailureStore::from_url(&server.url())
            .unwrap()
            .prefix(prefix.clone())
            .build()
    };
    // Two instances, each with its own store handle and connection: only Redis is shared.
    let (a, b) = (throttled_layer(store()), throttled_layer(store()));
    for _ in 0..5 {
        assert_eq!(login(&a, "wrong").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&b, "wrong").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&a, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(&b, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_redis_throttle_that_fails_or_never_answers_gives_500_never_200() {
    let mut server = RedisServer::start();
    let layer = throttled_layer(
        RedisFailureStore::from_url(&server.url())
            .unwrap()
            .timeout(Duration::from_millis(300))
            .build(),
    );
    assert_eq!(login(&layer, PASSWORD).await, StatusCode::OK);
    server.stop();
    assert_eq!(
        login(&layer, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        login(&layer, "wrong").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    server.restart();
    wait_until(|| server.cli(&["PING"]).contains("PONG"), "redis back");
    let mut back = false;
    for _ in 0..50 {
        if login(&layer, PASSWORD).await == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "recovers without a restart");

    let (silent, _task) = support::silent_server().await;
    let layer = throttled_layer(
        RedisFailureStore::from_url(&format!("redis://{silent}/"))
            .unwrap()
            .timeout(Duration::from_millis(300))
            .build(),
    );
    let start = std::time::Instant::now();
    assert_eq!(
        login(&layer, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Two example-server processes with the same REDIS_URL.

/// `curl --digest` as `user:password`: a whole handshake; the final status.
fn curl_digest(server: &ServerProcess, credentials: &str) -> String {
    let url = format!("{}/dir/index.html", server.url);
    curl_status(&["--digest", "-u", credentials, &url])
}

#[test]
fn ten_wrong_passwords_spread_over_two_example_servers_lock_the_user_on_both() {
    let redis = RedisServer::start();
    let (a, b) = (
        ServerProcess::start(&redis.url()),
        ServerProcess::start(&redis.url()),
    );
    let right = format!("{USER}:{PASSWORD}");
    for server in [&a, &b] {
        wait_until(
            || curl_digest(server, &right) == "200",
            "the example server",
        );
    }
    for _ in 0..5 {
        for server in [&a, &b] {
            assert_eq!(curl_digest(server, &format!("{USER}:wrong")), "401");
        }
    }
    // The default limit is 10 per address and user: reached only counting both.
    assert_eq!(curl_digest(&a, &right), "429", "instance a");
    assert_eq!(curl_digest(&b, &right), "429", "instance b");
}
