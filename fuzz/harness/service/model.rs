//! What the model remembers of a run, and the steps that fetch challenges, send requests
//! and check what every response must satisfy.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};
use tower_digest_auth::clock::Clock;
use tower_digest_auth::nonce::MemoryNonceStore;
use tower_digest_auth::{Algorithm, DigestLayer, MemoryCredentials, PeerAddr};

use super::client::{challenge_param, find, is_stale};
use super::scenario::{Client, ClockStep, Scenario, Step};
use super::stores::{FlakyCredentials, FlakyNonces, StepClock, Svc, WhoAmI, block_on};
use super::{HOST, METHODS, PATHS, REALM, Reached, START_SECS, USERS, pick, secs};

/// A nonce the service handed out, as the model remembers it.
#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub(super) nonce: String,
    pub(super) algorithm: Algorithm,
    pub(super) client: IpAddr,
    pub(super) at_secs: u64,
}

/// What decides the verdict on an answer, apart from the client address it comes from.
#[derive(Debug, Clone)]
pub(super) struct Facts {
    /// Index into `Model::issued` when the nonce is an issued one, unchanged.
    pub(super) nonce: Option<usize>,
    /// Known user with the right password, response over the request's own method and
    /// URI, with the nonce's algorithm, well-formed: all but the nonce's client and age.
    pub(super) correct: bool,
    /// Everything right except the password or the user.
    pub(super) only_credentials_wrong: bool,
    /// The `nc` as the server reads it, if it is valid.
    pub(super) nc: Option<u64>,
    pub(super) raw_nc: String,
    pub(super) username: String,
    /// `rspauth` expected on success.
    pub(super) rspauth: String,
    pub(super) cnonce: String,
}

/// A request as sent, kept for replays.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) host: bool,
    pub(super) headers: Vec<Vec<u8>>,
    pub(super) facts: Facts,
}

pub(super) struct Model {
    pub(super) service: Svc,
    pub(super) clock: StepClock,
    pub(super) fail_credentials: Arc<AtomicBool>,
    pub(super) fail_nonces: Arc<AtomicBool>,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) lifetime_secs: u64,
    pub(super) max_entries: usize,
    pub(super) opaque: Option<String>,
    pub(super) issued: Vec<Issued>,
    pub(super) seen_nonces: HashSet<String>,
    /// Accepted `nc` values per issued nonce.
    pub(super) accepted: HashMap<usize, HashSet<u64>>,
    /// Once the store may have dropped an entry (capacity, expiry), a correct answer may
    /// be refused as stale; before, it must not be.
    pub(super) may_forget: bool,
    pub(super) sent: Vec<Sent>,
    pub(super) reached: Reached,
    /// Per offered algorithm, the challenge line around the nonce, once seen.
    pub(super) templates: Vec<Option<(String, usize, String)>>,
}

impl Model {
    pub(super) fn new(scenario: &Scenario) -> Model {
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

    pub(super) fn now_secs(&self) -> u64 {
        secs(self.clock.now())
    }

    pub(super) fn failing(&self) -> bool {
        self.fail_credentials.load(Ordering::Relaxed) || self.fail_nonces.load(Ordering::Relaxed)
    }

    pub(super) fn step(&mut self, step: &Step) {
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
    pub(super) fn send(
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
    pub(super) fn check_common(
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
    pub(super) fn challenge_nonce(&mut self, index: usize, line: &[u8], stale: bool) -> String {
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

    pub(super) fn learn(&mut self, nonce: String, algorithm: Algorithm, client: IpAddr) {
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
}
