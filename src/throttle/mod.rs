//! Throttling of failed logins: the limits ([`ThrottleConfig`], set with
//! [`DigestLayerBuilder::throttle`](crate::DigestLayerBuilder::throttle)), the rules per
//! key ([`FailureRecord`]), and where counts live ([`FailureStore`]:
//! [`MemoryFailureStore`] by default, `RedisFailureStore` with the `redis` feature, to
//! count across instances).
//!
//! ```
//! use std::time::Duration;
//! use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
//! use tower_digest_auth::{DigestLayer, MemoryCredentials};
//!
//! // At most 5 wrong passwords per address and user in an hour.
//! let limits =
//!     ThrottleConfig::default().per_address_and_user(FailureLimit::new(5, Duration::from_secs(3600)));
//! let users = MemoryCredentials::new("api@example.org", [("alice", "secret")]);
//! let layer = DigestLayer::builder("api@example.org", users).throttle(limits).build()?;
//! # let _ = layer;
//! # Ok::<(), tower_digest_auth::ConfigError>(())
//! ```
//!
#![doc = include_str!("../docs/throttling.md")]

// The layer's handle on the store (`Throttle`, whose `Reservation` settles every admitted
// attempt, even a dropped one) lives in `handle.rs`. The service asks it: admit this
// attempt (or say how long to wait), then how it ended; and anyone may ask whether a key
// is locked right now.

mod handle;
mod memory;
mod proven;
mod record;
#[cfg(feature = "redis")]
mod redis;

pub(crate) use handle::{Reservation, StoreError, Throttle};
pub use memory::MemoryFailureStore;
pub use record::{Admission, FailureLimit, FailureRecord};
#[cfg(feature = "redis")]
pub use redis::{RedisFailureStore, RedisFailureStoreBuilder, RedisThrottleError};

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
/// whole. The username is the account the credential store resolved (a `userhash` answer
/// is mapped back first), so every spelling of one account shares one budget. An attempt
/// counts from the moment it is admitted, before its password is checked, so parallel
/// guesses never get more checks than the limit, however slow the credential store.
/// Once a key is over its limit, or as many of its attempts as the limit allows are being
/// checked, the layer answers `429 Too Many Requests` with `Retry-After` right after
/// parsing the header: before the nonce MAC, the credential lookup and any password
/// hashing. A lock of one address and user locks neither the
/// other users on that address nor that user on other addresses. Locks grow while
/// failures continue (see [`FailureLimit`]); a success clears the address-and-user count.
///
/// The defaults lie far beyond what a person mistyping a password reaches, and far below
/// what guessing needs:
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
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
/// use tower_digest_auth::throttle::FailureKey;
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
///
/// A [`FailureStore`] builds it with [`NewLocks::new`] (or `NewLocks::default()`, no new
/// lock): it is `#[non_exhaustive]`, so a kind of lock added later is not a breaking
/// change for stores.
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::throttle::NewLocks;
///
/// let locks = NewLocks::new(Some(Duration::from_secs(60)), None);
/// assert_eq!(locks.address_and_user, Some(Duration::from_secs(60)));
/// assert_eq!(locks.address, None);
/// assert_eq!(NewLocks::default(), NewLocks::new(None, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewLocks {
    /// A lock of the address and username, and how long it lasts.
    pub address_and_user: Option<Duration>,
    /// A lock of the whole address, and how long it lasts.
    pub address: Option<Duration>,
}

impl NewLocks {
    /// The locks started on the address-and-username key and on the address key.
    pub const fn new(address_and_user: Option<Duration>, address: Option<Duration>) -> Self {
        NewLocks {
            address_and_user,
            address,
        }
    }
}

/// How an admitted attempt ended, for [`FailureStore::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The password was right: the address-and-user key starts over (the address key
    /// keeps its count, so one good account cannot clear a spray).
    Succeeded,
    /// A wrong password or an unknown user: one failure under both keys.
    Failed,
    /// Nothing was learnt about the password (a stale or foreign nonce, a replay, a 400,
    /// a store failure, a request dropped half-way): the attempt only gives its room back.
    Void,
}

