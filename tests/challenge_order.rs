//! Which challenge each client sees first, and what every challenge says about encoding
//! (issue 8, parts 2 and 4): driven through the service with `oneshot`.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;

use common::{Answer, REALM, challenges, param, params, request};
use http::header::{USER_AGENT, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::challenge::{Arrangement, ChallengeOrder, ClientRule};
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, DigestLayer, DigestLayerBuilder, MemoryCredentials,
};

type Service = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The example's user, and Jäsøn Doe of RFC 7616 section 3.9.2 with a non-ASCII password.
const JASON: &str = "J\u{e4}s\u{f8}n Doe";
const JASON_PASSWORD: &str = "Secret, or n\u{f6}t?";

fn service(
    configure: impl FnOnce(
        DigestLayerBuilder<MemoryCredentials>,
    ) -> DigestLayerBuilder<MemoryCredentials>,
) -> Service {
    let users = MemoryCredentials::new(
        REALM,
        [(common::USER, common::PASSWORD), (JASON, JASON_PASSWORD)],
    );
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .unwrap();
    let inner = service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "hello {} via {}",
            user.username(),
            user.algorithm()
        )))
    });
    Service::new(tower::Layer::layer(&layer, inner))
}

async fn offered_to(service: &Service, user_agent: Option<&str>) -> Vec<String> {
    let mut request = request("GET", "/", None);
    if let Some(user_agent) = user_agent {
        request
            .headers_mut()
            .insert(USER_AGENT, user_agent.parse().unwrap());
    }
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    challenges(response.headers())
        .into_iter()
        .map(|c| c.algorithm)
        .collect()
}

#[tokio::test]
async fn by_default_only_known_md5_only_or_last_wins_clients_see_another_order() {
    let service = service(|b| b);
    let cases = [
        (None, ["SHA-256", "MD5"]),
        (Some("curl/7.88.1"), ["SHA-256", "MD5"]),
        (Some("python-httpx/0.28.1"), ["SHA-256", "MD5"]),
        (Some("Wget/1.21.3"), ["SHA-256", "MD5"]),
        (Some("Python-urllib/3.14"), ["SHA-256", "MD5"]),
        // First-line clients that know only MD5: MD5 first.
        (Some("Python-urllib/3.11"), ["MD5", "SHA-256"]),
        (Some("libwww-perl/6.68"), ["MD5", "SHA-256"]),
        // Last-line clients that can do SHA-256: SHA-256 last.
        (Some("python-requests/2.32.3"), ["MD5", "SHA-256"]),
        (Some("Java/17.0.15"), ["MD5", "SHA-256"]),
    ];
    for (user_agent, expected) in cases {
        assert_eq!(
            offered_to(&service, user_agent).await,
            expected,
            "{user_agent:?}"
        );
    }
}

#[tokio::test]
async fn reordering_never_changes_the_set_of_algorithms_offered() {
    let service = service(|b| b.algorithms([Algorithm::Sha256]));
    for user_agent in ["Python-urllib/3.11", "python-requests/2.32.3", "curl/8"] {
        assert_eq!(
            offered_to(&service, Some(user_agent)).await,
            ["SHA-256"],
            "no MD5 is handed out when it is not configured"
        );
    }
    let service = service_with_many();
    assert_eq!(
        offered_to(&service, Some("Python-urllib/3.11")).await,
        ["MD5", "SHA-512-256", "SHA-256", "MD5-sess"]
    );
    assert_eq!(
        offered_to(&service, Some("Java/21.0.1")).await,
        ["SHA-512-256", "MD5-sess", "MD5", "SHA-256"]
    );
}

fn service_with_many() -> Service {
    service(|b| {
        b.algorithms([
            Algorithm::Sha512_256,
            Algorithm::Sha256,
            Algorithm::Md5Sess,
            Algorithm::Md5,
        ])
    })
}

