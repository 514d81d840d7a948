//! The default [`FailureStore`]: a sharded map in this process's memory, bounded.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{
    Admission, AttemptOutcome, FailureKey, FailureLimit, FailureRecord, FailureStore, NewLocks,
    ThrottleConfig,
};

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
/// Every key with a recent failure, or an attempt being checked, costs one entry of about
/// 120 bytes. Entries are looked at a few at a time as new keys arrive, in a ring: those
/// past their window are dropped ([`sweep_expired`](Self::sweep_expired) drops the rest,
/// for a timer). At [`max_entries`](Self::with_max_entries) a new key makes room among the
/// next 64 entries in the ring, least valuable first: run-out entries, else unlocked ones
/// with the fewest failures and attempts in flight, and a locked entry only when all 64
/// are locked (the one whose lock ends first). So a flood of cheap one-failure keys never
/// evicts a lock or a count close to its limit; resetting one lock by eviction takes a
/// store full of locks, each of which cost its own `max_failures` failures.
///
/// Usernames are kept as 64-bit hashes under a random per-store key, so an entry has a
/// fixed size whatever the username. Clones share the same entries.
///
/// ```
/// use tower_digest_auth::throttle::MemoryFailureStore;
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
    /// The ring's length as of its last release: zero lets checks and successes (every
    /// authenticated request asks both) skip the username hash and the map lookups while
    /// nobody has failed, the usual case. Written only under the ring's lock.
    live: AtomicUsize,
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
                live: AtomicUsize::new(0),
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
            let mut ring = self.inner.lock_ring();
            self.inner.sweep_locked(&mut ring, now, batch);
            self.inner.publish_len(&ring);
            left -= batch;
        }
    }

    fn slots(&self, key: FailureKey<'_>) -> (Slot, Slot) {
        let address = match key.address() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let user = self.inner.usernames.hash_one(key.username().as_bytes());
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
        if self.inner.is_empty() {
            return None;
        }
        let (user, address) = self.slots(key);
        let locked = |slot| {
            self.inner
                .records
                .get(&slot)
                .and_then(|record| record.locked_for(now))
        };
        locked(user).max(locked(address))
    }

    /// [`FailureStore::reserve`], synchronously: the user's key first, then the
    /// address's, giving the first back if the second refuses.
    pub(crate) fn reserve_now(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Admission {
        let (user, address) = self.slots(key);
        let per_user = limits.address_and_user_limit();
        if let refused @ Admission::Refused(_) = self
            .inner
            .update(user, now, |record| record.reserve(&per_user, now))
        {
            return refused;
        }
        let per_address = limits.address_limit();
        let admission = self
            .inner
            .update(address, now, |record| record.reserve(&per_address, now));
        if admission != Admission::Admitted {
            self.inner.modify(user, FailureRecord::release);
        }
        admission
    }

    /// [`FailureStore::settle`], synchronously.
    pub(crate) fn settle_now(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> NewLocks {
        let (user, address) = self.slots(key);
        match outcome {
            AttemptOutcome::Failed => {
                let fail = |slot, limit: FailureLimit| {
                    self.inner.update(slot, now, |record| {
                        record.release();
                        record.record_failure(&limit, now)
                    })
                };
                NewLocks {
                    address_and_user: fail(user, limits.address_and_user_limit()),
                    address: fail(address, limits.address_limit()),
                }
            }
            AttemptOutcome::Succeeded => {
                self.inner.modify(user, |record| {
                    record.release();
                    record.record_success();
                });
                self.inner.modify(address, FailureRecord::release);
                NewLocks::default()
            }
            AttemptOutcome::Void => {
                self.inner.modify(user, FailureRecord::release);
                self.inner.modify(address, FailureRecord::release);
                NewLocks::default()
            }
        }
    }

    /// Counts a failure with no reservation (the older tests' shorthand).
    #[cfg(test)]
    fn fail_now(&self, key: FailureKey<'_>, limits: &ThrottleConfig, now: SystemTime) -> NewLocks {
        let (user, address) = self.slots(key);
        let per_user = limits.address_and_user_limit();
        let per_address = limits.address_limit();
        NewLocks {
            address_and_user: self
                .inner
                .update(user, now, |r| r.record_failure(&per_user, now)),
            address: self
                .inner
                .update(address, now, |r| r.record_failure(&per_address, now)),
        }
    }

    #[cfg(test)]
    fn succeed_now(&self, key: FailureKey<'_>) {
        let (user, _) = self.slots(key);
        self.inner.modify(user, FailureRecord::record_success);
    }
}

impl Inner {
    fn lock_ring(&self) -> MutexGuard<'_, VecDeque<Slot>> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the store held no entry when its ring was last released. A failure being
    /// recorded at this very moment may be missed: it is concurrent with the request
    /// that asks, and counts from the next one on.
    fn is_empty(&self) -> bool {
        self.live.load(Ordering::Acquire) == 0
    }

    /// Publishes the ring's length; call before releasing the ring's lock.
    fn publish_len(&self, ring: &VecDeque<Slot>) {
        self.live.store(ring.len(), Ordering::Release);
    }

    /// Applies `change` to the slot's record, made now if there is none.
    fn update<R>(
        &self,
        slot: Slot,
        now: SystemTime,
        change: impl FnOnce(&mut FailureRecord) -> R,
    ) -> R {
        if let Some(mut record) = self.records.get_mut(&slot) {
            return change(&mut record);
        }
        let mut ring = self.lock_ring();
        // Eviction looks at entries too, and drops those that ran out: one scan, not two.
        if ring.len() >= self.max_entries {
            self.evict_locked(&mut ring, now);
        } else {
            self.sweep_locked(&mut ring, now, SWEEP_PER_INSERT);
        }
        let result = match self.records.entry(slot) {
            // Another request with the same key got here first.
            Entry::Occupied(mut record) => change(record.get_mut()),
            Entry::Vacant(vacant) => {
                let mut record = FailureRecord::default();
                let result = change(&mut record);
                vacant.insert(record);
                ring.push_back(slot);
                result
            }
        };
        self.publish_len(&ring);
        result
    }

    /// Applies `change` to the slot's record if there is one (a record that ran out and
    /// was swept has nothing to give back). Never inserts: removals and inserts belong
    /// to the ring's lock, and a change in place is swept later if it empties the record.
    fn modify(&self, slot: Slot, change: impl FnOnce(&mut FailureRecord)) {
        if self.is_empty() {
            return;
        }
        if let Some(mut record) = self.records.get_mut(&slot) {
            change(&mut record);
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

    fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<Admission, Infallible>> + Send {
        std::future::ready(Ok(self.reserve_now(key, limits, now)))
    }

    fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Infallible>> + Send {
        std::future::ready(Ok(self.settle_now(key, outcome, limits, now)))
    }

    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Infallible>> + Send {
        std::future::ready(Ok(self.lock_now(key, now)))
    }
}

#[cfg(test)]
mod tests;
