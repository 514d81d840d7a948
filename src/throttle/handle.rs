//! The layer's handle on its throttle: the limits and the store (its type erased), and
//! the [`Reservation`] every admitted attempt carries until it is settled.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::proven::ProvenNonces;
use super::{
    Admission, AttemptOutcome, FailureKey, FailureStore, MemoryFailureStore, NewLocks,
    ThrottleConfig,
};

/// A store's error, once the store's type is erased.
pub(crate) type StoreError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`FailureStore`] with its type erased, so the layer's type does not name the store.
trait ErasedStore: Send + Sync + 'static {
    fn reserve<'a>(
        &'a self,
        key: FailureKey<'a>,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Admission, StoreError>>;
    fn settle<'a>(
        &'a self,
        key: FailureKey<'a>,
        outcome: AttemptOutcome,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<NewLocks, StoreError>>;
    #[allow(dead_code)] // Through `Throttle::lock`.
    fn lock<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>>;
}

impl<T: FailureStore> ErasedStore for T {
    fn reserve<'a>(
        &'a self,
        key: FailureKey<'a>,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        Box::pin(async move {
            FailureStore::reserve(self, key, limits, now)
                .await
                .map_err(Into::into)
        })
    }

    fn settle<'a>(
        &'a self,
        key: FailureKey<'a>,
        outcome: AttemptOutcome,
        limits: &'a ThrottleConfig,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<NewLocks, StoreError>> {
        Box::pin(async move {
            FailureStore::settle(self, key, outcome, limits, now)
                .await
                .map_err(Into::into)
        })
    }

    fn lock<'a>(
        &'a self,
        key: FailureKey<'a>,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Duration>, StoreError>> {
        Box::pin(async move { FailureStore::lock(self, key, now).await.map_err(Into::into) })
    }
}

/// A layer's throttle: its limits and its store. The memory store is called directly
/// (no allocation per request); any other store through a boxed future. Clones share
/// the store.
#[derive(Clone)]
pub(crate) struct Throttle {
    limits: ThrottleConfig,
    store: Backend,
    /// Answers that skip the reservation (see [`ProvenNonces`]).
    proven: Arc<ProvenNonces>,
}

#[derive(Clone)]
enum Backend {
    Memory(MemoryFailureStore),
    Other(Arc<dyn ErasedStore>),
}

impl Throttle {
    pub(crate) fn new<T: FailureStore>(limits: ThrottleConfig, store: T) -> Self {
        let any: &dyn std::any::Any = &store;
        let store = match any.downcast_ref::<MemoryFailureStore>() {
            Some(memory) => Backend::Memory(memory.clone()),
            None => Backend::Other(Arc::new(store)),
        };
        Throttle {
            limits,
            store,
            proven: Arc::new(ProvenNonces::new()),
        }
    }

    /// Whether this process accepted a correct answer to `nonce` for `account` before:
    /// such an answer is no guess, and skips [`reserve`](Self::reserve).
    pub(crate) fn is_proven(&self, nonce: &[u8], account: &str, now: SystemTime) -> bool {
        self.proven.contains(nonce, account, now)
    }

    /// Remembers an accepted answer to `nonce` for `account`, for the nonce's lifetime.
    pub(crate) fn remember_proven(
        &self,
        nonce: &[u8],
        account: &str,
        lifetime_secs: u64,
        now: SystemTime,
    ) {
        self.proven.insert(nonce, account, lifetime_secs, now);
    }

    pub(crate) fn limits(&self) -> ThrottleConfig {
        self.limits
    }

    pub(crate) fn with_limits(self, limits: ThrottleConfig) -> Self {
        Throttle { limits, ..self }
    }

