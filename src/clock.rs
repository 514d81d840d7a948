//! Where the middleware reads the time, so tests can expire nonces without sleeping:
//! [`SystemClock`] by default, [`ManualClock`] for tests, or your own [`Clock`].
//!
//! ```
//! use std::time::Duration;
//! use tower_digest_auth::clock::{Clock, ManualClock};
//! use tower_digest_auth::{DigestLayer, MemoryCredentials};
//!
//! let clock = ManualClock::new();
//! let users = MemoryCredentials::new("api@example.org", [("alice", "secret")]);
//! // Clones share one time: the test keeps one and moves it forward.
//! let layer = DigestLayer::builder("api@example.org", users).clock(clock.clone()).build()?;
//! let before = clock.now();
//! clock.advance(Duration::from_secs(3600));
//! assert_eq!(clock.now(), before + Duration::from_secs(3600));
//! # let _ = layer;
//! # Ok::<(), tower_digest_auth::ConfigError>(())
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Nonces carry their issue time, so every instance that shares a nonce key must agree on
/// the time within a few seconds; the default, [`SystemClock`], is what production wants.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(31 * 60));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(31 * 60));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock stopped at the current system time.
    pub fn new() -> Self {
        ManualClock::starting_at(SystemTime::now())
    }

    /// A clock stopped at `time`.
    pub fn starting_at(time: SystemTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(time)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How far apart the clocks of instances sharing a nonce key may be. A genuine nonce
/// issued up to this far in our future (another instance's clock running ahead) is
/// accepted; past it, our clock has stepped back since the nonce was issued and its age
/// cannot be told, so it is stale. A shared nonce store keeps each record this much
/// longer than the nonce's remaining life, so an instance whose clock runs behind never
/// finds the record gone while it still accepts the nonce.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Whole seconds since the Unix epoch; times before it count as 0.
pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The inverse of [`unix_secs`], saturating far in the future instead of overflowing
/// (an issue time comes from a nonce, which a client may have forged).
pub(crate) fn from_unix_secs(secs: u64) -> SystemTime {
    const FAR_FUTURE: u64 = 1 << 40;
    UNIX_EPOCH + Duration::from_secs(secs.min(FAR_FUTURE))
}
