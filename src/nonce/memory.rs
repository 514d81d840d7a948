//! The default [`NonceStore`]: a sharded map in this process's memory.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::AccountKey;
use super::{NcCheck, NcWindow, NonceEpoch, NonceId, NonceStore, NonceUse};
use crate::clock::unix_secs;
use crate::random_key::RandomKeys;

/// How many expired entries one new entry sweeps at most: more than one, so sweeping
/// outpaces growth, and few, so no request waits on a long scan.
const SWEEP_PER_INSERT: usize = 8;

/// How many entries [`MemoryNonceStore::sweep_expired`] removes per hold of the lock, so
/// first uses waiting for it never wait long.
const SWEEP_BATCH: usize = 1024;

/// A [`NonceStore`] in memory: the default, for a single instance.
///
/// Each nonce that has verified at least once costs one small entry (about 100 bytes)
/// until it expires. Expired entries are swept a few at a time as new ones arrive, and
/// [`sweep_expired`](MemoryNonceStore::sweep_expired) frees the rest in small batches.
///
/// Two rules keep every bound from reopening a replay; both answer
/// [`NcCheck::Forgotten`] (the client gets `stale=true` and retries with a fresh nonce)
/// where accepting could let a replay through:
/// - At [`max_entries`](MemoryNonceStore::with_max_entries), making room evicts the
///   entries closest to expiry, and any nonce issued no later than an evicted one (to the
///   second) is then forgotten, never taken for fresh.
/// - The store remembers nothing from before it was created: its [`NonceEpoch`] is drawn
///   at random then, so nonces issued against any other store (by an earlier process
///   sharing the nonce key, or by the old side of a blue/green deploy) are answered
///   `stale=true` by the layer, whatever the clocks say.
///
/// Ending a login ([`NonceStore::end_login`]) marks its nonce's entry until the nonce
/// expires; ending all of an account's logins ([`NonceStore::end_all_logins`]) keeps a
/// few bytes per such account for the store's life.
///
/// The store reads no clock of its own: every time it uses comes from the layer's clock
/// through [`NonceUse`].
///
/// Clones share the same entries.
///
/// ```
/// use tower_digest_auth::nonce::MemoryNonceStore;
///
/// let store = MemoryNonceStore::with_max_entries(100_000);
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryNonceStore {
    inner: Arc<Inner>,
}

/// Nonce ids with their issue times, by expiry second; oldest first in both orders.
type ExpiryQueue = BTreeMap<u64, VecDeque<(NonceId, u64)>>;

/// One used nonce: its window and what ending logins needs.
struct Entry {
    window: NcWindow,
    /// [`Inner::ends`] when the nonce was first used: the login began then.
    begun: u64,
    /// Its login was ended ([`NonceStore::end_login`]).
    ended: bool,
}

impl Entry {
    fn first(nc: u64, begun: u64) -> Self {
        Entry {
            window: NcWindow::first(nc),
            begun,
            ended: false,
        }
    }
}

struct Inner {
    /// Nonce ids are HMAC output, so they are their own hash.
    windows: DashMap<NonceId, Entry, RandomKeys>,
    /// The sweep and eviction order. Every insert and every removal holds this lock, so
    /// the watermark check and the insert of a first use cannot be split by an eviction.
    expiry: Mutex<ExpiryQueue>,
    len: AtomicUsize,
    max_entries: usize,
    /// Issue time (Unix seconds) of the newest nonce ever removed; a nonce issued no later
    /// than this that is not in the map may have been used before.
    forgotten_through: AtomicU64,
    /// Stamped into every nonce issued against this store; see [`NonceStore::epoch`].
    epoch: NonceEpoch,
    /// Counts [`NonceStore::end_all_logins`] calls: a logical clock for when logins began
    /// and ended, which a clock that stands still (a test's) cannot confuse.
    ends: AtomicU64,
    /// Per account whose logins were all ended, the value of `ends` then. One entry per
    /// such account (a few bytes), kept for the store's life.
    ended_accounts: DashMap<AccountKey, u64>,
}

