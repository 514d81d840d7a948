//! The default [`NonceStore`]: a sharded map in this process's memory.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{NcCheck, NcWindow, NonceId, NonceStore, NonceUse};
use crate::clock::unix_secs;

/// How many expired entries one new entry sweeps at most: more than one, so sweeping
/// outpaces growth, and few, so no request waits on a long scan.
const SWEEP_PER_INSERT: usize = 8;

/// A [`NonceStore`] in memory: the default, for a single instance.
///
/// Each nonce that has verified at least once costs one small entry until it expires.
/// Expired entries are swept a few at a time as new ones arrive, and
/// [`sweep_expired`](MemoryNonceStore::sweep_expired) frees the rest at once. When the
/// store holds `capacity` entries, adding one evicts those closest to expiry, and any
/// nonce issued no later than an evicted one is then answered with
/// [`NcCheck::Forgotten`] (the client gets `stale=true` and retries), never accepted as
/// fresh: a bound on memory never reopens a replay.
///
/// Clones share the same entries.
///
/// ```
/// use tower_digest_auth::MemoryNonceStore;
///
/// let store = MemoryNonceStore::with_capacity(100_000);
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryNonceStore {
    inner: Arc<Inner>,
}

type ExpiryQueue = BTreeMap<u64, Vec<(NonceId, u64)>>;

struct Inner {
    windows: DashMap<NonceId, NcWindow, BuildHasherDefault<IdHasher>>,
    /// Nonce ids (with their issue times) by expiry second, oldest first: the sweep and
    /// eviction order.
    expiry: Mutex<ExpiryQueue>,
    len: AtomicUsize,
    capacity: usize,
    /// Issue time (Unix seconds) of the newest nonce ever removed; a nonce issued no later
    /// than this that is not in the map may have been used before.
    forgotten_through: AtomicU64,
}

impl MemoryNonceStore {
    /// The default capacity: a million live nonces (about 100 MiB at most).
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// A store holding up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) nonces.
    pub fn new() -> Self {
        MemoryNonceStore::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A store holding up to `capacity` nonces (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryNonceStore {
            inner: Arc::new(Inner {
                windows: DashMap::default(),
                expiry: Mutex::new(BTreeMap::new()),
                len: AtomicUsize::new(0),
                capacity: capacity.max(1),
                forgotten_through: AtomicU64::new(0),
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

    /// Removes every entry that expired before `now`. New entries already sweep a few
    /// expired ones each; call this from a timer to give memory back while idle.
    pub fn sweep_expired(&self, now: std::time::SystemTime) {
        self.inner.sweep(unix_secs(now), usize::MAX);
    }

    fn record(&self, use_: NonceUse) -> NcCheck {
        let inner = &*self.inner;
        if let Some(mut entry) = inner.windows.get_mut(&use_.id) {
            return entry.record(use_.nc);
        }
        let issued_at = unix_secs(use_.issued_at);
        if issued_at <= inner.forgotten_through.load(Ordering::Acquire) {
            return NcCheck::Forgotten;
        }
        match inner.windows.entry(use_.id) {
            // Another request with the same nonce got here first.
            Entry::Occupied(mut entry) => return entry.get_mut().record(use_.nc),
            Entry::Vacant(entry) => {
                entry.insert(NcWindow::first(use_.nc));
            }
        }
        let now = unix_secs(use_.now);
        let len = inner.len.fetch_add(1, Ordering::AcqRel) + 1;
        let mut expiry = inner.lock_expiry();
        expiry
            .entry(unix_secs(use_.expires_at))
            .or_default()
            .push((use_.id, issued_at));
        inner.sweep_locked(&mut expiry, now, SWEEP_PER_INSERT);
        if len > inner.capacity {
            inner.evict_locked(&mut expiry, len - inner.capacity);
        }
        NcCheck::Accepted
    }
}

impl Inner {
    fn lock_expiry(&self) -> std::sync::MutexGuard<'_, ExpiryQueue> {
        self.expiry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sweep(&self, now: u64, limit: usize) {
        let mut expiry = self.lock_expiry();
        self.sweep_locked(&mut expiry, now, limit);
    }

    /// Removes up to `limit` entries that expired before `now`.
    fn sweep_locked(&self, expiry: &mut ExpiryQueue, now: u64, limit: usize) {
        let mut removed = 0;
        while removed < limit {
            let Some(mut bucket) = expiry.first_entry() else {
                return;
            };
            if *bucket.key() >= now {
                return;
            }
            while removed < limit {
                let Some((id, issued_at)) = bucket.get_mut().pop() else {
                    break;
                };
                self.remove(&id, issued_at);
                removed += 1;
            }
            if bucket.get().is_empty() {
                bucket.remove();
            }
        }
    }

    /// Removes the `count` entries closest to expiry, to respect the capacity.
    fn evict_locked(&self, expiry: &mut ExpiryQueue, count: usize) {
        for _ in 0..count {
            let Some(mut bucket) = expiry.first_entry() else {
                return;
            };
            if let Some((id, issued_at)) = bucket.get_mut().pop() {
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
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl NonceStore for MemoryNonceStore {
    type Error = Infallible;

    async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, Infallible> {
        Ok(self.record(use_))
    }
}

/// Nonce ids are HMAC output that only the key holder can produce, so their first
/// eight bytes are already a uniformly distributed hash; `SipHash` would add nothing.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
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
        let store = MemoryNonceStore::with_capacity(10);
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
