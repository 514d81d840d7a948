//! Throttling of failed logins: the limits ([`ThrottleConfig`]), the rules per key
//! ([`FailureRecord`]), where counts live ([`FailureStore`], [`MemoryFailureStore`]), and
//! the layer's handle on them ([`Throttle`]). The service asks it three things: is this
//! address (and user) locked, count this failure, forget this user's failures.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::clock::{from_unix_secs, unix_secs};

/// How many failures lock a key within a window, and for how long.
///
/// A key is locked once it collects `max_failures` failures within `window` of its first
/// one. The first lock lasts `first_lockout`; while failures continue, every further
/// failure (once the lock has ended) locks the key again for twice as long as the last
/// time, up to `max_lockout`. The key starts over after `window` without a failure or a
/// lock, and the address-and-user key also after a successful login.
///
/// Durations count in whole seconds; values under one second count as one second, a
/// `max_failures` of 0 as 1, and a `max_lockout` shorter than the first as the first.
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::FailureLimit;
///
/// // 5 failures in 15 minutes; then 5 minutes, 10, 20, ... at most a day.
/// let limit = FailureLimit::new(5, Duration::from_secs(15 * 60))
///     .lockout(Duration::from_secs(5 * 60), Duration::from_secs(24 * 60 * 60));
/// assert_eq!(limit.max_failures(), 5);
/// assert_eq!(limit.first_lockout(), Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    max_failures: u32,
    window_secs: u64,
    first_lockout_secs: u64,
    max_lockout_secs: u64,
}

impl FailureLimit {
    /// `max_failures` within `window` lock the key, first for a minute, then for twice as
    /// long at each further failure, at most an hour.
    pub const fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimit {
            max_failures: if max_failures == 0 { 1 } else { max_failures },
            window_secs: at_least_one(window.as_secs()),
            first_lockout_secs: 60,
            max_lockout_secs: 60 * 60,
        }
    }

    /// How long the first lock lasts, and the longest the doubling may reach.
    #[must_use]
    pub const fn lockout(mut self, first: Duration, max: Duration) -> Self {
        self.first_lockout_secs = at_least_one(first.as_secs());
        let max = max.as_secs();
        self.max_lockout_secs = if max < self.first_lockout_secs {
            self.first_lockout_secs
        } else {
            max
        };
        self
    }

    /// How many failures within the window lock the key.
    pub const fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// How long after its first failure a key's count starts over, and how long a key
    /// must stay quiet after a lock before it starts over.
    pub const fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// How long the first lock lasts.
    pub const fn first_lockout(&self) -> Duration {
        Duration::from_secs(self.first_lockout_secs)
    }

    /// The longest lock.
    pub const fn max_lockout(&self) -> Duration {
        Duration::from_secs(self.max_lockout_secs)
    }

    /// The length of the `strikes`-th lock in a row (from 1): doubling, capped.
    fn lock_secs(&self, strikes: u32) -> u64 {
        let doublings = strikes.saturating_sub(1).min(63);
        self.first_lockout_secs
            .saturating_mul(1 << doublings)
            .min(self.max_lockout_secs)
    }
}

const fn at_least_one(secs: u64) -> u64 {
    if secs == 0 { 1 } else { secs }
}

/// The failed-login limits of a layer, on by default; set them with
/// [`DigestLayerBuilder::throttle`](crate::DigestLayerBuilder::throttle).
///
/// A failure is a well-formed Digest answer, to a nonce we issued to this client, whose
/// password check failed: a wrong password or an unknown user, which count (and answer)
/// alike. A request without credentials, a stale nonce, a 400 or a 500 never counts, so
/// clients doing their normal handshake never trip a limit. Each failure counts under two
/// keys, with separate [`FailureLimit`]s:
///
/// - the client address together with the username, which stops guessing one user's
///   password ([`DEFAULT_PER_ADDRESS_AND_USER`](Self::DEFAULT_PER_ADDRESS_AND_USER):
///   10 failures in 10 minutes);
/// - the client address alone, which stops one address spraying many usernames
///   ([`DEFAULT_PER_ADDRESS`](Self::DEFAULT_PER_ADDRESS): 100 failures in 10 minutes).
///
/// IPv6 addresses count by their `/64` prefix, which one host or household usually owns
/// whole. Once a key is over its limit, the layer answers `429 Too Many Requests` with
/// `Retry-After` right after parsing the header: before the nonce MAC, the credential
/// store and any password hashing. A lock of one address and user locks neither the
/// other users on that address nor that user on other addresses. Locks grow while
/// failures continue (see [`FailureLimit`]); a success clears the address-and-user count.
///
/// The defaults lie far beyond what a person mistyping a password reaches, and far below
/// what guessing needs:
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::{FailureLimit, ThrottleConfig};
///
/// let defaults = ThrottleConfig::default();
/// assert_eq!(defaults.address_and_user_limit(), ThrottleConfig::DEFAULT_PER_ADDRESS_AND_USER);
/// assert_eq!(defaults.address_and_user_limit().max_failures(), 10);
/// assert_eq!(defaults.address_limit().max_failures(), 100);
/// assert_eq!(defaults.address_limit().window(), Duration::from_secs(600));
///
/// // A stricter per-user limit, the same per-address one.
/// let strict = ThrottleConfig::default()
///     .per_address_and_user(FailureLimit::new(5, Duration::from_secs(3600)));
/// assert_eq!(strict.address_and_user_limit().max_failures(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    address_and_user: FailureLimit,
    address: FailureLimit,
}