impl MemoryNonceStore {
    /// The default bound: a million live nonces (about 100 MiB).
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    /// A store holding up to [`DEFAULT_MAX_ENTRIES`](Self::DEFAULT_MAX_ENTRIES) nonces.
    pub fn new() -> Self {
        MemoryNonceStore::with_max_entries(Self::DEFAULT_MAX_ENTRIES)
    }

    /// A store holding up to `max_entries` nonces (at least one); nothing is allocated
    /// up front.
    pub fn with_max_entries(max_entries: usize) -> Self {
        MemoryNonceStore {
            inner: Arc::new(Inner {
                windows: DashMap::default(),
                expiry: Mutex::new(BTreeMap::new()),
                len: AtomicUsize::new(0),
                max_entries: max_entries.max(1),
                forgotten_through: AtomicU64::new(0),
                epoch: NonceEpoch::random(),
                ends: AtomicU64::new(0),
                ended_accounts: DashMap::new(),
            }),
        }
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry that expired before `now`, a batch at a time. New entries
    /// already sweep a few expired ones each; call this from a timer to give memory back
    /// while idle.
    pub fn sweep_expired(&self, now: SystemTime) {
        let now = unix_secs(now);
        while self
            .inner
            .sweep_locked(&mut self.inner.lock_expiry(), now, SWEEP_BATCH)
            == SWEEP_BATCH
        {}
    }

    fn record(&self, use_: NonceUse) -> NcCheck {
        let inner = &*self.inner;
        if let Some(mut entry) = inner.windows.get_mut(&use_.id) {
            return inner.record_existing(&mut entry, &use_);
        }
        let issued_at = unix_secs(use_.issued_at);
        if inner.forgotten(issued_at) {
            return NcCheck::Forgotten;
        }
        let mut expiry = inner.lock_expiry();
        inner.sweep_locked(&mut expiry, unix_secs(use_.now), SWEEP_PER_INSERT);
        // Make room before inserting, so a new entry is never its own victim.
        let len = inner.len.load(Ordering::Acquire);
        if len >= inner.max_entries {
            inner.evict_locked(&mut expiry, len + 1 - inner.max_entries);
        }
        match inner.windows.entry(use_.id) {
            // Another request with the same nonce got here first.
            MapEntry::Occupied(mut entry) => inner.record_existing(entry.get_mut(), &use_),
            // Checked again under the lock: an eviction since the first check may have
            // forgotten this very nonce.
            MapEntry::Vacant(_) if inner.forgotten(issued_at) => NcCheck::Forgotten,
            MapEntry::Vacant(slot) => {
                slot.insert(Entry::first(use_.nc, inner.ends.load(Ordering::Acquire)));
                inner.len.fetch_add(1, Ordering::AcqRel);
                expiry
                    .entry(unix_secs(use_.expires_at))
                    .or_default()
                    .push_back((use_.id, issued_at));
                NcCheck::Accepted
            }
        }
    }
}

impl Inner {
    /// A use of a nonce already in the map: refused if its login ended, else counted.
    fn record_existing(&self, entry: &mut Entry, use_: &NonceUse) -> NcCheck {
        // Looked up only if some account's logins ended since this login began.
        let ended_since_begun = self.ends.load(Ordering::Acquire) > entry.begun
            && use_.account.is_some_and(|account| {
                let ended = self.ended_accounts.get(&account);
                ended.is_some_and(|ended| *ended > entry.begun)
            });
        if entry.ended || ended_since_begun {
            return NcCheck::Ended;
        }
        entry.window.record(use_.nc)
    }

