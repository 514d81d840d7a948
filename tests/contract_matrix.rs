//! The core contract, through every opt-in configuration.
//!
//! Every row of [`MATRIX`] is one configuration of the layer (an option on its own, or a
//! pair of options whose seam has broken before) and the client that talks to it. Each row
//! gets a fresh layer on its own [`ManualClock`] and must keep the same five promises:
//!
//! 1. no credentials: 401 (407 for a proxy) with a Digest challenge, or with
//!    `allow_anonymous`, the inner service's 200 with the challenge on it;
//! 2. a correct answer: 200, and an `rspauth` in the mode's `Authentication-Info` that this
//!    file computes on its own (`common`'s client, not the crate's hashing);
//! 3. the same `(nonce, nc)` again: 401, not stale;
//! 4. a correct answer to a nonce older than its lifetime: 401 with `stale=true`;
//! 5. a malformed header: 400;
//! 6. a right Basic answer: 200 without `Authentication-Info` where the row takes Basic
//!    (and a `Basic` challenge last on every challenge), otherwise no credentials at all;
//!
//! and, with `unauthenticated_methods`, a listed method passes without credentials while
//! the others (the requests above are `POST`s) follow the contract.
//!
//! **Adding an option means adding a row here**, with the `Client` that speaks to it if the
//! option changes what a client sends or reads; a new credential or nonce store gets a row
//! too. A row is a line or two; the checks are the [`Subject`] helpers, one line each. A
//! builder method that no row calls fails `builder_options_are_each_in_the_matrix_or_excused`
//! unless [`OUTSIDE_THE_MATRIX`] names it with the reason. All rows run inside one test,
//! each in its own task, and the test reports every row that broke, not only the first.

#![allow(missing_docs)]

