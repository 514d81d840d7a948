//! What a nonce store is told and answers: the contract every [`NonceStore`] keeps,
//! and the `nc` window they share so they agree on what a replay is.

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::AccountKey;
use super::{IssuedNonce, NonceEpoch, NonceId};
use crate::clock::from_unix_secs;

/// How long a nonce that expires at `expires_at` is still accepted at `now`: `None` once
/// `now` reaches `expires_at`. The one boundary of a nonce's life: the layer refuses a
/// nonce as stale by it, and a store that keeps records for a limited time derives how
/// long from it (the Redis store adds the tolerated clock skew).
pub(crate) fn remaining_life(expires_at: SystemTime, now: SystemTime) -> Option<Duration> {
    expires_at
        .duration_since(now)
        .ok()
        .filter(|remaining| !remaining.is_zero())
}

/// When a nonce issued at `issued_at` (Unix seconds, as the nonce carries it) with a
/// lifetime of `lifetime_secs` expires.
pub(crate) fn expiry(issued_at: u64, lifetime_secs: u64) -> SystemTime {
    from_unix_secs(issued_at.saturating_add(lifetime_secs))
}

/// One use of a verified nonce, as handed to a [`NonceStore`].
///
/// The layer builds these; a store only reads the fields. It may gain fields (so it is
/// `non_exhaustive`); a store's own tests and benchmarks build one with [`NonceUse::new`]:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_digest_auth::nonce::{NonceId, NonceUse};
///
/// let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let first = NonceUse::new(NonceId::from_bytes([7; 16]), 1, issued, Duration::from_secs(1800), issued);
/// assert_eq!(first.expires_at, issued + Duration::from_secs(1800));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NonceUse {
    /// Which nonce.
    pub id: NonceId,
    /// The client's request counter (`nc`), already parsed from hex.
    pub nc: u64,
    /// When the nonce was issued.
    pub issued_at: SystemTime,
    /// When the nonce expires; the store may forget it any time after this.
    pub expires_at: SystemTime,
    /// The current time, from the layer's clock (stores should not read their own, so
    /// tests can move time).
    pub now: SystemTime,
    /// The epoch the nonce carries (see [`NonceStore::epoch`]), for a store that checks it
    /// itself, atomically with its records (the Redis store).
    pub epoch: NonceEpoch,
    /// The account the answer authenticated (the layer sets it; `None` in a use made with
    /// [`NonceUse::new`] until [`for_account`](NonceUse::for_account)), for a store that
    /// ends all of an account's logins ([`NonceStore::end_all_logins`]).
    pub account: Option<AccountKey>,
}

impl NonceUse {
    /// Use number `nc` of nonce `id`, issued at `issued_at` and valid for `lifetime`, seen
    /// at `now` (by the layer's clock). A lifetime that overflows `SystemTime` expires in
    /// the far future instead (as the layer's own far-future times do). Its epoch is
    /// [`NonceEpoch::UNKNOWN`] until set with [`in_epoch`](NonceUse::in_epoch).
    pub fn new(
        id: NonceId,
        nc: u64,
        issued_at: SystemTime,
        lifetime: Duration,
        now: SystemTime,
    ) -> Self {
        NonceUse {
            id,
            nc,
            issued_at,
            expires_at: issued_at
                .checked_add(lifetime)
                .unwrap_or_else(|| from_unix_secs(u64::MAX)),
            now,
            epoch: NonceEpoch::UNKNOWN,
            account: None,
        }
    }

    /// The same use, answered by `account`.
    #[must_use]
    pub fn for_account(mut self, account: AccountKey) -> Self {
        self.account = Some(account);
        self
    }

    /// The same use, of a nonce that carries `epoch`.
    #[must_use]
    pub fn in_epoch(mut self, epoch: NonceEpoch) -> Self {
        self.epoch = epoch;
        self
    }

    /// How long the nonce is still accepted: `None` once it expired (the layer never hands
    /// such a use to a store). A store that keeps a record for a limited time must keep it
    /// at least this long.
    pub fn remaining_life(&self) -> Option<Duration> {
        remaining_life(self.expires_at, self.now)
    }

    pub(crate) fn of_issued(
        nonce: &IssuedNonce,
        nc: u64,
        lifetime_secs: u64,
        now: SystemTime,
    ) -> Self {
        NonceUse {
            id: nonce.id,
            nc,
            issued_at: from_unix_secs(nonce.issued_at),
            expires_at: expiry(nonce.issued_at, lifetime_secs),
            now,
            epoch: nonce.epoch,
            account: None,
        }
    }
}