/// Where failed logins are counted; [`MemoryFailureStore`] by default, or
/// `RedisFailureStore` (feature `redis`) for instances that count together.
///
/// An attempt counts against the limits from the moment it is admitted, not when its
/// password check ends: [`reserve`](Self::reserve) admits it (or refuses it, the client
/// gets a 429), and [`settle`](Self::settle) later turns the reservation into a failure,
/// a success or nothing. So however slow the credential store, parallel guesses never
/// get more checks than the limit allows. A reservation never settled (an instance that
/// crashed) holds its room for a minute at most: a shared store keeps that as a TTL.
///
/// Each method takes one whole event, under both keys of a [`FailureKey`] (the address
/// with the username, and the address alone), so a shared store can answer each with one
/// round trip, atomically. Times come from the layer's clock: a store should not read its
/// own. A store that fails answers `Err`, and the request gets a 500 (never a 200).
/// [`FailureRecord`] holds the rules for one key; a store keeps one per key.
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
/// use tower_digest_auth::throttle::{
///     Admission, AttemptOutcome, FailureKey, FailureRecord, FailureStore, NewLocks, ThrottleConfig,
/// };
///
/// #[derive(Default)]
/// struct Simple(Mutex<HashMap<(IpAddr, Option<String>), FailureRecord>>);
///
/// fn keys(key: FailureKey<'_>) -> [(IpAddr, Option<String>); 2] {
///     [(key.address(), Some(key.username().to_owned())), (key.address(), None)]
/// }
///
/// impl FailureStore for Simple {
///     type Error = Infallible;
///
///     async fn reserve(&self, key: FailureKey<'_>, limits: &ThrottleConfig, now: SystemTime)
///         -> Result<Admission, Infallible>
///     {
///         let mut map = self.0.lock().unwrap();
///         let [user, address] = keys(key);
///         // Both keys or neither, under one lock.
///         let mut u = map.get(&user).copied().unwrap_or_default();
///         let mut a = map.get(&address).copied().unwrap_or_default();
///         let admission = match u.reserve(&limits.address_and_user_limit(), now) {
///             Admission::Admitted => a.reserve(&limits.address_limit(), now),
///             refused => return Ok(refused),
///         };
///         if admission == Admission::Admitted {
///             map.insert(user, u);
///             map.insert(address, a);
///         }
///         Ok(admission)
///     }
///
///     async fn settle(
///         &self,
///         key: FailureKey<'_>,
///         outcome: AttemptOutcome,
///         limits: &ThrottleConfig,
///         now: SystemTime,
///     ) -> Result<NewLocks, Infallible> {
///         let mut map = self.0.lock().unwrap();
///         let [user, address] = keys(key);
///         let mut locks = NewLocks::default();
///         let user = map.entry(user).or_default();
///         user.release();
///         match outcome {
///             AttemptOutcome::Succeeded => user.record_success(),
///             AttemptOutcome::Failed => {
///                 locks.address_and_user =
///                     user.record_failure(&limits.address_and_user_limit(), now);
///             }
///             AttemptOutcome::Void => {}
///         }
///         let address = map.entry(address).or_default();
///         address.release();
///         if outcome == AttemptOutcome::Failed {
///             locks.address = address.record_failure(&limits.address_limit(), now);
///         }
///         Ok(locks)
///     }
///
///     async fn lock(&self, key: FailureKey<'_>, now: SystemTime)
///         -> Result<Option<Duration>, Infallible>
///     {
///         let map = self.0.lock().unwrap();
///         let [user, address] = keys(key);
///         let locked = |k| map.get(&k).and_then(|r: &FailureRecord| r.locked_for(now));
///         Ok(locked(user).max(locked(address)))
///     }
/// }
///
/// # tokio_test(async {
/// let store = Simple::default();
/// let limits = ThrottleConfig::default(); // 10 per address and user
/// let key = FailureKey::new("192.0.2.1".parse().unwrap(), "alice");
/// let now = SystemTime::now();
/// // Ten attempts in flight at once: the eleventh is refused before any is settled.
/// for _ in 0..10 {
///     assert_eq!(store.reserve(key, &limits, now).await.unwrap(), Admission::Admitted);
/// }
/// assert!(matches!(store.reserve(key, &limits, now).await.unwrap(), Admission::Refused(_)));
/// for _ in 0..9 {
///     store.settle(key, AttemptOutcome::Failed, &limits, now).await.unwrap();
/// }
/// let locks = store.settle(key, AttemptOutcome::Failed, &limits, now).await.unwrap();
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

    /// Admits one attempt under both keys, each against its limit in `limits` (see
    /// [`FailureRecord::reserve`]), or refuses it if either key is locked or full; both
    /// keys or neither. Asked before the nonce MAC, the password check and any hashing.
    fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<Admission, Self::Error>> + Send;

    /// Ends an admitted attempt under both keys: gives its room back and counts what
    /// `outcome` says; returns the locks a failure started.
    fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Self::Error>> + Send;

    /// The longest remaining lock of the key's address-and-user or its address, if
    /// either is locked at `now`; changes nothing. For a cheap look before work that
    /// comes ahead of the attempt proper (reading a request body, say).
    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send;
}

impl<T: FailureStore> FailureStore for Arc<T> {
    type Error = T::Error;

    fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<Admission, Self::Error>> + Send {
        T::reserve(self, key, limits, now)
    }

    fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> impl Future<Output = Result<NewLocks, Self::Error>> + Send {
        T::settle(self, key, outcome, limits, now)
    }

    fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send {
        T::lock(self, key, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str, username: &'static str) -> FailureKey<'static> {
        FailureKey::new(address.parse().unwrap(), username)
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
}
