//! The rules for one key: [`FailureLimit`] says how many failures lock it and for how
//! long, [`FailureRecord`] applies that to the failures it has seen.

use std::time::{Duration, SystemTime};

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
/// use tower_digest_auth::throttle::FailureLimit;
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

/// The failures of one key and its lock: the rules of [`FailureLimit`] as a small value,
/// for stores to keep per key.
///
/// Times are whole Unix seconds. A record past [`expires_at`](Self::expires_at) means
/// nothing any more: a store may drop it then (a shared store sets it as the TTL).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_digest_auth::throttle::{FailureLimit, FailureRecord};
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
    /// Attempts admitted and not settled yet.
    pending: u32,
    /// When `pending` is void: reservations whose request never settled (a crashed
    /// instance) free their room this long after the last one was made.
    pending_until: u64,
}

/// How long a reservation holds its room at most, in seconds: far longer than any
/// request takes to check, and short enough that reservations left by a crashed
/// instance (a shared store) free their room soon.
pub(crate) const RESERVATION_SECS: u64 = 60;

/// The answer to [`FailureStore::reserve`](super::FailureStore::reserve) (and
/// [`FailureRecord::reserve`]): whether one more attempt may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt counts against the limits from now on, until it is settled.
    Admitted,
    /// Locked, or every attempt the limit still allows is already being checked: try
    /// again after this long (at least a second).
    Refused(Duration),
}

impl FailureRecord {
    /// Admits one attempt if the key is not locked and the failures counted plus the
    /// attempts still being checked stay below the limit; after a lock has ended, one
    /// attempt at a time (its failure locks again). The admitted attempt holds its room
    /// until [`release`](Self::release), or a minute at most (for a request that never
    /// settles: a crashed instance of a shared store).
    ///
    /// So however long each check takes, no more than `max_failures` attempts are ever
    /// checked toward one lock.
    pub fn reserve(&mut self, limit: &FailureLimit, now: SystemTime) -> Admission {
        let now = unix_secs(now);
        self.forget_stale(now);
        if now < self.locked_until {
            return Admission::Refused(Duration::from_secs(self.locked_until - now));
        }
        let room = if self.strikes > 0 {
            1
        } else {
            limit.max_failures.saturating_sub(self.failures)
        };
        if self.pending >= room {
            return Admission::Refused(Duration::from_secs(1));
        }
        self.pending += 1;
        self.pending_until = now.saturating_add(RESERVATION_SECS);
        Admission::Admitted
    }

    /// Gives back the room of one admitted attempt, whatever its outcome.
    pub fn release(&mut self) {
        self.pending = self.pending.saturating_sub(1);
    }

    /// A login succeeded: forgets the failures and locks, keeping the attempts other
    /// requests are still checking.
    pub fn record_success(&mut self) {
        *self = FailureRecord {
            pending: self.pending,
            pending_until: self.pending_until,
            ..FailureRecord::default()
        };
    }

    /// Drops what ran out: the count and locks after a quiet window, reservations after
    /// [`RESERVATION_SECS`].
    fn forget_stale(&mut self, now: u64) {
        if now >= self.pending_until {
            self.pending = 0;
        }
        if now >= self.expires_at {
            self.failures = 0;
            self.strikes = 0;
            self.locked_until = 0;
        }
    }

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
                pending: self.pending,
                pending_until: self.pending_until,
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
        let now = unix_secs(now);
        now >= self.expires_at && (self.pending == 0 || now >= self.pending_until)
    }

    /// When the record runs out: its window or lock, and its reservations, are over.
    pub fn expires_at(&self) -> SystemTime {
        let reserved = if self.pending > 0 {
            self.pending_until
        } else {
            0
        };
        from_unix_secs(self.expires_at.max(reserved))
    }

    /// The order in which a full store gives records up, least valuable first: unlocked
    /// before locked, then fewer past locks, then fewer failures, then the lock that
    /// ends first.
    pub(super) fn eviction_rank(&self, now: SystemTime) -> (bool, u32, u32, u64) {
        let locked = self.locked_for(now).is_some();
        // Attempts being checked weigh like failures: evicting them would let more in.
        let weight = self.failures.saturating_add(self.pending);
        (locked, self.strikes, weight, self.locked_until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        from_unix_secs(T0 + secs)
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
    fn a_record_admits_no_more_attempts_in_flight_than_its_limit_leaves() {
        let limit = FailureLimit::new(3, Duration::from_secs(600));
        let mut record = FailureRecord::default();
        record.record_failure(&limit, at(0));
        // Two failures left: two attempts in flight, not three.
        assert_eq!(record.reserve(&limit, at(0)), Admission::Admitted);
        assert_eq!(record.reserve(&limit, at(0)), Admission::Admitted);
        let full = Admission::Refused(Duration::from_secs(1));
        assert_eq!(record.reserve(&limit, at(0)), full);
        record.release();
        assert_eq!(record.reserve(&limit, at(1)), Admission::Admitted);
        // Locked: refused for the rest of the lock, whatever is in flight.
        record.release();
        record.release();
        record.record_failure(&limit, at(2));
        record.record_failure(&limit, at(2));
        assert_eq!(
            record.reserve(&limit, at(12)),
            Admission::Refused(Duration::from_secs(50))
        );
        // After the lock, one at a time: the next failure locks again.
        record.release();
        assert_eq!(record.reserve(&limit, at(62)), Admission::Admitted);
        assert_eq!(record.reserve(&limit, at(62)), full);
    }

    #[test]
    fn a_reservation_keeps_its_record_alive_for_a_minute_at_most() {
        let limit = FailureLimit::new(1, Duration::from_secs(10));
        let mut record = FailureRecord::default();
        assert_eq!(record.reserve(&limit, at(0)), Admission::Admitted);
        assert!(
            !record.is_expired(at(59)),
            "held while the attempt is checked"
        );
        assert_eq!(record.expires_at(), at(60));
        assert_eq!(
            record.reserve(&limit, at(59)),
            Admission::Refused(Duration::from_secs(1))
        );
        // Never settled (its instance died): the room is back after a minute.
        assert!(record.is_expired(at(60)));
        assert_eq!(record.reserve(&limit, at(60)), Admission::Admitted);
        // A success keeps the attempts in flight and forgets the failures.
        record.record_failure(&limit, at(61));
        record.record_success();
        assert_eq!(record.locked_for(at(61)), None);
        assert_eq!(
            record.reserve(&limit, at(61)),
            Admission::Refused(Duration::from_secs(1))
        );
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
}