/// What a [`NonceStore`] says about one `(nonce, nc)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NcCheck {
    /// First use of this `nc` with this nonce: the request may proceed.
    Accepted,
    /// This `nc` was already used with this nonce: a replay.
    Replayed,
    /// This `nc` is below the store's window for this nonce, so the store can no longer
    /// tell whether it was used: refused as a possible replay.
    BelowWindow,
    /// The store has no record of the nonce but may once have had one (it was evicted to
    /// respect a capacity bound). Accepting could let a replay through, so the client is
    /// told the nonce is stale and retries with a fresh one.
    Forgotten,
    /// The login this nonce carries was ended ([`NonceStore::end_login`], or
    /// [`NonceStore::end_all_logins`] for its account since its first use): refused
    /// without `stale`, so a browser asks its user again.
    Ended,
}

/// Remembers which `(nonce, nc)` pairs were used, so each is accepted once.
///
/// Only nonces whose response verified reach the store, so its size follows the number of
/// authenticated clients, not the number of requests. Implementations must make
/// [`record_use`](NonceStore::record_use) atomic: when the same pair arrives twice at
/// once, exactly one call may answer [`NcCheck::Accepted`]. Values of `nc` may arrive out
/// of order (browsers send requests in parallel), so a store keeps a window of at least
/// 64 values per nonce.
///
/// A complete (if unbounded) store, to show the contract; [`NcWindow`] does the counting
/// so every store agrees on what a replay is:
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use std::sync::Mutex;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
/// use tower_digest_auth::nonce::{NcCheck, NcWindow, NonceEpoch, NonceId, NonceStore, NonceUse};
///
/// struct MyStore {
///     windows: Mutex<HashMap<NonceId, NcWindow>>,
///     // Drawn when the store is made: nonces issued against another store (before a
///     // restart) are then answered stale by the layer instead of reaching this one.
///     epoch: NonceEpoch,
/// }
///
/// impl NonceStore for MyStore {
///     type Error = Infallible;
///
///     fn epoch(&self) -> NonceEpoch {
///         self.epoch
///     }
///
///     async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, Infallible> {
///         let mut windows = self.windows.lock().unwrap();
///         Ok(match windows.get_mut(&use_.id) {
///             Some(window) => window.record(use_.nc),
///             None => {
///                 windows.insert(use_.id, NcWindow::first(use_.nc));
///                 NcCheck::Accepted
///             }
///         })
///     }
/// }
///
/// let store = MyStore { windows: Mutex::default(), epoch: NonceEpoch::random() };
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
/// let layer = DigestLayer::builder(realm, users).nonce_store(store).build().unwrap();
/// # let _ = layer;
/// ```
pub trait NonceStore: Send + Sync + 'static {
    /// The store's own failure (a lost connection, say); the request gets a 500.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Names the replay state this store holds. The layer writes it into every nonce it
    /// issues (under the nonce MAC) and answers `stale=true`, without asking the store,
    /// for a genuine nonce that carries another epoch: that nonce was issued against
    /// state this store does not have (by a process before a restart, or by the old
    /// side of a blue/green deploy), so its past uses are unknown and accepting it could
    /// let a replay through.
    ///
    /// A store that lives in one process returns a random epoch drawn when it is created
    /// ([`NonceEpoch::random`]); a store shared by several processes returns the same
    /// epoch in each of them ([`NonceEpoch::from_label`] over what names the shared
    /// state), so they accept each other's nonces. Clones of one store share its epoch.
    ///
    /// The layer asks at every nonce it issues, so the epoch may change while the store
    /// runs: the Redis store's follows the generation marker kept in Redis, which changes
    /// when Redis loses its data.
    fn epoch(&self) -> NonceEpoch;

    /// Whether a nonce that carries `epoch` may reach [`record_use`](NonceStore::record_use);
    /// when not, the layer answers `stale=true` without asking the store. By default, an
    /// epoch equal to [`epoch`](NonceStore::epoch). A store that checks the epoch itself,
    /// atomically with its records ([`NonceUse::epoch`]), answers `true` and
    /// [`NcCheck::Forgotten`] from `record_use` for an epoch it does not hold.
    fn accepts_epoch(&self, epoch: NonceEpoch) -> bool {
        epoch == self.epoch()
    }

    /// Records one use and says whether it is allowed.
    fn record_use(
        &self,
        use_: NonceUse,
    ) -> impl Future<Output = Result<NcCheck, Self::Error>> + Send;

    /// Ends the login of nonce `login.id` (a logout): from now on every use of it, any
    /// `nc`, is [`NcCheck::Ended`], until it expires (`login.expires_at`). Returns whether
    /// the store can end logins: by default it cannot (`false`), and the layer answers the
    /// handler that asked with a 500 rather than pretend.
    fn end_login(&self, login: NonceUse) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let _ = login;
        std::future::ready(Ok(false))
    }

    /// Ends every login of `account` (after a password change, or for a disabled
    /// account): a nonce first used before this call is [`NcCheck::Ended`] from now on
    /// when `account` answers it ([`NonceUse::account`]); a login made after it works. A
    /// login counts from its nonce's first use. Returns whether the store can end logins
    /// (by default it cannot: `false`).
    ///
    /// Call it on the store given to the layer (a clone shares its state) wherever the
    /// account changes, or from a handler through
    /// [`AuthenticatedUser::end_all_logins`](crate::AuthenticatedUser::end_all_logins).
    fn end_all_logins(
        &self,
        account: AccountKey,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let _ = account;
        std::future::ready(Ok(false))
    }
}

