//! Criterion micro-benchmarks for the Digest hot path (issue 4, item 1).
//!
//! Groups, each runnable alone with `cargo bench --bench digest -- <group>`:
//!
//! - `parse`: the `Authorization` parser on a curl-like, a Chromium-like and a long-URI
//!   header;
//! - `response`: one `response` computation per algorithm (`HA2`, `KD`, and the session key
//!   for `-sess`), as the server recomputes it;
//! - `nonce`: issuing a nonce (random bytes, two HMACs, base64) and checking one;
//! - `store`: [`MemoryNonceStore`] from 1, 2 and 8 threads at once with 10k and 1M live
//!   entries: `reuse` records a higher `nc` for a live nonce (the steady state of a
//!   keep-alive client), `insert` records the first use of a nonce whose expiry has passed
//!   by the time the store looks, so each call also sweeps it out again: one insert plus one
//!   sweep, the steady state of a store whose size holds constant. Times are wall-clock per
//!   operation across all threads (the inverse of the combined throughput);
//! - `service`: a full `oneshot` through `DigestService` around a trivial `service_fn`
//!   (`open` is the trivial service alone, for reference): a challenge, a first
//!   authentication with a fresh nonce, and an authentication reusing a nonce with the
//!   next `nc`, and a wrong password from a client over its failed-login limit (`locked`,
//!   answered 429). Requests and client headers are built outside the timed part;
//! - `enumeration`: user enumeration by timing, through the whole service: a well-formed
//!   answer for an unknown user and one for a known user with a wrong password, side by
//!   side per algorithm, interleaved (each iteration sends both and times one). Both are
//!   401s with fresh challenges; the goal is no difference beyond the benchmark's noise.
//!   The name and password have the known ones' lengths, so the headers differ only in
//!   those bytes and the response.
//! - `throttle`: [`MemoryFailureStore`] full (100k keys): `check` asks about a key it does
//!   not hold, `failure_at_cap` admits an attempt for a new key and settles it as a
//!   failure (two entries, each evicting or sweeping), the steady state of a flood.
//! - `credentials`: one `CredentialStore::credential` lookup, as the layer makes per
//!   request: `memory` is [`MemoryCredentials`]; with `--features cache`, `cached_hit` and
//!   `cached_hit_unknown` are a `CachedCredentials` in front of it answering from the cache
//!   (a known user, an unknown one).
//! - `client`: the Digest client (`tower_digest_auth::client`, public API) answering a
//!   401 per algorithm: `answer` parses a challenge like the example server's, picks it,
//!   and makes a session (`HA1`, a `cnonce`) and the `Authorization` value; `reuse` is the
//!   next answer with that session (`HA2`, `KD` and the header), what a request costs once
//!   logged in. `layer_reuse` is a whole request through `DigestClient` once logged in,
//!   around a service that answers at once; `inner_alone` is that service without it.
//!
//! `parse`, `response` and `nonce` time crate internals through its hidden `__bench` entry
//! points, which exist only under `--cfg tower_digest_auth_bench` (never set by users):
//! `RUSTFLAGS="--cfg tower_digest_auth_bench" cargo bench -p suite --bench digest -- parse`.
//! Without it the other groups run and a line on stderr says what was skipped.
//!
//! The store benchmarks use random ids (`NonceId::from_bytes`): real ids are HMAC output,
//! just as uniformly distributed.

#![allow(missing_docs)]

#[path = "../../../tests/common/mod.rs"]
mod common;
mod store;

use store::bench_store;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group};
use http::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_digest_auth::nonce::{MemoryNonceStore, NonceStore};
use tower_digest_auth::throttle::{
    AttemptOutcome, FailureKey, FailureStore, MemoryFailureStore, ThrottleConfig,
};
use tower_digest_auth::{Algorithm, DigestLayer, MemoryCredentials, PeerAddr};

use common::{Answer, Challenge, PASSWORD, REALM, USER};

