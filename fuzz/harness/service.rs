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

use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;

use model::Model;

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

// Loaded through `#[path]` by the fuzz target and the corpus replay, so the children's paths
// are spelled out.
#[path = "service/answer.rs"]
mod answer;
#[path = "service/client.rs"]
mod client;
#[path = "service/model.rs"]
mod model;
#[path = "service/scenario.rs"]
mod scenario;
#[path = "service/stores.rs"]
mod stores;

pub use scenario::Scenario;

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
