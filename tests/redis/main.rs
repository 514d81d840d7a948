//! The shared nonce store: one contract run against every store (memory, one Redis node,
//! a Redis Cluster, Redis over TLS), exactly-once acceptance across instances, outages,
//! eviction settings, and two example-server processes sharing a key and a Redis.
//! Every Redis here is a real `redis-server` started on loopback by `support`.

#![allow(missing_docs)]

mod clock_skew;
#[path = "../common/mod.rs"]
mod common;
mod data_loss;
mod e2e;
mod failover;
mod support;
mod throttle;

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{Answer, PASSWORD, REALM, USER, challenges, request};
use http::{Request, Response, StatusCode};
use support::{RedisCluster, RedisServer};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::nonce::{
    AccountKey, MemoryNonceStore, NcCheck, NcWindow, NonceEpoch, NonceId, NonceStore, NonceUse,
    RedisNonceStore, RedisStoreError,
};
use tower_digest_auth::rejection::PlainTextRejection;
use tower_digest_auth::throttle::FailureStore;
use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};

// ---------------------------------------------------------------------------------------
// The store contract, one body for every store.

/// A store under test, with a way to count what it holds.
trait Subject: NonceStore<Error: Debug> + Clone {
    /// How long past its nonce's expiry a record is still held: the tolerated clock skew
    /// for a store that instances share.
    const HELD_BEYOND_LIFE: Duration;
    /// By when past its nonce's expiry a record is gone.
    const GONE_WITHIN: Duration;
    /// How many nonces the store holds at `at`.
    async fn live(&self, at: SystemTime) -> usize;
}

impl Subject for MemoryNonceStore {
    const HELD_BEYOND_LIFE: Duration = Duration::ZERO;
    // The memory store's expiry works in whole seconds.
    const GONE_WITHIN: Duration = Duration::from_millis(1100);

    async fn live(&self, at: SystemTime) -> usize {
        self.sweep_expired(at);
        self.len()
    }
}

/// A Redis store with the servers whose keys it counts.
#[derive(Clone)]
struct OnRedis {
    store: RedisNonceStore,
    prefix: String,
    ports: Vec<u16>,
}

impl OnRedis {
    fn single(server: &RedisServer) -> Self {
        let prefix = format!("t{}:", rand_u64());
        let store = RedisNonceStore::from_url(&server.url())
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
        let store = RedisNonceStore::from_cluster_urls(cluster.urls())
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
}

impl NonceStore for OnRedis {
    type Error = RedisStoreError;

    fn epoch(&self) -> tower_digest_auth::nonce::NonceEpoch {
        self.store.epoch()
    }

    fn record_use(
        &self,
        use_: NonceUse,
    ) -> impl Future<Output = Result<NcCheck, RedisStoreError>> + Send {
        self.store.record_use(use_)
    }

    fn end_login(
        &self,
        login: NonceUse,
    ) -> impl Future<Output = Result<bool, RedisStoreError>> + Send {
        self.store.end_login(login)
    }

    fn end_all_logins(
        &self,
        account: AccountKey,
    ) -> impl Future<Output = Result<bool, RedisStoreError>> + Send {
        self.store.end_all_logins(account)
    }
}

impl Subject for OnRedis {
    // The tolerated clock skew (60 s) ...
    const HELD_BEYOND_LIFE: Duration = Duration::from_secs(60);
    // ... plus a 5 s margin.
    const GONE_WITHIN: Duration = Duration::from_millis(65_100);