const URI: &str = "/dir/index.html";

/// Polls a future that never waits (the in-memory stores, a `service_fn` that answers at
/// once) to completion, without a runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future was expected to complete without waiting"),
    }
}

/// A request as hyper would hand it over from curl on loopback.
fn request(authorization: Option<&str>) -> Request<String> {
    let mut builder = Request::get(URI)
        .header(HOST, "127.0.0.1:3000")
        .header(USER_AGENT, "curl/8.5.0")
        .header(ACCEPT, "*/*");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    let mut request = builder.body(String::new()).expect("valid request");
    request
        .extensions_mut()
        .insert(PeerAddr(common::client_addr()));
    request
}

/// The trivial inner service: 200, empty body.
fn trivial()
-> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    service_fn(|_request: Request<String>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(String::new())))
    })
}

/// The trivial service behind the layer, with `algorithms` offered.
fn app<N: NonceStore>(
    nonces: N,
    algorithms: &[Algorithm],
) -> impl Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    DigestLayer::builder(REALM, users)
        .algorithms(algorithms.iter().copied())
        .nonce_store(nonces)
        .build()
        .expect("valid configuration")
        .layer(trivial())
}

/// The challenge for `algorithm` from a 401, read by the tests' independent client.
fn challenge<S>(service: &S, algorithm: Algorithm) -> Challenge
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    let response = ready(service.clone().oneshot(request(None))).expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    common::challenges(response.headers())
        .into_iter()
        .find(|challenge| challenge.algorithm == algorithm.name())
        .expect("a challenge for the algorithm")
}

/// One request through `service`, checked for the `expected` status: a benchmark that
/// measured a rejection instead of the path it names would be worthless.
async fn send_expecting<S>(
    service: S,
    request: Request<String>,
    expected: StatusCode,
) -> Response<String>
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible>,
{
    let response = service.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), expected);
    response
}

/// Requests built per timed batch in the `service` group: a few, so each is still in the
/// cache when it is sent, as a request a server just parsed is. With criterion's
/// `SmallInput` (a tenth of a sample's iterations built ahead, tens of thousands) the
/// group timed cache misses and the allocator's churn over the whole batch: the same code
/// measured 0.46 µs that way against 0.21 µs for `service/open`, and 11 to 14 % more on
/// `service/reuse_nonce` (8 paired rounds, both harnesses at once, one per core).
const FEW: BatchSize = BatchSize::NumIterations(16);

fn bench_service(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("service");

    let open = trivial();
    group.bench_function("open", |b| {
        b.to_async(&runtime).iter_batched(
            || request(None),
            |request| open.clone().oneshot(request),
            FEW,
        );
    });

    // The default offer: SHA-256, then MD5; each 401 carries two challenges.
    let offered = [Algorithm::Sha256, Algorithm::Md5];
    let service = app(MemoryNonceStore::new(), &offered);
    group.bench_function("challenge", |b| {
        b.to_async(&runtime).iter_batched(
            || request(None),
            |request| send_expecting(service.clone(), request, StatusCode::UNAUTHORIZED),
            FEW,
        );
    });

    // A locked client (the default limit: 10 wrong passwords) gets its 429 before the
    // nonce MAC and any hashing: this is all a locked guess costs.
    let service = app(MemoryNonceStore::new(), &offered);
    let challenge_256 = challenge(&service, Algorithm::Sha256);
    for nc in 1..=10 {
        let wrong = Answer::get(URI)
            .nc(nc)
            .password("wrong")
            .header(&challenge_256);
        let response = ready(service.clone().oneshot(request(Some(&wrong)))).expect("infallible");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let wrong = Answer::get(URI)
        .nc(11)
        .password("wrong")
        .header(&challenge_256);
    group.bench_function("locked", |b| {
        b.to_async(&runtime).iter_batched(
            || request(Some(&wrong)),
            |request| send_expecting(service.clone(), request, StatusCode::TOO_MANY_REQUESTS),
            FEW,
        );
    });

    for algorithm in offered {
        // A fresh nonce each time: the store gains one entry per iteration.
        let service = app(MemoryNonceStore::new(), &offered);
        group.bench_function(BenchmarkId::new("first_auth", algorithm.name()), |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    let challenge = challenge(&service, algorithm);
                    request(Some(&Answer::get(URI).header(&challenge)))
                },
                |request| send_expecting(service.clone(), request, StatusCode::OK),
                FEW,
            );
        });

        // One nonce for the whole benchmark, with the next nc each time; the counter
        // lives out here because criterion calls the closure below once per sample.
        let service = app(MemoryNonceStore::new(), &offered);
        let challenge = challenge(&service, algorithm);
        let nc = AtomicU32::new(0);
        group.bench_function(BenchmarkId::new("reuse_nonce", algorithm.name()), |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    let nc = nc.fetch_add(1, Ordering::Relaxed) + 1;
                    request(Some(&Answer::get(URI).nc(nc).header(&challenge)))
                },
                |request| send_expecting(service.clone(), request, StatusCode::OK),
                FEW,
            );
        });
    }
    group.finish();
}