    /// Whether the key is locked right now, without admitting anything: if it is, the
    /// seconds until it is not (the `Retry-After` value). A cheap look for work that
    /// comes before the attempt (reading a request body); the attempt itself still
    /// goes through [`reserve`](Self::reserve).
    #[allow(dead_code)] // For auth-int's look before it reads a body.
    pub(crate) async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        let lock = match &self.store {
            Backend::Memory(store) => store.lock_now(key, now),
            Backend::Other(store) => store.lock(key, now).await?,
        };
        Ok(lock.map(retry_after_secs))
    }

    /// Admits one attempt by `username` (the account the credential store resolved,
    /// or the name as sent for no known account) from `client`: `Ok(Err(secs))` when
    /// the client must wait that many seconds (the `Retry-After` value).
    pub(crate) async fn reserve(
        &self,
        client: IpAddr,
        username: &str,
        now: SystemTime,
    ) -> Result<Result<Reservation, u64>, StoreError> {
        let key = FailureKey::new(client, username);
        let admission = match &self.store {
            Backend::Memory(store) => store.reserve_now(key, &self.limits, now),
            Backend::Other(store) => store.reserve(key, &self.limits, now).await?,
        };
        Ok(match admission {
            Admission::Admitted => Ok(Reservation {
                throttle: self.clone(),
                address: key.address(),
                username: username.into(),
                now,
                settled: false,
            }),
            Admission::Refused(wait) => Err(retry_after_secs(wait)),
        })
    }
}

/// Whole seconds, rounded up, at least one.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// One admitted attempt, holding its room under the limits until it is settled. Dropped
/// unsettled (the request's future was dropped, or returned early), it settles as
/// [`AttemptOutcome::Void`]: at once for the memory store; for another store in a task
/// of the running Tokio runtime (feature `redis`), and otherwise by the store's own
/// expiry of reservations.
#[must_use = "an attempt must be settled"]
pub(crate) struct Reservation {
    throttle: Throttle,
    address: IpAddr,
    username: Box<str>,
    now: SystemTime,
    settled: bool,
}

impl Reservation {
    /// Whether [`settle`](Self::settle) was called.
    pub(crate) fn is_settled(&self) -> bool {
        self.settled
    }

    /// Ends the attempt: returns the locks a failure started. Only the first call
    /// counts; later ones do nothing.
    pub(crate) async fn settle(
        &mut self,
        outcome: AttemptOutcome,
        now: SystemTime,
    ) -> Result<NewLocks, StoreError> {
        if self.settled {
            return Ok(NewLocks::default());
        }
        // Marked first: a settle cancelled half-way must not be followed by a second
        // release from `drop`, which would free someone else's room.
        self.settled = true;
        let key = FailureKey::new(self.address, &self.username);
        let limits = &self.throttle.limits;
        match &self.throttle.store {
            Backend::Memory(store) => Ok(store.settle_now(key, outcome, limits, now)),
            Backend::Other(store) => store.settle(key, outcome, limits, now).await,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let key = FailureKey::new(self.address, &self.username);
        match &self.throttle.store {
            Backend::Memory(store) => {
                store.settle_now(key, AttemptOutcome::Void, &self.throttle.limits, self.now);
            }
            Backend::Other(store) => release_later(store, self),
        }
    }
}

#[cfg(feature = "redis")]
fn release_later(store: &Arc<dyn ErasedStore>, reservation: &Reservation) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let store = Arc::clone(store);
    let limits = reservation.throttle.limits;
    let (address, now) = (reservation.address, reservation.now);
    let username = reservation.username.clone();
    runtime.spawn(async move {
        let key = FailureKey::new(address, &username);
        if let Err(error) = store.settle(key, AttemptOutcome::Void, &limits, now).await {
            tracing::debug!(%error, "digest auth: a dropped attempt's reservation stays until it expires");
        }
    });
}

/// Without a known runtime the store's expiry of reservations frees the room.
#[cfg(not(feature = "redis"))]
fn release_later(_store: &Arc<dyn ErasedStore>, _reservation: &Reservation) {}

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
            .finish_non_exhaustive()
    }
}
