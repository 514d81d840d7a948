//! Throttling of failed logins: the limits ([`ThrottleConfig`]), the rules per key
//! ([`FailureRecord`]), where counts live ([`FailureStore`], [`MemoryFailureStore`]), and
//! the layer's handle on them ([`Throttle`]). The service asks it three things: is this
//! address (and user) locked, count this failure, forget this user's failures.

mod memory;
mod record;

pub use memory::MemoryFailureStore;
pub use record::{FailureLimit, FailureRecord};

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
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

/// Where failed logins are counted; [`MemoryFailureStore`] by default.
///
/// Each method takes one whole event, under both keys of a [`FailureKey`] (the address
/// with the username, and the address alone), so a shared store can answer each with one
/// round trip. The methods are async for that: a Redis-backed store (not in this crate
/// yet) would keep one [`FailureRecord`] per key with its
/// [`expires_at`](FailureRecord::expires_at) as the TTL, and apply
/// [`FailureRecord::record_failure`]'s rules to both keys atomically in a server-side
/// script, so instances behind one load balancer count together. Times come from the layer's clock: a store should not read its own.
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
/// (no allocation per request); any other store through a boxed future. Clones share
/// the store.
#[derive(Clone)]
pub(crate) struct Throttle {
    limits: ThrottleConfig,
    store: Backend,
}

#[derive(Clone)]
enum Backend {
    Memory(MemoryFailureStore),
    Other(std::sync::Arc<dyn ErasedStore>),
}

impl Throttle {
    pub(crate) fn new<T: FailureStore>(limits: ThrottleConfig, store: T) -> Self {
        let any: &dyn std::any::Any = &store;
        let store = match any.downcast_ref::<MemoryFailureStore>() {
            Some(memory) => Backend::Memory(memory.clone()),
            None => Backend::Other(std::sync::Arc::new(store)),
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