impl ThrottleConfig {
    /// The default limit per client address and username: 10 failures in 10 minutes,
    /// then locks of 1, 2, 4, ... minutes, at most an hour.
    pub const DEFAULT_PER_ADDRESS_AND_USER: FailureLimit =
        FailureLimit::new(10, Duration::from_secs(10 * 60));

    /// The default limit per client address, whatever the usernames: 100 failures in 10
    /// minutes (ten users behind one NAT each locking themselves out would not reach it),
    /// then the same locks.
    pub const DEFAULT_PER_ADDRESS: FailureLimit =
        FailureLimit::new(100, Duration::from_secs(10 * 60));

    /// The limit for one client address and username.
    #[must_use]
    pub fn per_address_and_user(mut self, limit: FailureLimit) -> Self {
        self.address_and_user = limit;
        self
    }

    /// The limit for one client address, over all usernames.
    #[must_use]
    pub fn per_address(mut self, limit: FailureLimit) -> Self {
        self.address = limit;
        self
    }

    /// The limit for one client address and username.
    pub fn address_and_user_limit(&self) -> FailureLimit {
        self.address_and_user
    }

    /// The limit for one client address.
    pub fn address_limit(&self) -> FailureLimit {
        self.address
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            address_and_user: Self::DEFAULT_PER_ADDRESS_AND_USER,
            address: Self::DEFAULT_PER_ADDRESS,
        }
    }
}

/// Who a login attempt comes from: the client address and the username it names. A
/// [`FailureStore`] keeps its counts under two keys made from it: the address with the
/// username, and the address alone.
///
/// ```
/// use tower_digest_auth::FailureKey;
///
/// // IPv6 addresses count by their /64; IPv4-mapped ones as IPv4.
/// let key = FailureKey::new("2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap(), "alice");
/// assert_eq!(key.address(), "2001:db8:1:2::".parse::<std::net::IpAddr>().unwrap());
/// let key = FailureKey::new("::ffff:192.0.2.7".parse().unwrap(), "alice");
/// assert_eq!(key.address().to_string(), "192.0.2.7");
/// assert_eq!(key.username(), "alice");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailureKey<'a> {
    address: IpAddr,
    username: &'a str,
}

impl<'a> FailureKey<'a> {
    /// The key for a login by `username` from `client`.
    pub fn new(client: IpAddr, username: &'a str) -> Self {
        let address = match client.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            v4 @ IpAddr::V4(_) => v4,
        };
        FailureKey { address, username }
    }

    /// The client address the failures count under: an IPv4 address, or an IPv6 `/64`
    /// prefix (the rest zero).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The username, as the client sent it (not necessarily a known user).
    pub fn username(&self) -> &'a str {
        self.username
    }
}

/// The locks one failure started, per key; `None` where the key was not (newly) locked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewLocks {
    /// A lock of the address and username, and how long it lasts.
    pub address_and_user: Option<Duration>,
    /// A lock of the whole address, and how long it lasts.
    pub address: Option<Duration>,
}

/// The failures of one key and its lock: the rules of [`FailureLimit`] as a small value,
/// for stores to keep per key.
///
/// Times are whole Unix seconds. A record past [`expires_at`](Self::expires_at) means
/// nothing any more: a store may drop it then (a shared store sets it as the TTL).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_digest_auth::{FailureLimit, FailureRecord};
///
/// let limit = FailureLimit::new(3, Duration::from_secs(600));
/// let now = SystemTime::now();
/// let mut record = FailureRecord::default();
/// assert_eq!(record.record_failure(&limit, now), None);
/// assert_eq!(record.record_failure(&limit, now), None);
/// assert_eq!(record.record_failure(&limit, now), Some(Duration::from_secs(60)));
/// assert_eq!(record.locked_for(now), Some(Duration::from_secs(60)));
/// // Once the lock is over, the next failure locks again, twice as long.
/// let later = now + Duration::from_secs(60);
/// assert_eq!(record.locked_for(later), None);
/// assert_eq!(record.record_failure(&limit, later), Some(Duration::from_secs(120)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureRecord {
    /// Failures in the current window, before the first lock.
    failures: u32,
    /// Locks in a row, without a quiet window between them.
    strikes: u32,
    locked_until: u64,
    expires_at: u64,
}