/// The default app, and an answer to one of its `algorithm` challenges for an unknown
/// user and one for the known user with a wrong password. A failure records nothing, so
/// one nonce and nc serve every iteration.
fn enumeration_fixture(
    algorithm: Algorithm,
) -> (
    impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send> + Clone,
    String,
    String,
) {
    let service = app(
        MemoryNonceStore::new(),
        &[Algorithm::Sha256, Algorithm::Md5],
    );
    let challenge = challenge(&service, algorithm);
    let unknown = Answer::get(URI).username("Nufasa").header(&challenge);
    let wrong = Answer::get(URI)
        .password("Circle of Lifx")
        .header(&challenge);
    assert_eq!(unknown.len(), wrong.len());
    (service, unknown, wrong)
}

/// `DIGEST_BENCH_COUNT="unknown_user SHA-256 2000"`: sends that many of one kind and exits,
/// for instruction counts under `valgrind --tool=callgrind` (see BENCHMARKS.md).
fn count_only(spec: &str) {
    let mut words = spec.split_whitespace();
    let (Some(kind), Some(algorithm), Some(count)) = (words.next(), words.next(), words.next())
    else {
        panic!("DIGEST_BENCH_COUNT=\"unknown_user|wrong_password ALGORITHM COUNT\"");
    };
    let algorithm = Algorithm::from_name(algorithm.as_bytes()).expect("an algorithm name");
    let count: u32 = count.parse().expect("a count");
    let (service, unknown, wrong) = enumeration_fixture(algorithm);
    let header = if kind == "unknown_user" {
        unknown
    } else {
        wrong
    };
    for _ in 0..count {
        let response = ready(service.clone().oneshot(request(Some(&header))));
        assert_eq!(response.expect("infallible").status(), 401);
    }
}

fn bench_enumeration(c: &mut Criterion) {
    let mut group = c.benchmark_group("enumeration");
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let (service, unknown, wrong) = enumeration_fixture(algorithm);
        // Interleaved: each iteration sends both, and times one. Both benchmarks then
        // see the same machine (caches, other load) and differ only in what they time.
        for (name, timed, other) in [
            ("unknown_user", &unknown, &wrong),
            ("wrong_password", &wrong, &unknown),
        ] {
            group.bench_function(BenchmarkId::new(name, algorithm.name()), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (timed, other) = (request(Some(timed)), request(Some(other)));
                        let start = Instant::now();
                        let response = ready(service.clone().oneshot(timed));
                        total += start.elapsed();
                        let response = response.expect("infallible");
                        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                        let response = ready(service.clone().oneshot(other));
                        assert_eq!(black_box(response).expect("infallible").status(), 401);
                    }
                    total
                });
            });
        }
    }
}

