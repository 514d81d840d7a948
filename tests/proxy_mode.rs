//! Proxy mode (`AuthMode::Proxy`) through the service with `oneshot`: 407,
//! `Proxy-Authenticate`, `Proxy-Authorization`, `Proxy-Authentication-Info`, the credentials
//! removed before the request goes on, and everything else shared with the origin mode.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::{
    Answer, Challenge, PASSWORD, REALM, USER, challenges, challenges_in, client_addr, param, params,
};
use http::header::{AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::rejection::Rejection;
use tower_digest_auth::{
    AuthMode, AuthenticatedUser, DigestLayer, DigestLayerBuilder, MemoryCredentials, PeerAddr,
};

type Inner = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The target curl and the JDK send to a forward proxy.
const TARGET: &str = "http://127.0.0.1:8080/dir/index.html?a=1";

/// The next hop: reports who the layer authenticated and which credentials reached it.
fn forward() -> Inner {
    Inner::new(service_fn(|request: Request<String>| async move {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .expect("the layer passes the user on");
        let seen = |name| {
            request
                .headers()
                .get(name)
                .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
        };
        Ok::<_, Infallible>(Response::new(format!(
            "{} proxy-authorization={} authorization={}",
            user.username(),
            seen(&PROXY_AUTHORIZATION),
            seen(&AUTHORIZATION)
        )))
    }))
}

struct Proxy {
    service: Inner,
    clock: ManualClock,
}

fn builder(clock: &ManualClock) -> DigestLayerBuilder<MemoryCredentials> {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    DigestLayer::builder(REALM, users)
        .mode(AuthMode::Proxy)
        .clock(clock.clone())
}

fn proxy() -> Proxy {
    let clock = ManualClock::new();
    let layer = builder(&clock).build().unwrap();
    Proxy {
        service: Inner::new(tower::Layer::layer(&layer, forward())),
        clock,
    }
}

fn request(method: &str, target: &str, headers: &[(&http::HeaderName, &str)]) -> Request<String> {
    let mut builder = Request::builder().method(method).uri(target);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(String::new()).unwrap();
    request.extensions_mut().insert(PeerAddr(client_addr()));
    request
}

impl Proxy {
    async fn send(&self, request: Request<String>) -> Response<String> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    /// The SHA-256 challenge of a fresh 407 for `target`.
    async fn challenge(&self, method: &str, target: &str) -> Challenge {
        let response = self.send(request(method, target, &[])).await;
        assert_407(&response, false);
        challenges_in(response.headers(), &PROXY_AUTHENTICATE).remove(0)
    }

    /// A GET of `TARGET` with `Proxy-Authorization` answering a fresh challenge.
    async fn get_with(&self, answer: &Answer<'_>) -> (Challenge, Response<String>) {
        let challenge = self.challenge("GET", TARGET).await;
        let header = answer.header(&challenge);
        let response = self
            .send(request("GET", TARGET, &[(&PROXY_AUTHORIZATION, &header)]))
            .await;
        (challenge, response)
    }
}

/// A 407 with one `Proxy-Authenticate` line per algorithm and no `WWW-Authenticate`.
fn assert_407(response: &Response<String>, stale: bool) {
    assert_eq!(
        response.status(),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "{}",
        response.body()
    );
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    let offered = challenges_in(response.headers(), &PROXY_AUTHENTICATE);
    let algorithms: Vec<_> = offered.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["SHA-256", "MD5"]);
    assert!(offered.iter().all(|c| c.realm == REALM && c.stale == stale));
}

#[tokio::test]
async fn no_credentials_get_407_with_proxy_authenticate() {
    let proxy = proxy();
    let response = proxy.send(request("GET", TARGET, &[])).await;
    assert_407(&response, false);
    assert_eq!(response.body(), "authentication required");
}

/// curl signs only the path and query of an absolute-form target.
#[tokio::test]
async fn a_client_signing_the_path_of_an_absolute_target_is_let_through_without_its_credentials() {
    let proxy = proxy();
    let answer = Answer::get("/dir/index.html?a=1");
    let (challenge, response) = proxy.get_with(&answer).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(
        response.body(),
        "Mufasa proxy-authorization=- authorization=-",
        "Proxy-Authorization is removed before the request goes on"
    );
    assert!(response.headers().get("authentication-info").is_none());
    let info = params(
        response.headers()["proxy-authentication-info"]
            .to_str()
            .unwrap(),
    );
    assert_eq!(
        param(&info, "rspauth"),
        Some(answer.rspauth(&challenge).as_str())
    );
}

/// The JDK signs the absolute-form target itself.
#[tokio::test]
async fn a_client_signing_the_absolute_target_authenticates() {
    let proxy = proxy();
    let (_, response) = proxy.get_with(&Answer::get(TARGET)).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
}

#[tokio::test]
async fn the_origin_servers_authorization_passes_through_and_is_not_ours() {
    let proxy = proxy();
    let challenge = proxy.challenge("GET", TARGET).await;
    let origin_credentials =
        r#"Digest username="someone", realm="origin", nonce="n", uri="/", response="0""#;
    let header = Answer::get(TARGET).header(&challenge);
    let response = proxy
        .send(request(
            "GET",
            TARGET,
            &[
                (&PROXY_AUTHORIZATION, &header),
                (&AUTHORIZATION, origin_credentials),
            ],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.body(),
        &format!("Mufasa proxy-authorization=- authorization={origin_credentials}")
    );

    // Our own credentials in Authorization do not authenticate to the proxy.
    let challenge = proxy.challenge("GET", TARGET).await;
    let header = Answer::get(TARGET).header(&challenge);
    let response = proxy
        .send(request("GET", TARGET, &[(&AUTHORIZATION, &header)]))
        .await;
    assert_407(&response, false);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_407_alike() {
    let proxy = proxy();
    let (_, wrong) = proxy.get_with(&Answer::get(TARGET).password("Scar")).await;
    let (_, unknown) = proxy.get_with(&Answer::get(TARGET).username("Scar")).await;
    for response in [&wrong, &unknown] {
        assert_407(response, false);
    }
    assert_eq!(wrong.body(), unknown.body());
    let names = |r: &Response<String>| r.headers().keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&wrong), names(&unknown));
}