impl FailureRecord {
    /// How long the key is still locked, if it is.
    pub fn locked_for(&self, now: SystemTime) -> Option<Duration> {
        let now = unix_secs(now);
        (now < self.locked_until).then(|| Duration::from_secs(self.locked_until - now))
    }

    /// Counts one failure at `now`; returns the lock it starts, if any.
    pub fn record_failure(&mut self, limit: &FailureLimit, now: SystemTime) -> Option<Duration> {
        let now = unix_secs(now);
        if now >= self.expires_at {
            // A fresh key, or one quiet for a whole window: its window starts now.
            *self = FailureRecord {
                expires_at: now.saturating_add(limit.window_secs),
                ..FailureRecord::default()
            };
        }
        if self.strikes == 0 {
            self.failures = self.failures.saturating_add(1);
            if self.failures < limit.max_failures {
                return None;
            }
        }
        self.strikes = self.strikes.saturating_add(1);
        let lock = limit.lock_secs(self.strikes);
        // A failure that was in flight while the key got locked never shortens the lock.
        self.locked_until = self.locked_until.max(now.saturating_add(lock));
        self.expires_at = self.locked_until.saturating_add(limit.window_secs);
        Some(Duration::from_secs(lock))
    }

    /// Whether the record has run out (no lock, no failure within its window).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        unix_secs(now) >= self.expires_at
    }

    /// When the record runs out.
    pub fn expires_at(&self) -> SystemTime {
        from_unix_secs(self.expires_at)
    }

    /// The order in which a full store gives records up, least valuable first: unlocked
    /// before locked, then fewer past locks, then fewer failures, then the lock that
    /// ends first.
    fn eviction_rank(&self, now: SystemTime) -> (bool, u32, u32, u64) {
        let locked = self.locked_for(now).is_some();
        (locked, self.strikes, self.failures, self.locked_until)
    }
}

