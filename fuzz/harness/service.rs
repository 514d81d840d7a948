//! The whole-service harness, shared by `fuzz/fuzz_targets/service.rs` and the corpus
//! replay in `tests/fuzz_corpus.rs`.
//!
//! An input is a [`Scenario`]: a small layer configuration and a sequence of steps, built
//! structurally with `arbitrary` so that most requests get deep into the service. Real
//! challenges are fetched first and answered by an independent Digest client (the hashes
//! are computed with `md-5`/`sha2` here, never through the crate), with mutations of every
//! part: password, username (plain, RFC 8187 `username*`, unknown), nonce, `nc` and its
//! spelling, `cnonce`, URI, method, algorithm, `qop`, realm, `opaque`, extra and
//! duplicated parameters, client address; exact replays of earlier requests from the same
//! or another address; raw header bytes; clock steps forward and back; and stores that
//! fail on command.
//!
//! The model tracks every nonce the service hands out (with its client, algorithm and
//! issue time) and every `(nonce, nc)` it accepted, and checks after each response:
//! - **no 200 without the right password** for the exact method, URI, nonce (issued to
//!   this client, for this algorithm, not expired) and `nc`; the inner service sees the
//!   user whose password was used, and `rspauth` is right;
//! - **never two 200s for one `(nonce, nc)`** (`nc` compared as the number it spells);
//! - **no 5xx** unless the client address was withheld (then always 500) or a store was
//!   told to fail and the request got as far as that store;
//! - `stale=true` only for a response that verified, from the nonce's client or another
//!   address (it must tell an attacker nothing);
//! - a wrong password and an unknown user both get a plain 401;
//! - every 401 carries one fresh challenge per configured algorithm, in order;
//! - and, conversely, a correct, fresh answer is accepted while the nonce store is not
//!   yet forced to forget anything.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use http::{HeaderValue, Request, Response, StatusCode};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use tower::{Layer, Service};
use tower_digest_auth::{
    Algorithm, AuthenticatedUser, Clock, CredentialStore, DigestLayer, Ha1, HashFunction,
    MemoryCredentials, MemoryNonceStore, NcCheck, NonceEpoch, NonceStore, NonceUse, PeerAddr,
};

const REALM: &str = "http-auth@example.org";
const HOST: &str = "example.org";
/// Users as (name, password).
const USERS: [(&str, &str); 2] = [
    ("Mufasa", "Circle of Life"),
    ("J\u{e4}s\u{f8}n Doe", "Secret, or not?"),
];
const PATHS: [&str; 6] = [
    "/",
    "/dir/index.html",
    "/dir/index.html?a=1",
    "/dir/index.html?a=2",
    "/a%20b/c",
    "/x?y=%22q%22&z",
];
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PROPFIND", "HEAD"];
/// More steps add little and slow every run down.
const MAX_STEPS: usize = 48;
/// The replay window every store keeps at least.
const WINDOW: u64 = 64;
/// How far in the future a nonce's issue time may be (`verify::CLOCK_SKEW_SECS`).
const CLOCK_SKEW_SECS: u64 = 60;
/// Where the clock starts: a fixed time, so runs replay alike.
const START_SECS: u64 = 1_700_000_000;

/// One fuzz input.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    /// Which algorithms to offer, as a bit set over [`Algorithm::ALL`] (none: the default).
    algorithms: u8,
    /// Nonce lifetime in seconds (1 to 4096).
    lifetime: u16,
    /// The nonce store's capacity (1 to 8), small so eviction happens.
    max_entries: u8,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A request without credentials (or with Basic ones): fetches real challenges.
    Challenge {
        client: Client,
        method: u8,
        path: u8,
        basic: bool,
    },
    /// An answer to an issued nonce, built from parts, any of which may be wrong.
    Answer(Box<AnswerSpec>),
    /// Sends an earlier answer again, byte for byte, from `client`.
    Replay {
        index: u8,
        client: Client,
    },
    /// Raw header bytes; `$NONCE` is replaced by the latest issued nonce.
    Raw {
        client: Client,
        method: u8,
        path: u8,
        header: Vec<u8>,
    },
    Clock(ClockStep),
    FailCredentials(bool),
    FailNonces(bool),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Client {
    V4,
    /// The same client seen through a dual-stack socket.
    V4Mapped,
    OtherV4,
    V6,
    Withheld,
}

impl Client {
    fn addr(self) -> Option<IpAddr> {
        match self {
            Client::V4 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
            Client::V4Mapped => Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 10).to_ipv6_mapped())),
            Client::OtherV4 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11))),
            Client::V6 => Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
            Client::Withheld => None,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ClockStep {
    Tick(u8),
    Forward(u16),
    PastLifetime,
    /// Into the last quarter of a fresh nonce's life, where successes carry `nextnonce`.
    LastQuarter,
    Back(u16),
}

