use std::fmt;
use std::sync::Arc;

use tower::Layer;

use crate::config::{Config, DigestLayerBuilder};
use crate::credentials::CredentialStore;
use crate::nonce::MemoryNonceStore;
use crate::rejection::PlainTextRejection;
use crate::service::DigestService;

/// Puts Digest authentication in front of a service; see the [crate docs](crate).
///
/// Cloning is cheap: the configuration and stores are shared.
#[must_use]
pub struct DigestLayer<C, N = MemoryNonceStore, R = PlainTextRejection> {
    pub(crate) shared: Arc<Shared<C, N, R>>,
}

/// What every service made by one layer shares.
pub(crate) struct Shared<C, N, R> {
    pub(crate) config: Config,
    pub(crate) credentials: C,
    /// Shared with the configuration, which reads its epochs.
    pub(crate) nonces: Arc<N>,
    pub(crate) rejection: R,
    /// Set once the missing-peer-address mistake was explained at length, so the
    /// explanation appears once and later requests log a short line.
    pub(crate) explained_missing_peer: std::sync::atomic::AtomicBool,
    /// Keeps a store outage from writing one error per request.
    pub(crate) store_errors: crate::service::ErrorLogLimit,
}

impl<C: CredentialStore> DigestLayer<C> {
    /// Starts a layer for `realm` with users from `credentials`; everything else has a
    /// default (SHA-256 then MD5, 30-minute nonces, in-memory nonce store, random key,
    /// client IP from the connection, plain-text rejections).
    pub fn builder(realm: impl Into<String>, credentials: C) -> DigestLayerBuilder<C> {
        DigestLayerBuilder::new(realm.into(), credentials)
    }
}

impl<C, N, R> DigestLayer<C, N, R> {
    pub(crate) fn from_parts(config: Config, credentials: C, nonces: Arc<N>, rejection: R) -> Self {
        DigestLayer {
            shared: Arc::new(Shared {
                config,
                credentials,
                nonces,
                rejection,
                explained_missing_peer: std::sync::atomic::AtomicBool::new(false),
                store_errors: crate::service::ErrorLogLimit::default(),
            }),
        }
    }
}

impl<C, N, R> Clone for DigestLayer<C, N, R> {
    fn clone(&self) -> Self {
        DigestLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C, N, R> fmt::Debug for DigestLayer<C, N, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R> Layer<S> for DigestLayer<C, N, R> {
    type Service = DigestService<S, C, N, R>;

    fn layer(&self, inner: S) -> Self::Service {
        DigestService::new(inner, Arc::clone(&self.shared))
    }
}