/// Where failed logins are counted; [`MemoryFailureStore`] by default.
///
/// Each method takes one whole event, under both keys of a [`FailureKey`] (the address
/// with the username, and the address alone), so a shared store can answer each with one
/// round trip. Times come from the layer's clock: a store should not read its own.
/// A store that fails answers `Err`: the request gets a 500 for a check or a failure
/// (never a 200), and a failed reset after a success is only logged.
///
/// A complete store, for illustration (a real one must also bound its memory, as
/// [`MemoryFailureStore`] does):
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use std::net::IpAddr;
/// use std::sync::Mutex;
/// use std::time::{Duration, SystemTime};
/// use tower_digest_auth::{FailureKey, FailureRecord, FailureStore, NewLocks, ThrottleConfig};
///
/// #[derive(Default)]
/// struct Simple(Mutex<HashMap<(IpAddr, Option<String>), FailureRecord>>);
///
/// impl FailureStore for Simple {
///     type Error = Infallible;
///
///     async fn lock(&self, key: FailureKey<'_>, now: SystemTime)
///         -> Result<Option<Duration>, Infallible>
///     {
///         let map = self.0.lock().unwrap();
///         let user = (key.address(), Some(key.username().to_owned()));
///         let address = (key.address(), None);
///         let locked = |k| map.get(&k).and_then(|r: &FailureRecord| r.locked_for(now));
///         Ok(locked(user).max(locked(address)))
///     }
///
///     async fn record_failure(&self, key: FailureKey<'_>, limits: &ThrottleConfig, now: SystemTime)
///         -> Result<NewLocks, Infallible>
///     {
///         let mut map = self.0.lock().unwrap();
///         let user = (key.address(), Some(key.username().to_owned()));
///         Ok(NewLocks {
///             address_and_user: map.entry(user).or_default()
///                 .record_failure(&limits.address_and_user_limit(), now),
///             address: map.entry((key.address(), None)).or_default()
///                 .record_failure(&limits.address_limit(), now),
///         })
///     }
///
///     async fn record_success(&self, key: FailureKey<'_>, _now: SystemTime)
///         -> Result<(), Infallible>
///     {
///         let user = (key.address(), Some(key.username().to_owned()));
///         self.0.lock().unwrap().remove(&user);
///         Ok(())
///     }
/// }
///
/// # tokio_test(async {
/// let store = Simple::default();
/// let limits = ThrottleConfig::default();
/// let key = FailureKey::new("192.0.2.1".parse().unwrap(), "alice");
/// let now = SystemTime::now();
/// for _ in 0..9 {
///     store.record_failure(key, &limits, now).await.unwrap();
/// }
/// assert_eq!(store.lock(key, now).await.unwrap(), None);
/// let locks = store.record_failure(key, &limits, now).await.unwrap();
/// assert_eq!(locks.address_and_user, Some(Duration::from_secs(60)));
/// assert_eq!(store.lock(key, now).await.unwrap(), Some(Duration::from_secs(60)));
/// # });
/// # fn tokio_test(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait FailureStore: Send + Sync + 'static {
    /// The store's own failure (a lost connection, say).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The longest remaining lock of the key's address-and-user or its address, if
    /// either is locked at `now`. Asked before anything else is done for the answer.
    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send;

    /// Counts one failed password check under both keys, each against its limit in
    /// `limits`, and says which locks it started.
    fn record_failure(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Self::Error>> + Send;

    /// A login succeeded: forgets the address-and-user key's failures and locks. The
    /// address key keeps its count, so one good account cannot clear a spray.
    fn record_success(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl<T: FailureStore> FailureStore for Arc<T> {
    type Error = T::Error;

    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send {
        T::lock(self, key, now)
    }

    fn record_failure(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Self::Error>> + Send {
        T::record_failure(self, key, limits, now)
    }

    fn record_success(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        T::record_success(self, key, now)
    }
}

/// How many entries one new key moves the sweep past: more than one, so sweeping outpaces
/// growth, and few, so no request waits on a long scan.
const SWEEP_PER_INSERT: usize = 8;

/// How many entries [`MemoryFailureStore::sweep_expired`] looks at per hold of the lock.
const SWEEP_BATCH: usize = 1024;

/// How many entries a full store weighs against each other to pick the ones it gives up.
const EVICTION_CANDIDATES: usize = 64;

/// How many unlocked entries a full store gives up at once, so the weighing is paid once
/// per batch of new keys.
const EVICTION_BATCH: usize = 16;

/// The default [`FailureStore`]: counts in this process's memory, bounded.
///
/// Every key with a recent failure costs one entry of about 120 bytes. Entries are
/// looked at a few at a time as new keys arrive, in a ring: those past their window are
/// dropped ([`sweep_expired`](Self::sweep_expired) drops the rest, for a timer). At
/// [`max_entries`](Self::with_max_entries) a new key makes room among the next 64 entries
/// in the ring, least valuable first: run-out entries, else unlocked ones with the fewest
/// failures, and a locked entry only when all 64 are locked (the one whose lock ends
/// first). So a flood of cheap one-failure keys never
/// evicts a lock or a count close to its limit; resetting one lock by eviction takes a
/// store full of locks, each of which cost its own `max_failures` failures.
///
/// Usernames are kept as 64-bit hashes under a random per-store key, so an entry has a
/// fixed size whatever the username. Clones share the same entries.
///
/// ```
/// use tower_digest_auth::MemoryFailureStore;
///
/// let store = MemoryFailureStore::with_max_entries(10_000);
/// assert!(store.is_empty());
/// ```
#[derive(Clone)]
pub struct MemoryFailureStore {
    inner: Arc<Inner>,
}

/// One key in the memory store: an address (16 bytes, IPv4 mapped), and the username's
/// hash for the address-and-user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    address: [u8; 16],
    user: Option<u64>,
}

struct Inner {
    records: DashMap<Slot, FailureRecord>,
    /// Every slot in `records`, once, in sweep order. Only inserts and removals take this
    /// lock (checks and counts on known keys never do), so the map and the ring always
    /// hold the same slots.
    ring: Mutex<VecDeque<Slot>>,
    max_entries: usize,
    usernames: RandomState,
}

impl MemoryFailureStore {
    /// The default bound: 100,000 keys (about 12 MiB).
    pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

    /// A store for up to [`DEFAULT_MAX_ENTRIES`](Self::DEFAULT_MAX_ENTRIES) keys.
    pub fn new() -> Self {
        MemoryFailureStore::with_max_entries(Self::DEFAULT_MAX_ENTRIES)
    }

    /// A store for up to `max_entries` keys (at least two: one failure takes two);
    /// nothing is allocated up front.
    pub fn with_max_entries(max_entries: usize) -> Self {
        MemoryFailureStore {
            inner: Arc::new(Inner {
                records: DashMap::new(),
                ring: Mutex::new(VecDeque::new()),
                max_entries: max_entries.max(2),
                usernames: RandomState::new(),
            }),
        }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock_ring().len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry that ran out before `now`, a batch at a time. New keys already
    /// sweep a few entries each; call this from a timer to give memory back while idle.
    pub fn sweep_expired(&self, now: SystemTime) {
        let mut left = self.len();
        while left > 0 {
            let batch = left.min(SWEEP_BATCH);
            self.inner
                .sweep_locked(&mut self.inner.lock_ring(), now, batch);
            left -= batch;
        }
    }

    fn slots(&self, key: FailureKey<'_>) -> (Slot, Slot) {
        let address = match key.address {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let user = self.inner.usernames.hash_one(key.username.as_bytes());
        (
            Slot {
                address,
                user: Some(user),
            },
            Slot {
                address,
                user: None,
            },
        )
    }

    pub(crate) fn lock_now(&self, key: FailureKey<'_>, now: SystemTime) -> Option<Duration> {
        let (user, address) = self.slots(key);
        let locked = |slot| {
            self.inner
                .records
                .get(&slot)
                .and_then(|record| record.locked_for(now))
        };
        locked(user).max(locked(address))
    }

    pub(crate) fn fail_now(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> NewLocks {
        let (user, address) = self.slots(key);
        NewLocks {
            address_and_user: self.inner.fail(user, &limits.address_and_user, now),
            address: self.inner.fail(address, &limits.address, now),
        }
    }

    pub(crate) fn succeed_now(&self, key: FailureKey<'_>) {
        let (user, _) = self.slots(key);
        // Reset in place, to be swept: removals belong to the ring's lock.
        if let Some(mut record) = self.inner.records.get_mut(&user) {
            *record = FailureRecord::default();
        }
    }
}

impl Inner {
    fn lock_ring(&self) -> MutexGuard<'_, VecDeque<Slot>> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, slot: Slot, limit: &FailureLimit, now: SystemTime) -> Option<Duration> {
        if let Some(mut record) = self.records.get_mut(&slot) {
            return record.record_failure(limit, now);
        }
        let mut ring = self.lock_ring();
        // Eviction looks at entries too, and drops those that ran out: one scan, not two.
        if ring.len() >= self.max_entries {
            self.evict_locked(&mut ring, now);
        } else {
            self.sweep_locked(&mut ring, now, SWEEP_PER_INSERT);
        }
        match self.records.entry(slot) {
            // Another request with the same key got here first.
            Entry::Occupied(mut record) => record.get_mut().record_failure(limit, now),
            Entry::Vacant(vacant) => {
                let mut record = FailureRecord::default();
                let lock = record.record_failure(limit, now);
                vacant.insert(record);
                ring.push_back(slot);
                lock
            }
        }
    }

    /// Moves the sweep `steps` entries on: drops those that ran out, sends the others to
    /// the back of the ring.
    fn sweep_locked(&self, ring: &mut VecDeque<Slot>, now: SystemTime, steps: usize) {
        for _ in 0..steps.min(ring.len()) {
            let Some(slot) = ring.pop_front() else {
                return;
            };
            if !self.remove_if_expired(slot, now) {
                ring.push_back(slot);
            }
        }
    }

    /// Removes `slot` if it ran out (or is somehow gone); whether it is gone now.
    fn remove_if_expired(&self, slot: Slot, now: SystemTime) -> bool {
        let expired = self.records.get(&slot).map(|record| record.is_expired(now));
        match expired {
            None => true,
            Some(false) => false,
            // Checked again under the shard's lock: a failure may have renewed it since.
            Some(true) => self
                .records
                .remove_if(&slot, |_, record| record.is_expired(now))
                .is_some(),
        }
    }

    /// Frees room for at least one entry among the next [`EVICTION_CANDIDATES`] in the
    /// ring: drops those that ran out; if none did, evicts the least valuable by
    /// [`FailureRecord::eviction_rank`]: up to [`EVICTION_BATCH`] unlocked ones (so a
    /// flood pays for the scan once per batch), and one locked entry only when every
    /// candidate is locked.
    fn evict_locked(&self, ring: &mut VecDeque<Slot>, now: SystemTime) {
        let mut candidates = Vec::with_capacity(EVICTION_CANDIDATES.min(ring.len()));
        let mut freed = false;
        for _ in 0..EVICTION_CANDIDATES.min(ring.len()) {
            let Some(slot) = ring.pop_front() else { break };
            let state = self
                .records
                .get(&slot)
                .map(|record| (record.is_expired(now), record.eviction_rank(now)));
            match state {
                None => freed = true,
                // Checked again under the shard's lock: a failure may have renewed it.
                Some((true, _))
                    if self
                        .records
                        .remove_if(&slot, |_, record| record.is_expired(now))
                        .is_some() =>
                {
                    freed = true;
                }
                Some((_, rank)) => candidates.push((rank, slot)),
            }
        }
        if !freed {
            candidates.sort_unstable_by_key(|&(rank, _)| rank);
            let evict = candidates
                .iter()
                .take(EVICTION_BATCH)
                .enumerate()
                .take_while(|&(index, &((locked, ..), _))| index == 0 || !locked)
                .count();
            for ((locked, ..), slot) in candidates.drain(..evict) {
                self.records.remove(&slot);
                if locked {
                    tracing::warn!(
                        "digest auth: failed-login store full of locked clients; \
                         dropped the lock that ends first (raise max_entries?)"
                    );
                }
            }
        }
        ring.extend(candidates.into_iter().map(|(_, slot)| slot));
    }
}

impl Default for MemoryFailureStore {
    fn default() -> Self {
        MemoryFailureStore::new()
    }
}

impl fmt::Debug for MemoryFailureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryFailureStore")
            .field("len", &self.len())
            .field("max_entries", &self.inner.max_entries)
            .finish_non_exhaustive()
    }
}

impl FailureStore for MemoryFailureStore {
    type Error = Infallible;

    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Infallible>> + Send {
        std::future::ready(Ok(self.lock_now(key, now)))
    }

    fn record_failure(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Infallible>> + Send {
        std::future::ready(Ok(self.fail_now(key, limits, now)))
    }

    fn record_success(
        &self,
        key: FailureKey<'_>,
        _now: SystemTime,
    ) -> impl Future<Output = Result<(), Infallible>> + Send {
        self.succeed_now(key);
        std::future::ready(Ok(()))
    }
}

/// A store's error, once the store's type is erased.
pub(crate) type StoreError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`FailureStore`] with its type erased, so the layer's type does not name the store.
trait ErasedStore: Send + Sync + 'static {
    fn lock<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>>;
    fn record_failure<'a>(
        &'a self,
        key: FailureKey<'a>,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<NewLocks, StoreError>>;
    fn record_success<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl<T: FailureStore> ErasedStore for T {
    fn lock<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>> {
        Box::pin(async move { FailureStore::lock(self, key, now).await.map_err(Into::into) })
    }

    fn record_failure<'a>(
        &'a self,
        key: FailureKey<'a>,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<NewLocks, StoreError>> {
        Box::pin(async move {
            FailureStore::record_failure(self, key, limits, now)
                .await
                .map_err(Into::into)
        })
    }

    fn record_success<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            FailureStore::record_success(self, key, now)
                .await
                .map_err(Into::into)
        })
    }
}

