//! [`DigestLayerBuilder`]: every setting with its default, and `build`, which checks them
//! all and assembles the [`Config`] a layer shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{
    Config, ConfigError, DEFAULT_NONCE_LIFETIME, MAX_NONCE_LIFETIME, ProtocolOptions, check_text,
    quote_escape,
};
use crate::client_ip::ClientIpSource;
use crate::client_order::ChallengeOrder;
use crate::clock::{Clock, SystemClock};
use crate::credentials::CredentialStore;
use crate::hash::{Algorithm, HashFunction};
use crate::layer::DigestLayer;
use crate::mode::AuthMode;
use crate::nonce::{AddressBinding, MemoryNonceStore, NonceKey, NonceSigner, NonceStore};
use crate::prefix::ExternalPrefix;
use crate::rejection::PlainTextRejection;
use crate::throttle::{FailureStore, Throttle, ThrottleConfig};

mod protocol;

/// Builds a [`DigestLayer`]; start with [`DigestLayer::builder`].
///
/// `C` is the credential store, `N` the nonce store and `R` the rejection response.
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
pub struct DigestLayerBuilder<C, N = MemoryNonceStore, R = PlainTextRejection> {
    realm: String,
    credentials: C,
    nonces: N,
    rejection: R,
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
    throttle: Option<Throttle>,
    protocol: ProtocolOptions,
}

impl<C: CredentialStore> DigestLayerBuilder<C> {
    pub(crate) fn new(realm: String, credentials: C) -> Self {
        DigestLayerBuilder {
            realm,
            credentials,
            nonces: MemoryNonceStore::new(),
            rejection: PlainTextRejection,
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
            throttle: Some(Throttle::default()),
            protocol: ProtocolOptions::default(),
        }
    }
}

