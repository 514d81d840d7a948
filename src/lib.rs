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
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{Router, routing::get};
//! use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
//!
//! async fn whoami(user: AuthenticatedUser) -> String {
//!     user.username().to_owned()
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let realm = "http-auth@example.org";
//! let users = MemoryCredentials::new(realm, [("Mufasa", "Circle of Life")]);
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(DigestLayer::builder(realm, users).build()?);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // Nonces are bound to the client's address, so the layer needs it.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What a request gets
//!
//! | request | answer |
//! |---|---|
//! | no `Authorization`, or another scheme | 401 with one `WWW-Authenticate: Digest` line per algorithm |
//! | unparsable header, duplicate or missing parameter, `qop` other than `auth`, algorithm not offered, foreign `realm` or `opaque`, `uri` not the request target | 400, plain-text reason |
//! | wrong password or unknown user (indistinguishable) | 401 + fresh challenge |
//! | forged nonce, nonce of another client IP or algorithm, replayed `(nonce, nc)` | 401 + fresh challenge |
//! | expired nonce with a correct response | 401 + challenge with `stale=true` |
//! | credential or nonce store error, unknown client address | 500, logged |
//! | success | inner service runs with [`AuthenticatedUser`] in the extensions; `Authentication-Info` with `rspauth` |
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
//!   valid from anywhere.
//! - Several instances must share a [`NonceKey`] and a [`NonceStore`] to accept each
//!   other's nonces: `RedisNonceStore` (feature `redis`) on one Redis node or a Cluster.

mod challenge;
mod client_ip;
mod clock;
mod config;
mod credentials;
mod future;
mod hash;
mod header;
mod layer;
mod nonce;
mod rejection;
mod service;
mod user;
mod verify;

pub use client_ip::{ClientIpSource, InvalidIpRange, IpRange, PeerAddr};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, DEFAULT_NONCE_LIFETIME, DigestLayerBuilder, MAX_NONCE_LIFETIME};
pub use credentials::{CredentialStore, Ha1, InvalidHa1, MemoryCredentials};
pub use future::ResponseFuture;
pub use hash::{Algorithm, HashFunction};
pub use layer::DigestLayer;
pub use nonce::{
    MIN_NONCE_KEY_LEN, MemoryNonceStore, NcCheck, NcWindow, NonceEpoch, NonceId, NonceKey,
    NonceKeyTooShort, NonceStore, NonceUse,
};
#[cfg(feature = "redis")]
pub use nonce::{RedisNonceStore, RedisNonceStoreBuilder, RedisStoreError};
pub use rejection::{PlainTextRejection, Rejection, RejectionResponse};
pub use service::DigestService;
pub use user::AuthenticatedUser;

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

        /// Whether `nonce` is ours and `client`'s.
        pub fn check(&self, nonce: &[u8], client: IpAddr) -> bool {
            self.0.check(nonce, client).is_ok()
        }
    }
}

/// The README's code samples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