fn bench_throttle(c: &mut Criterion) {
    let mut group = c.benchmark_group("throttle");
    let store = MemoryFailureStore::new();
    let limits = ThrottleConfig::default();
    let now = SystemTime::now();
    let address = |n: u32| std::net::IpAddr::from(n.to_be_bytes());
    // 50k addresses with one failure each: 100k entries, the default cap.
    for n in 0..50_000 {
        let key = FailureKey::new(address(0x0a00_0000 + n), USER);
        ready(store.reserve(key, &limits, now)).expect("infallible");
        ready(store.settle(key, AttemptOutcome::Failed, &limits, now)).expect("infallible");
    }
    assert_eq!(store.len(), MemoryFailureStore::DEFAULT_MAX_ENTRIES);
    let next = AtomicU32::new(0x0b00_0000);
    group.bench_function("check", |b| {
        b.iter(|| {
            let key = FailureKey::new(address(next.fetch_add(1, Ordering::Relaxed)), USER);
            ready(store.lock(black_box(key), now)).expect("infallible")
        });
    });
    group.bench_function("failure_at_cap", |b| {
        b.iter(|| {
            let key = FailureKey::new(address(next.fetch_add(1, Ordering::Relaxed)), USER);
            ready(store.reserve(black_box(key), &limits, now)).expect("infallible");
            ready(store.settle(key, AttemptOutcome::Failed, &limits, now)).expect("infallible")
        });
    });
    assert!(store.len() <= MemoryFailureStore::DEFAULT_MAX_ENTRIES);
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .without_plots()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
}

fn bench_credentials(c: &mut Criterion) {
    use tower_digest_auth::CredentialStore;
    use tower_digest_auth::algorithm::HashFunction;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let memory = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    let mut group = c.benchmark_group("credentials");
    group.bench_function("memory", |b| {
        b.to_async(&runtime).iter(|| async {
            let found = memory.credential(USER, REALM, HashFunction::Sha256).await;
            assert!(matches!(found, Ok(Some(_))));
        });
    });
    #[cfg(feature = "cache")]
    {
        let cached = tower_digest_auth::credentials::cached::CachedCredentials::new(memory.clone());
        for (name, user, known) in [
            ("cached_hit", USER, true),
            ("cached_hit_unknown", "Scar", false),
        ] {
            runtime
                .block_on(cached.credential(user, REALM, HashFunction::Sha256))
                .unwrap();
            group.bench_function(name, |b| {
                b.to_async(&runtime).iter(|| async {
                    let found = cached.credential(user, REALM, HashFunction::Sha256).await;
                    assert_eq!(found.unwrap().is_some(), known);
                });
            });
        }
    }
    group.finish();
}

/// The groups that time crate internals (`parse`, `response`, `nonce`), through the crate's
/// hidden `__bench` entry points: compiled only with `--cfg tower_digest_auth_bench`, which
/// benches/*.sh and CI set (`RUSTFLAGS="--cfg tower_digest_auth_bench"`), so the crate's
/// users never see those entry points.
#[cfg(tower_digest_auth_bench)]
mod internals {
    use std::fmt::Write as _;
    use std::hint::black_box;
    use std::time::SystemTime;

    use criterion::{Criterion, Throughput};
    use tower_digest_auth::__bench::{self, Nonces};
    use tower_digest_auth::{Algorithm, Ha1};

    use crate::common::{self, Answer, Challenge, PASSWORD, REALM, USER};

    use super::URI;

    /// What curl 8 sends: base64 cnonce, `nc` and `qop` before `response`, algorithm last.
    const CURL_CNONCE: &str = "MDk3ZjJiZDQ4YjY1ZTJkNWQ0NDEwYjNkMzNhZGFiYWM=";
    /// What Chromium sends: 16 hex digits.
    const CHROMIUM_CNONCE: &str = "4e2f8a90b1c3d5e7";