    /// Ends the login of `login.id`. A nonce not in the map (never used, or swept) gets
    /// an entry that says so, until it expires; under the lock, as every insert.
    fn end_login(&self, login: &NonceUse) {
        if let Some(mut entry) = self.windows.get_mut(&login.id) {
            entry.ended = true;
            return;
        }
        let mut expiry = self.lock_expiry();
        let len = self.len.load(Ordering::Acquire);
        if len >= self.max_entries {
            self.evict_locked(&mut expiry, len + 1 - self.max_entries);
        }
        match self.windows.entry(login.id) {
            MapEntry::Occupied(mut entry) => entry.get_mut().ended = true,
            MapEntry::Vacant(slot) => {
                let mut entry = Entry::first(0, 0);
                entry.ended = true;
                slot.insert(entry);
                self.len.fetch_add(1, Ordering::AcqRel);
                expiry
                    .entry(unix_secs(login.expires_at))
                    .or_default()
                    .push_back((login.id, unix_secs(login.issued_at)));
            }
        }
    }

    /// Ends every login of `account` begun before now.
    fn end_all_logins(&self, account: AccountKey) {
        let now = self.ends.fetch_add(1, Ordering::AcqRel) + 1;
        self.ended_accounts.insert(account, now);
    }

    fn lock_expiry(&self) -> std::sync::MutexGuard<'_, ExpiryQueue> {
        self.expiry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a nonce issued at `issued_at` and not in the map may have been used and
    /// evicted since.
    fn forgotten(&self, issued_at: u64) -> bool {
        issued_at <= self.forgotten_through.load(Ordering::Acquire)
    }

    /// Removes up to `limit` entries that expired before `now`; returns how many.
    fn sweep_locked(&self, expiry: &mut ExpiryQueue, now: u64, limit: usize) -> usize {
        let mut removed = 0;
        while removed < limit {
            let Some(mut bucket) = expiry.first_entry() else {
                break;
            };
            if *bucket.key() >= now {
                break;
            }
            while removed < limit {
                let Some((id, issued_at)) = bucket.get_mut().pop_front() else {
                    break;
                };
                self.remove(&id, issued_at);
                removed += 1;
            }
            if bucket.get().is_empty() {
                bucket.remove();
            }
        }
        removed
    }

    /// Removes the `count` entries closest to expiry (oldest first), to stay within
    /// `max_entries`.
    fn evict_locked(&self, expiry: &mut ExpiryQueue, count: usize) {
        for _ in 0..count {
            let Some(mut bucket) = expiry.first_entry() else {
                return;
            };
            if let Some((id, issued_at)) = bucket.get_mut().pop_front() {
                self.remove(&id, issued_at);
            }
            if bucket.get().is_empty() {
                bucket.remove();
            }
        }
    }

    /// Forgets one nonce, first raising the watermark past its issue time so a later use
    /// is answered [`NcCheck::Forgotten`], never [`NcCheck::Accepted`].
    fn remove(&self, id: &NonceId, issued_at: u64) {
        self.forgotten_through
            .fetch_max(issued_at, Ordering::AcqRel);
        if self.windows.remove(id).is_some() {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        MemoryNonceStore::new()
    }
}

impl fmt::Debug for MemoryNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNonceStore")
            .field("len", &self.len())
            .field("max_entries", &self.inner.max_entries)
            .finish_non_exhaustive()
    }
}

impl NonceStore for MemoryNonceStore {
    type Error = Infallible;

    fn epoch(&self) -> NonceEpoch {
        self.inner.epoch
    }

    async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, Infallible> {
        Ok(self.record(use_))
    }

    async fn end_login(&self, login: NonceUse) -> Result<bool, Infallible> {
        self.inner.end_login(&login);
        Ok(true)
    }

    async fn end_all_logins(&self, account: AccountKey) -> Result<bool, Infallible> {
        self.inner.end_all_logins(account);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    const LIFETIME: Duration = Duration::from_secs(1800);

    fn id(n: u32) -> NonceId {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        bytes[8..12].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_le_bytes());
        NonceId(bytes)
    }

    fn use_at(id: NonceId, nc: u64, issued_at: SystemTime, now: SystemTime) -> NonceUse {
        NonceUse {
            id,
            nc,
            issued_at,
            expires_at: issued_at + LIFETIME,
            now,
            epoch: NonceEpoch::UNKNOWN,
            account: None,
        }
    }