#[derive(Arbitrary, Debug)]
#[allow(clippy::struct_excessive_bools)] // Each flag is one independent mutation.
struct AnswerSpec {
    nonce: NonceChoice,
    client: Client,
    method: u8,
    /// The method hashed into the response, if not the request's.
    hash_method: Option<u8>,
    path: u8,
    uri: UriChoice,
    host_header: bool,
    user: UserChoice,
    right_password: bool,
    algorithm: AlgorithmChoice,
    qop: QopChoice,
    nc: u64,
    nc_format: NcFormat,
    cnonce: String,
    realm: bool,
    opaque: OpaqueChoice,
    response: ResponseChoice,
    extra: Extra,
    quote_all: bool,
}

#[derive(Arbitrary, Debug)]
enum NonceChoice {
    Issued(u8),
    Mutated { index: u8, at: u8, to: u8 },
    Truncated(u8),
    Made(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum UriChoice {
    Same,
    Absolute,
    WrongHost,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum UserChoice {
    Plain(bool),
    Extended(bool),
    Unknown,
    Both,
    Userhash,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AlgorithmChoice {
    AsNonce,
    AsNonceLowercase,
    Omitted,
    Named(u8),
    Unknown,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum QopChoice {
    Auth,
    Upper,
    AuthInt,
    Omitted,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum NcFormat {
    Hex8,
    Bare,
    Upper,
    /// One client counts in decimal; the server reads it as hex.
    Decimal,
    Padded16,
    TooLong,
    Zero,
    NotHex,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OpaqueChoice {
    Right,
    Omitted,
    Wrong,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ResponseChoice {
    Computed,
    Uppercase,
    Flipped(u8),
    Truncated,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Extra {
    None,
    UnknownParam,
    DuplicateNc,
    SecondHeader,
}

/// A clock that the scenario moves both ways.
#[derive(Clone)]
struct StepClock(Arc<Mutex<SystemTime>>);

impl Clock for StepClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StepClock {
    fn set(&self, time: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = time;
    }
}

/// Credentials that fail while told to.
struct FlakyCredentials {
    inner: MemoryCredentials,
    fail: Arc<AtomicBool>,
}

impl CredentialStore for FlakyCredentials {
    type Error = std::io::Error;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, std::io::Error> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("credential store down"));
        }
        match self.inner.ha1(username, realm, hash).await {
            Ok(ha1) => Ok(ha1),
            Err(never) => match never {},
        }
    }
}

/// A small memory nonce store that fails while told to.
struct FlakyNonces {
    inner: MemoryNonceStore,
    fail: Arc<AtomicBool>,
}

impl NonceStore for FlakyNonces {
    type Error = std::io::Error;

    fn epoch(&self) -> NonceEpoch {
        self.inner.epoch()
    }

    async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, std::io::Error> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("nonce store down"));
        }
        match self.inner.record_use(use_).await {
            Ok(check) => Ok(check),
            Err(never) => match never {},
        }
    }
}

/// The protected service: answers with the authenticated user's name.
#[derive(Clone)]
struct WhoAmI;

impl Service<Request<()>> for WhoAmI {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .expect("the inner service runs only for an authenticated user");
        std::future::ready(Ok(Response::new(user.username().to_owned())))
    }
}

type Svc = tower_digest_auth::DigestService<
    WhoAmI,
    FlakyCredentials,
    FlakyNonces,
    tower_digest_auth::PlainTextRejection,
>;

/// Every store here answers at once, so one poll finishes a request.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a request waited although every store is synchronous"),
    }
}

/// A nonce the service handed out, as the model remembers it.
#[derive(Debug, Clone)]
struct Issued {
    nonce: String,
    algorithm: Algorithm,
    client: IpAddr,
    at_secs: u64,
}

/// What decides the verdict on an answer, apart from the client address it comes from.
#[derive(Debug, Clone)]
struct Facts {
    /// Index into `Model::issued` when the nonce is an issued one, unchanged.
    nonce: Option<usize>,
    /// Known user with the right password, response over the request's own method and
    /// URI, with the nonce's algorithm, well-formed: all but the nonce's client and age.
    correct: bool,
    /// Everything right except the password or the user.
    only_credentials_wrong: bool,
    /// The `nc` as the server reads it, if it is valid.
    nc: Option<u64>,
    raw_nc: String,
    username: String,
    /// `rspauth` expected on success.
    rspauth: String,
    cnonce: String,
}

/// A request as sent, kept for replays.
#[derive(Debug, Clone)]
struct Sent {
    method: &'static str,
    path: &'static str,
    host: bool,
    headers: Vec<Vec<u8>>,
    facts: Facts,
}