    fn hex(response: &[u8; 64], algorithm: Algorithm) -> &str {
        let len = algorithm.hash_function().hex_len();
        std::str::from_utf8(&response[..len]).expect("hex digits")
    }

    fn ha1(algorithm: Algorithm) -> Ha1 {
        Ha1::from_password(algorithm.hash_function(), USER, REALM, PASSWORD)
    }

    pub(super) fn bench_parse(c: &mut Criterion) {
        let nonce = Nonces::new(REALM).issue(
            Algorithm::Sha256,
            common::client_addr().ip(),
            SystemTime::now(),
        );
        let response = "5c1a3d1c9f4e2b7a8d6e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";
        let opaque = "q4ZfYg3lS5b9Vd0mXh2KjA";
        let curl = format!(
            r#"Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{URI}", cnonce="{CURL_CNONCE}", nc=00000001, qop=auth, response="{response}", opaque="{opaque}", algorithm=SHA-256"#
        );
        let chromium = format!(
            r#"Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{URI}", algorithm=SHA-256, response="{response}", opaque="{opaque}", qop=auth, nc=00000001, cnonce="{CHROMIUM_CNONCE}""#
        );
        let mut long_uri = String::from("/search/results/page?");
        for index in 0..100 {
            write!(long_uri, "filter{index:03}=value{index:03}&").expect("writing to a String");
        }
        let long = format!(
            r#"Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{long_uri}", algorithm=SHA-256, response="{response}", opaque="{opaque}", qop=auth, nc=00000001, cnonce="{CHROMIUM_CNONCE}""#
        );

        let mut group = c.benchmark_group("parse");
        for (name, header) in [
            ("curl", &curl),
            ("chromium", &chromium),
            ("long_uri", &long),
        ] {
            assert!(__bench::parse_authorization(header.as_bytes()), "{name}");
            group.throughput(Throughput::Bytes(header.len() as u64));
            group.bench_function(name, |b| {
                b.iter(|| __bench::parse_authorization(black_box(header.as_bytes())));
            });
        }
        group.finish();
    }

    pub(super) fn bench_response(c: &mut Criterion) {
        let nonce = Nonces::new(REALM).issue(
            Algorithm::Sha256,
            common::client_addr().ip(),
            SystemTime::now(),
        );
        let mut group = c.benchmark_group("response");
        for algorithm in [
            Algorithm::Md5,
            Algorithm::Sha256,
            Algorithm::Sha512_256,
            Algorithm::Sha256Sess,
        ] {
            let ha1 = ha1(algorithm);
            let compute = || {
                __bench::response(
                    algorithm,
                    black_box(&ha1),
                    black_box(nonce.as_bytes()),
                    black_box(b"00000001"),
                    black_box(CHROMIUM_CNONCE.as_bytes()),
                    black_box(b"GET"),
                    black_box(URI.as_bytes()),
                )
            };
            // Agree with the independent client before timing anything.
            let expected = Answer {
                cnonce: CHROMIUM_CNONCE,
                ..Answer::get(URI)
            }
            .response(&Challenge {
                realm: REALM.to_owned(),
                nonce: nonce.clone(),
                algorithm: algorithm.name().to_owned(),
                qop: "auth".to_owned(),
                ..Challenge::default()
            });
            assert_eq!(hex(&compute(), algorithm), expected, "{algorithm}");
            group.bench_function(algorithm.name(), |b| b.iter(compute));
        }
        group.finish();
    }

    pub(super) fn bench_nonce(c: &mut Criterion) {
        let nonces = Nonces::new(REALM);
        let client = common::client_addr().ip();
        let nonce = nonces.issue(Algorithm::Sha256, client, SystemTime::now());
        assert!(nonces.check(nonce.as_bytes(), client));
        let mut group = c.benchmark_group("nonce");
        group.bench_function("issue", |b| {
            b.iter(|| nonces.issue(Algorithm::Sha256, black_box(client), SystemTime::now()));
        });
        group.bench_function("check", |b| {
            b.iter(|| nonces.check(black_box(nonce.as_bytes()), black_box(client)));
        });
        group.finish();
    }
}