    #[test]
    fn each_nc_is_accepted_once() {
        let store = MemoryNonceStore::new();
        let t = SystemTime::now();
        assert_eq!(store.record(use_at(id(1), 1, t, t)), NcCheck::Accepted);
        assert_eq!(store.record(use_at(id(1), 1, t, t)), NcCheck::Replayed);
        assert_eq!(store.record(use_at(id(1), 2, t, t)), NcCheck::Accepted);
        assert_eq!(store.record(use_at(id(2), 1, t, t)), NcCheck::Accepted);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn expired_entries_are_swept_and_stay_refused() {
        let store = MemoryNonceStore::new();
        let start = SystemTime::now();
        for n in 0..100 {
            store.record(use_at(id(n), 1, start, start));
        }
        assert_eq!(store.len(), 100);
        let later = start + LIFETIME + Duration::from_secs(2);
        // New entries sweep the old ones in small steps ...
        store.record(use_at(id(1000), 1, later, later));
        assert_eq!(store.len(), 101 - SWEEP_PER_INSERT);
        // ... and a full sweep frees the rest.
        store.sweep_expired(later);
        assert_eq!(store.len(), 1);
        // A swept nonce must not come back as fresh.
        assert_eq!(
            store.record(use_at(id(5), 1, start, later)),
            NcCheck::Forgotten
        );
    }

    #[test]
    fn a_full_store_evicts_but_never_reopens_a_replay() {
        let store = MemoryNonceStore::with_max_entries(10);
        let start = SystemTime::now();
        for n in 0..25u32 {
            let issued = start + Duration::from_secs(u64::from(n));
            assert_eq!(
                store.record(use_at(id(n), 1, issued, issued)),
                NcCheck::Accepted
            );
            assert!(store.len() <= 10);
        }
        let now = start + Duration::from_secs(30);
        for n in 0..25u32 {
            let issued = start + Duration::from_secs(u64::from(n));
            let again = store.record(use_at(id(n), 1, issued, now));
            assert!(
                matches!(again, NcCheck::Replayed | NcCheck::Forgotten),
                "nonce {n} replayed after eviction was {again:?}"
            );
        }
    }

    #[test]
    fn evictions_racing_a_first_use_never_accept_it_twice() {
        let t = SystemTime::now();
        for round in 0..500u32 {
            let store = MemoryNonceStore::with_max_entries(1);
            let target = id(round);
            let accepted: usize = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..3)
                    .map(|_| scope.spawn(|| store.record(use_at(target, 1, t, t))))
                    .collect();
                for other in 0..3 {
                    let store = &store;
                    scope.spawn(move || store.record(use_at(id(1_000_000 + other), 1, t, t)));
                }
                racers
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap() == NcCheck::Accepted))
                    .sum()
            });
            assert!(accepted <= 1, "round {round}: accepted {accepted} times");
        }
    }

    #[test]
    fn each_store_has_its_own_epoch_and_clones_share_it() {
        // Two processes sharing a nonce key each have their own store: neither may take
        // the other's nonces for ones it knows.
        let store = MemoryNonceStore::new();
        assert_eq!(store.epoch(), store.clone().epoch());
        assert_ne!(store.epoch(), MemoryNonceStore::new().epoch());
    }

    #[test]
    fn the_store_reads_time_only_from_the_uses_it_is_given() {
        // A layer clock far behind the system clock (NTP stepped back, a test clock)
        // must not make the store forget the nonces that clock stamps.
        let store = MemoryNonceStore::new();
        let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            store.record(use_at(id(1), 1, long_ago, long_ago)),
            NcCheck::Accepted
        );
        assert_eq!(
            store.record(use_at(id(1), 2, long_ago, long_ago)),
            NcCheck::Accepted
        );
    }

    #[test]
    fn racing_first_uses_accept_exactly_one() {
        let store = MemoryNonceStore::new();
        let t = SystemTime::now();
        for round in 0..200 {
            let accepted: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| store.record(use_at(id(round), 1, t, t))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap() == NcCheck::Accepted))
                    .sum()
            });
            assert_eq!(accepted, 1, "round {round}");
        }
    }
}