mod common;
// The Redis test's real `redis-server` (started on a free loopback port, killed on drop).
#[allow(dead_code)]
#[path = "redis/support.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Answer, Challenge, PASSWORD, REALM, USER, basic, challenges_in, client_addr, h, param, params,
    schemes_in,
};
use http::header::{AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderName, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::{RedisServer, TempDir};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_digest_auth::basic::{BasicAuth, TlsConnection};
use tower_digest_auth::clock::ManualClock;
use tower_digest_auth::credentials::cached::CachedCredentials;
use tower_digest_auth::credentials::htdigest::HtdigestFile;
use tower_digest_auth::nonce::{
    AddressBinding, DEFAULT_NONCE_LIFETIME, MIN_NONCE_KEY_LEN, NonceStore, RedisNonceStore,
};
use tower_digest_auth::throttle::{FailureLimit, MemoryFailureStore, ThrottleConfig};
use tower_digest_auth::{
    Algorithm, AuthMode, AuthenticatedUser, CredentialStore, DigestLayer, DigestLayerBuilder,
    MemoryCredentials, NonceKey, PeerAddr,
};

/// Every configuration, and the client that speaks to it.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    row("defaults", ORIGIN, |_, c| plain(memory(c))),
    row("proxy mode", PROXY, |_, c| plain(memory(c).mode(AuthMode::Proxy))),
    row("external prefix", PREFIXED, |_, c| plain(memory(c).external_prefix("/app"))),
    row("userhash", HASHED, |_, c| plain(memory(c).userhash(true))),
    row("auth-int, answered with auth-int", AUTH_INT, |_, c| build_auth_int(memory(c))),
    row("auth-int, answered with auth", ORIGIN, |_, c| build_auth_int(memory(c))),
    row("auth-int in proxy mode, answered with auth-int", PROXY_AUTH_INT,
        |_, c| build_auth_int(memory(c).mode(AuthMode::Proxy))),
    row("auth-int in proxy mode, answered with auth", PROXY,
        |_, c| build_auth_int(memory(c).mode(AuthMode::Proxy))),
    row("cached credentials", ORIGIN, |_, c| plain(over(cached(c), c))),
    row("cached credentials with userhash", HASHED, |_, c| plain(over(cached(c), c).userhash(true))),
    row("htdigest file", ORIGIN, |w, c| plain(over(w.htdigest(), c))),
    row("Redis nonce store", ORIGIN, |w, c| plain(memory(c).nonce_store(w.redis_store()))),
    row("allow_anonymous", ANONYMOUS, |_, c| plain(memory(c).allow_anonymous(true))),
    row("unauthenticated_methods", OPEN_OPTIONS,
        |_, c| plain(memory(c).unauthenticated_methods([Method::OPTIONS]))),
    row("throttle off", ORIGIN, |_, c| plain(memory(c).no_throttle())),
    row("throttle with its own limits and store", ORIGIN,
        |_, c| plain(memory(c).throttle_store(MemoryFailureStore::new()).throttle(limits()))),
    row("-sess algorithms only", ORIGIN,
        |_, c| plain(memory(c).algorithms([Algorithm::Sha512_256Sess, Algorithm::Md5Sess]))),
    row("a short nonce lifetime", ORIGIN, |_, c| plain(memory(c).nonce_lifetime(MINUTE))),
    row("a rotated nonce key", ORIGIN,
        |_, c| plain(memory(c).nonce_key(key(2)).previous_nonce_key(key(1)))),
    row("nonces bound to the client's network", ORIGIN,
        |_, c| plain(memory(c).address_binding(AddressBinding::same_network()))),
    row("nonces bound to no address", ORIGIN,
        |_, c| plain(memory(c).address_binding(AddressBinding::unbound()))),
    row("Basic over TLS", BASIC_TLS, |_, c| plain(memory(c).basic(BasicAuth::OverTls))),
    row("Basic over TLS, asked over plain HTTP", ORIGIN,
        |_, c| plain(memory(c).basic(BasicAuth::OverTls))),
    row("Basic also over plain HTTP", BASIC_PLAIN,
        |_, c| plain(memory(c).basic(BasicAuth::AlsoPlainHttp))),
    row("Basic over TLS in proxy mode", PROXY_BASIC,
        |_, c| plain(memory(c).basic(BasicAuth::OverTls).mode(AuthMode::Proxy))),
    row("Basic over TLS with auth-int, answered with auth-int", AUTH_INT_BASIC,
        |_, c| build_auth_int(memory(c).basic(BasicAuth::OverTls))),
    row("Basic over TLS with allow_anonymous", ANONYMOUS_BASIC,
        |_, c| plain(memory(c).basic(BasicAuth::OverTls).allow_anonymous(true))),
    row("Basic over TLS with userhash", HASHED_BASIC,
        |_, c| plain(memory(c).basic(BasicAuth::OverTls).userhash(true))),
    row("Basic over TLS from a Redis nonce store's layer", BASIC_TLS,
        |w, c| plain(memory(c).basic(BasicAuth::OverTls).nonce_store(w.redis_store()))),
];

/// Builder methods that no row needs, each with the reason. Every other method of
/// `DigestLayerBuilder` must be called by a row of [`MATRIX`]
/// (`builder_options_are_each_in_the_matrix_or_excused` checks it).
const OUTSIDE_THE_MATRIX: &[(&str, &str)] = &[
    ("builder", "DigestLayer::builder, where every row starts"),
    ("build", "every row builds"),
    ("clock", "every row sets its own ManualClock"),
    ("opaque", "an echoed value; tests/behaviour/ checks it"),
    ("domain", "a hint in the challenge only"),
    (
        "challenge_order",
        "orders the challenge lines; tests/challenge_order.rs",
    ),
    (
        "client_ip",
        "which address the nonce binds; tests/hostile_requests.rs and external_prefix.rs",
    ),
    (
        "forwarded_prefix",
        "needs a trusted proxy's headers; tests/external_prefix.rs",
    ),
    (
        "rejection_response",
        "replaces the statuses and bodies the contract checks",
    ),
];

#[tokio::test]
async fn every_configuration_keeps_the_core_contract() {
    let world = Arc::new(World::new().await);
    let mut broken = Vec::new();
    for row in MATRIX {
        // A task per row: a failed check is a panic, caught here so every row reports.
        if let Err(error) = tokio::spawn(contract(Arc::clone(&world), row)).await {
            broken.push(format!("{}: {}", row.name, panic_message(error)));
        }
    }
    assert!(
        broken.is_empty(),
        "{} of {} configurations broke the contract:\n{}",
        broken.len(),
        MATRIX.len(),
        broken.join("\n")
    );
}

