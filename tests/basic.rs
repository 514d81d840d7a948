//! Basic beside Digest (issue 18, item 3), through the service with `oneshot`: where it is
//! offered and read (TLS, a trusted proxy's word, the plain-HTTP opt-in), the challenge
//! order, the same answer and the same store work for an unknown user as for a wrong
//! password, hostile credentials, the throttle, proxy mode, anonymous requests and logout.
//! `suite/tests/interop/basic.rs` drives curl and Python `requests` over real sockets.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    Answer, PASSWORD, REALM, USER, basic, challenges, client_addr, request_from, schemes_in,
};
use http::header::{
    AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, RETRY_AFTER, USER_AGENT,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::basic::{AuthScheme, BasicAuth, TlsConnection};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::{
    Algorithm, AuthMode, AuthenticatedUser, ClientIpSource, Credential, CredentialStore,
    DigestLayer, DigestLayerBuilder, EndLoginError, Ha1,
};

const ADMIN: &str = "Rafiki";
const ADMIN_PASSWORD: &str = "Mandrill";
const WRONG: &str = "Circle of Strife";
const BASIC_LINE: &str = r#"Basic realm="http-auth@example.org", charset="UTF-8""#;

type Service = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The example's two users (Rafiki with the `admin` role), counting the store's lookups.
#[derive(Clone, Default)]
struct Users {
    lookups: Arc<AtomicUsize>,
    /// Only MD5 `HA1`s, as an Apache htdigest file has.
    md5_only: bool,
}

impl CredentialStore for Users {
    type Error = Infallible;

    async fn ha1(&self, _: &str, _: &str, _: HashFunction) -> Result<Option<Ha1>, Infallible> {
        unreachable!("the layer asks for credentials")
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, Infallible> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.md5_only && hash != HashFunction::Md5 {
            return Ok(None);
        }
        let (password, roles): (&str, &[&str]) = match username {
            USER => (PASSWORD, &[]),
            ADMIN => (ADMIN_PASSWORD, &["admin"]),
            _ => return Ok(None),
        };
        let ha1 = Ha1::from_password(hash, username, realm, password);
        Ok(Some(Credential::new(ha1).with_roles(roles.iter().copied())))
    }
}

/// A layer over `users`, `configure`d, in front of a handler that names the user (or
/// `anonymous`), the scheme, the algorithm and the roles, and says whether any
/// credentials header reached it. `/logout` and `/logout-everywhere` end logins and
/// answer 401 (or 500 with the error).
fn service_over(
    users: Users,
    configure: impl FnOnce(DigestLayerBuilder<Users>) -> DigestLayerBuilder<Users>,
) -> Service {
    let layer = configure(DigestLayer::builder(REALM, users))
        .build()
        .unwrap();
    let inner = service_fn(|request: Request<String>| async move {
        let seen = |name| request.headers().contains_key(name);
        let headers = format!(
            "auth={} proxy-auth={}",
            seen(AUTHORIZATION),
            seen(PROXY_AUTHORIZATION)
        );
        let Some(user) = request.extensions().get::<AuthenticatedUser>() else {
            return Ok(Response::new(format!("anonymous {headers}")));
        };
        let ended = match request.uri().path() {
            "/logout" => Some(user.end_login().await),
            "/logout-everywhere" => Some(user.end_all_logins().await),
            _ => None,
        };
        let mut response = Response::new(format!(
            "{} {:?} {} roles={} {headers}",
            user.username(),
            user.scheme(),
            user.algorithm(),
            user.roles().join(",")
        ));
        match ended {
            Some(Ok(())) => *response.status_mut() = StatusCode::UNAUTHORIZED,
            Some(Err(error)) => {
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                *response.body_mut() = format!("{error:?}");
            }
            None => {}
        }
        Ok::<_, Infallible>(response)
    });
    Service::new(tower::Layer::layer(&layer, inner))
}

fn service(
    configure: impl FnOnce(DigestLayerBuilder<Users>) -> DigestLayerBuilder<Users>,
) -> Service {
    service_over(Users::default(), configure)
}

/// `BasicAuth::OverTls` and nothing else.
fn over_tls() -> Service {
    service(|b| b.basic(BasicAuth::OverTls))
}

/// `GET path` from the tests' client, with `authorization`, over TLS or not.
fn get(path: &str, authorization: Option<&str>, tls: bool) -> Request<String> {
    let mut request = request_from(client_addr(), "GET", path, authorization);
    if tls {
        request.extensions_mut().insert(TlsConnection);
    }
    request
}

async fn send(service: &Service, request: Request<String>) -> Response<String> {
    service.clone().oneshot(request).await.unwrap()
}

fn schemes(response: &Response<String>) -> Vec<String> {
    schemes_in(response.headers(), &WWW_AUTHENTICATE)
}

/// A refusal that challenges with Digest only, Basic not offered.
fn assert_digest_only_401(response: &Response<String>) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{response:?}");
    assert_eq!(schemes(response), ["Digest", "Digest"], "{response:?}");
}