    /// The windows (keys with a TTL: generation markers have none) whose TTL outlasts
    /// `at`, read from every node without waiting for Redis's clock.
    async fn live(&self, at: SystemTime) -> usize {
        let left = at.duration_since(SystemTime::now()).unwrap_or_default();
        let left = i64::try_from(left.as_millis()).unwrap();
        let pattern = format!("{}*", self.prefix);
        self.ports
            .iter()
            .map(|port| {
                support::cli(*port, &["--scan", "--pattern", &pattern])
                    .lines()
                    .filter(|key| !key.is_empty())
                    .filter(|key| {
                        let ttl: i64 = support::cli(*port, &["-c", "PTTL", key])
                            .trim()
                            .parse()
                            .unwrap();
                        ttl >= 0 && ttl > left
                    })
                    .count()
            })
            .sum()
    }
}

fn rand_u64() -> u64 {
    rand::random()
}

fn random_id() -> NonceId {
    NonceId::from_bytes(rand::random())
}

/// A use of a nonce issued now, carrying the store's current epoch (as the layer's own
/// nonces do).
fn use_of<S: NonceStore>(store: &S, id: NonceId, nc: u64, lifetime: Duration) -> NonceUse {
    let now = SystemTime::now();
    NonceUse::new(id, nc, now, lifetime, now).in_epoch(store.epoch())
}

/// Use `nc` of nonce `id`, which carries `epoch` (one per nonce, as the layer's do).
async fn record<S: Subject>(store: &S, epoch: NonceEpoch, id: NonceId, nc: u64) -> NcCheck {
    let now = SystemTime::now();
    let use_ = NonceUse::new(id, nc, now, Duration::from_secs(600), now).in_epoch(epoch);
    store.record_use(use_).await.unwrap()
}

/// First use, replay, out-of-order within 64, below the window, values across 2^32 and
/// up to 2^64 - 1 against the reference window, and expiry.
async fn store_contract<S: Subject>(store: S) {
    use NcCheck::{Accepted, BelowWindow, Replayed};
    // A store that learns its epoch when it connects (Redis) answers a use made before
    // as forgotten; the layer's first nonces would be stale once.
    let _ = store
        .record_use(use_of(&store, random_id(), 1, Duration::from_secs(60)))
        .await;
    let epoch = store.epoch();
    let id = random_id();
    assert_eq!(record(&store, epoch, id, 1).await, Accepted, "first use");
    assert_eq!(record(&store, epoch, id, 1).await, Replayed, "replay");
    assert_eq!(record(&store, epoch, id, 9).await, Accepted);
    for nc in [4, 2, 8, 3] {
        assert_eq!(
            record(&store, epoch, id, nc).await,
            Accepted,
            "nc {nc} out of order"
        );
        assert_eq!(
            record(&store, epoch, id, nc).await,
            Replayed,
            "nc {nc} again"
        );
    }
    assert_eq!(record(&store, epoch, id, 100).await, Accepted);
    assert_eq!(
        record(&store, epoch, id, 100 - 63).await,
        Accepted,
        "63 below"
    );
    assert_eq!(
        record(&store, epoch, id, 100 - 64).await,
        BelowWindow,
        "64 below"
    );
    assert_eq!(record(&store, epoch, id, 9).await, BelowWindow);

    // Another nonce is another window.
    assert_eq!(record(&store, epoch, random_id(), 1).await, Accepted);

    // Every answer equals the reference window's, over sequences that cross 2^32, shift
    // by every distance around 32 and 64, and end at the top of u64.
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for start in [1, (1 << 32) - 40, (1 << 53) - 3, u64::MAX - 300] {
        let id = random_id();
        let mut model = NcWindow::first(start);
        assert_eq!(record(&store, epoch, id, start).await, Accepted);
        let mut highest = start;
        for step in 0..150 {
            let r = next();
            let nc = match r % 4 {
                // Forward by 1..=70.
                0 => highest.saturating_add(1 + r % 70),
                // Around the window's edge, below the highest.
                1 | 2 => highest.saturating_sub(r % 70),
                // Forward by exactly 31, 32, 33, 63, 64 or 65.
                _ => highest.saturating_add([31, 32, 33, 63, 64, 65][(r >> 8) as usize % 6]),
            }
            .max(1);
            highest = highest.max(nc);
            let expected = model.record(nc);
            assert_eq!(
                record(&store, epoch, id, nc).await,
                expected,
                "start {start}, step {step}, nc {nc}"
            );
        }
    }

    // Expiry: an entry lives as long as its nonce (plus the clock skew, when shared),
    // then goes.
    let before = store.live(SystemTime::now()).await;
    let short = Duration::from_millis(1200);
    let now = SystemTime::now();
    let use_ = NonceUse::new(random_id(), 1, now, short, now).in_epoch(store.epoch());
    assert_eq!(store.record_use(use_).await.unwrap(), Accepted);
    let held = (now + short + S::HELD_BEYOND_LIFE)
        .checked_sub(Duration::from_millis(100))
        .unwrap();
    assert_eq!(
        store.live(held).await,
        before + 1,
        "held while the nonce lives"
    );
    let later = now + short + S::GONE_WITHIN;
    if let Ok(wait) = later.duration_since(SystemTime::now()) {
        if wait < Duration::from_secs(5) {
            tokio::time::sleep(wait).await;
        }
    }
    assert_eq!(store.live(later).await, before, "gone once it expired");

    logins_contract(&store, epoch).await;
}

/// Ending one login refuses every later use of its nonce; ending all of an account's
/// refuses the nonces it answered before, not other accounts', not later logins.
async fn logins_contract<S: Subject>(store: &S, epoch: NonceEpoch) {
    use NcCheck::{Accepted, Ended};
    let alice = AccountKey::new(REALM, &format!("alice{}", rand_u64()));
    let bob = AccountKey::new(REALM, &format!("bob{}", rand_u64()));
    let use_by = |id: NonceId, nc: u64, account: AccountKey| {
        let now = SystemTime::now();
        NonceUse::new(id, nc, now, Duration::from_secs(600), now)
            .in_epoch(epoch)
            .for_account(account)
    };
    let answer = async |id: NonceId, nc: u64, account: AccountKey| {
        store.record_use(use_by(id, nc, account)).await.unwrap()
    };
    let (mine, elsewhere, bobs) = (random_id(), random_id(), random_id());
    for id in [mine, elsewhere] {
        assert_eq!(answer(id, 1, alice).await, Accepted);
    }
    assert_eq!(answer(bobs, 1, bob).await, Accepted);

    assert!(store.end_login(use_by(mine, 1, alice)).await.unwrap());
    for nc in [2, 1, 3, 1000] {
        assert_eq!(answer(mine, nc, alice).await, Ended, "nc {nc}");
    }
    assert_eq!(answer(elsewhere, 2, alice).await, Accepted, "another login");

    assert!(store.end_all_logins(alice).await.unwrap());
    assert_eq!(answer(elsewhere, 3, alice).await, Ended, "all of alice's");
    assert_eq!(answer(bobs, 2, bob).await, Accepted, "not bob's");
    let later = random_id();
    assert_eq!(answer(later, 1, alice).await, Accepted, "a login after");
    assert_eq!(answer(later, 2, alice).await, Accepted);
    // Another account's end after that login began spares it and ends only its own.
    assert!(store.end_all_logins(bob).await.unwrap());
    assert_eq!(
        answer(later, 3, alice).await,
        Accepted,
        "bob's end spares alice"
    );
    assert_eq!(answer(bobs, 3, bob).await, Ended, "bob's own");
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    // The memory store's expiry works in whole seconds; the others need no special case.
    store_contract(MemoryNonceStore::new()).await;
}

#[tokio::test]
async fn redis_store_keeps_the_contract_on_one_node() {
    let server = RedisServer::start();
    let store = OnRedis::single(&server);
    store_contract(store.clone()).await;
    // The key's TTL is the nonce's remaining lifetime, from the layer's clock, plus the
    // tolerated clock skew (60 s) and a margin (5 s).
    let id = random_id();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let use_ = NonceUse::new(
        id,
        1,
        t,
        Duration::from_secs(1800),
        t + Duration::from_secs(600),
    )
    .in_epoch(store.epoch());
    assert_eq!(store.record_use(use_).await.unwrap(), NcCheck::Accepted);
    let key = String::from_utf8(store.store.key_of(&id, use_.epoch).unwrap()).unwrap();
    let ttl: u64 = server.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!((1_264_000..=1_265_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn redis_store_keeps_the_contract_on_a_cluster() {
    let cluster = RedisCluster::start();
    let store = OnRedis::cluster(&cluster);
    store_contract(store.clone()).await;
    // The keys really are spread: more than one primary holds some.
    for _ in 0..30 {
        record(&store, store.epoch(), random_id(), 1).await;
    }
    let pattern = format!("{}*", store.prefix);
    let holding = cluster
        .nodes
        .iter()
        .filter(|n| !n.cli(&["--scan", "--pattern", &pattern]).trim().is_empty())
        .count();
    assert!(holding >= 2, "keys on {holding} node(s)");
}

#[cfg(feature = "redis-tls")]
#[tokio::test]
async fn redis_store_keeps_the_contract_over_tls() {
    let (server, certs) = RedisServer::start_tls();
    let client = redis::Client::build_with_tls(
        server.tls_url(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&certs.ca).unwrap()),
        },
    )
    .unwrap();
    let prefix = format!("t{}:", rand_u64());
    let store = OnRedis {
        store: RedisNonceStore::single(client)
            .prefix(prefix.clone())
            .build(),
        prefix,
        ports: vec![server.port],
    };
    store_contract(store).await;
    // And a server certificate the client does not trust is an error, not a success.
    let untrusted = RedisNonceStore::from_url(&server.tls_url())
        .unwrap()
        .build();
    let id = random_id();
    assert!(
        untrusted
            .record_use(use_of(&untrusted, id, 1, Duration::from_secs(60)))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Layers sharing a key and a Redis behave as one.

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

fn inner() -> Inner {
    tower::util::BoxCloneSyncService::new(service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    }))
}

fn layer<N: NonceStore>(nonces: N) -> DigestLayer<MemoryCredentials, N> {
    DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .nonce_key(NonceKey::from_bytes(1, &[42; 32]).unwrap())
        .nonce_store(nonces)
        .build()
        .unwrap()
}

async fn send<N: NonceStore, F: FailureStore>(
    layer: &DigestLayer<MemoryCredentials, N, PlainTextRejection, F>,
    authorization: Option<&str>,
) -> Response<String> {
    tower::Layer::layer(layer, inner())
        .oneshot(request("GET", "/", authorization))
        .await
        .unwrap()
}

async fn exactly_once_across(layers: Vec<DigestLayer<MemoryCredentials, RedisNonceStore>>) {
    for layer in &layers {
        connected(layer).await;
    }
    let layers = Arc::new(layers);
    for round in 0..20 {
        let challenge = challenges(send(&layers[round % 3], None).await.headers()).remove(0);
        let answer = Arc::new(Answer::get("/").header(&challenge));
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let layers = layers.clone();
                let answer = answer.clone();
                tokio::spawn(async move { send(&layers[i % 3], Some(&answer)).await.status() })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            let status = task.await.unwrap();
            assert!(
                status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
                "round {round}: {status}"
            );
            ok += usize::from(status == StatusCode::OK);
        }
        assert_eq!(ok, 1, "round {round}: one (nonce, nc) accepted {ok} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_nonce_sent_to_three_instances_at_once_is_accepted_exactly_once() {
    let server = RedisServer::start();
    let layers = (0..3)
        .map(|_| layer(RedisNonceStore::from_url(&server.url()).unwrap().build()))
        .collect();
    exactly_once_across(layers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_nonce_sent_to_three_instances_on_a_cluster_is_accepted_exactly_once() {
    let cluster = RedisCluster::start();
    let layers = (0..3)
        .map(|_| {
            layer(
                RedisNonceStore::from_cluster_urls(cluster.urls())
                    .unwrap()
                    .timeout(Duration::from_secs(2))
                    .build(),
            )
        })
        .collect();
    exactly_once_across(layers).await;
}

#[tokio::test]
async fn instances_with_another_prefix_do_not_take_each_others_nonces() {
    let server = RedisServer::start();
    let a = layer(RedisNonceStore::from_url(&server.url()).unwrap().build());
    let b = layer(
        RedisNonceStore::from_url(&server.url())
            .unwrap()
            .prefix("other:")
            .build(),
    );
    connected(&a).await;
    let challenge = challenges(send(&a, None).await.headers()).remove(0);
    let answer = Answer::get("/").header(&challenge);
    let response = send(&b, Some(&answer)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(response.headers()).iter().all(|c| c.stale));
    assert_eq!(send(&a, Some(&answer)).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Fail closed, recover alone.

const TIMEOUT: Duration = Duration::from_millis(300);

/// Handshakes until one succeeds: a layer's nonces issued before its store first
/// connected carry no generation, and are answered stale once.
async fn connected<N: NonceStore>(layer: &DigestLayer<MemoryCredentials, N>) {
    for _ in 0..3 {
        if handshake(layer).await == StatusCode::OK {
            return;
        }
    }
    panic!("no successful handshake");
}

/// A fresh handshake and one answer; the status of the answer.
async fn handshake<N: NonceStore>(layer: &DigestLayer<MemoryCredentials, N>) -> StatusCode {
    let challenge = challenges(send(layer, None).await.headers()).remove(0);
    send(layer, Some(&Answer::get("/").header(&challenge)))
        .await
        .status()
}

#[tokio::test]
async fn redis_down_gives_500_never_200_and_recovery_needs_no_restart() {
    let mut server = RedisServer::start();
    let layer = layer(
        RedisNonceStore::from_url(&server.url())
            .unwrap()
            .timeout(TIMEOUT)
            .build(),
    );
    connected(&layer).await;
    let challenge = challenges(send(&layer, None).await.headers()).remove(0);
    let first = Answer::get("/").header(&challenge);
    let next = Answer::get("/").nc(2).header(&challenge);
    assert_eq!(send(&layer, Some(&first)).await.status(), StatusCode::OK);

    server.stop();
    for _ in 0..5 {
        for answer in [&first, &next] {
            let response = send(&layer, Some(answer)).await;
            assert_eq!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Redis down"
            );
        }
        assert_eq!(handshake(&layer).await, StatusCode::INTERNAL_SERVER_ERROR);
    }

    // Back on the same port, empty (no persistence): requests succeed again without
    // restarting anything ...
    server.restart();
    let start = Instant::now();
    while handshake(&layer).await != StatusCode::OK {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no success within 5 s of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and what Redis lost is not taken for unused: the replay and the never-accepted
    // next request of the old nonce are stale, not 200.
    for answer in [&first, &next] {
        let response = send(&layer, Some(answer)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "after restart");
        assert!(challenges(response.headers()).iter().all(|c| c.stale));
    }
}

#[tokio::test]
async fn a_server_started_while_redis_is_down_recovers_when_it_appears() {
    // Reserve a port, start nothing there yet.
    let port = support::free_port(false);
    let layer = layer(
        RedisNonceStore::from_url(&format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .timeout(TIMEOUT)
            .build(),
    );
    assert_eq!(handshake(&layer).await, StatusCode::INTERNAL_SERVER_ERROR);
    let server = RedisServer::start_on(port);
    let start = Instant::now();
    while handshake(&layer).await != StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(5), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

#[tokio::test]
async fn a_redis_that_never_answers_gives_500_within_the_timeout() {
    let (addr, _task) = support::silent_server().await;
    let store = RedisNonceStore::from_url(&format!("redis://{addr}/"))
        .unwrap()
        .timeout(TIMEOUT)
        .build();
    let layer = layer(store.clone());
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(handshake(&layer).await, StatusCode::INTERNAL_SERVER_ERROR);
        // Generous: a bound, not a benchmark (the machine is shared).
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2));
    }
    let started = Instant::now();
    let error = store
        .record_use(use_of(&store, random_id(), 1, Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2));
    // Our bound or the client's own (set to the same value), whichever fires first.
    assert!(
        matches!(&error, RedisStoreError::Timeout(t) if *t == TIMEOUT)
            || matches!(&error, RedisStoreError::Redis(e) if e.is_timeout()),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_answering_garbage_gives_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let layer = layer(
        RedisNonceStore::from_url(&format!("redis://{addr}/"))
            .unwrap()
            .timeout(TIMEOUT)
            .build(),
    );
    for _ in 0..3 {
        assert_eq!(handshake(&layer).await, StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[tokio::test]
async fn a_redis_that_may_evict_nonces_is_refused_until_configured_safely() {
    let server =
        RedisServer::start_with(&["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"]);
    let store = RedisNonceStore::from_url(&server.url()).unwrap().build();
    let error = store
        .record_use(use_of(&store, random_id(), 1, Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RedisStoreError::EvictionPossible { policy, .. } if policy == "volatile-lru"),
        "{error}"
    );
    assert_eq!(
        handshake(&layer(store.clone())).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Opting out is possible for servers that hide their settings.
    let unchecked = RedisNonceStore::from_url(&server.url())
        .unwrap()
        .check_eviction_policy(false)
        .build();
    connected(&layer(unchecked)).await;
    // noeviction under a limit is safe (a full Redis then refuses writes: 500s).
    let safe =
        RedisServer::start_with(&["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"]);
    let store = RedisNonceStore::from_url(&safe.url()).unwrap().build();
    connected(&layer(store)).await;
}