#[cfg(tower_digest_auth_bench)]
criterion_group! {
    name = internal_benches;
    config = config();
    targets = internals::bench_parse, internals::bench_response, internals::bench_nonce
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_store, bench_service, bench_enumeration, bench_throttle, bench_credentials,
        bench_client
}

fn bench_client(c: &mut Criterion) {
    use http::{HeaderValue, Method};
    use tower_digest_auth::client::{Challenge, Credentials, Session};

    let credentials = Credentials::new(USER, PASSWORD);
    let mut group = c.benchmark_group("client");
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let offer = HeaderValue::from_str(&format!(
            "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={}, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", charset=UTF-8",
            algorithm.name()
        ))
        .unwrap();
        let answer = || {
            let challenge = Challenge::strongest([black_box(&offer)]).unwrap();
            let session = Session::new(&credentials, challenge);
            session.answer(&Method::GET, URI, None).unwrap()
        };
        assert!(
            answer()
                .header()
                .to_str()
                .unwrap()
                .contains(algorithm.name())
        );
        group.bench_function(BenchmarkId::new("answer", algorithm.name()), |b| {
            b.iter(answer);
        });
        let session = Session::new(&credentials, Challenge::strongest([&offer]).unwrap());
        group.bench_function(BenchmarkId::new("reuse", algorithm.name()), |b| {
            b.iter(|| session.answer(&Method::GET, black_box(URI), None).unwrap());
        });
        bench_client_layer(&mut group, algorithm, &offer);
    }
    group.finish();
}

/// The whole client layer once logged in (`layer_reuse`): a request through
/// `DigestClient` around a service that challenged once and now answers 200, against the
/// same service called alone (`inner_alone`). Their difference is what the layer adds per
/// request, to be compared with `reuse`, the answer's own cost.
fn bench_client_layer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    algorithm: Algorithm,
    offer: &http::HeaderValue,
) {
    use tower_digest_auth::client::DigestClientLayer;

    let offer = offer.clone();
    let inner = service_fn(move |request: Request<String>| {
        let mut response = Response::new(String::new());
        if !request.headers().contains_key(AUTHORIZATION) {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            let header = http::header::WWW_AUTHENTICATE;
            response.headers_mut().insert(header, offer.clone());
        }
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut client = DigestClientLayer::new(USER, PASSWORD).layer(inner.clone());
    let mut send = |request: Request<String>| {
        ready(ServiceExt::ready(&mut client)).unwrap();
        ready(client.call(request)).unwrap()
    };
    // Logs in once; every later request reuses the nonce.
    assert_eq!(send(request(None)).status(), StatusCode::OK);
    group.bench_function(BenchmarkId::new("layer_reuse", algorithm.name()), |b| {
        b.iter_batched(|| request(None), &mut send, BatchSize::SmallInput);
    });
    let mut alone = inner;
    group.bench_function(BenchmarkId::new("inner_alone", algorithm.name()), |b| {
        b.iter_batched(
            || request(None),
            |request| ready(alone.call(request)).unwrap(),
            BatchSize::SmallInput,
        );
    });
}

fn main() {
    if let Ok(spec) = std::env::var("DIGEST_BENCH_COUNT") {
        count_only(&spec);
        return;
    }
    #[cfg(tower_digest_auth_bench)]
    internal_benches();
    #[cfg(not(tower_digest_auth_bench))]
    eprintln!(
        "parse, response and nonce skipped: they time crate internals, built only with \
         RUSTFLAGS=\"--cfg tower_digest_auth_bench\" (as benches/*.sh and CI do)"
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}
