#![doc = include_str!("docs/overview.md")]
#![doc = include_str!("docs/behaviour.md")]
#![doc = include_str!("docs/configuration.md")]
#![doc = include_str!("docs/security.md")]
#![doc = include_str!("docs/proxy_auth.md")]
#![doc = include_str!("docs/tls.md")]
#![doc = include_str!("docs/webdav.md")]
#![doc = include_str!("docs/client_compatibility.md")]
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
pub use mode::AuthMode;
pub use nonce::{
    MIN_NONCE_KEY_LEN, MemoryNonceStore, NcCheck, NcWindow, NonceEpoch, NonceId, NonceKey,
    NonceKeyTooShort, NonceStore, NonceUse,
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