impl<T: NonceStore> NonceStore for std::sync::Arc<T> {
    type Error = T::Error;

    fn epoch(&self) -> NonceEpoch {
        T::epoch(self)
    }

    fn accepts_epoch(&self, epoch: NonceEpoch) -> bool {
        T::accepts_epoch(self, epoch)
    }

    fn record_use(
        &self,
        use_: NonceUse,
    ) -> impl Future<Output = Result<NcCheck, Self::Error>> + Send {
        T::record_use(self, use_)
    }

    fn end_login(&self, login: NonceUse) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        T::end_login(self, login)
    }

    fn end_all_logins(
        &self,
        account: AccountKey,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        T::end_all_logins(self, account)
    }
}

/// The replay window for one nonce: the highest `nc` seen and a bitmap of the 64 values
/// at and below it. Shared by stores so they agree on what counts as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NcWindow {
    highest: u64,
    /// Bit `i` set: `highest - i` was used.
    seen: u64,
}

impl NcWindow {
    /// How many `nc` values below the highest one are remembered.
    pub const SIZE: u64 = 64;

    /// The window after the first use of a nonce, with `nc`.
    pub fn first(nc: u64) -> Self {
        NcWindow {
            highest: nc,
            seen: 1,
        }
    }

    /// Records `nc` and says whether it was new.
    pub fn record(&mut self, nc: u64) -> NcCheck {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.seen = if shift >= Self::SIZE {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = nc;
            return NcCheck::Accepted;
        }
        let below = self.highest - nc;
        if below >= Self::SIZE {
            return NcCheck::BelowWindow;
        }
        let bit = 1u64 << below;
        if self.seen & bit != 0 {
            NcCheck::Replayed
        } else {
            self.seen |= bit;
            NcCheck::Accepted
        }
    }

    /// The state as two integers, for stores that serialize it.
    pub fn to_parts(self) -> (u64, u64) {
        (self.highest, self.seen)
    }

    /// The inverse of [`to_parts`](NcWindow::to_parts).
    pub fn from_parts(highest: u64, seen: u64) -> Self {
        NcWindow { highest, seen }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_window_accepts_each_value_once_in_any_order() {
        let mut window = NcWindow::first(5);
        assert_eq!(window.record(5), NcCheck::Replayed);
        for nc in [3, 1, 4, 2] {
            assert_eq!(window.record(nc), NcCheck::Accepted, "nc {nc}");
            assert_eq!(window.record(nc), NcCheck::Replayed, "nc {nc}");
        }
        assert_eq!(window.record(100), NcCheck::Accepted);
        assert_eq!(window.record(100 - 63), NcCheck::Accepted);
        assert_eq!(window.record(100 - 64), NcCheck::BelowWindow);
        assert_eq!(window.record(5), NcCheck::BelowWindow);
        assert_eq!(window.record(1000), NcCheck::Accepted);
        assert_eq!(window.record(999), NcCheck::Accepted);
        assert_eq!(window.record(100), NcCheck::BelowWindow);
    }
}