/// A layer's throttle: its limits and its store. The memory store is called directly
/// (no allocation per request); any other store through a boxed future.
pub(crate) struct Throttle {
    limits: ThrottleConfig,
    store: Backend,
}

enum Backend {
    Memory(MemoryFailureStore),
    Other(Box<dyn ErasedStore>),
}

impl Throttle {
    pub(crate) fn new<T: FailureStore>(limits: ThrottleConfig, store: T) -> Self {
        let any: &dyn std::any::Any = &store;
        let store = match any.downcast_ref::<MemoryFailureStore>() {
            Some(memory) => Backend::Memory(memory.clone()),
            None => Backend::Other(Box::new(store)),
        };
        Throttle { limits, store }
    }

    pub(crate) fn limits(&self) -> ThrottleConfig {
        self.limits
    }

    pub(crate) fn with_limits(self, limits: ThrottleConfig) -> Self {
        Throttle { limits, ..self }
    }

    /// If the key is locked, the seconds until it is not (rounded up, at least one):
    /// the `Retry-After` value.
    pub(crate) async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        let lock = match &self.store {
            Backend::Memory(store) => store.lock_now(key, now),
            Backend::Other(store) => store.lock(key, now).await?,
        };
        Ok(lock.map(|lock| {
            let secs = lock.as_secs() + u64::from(lock.subsec_nanos() > 0);
            secs.max(1)
        }))
    }

    pub(crate) async fn record_failure(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<NewLocks, StoreError> {
        match &self.store {
            Backend::Memory(store) => Ok(store.fail_now(key, &self.limits, now)),
            Backend::Other(store) => store.record_failure(key, &self.limits, now).await,
        }
    }

    pub(crate) async fn record_success(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        match &self.store {
            Backend::Memory(store) => {
                store.succeed_now(key);
                Ok(())
            }
            Backend::Other(store) => store.record_success(key, now).await,
        }
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(ThrottleConfig::default(), MemoryFailureStore::new())
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store: &dyn fmt::Debug = match &self.store {
            Backend::Memory(store) => store,
            Backend::Other(_) => &"custom",
        };
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .field("store", store)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        from_unix_secs(T0 + secs)
    }

    fn limits(per_user: u32, per_address: u32) -> ThrottleConfig {
        let window = Duration::from_secs(600);
        ThrottleConfig::default()
            .per_address_and_user(FailureLimit::new(per_user, window))
            .per_address(FailureLimit::new(per_address, window))
    }

    fn key(address: &str, username: &'static str) -> FailureKey<'static> {
        FailureKey::new(address.parse().unwrap(), username)
    }

    #[test]
    fn a_record_locks_at_its_limit_and_doubles_while_failures_continue() {
        let limit = FailureLimit::new(3, Duration::from_secs(600))
            .lockout(Duration::from_secs(10), Duration::from_secs(35));
        let mut record = FailureRecord::default();
        assert_eq!(record.record_failure(&limit, at(0)), None);
        assert_eq!(record.record_failure(&limit, at(1)), None);
        assert_eq!(record.locked_for(at(1)), None);
        assert_eq!(
            record.record_failure(&limit, at(2)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(record.locked_for(at(2)), Some(Duration::from_secs(10)));
        assert_eq!(record.locked_for(at(11)), Some(Duration::from_secs(1)));
        assert_eq!(record.locked_for(at(12)), None);
        // 20, then 35 (the cap), then 35 again.
        let mut now = 12;
        for expected in [20, 35, 35] {
            assert_eq!(
                record.record_failure(&limit, at(now)),
                Some(Duration::from_secs(expected))
            );
            now += expected;
        }
    }

    #[test]
    fn a_record_starts_over_after_its_window_or_a_quiet_window_after_a_lock() {
        let limit = FailureLimit::new(3, Duration::from_secs(600));
        let mut record = FailureRecord::default();
        record.record_failure(&limit, at(0));
        record.record_failure(&limit, at(599));
        // The window began at the first failure: at 600 the count starts over.
        assert_eq!(record.record_failure(&limit, at(600)), None);
        assert_eq!(record.record_failure(&limit, at(601)), None);
        assert_eq!(
            record.record_failure(&limit, at(602)),
            Some(Duration::from_secs(60))
        );
        // Locked until 662; quiet until 1262 keeps the strikes: the next lock doubles.
        assert!(!record.is_expired(at(1261)));
        let mut again = record;
        assert_eq!(
            again.record_failure(&limit, at(1261)),
            Some(Duration::from_secs(120))
        );
        // Quiet for a whole window after the lock: a fresh start, three failures again.
        assert!(record.is_expired(at(1262)));
        assert_eq!(record.record_failure(&limit, at(1262)), None);
        assert_eq!(record.expires_at(), at(1862));
    }

    #[test]
    fn limits_are_clamped_to_what_means_something() {
        let limit = FailureLimit::new(0, Duration::ZERO).lockout(Duration::ZERO, Duration::ZERO);
        assert_eq!(limit.max_failures(), 1);
        assert_eq!(limit.window(), Duration::from_secs(1));
        assert_eq!(limit.first_lockout(), Duration::from_secs(1));
        assert_eq!(limit.max_lockout(), Duration::from_secs(1));
        let mut record = FailureRecord::default();
        assert_eq!(
            record.record_failure(&limit, at(0)),
            Some(Duration::from_secs(1))
        );
        // Doubling never overflows.
        let mut strikes = FailureRecord::default();
        let big = FailureLimit::new(1, Duration::from_secs(1))
            .lockout(Duration::from_secs(1), Duration::from_secs(u64::MAX));
        for step in 0..100 {
            strikes.record_failure(&big, at(step));
        }
        assert_eq!(big.lock_secs(100), 1 << 63);
        let odd = big.lockout(Duration::from_secs(3), Duration::from_secs(u64::MAX));
        assert_eq!(odd.lock_secs(u32::MAX), u64::MAX);
    }

    #[test]
    fn keys_group_ipv6_by_prefix_and_ipv4_mapped_as_ipv4() {
        let a = key("2001:db8::1", "u");
        let b = key("2001:db8::ffff:1", "u");
        let other_prefix = key("2001:db8:0:1::1", "u");
        assert_eq!(a.address(), b.address());
        assert_ne!(a.address(), other_prefix.address());
        assert_eq!(key("::ffff:192.0.2.1", "u"), key("192.0.2.1", "u"));
    }

    #[test]
    fn the_store_counts_both_keys_and_keeps_them_apart() {
        let store = MemoryFailureStore::new();
        let limits = limits(2, 3);
        let now = at(0);
        let alice = key("192.0.2.1", "alice");
        assert_eq!(store.fail_now(alice, &limits, now), NewLocks::default());
        let locks = store.fail_now(alice, &limits, now);
        assert_eq!(locks.address_and_user, Some(Duration::from_secs(60)));
        assert_eq!(locks.address, None);
        assert_eq!(store.lock_now(alice, now), Some(Duration::from_secs(60)));
        // Another user on the address, the user on another address: not locked.
        assert_eq!(store.lock_now(key("192.0.2.1", "bob"), now), None);
        assert_eq!(store.lock_now(key("192.0.2.2", "alice"), now), None);
        // A third failure there (another user) locks the whole address.
        let locks = store.fail_now(key("192.0.2.1", "bob"), &limits, now);
        assert_eq!(locks.address, Some(Duration::from_secs(60)));
        assert!(store.lock_now(key("192.0.2.1", "carol"), now).is_some());
        assert_eq!(store.lock_now(key("192.0.2.2", "carol"), now), None);
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn success_clears_the_user_key_but_not_the_address_key() {
        let store = MemoryFailureStore::new();
        let limits = limits(2, 3);
        let alice = key("192.0.2.1", "alice");
        store.fail_now(alice, &limits, at(0));
        store.succeed_now(alice);
        // The user's count starts over; the address's does not.
        assert_eq!(store.fail_now(alice, &limits, at(1)), NewLocks::default());
        let locks = store.fail_now(key("192.0.2.1", "bob"), &limits, at(1));
        assert_eq!(locks.address, Some(Duration::from_secs(60)));
    }

    #[test]
    fn the_sweep_drops_run_out_entries() {
        let store = MemoryFailureStore::new();
        let limits = limits(5, 5);
        for user in ["a", "b", "c"] {
            store.fail_now(key("192.0.2.1", user), &limits, at(0));
        }
        assert_eq!(store.len(), 4);
        store.sweep_expired(at(599));
        assert_eq!(store.len(), 4);
        store.sweep_expired(at(600));
        assert!(store.is_empty());
        // New keys sweep as they arrive.
        for n in 0..4 {
            store.fail_now(
                FailureKey::new(IpAddr::from([10, 0, 0, n]), "x"),
                &limits,
                at(0),
            );
        }
        assert_eq!(store.len(), 8);
        store.fail_now(key("192.0.2.9", "x"), &limits, at(700));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_flood_of_new_keys_stays_bounded_and_evicts_no_lock() {
        let store = MemoryFailureStore::with_max_entries(200);
        let limits = limits(3, 1000);
        let victim = key("192.0.2.1", "victim");
        for _ in 0..3 {
            store.fail_now(victim, &limits, at(0));
        }
        // Two failures short of a lock: worth more than one-failure keys too.
        let near = key("192.0.2.2", "near");
        store.fail_now(near, &limits, at(0));
        store.fail_now(near, &limits, at(0));
        for n in 0..4_000u32 {
            let address = IpAddr::from((0x0a00_0000 + n).to_be_bytes());
            store.fail_now(FailureKey::new(address, "spray"), &limits, at(1));
            assert!(store.len() <= 200);
        }
        assert_eq!(store.lock_now(victim, at(2)), Some(Duration::from_secs(58)));
        assert_eq!(
            store.fail_now(near, &limits, at(2)).address_and_user,
            Some(Duration::from_secs(60)),
            "the near-limit count survived the flood"
        );
    }

    #[test]
    fn a_store_full_of_locks_gives_up_the_one_ending_first() {
        let store = MemoryFailureStore::with_max_entries(4);
        let limits = limits(1, 1000);
        // Two keys (user and address entries each): all four entries locked or counting.
        let early = key("192.0.2.1", "early");
        store.fail_now(early, &limits, at(0));
        let late = key("192.0.2.2", "late");
        store.fail_now(late, &limits, at(30));
        // The unlocked address entries go first, then the lock ending first.
        store.fail_now(key("192.0.2.3", "x"), &limits, at(31));
        assert_eq!(store.len(), 4);
        assert!(store.lock_now(late, at(31)).is_some());
        assert!(store.lock_now(early, at(31)).is_some());
        store.fail_now(key("192.0.2.4", "y"), &limits, at(31));
        assert_eq!(store.len(), 4);
        assert_eq!(store.lock_now(early, at(31)), None);
        assert!(store.lock_now(late, at(31)).is_some());
    }

    #[test]
    fn concurrent_failures_on_one_new_key_all_count() {
        let store = MemoryFailureStore::new();
        let limits = limits(1000, 1000);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        store.fail_now(key("192.0.2.1", "alice"), &limits, at(0));
                    }
                });
            }
        });
        let locks = store.fail_now(key("192.0.2.1", "alice"), &limits, at(0));
        assert_eq!(locks, NewLocks::default());
        let record = *store
            .inner
            .records
            .get(&store.slots(key("192.0.2.1", "alice")).0)
            .unwrap();
        assert_eq!(record.failures, 401);
        assert_eq!(store.len(), 2);
    }
}