impl<C, N, R> DigestLayerBuilder<C, N, R> {
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
        self.algorithms = algorithms.into_iter().collect();
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
        self.lifetime = lifetime;
        self
    }

    /// The key that signs nonces. By default each process draws a random one; set a shared
    /// key (and a shared [`NonceStore`]) when several instances serve the same clients.
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
        self.key = Some(key);
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
        self.previous_keys.push(key);
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
        self.client_ip = source;
        self
    }

    /// Which part of the client's address a nonce is bound to: the whole address by
    /// default; see [`AddressBinding`] for the others and what each gives up. A right
    /// answer from outside the binding gets `stale=true` and a nonce for the new address
    /// (no password prompt); a wrong one is a failed login.
    ///
    /// ```
    /// use tower_digest_auth::{AddressBinding, DigestLayer, MemoryCredentials};
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
        self.binding = binding;
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
        self.opaque = Some(opaque.into());
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
        self.domain = uris.into_iter().map(Into::into).collect();
        self
    }

    /// How the challenges are ordered for each client ([`ChallengeOrder::known_clients`]
    /// by default: MD5 first for the few clients that answer only the first challenge and
    /// cannot do SHA-256, SHA-256 last for those that answer the last one). The set of
    /// algorithms offered is always the configured one; [`ChallengeOrder::configured`]
    /// turns the adjustment off.
    ///
    /// ```
    /// use tower_digest_auth::{ChallengeOrder, DigestLayer, MemoryCredentials};
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
        self.challenge_order = order;
        self
    }

    /// The clock (the system clock by default); tests use
    /// [`ManualClock`](crate::ManualClock) to expire nonces without sleeping.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_digest_auth::{DigestLayer, ManualClock, MemoryCredentials};
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
        self.clock = Arc::new(clock);
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
    /// [`AuthorizeLayer`](crate::AuthorizeLayer) both answer anonymous requests 401, so
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
        self.allow_anonymous = allow;
        self
    }

    /// The store that accepts each `(nonce, nc)` once ([`MemoryNonceStore`] by default).
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials, MemoryNonceStore};
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
    pub fn nonce_store<N2: NonceStore>(self, nonces: N2) -> DigestLayerBuilder<C, N2, R> {
        DigestLayerBuilder {
            realm: self.realm,
            credentials: self.credentials,
            nonces,
            rejection: self.rejection,
            algorithms: self.algorithms,
            lifetime: self.lifetime,
            key: self.key,
            previous_keys: self.previous_keys,
            client_ip: self.client_ip,
            binding: self.binding,
            opaque: self.opaque,
            domain: self.domain,
            challenge_order: self.challenge_order,
            clock: self.clock,
            allow_anonymous: self.allow_anonymous,
            mode: self.mode,
            external_prefix: self.external_prefix,
            forwarded_prefix: self.forwarded_prefix,
            throttle: self.throttle,
            protocol: self.protocol,
        }
    }

    /// The response for rejected requests ([`PlainTextRejection`] by default); see
    /// [`RejectionResponse`](crate::RejectionResponse).
    ///
    /// ```
    /// use http::{Response, request::Parts};
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials, Rejection};
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
    pub fn rejection_response<R2>(self, rejection: R2) -> DigestLayerBuilder<C, N, R2> {
        DigestLayerBuilder {
            realm: self.realm,
            credentials: self.credentials,
            nonces: self.nonces,
            rejection,
            algorithms: self.algorithms,
            lifetime: self.lifetime,
            key: self.key,
            previous_keys: self.previous_keys,
            client_ip: self.client_ip,
            binding: self.binding,
            opaque: self.opaque,
            domain: self.domain,
            challenge_order: self.challenge_order,
            clock: self.clock,
            allow_anonymous: self.allow_anonymous,
            mode: self.mode,
            external_prefix: self.external_prefix,
            forwarded_prefix: self.forwarded_prefix,
            throttle: self.throttle,
            protocol: self.protocol,
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
    /// use tower_digest_auth::{DigestLayer, FailureLimit, MemoryCredentials, ThrottleConfig};
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
    /// let limits = ThrottleConfig::default()
    ///     .per_address_and_user(FailureLimit::new(5, Duration::from_secs(15 * 60)));
    /// let layer = DigestLayer::builder(realm, users).throttle(limits).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn throttle(mut self, limits: ThrottleConfig) -> Self {
        self.throttle = Some(match self.throttle.take() {
            Some(throttle) => throttle.with_limits(limits),
            None => Throttle::new(limits, crate::throttle::MemoryFailureStore::new()),
        });
        self
    }

    /// Where failed logins are counted ([`MemoryFailureStore`](crate::MemoryFailureStore)
    /// by default: per process, at most 100,000 keys; `RedisFailureStore`, with the
    /// `redis` feature, for instances that count together). Keeps the limits already set,
    /// and switches throttling back on after [`no_throttle`](Self::no_throttle).
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials, MemoryFailureStore};
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
    pub fn throttle_store(mut self, store: impl FailureStore) -> Self {
        let limits = self
            .throttle
            .take()
            .map_or_else(ThrottleConfig::default, |throttle| throttle.limits());
        self.throttle = Some(Throttle::new(limits, store));
        self
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
        self.throttle = None;
        self
    }

    /// Checks the configuration and makes the layer.
    ///
    /// ```
    /// use tower_digest_auth::{ConfigError, DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("api@example.org", [("alice", "s3cret")]);
    /// // The realm must be the one the users' HA1s were computed for.
    /// let typo = DigestLayer::builder("api@example.com", users.clone()).build();
    /// assert!(matches!(typo, Err(ConfigError::RealmNotServed { .. })));
    /// assert!(DigestLayer::builder("api@example.org", users).build().is_ok());
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong.
    pub fn build(self) -> Result<DigestLayer<C, N, R>, ConfigError>
    where
        C: CredentialStore,
        N: NonceStore,
    {
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        for (index, algorithm) in self.algorithms.iter().enumerate() {
            if self.algorithms[..index].contains(algorithm) {
                return Err(ConfigError::DuplicateAlgorithm(*algorithm));
            }
        }
        if self.lifetime < Duration::from_secs(1) {
            return Err(ConfigError::LifetimeTooShort);
        }
        if self.lifetime > MAX_NONCE_LIFETIME {
            return Err(ConfigError::LifetimeTooLong);
        }
        check_text("realm", &self.realm)?;
        if self.credentials.serves_realm(&self.realm) == Some(false) {
            return Err(ConfigError::RealmNotServed { realm: self.realm });
        }
        if !self.binding.is_valid() {
            return Err(ConfigError::InvalidAddressPrefix);
        }
        let key = self.key.unwrap_or_else(NonceKey::random);
        for (index, previous) in self.previous_keys.iter().enumerate() {
            let reused = previous.id() == key.id()
                || self.previous_keys[..index]
                    .iter()
                    .any(|other| other.id() == previous.id());
            if reused {
                return Err(ConfigError::DuplicateKeyId(previous.id()));
            }
        }
        // Derived from the realm alone, not the key: a restart or a key rotation must not
        // turn every client's next request into a 400 for a changed opaque.
        let opaque = self.opaque.unwrap_or_else(|| {
            let digest = Sha256::digest(format!("tower-digest-auth opaque\0{}", self.realm));
            URL_SAFE_NO_PAD.encode(&digest[..16])
        });
        check_text("opaque", &opaque)?;
        for uri in &self.domain {
            check_text("domain", uri)?;
        }
        let external_prefix = ExternalPrefix::new(&self.external_prefix, self.forwarded_prefix)
            .ok_or(ConfigError::InvalidPrefix)?;

        // charset=UTF-8 (RFC 7616 section 4): HA1s are computed over UTF-8, and a client
        // that is not told so may hash a non-ASCII name or password as Latin-1.
        let mut challenge_suffix =
            format!("\", opaque=\"{}\", charset=UTF-8", quote_escape(&opaque));
        if self.protocol.userhash {
            challenge_suffix.push_str(", userhash=true");
        }
        if !self.domain.is_empty() {
            let domain = quote_escape(&self.domain.join(" "));
            challenge_suffix = format!("{challenge_suffix}, domain=\"{domain}\"");
        }
        let realm = quote_escape(&self.realm);
        // auth alone by default: offering auth-int breaks some clients (the JDK then sends
        // no qop at all), and answering it means reading bodies.
        let qop = if self.protocol.auth_int_limit.is_some() {
            "auth,auth-int"
        } else {
            "auth"
        };
        let challenge_prefixes = self
            .algorithms
            .iter()
            .map(|&algorithm| {
                let prefix = format!(
                    "Digest realm=\"{realm}\", qop=\"{qop}\", algorithm={}, nonce=\"",
                    algorithm.name()
                );
                (algorithm, prefix)
            })
            .collect();
        let dummy_secret = key.derive(b"dummy ha1");
        let dummy_ha1 = HashFunction::ALL.map(|hash| hash.hex_digest(&[&dummy_secret]));
        let nonces = Arc::new(self.nonces);
        let config = Config {
            signer: NonceSigner::new(key, self.previous_keys, &self.realm)
                .with_binding(self.binding),
            epochs: nonces.clone(),
            realm: self.realm.into(),
            algorithms: self.algorithms,
            lifetime_secs: self.lifetime.as_secs(),
            client_ip: self.client_ip,
            opaque,
            challenge_prefixes,
            challenge_suffix,
            challenge_order: self.challenge_order,
            clock: self.clock,
            allow_anonymous: self.allow_anonymous,
            mode: self.mode,
            external_prefix,
            throttle: self.throttle,
            protocol: self.protocol,
            dummy_ha1,
        };
        Ok(DigestLayer::from_parts(
            config,
            self.credentials,
            nonces,
            self.rejection,
        ))
    }
}

impl<C, N: fmt::Debug, R> fmt::Debug for DigestLayerBuilder<C, N, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestLayerBuilder")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("lifetime", &self.lifetime)
            .field("nonces", &self.nonces)
            .field("client_ip", &self.client_ip)
            .field("binding", &self.binding)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}
