//! The Digest client (`tower_digest_auth::client`) logging in to this crate's own server: a
//! `DigestLayer`-protected axum `Router`, called in-process. Between the two sits a small
//! recording service that counts what is sent and which responses challenge, keeps the
//! credentials headers the app saw, and may rewrite responses (a tampered `rspauth`) or
//! move the server's clock.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Router, http};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_digest_auth::client::{DigestClientLayer, Error};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::{
    Algorithm, AuthMode, AuthenticatedUser, DigestLayer, DigestLayerBuilder, MemoryCredentials,
    NonceKey,
};

const REALM: &str = "http-auth@example.org";
const USER: &str = "Mufasa";
const PASSWORD: &str = "Circle of Life";
const NON_ASCII_USER: &str = "J\u{e4}s\u{f8}n Doe";

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10], 50_000))
}

fn builder() -> DigestLayerBuilder<MemoryCredentials> {
    let users = MemoryCredentials::new(
        REALM,
        [(USER, PASSWORD), (NON_ASCII_USER, "Secret, or not?")],
    );
    DigestLayer::builder(REALM, users)
}

/// The protected app: every path answers with the logged-in user's name.
fn app(builder: DigestLayerBuilder<MemoryCredentials>) -> Router {
    let whoami = get(|user: AuthenticatedUser| async move { user.username().to_owned() });
    Router::new()
        .route("/whoami", whoami.clone())
        .route("/other", whoami)
        .route_layer(builder.build().unwrap())
}

/// What passed between the client and the app.
#[derive(Clone, Default)]
struct Tally {
    sent: Arc<AtomicUsize>,
    challenges: Arc<AtomicUsize>,
    /// The credentials header of each request, `None` when it had none.
    credentials: Arc<Mutex<Vec<Option<String>>>>,
}

impl Tally {
    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    fn challenges(&self) -> usize {
        self.challenges.load(Ordering::SeqCst)
    }

    fn last_credentials(&self) -> String {
        self.credentials
            .lock()
            .unwrap()
            .last()
            .cloned()
            .flatten()
            .expect("credentials sent")
    }
}

type Rewrite = Arc<dyn Fn(&mut Response<Body>) + Send + Sync>;

/// The app (or `apps[0]`, or `apps[1]` once `switch` is set) behind a recorder that reads
/// the credentials of `mode` and applies `rewrite` to every response.
fn recorded(
    apps: [Router; 2],
    switch: Arc<AtomicBool>,
    mode: AuthMode,
    tally: Tally,
    rewrite: Rewrite,
) -> impl Service<Request<String>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |request: Request<String>| {
        let app = apps[usize::from(switch.load(Ordering::SeqCst))].clone();
        let (tally, rewrite) = (tally.clone(), rewrite.clone());
        async move {
            tally.sent.fetch_add(1, Ordering::SeqCst);
            let credentials = request.headers().get(mode.credentials_header());
            let credentials = credentials.map(|value| value.to_str().unwrap().to_owned());
            tally.credentials.lock().unwrap().push(credentials);
            let mut response = app.oneshot(request).await?;
            if response.status() == mode.challenge_status() {
                tally.challenges.fetch_add(1, Ordering::SeqCst);
            }
            rewrite(&mut response);
            Ok(response)
        }
    })
}

/// A client for `app` logging in as `user`, with the tally of what it sent.
struct Fixture<S> {
    client: S,
    tally: Tally,
}

fn fixture(
    app: Router,
    user: &str,
    password: &str,
) -> Fixture<
    impl Service<Request<String>, Response = Response<Body>, Error = Error, Future: Send>
    + Clone
    + Send
    + 'static,
> {
    with(
        app.clone(),
        app,
        Arc::default(),
        AuthMode::Origin,
        user,
        password,
        Arc::new(|_| {}),
    )
}

fn with(
    first: Router,
    second: Router,
    switch: Arc<AtomicBool>,
    mode: AuthMode,
    user: &str,
    password: &str,
    rewrite: Rewrite,
) -> Fixture<
    impl Service<Request<String>, Response = Response<Body>, Error = Error, Future: Send>
    + Clone
    + Send
    + 'static,
> {
    let tally = Tally::default();
    let inner = recorded([first, second], switch, mode, tally.clone(), rewrite);
    let client = DigestClientLayer::new(user, password)
        .peer_addr(peer())
        .layer(inner);
    Fixture { client, tally }
}

impl<S> Fixture<S>
where
    S: Service<Request<String>, Response = Response<Body>, Error = Error> + Clone,
{
    async fn get(&self, uri: &str) -> Result<(StatusCode, String), Error> {
        let request = Request::get(uri).body(String::new()).unwrap();
        let response = self.client.clone().oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Ok((status, String::from_utf8(body.to_vec()).unwrap()))
    }
}

