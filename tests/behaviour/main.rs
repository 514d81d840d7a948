//! Every row of the behaviour table (the crate docs' "What a request gets"), driven through the service with `oneshot`.
//!
//! Most cases are rows of a table: what the client sends (built from fresh challenges by a
//! one-line closure) and what it gets, written as `describe` prints a response: `"200 body"`,
//! `"401"` (a fresh challenge per algorithm), `"401 stale"`, `"400 reason"` or `"500"`.

#![allow(missing_docs)]

#[path = "../common/mod.rs"]
mod common;
mod fixture;
mod plumbing;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Answer, Challenge, PASSWORD, REALM, challenges, param, params, request};
use fixture::{
    Case, Offered, PAGE, answer, app, describe, edit_field, fixture, fixture_around, fixture_in,
    fixture_with, forged, get, get_at, rfc2069, users, with, with_nonce, without,
};
use http::{Request, Response, StatusCode};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::nonce::MemoryNonceStore;
use tower_digest_auth::{Algorithm, CredentialStore, DigestLayer, Ha1, MemoryCredentials};

// ---- no credentials, other schemes ----

#[tokio::test]
async fn no_credentials_get_one_challenge_line_per_algorithm_sha256_first() {
    let f = fixture();
    let response = f.send(request("GET", PAGE, None)).await;
    let lines = response.headers().get_all("www-authenticate").iter();
    assert_eq!(lines.count(), 2, "one header line per algorithm");
    let Offered { sha, md5 } = f.offered().await;
    for challenge in [&sha, &md5] {
        assert_eq!((&*challenge.realm, &*challenge.qop), (REALM, "auth"));
        assert!(challenge.opaque.is_some() && !challenge.stale);
        assert!(!challenge.nonce.contains('='), "base64url without padding");
    }
    assert_ne!(sha.nonce, md5.nonce);
    assert_eq!(f.nonces.len(), 0, "a challenge stores nothing");
}

#[tokio::test]
async fn configured_algorithms_are_offered_in_order() {
    let f = fixture_with(|b| b.algorithms([Algorithm::Md5, Algorithm::Sha512_256Sess]));
    let offered: Vec<_> = f
        .challenges()
        .await
        .into_iter()
        .map(|c| c.algorithm)
        .collect();
    assert_eq!(offered, ["MD5", "SHA-512-256-sess"]);
}

// ---- 400 rows ----

