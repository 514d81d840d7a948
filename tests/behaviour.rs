//! Every row of the behaviour table (the crate docs' "What a request gets"), driven through the service with `oneshot`.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, param, params, request};
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt, service_fn};
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, ClientIpSource, CredentialStore, DigestLayer, Ha1, HashFunction,
    ManualClock, MemoryCredentials, MemoryNonceStore, Rejection,
};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The protected app: answers with the authenticated user's name.
fn inner() -> Inner {
    tower::util::BoxCloneSyncService::new(service_fn(|request: Request<String>| async move {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .expect("the layer passes the user on");
        Ok::<_, Infallible>(Response::new(format!(
            "hello {} via {}",
            user.username(),
            user.algorithm()
        )))
    }))
}

fn users() -> MemoryCredentials {
    MemoryCredentials::new(REALM, [(USER, PASSWORD)])
}

struct Fixture {
    service: Inner,
    clock: ManualClock,
    nonces: MemoryNonceStore,
}

fn fixture_with(
    configure: impl FnOnce(
        tower_digest_auth::DigestLayerBuilder<MemoryCredentials>,
    ) -> tower_digest_auth::DigestLayerBuilder<MemoryCredentials>,
) -> Fixture {
    let clock = ManualClock::new();
    let nonces = MemoryNonceStore::new();
    let layer = configure(DigestLayer::builder(REALM, users()).clock(clock.clone()))
        .nonce_store(nonces.clone())
        .build()
        .unwrap();
    Fixture {
        service: Inner::new(tower::Layer::layer(&layer, inner())),
        clock,
        nonces,
    }
}

fn fixture() -> Fixture {
    fixture_with(|builder| builder)
}

impl Fixture {
    async fn send(&self, request: Request<String>) -> Response<String> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    async fn get(&self, uri: &str, authorization: Option<&str>) -> Response<String> {
        self.send(request("GET", uri, authorization)).await
    }