fn param<'a>(header: &'a str, name: &str) -> &'a str {
    let start = header
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {header}"));
    let rest = &header[start + name.len() + 2..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    &rest[..rest.find(['"', ',']).unwrap_or(rest.len())]
}

#[tokio::test]
async fn logs_in_with_every_algorithm_the_server_offers_and_reuses_the_nonce() {
    for algorithm in Algorithm::ALL {
        let f = fixture(app(builder().algorithms([algorithm])), USER, PASSWORD);
        assert_eq!(
            f.get("/whoami").await.unwrap(),
            (StatusCode::OK, USER.to_owned()),
            "{algorithm}"
        );
        assert_eq!(
            (f.tally.sent(), f.tally.challenges()),
            (2, 1),
            "{algorithm}"
        );
        assert_eq!(
            param(&f.tally.last_credentials(), "algorithm"),
            algorithm.name()
        );
        // Later requests, to any path of the origin, go without a 401 and count up nc.
        for (n, path) in ["/other", "/whoami", "/other"].into_iter().enumerate() {
            assert_eq!(
                f.get(path).await.unwrap().0,
                StatusCode::OK,
                "{algorithm} {path}"
            );
            assert_eq!(
                (f.tally.sent(), f.tally.challenges()),
                (3 + n, 1),
                "{algorithm}"
            );
            assert_eq!(
                param(&f.tally.last_credentials(), "nc"),
                format!("{:08x}", n + 2)
            );
        }
    }
}

#[tokio::test]
async fn the_strongest_offered_algorithm_is_answered() {
    let offers = [
        Algorithm::Md5,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha256,
    ];
    let f = fixture(app(builder().algorithms(offers)), USER, PASSWORD);
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!(
        param(&f.tally.last_credentials(), "algorithm"),
        "SHA-512-256"
    );
}

#[tokio::test]
async fn logs_in_with_a_hashed_username_when_the_server_offers_it() {
    let f = fixture(app(builder().userhash(true)), USER, PASSWORD);
    assert_eq!(
        f.get("/whoami").await.unwrap(),
        (StatusCode::OK, USER.to_owned())
    );
    let sent = f.tally.last_credentials();
    assert!(
        sent.contains("userhash=true") && !sent.contains(USER),
        "{sent}"
    );
}

#[tokio::test]
async fn a_non_ascii_username_goes_in_username_star() {
    let f = fixture(app(builder()), NON_ASCII_USER, "Secret, or not?");
    assert_eq!(
        f.get("/whoami").await.unwrap(),
        (StatusCode::OK, NON_ASCII_USER.to_owned())
    );
    assert!(
        f.tally
            .last_credentials()
            .starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe,")
    );
    // The same with userhash offered: the hash replaces both.
    let f = fixture(
        app(builder().userhash(true)),
        NON_ASCII_USER,
        "Secret, or not?",
    );
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert!(f.tally.last_credentials().contains("userhash=true"));
}

#[tokio::test]
async fn a_wrong_password_gets_the_second_401_as_the_response() {
    let f = fixture(app(builder()), USER, "wrong");
    let (status, _) = f.get("/whoami").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!((f.tally.sent(), f.tally.challenges()), (2, 2));
    // Nothing was remembered: the next request starts without credentials again.
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::UNAUTHORIZED);
    assert_eq!(f.tally.credentials.lock().unwrap()[2], None);
}

#[tokio::test]
async fn an_expired_nonce_is_answered_again_without_an_error() {
    let clock = ManualClock::new();
    let f = fixture(app(builder().clock(clock.clone())), USER, PASSWORD);
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    clock.advance(Duration::from_secs(31 * 60));
    // The remembered nonce is refused with stale=true; the fresh one is accepted.
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!((f.tally.sent(), f.tally.challenges()), (4, 2));
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!((f.tally.sent(), f.tally.challenges()), (5, 2));
}

#[tokio::test]
async fn a_nonce_that_expires_before_the_answer_arrives_is_answered_once_more() {
    let clock = ManualClock::new();
    let moved = Arc::new(AtomicBool::new(false));
    let (hook_clock, hook_moved) = (clock.clone(), moved.clone());
    let rewrite: Rewrite = Arc::new(move |response| {
        // After the first challenge only: its nonce is stale by the time it is answered.
        if response.status() == StatusCode::UNAUTHORIZED && !hook_moved.swap(true, Ordering::SeqCst)
        {
            hook_clock.advance(Duration::from_secs(31 * 60));
        }
    });
    let server = app(builder().clock(clock));
    let f = with(
        server.clone(),
        server,
        Arc::default(),
        AuthMode::Origin,
        USER,
        PASSWORD,
        rewrite,
    );
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!((f.tally.sent(), f.tally.challenges()), (3, 2));
}

