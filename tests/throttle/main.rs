//! Failed-login throttling, driven through the service with `oneshot` and a manual clock:
//! what counts, what a locked client gets, whom a lock locks, how locks grow and end,
//! and that memory stays bounded without letting a flood lift a lock.

#![allow(missing_docs)]

#[path = "../common/mod.rs"]
mod common;
mod parallel;
mod spellings;
mod store;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, client_addr, request_from};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::nonce::MemoryNonceStore;
use tower_digest_auth::rejection::{Rejection, RejectionResponse};
use tower_digest_auth::throttle::{FailureLimit, FailureStore, MemoryFailureStore, ThrottleConfig};
use tower_digest_auth::{CredentialStore, DigestLayer, DigestLayerBuilder, Ha1, MemoryCredentials};

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

fn app_with<R: RejectionResponse<String>, F: FailureStore>(
    configure: impl FnOnce(
        DigestLayerBuilder<Users>,
    ) -> DigestLayerBuilder<Users, MemoryNonceStore, R, F>,
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