#[tokio::test]
async fn basic_is_offered_last_after_every_digest_challenge_whatever_the_order() {
    let clock = ManualClock::new();
    let service = service(|b| b.basic(BasicAuth::OverTls).clock(clock.clone()));
    for user_agent in [
        None,
        Some("python-requests/2.32.3"),
        Some("Python-urllib/3.11"),
    ] {
        let mut request = get("/x", None, true);
        if let Some(user_agent) = user_agent {
            request
                .headers_mut()
                .insert(USER_AGENT, user_agent.parse().unwrap());
        }
        let response = send(&service, request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            schemes(&response),
            ["Digest", "Digest", "Basic"],
            "{user_agent:?}"
        );
        let lines: Vec<_> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(lines[2], BASIC_LINE);
    }
    // A stale answer: the Digest lines say stale, the Basic line stays last and plain.
    let challenge = challenges(send(&service, get("/x", None, true)).await.headers()).remove(0);
    clock.advance(Duration::from_secs(31 * 60));
    let stale = send(
        &service,
        get("/x", Some(&Answer::get("/x").header(&challenge)), true),
    )
    .await;
    assert_eq!(schemes(&stale), ["Digest", "Digest", "Basic"]);
    assert!(challenges(stale.headers()).iter().all(|c| c.stale));
    assert_eq!(
        stale
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .next_back()
            .unwrap(),
        BASIC_LINE
    );
}

