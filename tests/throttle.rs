//! Failed-login throttling, driven through the service with `oneshot` and a manual clock:
//! what counts, what a locked client gets, whom a lock locks, how locks grow and end,
//! and that memory stays bounded without letting a flood lift a lock.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, client_addr, request_from};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::{
    Admission, AttemptOutcome, CredentialStore, DigestLayer, DigestLayerBuilder, FailureKey,
    FailureLimit, FailureStore, Ha1, HashFunction, ManualClock, MemoryCredentials,
    MemoryFailureStore, MemoryNonceStore, NewLocks, Rejection, RejectionResponse, ThrottleConfig,
};

type Service = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

const BOB: &str = "bob";
const BOB_PASSWORD: &str = "builder";

/// The users, counting lookups, and failing (500) while `down` is set.
#[derive(Clone)]
struct Users {
    inner: Arc<MemoryCredentials>,
    lookups: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
#[error("credential store down")]
struct Down;

impl CredentialStore for Users {
    type Error = Down;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, Down> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        // A database's round trip, when set.
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(Down);
        }
        Ok(self.inner.ha1(username, realm, hash).await.unwrap())
    }

    async fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<String>, Down> {
        Ok(self
            .inner
            .username_for_hash(userhash, realm, hash)
            .await
            .unwrap())
    }
}

struct App {
    service: Service,
    clock: ManualClock,
    lookups: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// How long each credential lookup waits (0: none).
    delay_ms: Arc<AtomicU64>,
}

fn app_with<R: RejectionResponse<String>>(
    configure: impl FnOnce(DigestLayerBuilder<Users>) -> DigestLayerBuilder<Users, MemoryNonceStore, R>,
) -> App {
    let users = Users {
        inner: Arc::new(MemoryCredentials::new(
            REALM,
            [(USER, PASSWORD), (BOB, BOB_PASSWORD)],
        )),
        lookups: Arc::default(),
        down: Arc::default(),
        delay_ms: Arc::default(),
    };
    let delay_ms = Arc::clone(&users.delay_ms);
    let (lookups, down) = (Arc::clone(&users.lookups), Arc::clone(&users.down));
    let clock = ManualClock::new();
    let layer = configure(DigestLayer::builder(REALM, users).clock(clock.clone()))
        .build()
        .unwrap();
    let inner = service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("welcome".to_owned()))
    });
    App {
        service: Service::new(tower::Layer::layer(&layer, inner)),
        clock,
        lookups,
        down,
        delay_ms,
    }
}

/// Limits small enough to reach in a test: `per_user` failures per address and user,
/// `per_address` per address, in 10 minutes; locks of 60 s doubling up to 240 s.
fn limits(per_user: u32, per_address: u32) -> ThrottleConfig {
    let limit = |max| {
        FailureLimit::new(max, Duration::from_secs(600))
            .lockout(Duration::from_secs(60), Duration::from_secs(240))
    };
    ThrottleConfig::default()
        .per_address_and_user(limit(per_user))
        .per_address(limit(per_address))
}

fn app(per_user: u32, per_address: u32) -> App {
    app_with(|builder| builder.throttle(limits(per_user, per_address)))
}

fn peer(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::from([198, 51, 100, last]), 40_000)
}