struct Model {
    service: Svc,
    clock: StepClock,
    fail_credentials: Arc<AtomicBool>,
    fail_nonces: Arc<AtomicBool>,
    algorithms: Vec<Algorithm>,
    lifetime_secs: u64,
    max_entries: usize,
    opaque: Option<String>,
    issued: Vec<Issued>,
    seen_nonces: HashSet<String>,
    /// Accepted `nc` values per issued nonce.
    accepted: HashMap<usize, HashSet<u64>>,
    /// Once the store may have dropped an entry (capacity, expiry), a correct answer may
    /// be refused as stale; before, it must not be.
    may_forget: bool,
    sent: Vec<Sent>,
    reached: Reached,
    /// Per offered algorithm, the challenge line around the nonce, once seen.
    templates: Vec<Option<(String, usize, String)>>,
}

/// What a run reached, so the corpus replay can show that it exercises every outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    pub ok: usize,
    pub bad_request: usize,
    pub unauthorized: usize,
    pub stale: usize,
    pub server_error: usize,
    /// 401s for an answer that was right but whose `(nonce, nc)` had already passed.
    pub replays_refused: usize,
    /// Successes carrying `nextnonce`.
    pub next_nonces: usize,
}

impl std::ops::AddAssign for Reached {
    fn add_assign(&mut self, other: Reached) {
        self.ok += other.ok;
        self.bad_request += other.bad_request;
        self.unauthorized += other.unauthorized;
        self.stale += other.stale;
        self.server_error += other.server_error;
        self.replays_refused += other.replays_refused;
        self.next_nonces += other.next_nonces;
    }
}

/// Runs one scenario; panics on a broken invariant.
pub fn run(scenario: &Scenario) -> Reached {
    let mut model = Model::new(scenario);
    for step in scenario.steps.iter().take(MAX_STEPS) {
        model.step(step);
    }
    model.reached
}

/// Runs raw fuzz bytes as a scenario (what the fuzz target and the replay test call).
pub fn run_bytes(data: &[u8]) -> Reached {
    // Bytes that do not decode into a scenario test nothing (libFuzzer moves on).
    if let Ok(scenario) = Scenario::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
        // `FUZZ_SHOW=1 cargo fuzz run -s none service <file>` shows what a failing input does.
        static SHOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW").is_some()) {
            eprintln!("{scenario:#?}");
        }
        return run(&scenario);
    }
    Reached::default()
}

fn pick<T: Copy>(items: &[T], index: u8) -> T {
    items[usize::from(index) % items.len()]
}

fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Model {
    fn new(scenario: &Scenario) -> Model {
        let mut algorithms: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| scenario.algorithms & (1 << i) != 0)
            .map(|(_, a)| a)
            .collect();
        if algorithms.is_empty() {
            algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
        }
        let lifetime_secs = u64::from(scenario.lifetime % 4096).max(1);
        let max_entries = usize::from(scenario.max_entries % 8) + 1;
        let clock = StepClock(Arc::new(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(START_SECS),
        )));
        let fail_credentials = Arc::new(AtomicBool::new(false));
        let fail_nonces = Arc::new(AtomicBool::new(false));
        let credentials = FlakyCredentials {
            inner: MemoryCredentials::new(REALM, USERS),
            fail: Arc::clone(&fail_credentials),
        };
        let nonces = FlakyNonces {
            inner: MemoryNonceStore::with_max_entries(max_entries),
            fail: Arc::clone(&fail_nonces),
        };
        let layer = DigestLayer::builder(REALM, credentials)
            .algorithms(algorithms.clone())
            .nonce_lifetime(Duration::from_secs(lifetime_secs))
            .nonce_store(nonces)
            .clock(clock.clone())
            // The model does not count failed logins; the throttle has its own tests.
            .no_throttle()
            .build()
            .expect("valid configuration");
        let algorithms_len = algorithms.len();
        Model {
            service: layer.layer(WhoAmI),
            clock,
            fail_credentials,
            fail_nonces,
            algorithms,
            lifetime_secs,
            max_entries,
            opaque: None,
            issued: Vec::new(),
            seen_nonces: HashSet::new(),
            accepted: HashMap::new(),
            may_forget: false,
            sent: Vec::new(),
            reached: Reached::default(),
            templates: vec![None; algorithms_len],
        }
    }

    fn now_secs(&self) -> u64 {
        secs(self.clock.now())
    }

    fn failing(&self) -> bool {
        self.fail_credentials.load(Ordering::Relaxed) || self.fail_nonces.load(Ordering::Relaxed)
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Challenge {
                client,
                method,
                path,
                basic,
            } => {
                let basic = basic.then(|| b"Basic TXVmYXNhOkNpcmNsZSBvZiBMaWZl".to_vec());
                let headers: Vec<Vec<u8>> = basic.into_iter().collect();
                let response = self.send(
                    *client,
                    pick(&METHODS, *method),
                    pick(&PATHS, *path),
                    false,
                    &headers,
                );
                let status = self.check_common(&response, *client, false);
                if client.addr().is_some() {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "no credentials");
                }
            }
            Step::Answer(spec) => self.answer(spec),
            Step::Replay { index, client } => {
                if self.sent.is_empty() {
                    return;
                }
                let sent = self.sent[usize::from(*index) % self.sent.len()].clone();
                self.deliver(&sent, *client);
            }
            Step::Raw {
                client,
                method,
                path,
                header,
            } => {
                let mut header = header.clone();
                if let (Some(at), Some(last)) = (find(&header, b"$NONCE"), self.issued.last()) {
                    header.splice(at..at + 6, last.nonce.bytes());
                }
                let response = self.send(
                    *client,
                    pick(&METHODS, *method),
                    pick(&PATHS, *path),
                    true,
                    &[header],
                );
                let failing = self.failing();
                let status = self.check_common(&response, *client, failing);
                assert_ne!(status, StatusCode::OK, "raw bytes authenticated");
                assert!(!is_stale(&response), "stale=true for raw bytes");
            }
            Step::Clock(step) => {
                let now = self.clock.now();
                let next = match *step {
                    ClockStep::Tick(s) => now + Duration::from_secs(u64::from(s % 16)),
                    ClockStep::Forward(s) => now + Duration::from_secs(u64::from(s)),
                    ClockStep::PastLifetime => now + Duration::from_secs(self.lifetime_secs + 1),
                    ClockStep::LastQuarter => {
                        now + Duration::from_secs(self.lifetime_secs - self.lifetime_secs / 4)
                    }
                    ClockStep::Back(s) => now - Duration::from_secs(u64::from(s)),
                };
                self.clock.set(next);
            }
            Step::FailCredentials(fail) => self.fail_credentials.store(*fail, Ordering::Relaxed),
            Step::FailNonces(fail) => self.fail_nonces.store(*fail, Ordering::Relaxed),
        }
    }

    /// Sends one request; `headers` are `Authorization` values (skipped if invalid).
    fn send(
        &mut self,
        client: Client,
        method: &str,
        path: &str,
        host: bool,
        headers: &[Vec<u8>],
    ) -> Response<String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("valid request");
        if host {
            request
                .headers_mut()
                .insert(http::header::HOST, HeaderValue::from_static(HOST));
        }
        for header in headers {
            if let Ok(value) = HeaderValue::from_bytes(header) {
                request
                    .headers_mut()
                    .append(http::header::AUTHORIZATION, value);
            }
        }
        if let Some(ip) = client.addr() {
            request
                .extensions_mut()
                .insert(PeerAddr(SocketAddr::new(ip, 40_000)));
        }
        let mut service = self.service.clone();
        match block_on(service.call(request)) {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Checks what holds for every response and learns the challenges of a 401; returns
    /// the status. `may_fail`: a store was told to fail and this request may reach it.
    fn check_common(
        &mut self,
        response: &Response<String>,
        client: Client,
        may_fail: bool,
    ) -> StatusCode {
        let status = response.status();
        match status.as_u16() {
            200 => self.reached.ok += 1,
            400 => self.reached.bad_request += 1,
            401 => self.reached.unauthorized += 1,
            500 => self.reached.server_error += 1,
            _ => panic!("unexpected status {status}"),
        }
        self.reached.stale += usize::from(is_stale(response));
        let Some(ip) = client.addr() else {
            assert_eq!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "no client address"
            );
            return status;
        };
        assert!(
            !status.is_server_error() || may_fail,
            "5xx although no store was failing for this request"
        );
        let lines: Vec<&HeaderValue> = response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                lines.len(),
                self.algorithms.len(),
                "one challenge per algorithm"
            );
            let stale = is_stale(response);
            for (index, line) in lines.iter().enumerate() {
                let algorithm = self.algorithms[index];
                let nonce = self.challenge_nonce(index, line.as_bytes(), stale);
                self.learn(nonce, algorithm, ip);
            }
        } else {
            assert!(lines.is_empty(), "challenge on a {status}");
        }
        status
    }

    /// The nonce of the `index`th challenge line, checking the rest of the line: fully
    /// the first time, then against the text around the nonce that time (this runs for
    /// every 401, and a full parse costs more than the request).
    fn challenge_nonce(&mut self, index: usize, line: &[u8], stale: bool) -> String {
        let line = std::str::from_utf8(line).expect("challenge is ASCII");
        if let Some((before, len, after)) = &self.templates[index] {
            let rest = line.strip_prefix(before.as_str());
            let nonce = rest.and_then(|rest| rest.get(..*len));
            let tail = rest.and_then(|rest| rest.get(*len..));
            let tail = tail.map(|tail| {
                if stale {
                    tail.strip_suffix(", stale=true")
                } else {
                    Some(tail)
                }
            });
            if let (Some(nonce), Some(Some(tail))) = (nonce, tail) {
                if tail == after {
                    return nonce.to_owned();
                }
            }
            panic!("challenge {line:?} differs from {before:?}<nonce>{after:?}");
        }
        let algorithm = self.algorithms[index];
        let rest = line.strip_prefix("Digest ").expect("Digest challenge");
        assert_eq!(challenge_param(rest, "realm"), Some(REALM));
        assert_eq!(challenge_param(rest, "qop"), Some("auth"));
        assert_eq!(challenge_param(rest, "algorithm"), Some(algorithm.name()));
        let opaque = challenge_param(rest, "opaque").expect("opaque");
        if self.opaque.is_none() {
            self.opaque = Some(opaque.to_owned());
        }
        assert_eq!(self.opaque.as_deref(), Some(opaque));
        let nonce = challenge_param(rest, "nonce").expect("nonce");
        let at = line.find(nonce).expect("nonce in its line");
        let after = &line[at + nonce.len()..];
        let after = if stale {
            after.strip_suffix(", stale=true").expect("stale=true last")
        } else {
            after
        };
        self.templates[index] = Some((line[..at].to_owned(), nonce.len(), after.to_owned()));
        nonce.to_owned()
    }

    fn learn(&mut self, nonce: String, algorithm: Algorithm, client: IpAddr) {
        assert!(
            self.seen_nonces.insert(nonce.clone()),
            "nonce handed out twice"
        );
        self.issued.push(Issued {
            nonce,
            algorithm,
            client: client.to_canonical(),
            at_secs: self.now_secs(),
        });
    }

    // One recipe, read top to bottom: the parts, the header, the facts, the delivery.
    #[allow(clippy::too_many_lines)]
    fn answer(&mut self, spec: &AnswerSpec) {
        let method = pick(&METHODS, spec.method);
        let hash_method = spec.hash_method.map_or(method, |m| pick(&METHODS, m));
        let path = pick(&PATHS, spec.path);

        // The nonce, and the algorithm the client believes it answers.
        let (nonce, nonce_index, nonce_algorithm) = self.choose_nonce(&spec.nonce);
        let claimed = match spec.algorithm {
            AlgorithmChoice::AsNonce | AlgorithmChoice::AsNonceLowercase => Some(nonce_algorithm),
            AlgorithmChoice::Omitted => Some(Algorithm::Md5),
            AlgorithmChoice::Named(i) => Some(pick(&Algorithm::ALL, i)),
            AlgorithmChoice::Unknown => None,
        };
        let hashed_with = claimed.unwrap_or(nonce_algorithm);

        let (username, password, known) = match spec.user {
            UserChoice::Plain(second) | UserChoice::Extended(second) => {
                let (name, password) = USERS[usize::from(second)];
                (name, password, true)
            }
            UserChoice::Both | UserChoice::Userhash => (USERS[0].0, USERS[0].1, true),
            UserChoice::Unknown => ("nobody", "Circle of Life", false),
        };
        let password = if spec.right_password {
            password
        } else {
            "Circle of life"
        };

        let qop = match spec.qop {
            QopChoice::Auth | QopChoice::Omitted => "auth",
            QopChoice::Upper => "AUTH",
            QopChoice::AuthInt => "auth-int",
        };
        let (raw_nc, nc) = spell_nc(spec.nc, spec.nc_format);
        let cnonce: String = spec.cnonce.chars().take(24).collect();
        let uri = match spec.uri {
            UriChoice::Same => path.to_owned(),
            UriChoice::Absolute => format!("http://{HOST}{path}"),
            UriChoice::WrongHost => format!("http://evil.example{path}"),
            UriChoice::Other(i) => pick(&PATHS, i).to_owned(),
        };
        let uri_right = match spec.uri {
            UriChoice::Same => true,
            UriChoice::Absolute => spec.host_header,
            UriChoice::WrongHost => false,
            UriChoice::Other(i) => pick(&PATHS, i) == path,
        };

        let kd = |method: &str| {
            response_digest(
                hashed_with,
                username,
                password,
                &nonce,
                &raw_nc,
                &cnonce,
                qop,
                method,
                &uri,
            )
        };
        let computed = kd(hash_method);
        let response = match spec.response {
            ResponseChoice::Computed => computed.clone(),
            ResponseChoice::Uppercase => computed.to_ascii_uppercase(),
            ResponseChoice::Flipped(at) => {
                let mut bytes = computed.clone().into_bytes();
                let at = usize::from(at) % bytes.len();
                bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                String::from_utf8(bytes).expect("hex")
            }
            ResponseChoice::Truncated => computed[..computed.len() - 2].to_owned(),
        };

        // The header, in the spelling the spec asks for.
        let mut header = HeaderBuilder::new(spec.quote_all);
        match spec.user {
            UserChoice::Plain(_) | UserChoice::Unknown => header.quoted("username", username),
            UserChoice::Extended(_) => header.param("username*", &ext_value(username)),
            UserChoice::Both => {
                header.quoted("username", username);
                header.param("username*", &ext_value(username));
            }
            UserChoice::Userhash => {
                header.quoted("username", username);
                header.param("userhash", "true");
            }
        }
        header.quoted("realm", if spec.realm { REALM } else { "other realm" });
        header.quoted("nonce", &nonce);
        header.quoted("uri", &uri);
        match spec.algorithm {
            AlgorithmChoice::AsNonce | AlgorithmChoice::Named(_) => {
                header.param("algorithm", hashed_with.name());
            }
            AlgorithmChoice::AsNonceLowercase => {
                header.param("algorithm", &hashed_with.name().to_ascii_lowercase());
            }
            AlgorithmChoice::Omitted => {}
            AlgorithmChoice::Unknown => header.param("algorithm", "SHA-1"),
        }
        if !matches!(spec.qop, QopChoice::Omitted) {
            header.param("qop", qop);
        }
        header.param("nc", &raw_nc);
        header.quoted("cnonce", &cnonce);
        header.quoted("response", &response);
        let opaque = self.opaque.clone().unwrap_or_default();
        match spec.opaque {
            OpaqueChoice::Right if !opaque.is_empty() => header.quoted("opaque", &opaque),
            OpaqueChoice::Wrong => header.quoted("opaque", "not-ours"),
            _ => {}
        }
        match spec.extra {
            Extra::UnknownParam => header.param("x-extension", "some value, with comma"),
            Extra::DuplicateNc => header.param("NC", &raw_nc),
            Extra::None | Extra::SecondHeader => {}
        }
        let value = header.finish();
        let mut headers = vec![value.clone()];
        if matches!(spec.extra, Extra::SecondHeader) {
            headers.push(value);
        }
        if headers.iter().any(|h| HeaderValue::from_bytes(h).is_err()) {
            return; // A cnonce with control characters: not a request a client can send.
        }

        let well_formed = spec.realm
            && uri_right
            && claimed.is_some_and(|a| self.algorithms.contains(&a))
            && !matches!(spec.qop, QopChoice::AuthInt | QopChoice::Omitted)
            && nc.is_some()
            && matches!(
                spec.response,
                ResponseChoice::Computed | ResponseChoice::Uppercase
            )
            && !matches!(spec.opaque, OpaqueChoice::Wrong)
            && !matches!(spec.extra, Extra::DuplicateNc | Extra::SecondHeader)
            && !matches!(spec.user, UserChoice::Both | UserChoice::Userhash)
            && nonce_index.is_some()
            && claimed == Some(nonce_algorithm)
            && hash_method == method;
        // Only a correct answer may pass; skip the hashing for the others.
        let correct = well_formed && known && spec.right_password;
        let rspauth = if correct { kd("") } else { String::new() };
        let facts = Facts {
            nonce: nonce_index,
            correct,
            only_credentials_wrong: well_formed && !(known && spec.right_password),
            nc,
            raw_nc,
            username: username.to_owned(),
            rspauth,
            cnonce,
        };
        let sent = Sent {
            method,
            path,
            host: spec.host_header,
            headers,
            facts,
        };
        self.deliver(&sent, spec.client);
        self.sent.push(sent);
        if self.sent.len() > 16 {
            self.sent.remove(0);
        }
    }

    /// The nonce to answer: (text, index of the issued nonce it is, its algorithm).
    fn choose_nonce(&self, choice: &NonceChoice) -> (String, Option<usize>, Algorithm) {
        let issued = |i: u8| (!self.issued.is_empty()).then(|| usize::from(i) % self.issued.len());
        match choice {
            NonceChoice::Issued(i) => match issued(*i) {
                Some(index) => {
                    let n = &self.issued[index];
                    (n.nonce.clone(), Some(index), n.algorithm)
                }
                None => ("no-nonce-yet".to_owned(), None, Algorithm::Md5),
            },
            NonceChoice::Mutated { index, at, to } => match issued(*index) {
                Some(index) => {
                    const B64: &[u8] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let n = &self.issued[index];
                    let mut bytes = n.nonce.clone().into_bytes();
                    let at = usize::from(*at) % bytes.len();
                    bytes[at] = pick(B64, *to);
                    let text = String::from_utf8(bytes).expect("base64");
                    let same = text == n.nonce;
                    (text, same.then_some(index), n.algorithm)
                }
                None => ("no-nonce-yet".to_owned(), None, Algorithm::Md5),
            },
            NonceChoice::Truncated(i) => match issued(*i) {
                Some(index) => {
                    let n = &self.issued[index];
                    (n.nonce[..n.nonce.len() - 1].to_owned(), None, n.algorithm)
                }
                None => (String::new(), None, Algorithm::Md5),
            },
            NonceChoice::Made(text) => {
                let text: String = text.chars().take(64).collect();
                let index = self.issued.iter().position(|n| n.nonce == text);
                let algorithm = index.map_or(Algorithm::Md5, |i| self.issued[i].algorithm);
                (text, index, algorithm)
            }
        }
    }

    /// Sends an answer from `client` and checks the verdict against the model.
    fn deliver(&mut self, sent: &Sent, client: Client) {
        let facts = &sent.facts;
        let now = self.now_secs();
        let issued = facts.nonce.map(|i| self.issued[i].clone());
        let same_client = client
            .addr()
            .zip(issued.as_ref())
            .is_some_and(|(ip, n)| ip.to_canonical() == n.client);
        let genuine = issued.is_some() && same_client;
        // A nonce of ours from any address: its response is checked (a right one from
        // another address is answered stale, never accepted).
        let ours = issued.is_some() && client.addr().is_some();
        let fresh = issued.as_ref().is_some_and(|n| {
            now.saturating_sub(n.at_secs) < self.lifetime_secs && n.at_secs <= now + CLOCK_SKEW_SECS
        });
        let used = facts.nonce.and_then(|i| self.accepted.get(&i));
        let replay = match (used, facts.nc) {
            (Some(used), Some(nc)) => used.contains(&nc),
            _ => false,
        };
        let in_window = match (used, facts.nc) {
            (Some(used), Some(nc)) => {
                let highest = used.iter().copied().max().unwrap_or(0);
                nc > highest || highest - nc < WINDOW
            }
            _ => true,
        };
        let fail_credentials = self.fail_credentials.load(Ordering::Relaxed);
        let fail_nonces = self.fail_nonces.load(Ordering::Relaxed);
        let may_fail =
            (fail_credentials && ours) || (fail_nonces && genuine && facts.correct && fresh);

        let response = self.send(client, sent.method, sent.path, sent.host, &sent.headers);
        let status = self.check_common(&response, client, may_fail);
        let stale = is_stale(&response);
        let verified = genuine && facts.correct;

        if status == StatusCode::OK {
            assert!(
                verified,
                "200 without the right password, nonce, client or request"
            );
            assert!(fresh, "200 for an expired nonce");
            assert!(!replay, "second 200 for one (nonce, nc)");
            assert!(!fail_credentials && !fail_nonces, "200 while a store fails");
            let issued = issued.expect("verified");
            self.accepted_answer(&response, facts, client, &issued);
        }
        if replay && verified && status == StatusCode::UNAUTHORIZED {
            self.reached.replays_refused += 1;
        }
        if stale {
            assert!(
                ours && facts.correct,
                "stale=true for a response that did not verify"
            );
        }
        if client.addr().is_some() && !fail_credentials && genuine && facts.only_credentials_wrong {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "wrong password or unknown user"
            );
            assert!(!stale, "stale=true for a wrong password");
        }

        // Expiry sweeps may drop entries from here on.
        let lifetime = self.lifetime_secs;
        if self
            .accepted
            .keys()
            .any(|&i| self.issued[i].at_secs.saturating_add(lifetime) < now)
        {
            self.may_forget = true;
        }
        // Liveness: a correct, fresh, unused answer passes unless the store may have
        // forgotten something.
        if verified
            && fresh
            && !replay
            && in_window
            && !fail_credentials
            && !fail_nonces
            && !self.may_forget
        {
            assert_eq!(status, StatusCode::OK, "a correct answer was refused");
        }
    }

    /// Checks a 200 against what the client knows, and records the accepted `nc`.
    fn accepted_answer(
        &mut self,
        response: &Response<String>,
        facts: &Facts,
        client: Client,
        issued: &Issued,
    ) {
        let index = facts.nonce.expect("verified");
        let nc = facts.nc.expect("verified");
        self.accepted.entry(index).or_default().insert(nc);
        if self.accepted.len() >= self.max_entries {
            self.may_forget = true;
        }
        assert_eq!(
            response.body(),
            &facts.username,
            "the inner service saw another user"
        );
        let info = response
            .headers()
            .get("authentication-info")
            .expect("Authentication-Info on success")
            .as_bytes();
        // The echoed cnonce may be UTF-8 text.
        let info = std::str::from_utf8(info).expect("UTF-8").to_owned();
        let info = params(&info);
        assert_eq!(
            param(&info, "rspauth"),
            Some(facts.rspauth.as_str()),
            "rspauth"
        );
        assert_eq!(param(&info, "nc"), Some(facts.raw_nc.as_str()));
        assert_eq!(param(&info, "cnonce"), Some(facts.cnonce.as_str()));
        if let Some(next) = param(&info, "nextnonce") {
            self.reached.next_nonces += 1;
            let algorithm = issued.algorithm;
            let ip = client.addr().expect("verified");
            self.learn(next.to_owned(), algorithm, ip);
        }
    }
}