/// Adding an option means adding a row: every method of the builder is called by a row
/// of `MATRIX`, or named in `OUTSIDE_THE_MATRIX` with its reason.
#[test]
fn builder_options_are_each_in_the_matrix_or_excused() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src/config/builder.rs")];
    for entry in std::fs::read_dir(root.join("src/config/builder")).unwrap() {
        sources.push(entry.unwrap().path());
    }
    let this = std::fs::read_to_string(root.join("tests/contract_matrix.rs")).unwrap();
    let start = this.find("const MATRIX: &[Row] = &[").unwrap();
    let matrix = &this[start..start + this[start..].find("\n];\n").unwrap()];
    let mut missing = Vec::new();
    let mut seen = 0;
    for source in sources {
        let text = std::fs::read_to_string(&source).unwrap();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("    pub fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            seen += 1;
            let excused = OUTSIDE_THE_MATRIX.iter().any(|(n, _)| *n == name);
            let called = [".", " ", "("]
                .iter()
                .any(|before| matrix.contains(&format!("{before}{name}(")));
            if !excused && !called {
                missing.push(format!("{name} ({})", source.display()));
            }
        }
    }
    assert!(
        seen >= 20,
        "found only {seen} builder methods: has the builder moved?"
    );
    assert!(
        missing.is_empty(),
        "builder options with no row in MATRIX (add one, or excuse them in \
         OUTSIDE_THE_MATRIX): {missing:?}"
    );
}

/// The contract, for one row.
async fn contract(world: Arc<World>, row: &'static Row) {
    let clock = ManualClock::new();
    let s = Subject {
        service: (row.service)(&world, &clock),
        client: row.client,
    };
    // 1. No credentials.
    let challenge = s.challenged_without_credentials().await;
    // 2. A correct answer.
    let answer = s.client.answer();
    let header = answer.header(&challenge);
    s.accepted_with_rspauth(&answer, &challenge, &header).await;
    // 3. The same (nonce, nc) again.
    s.refused(&header, false).await;
    // 4. A correct answer to an expired nonce.
    let expiring = s.challenged_without_credentials().await;
    clock.advance(DEFAULT_NONCE_LIFETIME + Duration::from_secs(1));
    s.refused(&answer.header(&expiring), true).await;
    // 5. A malformed header.
    s.malformed_is_400().await;
    // 6. A right Basic answer.
    s.basic_answer().await;
    // A method listed in `unauthenticated_methods` passes without credentials.
    if let Some(method) = s.client.open {
        s.passes_without_credentials(method).await;
    }
}

// ---------------------------------------------------------------------------------------
// The table's parts.

/// One configuration: how its service is built, and how a client speaks to it.
struct Row {
    name: &'static str,
    client: Client,
    service: fn(&World, &ManualClock) -> Svc,
}

const fn row(name: &'static str, client: Client, service: fn(&World, &ManualClock) -> Svc) -> Row {
    Row {
        name,
        client,
        service,
    }
}

/// What a client of the row sends and expects.
#[derive(Clone, Copy)]
struct Client {
    /// Proxy mode: 407, `Proxy-Authenticate`, `Proxy-Authorization`,
    /// `Proxy-Authentication-Info`.
    proxy: bool,
    /// The request-target the layer sees.
    target: &'static str,
    /// The `uri` the client signs (differs from `target` behind an external prefix).
    signed: &'static str,
    /// Sends `H(username:realm)` with `userhash=true`, and expects the offer.
    userhash: bool,
    /// `auth` or `auth-int`.
    qop: &'static str,
    /// Requests without credentials pass (`allow_anonymous`).
    anonymous: bool,
    /// A method that passes without credentials (`unauthenticated_methods`).
    open: Option<&'static str>,
    /// Whether the layer takes Basic on its requests, and how they come.
    basic: Basic,
}

/// Basic, as a row's client meets it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Basic {
    /// Not offered; a Basic answer is no credentials.
    NotTaken,
    /// Taken on requests over TLS (a `TlsConnection` in their extensions).
    OverTls,
    /// Taken over plain HTTP too.
    OverPlainHttp,
}