#[tokio::test]
async fn replay_and_stale_nonces_get_407() {
    let proxy = proxy();
    let challenge = proxy.challenge("GET", TARGET).await;
    let header = Answer::get(TARGET).header(&challenge);
    let send = || request("GET", TARGET, &[(&PROXY_AUTHORIZATION, &header)]);
    assert_eq!(proxy.send(send()).await.status(), StatusCode::OK);
    assert_407(&proxy.send(send()).await, false);

    let challenge = proxy.challenge("GET", TARGET).await;
    proxy.clock.advance(Duration::from_secs(31 * 60));
    let header = Answer::get(TARGET).header(&challenge);
    let response = proxy
        .send(request("GET", TARGET, &[(&PROXY_AUTHORIZATION, &header)]))
        .await;
    assert_407(&response, true);
}

#[tokio::test]
async fn bad_requests_are_400_without_a_challenge() {
    let proxy = proxy();
    // Signed for another target.
    let (_, response) = proxy.get_with(&Answer::get("/other")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.body(), "uri does not match the request target");
    assert!(response.headers().get(PROXY_AUTHENTICATE).is_none());
    // Signed for the same path on another host.
    let (_, response) = proxy
        .get_with(&Answer::get("http://evil.example:8080/dir/index.html?a=1"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let challenge = proxy.challenge("GET", TARGET).await;
    let header = Answer::get(TARGET).header(&challenge);
    let response = proxy
        .send(request(
            "GET",
            TARGET,
            &[
                (&PROXY_AUTHORIZATION, &header),
                (&PROXY_AUTHORIZATION, &header),
            ],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.body(), "more than one Proxy-Authorization header");
}

/// CONNECT (https through the proxy): the target is `host:port`, and so is the signed `uri`.
#[tokio::test]
async fn connect_authenticates_against_the_authority() {
    let proxy = proxy();
    let challenge = proxy.challenge("CONNECT", "127.0.0.1:8443").await;
    let answer = Answer::get("127.0.0.1:8443").method("CONNECT");
    let header = answer.header(&challenge);
    let response = proxy
        .send(request(
            "CONNECT",
            "127.0.0.1:8443",
            &[(&PROXY_AUTHORIZATION, &header)],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());

    for signed in ["/", "127.0.0.1:9443", "other.example:8443"] {
        let challenge = proxy.challenge("CONNECT", "127.0.0.1:8443").await;
        let header = Answer::get(signed).method("CONNECT").header(&challenge);
        let response = proxy
            .send(request(
                "CONNECT",
                "127.0.0.1:8443",
                &[(&PROXY_AUTHORIZATION, &header)],
            ))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{signed}");
    }
}

/// A rejection hook written for an origin server (it answers `rejection.status()`) gets
/// 407 and `Proxy-Authenticate` in proxy mode; its other statuses are left alone.
#[tokio::test]
async fn a_replaced_rejection_body_gets_407_in_proxy_mode() {
    fn json(rejection: &Rejection, _: &Parts) -> Response<String> {
        let mut response = Response::new(format!(r#"{{"error":"{rejection}"}}"#));
        *response.status_mut() = rejection.status();
        response
    }
    let clock = ManualClock::new();
    let layer = builder(&clock).rejection_response(json).build().unwrap();
    let proxy = Proxy {
        service: Inner::new(tower::Layer::layer(&layer, forward())),
        clock,
    };
    let response = proxy.send(request("GET", TARGET, &[])).await;
    assert_407(&response, false);
    assert_eq!(response.body(), r#"{"error":"authentication required"}"#);

    let (_, response) = proxy.get_with(&Answer::get("/other")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.body(),
        r#"{"error":"uri does not match the request target"}"#
    );
}

/// The same layer in the default mode still speaks 401 and `WWW-Authenticate`, and leaves
/// `Proxy-Authorization` (some other proxy's business) alone.
#[tokio::test]
async fn origin_mode_ignores_proxy_headers() {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let layer = DigestLayer::builder(REALM, users).build().unwrap();
    let service = Inner::new(tower::Layer::layer(&layer, forward()));
    let response = service
        .clone()
        .oneshot(request("GET", "/dir/index.html", &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(PROXY_AUTHENTICATE).is_none());
    let challenge = challenges(response.headers()).remove(0);
    let header = Answer::get("/dir/index.html").header(&challenge);
    let response = service
        .clone()
        .oneshot(request(
            "GET",
            "/dir/index.html",
            &[(&PROXY_AUTHORIZATION, &header)],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = service
        .oneshot(request(
            "GET",
            "/dir/index.html",
            &[
                (&AUTHORIZATION, &header),
                (&PROXY_AUTHORIZATION, "Basic eA=="),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.body().contains("proxy-authorization=Basic eA=="));
    assert!(response.headers().get("authentication-info").is_some());
}