/// `nc` as the client spells it, and the number the server reads from it (if valid).
fn spell_nc(nc: u64, format: NcFormat) -> (String, Option<u64>) {
    let nc32 = nc % 0x1_0000_0000;
    let raw = match format {
        NcFormat::Hex8 => format!("{nc32:08x}"),
        NcFormat::Bare => format!("{nc:x}"),
        NcFormat::Upper => format!("{nc32:08X}"),
        NcFormat::Decimal => format!("{:08}", nc % 100_000_000),
        NcFormat::Padded16 => format!("{nc:016x}"),
        NcFormat::TooLong => format!("0{nc:016x}"),
        NcFormat::Zero => "00000000".to_owned(),
        NcFormat::NotHex => format!("{nc32:07x}g"),
    };
    let valid = !raw.is_empty() && raw.len() <= 16 && raw.bytes().all(|b| b.is_ascii_hexdigit());
    let value = if valid {
        u64::from_str_radix(&raw, 16).ok().filter(|&v| v != 0)
    } else {
        None
    };
    (raw, value)
}

/// RFC 8187 `UTF-8''` with every byte that is not plainly safe percent-encoded.
fn ext_value(text: &str) -> String {
    let mut out = String::from("UTF-8''");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The `response` (or, with an empty method, `rspauth`) of RFC 7616, computed here
/// with the hash crates directly.
#[allow(clippy::too_many_arguments)]
fn response_digest(
    algorithm: Algorithm,
    username: &str,
    password: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    let name = algorithm.name();
    let h = |data: String| hash(name, data.as_bytes());
    let mut ha1 = h(format!("{username}:{REALM}:{password}"));
    if name.ends_with("-sess") {
        ha1 = h(format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = h(format!("{method}:{uri}"));
    h(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
}

fn hash(algorithm: &str, data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = match algorithm.trim_end_matches("-sess") {
        "MD5" => Md5::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-512-256" => Sha512_256::digest(data).to_vec(),
        other => unreachable!("no such algorithm {other}"),
    };
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

/// Writes `Authorization: Digest` parameters.
struct HeaderBuilder {
    out: Vec<u8>,
    quote_all: bool,
    first: bool,
}

impl HeaderBuilder {
    fn new(quote_all: bool) -> Self {
        HeaderBuilder {
            out: b"Digest ".to_vec(),
            quote_all,
            first: true,
        }
    }

    fn start(&mut self, name: &str) {
        if !self.first {
            self.out.extend_from_slice(b", ");
        }
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'=');
    }

    /// A parameter, bare when it is a token (unless every value is quoted).
    fn param(&mut self, name: &str, value: &str) {
        let token = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if token && !self.quote_all {
            self.start(name);
            self.out.extend_from_slice(value.as_bytes());
        } else {
            self.quoted(name, value);
        }
    }

    fn quoted(&mut self, name: &str, value: &str) {
        self.start(name);
        self.out.push(b'"');
        for byte in value.bytes() {
            if byte == b'"' || byte == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(byte);
        }
        self.out.push(b'"');
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

fn is_stale(response: &Response<String>) -> bool {
    // The layer writes `stale` last (challenge_nonce checks the rest of the line).
    response
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|line| line.as_bytes().ends_with(b", stale=true"))
}

/// One parameter of a challenge we issued, whose values hold no comma and no escape.
fn challenge_param<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let text = text.strip_prefix("Digest ").unwrap_or(text);
    text.split(',').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `name=value` pairs of a challenge or `Authentication-Info`, quotes removed.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(8);
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        if let Some(mut quoted) = rest.strip_prefix('"') {
            // Copy runs between escapes whole: this runs for every response.
            loop {
                let Some(at) = quoted.find(['"', '\\']) else {
                    value.push_str(quoted);
                    quoted = "";
                    break;
                };
                value.push_str(&quoted[..at]);
                if quoted.as_bytes()[at] == b'"' {
                    quoted = &quoted[at + 1..];
                    break;
                }
                let mut escaped = quoted[at + 1..].chars();
                value.extend(escaped.next());
                quoted = escaped.as_str();
            }
            rest = quoted;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            rest[..end].trim().clone_into(&mut value);
            rest = &rest[end..];
        }
        out.push((name, value));
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