const ORIGIN: Client = Client {
    proxy: false,
    target: "/dir/index.html",
    signed: "/dir/index.html",
    userhash: false,
    qop: "auth",
    anonymous: false,
    open: None,
    basic: Basic::NotTaken,
};
/// A forward proxy's absolute-form target, signed as sent.
const PROXY: Client = Client {
    proxy: true,
    target: "http://origin.example/dir/index.html",
    signed: "http://origin.example/dir/index.html",
    ..ORIGIN
};
/// Behind a reverse proxy that strips `/app`: the client signs the outside path.
const PREFIXED: Client = Client {
    signed: "/app/dir/index.html",
    ..ORIGIN
};
const HASHED: Client = Client {
    userhash: true,
    ..ORIGIN
};
const AUTH_INT: Client = Client {
    qop: "auth-int",
    ..ORIGIN
};
const PROXY_AUTH_INT: Client = Client {
    qop: "auth-int",
    ..PROXY
};
const ANONYMOUS: Client = Client {
    anonymous: true,
    ..ORIGIN
};
const OPEN_OPTIONS: Client = Client {
    open: Some("OPTIONS"),
    ..ORIGIN
};
const BASIC_TLS: Client = over_tls(ORIGIN);
const BASIC_PLAIN: Client = Client {
    basic: Basic::OverPlainHttp,
    ..ORIGIN
};
const PROXY_BASIC: Client = over_tls(PROXY);
const AUTH_INT_BASIC: Client = over_tls(AUTH_INT);
const ANONYMOUS_BASIC: Client = over_tls(ANONYMOUS);
const HASHED_BASIC: Client = over_tls(HASHED);

/// `client`, over TLS, to a layer that takes Basic there.
const fn over_tls(client: Client) -> Client {
    Client {
        basic: Basic::OverTls,
        ..client
    }
}

/// The request body every contract request carries (hashed into the answer for auth-int).
const BODY: &[u8] = b"the request body";
/// The auth-int body limit.
const LIMIT: usize = 64 * 1024;

type Svc = tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Bytes>, Infallible>;

/// What the rows share: one Redis server and one htdigest file.
struct World {
    /// The server behind `redis_store`, stopped when the test ends.
    _redis: RedisServer,
    /// Connected before the rows run, so its first nonces carry Redis's generation.
    redis_store: RedisNonceStore,
    htdigest_dir: TempDir,
}

impl World {
    async fn new() -> Self {
        let htdigest_dir = TempDir::new("contract-htdigest");
        // Apache's MD5 line and the crate's SHA-256 line, hashed here, not by the crate.
        let secret = format!("{USER}:{REALM}:{PASSWORD}");
        let md5 = h("MD5", secret.as_bytes());
        let sha256 = h("SHA-256", secret.as_bytes());
        let text = format!("{USER}:{REALM}:{md5}\n#!SHA-256:{USER}:{REALM}:{sha256}:{md5}\n");
        std::fs::write(htdigest_dir.path().join("users"), text).unwrap();
        let redis = RedisServer::start();
        let redis_store = RedisNonceStore::from_url(&redis.url())
            .unwrap()
            .prefix(format!("contract{}:", rand::random::<u64>()))
            .build();
        redis_store.connect().await.unwrap();
        World {
            _redis: redis,
            redis_store,
            htdigest_dir,
        }
    }

    fn htdigest(&self) -> HtdigestFile {
        HtdigestFile::open(self.htdigest_dir.path().join("users"), REALM).unwrap()
    }

    /// The store on the shared server, under a prefix of its own.
    fn redis_store(&self) -> RedisNonceStore {
        self.redis_store.clone()
    }
}

const MINUTE: Duration = Duration::from_secs(60);

fn limits() -> ThrottleConfig {
    ThrottleConfig::default().per_address_and_user(FailureLimit::new(5, MINUTE))
}

fn key(id: u8) -> NonceKey {
    NonceKey::from_bytes(id, &[id; MIN_NONCE_KEY_LEN]).unwrap()
}

fn memory(clock: &ManualClock) -> DigestLayerBuilder<MemoryCredentials> {
    over(MemoryCredentials::new(REALM, [(USER, PASSWORD)]), clock)
}

fn over<C: CredentialStore>(store: C, clock: &ManualClock) -> DigestLayerBuilder<C> {
    DigestLayer::builder(REALM, store).clock(clock.clone())
}

