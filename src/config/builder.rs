//! [`DigestLayerBuilder`]: every setting with its default. The setters of the stores are
//! in `stores.rs`, the opt-in protocol extensions in `protocol.rs`, and `build`, which
//! checks everything and hands the parts to the layer, in `assemble.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{DEFAULT_NONCE_LIFETIME, ProtocolOptions};
use crate::challenge::ChallengeOrder;
use crate::client_ip::ClientIpSource;
use crate::clock::{Clock, SystemClock};
use crate::credentials::CredentialStore;
use crate::hash::Algorithm;
use crate::layer::DigestLayer;
use crate::mode::AuthMode;
use crate::nonce::{AddressBinding, MemoryNonceStore, NonceKey};
use crate::rejection::PlainTextRejection;
use crate::throttle::{MemoryFailureStore, ThrottleConfig};

mod assemble;
mod protocol;
mod stores;

/// Builds a [`DigestLayer`]; start with [`DigestLayer::builder`].
///
/// `C` is the credential store, `N` the nonce store, `R` the rejection response and `F`
/// the failed-login store.
/// Every setting has a default; [`build`](Self::build) checks them all at once.
///
/// ```
/// use std::time::Duration;
/// use tower_digest_auth::{Algorithm, DigestLayer, MemoryCredentials};
///
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
/// let layer = DigestLayer::builder(realm, users)
///     .algorithms([Algorithm::Sha256, Algorithm::Md5])
///     .nonce_lifetime(Duration::from_secs(10 * 60))
///     .build()?;
/// # Ok::<(), tower_digest_auth::ConfigError>(())
/// ```
#[must_use]
#[derive(Clone)]
pub struct DigestLayerBuilder<
    C,
    N = MemoryNonceStore,
    R = PlainTextRejection,
    F = MemoryFailureStore,
> {
    settings: Settings,
    credentials: C,
    nonces: N,
    rejection: R,
    failures: F,
}

/// Every setting whose type is the same for every store, so that a setter which changes
/// a store's type moves these as one.
#[derive(Clone)]
struct Settings {
    realm: String,
    algorithms: Vec<Algorithm>,
    lifetime: Duration,
    key: Option<NonceKey>,
    previous_keys: Vec<NonceKey>,
    client_ip: ClientIpSource,
    binding: AddressBinding,
    opaque: Option<String>,
    domain: Vec<String>,
    challenge_order: ChallengeOrder,
    clock: Arc<dyn Clock>,
    allow_anonymous: bool,
    mode: AuthMode,
    external_prefix: String,
    forwarded_prefix: bool,
    /// `None`: no throttling ([`no_throttle`](DigestLayerBuilder::no_throttle)).
    throttle: Option<ThrottleConfig>,
    protocol: ProtocolOptions,
}

impl<C: CredentialStore> DigestLayer<C> {
    /// Starts a layer for `realm` with users from `credentials`; everything else has a
    /// default (SHA-256 then MD5, 30-minute nonces, in-memory nonce store, random key,
    /// client IP from the connection, plain-text rejections).
    pub fn builder(realm: impl Into<String>, credentials: C) -> DigestLayerBuilder<C> {
        DigestLayerBuilder {
            settings: Settings {
                realm: realm.into(),
                algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
                lifetime: DEFAULT_NONCE_LIFETIME,
                key: None,
                previous_keys: Vec::new(),
                client_ip: ClientIpSource::default(),
                binding: AddressBinding::default(),
                opaque: None,
                domain: Vec::new(),
                challenge_order: ChallengeOrder::default(),
                clock: Arc::new(SystemClock),
                allow_anonymous: false,
                mode: AuthMode::Origin,
                external_prefix: String::new(),
                forwarded_prefix: false,
                throttle: Some(ThrottleConfig::default()),
                protocol: ProtocolOptions::default(),
            },
            credentials,
            nonces: MemoryNonceStore::new(),
            rejection: PlainTextRejection,
            failures: MemoryFailureStore::new(),
        }
    }
}

