use std::fmt;
use std::sync::Arc;

use tower::Layer;

use crate::nonce::MemoryNonceStore;
use crate::rejection::PlainTextRejection;
use crate::service::{DigestService, Shared};
use crate::throttle::MemoryFailureStore;

/// Puts Digest authentication in front of a service; see the [crate docs](crate).
///
/// Made by [`DigestLayer::builder`]. `C` is the credential store, `N` the nonce store,
/// `R` the rejection response and `F` the failed-login store. Cloning is cheap: the
/// configuration and stores are shared.
#[must_use]
pub struct DigestLayer<C, N = MemoryNonceStore, R = PlainTextRejection, F = MemoryFailureStore> {
    pub(crate) shared: Arc<Shared<C, N, R, F>>,
}

impl<C, N, R, F> DigestLayer<C, N, R, F> {
    pub(crate) fn new(shared: Shared<C, N, R, F>) -> Self {
        DigestLayer {
            shared: Arc::new(shared),
        }
    }
}

impl<C, N, R, F> Clone for DigestLayer<C, N, R, F> {
    fn clone(&self) -> Self {
        DigestLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C, N, R, F> fmt::Debug for DigestLayer<C, N, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestLayer")
            .field("config", &self.shared.config)
            .field("throttle", &self.shared.throttle)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R, F> Layer<S> for DigestLayer<C, N, R, F> {
    type Service = DigestService<S, C, N, R, F>;

    fn layer(&self, inner: S) -> Self::Service {
        DigestService::new(inner, Arc::clone(&self.shared))
    }
}