#[tokio::test]
async fn basic_over_tls_authenticates_the_same_user_with_roles_and_no_authentication_info() {
    let service = over_tls();
    let response = send(
        &service,
        get("/x", Some(&basic(ADMIN, ADMIN_PASSWORD)), true),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");
    assert_eq!(
        response.body(),
        "Rafiki Basic SHA-256 roles=admin auth=false proxy-auth=false"
    );
    assert!(response.headers().get("authentication-info").is_none());
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    let mufasa = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(
        mufasa.body(),
        "Mufasa Basic SHA-256 roles= auth=false proxy-auth=false"
    );
    // Digest works beside it, as before.
    let challenge = challenges(send(&service, get("/x", None, true)).await.headers()).remove(0);
    let digest = send(
        &service,
        get("/x", Some(&Answer::get("/x").header(&challenge)), true),
    )
    .await;
    assert_eq!(digest.status(), StatusCode::OK);
    // Its header stays for the application, as it always has; Basic's, the password
    // itself, does not.
    assert_eq!(
        digest.body(),
        "Mufasa Digest SHA-256 roles= auth=true proxy-auth=false"
    );
    assert!(digest.headers().get("authentication-info").is_some());
}

#[tokio::test]
async fn a_store_with_md5_ha1s_only_authenticates_basic_with_md5_when_md5_is_offered() {
    let md5_only = Users {
        md5_only: true,
        ..Users::default()
    };
    let service = service_over(md5_only.clone(), |b| b.basic(BasicAuth::OverTls));
    let response = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.body().starts_with("Mufasa Basic MD5"),
        "{response:?}"
    );
    // Without an MD5 algorithm there is no HA1 to check against.
    let sha256 = service_over(md5_only, |b| {
        b.basic(BasicAuth::OverTls).algorithms([Algorithm::Sha256])
    });
    let refused = send(&sha256, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn over_plain_http_basic_is_neither_offered_nor_read_nor_counted() {
    let service = over_tls();
    assert_digest_only_401(&send(&service, get("/x", None, false)).await);
    // A right password, a wrong one, garbage: all as if no credentials were sent.
    for value in [
        basic(USER, PASSWORD),
        basic(USER, WRONG),
        "Basic !!!".to_owned(),
    ] {
        for _ in 0..6 {
            assert_digest_only_401(&send(&service, get("/x", Some(&value), false)).await);
        }
    }
    // An https target proves nothing: the client chose it.
    let absolute = send(
        &service,
        get("https://example.org/x", Some(&basic(USER, PASSWORD)), false),
    )
    .await;
    assert_digest_only_401(&absolute);
    // Nothing above counted: over TLS the right password gets in.
    let tls = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(tls.status(), StatusCode::OK);
}

#[tokio::test]
async fn also_plain_http_offers_and_accepts_basic_without_tls_and_off_is_the_default() {
    let insecure = service(|b| b.basic(BasicAuth::AlsoPlainHttp));
    let challenged = send(&insecure, get("/x", None, false)).await;
    assert_eq!(schemes(&challenged), ["Digest", "Digest", "Basic"]);
    let response = send(&insecure, get("/x", Some(&basic(USER, PASSWORD)), false)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let off = service(|b| b);
    assert_digest_only_401(&send(&off, get("/x", Some(&basic(USER, PASSWORD)), true)).await);
    let explicit = service(|b| b.basic(BasicAuth::Off));
    assert_digest_only_401(&send(&explicit, get("/x", Some(&basic(USER, PASSWORD)), true)).await);
}

/// The answer with every nonce taken out: what must not differ between two refusals.
fn without_nonces(response: &Response<String>) -> (StatusCode, String, Vec<String>) {
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap();
            let value = match value.find("nonce=\"") {
                Some(at) => {
                    let end = at + 7 + value[at + 7..].find('"').unwrap();
                    format!("{}{}", &value[..at + 7], &value[end..])
                }
                None => value.to_owned(),
            };
            format!("{name}: {value}")
        })
        .collect();
    headers.sort();
    (response.status(), response.body().clone(), headers)
}

#[tokio::test]
async fn an_unknown_user_answers_like_a_wrong_password_after_the_same_lookups() {
    let users = Users::default();
    let lookups = Arc::clone(&users.lookups);
    let service = service_over(users, |b| b.basic(BasicAuth::OverTls));
    let mut answers = Vec::new();
    let mut costs = Vec::new();
    for (user, password) in [(USER, WRONG), ("Scar", WRONG), ("Scar", PASSWORD), ("", "")] {
        let before = lookups.load(Ordering::SeqCst);
        let response = send(&service, get("/x", Some(&basic(user, password)), true)).await;
        costs.push(lookups.load(Ordering::SeqCst) - before);
        answers.push(without_nonces(&response));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    for answer in &answers[1..] {
        assert_eq!(answer, &answers[0]);
    }
    // One lookup per hash function offered (SHA-256 and MD5), known user or not.
    assert_eq!(costs, [2, 2, 2, 2]);
}

#[tokio::test]
async fn hostile_basic_credentials_are_400s_that_count_nothing() {
    let service = over_tls();
    let long = basic(USER, &"x".repeat(4096));
    let cases = [
        ("Basic", "no credentials after Basic"),
        ("Basic !!!!", "Basic credentials are not base64"),
        (
            "Basic TXVmYXNh OkNpcmNsZQ==",
            "Basic credentials are not base64",
        ),
        (
            &*format!("Basic {}", common::base64(b"Mufasa")),
            "Basic credentials have no ':' between user-id and password",
        ),
        (
            &*format!("Basic {}", common::base64(b"Mufasa:Circle of \xe9")),
            "Basic credentials are not UTF-8",
        ),
        (
            &*format!("Basic {}", common::base64(b"\xff\xfe\xfd:\x80")),
            "Basic credentials are not UTF-8",
        ),
        (
            &*format!("Basic {}", common::base64(b"Mufasa:Circle\x07")),
            "control character in Basic credentials",
        ),
        (&*long, "Authorization header too long"),
    ];
    for (value, message) in cases {
        for _ in 0..11 {
            let response = send(&service, get("/x", Some(value), true)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{value:.40}");
            assert_eq!(response.body(), message, "{value:.40}");
            assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        }
    }
    let response = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the 400s counted nothing"
    );
    // Two credentials headers, Basic and Digest: refused as for Digest.
    let mut two = get("/x", Some(&basic(USER, PASSWORD)), true);
    two.headers_mut().append(
        AUTHORIZATION,
        r#"Digest username="Mufasa""#.parse().unwrap(),
    );
    assert_eq!(send(&service, two).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_basic_passwords_count_and_lock_out_basic_and_digest_alike() {
    let service = over_tls();
    // Logged in before: these exact credentials are proven, and still wait out a lock
    // (or a locked-out guesser's right guess would get in).
    let before = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(before.status(), StatusCode::OK);
    for attempt in 1..=10 {
        let response = send(&service, get("/x", Some(&basic(USER, WRONG)), true)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        assert_eq!(schemes(&response), ["Digest", "Digest", "Basic"]);
    }
    let locked = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "{locked:?}");
    assert!(locked.headers().get(RETRY_AFTER).is_some());
    assert!(locked.headers().get(WWW_AUTHENTICATE).is_none());
    // One budget per address and account, whatever the scheme.
    let challenge = challenges(send(&service, get("/x", None, true)).await.headers()).remove(0);
    let digest = send(
        &service,
        get("/x", Some(&Answer::get("/x").header(&challenge)), true),
    )
    .await;
    assert_eq!(digest.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user from the same address is not locked.
    let admin = send(
        &service,
        get("/x", Some(&basic(ADMIN, ADMIN_PASSWORD)), true),
    )
    .await;
    assert_eq!(admin.status(), StatusCode::OK);
}

/// A request from `peer` with these headers (a trusted proxy's, or a client's own).
fn from_peer(peer: &str, headers: &[(&str, &str)]) -> Request<String> {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut request = request_from(peer, "GET", "/x", Some(&basic(USER, PASSWORD)));
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().append(name, value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn a_trusted_proxy_says_https_and_anyone_else_is_not_heard() {
    let proxies = || vec!["10.0.0.0/8".parse().unwrap()];
    let xff = service(|b| {
        b.basic(BasicAuth::OverTls)
            .client_ip(ClientIpSource::XForwardedFor(proxies()))
    });
    let https = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ];
    let trusted = send(&xff, from_peer("10.0.0.1:4000", &https)).await;
    assert_eq!(trusted.status(), StatusCode::OK, "{trusted:?}");
    // The same headers from a client, a list a proxy appended to, plain http: not TLS.
    assert_digest_only_401(&send(&xff, from_peer("192.0.2.10:4000", &https)).await);
    let appended = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https, http"),
    ];
    assert_digest_only_401(&send(&xff, from_peer("10.0.0.1:4000", &appended)).await);
    let plain = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "http"),
    ];
    assert_digest_only_401(&send(&xff, from_peer("10.0.0.1:4000", &plain)).await);
    // Behind Forwarded proxies, the proto of the element naming the client.
    let forwarded = service(|b| {
        b.basic(BasicAuth::OverTls)
            .client_ip(ClientIpSource::Forwarded(proxies()))
    });
    let says = [("forwarded", "for=203.0.113.9;proto=https")];
    assert_eq!(
        send(&forwarded, from_peer("10.0.0.1:4000", &says))
            .await
            .status(),
        StatusCode::OK
    );
    let forged = [(
        "forwarded",
        "for=198.51.100.1;proto=https, for=203.0.113.9;proto=http",
    )];
    assert_digest_only_401(&send(&forwarded, from_peer("10.0.0.1:4000", &forged)).await);
    // The X-Forwarded-Proto of an X-Forwarded-For set-up means nothing to it.
    let other = [
        ("forwarded", "for=203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ];
    assert_digest_only_401(&send(&forwarded, from_peer("10.0.0.1:4000", &other)).await);
}

#[tokio::test]
async fn proxy_mode_reads_basic_from_proxy_authorization_and_consumes_it() {
    let service = service(|b| b.basic(BasicAuth::OverTls).mode(AuthMode::Proxy));
    let mut request = get("http://origin.example/x", None, true);
    let challenged = send(&service, request).await;
    assert_eq!(
        challenged.status(),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED
    );
    assert_eq!(
        schemes_in(challenged.headers(), &PROXY_AUTHENTICATE),
        ["Digest", "Digest", "Basic"]
    );
    request = get("http://origin.example/x", None, true);
    request
        .headers_mut()
        .insert(PROXY_AUTHORIZATION, basic(USER, PASSWORD).parse().unwrap());
    let response = send(&service, request).await;
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");
    assert_eq!(
        response.body(),
        "Mufasa Basic SHA-256 roles= auth=false proxy-auth=false"
    );
    assert!(
        response
            .headers()
            .get("proxy-authentication-info")
            .is_none()
    );
    // Basic in Authorization is the origin's business: the proxy still asks.
    let origin = send(
        &service,
        get(
            "http://origin.example/x",
            Some(&basic(USER, PASSWORD)),
            true,
        ),
    )
    .await;
    assert_eq!(origin.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
}

#[tokio::test]
async fn anonymous_requests_and_unauthenticated_methods_see_basic_only_where_it_is_allowed() {
    let service = service(|b| b.basic(BasicAuth::OverTls).allow_anonymous(true));
    let tls = send(&service, get("/x", None, true)).await;
    assert_eq!(
        (tls.status(), tls.body().as_str()),
        (StatusCode::OK, "anonymous auth=false proxy-auth=false")
    );
    assert_eq!(schemes(&tls), ["Digest", "Digest", "Basic"]);
    // Basic over plain HTTP is no credentials: anonymous, and not offered.
    let plain = send(&service, get("/x", Some(&basic(USER, WRONG)), false)).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.body().starts_with("anonymous"));
    assert_eq!(schemes(&plain), ["Digest", "Digest"]);
    // Sent where it is allowed, it is checked.
    let wrong = send(&service, get("/x", Some(&basic(USER, WRONG)), true)).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let options = service_over(Users::default(), |b| {
        b.basic(BasicAuth::OverTls)
            .unauthenticated_methods([http::Method::GET])
    });
    let passed = send(&options, get("/x", Some(&basic(USER, WRONG)), true)).await;
    assert_eq!(passed.status(), StatusCode::OK);
    assert!(
        passed.body().starts_with("anonymous"),
        "credentials are not checked"
    );
}

/// The `WWW-Authenticate` lines of a refusal, for a new Digest login.
fn fresh(headers: &HeaderMap) -> common::Challenge {
    challenges(headers).remove(0)
}

#[tokio::test]
async fn a_basic_user_has_no_login_to_end_but_can_end_the_digest_ones() {
    let service = over_tls();
    let challenge = fresh(send(&service, get("/x", None, true)).await.headers());
    let login = |nc| Answer::get("/x").nc(nc).header(&challenge);
    assert_eq!(
        send(&service, get("/x", Some(&login(1)), true))
            .await
            .status(),
        StatusCode::OK
    );

    let end = send(&service, get("/logout", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(end.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(end.body(), &format!("{:?}", EndLoginError::Basic));
    // The Digest login still works; Basic needs nothing ended.
    assert_eq!(
        send(&service, get("/x", Some(&login(2)), true))
            .await
            .status(),
        StatusCode::OK
    );

    let everywhere = send(
        &service,
        get("/logout-everywhere", Some(&basic(USER, PASSWORD)), true),
    )
    .await;
    assert_eq!(
        everywhere.status(),
        StatusCode::UNAUTHORIZED,
        "{everywhere:?}"
    );
    // The handler's 401 gets fresh challenges, Basic last, and nothing that proves a login.
    assert_eq!(schemes(&everywhere), ["Digest", "Digest", "Basic"]);
    let ended = send(&service, get("/x", Some(&login(3)), true)).await;
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenges(ended.headers()).iter().all(|c| !c.stale),
        "{ended:?}"
    );
    // Basic is not a login: it goes on working while the password is right.
    let again = send(&service, get("/x", Some(&basic(USER, PASSWORD)), true)).await;
    assert_eq!(again.status(), StatusCode::OK);
    let user =
        AuthenticatedUser::new(USER, REALM, Algorithm::Sha256).with_scheme(AuthScheme::Basic);
    assert_eq!(user.scheme(), AuthScheme::Basic);
}
