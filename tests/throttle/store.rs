//! Throttling backed by another failure store (a shared one stands in), and that store's
//! failure: 500, never 200.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use tower_digest_auth::throttle::{
    Admission, AttemptOutcome, FailureKey, FailureStore, MemoryFailureStore, NewLocks,
    ThrottleConfig,
};

use super::{app_with, limits, peer};
use crate::common::{PASSWORD, USER, client_addr, request_from};

/// A store over another store, standing in for a shared one: it goes through the
/// layer's boxed path, and can be switched to failing.
#[derive(Clone, Default)]
pub(crate) struct Remote {
    inner: Arc<MemoryFailureStore>,
    down: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("throttle store down")]
pub(crate) struct RemoteDown;

impl Remote {
    fn up(&self) -> Result<(), RemoteDown> {
        if self.down.load(Ordering::SeqCst) {
            Err(RemoteDown)
        } else {
            Ok(())
        }
    }
}

impl FailureStore for Remote {
    type Error = RemoteDown;

    async fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Admission, RemoteDown> {
        self.up()?;
        Ok(self.inner.reserve(key, limits, now).await.unwrap())
    }

    async fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<NewLocks, RemoteDown> {
        self.up()?;
        Ok(self.inner.settle(key, outcome, limits, now).await.unwrap())
    }

    async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, RemoteDown> {
        self.up()?;
        Ok(self.inner.lock(key, now).await.unwrap())
    }
}

#[tokio::test]
async fn another_store_backs_the_throttle_and_its_failure_is_500_never_200() {
    let remote = Remote::default();
    let app = app_with(|builder| {
        builder
            .throttle_store(remote.clone())
            .throttle(limits(2, 1000))
    });
    let me = client_addr();
    app.fail(me, USER, 2).await;
    assert_eq!(
        app.status(me, USER, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.status(peer(2), USER, PASSWORD).await, StatusCode::OK);

    remote.down.store(true, Ordering::SeqCst);
    let lookups = app.lookups.load(Ordering::SeqCst);
    assert_eq!(
        app.status(peer(2), USER, PASSWORD).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(app.lookups.load(Ordering::SeqCst), lookups);
    // Challenges need no throttle store.
    let challenge = app.send(request_from(me, "GET", "/", None)).await;
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
}
