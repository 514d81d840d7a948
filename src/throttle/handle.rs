//! The layer's handle on its throttle: the limits and the store, and the [`Reservation`]
//! every admitted attempt carries until it is settled.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use super::proven::ProvenNonces;
use super::{Admission, AttemptOutcome, FailureKey, FailureStore, NewLocks, ThrottleConfig};

/// A store's error, boxed: the layer logs it and answers 500, whatever the store.
pub(crate) type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// A layer's throttle: its limits and its store. Clones share the store.
pub(crate) struct Throttle<F> {
    limits: ThrottleConfig,
    store: Arc<F>,
    /// Answers that skip the reservation (see [`ProvenNonces`]).
    proven: Arc<ProvenNonces>,
}

impl<F> Clone for Throttle<F> {
    fn clone(&self) -> Self {
        Throttle {
            limits: self.limits,
            store: Arc::clone(&self.store),
            proven: Arc::clone(&self.proven),
        }
    }
}

impl<F> Throttle<F> {
    pub(crate) fn new(limits: ThrottleConfig, store: F) -> Self {
        Throttle {
            limits,
            store: Arc::new(store),
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
}

impl<F: FailureStore> Throttle<F> {
    /// Whether the key is locked right now, without admitting anything: if it is, the
    /// seconds until it is not (the `Retry-After` value). A cheap look for work that
    /// comes before the attempt (reading a request body), or for proven Basic
    /// credentials, which skip the reservation but never a lock; any other attempt still
    /// goes through [`reserve`](Self::reserve).
    pub(crate) async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        let lock = self.store.lock(key, now).await?;
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
    ) -> Result<Result<Reservation<F>, u64>, StoreError> {
        let key = FailureKey::new(client, username);
        let admission = self.store.reserve(key, &self.limits, now).await?;
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
/// [`AttemptOutcome::Void`]: at once when the store answers at once (the memory store);
/// otherwise in a task of the running Tokio runtime (feature `redis`), and without one
/// by the store's own expiry of reservations.
#[must_use = "an attempt must be settled"]
pub(crate) struct Reservation<F: FailureStore> {
    throttle: Throttle<F>,
    address: IpAddr,
    username: Box<str>,
    now: SystemTime,
    settled: bool,
}

impl<F: FailureStore> Reservation<F> {
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
        let store = &self.throttle.store;
        store
            .settle(key, outcome, limits, now)
            .await
            .map_err(Into::into)
    }
}

impl<F: FailureStore> Drop for Reservation<F> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let store = Arc::clone(&self.throttle.store);
        let limits = self.throttle.limits;
        let (address, now) = (self.address, self.now);
        let username = std::mem::take(&mut self.username);
        let mut release = Box::pin(async move {
            let key = FailureKey::new(address, &username);
            store.settle(key, AttemptOutcome::Void, &limits, now).await
        });
        // A store that answers at once (the memory store) is done here; another finishes
        // in a task.
        match release
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(result) => log_unreleased(result.err()),
            Poll::Pending => release_later(release),
        }
    }
}

fn log_unreleased(error: Option<impl std::fmt::Display>) {
    if let Some(error) = error {
        tracing::debug!(%error, "digest auth: a dropped attempt's reservation stays until it expires");
    }
}

#[cfg(feature = "redis")]
fn release_later<E: std::fmt::Display + Send + 'static>(
    release: Pin<Box<impl Future<Output = Result<NewLocks, E>> + Send + 'static>>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move { log_unreleased(release.await.err()) });
}

/// Without a known runtime the store's expiry of reservations frees the room.
#[cfg(not(feature = "redis"))]
fn release_later<T>(_release: Pin<Box<T>>) {}

impl<F> fmt::Debug for Throttle<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
