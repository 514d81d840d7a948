//! HTTP Digest Access Authentication ([RFC 7616], and [RFC 2617] clients) as Tower
//! middleware, for axum, hyper or any `tower::Service` over `http` types.
//!
//! The password never crosses the wire: the client proves it knows it by hashing it with a
//! server nonce, the request method and URI. Each nonce is bound to the client's IP and
//! each `(nonce, nc)` is accepted once, so a captured request cannot be replayed or
//! pointed at another URI, and `Authentication-Info` lets the client verify the server.
//!
//! [RFC 7616]: https://www.rfc-editor.org/rfc/rfc7616
//! [RFC 2617]: https://www.rfc-editor.org/rfc/rfc2617
//!
//! # Example
//!
//! The README's quick start (`Cargo.toml`: this crate, `axum`, `tokio` with `macros`,
//! `rt-multi-thread` and `net`, and `tracing-subscriber`):
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{Router, routing::get};
//! use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
//!
//! async fn whoami(user: AuthenticatedUser) -> String {
//!     format!("hello, {}", user.username())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The layer says why it refuses a request (and how to fix a set-up mistake) in the log.
//!     tracing_subscriber::fmt::init();
//!
//!     let realm = "http-auth@example.org";
//!     // Hashes each password at once and keeps only HA1s.
//!     let users = MemoryCredentials::new(realm, [("Mufasa", "Circle of Life")]);
//!     let app = Router::new()
//!         .route("/whoami", get(whoami))
//!         // route_layer: only the routes above are protected, so unknown paths stay 404 and
//!         // the public routes below need no login.
//!         .route_layer(DigestLayer::builder(realm, users).build()?)
//!         .route("/", get(|| async { "public" }));
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     // Nonces are bound to the client's address: serve with connect info (forgetting it
//!     // answers 500 to every request, and the log says so).
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//!     Ok(())
//! }
//! ```
//!
//! # What a request gets
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization`, or another scheme | 401 with one `WWW-Authenticate: Digest` line per algorithm, ordered for the client ([`ChallengeOrder`]) |
//! | unparsable header, duplicate or missing parameter, `qop` other than `auth`, algorithm not offered, foreign `realm` or `opaque`, `uri` not the request target | 400, plain-text reason |
//! | wrong password or unknown user (indistinguishable) | 401 + fresh challenge |
//! | forged nonce, nonce of another algorithm, replayed `(nonce, nc)`; a nonce of another client address (outside the [`AddressBinding`]) with a wrong password, counted as a failed login; a nonce whose login was ended ([`AuthenticatedUser::end_login`], [`end_all_logins`](AuthenticatedUser::end_all_logins)) | 401 + fresh challenge, not stale (a browser asks its user) |
//! | expired nonce with a correct response; a nonce of another client address with a correct response (the client moved) | 401 + challenge with `stale=true`, bound to the current address; never accepted |
//! | a trusted proxy's forwarding header names no usable client | 400, plain-text reason |
//! | client address (or address + account) over its failed-login limit, or as many attempts as the limit allows being checked at once ([`ThrottleConfig`]) | 429 + `Retry-After`, before any hashing or credential lookup (with `userhash`, after mapping the hash to its account); only wrong passwords and unknown users count, and every spelling of one account shares its budget |
//! | authenticated, but the route's [`AuthorizeLayer`] refuses the user | 403, no `WWW-Authenticate` |
//! | credential or nonce store error, authorizer error, no client address at all | 500, logged |
//! | a method listed in [`unauthenticated_methods`](DigestLayerBuilder::unauthenticated_methods) (off by default) | inner service, no user |
//! | `qop=auth-int` body over the limit (`build_auth_int`, feature `auth-int`, only) | 413 |
//! | `qop=auth-int` from a locked-out client, or with a forged or expired nonce | 429, 401, 401 with `stale=true`, before the body is read |
//! | `qop=auth-int` body not in within the body timeout (`AuthIntLayer::body_timeout`, 30 s by default) | 408 |
//! | success | inner service runs with [`AuthenticatedUser`] in the extensions; `Authentication-Info` with `rspauth` |
//! | success, and the inner service answers 401 (a logout) | its 401 with fresh challenges, not stale, and no `Authentication-Info` |
//! | any of these in proxy mode ([`AuthMode::Proxy`]) | 407 + `Proxy-Authenticate` for 401 + `WWW-Authenticate`; credentials from `Proxy-Authorization`, removed before the request goes on; `Proxy-Authentication-Info` on success |
//!
//! # Deployment caveats
//!
//! - Use TLS. Digest hides the password, not the traffic, and MD5 survives only for old
//!   clients: offer SHA-256 first (the default).
//! - The client address must reach the layer: `ConnectInfo<SocketAddr>` with axum,
//!   [`PeerAddr`] otherwise. Behind a reverse proxy, list it with
//!   [`ClientIpSource::XForwardedFor`] (or [`ClientIpSource::Forwarded`], whichever header
//!   the proxy writes), or every client shares the proxy's address.
//!   Without an address the layer refuses every request (500) rather than issue nonces
//!   valid from anywhere. With the proxy's address for everyone, one client's failed
//!   logins would lock out all of them ([`ThrottleConfig`]).
//! - Several instances must share a [`NonceKey`] and a [`NonceStore`] to accept each
//!   other's nonces (`RedisNonceStore`, feature `redis`, on one Redis node or a Cluster),
//!   and a [`FailureStore`] to count failed logins together.
//! - Behind a reverse proxy that strips a path prefix, clients sign the outside path: set
//!   [`DigestLayerBuilder::external_prefix`] (or
//!   [`forwarded_prefix`](DigestLayerBuilder::forwarded_prefix)), or every login is a 400.

// On docs.rs (which builds with `--cfg docsrs`, see Cargo.toml), each item behind a cargo
// feature is labelled with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth_int;
pub mod authorize;
mod challenge;
mod client_ip;
mod client_order;
mod clock;
mod config;
mod credentials;
mod future;
mod hash;
mod header;
mod layer;
mod logout;
mod mode;
mod nonce;
mod prefix;
#[cfg(feature = "redis")]
mod redis_conn;
mod rejection;
mod service;
mod throttle;
mod user;
mod userhash;
mod verify;

#[cfg(feature = "auth-int")]
pub use auth_int::{AuthInt, AuthIntBody, AuthIntLayer};
pub use authorize::{AuthorizeLayer, Authorizer, MemoryPermissions, Permissions};
pub use client_ip::{ClientIpSource, InvalidIpRange, IpRange, PeerAddr};
pub use client_order::{
    Arrangement, ChallengeOrder, ClientRule, KNOWN_CLIENTS, KNOWN_CLIENTS_VERSION,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, DEFAULT_NONCE_LIFETIME, DigestLayerBuilder, MAX_NONCE_LIFETIME};
#[cfg(feature = "htdigest")]
pub use credentials::htdigest::{
    HtdigestError, HtdigestFile, HtdigestParseError, HtdigestUsers, LineError, LineProblem,
};
#[cfg(feature = "cache")]
pub use credentials::{
    CachedCredentials, CachedCredentialsBuilder, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL,
    MAX_CACHE_TTL, MAX_CACHED_NAME_LEN,
};
pub use credentials::{Credential, CredentialStore, Ha1, InvalidHa1, MemoryCredentials};
pub use future::ResponseFuture;
pub use hash::{Algorithm, HashFunction, UnknownAlgorithm};
pub use layer::DigestLayer;
pub use logout::{AccountKey, EndLoginError};
pub use mode::AuthMode;
pub use nonce::{
    AddressBinding, MIN_NONCE_KEY_LEN, MemoryNonceStore, NcCheck, NcWindow, NonceEpoch, NonceId,
    NonceKey, NonceKeyTooShort, NonceStore, NonceUse,
};
#[cfg(feature = "redis")]
pub use nonce::{RedisNonceStore, RedisNonceStoreBuilder, RedisStoreError};
pub use rejection::{PlainTextRejection, Rejection, RejectionResponse};
pub use service::DigestService;
pub use throttle::{
    Admission, AttemptOutcome, FailureKey, FailureLimit, FailureRecord, FailureStore,
    MemoryFailureStore, NewLocks, ThrottleConfig,
};
#[cfg(feature = "redis")]
pub use throttle::{RedisFailureStore, RedisFailureStoreBuilder, RedisThrottleError};
pub use user::AuthenticatedUser;
pub use userhash::userhash;

/// Entry points for the crate's own benchmarks (`benches/`), which can only reach
/// public items. Not part of the API: no stability promise, hidden from the docs.
#[doc(hidden)]
pub mod __bench {
    use std::net::IpAddr;
    use std::time::SystemTime;

    pub use crate::hash::Algorithm;

    /// Parses an `Authorization` value; true when it is acceptable Digest syntax.
    pub fn parse_authorization(value: &[u8]) -> bool {
        crate::header::parse_authorization(value).is_ok()
    }

    /// The `response` for these inputs, as lowercase hex in a stack buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn response(
        algorithm: Algorithm,
        ha1: &crate::Ha1,
        nonce: &[u8],
        nc: &[u8],
        cnonce: &[u8],
        method: &[u8],
        uri: &[u8],
    ) -> [u8; 64] {
        let input = crate::hash::DigestInput {
            algorithm,
            nonce,
            nc,
            cnonce,
            qop: b"auth",
            uri,
        };
        let key = input.session_key(ha1.digest());
        let mut out = [0; 64];
        let digest = input.response(&key, method);
        out[..digest.as_bytes().len()].copy_from_slice(digest.as_bytes());
        out
    }

    /// Issues and checks nonces as the layer does.
    #[derive(Debug)]
    pub struct Nonces(crate::nonce::NonceSigner);

    impl Nonces {
        /// A signer with a random key for `realm`.
        pub fn new(realm: &str) -> Self {
            Nonces(crate::nonce::NonceSigner::new(
                crate::NonceKey::random(),
                Vec::new(),
                realm,
            ))
        }

        /// A new nonce.
        pub fn issue(&self, algorithm: Algorithm, client: IpAddr, now: SystemTime) -> String {
            self.0.issue(
                algorithm,
                crate::NonceEpoch::from_label(b"bench"),
                client,
                now,
            )
        }

        /// Whether `nonce` is ours and `client`'s, by the MAC every time (the layer's
        /// per-thread cache of verified nonces is not asked).
        pub fn check(&self, nonce: &[u8], client: IpAddr) -> bool {
            self.0.check_uncached(nonce, client).is_ok()
        }
    }
}

/// Entry points for the fuzz targets (`fuzz/`) and their corpus replay test
/// (`tests/fuzz_corpus.rs`). Not part of the API: no stability promise, hidden from the
/// docs.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses an `Authorization` value; on success, the parameters the crate reads, by
    /// canonical name in a fixed order, as sent (quotes and escapes removed).
    ///
    /// # Errors
    /// The parse error, as text.
    pub fn authorization_params(value: &[u8]) -> Result<Vec<(&'static str, Vec<u8>)>, String> {
        let params = crate::header::parse_authorization(value).map_err(|e| format!("{e:?}"))?;
        let fields = [
            ("username", params.username),
            ("username*", params.username_star),
            ("realm", params.realm),
            ("nonce", params.nonce),
            ("uri", params.uri),
            ("response", params.response),
            ("algorithm", params.algorithm),
            ("cnonce", params.cnonce),
            ("opaque", params.opaque),
            ("qop", params.qop),
            ("nc", params.nc),
            ("userhash", params.userhash),
        ];
        Ok(fields
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?.into_owned())))
            .collect())
    }
}