#[tokio::test]
async fn refused_headers_are_400_with_the_reason() {
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("an unterminated quote", |_| get(r#"Digest username="Mufasa"#), "400 unterminated quoted string"),
        ("no comma between parameters", |_| get(r#"Digest username="a" realm="b""#), "400 expected ',' between parameters"),
        ("a value without a name", |_| get(r#"Digest realm="r", =x"#), "400 expected a parameter name"),
        ("an escape at the end", |_| get(r#"Digest username="a\"#), "400 bad escape in quoted string"),
        ("a header that is not UTF-8", |_| non_utf8(), "400 username is not UTF-8"),
        ("a header over the size limit", |_| get(format!(r#"Digest username="{}""#, "x".repeat(20_000))), "400 Authorization header too long"),
        ("a parameter given twice", |c| get(answer(&c.sha) + r#", nonce="again""#), "400 duplicate parameter: nonce"),
        ("no username", |c| get(without(&c.sha, "username")), "400 missing field: username"),
        ("no realm", |c| get(without(&c.sha, "realm")), "400 missing field: realm"),
        ("no nonce", |c| get(without(&c.sha, "nonce")), "400 missing field: nonce"),
        ("no uri", |c| get(without(&c.sha, "uri")), "400 missing field: uri"),
        ("no response", |c| get(without(&c.sha, "response")), "400 missing field: response"),
        ("no nc", |c| get(without(&c.sha, "nc")), "400 missing field: nc"),
        ("no cnonce", |c| get(without(&c.sha, "cnonce")), "400 missing field: cnonce"),
        ("qop=auth-int, not enabled", |c| get(with(&c.sha, "qop", "auth-int")), "400 qop must be \"auth\""),
        ("an RFC 2069 answer without qop", |c| get(rfc2069(&c.md5)), "400 qop must be \"auth\""),
        ("an algorithm not offered", |c| get(with(&c.sha, "algorithm", "SHA-512-256")), "400 algorithm was not offered"),
        ("an algorithm not supported", |c| get(with(&c.sha, "algorithm", "SHA-1")), "400 algorithm was not offered"),
        ("a foreign realm", |c| get(with(&c.sha, "realm", "other")), "400 realm does not match"),
        ("a foreign opaque", |c| get(with(&c.sha, "opaque", "other")), "400 opaque does not match"),
        ("a uri of another path", |c| get(Answer::get("/dir/other.html").header(&c.sha)), "400 uri does not match the request target"),
        ("a uri without the target's query", |c| get_at("/dir/index.html?x=1", answer(&c.sha)), "400 uri does not match the request target"),
        ("username and username* together", |c| get(answer(&c.sha) + ", username*=UTF-8''Mufasa"), "400 send username only (no username*, no userhash=true)"),
    ];
    fixture().check(cases).await;
}

fn non_utf8() -> Request<String> {
    let mut request = request("GET", PAGE, None);
    let value = http::HeaderValue::from_bytes(b"Digest username=\"\xff\xfe\"").unwrap();
    request.headers_mut().insert("authorization", value);
    request
}

// ---- 401 rows ----

#[tokio::test]
async fn refused_answers_get_a_fresh_challenge_not_stale() {
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("Basic", |_| get("Basic TXVmYXNhOkNpcmNsZSBvZiBMaWZl"), "401"),
        ("Bearer", |_| get("Bearer abc.def.ghi"), "401"),
        ("Negotiate", |_| get("Negotiate x"), "401"),
        ("a wrong password", |c| get(Answer::get(PAGE).password("Circle of Death").header(&c.sha)), "401"),
        ("an unknown user", |c| get(Answer::get(PAGE).username("Scar").header(&c.sha)), "401"),
        ("a forged nonce", |c| get(answer(&with_nonce(&c.sha, forged(&c.sha.nonce)))), "401"),
        ("a nonce that is no nonce", |c| get(answer(&with_nonce(&c.sha, "not-a-nonce".into()))), "401"),
        ("a SHA-256 nonce answered with MD5", |c| get(answer(&Challenge { algorithm: "MD5".into(), ..c.sha.clone() })), "401"),
        ("a POST's answer on a GET", |c| get(Answer::get(PAGE).method("POST").header(&c.sha)), "401"),
    ];
    fixture().check(cases).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike() {
    let f = fixture();
    let challenge = f.challenge().await;
    let wrong = Answer::get(PAGE).password("Circle of Death");
    let unknown = Answer::get(PAGE).username("Scar");
    let wrong = f.send(get(wrong.header(&challenge))).await;
    let unknown = f.send(get(unknown.header(&challenge))).await;
    let without_nonces = |r: &Response<String>| {
        let mut headers = r.headers().clone();
        headers.remove("www-authenticate");
        let challenges = challenges(r.headers()).into_iter();
        let challenges: Vec<_> = challenges
            .map(|c| format!("{:?}", with_nonce(&c, String::new())))
            .collect();
        (
            format!("{headers:?}"),
            challenges,
            r.status(),
            r.body().clone(),
        )
    };
    assert_eq!(without_nonces(&wrong), without_nonces(&unknown));
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
    let f = fixture_around(app(&DigestLayer::builder(REALM, store).build().unwrap()));
    let header = Answer::get(PAGE)
        .username("nobody")
        .header(&f.challenge().await);
    assert_eq!(f.got(get(header)).await, "401");
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn nonce_of_another_realm_or_key_is_401() {
    let f = fixture();
    let other = fixture_around(app(&DigestLayer::builder(REALM, users()).build().unwrap()));
    let theirs = Challenge {
        opaque: f.challenge().await.opaque,
        ..other.challenge().await
    };
    assert_eq!(f.got(get(answer(&theirs))).await, "401");
}

#[tokio::test]
async fn nonce_from_another_client_ip_is_401_stale_when_answered_rightly_and_burns_nothing() {
    let f = fixture();
    let challenge = f.challenge().await;
    let header = answer(&challenge);
    let elsewhere = "198.51.100.1:4000".parse().unwrap();
    let from_elsewhere = |header: &str| common::request_from(elsewhere, "GET", PAGE, Some(header));
    // A wrong password: a fresh challenge, not stale.
    let wrong = Answer::get(PAGE).password("guess").header(&challenge);
    assert_eq!(f.got(from_elsewhere(&wrong)).await, "401");
    // The right one: the client moved, and retries without asking its user.
    assert_eq!(f.got(from_elsewhere(&header)).await, "401 stale");
    assert_eq!(
        f.got(get(header)).await,
        "200 hello Mufasa via SHA-256",
        "from the right address"
    );
}

// ---- nonce counts ----

#[tokio::test]
async fn reused_nonce_count_is_401_not_stale() {
    let f = fixture();
    f.counts(
        &f.challenge().await,
        &[(1, "200 hello Mufasa via SHA-256"), (1, "401")],
    )
    .await;
}

#[tokio::test]
async fn nonce_reuse_with_increasing_nc_and_out_of_order_within_the_window() {
    let f = fixture();
    let md5 = f.offered().await.md5;
    let ok = "200 hello Mufasa via MD5";
    let rising: Vec<_> = (1..=10).map(|nc| (nc, ok)).collect();
    f.counts(&md5, &rising).await;
    // 30 is within 64 of 80, once only; 16 is below the window.
    f.counts(&md5, &[(80, ok), (30, ok), (30, "401"), (16, "401 stale")])
        .await;
    assert_eq!(f.nonces.len(), 1);
}

/// A browser with more than 64 requests in flight on one nonce sends counts that fall
/// below the window: refused, but stale, so it retries without asking its user.
#[tokio::test]
async fn nc_below_the_window_is_refused_with_stale() {
    let f = fixture();
    f.counts(
        &f.challenge().await,
        &[(100, "200 hello Mufasa via SHA-256"), (2, "401 stale")],
    )
    .await;
}

/// A fresh nonce's first use raced: the store's insert path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_use_of_a_nonce_raced_on_many_threads_is_accepted_once() {
    let f = fixture();
    for round in 1..=20 {
        let header = Answer::get(PAGE).nc(round).header(&f.challenge().await);
        assert_eq!(f.race(&header, 32).await, 1, "round {round}");
    }
}

/// Each later `nc` of one nonce raced: the store's update path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_nc_of_a_nonce_raced_on_many_threads_is_accepted_once() {
    let f = fixture();
    let challenge = f.challenge().await;
    for nc in 1..=50 {
        let header = Answer::get(PAGE).nc(nc).header(&challenge);
        assert_eq!(f.race(&header, 16).await, 1, "nc {nc}");
    }
}

// ---- expiry (the default lifetime is 30 minutes) ----

/// Each case: the time that passes between the challenge and the answer.
#[tokio::test]
async fn a_nonce_is_stale_after_its_lifetime_only_when_the_answer_is_right() {
    let cases = [
        (
            "a right answer after the lifetime",
            30 * 60 + 1,
            None,
            "401 stale",
        ),
        (
            "a right answer within the lifetime",
            30 * 60 - 1,
            None,
            "200 hello Mufasa via SHA-256",
        ),
        (
            "a wrong password after the lifetime",
            31 * 60,
            Some("guess"),
            "401",
        ),
    ];
    for (behaviour, seconds, password, expected) in cases {
        let f = fixture();
        let challenge = f.challenge().await;
        f.clock.advance(Duration::from_secs(seconds));
        let header = Answer::get(PAGE)
            .password(password.unwrap_or(PASSWORD))
            .header(&challenge);
        assert_eq!(f.got(get(header)).await, expected, "{behaviour}");
    }
}

#[tokio::test]
async fn a_stale_answer_is_retried_with_the_fresh_nonce_without_the_user() {
    let f = fixture();
    let challenge = f.challenge().await;
    f.clock.advance(Duration::from_secs(30 * 60 + 1));
    let response = f.send(get(answer(&challenge))).await;
    assert_eq!(describe(&response), "401 stale");
    let fresh = challenges(response.headers()).remove(0);
    assert_eq!(
        f.got(get(answer(&fresh))).await,
        "200 hello Mufasa via SHA-256"
    );
}

/// A nonce verified a moment ago is still checked for expiry on its next use.
#[tokio::test]
async fn expired_nonce_is_stale_even_right_after_it_verified() {
    let f = fixture();
    let challenge = f.challenge().await;
    f.counts(&challenge, &[(1, "200 hello Mufasa via SHA-256")])
        .await;
    f.clock.advance(Duration::from_secs(30 * 60 + 1));
    f.counts(&challenge, &[(2, "401 stale")]).await;
}

#[tokio::test]
async fn configured_lifetime_is_honoured() {
    let f = fixture_with(|b| b.nonce_lifetime(Duration::from_secs(10)));
    let challenge = f.challenge().await;
    f.clock.advance(Duration::from_secs(11));
    assert_eq!(f.got(get(answer(&challenge))).await, "401 stale");
}

#[tokio::test]
async fn the_nonce_store_shrinks_back_after_expiry() {
    let f = fixture();
    for _ in 0..40 {
        f.log_in().await;
    }
    assert_eq!(f.nonces.len(), 40);
    f.clock.advance(Duration::from_secs(31 * 60));
    // New authentications sweep the expired entries a few at a time ...
    for _ in 0..5 {
        f.log_in().await;
    }
    assert_eq!(f.nonces.len(), 5);
}

#[tokio::test]
async fn a_full_nonce_store_never_lets_a_replay_through() {
    let f = fixture_in(MemoryNonceStore::with_max_entries(4), |b| b);
    let mut used = Vec::new();
    for _ in 0..12 {
        used.push(f.log_in().await);
        assert!(f.nonces.len() <= 4);
        f.clock.advance(Duration::from_secs(1));
    }
    // Refused, stale or not: the store may no longer know whether the count was used.
    for header in used {
        let status = f.send(get(header)).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "replay after eviction");
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
    let f = fixture_around(app(&DigestLayer::builder(REALM, FailingStore)
        .build()
        .unwrap()));
    assert_eq!(f.got(get(answer(&f.challenge().await))).await, "500");
}

#[tokio::test]
async fn unknown_client_address_fails_closed() {
    let request = Request::get(PAGE).body(String::new()).unwrap();
    assert_eq!(fixture().got(request).await, "500");
}

// ---- success ----

#[tokio::test]
async fn answers_that_authenticate() {
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("no algorithm means MD5", |c| get(without(&c.md5, "algorithm")), "200 hello Mufasa via MD5"),
        ("a target with a query", |c| answered_at("/dir/index.html?q=a%20b&x=1", &c.sha), "200 hello Mufasa via SHA-256"),
        ("an absolute-form target", |c| answered_at("http://example.org/dir/index.html", &c.sha), "200 hello Mufasa via SHA-256"),
        ("a POST, answered with its method", |c| post(Answer::get(PAGE).method("POST").header(&c.sha)), "200 hello Mufasa via SHA-256"),
    ];
    fixture().check(cases).await;
}

/// A correct answer for `uri`, sent to `uri`.
fn answered_at(uri: &str, challenge: &Challenge) -> Request<String> {
    get_at(uri, Answer::get(uri).header(challenge))
}

fn post(header: impl AsRef<str>) -> Request<String> {
    request("POST", PAGE, Some(header.as_ref()))
}

#[tokio::test]
async fn username_star_carries_a_non_ascii_user() {
    let user = "J\u{e4}s\u{f8}n Doe";
    let layer = DigestLayer::builder(REALM, MemoryCredentials::new(REALM, [(user, "pw")]));
    let f = fixture_around(app(&layer.build().unwrap()));
    let header = Answer::get(PAGE)
        .username(user)
        .password("pw")
        .header(&f.challenge().await);
    let header = edit_field(&header, "username", None) + ", username*=UTF-8''J%C3%A4s%C3%B8n%20Doe";
    assert_eq!(
        f.got(get(header)).await,
        format!("200 hello {user} via SHA-256")
    );
}

#[tokio::test]
async fn success_runs_the_inner_service_with_the_user_and_proves_the_server() {
    for algorithm in Algorithm::ALL {
        let f = fixture_with(|b| b.algorithms([algorithm]));
        let challenge = f.challenge().await;
        let answer = Answer::get(PAGE);
        let response = f.send(get(answer.header(&challenge))).await;
        assert_eq!(
            describe(&response),
            format!("200 hello Mufasa via {algorithm}")
        );
        let info = params(response.headers()["authentication-info"].to_str().unwrap());
        let rspauth = answer.rspauth(&challenge);
        assert_eq!(param(&info, "qop"), Some("auth"));
        assert_eq!(
            param(&info, "rspauth"),
            Some(rspauth.as_str()),
            "{algorithm}"
        );
        assert_eq!(param(&info, "cnonce"), Some(answer.cnonce));
        assert_eq!(param(&info, "nc"), Some("00000001"));
        assert_eq!(param(&info, "nextnonce"), None, "early in the nonce's life");
    }
}

#[tokio::test]
async fn late_in_a_nonces_life_the_success_carries_a_working_nextnonce() {
    let f = fixture();
    let challenge = f.challenge().await;
    f.clock.advance(Duration::from_secs(25 * 60));
    let response = f.send(get(answer(&challenge))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let info = params(response.headers()["authentication-info"].to_str().unwrap());
    let next = param(&info, "nextnonce").expect("nextnonce late in life");
    assert_ne!(next, challenge.nonce);
    f.clock.advance(Duration::from_secs(10 * 60));
    let header = answer(&with_nonce(&challenge, next.to_owned()));
    assert_eq!(f.got(get(header)).await, "200 hello Mufasa via SHA-256");
}
