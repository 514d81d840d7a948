//! The service under test: a clock the scenario moves, stores that fail on command, and
//! an inner service that names the user.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use http::{Request, Response};
use tower::Service;
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::clock::Clock;
use tower_digest_auth::nonce::{MemoryNonceStore, NcCheck, NonceEpoch, NonceStore, NonceUse};
use tower_digest_auth::{AuthenticatedUser, CredentialStore, Ha1, MemoryCredentials};

/// A clock that the scenario moves both ways.
#[derive(Clone)]
pub(super) struct StepClock(pub(super) Arc<Mutex<SystemTime>>);

impl Clock for StepClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StepClock {
    pub(super) fn set(&self, time: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = time;
    }
}

/// Credentials that fail while told to.
pub(super) struct FlakyCredentials {
    pub(super) inner: MemoryCredentials,
    pub(super) fail: Arc<AtomicBool>,
}

impl CredentialStore for FlakyCredentials {
    type Error = std::io::Error;

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, std::io::Error> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("credential store down"));
        }
        match self.inner.ha1(username, realm, hash).await {
            Ok(ha1) => Ok(ha1),
            Err(never) => match never {},
        }
    }
}

/// A small memory nonce store that fails while told to.
pub(super) struct FlakyNonces {
    pub(super) inner: MemoryNonceStore,
    pub(super) fail: Arc<AtomicBool>,
}

impl NonceStore for FlakyNonces {
    type Error = std::io::Error;

    fn epoch(&self) -> NonceEpoch {
        self.inner.epoch()
    }

    async fn record_use(&self, use_: NonceUse) -> Result<NcCheck, std::io::Error> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("nonce store down"));
        }
        match self.inner.record_use(use_).await {
            Ok(check) => Ok(check),
            Err(never) => match never {},
        }
    }
}

/// The protected service: answers with the authenticated user's name.
#[derive(Clone)]
pub(super) struct WhoAmI;

impl Service<Request<()>> for WhoAmI {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .expect("the inner service runs only for an authenticated user");
        std::future::ready(Ok(Response::new(user.username().to_owned())))
    }
}

pub(super) type Svc = tower_digest_auth::DigestService<
    WhoAmI,
    FlakyCredentials,
    FlakyNonces,
    tower_digest_auth::rejection::PlainTextRejection,
>;

/// Every store here answers at once, so one poll finishes a request.
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a request waited although every store is synchronous"),
    }
}