impl App {
    async fn send(&self, request: Request<String>) -> Response<String> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    async fn challenge(&self, from: SocketAddr) -> Challenge {
        let response = self.send(request_from(from, "GET", "/", None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        challenges(response.headers()).remove(0)
    }

    async fn answer(&self, from: SocketAddr, answer: &Answer<'_>) -> Response<String> {
        let challenge = self.challenge(from).await;
        let header = answer.header(&challenge);
        self.send(request_from(from, "GET", "/", Some(&header)))
            .await
    }

    /// A fresh handshake from `from` as `user` with `password`.
    async fn login(&self, from: SocketAddr, user: &str, password: &str) -> Response<String> {
        self.answer(from, &Answer::get("/").username(user).password(password))
            .await
    }

    async fn status(&self, from: SocketAddr, user: &str, password: &str) -> StatusCode {
        self.login(from, user, password).await.status()
    }

    /// `count` wrong passwords for `user` from `from`, each answered 401.
    async fn fail(&self, from: SocketAddr, user: &str, count: usize) {
        for attempt in 0..count {
            let status = self.status(from, user, "wrong").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {attempt}");
        }
    }
}

fn retry_after(response: &Response<String>) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn only_wrong_passwords_and_unknown_users_count() {
    let app = app(3, 1000);
    let me = client_addr();
    for _ in 0..20 {
        // No credentials, another scheme, a header that does not parse.
        let none = app.send(request_from(me, "GET", "/", None)).await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        let basic = request_from(me, "GET", "/", Some("Basic TXVmYXNhOm5vcGU="));
        assert_eq!(app.send(basic).await.status(), StatusCode::UNAUTHORIZED);
        let malformed = request_from(me, "GET", "/", Some("Digest username=\"Mufasa"));
        assert_eq!(app.send(malformed).await.status(), StatusCode::BAD_REQUEST);
        // A wrong password in a request that is also a 400 (uri of another target).
        let challenge = app.challenge(me).await;
        let elsewhere = Answer::get("/other").password("wrong").header(&challenge);
        let bad_uri = request_from(me, "GET", "/", Some(&elsewhere));
        assert_eq!(app.send(bad_uri).await.status(), StatusCode::BAD_REQUEST);
        // A wrong password on a nonce we never issued.
        let forged = Challenge {
            nonce: "A".repeat(challenge.nonce.len()),
            ..challenge.clone()
        };
        let header = Answer::get("/").password("wrong").header(&forged);
        let response = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        // The right password on another address's nonce (this client moved): 401 stale.
        let theirs = app.challenge(peer(1)).await;
        let header = Answer::get("/").header(&theirs);
        let moved = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert!(challenges(moved.headers())[0].stale);
        // A replayed (nonce, nc) with the right password.
        let header = Answer::get("/").header(&challenge);
        let first = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert_eq!(first.status(), StatusCode::OK);
        let replay = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        // A right password on an expired nonce: 401 stale.
        let old = app.challenge(me).await;
        app.clock.advance(Duration::from_secs(31 * 60));
        let header = Answer::get("/").header(&old);
        let stale = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert!(challenges(stale.headers())[0].stale);
        // A credential store failure: 500.
        app.down.store(true, Ordering::SeqCst);
        assert_eq!(
            app.status(me, USER, "wrong").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        app.down.store(false, Ordering::SeqCst);
    }
    // None of that counted: it takes the full three failures to lock.
    app.fail(me, USER, 2).await;
    app.fail(me, "nobody", 1).await;
    app.fail(me, USER, 1).await;
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_browser_like_handshake_never_trips_the_default_limits() {
    let app = app_with(|builder| builder);
    let me = client_addr();
    for round in 0..100u32 {
        // A page load: the challenge, then parallel requests on one nonce, some replayed
        // by a retry, and a few mistyped passwords before the right one every tenth time.
        if round % 10 == 0 {
            app.fail(me, USER, 3).await;
        }
        let challenge = app.challenge(me).await;
        for nc in 1..=5 {
            let header = Answer::get("/").nc(nc).header(&challenge);
            let response = app.send(request_from(me, "GET", "/", Some(&header))).await;
            assert_eq!(response.status(), StatusCode::OK, "round {round}");
            let again = app.send(request_from(me, "GET", "/", Some(&header))).await;
            assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        }
        // The nonce expires while the tab stays open: a stale retry.
        app.clock.advance(Duration::from_secs(31 * 60));
        let header = Answer::get("/").nc(6).header(&challenge);
        let stale = app.send(request_from(me, "GET", "/", Some(&header))).await;
        assert!(challenges(stale.headers())[0].stale);
    }
}

#[tokio::test]
async fn over_the_user_limit_answers_429_with_retry_after_before_any_lookup() {
    let app = app(3, 1000);
    let me = client_addr();
    app.fail(me, USER, 3).await;
    let lookups = app.lookups.load(Ordering::SeqCst);
    assert_eq!(lookups, 3);

    let response = app.login(me, USER, PASSWORD).await;
    assert_eq!(retry_after(&response), 60);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(response.body(), "too many failed logins; try again later");
    // A forged nonce is answered 429 too: the lock is checked before the nonce MAC.
    let challenge = app.challenge(me).await;
    let forged = Challenge {
        nonce: "A".repeat(challenge.nonce.len()),
        ..challenge
    };
    let header = Answer::get("/").header(&forged);
    let response = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(retry_after(&response), 60);
    // Neither reached the credential store.
    assert_eq!(app.lookups.load(Ordering::SeqCst), lookups);

    // The lock counts down, and ends.
    app.clock.advance(Duration::from_secs(45));
    assert_eq!(retry_after(&app.login(me, USER, PASSWORD).await), 15);
    app.clock.advance(Duration::from_secs(15));
    assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn unknown_users_count_and_answer_like_wrong_passwords() {
    let app = app(2, 1000);
    let (known, unknown) = (peer(1), peer(2));
    app.fail(known, USER, 2).await;
    app.fail(unknown, "nobody", 2).await;
    let known = app.login(known, USER, "wrong").await;
    let unknown = app.login(unknown, "nobody", "wrong").await;
    assert_eq!(known.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(known.headers(), unknown.headers());
    assert_eq!(known.body(), unknown.body());
}

#[tokio::test]
async fn the_address_limit_catches_one_address_spraying_usernames() {
    let app = app(10, 5);
    let sprayer = peer(1);
    for user in ["a", "b", "c", "d", "e"] {
        app.fail(sprayer, user, 1).await;
    }
    // Every username from that address is locked now, real users with right passwords too.
    let response = app.login(sprayer, BOB, BOB_PASSWORD).await;
    assert_eq!(retry_after(&response), 60);
    assert_eq!(
        app.status(sprayer, "f", "x").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other addresses are not.
    assert_eq!(app.status(peer(2), BOB, BOB_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_user_lock_locks_neither_other_users_nor_other_addresses() {
    let app = app(3, 1000);
    let attacker = peer(1);
    app.fail(attacker, USER, 3).await;
    assert_eq!(
        app.status(attacker, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another user on the same address.
    assert_eq!(
        app.status(attacker, BOB, BOB_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        app.status(attacker, BOB, "typo").await,
        StatusCode::UNAUTHORIZED
    );
    // The same user from another address: the victim is not locked out by the attacker.
    assert_eq!(app.status(peer(2), USER, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn locks_grow_while_failures_continue() {
    let app = app(3, 1000);
    let me = client_addr();
    app.fail(me, USER, 3).await;
    assert_eq!(retry_after(&app.login(me, USER, "wrong").await), 60);
    // Each failure after a lock ends locks again, twice as long, up to the cap (240 s).
    for expected in [120, 240, 240] {
        app.clock.advance(Duration::from_secs(240));
        app.fail(me, USER, 1).await;
        assert_eq!(retry_after(&app.login(me, USER, "wrong").await), expected);
    }
}

#[tokio::test]
async fn a_success_resets_the_user_count_and_its_locks() {
    let app = app(3, 1000);
    let me = client_addr();
    for _ in 0..5 {
        app.fail(me, USER, 2).await;
        assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
    }
    // Locked, then right after the lock a success: the next lock is a first one again.
    app.fail(me, USER, 3).await;
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
    app.fail(me, USER, 3).await;
    assert_eq!(retry_after(&app.login(me, USER, PASSWORD).await), 60);
}

#[tokio::test]
async fn a_quiet_window_resets_the_count_and_the_backoff() {
    let app = app(3, 1000);
    let me = client_addr();
    app.fail(me, USER, 2).await;
    app.clock.advance(Duration::from_secs(600));
    app.fail(me, USER, 2).await;
    app.clock.advance(Duration::from_secs(600));
    // Lock twice in a row: 60 s, then 120 s.
    app.fail(me, USER, 3).await;
    app.clock.advance(Duration::from_secs(60));
    app.fail(me, USER, 1).await;
    assert_eq!(retry_after(&app.login(me, USER, "wrong").await), 120);
    // Ten quiet minutes after the lock ends: a fresh start, three failures to a 60 s lock.
    app.clock.advance(Duration::from_secs(120 + 600));
    app.fail(me, USER, 3).await;
    assert_eq!(retry_after(&app.login(me, USER, "wrong").await), 60);
}

#[tokio::test]
async fn one_ipv6_prefix_counts_as_one_address() {
    let app = app(3, 1000);
    let host = |last: u16| SocketAddr::new(IpAddr::from([0x2001, 0xdb8, 0, 7, 0, 0, 0, last]), 1);
    for last in 1..=3 {
        app.fail(host(last), USER, 1).await;
    }
    assert_eq!(
        app.status(host(99), USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let next_prefix = SocketAddr::new(IpAddr::from([0x2001, 0xdb8, 0, 8, 0, 0, 0, 1]), 1);
    assert_eq!(
        app.status(next_prefix, USER, PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_flood_of_failing_keys_keeps_memory_bounded_and_cannot_lift_a_lock() {
    let store = MemoryFailureStore::with_max_entries(64);
    let app = app_with(|builder| {
        builder
            .throttle(limits(3, 1000))
            .throttle_store(store.clone())
    });
    let victim = peer(1);
    app.fail(victim, USER, 3).await;
    // 400 keys (200 addresses, each with one failure: one address entry, one user entry).
    for n in 0..200u16 {
        let [high, low] = n.to_be_bytes();
        let address = SocketAddr::new(IpAddr::from([10, 9, high, low]), 1);
        app.fail(address, "spray", 1).await;
        assert!(store.len() <= 64, "{} entries", store.len());
    }
    assert_eq!(
        app.status(victim, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

thread_local! {
    /// Where this thread's log lines go, if anywhere.
    static CAPTURE: std::cell::RefCell<Option<Arc<Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Writes a log line to the calling thread's [`CAPTURE`]; lines of other threads vanish.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|sink| {
            if let Some(sink) = &*sink.borrow() {
                sink.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures what this thread logs at INFO and above. The subscriber is global, set once:
/// a subscriber set for one thread only misses events whose callsite another test's
/// thread registered at the same moment with no subscriber (cached as never wanted).
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadCapture)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    let sink = Arc::new(Mutex::new(Vec::new()));
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(Arc::clone(&sink)));
    sink
}

#[tokio::test]
async fn locks_are_logged_as_warnings_with_the_client_ip() {
    let captured = capture_logs();
    let app = app(3, 4);
    app.fail(peer(7), USER, 2).await;
    let log = || String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    assert!(!log().contains("locked out"), "{}", log());
    app.fail(peer(7), USER, 1).await;
    app.fail(peer(7), BOB, 1).await;
    // 429s themselves are not warnings: a locked-out client cannot flood the log.
    for _ in 0..10 {
        app.login(peer(7), USER, PASSWORD).await;
    }
    let log = log();
    let locks: Vec<&str> = log.lines().filter(|l| l.contains("locked out")).collect();
    assert_eq!(locks.len(), 2, "{log}");
    for line in &locks {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("client_ip=198.51.100.7"), "{line}");
        assert!(line.contains("lock_secs=60"), "{line}");
    }
    assert!(locks[0].contains("username=\"Mufasa\"") || locks[0].contains("username=Mufasa"));
    assert!(!log.contains(PASSWORD), "{log}");
}

#[tokio::test]
async fn throttling_can_be_switched_off_and_on_again() {
    let off = app_with(DigestLayerBuilder::no_throttle);
    let me = client_addr();
    off.fail(me, USER, 120).await;
    assert_eq!(off.status(me, USER, PASSWORD).await, StatusCode::OK);

    let on_again = app_with(|builder| builder.no_throttle().throttle(limits(2, 1000)));
    on_again.fail(me, USER, 2).await;
    assert_eq!(
        on_again.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_default_limits_lock_an_address_and_user_at_ten_failures() {
    let app = app_with(|builder| builder);
    let me = client_addr();
    app.fail(me, USER, 10).await;
    assert_eq!(retry_after(&app.login(me, USER, PASSWORD).await), 60);
    assert_eq!(app.status(peer(3), USER, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_custom_rejection_replaces_the_429_body_and_keeps_retry_after() {
    let app = app_with(|builder| {
        builder.throttle(limits(1, 1000)).rejection_response(
            |rejection: &Rejection, _: &http::request::Parts| {
                let body = match rejection {
                    Rejection::Throttled { retry_after_secs } => {
                        format!(r#"{{"error":"locked","retry_after":{retry_after_secs}}}"#)
                    }
                    other => format!(r#"{{"error":"{}"}}"#, other.public_message()),
                };
                Response::builder()
                    .status(rejection.status())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap()
            },
        )
    });
    let me = client_addr();
    app.fail(me, USER, 1).await;
    let response = app.login(me, USER, PASSWORD).await;
    assert_eq!(retry_after(&response), 60);
    assert_eq!(response.body(), r#"{"error":"locked","retry_after":60}"#);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
}

/// A store over another store, standing in for a shared one: it goes through the
/// layer's boxed path, and can be switched to failing.
#[derive(Clone, Default)]
struct Remote {
    inner: Arc<MemoryFailureStore>,
    down: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("throttle store down")]
struct RemoteDown;

impl Remote {
    fn up(&self) -> Result<(), RemoteDown> {
        if self.down.load(Ordering::SeqCst) {
            Err(RemoteDown)
        } else {
            Ok(())
        }
    }
}

impl FailureStore for Remote {
    type Error = RemoteDown;

    async fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Admission, RemoteDown> {
        self.up()?;
        Ok(self.inner.reserve(key, limits, now).await.unwrap())
    }

    async fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<NewLocks, RemoteDown> {
        self.up()?;
        Ok(self.inner.settle(key, outcome, limits, now).await.unwrap())
    }

    async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, RemoteDown> {
        self.up()?;
        Ok(self.inner.lock(key, now).await.unwrap())
    }
}

#[tokio::test]
async fn another_store_backs_the_throttle_and_its_failure_is_500_never_200() {
    let remote = Remote::default();
    let app = app_with(|builder| {
        builder
            .throttle_store(remote.clone())
            .throttle(limits(2, 1000))
    });
    let me = client_addr();
    app.fail(me, USER, 2).await;
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.status(peer(2), USER, PASSWORD).await, StatusCode::OK);

    remote.down.store(true, Ordering::SeqCst);
    let lookups = app.lookups.load(Ordering::SeqCst);
    assert_eq!(
        app.status(peer(2), USER, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(app.lookups.load(Ordering::SeqCst), lookups);
    // Challenges need no throttle store.
    let challenge = app.send(request_from(me, "GET", "/", None)).await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------
// Parallel guesses: an attempt counts from the moment it is admitted.

/// Sends one answer per entry of `answers`, each on its own fresh nonce of `from`, all at
/// once; returns the statuses in the same order. The requests start in order, each
/// running until its credential lookup waits (the test runtime has one thread).
async fn all_at_once(app: &App, from: SocketAddr, answers: &[Answer<'_>]) -> Vec<StatusCode> {
    let mut requests = Vec::new();
    for answer in answers {
        let challenge = app.challenge(from).await;
        let header = answer.header(&challenge);
        requests.push(request_from(from, "GET", "/", Some(&header)));
    }
    let mut running = tokio::task::JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let service = app.service.clone();
        running.spawn(async move { (index, service.oneshot(request).await.unwrap().status()) });
    }
    let mut statuses = vec![StatusCode::OK; answers.len()];
    while let Some(done) = running.join_next().await {
        let (index, status) = done.unwrap();
        statuses[index] = status;
    }
    statuses
}

fn checked(statuses: &[StatusCode]) -> usize {
    statuses
        .iter()
        .filter(|status| **status != StatusCode::TOO_MANY_REQUESTS)
        .count()
}

#[tokio::test]
async fn sixty_parallel_guesses_against_a_store_that_waits_50_ms_get_at_most_ten_checks() {
    let app = app_with(|builder| builder); // The default limits: 10 per address and user.
    app.delay_ms.store(50, Ordering::SeqCst);
    let me = client_addr();
    let mut answers: Vec<Answer<'_>> = (0..59)
        .map(|_| Answer::get("/").password("wrong"))
        .collect();
    // The right password, sent once the limit is taken by guesses still being checked.
    answers.push(Answer::get("/"));
    let statuses = all_at_once(&app, me, &answers).await;
    assert!(checked(&statuses) <= 10, "{statuses:?}");
    assert_eq!(statuses[59], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(!statuses.contains(&StatusCode::OK), "{statuses:?}");
    // The ten checked guesses locked the user; the right password waits out the lock.
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn parallel_guesses_at_many_users_cannot_exceed_the_address_limit() {
    let app = app(1000, 10);
    app.delay_ms.store(50, Ordering::SeqCst);
    let names: Vec<String> = (0..40).map(|n| format!("user{n}")).collect();
    let answers: Vec<Answer<'_>> = names
        .iter()
        .map(|name| Answer::get("/").username(name).password("wrong"))
        .collect();
    let statuses = all_at_once(&app, client_addr(), &answers).await;
    assert_eq!(checked(&statuses), 10, "{statuses:?}");
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn attempts_that_prove_nothing_give_their_room_back() {
    // Limit 1 per user: a single attempt in flight takes the whole budget, so every
    // outcome that counts nothing must hand it back for the next one to get in.
    let app = app(1, 1000);
    let me = client_addr();
    for _ in 0..3 {
        assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
    }
    // A replay and a stale nonce (the password checks out: a success, which frees the
    // room), a credential store failure (void): none counts, none holds.
    let challenge = app.challenge(me).await;
    let header = Answer::get("/").header(&challenge);
    let first = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(first.status(), StatusCode::OK);
    let replay = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(Duration::from_secs(31 * 60));
    let stale = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert!(challenges(stale.headers())[0].stale);
    app.down.store(true, Ordering::SeqCst);
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    app.down.store(false, Ordering::SeqCst);
    assert_eq!(app.status(me, USER, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_request_dropped_while_its_password_is_checked_gives_its_room_back() {
    for shared in [false, true] {
        let remote = Remote::default();
        let app = app_with(|builder| {
            let builder = if shared {
                builder.throttle_store(remote.clone())
            } else {
                builder
            };
            builder.throttle(limits(1, 1000))
        });
        app.delay_ms.store(50, Ordering::SeqCst);
        let me = client_addr();
        let challenge = app.challenge(me).await;
        let header = Answer::get("/").password("wrong").header(&challenge);
        let request = request_from(me, "GET", "/", Some(&header));
        // Admitted, then dropped during its credential lookup (a client hanging up).
        let dropped = tokio::time::timeout(Duration::from_millis(10), app.send(request)).await;
        assert!(dropped.is_err(), "still waiting for the store");
        // Another store is released by a task on the Tokio runtime (with the `redis`
        // feature, which brings the runtime); without it, the reservation runs out.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if shared && !cfg!(feature = "redis") {
            app.clock.advance(Duration::from_secs(61));
        }
        assert_eq!(
            app.status(me, USER, PASSWORD).await,
            StatusCode::OK,
            "shared store: {shared}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// One budget per account, however the client spells its name.

#[tokio::test]
async fn a_user_locked_by_name_is_locked_by_userhash_and_username_star_too() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(3, 1000)));
    let me = client_addr();
    app.fail(me, USER, 3).await;
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The same account, named by its hash: the same lock, and no password check.
    let lookups = app.lookups.load(Ordering::SeqCst);
    let hashed = app.answer(me, &Answer::get("/").hashed_username()).await;
    assert_eq!(hashed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.lookups.load(Ordering::SeqCst), lookups);
    // And named in the extended form `username*`.
    let challenge = app.challenge(me).await;
    let header = Answer::get("/").header(&challenge).replace(
        &format!("username=\"{USER}\""),
        &format!("username*=UTF-8''{USER}"),
    );
    let star = app.send(request_from(me, "GET", "/", Some(&header))).await;
    assert_eq!(star.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failures_by_userhash_lock_the_user_by_name() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(3, 1000)));
    let me = client_addr();
    for _ in 0..3 {
        let wrong = Answer::get("/").hashed_username().password("wrong");
        assert_eq!(
            app.answer(me, &wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Bob, on the same address, has his own budget.
    assert_eq!(app.status(me, BOB, BOB_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_userhash_counts_and_answers_like_a_wrong_password() {
    let app = app_with(|builder| builder.userhash(true).throttle(limits(2, 1000)));
    let me = client_addr();
    let unknown = Answer::get("/").username("nobody").hashed_username();
    let known = Answer::get("/").hashed_username().password("wrong");
    for _ in 0..2 {
        let a = app.answer(me, &unknown).await;
        let b = app.answer(peer(7), &known).await;
        assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(a.status(), b.status());
        assert_eq!(a.headers().len(), b.headers().len());
        assert_eq!(a.body(), b.body());
    }
    // Both keys are now at their limit: each locked the same way.
    let a = app.answer(me, &unknown).await;
    let b = app.answer(peer(7), &known).await;
    assert_eq!(a.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&a), retry_after(&b));
}

/// Sends each header at once, all from `from`; returns the statuses in the same order.
async fn headers_at_once(app: &App, from: SocketAddr, headers: Vec<String>) -> Vec<StatusCode> {
    let mut running = tokio::task::JoinSet::new();
    for (index, header) in headers.into_iter().enumerate() {
        let service = app.service.clone();
        let request = request_from(from, "GET", "/", Some(&header));
        running.spawn(async move { (index, service.oneshot(request).await.unwrap().status()) });
    }
    let mut statuses = Vec::new();
    while let Some(done) = running.join_next().await {
        statuses.push(done.unwrap());
    }
    statuses.sort_by_key(|(index, _)| *index);
    statuses.into_iter().map(|(_, status)| status).collect()
}

#[tokio::test]
async fn a_logged_in_client_with_many_requests_in_flight_on_a_slow_store_is_never_refused() {
    let app = app_with(|builder| builder); // 10 attempts in flight per address and user.
    app.delay_ms.store(50, Ordering::SeqCst);
    let me = client_addr();
    let challenge = app.challenge(me).await;
    let first = Answer::get("/").header(&challenge);
    let login = app.send(request_from(me, "GET", "/", Some(&first))).await;
    assert_eq!(login.status(), StatusCode::OK);
    // Forty requests at once on the accepted nonce, each waiting 50 ms on the store.
    let headers = (2..42)
        .map(|nc| Answer::get("/").nc(nc).header(&challenge))
        .collect();
    let statuses = headers_at_once(&app, me, headers).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_on_an_accepted_nonce_still_counts() {
    let app = app_with(|builder| builder);
    let me = client_addr();
    let challenge = app.challenge(me).await;
    let first = Answer::get("/").header(&challenge);
    let login = app.send(request_from(me, "GET", "/", Some(&first))).await;
    assert_eq!(login.status(), StatusCode::OK);
    for nc in 2..12 {
        let guess = Answer::get("/").nc(nc).password("wrong").header(&challenge);
        let response = app.send(request_from(me, "GET", "/", Some(&guess))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "guess {nc}");
    }
    // Ten failures lock the user, on this nonce and on a fresh one.
    let guess = Answer::get("/").nc(12).password("wrong").header(&challenge);
    let response = app.send(request_from(me, "GET", "/", Some(&guess))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