#[tokio::test]
async fn the_order_policy_can_be_turned_off_or_replaced() {
    let off = service(|b| b.challenge_order(ChallengeOrder::configured()));
    assert_eq!(
        offered_to(&off, Some("Python-urllib/3.11")).await,
        ["SHA-256", "MD5"]
    );
    let own = service(|b| {
        b.challenge_order(ChallengeOrder::rules([ClientRule::new(
            "legacy-sync",
            Arrangement::Md5First,
        )]))
    });
    assert_eq!(
        offered_to(&own, Some("legacy-sync/0.9")).await,
        ["MD5", "SHA-256"]
    );
    assert_eq!(
        offered_to(&own, Some("Python-urllib/3.11")).await,
        ["SHA-256", "MD5"],
        "a replaced list drops the built-in one"
    );
}

/// Whatever the order, a nonce answers only for the algorithm of its challenge, so a
/// client claiming to be `urllib` gains nothing: its MD5 nonce cannot carry SHA-256 and
/// the other way round.
#[tokio::test]
async fn an_md5_first_client_authenticates_with_md5_from_its_first_challenge() {
    let service = service(|b| b);
    let mut first = request("GET", "/", None);
    first
        .headers_mut()
        .insert(USER_AGENT, "Python-urllib/3.11".parse().unwrap());
    let response = service.clone().oneshot(first).await.unwrap();
    let challenge = challenges(response.headers()).remove(0);
    assert_eq!(challenge.algorithm, "MD5");
    let header = Answer::get("/").header(&challenge);
    let response = service
        .oneshot(request("GET", "/", Some(&header)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "hello Mufasa via MD5");
}

#[tokio::test]
async fn every_challenge_says_charset_utf_8() {
    let service = service_with_many();
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let lines: Vec<_> = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .collect();
    assert_eq!(lines.len(), 4);
    for line in lines {
        let text = line.to_str().unwrap();
        let p = params(text.strip_prefix("Digest ").unwrap());
        assert_eq!(param(&p, "charset"), Some("UTF-8"), "{text}");
    }
}

/// A raw UTF-8 `username` and RFC 8187's `username*` both name Jäsøn Doe, whose HA1 was
/// hashed over UTF-8 (RFC 7616 section 3.9.2 hashes `Jäsøn Doe` in UTF-8, and the
/// challenge says `charset=UTF-8`).
#[tokio::test]
async fn a_non_ascii_user_logs_in_with_raw_utf_8_or_username_star() {
    let service = service(|b| b);
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let answer = Answer::get("/").username(JASON).password(JASON_PASSWORD);
    let raw = answer.header(&challenge);
    let star = answer.nc(2).header(&challenge).replace(
        &format!("username=\"{JASON}\""),
        "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe",
    );
    assert!(star.contains("username*="), "{star}");
    for header in [raw, star] {
        let mut request = request("GET", "/", None);
        // Raw UTF-8 bytes in a header value, as curl and httpx send them.
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(header.as_bytes()).unwrap(),
        );
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{header}");
        assert_eq!(response.body(), &format!("hello {JASON} via SHA-256"));
    }
}

/// The same user hashed as Latin-1 (what a client does that is not told the charset) is
/// refused: the server's HA1 is UTF-8.
#[tokio::test]
async fn a_latin_1_hash_of_a_non_ascii_user_is_refused() {
    let service = service(|b| b);
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let correct = Answer::get("/")
        .username(JASON)
        .password(JASON_PASSWORD)
        .header(&challenge);
    // Answer::header hashes UTF-8; recompute the response over Latin-1 bytes instead.
    let latin1 = |text: &str| -> Vec<u8> { text.chars().map(|c| c as u8).collect() };
    let h = |data: &[u8]| common::h("SHA-256", data);
    let mut a1 = latin1(JASON);
    a1.extend_from_slice(format!(":{REALM}:").as_bytes());
    a1.extend_from_slice(&latin1(JASON_PASSWORD));
    let ha2 = h(b"GET:/");
    let response_hex = h(format!(
        "{}:{}:00000001:0a4f113b:auth:{ha2}",
        h(&a1),
        challenge.nonce
    )
    .as_bytes());
    let old = param(
        &params(correct.strip_prefix("Digest ").unwrap()),
        "response",
    )
    .unwrap()
    .to_owned();
    let header = correct.replace(&old, &response_hex);
    let mut request = request("GET", "/", None);
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_bytes(header.as_bytes()).unwrap(),
    );
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
