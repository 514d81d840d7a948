//! Deterministic benchmarks: the hot path as instruction counts (issue 10, item 0).
//!
//! Wall-clock time on shared machines is noisy; the number of instructions a request
//! executes is not. This harness sends `COUNT` requests of one kind through the whole
//! `DigestService` (around a trivial inner service, as `suite/benches/digest/` does) inside
//! one function, `measured_requests`, that `valgrind --tool=callgrind` is told to count
//! alone (`--toggle-collect`). Building the requests happens outside it; parsing,
//! hashing, the stores, the response and dropping it all happen inside. Instructions per
//! request are then the count divided by `COUNT`.
//!
//! ```text
//! cargo bench --bench instructions --no-run
//! valgrind --tool=callgrind --toggle-collect='*measured_requests*' \
//!     target/release/deps/instructions-<hash> auth-md5 2000
//! ```
//!
//! `benches/instructions.sh` does this for every kind and the example server as a whole.
//! Kinds: `open` (the trivial service alone), `challenge` (no credentials: a 401 with
//! SHA-256 and MD5 challenges), `auth-md5` and `auth-sha256` (a keep-alive client reusing
//! its nonce with the next `nc`, the steady state), `first-md5` and `first-sha256` (the
//! first use of a fresh nonce: one more store insert). Without arguments (as `cargo bench`
//! runs it) it sends a few of each kind and checks the statuses, so the harness cannot rot.

#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_digest_auth::{Algorithm, DigestLayer, MemoryCredentials, PeerAddr};

use common::{Answer, Challenge, PASSWORD, REALM, USER};

const URI: &str = "/dir/index.html";
const KINDS: [&str; 6] = [
    "open",
    "challenge",
    "auth-md5",
    "auth-sha256",
    "first-md5",
    "first-sha256",
];

/// Polls a future that never waits to completion, without a runtime (no runtime
/// instructions in the count).
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

/// The example server's layer (default throttle, memory stores, SHA-256 then MD5) around
/// the trivial service.
fn app() -> impl Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone {
    let users = MemoryCredentials::new(REALM, [(USER, PASSWORD)]);
    DigestLayer::builder(REALM, users)
        .algorithms([Algorithm::Sha256, Algorithm::Md5])
        .build()
        .expect("valid configuration")
        .layer(trivial())
}

fn challenge<S>(service: &S, algorithm: &str) -> Challenge
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    let response = ready(service.clone().oneshot(request(None))).expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    common::challenges(response.headers())
        .into_iter()
        .find(|challenge| challenge.algorithm == algorithm)
        .expect("a challenge for the algorithm")
}

/// The only code callgrind counts: `requests` through `service`, one after the other, as
/// a keep-alive connection would send them (each call on a fresh clone via `oneshot`).
#[inline(never)]
fn measured_requests<S>(service: &S, requests: Vec<Request<String>>) -> usize
where
    S: Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    let mut ok = 0;
    for request in requests {
        let response = ready(service.clone().oneshot(request)).expect("infallible");
        ok += usize::from(response.status().is_success());
        drop(black_box(response));
    }
    ok
}

/// Sends `count` requests of `kind`; returns (requests, successes).
fn run(kind: &str, count: u32) -> (usize, usize) {
    let service = app();
    // Warm-up: lazily built state (the stores' first entries, thread-locals) exists
    // before the count starts.
    let algorithm = match kind {
        "auth-md5" | "first-md5" => "MD5",
        _ => "SHA-256",
    };
    let warm = challenge(&service, algorithm);
    for nc in 1..=3 {
        let header = Answer::get(URI).nc(nc).header(&warm);
        let response = ready(service.clone().oneshot(request(Some(&header)))).expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let requests: Vec<_> = match kind {
        "open" => {
            let open = trivial();
            let requests = (0..count).map(|_| request(None)).collect();
            return (count as usize, measured_requests(&open, requests));
        }
        "challenge" => (0..count).map(|_| request(None)).collect(),
        // The next nc on the warmed-up nonce: the steady state of a keep-alive client.
        "auth-md5" | "auth-sha256" => (4..count + 4)
            .map(|nc| request(Some(&Answer::get(URI).nc(nc).header(&warm))))
            .collect(),
        // A fresh nonce per request: the store gains one entry each.
        "first-md5" | "first-sha256" => (0..count)
            .map(|_| {
                let fresh = challenge(&service, algorithm);
                request(Some(&Answer::get(URI).header(&fresh)))
            })
            .collect(),
        other => panic!("unknown kind {other:?}; kinds: {KINDS:?}"),
    };
    (count as usize, measured_requests(&service, requests))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench` alone: the self-check below.
    if let [kind, count] = args.as_slice() {
        let count: u32 = count.parse().expect("COUNT is a number");
        let (sent, ok) = run(kind, count);
        let expected = if kind == "challenge" { 0 } else { sent };
        assert_eq!(ok, expected, "{kind}: {ok} of {sent} succeeded");
        println!("{kind}: {sent} requests, {ok} succeeded");
        return;
    }
    for kind in KINDS {
        let (sent, ok) = run(kind, 20);
        let expected = if kind == "challenge" { 0 } else { sent };
        assert_eq!(ok, expected, "{kind}: {ok} of {sent} succeeded");
    }
    println!("instructions: every kind answered as expected (run under callgrind for counts)");
}