#[tokio::test]
async fn a_server_that_always_says_stale_gets_two_answers_then_its_401() {
    let stale_forever: Rewrite = Arc::new(|response| {
        if let Some(challenge) = response.headers().get(http::header::WWW_AUTHENTICATE) {
            let stale = format!("{}, stale=true", challenge.to_str().unwrap());
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, stale.parse().unwrap());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
        }
    });
    let f = with(
        app(builder()),
        app(builder()),
        Arc::default(),
        AuthMode::Origin,
        USER,
        "wrong",
        stale_forever,
    );
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::UNAUTHORIZED);
    assert_eq!(f.tally.sent(), 3);
}

#[tokio::test]
async fn a_nonce_the_server_no_longer_knows_is_replaced() {
    // A restart with a new nonce key: the remembered nonce is a forgery to the new server.
    let key = |id| NonceKey::from_bytes(id, &[id; 32]).unwrap();
    let switch = Arc::new(AtomicBool::new(false));
    let (before, after) = (
        app(builder().nonce_key(key(1))),
        app(builder().nonce_key(key(2))),
    );
    let f = with(
        before,
        after,
        switch.clone(),
        AuthMode::Origin,
        USER,
        PASSWORD,
        Arc::new(|_| {}),
    );
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    switch.store(true, Ordering::SeqCst);
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!((f.tally.sent(), f.tally.challenges()), (4, 2));
}

#[tokio::test]
async fn a_next_nonce_is_adopted() {
    let clock = ManualClock::new();
    let f = fixture(app(builder().clock(clock.clone())), USER, PASSWORD);
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    let first = f.tally.last_credentials();
    // In the nonce's last quarter the server hands over the next one.
    clock.advance(Duration::from_secs(25 * 60));
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    assert_eq!(f.get("/whoami").await.unwrap().0, StatusCode::OK);
    let third = f.tally.last_credentials();
    assert_ne!(param(&third, "nonce"), param(&first, "nonce"));
    assert_eq!(param(&third, "nc"), "00000001");
    assert_eq!((f.tally.sent(), f.tally.challenges()), (4, 1));
}

#[tokio::test]
async fn a_tampered_rspauth_is_an_error() {
    let tamper: Rewrite = Arc::new(|response| {
        let info = response.headers_mut().get_mut("authentication-info");
        if let Some(info) = info {
            let text = info.to_str().unwrap();
            let rspauth = param(text, "rspauth").to_owned();
            let forged = text.replace(&rspauth, &"0".repeat(rspauth.len()));
            *info = HeaderValue::from_str(&forged).unwrap();
        }
    });
    let server = app(builder());
    let f = with(
        server.clone(),
        server,
        Arc::default(),
        AuthMode::Origin,
        USER,
        PASSWORD,
        tamper,
    );
    assert!(matches!(
        f.get("/whoami").await,
        Err(Error::RspauthMismatch)
    ));
    // The session that met the impostor is not reused.
    assert!(matches!(
        f.get("/whoami").await,
        Err(Error::RspauthMismatch)
    ));
    assert_eq!(f.tally.credentials.lock().unwrap()[2], None);
}

#[tokio::test]
async fn a_proxy_asks_with_407_and_gets_proxy_authorization() {
    let proxy = app(builder().mode(AuthMode::Proxy));
    let f = with(
        proxy.clone(),
        proxy,
        Arc::default(),
        AuthMode::Proxy,
        USER,
        PASSWORD,
        Arc::new(|_| {}),
    );
    assert_eq!(
        f.get("http://example.org/whoami").await.unwrap(),
        (StatusCode::OK, USER.to_owned())
    );
    assert_eq!((f.tally.sent(), f.tally.challenges()), (2, 1));
    // A proxy sees the absolute URI; the client goes through it again without a 407.
    assert_eq!(
        param(&f.tally.last_credentials(), "uri"),
        "http://example.org/whoami"
    );
    assert_eq!(
        f.get("http://example.net/other").await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!((f.tally.sent(), f.tally.challenges()), (3, 1));
}

#[tokio::test]
async fn protection_spaces_are_per_origin_and_shared_by_clones() {
    let f = fixture(app(builder()), USER, PASSWORD);
    assert_eq!(
        f.get("http://a.example/whoami").await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        f.get("http://b.example/whoami").await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(f.tally.challenges(), 2);
    // The client is cloned for each request (`Fixture::get`); concurrent ones share it.
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..8 {
        let origin = if n % 2 == 0 { "a" } else { "b" };
        let f = Fixture {
            client: f.client.clone(),
            tally: f.tally.clone(),
        };
        requests.spawn(async move {
            f.get(&format!("http://{origin}.example/whoami"))
                .await
                .unwrap()
                .0
        });
    }
    for status in requests.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!((f.tally.sent(), f.tally.challenges()), (12, 2));
}
