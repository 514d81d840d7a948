//! The builder's setters for what the layer talks to: the nonce store, the rejection
//! response and the failed-login store with its limits. The first two change the
//! builder's type.

use super::DigestLayerBuilder;
use crate::nonce::NonceStore;
use crate::throttle::{FailureStore, ThrottleConfig};

impl<C, N, R, F> DigestLayerBuilder<C, N, R, F> {
    /// The store that accepts each `(nonce, nc)` once ([`MemoryNonceStore`](crate::nonce::MemoryNonceStore) by default).
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::nonce::MemoryNonceStore;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// // Two layers in one process (say, two routers) sharing one replay store.
    /// let nonces = MemoryNonceStore::with_max_entries(100_000);
    /// let layer = DigestLayer::builder(realm, users)
    ///     .nonce_store(nonces.clone())
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn nonce_store<N2: NonceStore>(self, nonces: N2) -> DigestLayerBuilder<C, N2, R, F> {
        DigestLayerBuilder {
            settings: self.settings,
            credentials: self.credentials,
            nonces,
            rejection: self.rejection,
            failures: self.failures,
        }
    }

    /// The response for rejected requests ([`PlainTextRejection`](crate::rejection::PlainTextRejection) by default); see
    /// [`RejectionResponse`](crate::rejection::RejectionResponse).
    ///
    /// ```
    /// use http::{Response, request::Parts};
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::rejection::Rejection;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// let layer = DigestLayer::builder(realm, users)
    ///     .rejection_response(|rejection: &Rejection, _request: &Parts| {
    ///         Response::builder()
    ///             .status(rejection.status())
    ///             .body(format!(r#"{{"error":"{rejection}"}}"#))
    ///             .unwrap()
    ///     })
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn rejection_response<R2>(self, rejection: R2) -> DigestLayerBuilder<C, N, R2, F> {
        DigestLayerBuilder {
            settings: self.settings,
            credentials: self.credentials,
            nonces: self.nonces,
            rejection,
            failures: self.failures,
        }
    }

    /// The failed-login limits ([`ThrottleConfig::default`] unless set: 10 failures per
    /// client address and username, 100 per address, in 10 minutes). Over a limit, or
    /// with as many of its attempts being checked as the limit allows, the client gets
    /// 429 with `Retry-After` before any hashing or credential lookup (with `userhash`,
    /// after the store mapped the hash to its user, whose budget it shares). Also
    /// switches throttling back on after [`no_throttle`](Self::no_throttle).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::throttle::{FailureLimit, ThrottleConfig};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
    /// let limits = ThrottleConfig::default()
    ///     .per_address_and_user(FailureLimit::new(5, Duration::from_secs(15 * 60)));
    /// let layer = DigestLayer::builder(realm, users).throttle(limits).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn throttle(mut self, limits: ThrottleConfig) -> Self {
        self.settings.throttle = Some(limits);
        self
    }

    /// Where failed logins are counted ([`MemoryFailureStore`](crate::throttle::MemoryFailureStore)
    /// by default: per process, at most 100,000 keys; `RedisFailureStore`, with the
    /// `redis` feature, for instances that count together). Keeps the limits already set,
    /// and switches throttling back on after [`no_throttle`](Self::no_throttle).
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::throttle::MemoryFailureStore;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
    /// let failures = MemoryFailureStore::with_max_entries(1_000_000);
    /// let layer = DigestLayer::builder(realm, users)
    ///     .throttle_store(failures.clone())
    ///     .build()
    ///     .unwrap();
    /// assert!(failures.is_empty());
    /// # let _ = layer;
    /// ```
    pub fn throttle_store<F2: FailureStore>(self, store: F2) -> DigestLayerBuilder<C, N, R, F2> {
        let mut settings = self.settings;
        settings.throttle = Some(settings.throttle.unwrap_or_default());
        DigestLayerBuilder {
            settings,
            credentials: self.credentials,
            nonces: self.nonces,
            rejection: self.rejection,
            failures: store,
        }
    }

    /// Switches failed-login throttling off: every guess is then checked, and costs the
    /// attacker nothing but time. For a layer behind something else that throttles.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
    /// let layer = DigestLayer::builder(realm, users).no_throttle().build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn no_throttle(mut self) -> Self {
        self.settings.throttle = None;
        self
    }
}