impl<C, N, R, F> DigestLayerBuilder<C, N, R, F> {
    /// The algorithms to offer, in challenge order; clients that take the first challenge
    /// (curl, Chromium, httpx) use the first they support. Default: SHA-256, then MD5
    /// for the clients that know nothing else.
    ///
    /// ```
    /// use tower_digest_auth::{Algorithm, DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// // Every client of ours speaks SHA-256: offer nothing else.
    /// let layer = DigestLayer::builder(realm, users)
    ///     .algorithms([Algorithm::Sha256])
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.settings.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How long a nonce is accepted ([`DEFAULT_NONCE_LIFETIME`] by default). After it, a
    /// correct answer gets `stale=true` and the client retries with a new nonce.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// let layer = DigestLayer::builder(realm, users)
    ///     .nonce_lifetime(Duration::from_secs(5 * 60))
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.lifetime = lifetime;
        self
    }

    /// The key that signs nonces. By default each process draws a random one; set a shared
    /// key (and a shared [`NonceStore`](crate::nonce::NonceStore)) when several instances serve the same clients.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// // 32 or more bytes from your secrets manager, the same on every instance.
    /// let secret = [0x5a; 32];
    /// let layer = DigestLayer::builder(realm, users)
    ///     .nonce_key(NonceKey::from_bytes(1, &secret).unwrap())
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn nonce_key(mut self, key: NonceKey) -> Self {
        self.settings.key = Some(key);
        self
    }

    /// A retired key whose nonces are still accepted (with a different id from the
    /// current key), so rotating keys does not turn live nonces stale.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// // Rotation: sign with key 2, keep accepting what key 1 signed until its nonces expire.
    /// let layer = DigestLayer::builder(realm, users)
    ///     .nonce_key(NonceKey::from_bytes(2, &[2; 32]).unwrap())
    ///     .previous_nonce_key(NonceKey::from_bytes(1, &[1; 32]).unwrap())
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn previous_nonce_key(mut self, key: NonceKey) -> Self {
        self.settings.previous_keys.push(key);
        self
    }

    /// Where the client's IP address comes from (the connection, by default).
    ///
    /// ```
    /// use tower_digest_auth::{ClientIpSource, DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// // Behind nginx on 10.0.0.0/8, which appends the client to X-Forwarded-For.
    /// let layer = DigestLayer::builder(realm, users)
    ///     .client_ip(ClientIpSource::XForwardedFor(vec!["10.0.0.0/8".parse().unwrap()]))
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn client_ip(mut self, source: ClientIpSource) -> Self {
        self.settings.client_ip = source;
        self
    }

    /// Which part of the client's address a nonce is bound to: the whole address by
    /// default; see [`AddressBinding`] for the others and what each gives up. A right
    /// answer from outside the binding gets `stale=true` and a nonce for the new address
    /// (no password prompt); a wrong one is a failed login.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::nonce::AddressBinding;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// // IPv4 /24 and IPv6 /48: one site's network.
    /// let layer = DigestLayer::builder(realm, users)
    ///     .address_binding(AddressBinding::prefix(24, 48))
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn address_binding(mut self, binding: AddressBinding) -> Self {
        self.settings.binding = binding;
        self
    }

    /// The `opaque` value sent in challenges and required back unchanged. By default it is
    /// derived from the realm, so it survives restarts and key rotations and every
    /// instance agrees on it.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// let layer = DigestLayer::builder(realm, users).opaque("v2").build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn opaque(mut self, opaque: impl Into<String>) -> Self {
        self.settings.opaque = Some(opaque.into());
        self
    }

    /// The URIs that share this protection space (the challenge's `domain` parameter),
    /// so clients may send credentials to them without a challenge first.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// let layer = DigestLayer::builder(realm, users).domain(["/api/", "/admin/"]).build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn domain<I: Into<String>>(mut self, uris: impl IntoIterator<Item = I>) -> Self {
        self.settings.domain = uris.into_iter().map(Into::into).collect();
        self
    }

    /// How the challenges are ordered for each client ([`ChallengeOrder::known_clients`]
    /// by default: MD5 first for the few clients that answer only the first challenge and
    /// cannot do SHA-256, SHA-256 last for those that answer the last one). The set of
    /// algorithms offered is always the configured one; [`ChallengeOrder::configured`]
    /// turns the adjustment off.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::challenge::ChallengeOrder;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// let layer = DigestLayer::builder(realm, users)
    ///     .challenge_order(ChallengeOrder::configured())
    ///     .build()?;
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn challenge_order(mut self, order: ChallengeOrder) -> Self {
        self.settings.challenge_order = order;
        self
    }

    /// The clock (the system clock by default); tests use
    /// [`ManualClock`](crate::clock::ManualClock) to expire nonces without sleeping.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    /// use tower_digest_auth::clock::ManualClock;
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    ///
    /// let clock = ManualClock::new();
    /// let layer = DigestLayer::builder(realm, users).clock(clock.clone()).build()?;
    /// // ... issue a challenge, then:
    /// clock.advance(Duration::from_secs(31 * 60)); // its nonce is now stale
    /// # Ok::<(), tower_digest_auth::ConfigError>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// Lets requests without Digest credentials (no `Authorization`, or another scheme)
    /// through to the inner service with no [`AuthenticatedUser`](crate::AuthenticatedUser),
    /// for routes that serve everyone but say more to a logged-in user
    /// (`Option<AuthenticatedUser>` in axum). Off by default.
    ///
    /// Credentials that are sent are checked as always: a wrong password is still a 401.
    /// The anonymous response carries the challenges (RFC 9110 allows them on any status),
    /// so a client can log in from it, and every 401 gets them too: a handler that takes
    /// `AuthenticatedUser` (not an `Option`) and an
    /// [`AuthorizeLayer`](crate::authorize::AuthorizeLayer) both answer anonymous requests 401, so
    /// routes that need a login can share the layer with routes that do not.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users).allow_anonymous(true).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.settings.allow_anonymous = allow;
        self
    }
}

impl<C, N: fmt::Debug, R, F> fmt::Debug for DigestLayerBuilder<C, N, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("DigestLayerBuilder")
            .field("realm", &settings.realm)
            .field("algorithms", &settings.algorithms)
            .field("lifetime", &settings.lifetime)
            .field("nonces", &self.nonces)
            .field("client_ip", &settings.client_ip)
            .field("binding", &settings.binding)
            .field("throttle", &settings.throttle)
            .finish_non_exhaustive()
    }
}
