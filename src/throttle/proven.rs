//! Nonces this process has already accepted a correct answer to, per account.
//!
//! The throttle reserves room for every attempt before its password is checked, so that
//! guesses sent in parallel cannot all be checked. A logged-in client sending many
//! requests at once on its nonce (a browser, an API client with a connection pool) would
//! then fill that room with honest requests whenever the stores are slow, and get 429s.
//! An answer to a nonce that this process has already accepted for the same account
//! skips the reservation: its client has shown it knows the password. A wrong password
//! on such a nonce still counts as a failure.
//!
//! What it gives away: whoever can send an answer to an accepted nonce of the victim's,
//! from the victim's address, has seen one of the victim's requests, and a seen request
//! (nonce, cnonce and response) can be tested against a password list offline, throttle
//! or not.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::SystemTime;

use dashmap::DashMap;

use crate::clock::unix_secs;
use crate::random_key::RandomKeys;

/// Entries kept at most; past it, expired entries go, and if none had, all of them (a
/// forgotten nonce only takes the reservation again).
const MAX_ENTRIES: usize = 16_384;

/// `hash(nonce, account)` → the Unix second the entry stops counting. Keys are hashed
/// with a per-process random key, so no client can aim a collision; a collision would
/// only let one answer skip the reservation.
pub(crate) struct ProvenNonces {
    hasher: RandomState,
    /// Keyed hashes already ([`ProvenNonces::key`]), so they are their own hash.
    entries: DashMap<u64, u64, RandomKeys>,
}

impl ProvenNonces {
    pub(crate) fn new() -> Self {
        ProvenNonces {
            hasher: RandomState::new(),
            entries: DashMap::default(),
        }
    }

    fn key(&self, nonce: &[u8], account: &str) -> u64 {
        self.hasher.hash_one((nonce, account))
    }

    /// Whether a correct answer to `nonce` for `account` was accepted and the entry has
    /// not run out.
    pub(crate) fn contains(&self, nonce: &[u8], account: &str, now: SystemTime) -> bool {
        let now = unix_secs(now);
        self.entries
            .get(&self.key(nonce, account))
            .is_some_and(|expires| now < *expires)
    }

    /// Remembers an accepted answer to `nonce` for `account` for `lifetime_secs`.
    pub(crate) fn insert(&self, nonce: &[u8], account: &str, lifetime_secs: u64, now: SystemTime) {
        let now = unix_secs(now);
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, expires| now < *expires);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries
            .insert(self.key(nonce, account), now.saturating_add(lifetime_secs));
    }
}

impl Default for ProvenNonces {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn an_entry_holds_for_its_nonce_and_account_until_it_runs_out() {
        let proven = ProvenNonces::new();
        proven.insert(b"nonce", "alice", 60, at(1000));
        assert!(proven.contains(b"nonce", "alice", at(1059)));
        assert!(!proven.contains(b"nonce", "alice", at(1060)));
        assert!(!proven.contains(b"nonce", "bob", at(1000)));
        assert!(!proven.contains(b"other", "alice", at(1000)));
    }

    #[test]
    fn the_map_stays_bounded() {
        let proven = ProvenNonces::new();
        for n in 0..MAX_ENTRIES + 10 {
            proven.insert(&n.to_le_bytes(), "alice", 60, at(1000));
        }
        assert!(proven.entries.len() <= MAX_ENTRIES);
    }
}