    /// The challenge for `algorithm` from a fresh 401.
    async fn challenge(&self, algorithm: &str) -> Challenge {
        let response = self.get("/dir/index.html", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        challenges(response.headers())
            .into_iter()
            .find(|c| c.algorithm == algorithm)
            .unwrap_or_else(|| panic!("no {algorithm} challenge"))
    }

    /// Sends the header with one field replaced (or removed, with `None`).
    async fn get_edited(&self, edit: (&str, Option<&str>)) -> Response<String> {
        let challenge = self.challenge("SHA-256").await;
        let header = Answer::get("/dir/index.html").header(&challenge);
        let header = edit_field(&header, edit.0, edit.1);
        self.get("/dir/index.html", Some(&header)).await
    }
}

/// Replaces (or drops) one `name=value` of an Authorization header.
fn edit_field(header: &str, name: &str, value: Option<&str>) -> String {
    let body = header.strip_prefix("Digest ").unwrap();
    let mut parts: Vec<String> = Vec::new();
    for (n, v) in params(body) {
        if n == name {
            if let Some(value) = value {
                parts.push(format!(r#"{n}="{value}""#));
            }
        } else {
            parts.push(format!(r#"{n}="{v}""#));
        }
    }
    format!("Digest {}", parts.join(", "))
}

fn assert_400(response: &Response<String>, message: &str) {
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "{}",
        response.body()
    );
    assert_eq!(response.body(), message);
    assert!(response.headers().get("www-authenticate").is_none());
}

fn assert_fresh_challenge(response: &Response<String>) {
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "{}",
        response.body()
    );
    let challenges = challenges(response.headers());
    assert_eq!(challenges.len(), 2);
    assert!(challenges.iter().all(|c| !c.stale), "not stale");
}

// ---- no credentials, other schemes ----

#[tokio::test]
async fn no_credentials_get_one_challenge_line_per_algorithm_sha256_first() {
    let f = fixture();
    let response = f.get("/dir/index.html", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let lines: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .collect();
    assert_eq!(lines.len(), 2, "one header line per algorithm");
    let challenges = challenges(response.headers());
    assert_eq!(challenges[0].algorithm, "SHA-256");
    assert_eq!(challenges[1].algorithm, "MD5");
    for challenge in &challenges {
        assert_eq!(challenge.realm, REALM);
        assert_eq!(challenge.qop, "auth");
        assert!(challenge.opaque.is_some());
        assert!(!challenge.stale);
        assert!(!challenge.nonce.contains('='), "base64url without padding");
    }
    assert_ne!(challenges[0].nonce, challenges[1].nonce);
    assert_eq!(f.nonces.len(), 0, "a challenge stores nothing");
}

#[tokio::test]
async fn other_schemes_are_challenged() {
    let f = fixture();
    for header in [
        "Basic TXVmYXNhOkNpcmNsZSBvZiBMaWZl",
        "Bearer abc.def.ghi",
        "Negotiate x",
    ] {
        assert_fresh_challenge(&f.get("/dir/index.html", Some(header)).await);
    }
}

#[tokio::test]
async fn configured_algorithms_are_offered_in_order() {
    let f = fixture_with(|b| b.algorithms([Algorithm::Md5, Algorithm::Sha512_256Sess]));
    let response = f.get("/", None).await;
    let offered: Vec<_> = challenges(response.headers())
        .into_iter()
        .map(|c| c.algorithm)
        .collect();
    assert_eq!(offered, ["MD5", "SHA-512-256-sess"]);
}

// ---- 400 rows ----

#[tokio::test]
async fn malformed_headers_are_400_with_the_reason() {
    let f = fixture();
    let cases = [
        (r#"Digest username="Mufasa"#, "unterminated quoted string"),
        (
            r#"Digest username="a" realm="b""#,
            "expected ',' between parameters",
        ),
        (r#"Digest realm="r", =x"#, "expected a parameter name"),
        (r#"Digest username="a\"#, "bad escape in quoted string"),
    ];
    for (header, message) in cases {
        let response = f.get("/dir/index.html", Some(header)).await;
        assert_400(&response, message);
    }
}

#[tokio::test]
async fn non_utf8_and_oversize_headers_are_400() {
    let f = fixture();
    let mut request = request("GET", "/dir/index.html", None);
    request.headers_mut().insert(
        "authorization",
        http::HeaderValue::from_bytes(b"Digest username=\"\xff\xfe\"").unwrap(),
    );
    let response = f.send(request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let long = format!(r#"Digest username="{}""#, "x".repeat(20_000));
    assert_400(
        &f.get("/", Some(&long)).await,
        "Authorization header too long",
    );
}

#[tokio::test]
async fn duplicate_parameters_are_400() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = Answer::get("/dir/index.html").header(&challenge) + r#", nonce="again""#;
    assert_400(
        &f.get("/dir/index.html", Some(&header)).await,
        "duplicate parameter: nonce",
    );
}

#[tokio::test]
async fn each_missing_required_field_is_400_naming_it() {
    let f = fixture();
    for field in [
        "username", "realm", "nonce", "uri", "response", "nc", "cnonce",
    ] {
        let response = f.get_edited((field, None)).await;
        assert_400(&response, &format!("missing field: {field}"));
    }
}

#[tokio::test]
async fn qop_other_than_auth_or_missing_is_400() {
    let f = fixture();
    assert_400(
        &f.get_edited(("qop", Some("auth-int"))).await,
        "qop must be \"auth\"",
    );
    // An RFC 2069 answer: no qop, nc or cnonce.
    let challenge = f.challenge("MD5").await;
    let rfc2069 = format!(
        r#"Digest username="{USER}", realm="{REALM}", nonce="{}", uri="/dir/index.html", response="{}""#,
        challenge.nonce,
        "0".repeat(32)
    );
    assert_400(
        &f.get("/dir/index.html", Some(&rfc2069)).await,
        "qop must be \"auth\"",
    );
}

#[tokio::test]
async fn algorithm_not_offered_is_400() {
    let f = fixture();
    assert_400(
        &f.get_edited(("algorithm", Some("SHA-512-256"))).await,
        "algorithm was not offered",
    );
    assert_400(
        &f.get_edited(("algorithm", Some("SHA-1"))).await,
        "algorithm was not offered",
    );
}

#[tokio::test]
async fn missing_algorithm_means_md5() {
    let f = fixture();
    let challenge = f.challenge("MD5").await;
    let header = Answer::get("/dir/index.html").header(&challenge);
    let header = edit_field(&header, "algorithm", None);
    let response = f.get("/dir/index.html", Some(&header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "hello Mufasa via MD5");
}

#[tokio::test]
async fn foreign_realm_or_opaque_is_400() {
    let f = fixture();
    assert_400(
        &f.get_edited(("realm", Some("other"))).await,
        "realm does not match",
    );
    assert_400(
        &f.get_edited(("opaque", Some("other"))).await,
        "opaque does not match",
    );
}

#[tokio::test]
async fn uri_that_is_not_the_request_target_is_400() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = Answer::get("/dir/other.html").header(&challenge);
    assert_400(
        &f.get("/dir/index.html", Some(&header)).await,
        "uri does not match the request target",
    );
    // The query is part of the target.
    let header = Answer::get("/dir/index.html").header(&challenge);
    assert_400(
        &f.get("/dir/index.html?x=1", Some(&header)).await,
        "uri does not match the request target",
    );
}

#[tokio::test]
async fn uri_with_query_and_absolute_form_targets_authenticate() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let uri = "/dir/index.html?q=a%20b&x=1";
    let header = Answer::get(uri).header(&challenge);
    assert_eq!(f.get(uri, Some(&header)).await.status(), StatusCode::OK);
    let absolute = "http://example.org/dir/index.html";
    let header = Answer::get(absolute).nc(2).header(&challenge);
    assert_eq!(
        f.get(absolute, Some(&header)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn username_and_username_star_together_are_400() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = Answer::get("/dir/index.html").header(&challenge) + ", username*=UTF-8''Mufasa";
    assert_400(
        &f.get("/dir/index.html", Some(&header)).await,
        "send username only (no username*, no userhash=true)",
    );
}

#[tokio::test]
async fn username_star_carries_a_non_ascii_user() {
    let user = "J\u{e4}s\u{f8}n Doe";
    let layer = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(user, "pw")]))
        .build()
        .unwrap();
    let service = tower::Layer::layer(&layer, inner());
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/")
        .username(user)
        .password("pw")
        .header(&challenge);
    let header = edit_field(&header, "username", None) + ", username*=UTF-8''J%C3%A4s%C3%B8n%20Doe";
    let response = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), &format!("hello {user} via SHA-256"));
}

// ---- 401 rows ----

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let wrong = Answer::get("/dir/index.html")
        .password("Circle of Death")
        .header(&challenge);
    let unknown = Answer::get("/dir/index.html")
        .username("Scar")
        .header(&challenge);
    let a = f.get("/dir/index.html", Some(&wrong)).await;
    let b = f.get("/dir/index.html", Some(&unknown)).await;
    assert_fresh_challenge(&a);
    assert_fresh_challenge(&b);
    assert_eq!(a.body(), b.body());
    let without_nonces = |r: &Response<String>| {
        let mut headers = r.headers().clone();
        headers.remove("www-authenticate");
        let challenges: Vec<_> = challenges(r.headers())
            .into_iter()
            .map(|c| Challenge {
                nonce: String::new(),
                ..c
            })
            .map(|c| format!("{c:?}"))
            .collect();
        (format!("{headers:?}"), challenges, r.status())
    };
    assert_eq!(without_nonces(&a), without_nonces(&b));
    assert_eq!(f.nonces.len(), 0, "failures store nothing");
}

/// Counts lookups, to show an unknown user goes down the same path as a known one.
struct CountingStore {
    inner: MemoryCredentials,
    lookups: Arc<AtomicUsize>,
}

impl CredentialStore for CountingStore {
    type Error = Infallible;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, Infallible> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.ha1(username, realm, hash).await
    }
}

#[tokio::test]
async fn unknown_user_is_looked_up_and_refused_like_a_known_one() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let store = CountingStore {
        inner: users(),
        lookups: Arc::clone(&lookups),
    };
    let layer = DigestLayer::builder(REALM, store).build().unwrap();
    let service = tower::Layer::layer(&layer, inner());
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/").username("nobody").header(&challenge);
    let response = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn forged_nonce_is_401_not_stale() {
    let f = fixture();
    let mut challenge = f.challenge("SHA-256").await;
    // Flip one character of the nonce and answer it correctly.
    let mut bytes = challenge.nonce.into_bytes();
    bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
    challenge.nonce = String::from_utf8(bytes).unwrap();
    let header = Answer::get("/dir/index.html").header(&challenge);
    assert_fresh_challenge(&f.get("/dir/index.html", Some(&header)).await);
    challenge.nonce = "not-a-nonce".into();
    let header = Answer::get("/dir/index.html").header(&challenge);
    assert_fresh_challenge(&f.get("/dir/index.html", Some(&header)).await);
}

#[tokio::test]
async fn nonce_of_another_realm_or_key_is_401() {
    let f = fixture();
    let other = DigestLayer::builder(REALM, users()).build().unwrap();
    let other = tower::Layer::layer(&other, inner());
    let response = other.oneshot(request("GET", "/", None)).await.unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let ours = f.challenge("SHA-256").await;
    let header = Answer::get("/").header(&Challenge {
        opaque: ours.opaque,
        ..challenge
    });
    assert_fresh_challenge(&f.get("/", Some(&header)).await);
}

#[tokio::test]
async fn nonce_from_another_client_ip_is_401_stale_when_answered_rightly() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = Answer::get("/dir/index.html").header(&challenge);
    let elsewhere = "198.51.100.1:4000".parse().unwrap();
    let from_elsewhere =
        |header: &str| common::request_from(elsewhere, "GET", "/dir/index.html", Some(header));
    // A wrong password: the usual fresh challenge, not stale.
    let wrong = Answer::get("/dir/index.html")
        .password("guess")
        .header(&challenge);
    assert_fresh_challenge(&f.send(from_elsewhere(&wrong)).await);
    // The right one: the client moved, and retries without asking its user.
    let response = f.send(from_elsewhere(&header)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(response.headers()).iter().all(|c| c.stale));
    // The same answer from the right address works: nothing was burnt.
    assert_eq!(
        f.get("/dir/index.html", Some(&header)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn nonce_used_with_another_algorithm_is_401() {
    let f = fixture();
    let sha = f.challenge("SHA-256").await;
    // A downgrade: the SHA-256 challenge's nonce answered with MD5.
    let downgraded = Challenge {
        algorithm: "MD5".into(),
        ..sha
    };
    let header = Answer::get("/dir/index.html").header(&downgraded);
    assert_fresh_challenge(&f.get("/dir/index.html", Some(&header)).await);
}

#[tokio::test]
async fn reused_nonce_count_is_401_not_stale() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = Answer::get("/dir/index.html").header(&challenge);
    assert_eq!(
        f.get("/dir/index.html", Some(&header)).await.status(),
        StatusCode::OK
    );
    assert_fresh_challenge(&f.get("/dir/index.html", Some(&header)).await);
}

#[tokio::test]
async fn nonce_reuse_with_increasing_nc_and_out_of_order_within_the_window() {
    let f = fixture();
    let challenge = f.challenge("MD5").await;
    let send = |nc| {
        let header = Answer::get("/dir/index.html").nc(nc).header(&challenge);
        let f = &f;
        async move { f.get("/dir/index.html", Some(&header)).await.status() }
    };
    for nc in 1..=10 {
        assert_eq!(send(nc).await, StatusCode::OK, "nc {nc}");
    }
    assert_eq!(send(80).await, StatusCode::OK);
    assert_eq!(send(30).await, StatusCode::OK, "within 64 of 80");
    assert_eq!(send(30).await, StatusCode::UNAUTHORIZED, "once only");
    assert_eq!(send(16).await, StatusCode::UNAUTHORIZED, "below the window");
    assert_eq!(f.nonces.len(), 1);
}

/// A browser with more than 64 requests in flight on one nonce sends counts that fall
/// below the window: refused, but stale, so it retries without asking its user.
#[tokio::test]
async fn nc_below_the_window_is_refused_with_stale() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let header = |nc| Answer::get("/dir/index.html").nc(nc).header(&challenge);
    assert_eq!(
        f.get("/dir/index.html", Some(&header(100))).await.status(),
        StatusCode::OK
    );
    let response = f.get("/dir/index.html", Some(&header(2))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(response.headers());
    assert_eq!(challenges.len(), 2);
    assert!(challenges.iter().all(|c| c.stale), "stale=true");
}

impl Fixture {
    /// Sends the same header from `copies` tasks at once; how many were let through.
    async fn race(&self, header: &str, copies: usize) -> usize {
        let tasks: Vec<_> = (0..copies)
            .map(|_| {
                let service = self.service.clone();
                let request = request("GET", "/dir/index.html", Some(header));
                tokio::spawn(async move { service.oneshot(request).await.unwrap().status() })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += usize::from(task.await.unwrap() == StatusCode::OK);
        }
        accepted
    }
}

/// A fresh nonce's first use raced: the store's insert path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_use_of_a_nonce_raced_on_many_threads_is_accepted_once() {
    let f = fixture();
    for round in 1..=20 {
        let challenge = f.challenge("SHA-256").await;
        let header = Answer::get("/dir/index.html").nc(round).header(&challenge);
        assert_eq!(f.race(&header, 32).await, 1, "round {round}");
    }
}

/// Each later `nc` of one nonce raced: the store's update path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_nc_of_a_nonce_raced_on_many_threads_is_accepted_once() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    for nc in 1..=50 {
        let header = Answer::get("/dir/index.html").nc(nc).header(&challenge);
        assert_eq!(f.race(&header, 16).await, 1, "nc {nc}");
    }
}

// ---- expiry ----

#[tokio::test]
async fn expired_nonce_with_correct_response_is_stale() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    f.clock.advance(Duration::from_secs(30 * 60 + 1));
    let header = Answer::get("/dir/index.html").header(&challenge);
    let response = f.get("/dir/index.html", Some(&header)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let fresh = challenges(response.headers());
    assert_eq!(fresh.len(), 2);
    assert!(
        fresh.iter().all(|c| c.stale),
        "every challenge says stale=true"
    );
    // The client retries with the fresh nonce, without asking the user.
    let retry = Answer::get("/dir/index.html").header(&fresh[0]);
    assert_eq!(
        f.get("/dir/index.html", Some(&retry)).await.status(),
        StatusCode::OK
    );
}

/// A nonce verified a moment ago is remembered (the per-thread verified-nonce cache), but
/// only its decoded contents are: once it has expired, its next use is still stale.
#[tokio::test]
async fn expired_nonce_is_stale_even_right_after_it_verified() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let first = Answer::get("/dir/index.html").header(&challenge);
    assert_eq!(
        f.get("/dir/index.html", Some(&first)).await.status(),
        StatusCode::OK
    );
    f.clock.advance(Duration::from_secs(30 * 60 + 1));
    let next = Answer::get("/dir/index.html").nc(2).header(&challenge);
    let response = f.get("/dir/index.html", Some(&next)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let fresh = challenges(response.headers());
    assert!(
        !fresh.is_empty() && fresh.iter().all(|c| c.stale),
        "stale=true"
    );
}

#[tokio::test]
async fn nonce_within_its_lifetime_is_not_stale() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    f.clock.advance(Duration::from_secs(30 * 60 - 1));
    let header = Answer::get("/dir/index.html").header(&challenge);
    assert_eq!(
        f.get("/dir/index.html", Some(&header)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_nonce_with_wrong_password_is_not_stale() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    f.clock.advance(Duration::from_secs(31 * 60));
    let header = Answer::get("/dir/index.html")
        .password("guess")
        .header(&challenge);
    assert_fresh_challenge(&f.get("/dir/index.html", Some(&header)).await);
}

#[tokio::test]
async fn configured_lifetime_is_honoured() {
    let f = fixture_with(|b| b.nonce_lifetime(Duration::from_secs(10)));
    let challenge = f.challenge("SHA-256").await;
    f.clock.advance(Duration::from_secs(11));
    let header = Answer::get("/dir/index.html").header(&challenge);
    let response = f.get("/dir/index.html", Some(&header)).await;
    assert!(challenges(response.headers())[0].stale);
}

#[tokio::test]
async fn the_nonce_store_shrinks_back_after_expiry() {
    let f = fixture();
    for _ in 0..40 {
        let challenge = f.challenge("SHA-256").await;
        let header = Answer::get("/dir/index.html").header(&challenge);
        assert_eq!(
            f.get("/dir/index.html", Some(&header)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(f.nonces.len(), 40);
    f.clock.advance(Duration::from_secs(31 * 60));
    // New authentications sweep the expired entries a few at a time ...
    for _ in 0..5 {
        let challenge = f.challenge("SHA-256").await;
        let header = Answer::get("/dir/index.html").header(&challenge);
        assert_eq!(
            f.get("/dir/index.html", Some(&header)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(f.nonces.len(), 5);
}

#[tokio::test]
async fn a_full_nonce_store_never_lets_a_replay_through() {
    let clock = ManualClock::new();
    let nonces = MemoryNonceStore::with_max_entries(4);
    let layer = DigestLayer::builder(REALM, users())
        .clock(clock.clone())
        .nonce_store(nonces.clone())
        .build()
        .unwrap();
    let service = tower::Layer::layer(&layer, inner());
    let mut used = Vec::new();
    for _ in 0..12 {
        let response = service
            .clone()
            .oneshot(request("GET", "/", None))
            .await
            .unwrap();
        let challenge = challenges(response.headers()).remove(0);
        let header = Answer::get("/").header(&challenge);
        let response = service
            .clone()
            .oneshot(request("GET", "/", Some(&header)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(nonces.len() <= 4);
        used.push(header);
        clock.advance(Duration::from_secs(1));
    }
    for header in used {
        let response = service
            .clone()
            .oneshot(request("GET", "/", Some(&header)))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "replay after eviction"
        );
    }
}

// ---- 500 rows ----

#[derive(Debug, thiserror::Error)]
#[error("database unreachable")]
struct Down;

struct FailingStore;

impl CredentialStore for FailingStore {
    type Error = Down;

    async fn ha1(&self, _: &str, _: &str, _: HashFunction) -> Result<Option<Ha1>, Down> {
        Err(Down)
    }
}

#[tokio::test]
async fn credential_store_failure_is_500_never_200() {
    let layer = DigestLayer::builder(REALM, FailingStore).build().unwrap();
    let service = tower::Layer::layer(&layer, inner());
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/").header(&challenge);
    let response = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn unknown_client_address_fails_closed() {
    let f = fixture();
    let request = Request::get("/dir/index.html").body(String::new()).unwrap();
    let response = f.send(request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("www-authenticate").is_none());
}

// ---- success ----

#[tokio::test]
async fn success_runs_the_inner_service_with_the_user_and_proves_the_server() {
    for algorithm in Algorithm::ALL {
        let f = fixture_with(|b| b.algorithms([algorithm]));
        let challenge = f.challenge(algorithm.name()).await;
        let answer = Answer::get("/dir/index.html");
        let response = f
            .get("/dir/index.html", Some(&answer.header(&challenge)))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{algorithm}");
        assert_eq!(response.body(), &format!("hello Mufasa via {algorithm}"));
        let info = response.headers()["authentication-info"].to_str().unwrap();
        let info = params(info);
        assert_eq!(param(&info, "qop"), Some("auth"));
        assert_eq!(
            param(&info, "rspauth"),
            Some(answer.rspauth(&challenge).as_str())
        );
        assert_eq!(param(&info, "cnonce"), Some(answer.cnonce));
        assert_eq!(param(&info, "nc"), Some("00000001"));
        assert_eq!(param(&info, "nextnonce"), None, "early in the nonce's life");
    }
}

#[tokio::test]
async fn post_authenticates_with_its_method() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    let post = Answer::get("/dir/index.html")
        .method("POST")
        .header(&challenge);
    let response = f
        .send(request("POST", "/dir/index.html", Some(&post)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The same answer does not authorise another method.
    let get = f.send(request("GET", "/dir/index.html", Some(&post))).await;
    assert_eq!(get.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn late_in_a_nonces_life_the_success_carries_a_working_nextnonce() {
    let f = fixture();
    let challenge = f.challenge("SHA-256").await;
    f.clock.advance(Duration::from_secs(25 * 60));
    let header = Answer::get("/dir/index.html").header(&challenge);
    let response = f.get("/dir/index.html", Some(&header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let info = params(response.headers()["authentication-info"].to_str().unwrap());
    let next = param(&info, "nextnonce")
        .expect("nextnonce late in life")
        .to_owned();
    assert_ne!(next, challenge.nonce);
    f.clock.advance(Duration::from_secs(10 * 60));
    let header = Answer::get("/dir/index.html").header(&Challenge {
        nonce: next,
        ..challenge
    });
    assert_eq!(
        f.get("/dir/index.html", Some(&header)).await.status(),
        StatusCode::OK
    );
}

// ---- configuration and plumbing ----

#[tokio::test]
async fn custom_rejection_response_still_gets_challenges() {
    let layer = DigestLayer::builder(REALM, users())
        .rejection_response(|rejection: &Rejection, request: &http::request::Parts| {
            let body = if request.headers.contains_key("x-wants-html") {
                format!("<p>{rejection}</p>")
            } else {
                format!(r#"{{"error":"{}"}}"#, rejection.public_message())
            };
            Response::builder()
                .status(rejection.status())
                .header("content-type", "application/json")
                .body(body)
                .unwrap()
        })
        .build()
        .unwrap();
    let service = tower::Layer::layer(&layer, inner());
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.body(), r#"{"error":"authentication required"}"#);
    assert_eq!(challenges(response.headers()).len(), 2);
    // The hook sees the request, so it can answer by what the client accepts.
    let mut html = request("GET", "/", None);
    html.headers_mut()
        .insert("x-wants-html", http::HeaderValue::from_static("1"));
    let response = service.clone().oneshot(html).await.unwrap();
    assert_eq!(response.body(), "<p>authentication required</p>");
    assert_eq!(challenges(response.headers()).len(), 2);
    let response = service
        .oneshot(request("GET", "/", Some("Digest x=\"")))
        .await
        .unwrap();
    assert_eq!(response.body(), r#"{"error":"unterminated quoted string"}"#);
}

#[tokio::test]
async fn trusted_proxy_supplies_the_client_address() {
    let f = fixture_with(|b| {
        b.client_ip(ClientIpSource::XForwardedFor(vec![
            "10.0.0.0/8".parse().unwrap(),
        ]))
    });
    let proxy = "10.0.0.1:80".parse().unwrap();
    let via_proxy = |client: &str, authorization: Option<&str>| {
        let mut request = common::request_from(proxy, "GET", "/dir/index.html", authorization);
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        request
    };
    let response = f.send(via_proxy("203.0.113.5", None)).await;
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/dir/index.html").header(&challenge);
    let other = f.send(via_proxy("203.0.113.6", Some(&header))).await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "bound to the real client"
    );
    let same = f.send(via_proxy("203.0.113.5", Some(&header))).await;
    assert_eq!(same.status(), StatusCode::OK);
}

#[tokio::test]
async fn inner_errors_pass_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Boom;
    let layer = DigestLayer::builder(REALM, users()).build().unwrap();
    let service = tower::Layer::layer(
        &layer,
        service_fn(|_: Request<String>| async { Err::<Response<String>, _>(Boom) }),
    );
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/").header(&challenge);
    let error = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap_err();
    assert_eq!(error, Boom);
}

#[tokio::test]
async fn the_service_calls_the_inner_service_it_polled_ready() {
    let layer = DigestLayer::builder(REALM, users()).build().unwrap();
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service = tower::Layer::layer(&layer, mock);
    handle.allow(0);
    assert!(
        futures_poll_ready(&mut service).is_pending(),
        "readiness comes from the inner"
    );
    handle.allow(1);
    assert!(futures_poll_ready(&mut service).is_ready());
    // A challenge is answered by the layer alone; the inner never sees it.
    let response = service.call(request("GET", "/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/").header(&challenge);
    handle.allow(1);
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let call = tokio::spawn(service.call(request("GET", "/", Some(&header))));
    let (seen, send) = handle.next_request().await.expect("inner got the request");
    assert!(seen.extensions().get::<AuthenticatedUser>().is_some());
    send.send_response(Response::new("from the mock".to_owned()));
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.body(), "from the mock");
    assert!(response.headers().contains_key("authentication-info"));
}

fn futures_poll_ready<S: Service<Request<String>>>(service: &mut S) -> std::task::Poll<()>
where
    S::Error: std::fmt::Debug,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    service.poll_ready(&mut cx).map(|ready| ready.unwrap())
}

#[test]
fn invalid_configurations_are_refused() {
    use tower_digest_auth::ConfigError;
    let build = |f: fn(
        tower_digest_auth::DigestLayerBuilder<MemoryCredentials>,
    ) -> tower_digest_auth::DigestLayerBuilder<MemoryCredentials>| {
        f(DigestLayer::builder(REALM, users())).build().map(|_| ())
    };
    assert!(matches!(
        build(|b| b.algorithms([])),
        Err(ConfigError::NoAlgorithms)
    ));
    assert!(matches!(
        build(|b| b.algorithms([Algorithm::Md5, Algorithm::Md5])),
        Err(ConfigError::DuplicateAlgorithm(Algorithm::Md5))
    ));
    assert!(matches!(
        build(|b| b.nonce_lifetime(Duration::ZERO)),
        Err(ConfigError::LifetimeTooShort)
    ));
    assert!(matches!(
        build(|b| b.nonce_lifetime(Duration::MAX)),
        Err(ConfigError::LifetimeTooLong)
    ));
    assert!(matches!(
        build(|b| b.opaque("a\nb")),
        Err(ConfigError::InvalidText("opaque"))
    ));
    assert!(matches!(
        DigestLayer::builder("", users()).build().map(|_| ()),
        Err(ConfigError::InvalidText("realm"))
    ));
}

/// A realm typo between the store and the layer would look like every password being
/// wrong; the builder catches it instead.
#[test]
fn a_realm_the_credential_store_does_not_serve_is_refused_at_build() {
    let typo = DigestLayer::builder("http-auth@example.com", users()).build();
    let error = typo.map(|_| ()).unwrap_err();
    assert!(
        matches!(&error, tower_digest_auth::ConfigError::RealmNotServed { realm } if realm == "http-auth@example.com"),
        "{error:?}"
    );
    assert!(error.to_string().contains("same realm"), "{error}");
}

/// What the store returns with the HA1 reaches the handler: no second lookup needed.
#[tokio::test]
async fn roles_and_data_from_the_credential_store_reach_the_authenticated_user() {
    #[derive(Debug, PartialEq)]
    struct Account(u64);
    struct WithAccounts(MemoryCredentials);
    impl CredentialStore for WithAccounts {
        type Error = Infallible;
        async fn ha1(&self, u: &str, r: &str, h: HashFunction) -> Result<Option<Ha1>, Infallible> {
            self.0.ha1(u, r, h).await
        }
        async fn credential(
            &self,
            u: &str,
            r: &str,
            h: HashFunction,
        ) -> Result<Option<tower_digest_auth::Credential>, Infallible> {
            let found = self.0.credential(u, r, h).await?;
            Ok(found.map(|credential| credential.with_data(Account(42))))
        }
    }
    let mut users = MemoryCredentials::new(REALM, [("nobody", "x")]);
    users.insert_with_roles(USER, PASSWORD, ["admin", "keeper"]);
    let layer = DigestLayer::builder(REALM, WithAccounts(users))
        .build()
        .unwrap();
    let service = tower::Layer::layer(
        &layer,
        service_fn(|request: Request<String>| async move {
            let user = request.extensions().get::<AuthenticatedUser>().unwrap();
            Ok::<_, Infallible>(Response::new(format!(
                "{:?} {:?} {}",
                user.roles(),
                user.data::<Account>(),
                user.data::<String>().is_none()
            )))
        }),
    );
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/").header(&challenge);
    let response = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.body(),
        r#"["admin", "keeper"] Some(Account(42)) true"#
    );
}