fn cached(clock: &ManualClock) -> CachedCredentials<MemoryCredentials> {
    CachedCredentials::builder(MemoryCredentials::new(REALM, [(USER, PASSWORD)]))
        .clock(clock.clone())
        .build()
}

/// The layer from `build()` over the echo service.
fn plain<C: CredentialStore, N: NonceStore>(builder: DigestLayerBuilder<C, N>) -> Svc {
    let layer = builder.build().expect("the row's configuration builds");
    boxed(layer.layer(echo()))
}

/// The layer from `build_auth_int()` over the echo service.
fn build_auth_int<C: CredentialStore, N: NonceStore>(builder: DigestLayerBuilder<C, N>) -> Svc {
    let layer = builder
        .build_auth_int(LIMIT)
        .expect("the row's configuration builds");
    boxed(layer.layer(echo()))
}

/// Answers `user:body`, with `anonymous` for a request that passed without a user.
fn echo()
-> tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible> {
    tower::util::BoxCloneSyncService::new(service_fn(|request: Request<Full<Bytes>>| async move {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .map_or_else(|| "anonymous".to_owned(), |user| user.username().to_owned());
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut echo = format!("{user}:").into_bytes();
        echo.extend_from_slice(&body);
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(echo))))
    }))
}

/// Any of the layers' services, with the response body collected.
fn boxed<S, B>(service: S) -> Svc
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    Svc::new(service.map_future(|future| async move {
        let (parts, body) = future.await?.into_parts();
        let body = body.collect().await.expect("the response body reads");
        Ok(Response::from_parts(parts, body.to_bytes()))
    }))
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(error) => error.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// The checks, one line each in `contract`.

impl Client {
    fn challenge_header(self) -> HeaderName {
        if self.proxy {
            PROXY_AUTHENTICATE
        } else {
            WWW_AUTHENTICATE
        }
    }

    fn credentials_header(self) -> HeaderName {
        if self.proxy {
            PROXY_AUTHORIZATION
        } else {
            AUTHORIZATION
        }
    }

    /// The mode's `Authentication-Info`, and the other mode's (which must be absent).
    fn info_headers(self) -> (&'static str, &'static str) {
        if self.proxy {
            ("proxy-authentication-info", "authentication-info")
        } else {
            ("authentication-info", "proxy-authentication-info")
        }
    }

    fn refusal(self) -> StatusCode {
        if self.proxy {
            StatusCode::PROXY_AUTHENTICATION_REQUIRED
        } else {
            StatusCode::UNAUTHORIZED
        }
    }

    /// A correct answer for the request the contract sends.
    fn answer(self) -> Answer<'static> {
        let mut answer = Answer::get(self.signed).method("POST");
        if self.qop == "auth-int" {
            answer = answer.auth_int(BODY);
        }
        if self.userhash {
            answer = answer.hashed_username();
        }
        answer
    }
}

/// A row's service and its client.
struct Subject {
    service: Svc,
    client: Client,
}

impl Subject {
    async fn send(&self, method: &str, credentials: Option<&str>) -> Response<Bytes> {
        let mut request = Request::builder().method(method).uri(self.client.target);
        if let Some(value) = credentials {
            request = request.header(self.client.credentials_header(), value);
        }
        let mut request = request.body(Full::new(Bytes::from_static(BODY))).unwrap();
        request.extensions_mut().insert(PeerAddr(client_addr()));
        if self.client.basic == Basic::OverTls {
            request.extensions_mut().insert(TlsConnection);
        }
        self.service.clone().oneshot(request).await.unwrap()
    }

    /// The mode's challenges on `response`, checked against what the client needs.
    fn offered(&self, response: &Response<Bytes>) -> Vec<Challenge> {
        let header = self.client.challenge_header();
        let offered = challenges_in(response.headers(), &header);
        let mut schemes = vec!["Digest"; offered.len()];
        if self.client.basic != Basic::NotTaken {
            schemes.push("Basic");
        }
        assert_eq!(
            schemes_in(response.headers(), &header),
            schemes,
            "Digest first, Basic last where it is taken: {}",
            describe(response)
        );
        assert!(
            !offered.is_empty(),
            "no Digest challenge: {}",
            describe(response)
        );
        for challenge in &offered {
            assert_eq!(challenge.realm, REALM);
            assert!(
                challenge
                    .qop
                    .split(',')
                    .any(|qop| qop.trim() == self.client.qop),
                "qop={} is not offered: {challenge:?}",
                self.client.qop
            );
            assert_eq!(challenge.userhash, self.client.userhash, "{challenge:?}");
        }
        offered
    }

    /// Case 1: 401/407 with a fresh challenge (200 with one, for `allow_anonymous`).
    async fn challenged_without_credentials(&self) -> Challenge {
        let response = self.send("POST", None).await;
        if self.client.anonymous {
            assert_eq!(response.status(), StatusCode::OK, "{}", describe(&response));
            assert_eq!(response.body(), b"anonymous:the request body".as_slice());
        } else {
            assert_eq!(
                response.status(),
                self.client.refusal(),
                "{}",
                describe(&response)
            );
        }
        let challenge = self.offered(&response).remove(0);
        assert!(!challenge.stale, "a first challenge is not stale");
        challenge
    }

    /// Case 2: 200, the user and body reach the inner service, and `rspauth` is right.
    async fn accepted_with_rspauth(
        &self,
        answer: &Answer<'_>,
        challenge: &Challenge,
        header: &str,
    ) {
        let response = self.send("POST", Some(header)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", describe(&response));
        assert_eq!(
            response.body(),
            format!("{USER}:{}", String::from_utf8_lossy(BODY)).as_bytes()
        );
        let (info, other) = self.client.info_headers();
        assert!(
            response.headers().get(other).is_none(),
            "{other} in {}",
            describe(&response)
        );
        let info = response
            .headers()
            .get(info)
            .unwrap_or_else(|| panic!("no {info}: {}", describe(&response)));
        let info = params(info.to_str().unwrap());
        let expected = if self.client.qop == "auth-int" {
            answer.rspauth_over(challenge, response.body())
        } else {
            answer.rspauth(challenge)
        };
        assert_eq!(param(&info, "rspauth"), Some(expected.as_str()), "{info:?}");
        assert_eq!(param(&info, "qop"), Some(self.client.qop), "{info:?}");
    }

    /// Cases 3 and 4: refused, with challenges that are stale or not.
    async fn refused(&self, header: &str, stale: bool) {
        let response = self.send("POST", Some(header)).await;
        assert_eq!(
            response.status(),
            self.client.refusal(),
            "{}",
            describe(&response)
        );
        for challenge in self.offered(&response) {
            assert_eq!(
                challenge.stale, stale,
                "stale={stale} expected: {challenge:?}"
            );
        }
    }

    /// Case 5: a header that does not parse is a 400.
    async fn malformed_is_400(&self) {
        let response = self.send("POST", Some(r#"Digest username="Mufasa"#)).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{}",
            describe(&response)
        );
    }

    /// Case 6: a right Basic answer is taken (no `Authentication-Info`) or is no credentials.
    async fn basic_answer(&self) {
        let response = self.send("POST", Some(&basic(USER, PASSWORD))).await;
        let (info, other) = self.client.info_headers();
        if self.client.basic != Basic::NotTaken {
            assert_eq!(response.status(), StatusCode::OK, "{}", describe(&response));
            assert_eq!(
                response.body(),
                format!("{USER}:{}", String::from_utf8_lossy(BODY)).as_bytes()
            );
            for header in [info, other] {
                assert!(response.headers().get(header).is_none(), "{header}");
            }
        } else if self.client.anonymous {
            assert_eq!(response.status(), StatusCode::OK, "{}", describe(&response));
            assert_eq!(response.body(), b"anonymous:the request body".as_slice());
        } else {
            let refusal = self.client.refusal();
            assert_eq!(response.status(), refusal, "{}", describe(&response));
            self.offered(&response);
        }
    }

    /// `unauthenticated_methods`: the listed method reaches the inner service as no one.
    async fn passes_without_credentials(&self, method: &str) {
        let response = self.send(method, None).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{method}: {}",
            describe(&response)
        );
        assert_eq!(response.body(), b"anonymous:the request body".as_slice());
    }
}

fn describe(response: &Response<Bytes>) -> String {
    format!(
        "{} {:?} {:?}",
        response.status(),
        response.headers(),
        String::from_utf8_lossy(response.body())
    )
}
