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

// The public modules, one per concern. Only the everyday types are re-exported at the root
// (below); everything else is reached through its module, so a concern can grow without
// crowding the root.
pub mod algorithm;
// The body-integrity stage is public only with its feature; without it, the module keeps
// the few crate-internal pieces the verification shares with it.
#[cfg(feature = "auth-int")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth-int")))]
pub mod auth_int;
#[cfg(not(feature = "auth-int"))]
mod auth_int;
pub mod authorize;
pub mod basic;
pub mod challenge;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod client_ip;
pub mod clock;
pub mod credentials;
pub mod nonce;
pub mod rejection;
pub mod throttle;

mod config;
mod future;
mod hash;
mod header;
mod layer;
mod logout;
mod macros;
mod mode;
mod prefix;
mod random_key;
#[cfg(feature = "redis")]
mod redis_conn;
mod service;
mod user;
mod userhash;
mod verify;

// The root: what a quick start names. Keep it short (see the API policy in CONTRIBUTING.md).
pub use client_ip::{ClientIpSource, PeerAddr};
pub use config::{ConfigError, DigestLayerBuilder};
pub use credentials::{Credential, CredentialStore, Ha1, MemoryCredentials};
pub use future::ResponseFuture;
pub use hash::Algorithm;
pub use layer::DigestLayer;
pub use logout::EndLoginError;
pub use mode::AuthMode;
pub use nonce::NonceKey;
pub use service::DigestService;
pub use user::AuthenticatedUser;

/// Entry points for the crate's own micro-benchmarks of internals (`suite/benches/digest/`).
/// Compiled only with `--cfg tower_digest_auth_bench`, which the benchmark scripts set and
/// users never do: not part of the API.
#[cfg(tower_digest_auth_bench)]
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
                crate::nonce::NonceEpoch::from_label(b"bench"),
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

/// Entry points for the fuzz targets (`fuzz/`) and the corpus replay test
/// (`tests/fuzz_corpus.rs`). Compiled only with `--cfg fuzzing`, which cargo-fuzz sets
/// (and CI for the replay) and users never do: not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    /// Parses an `Authorization` value; true when it is acceptable Digest syntax (the
    /// fast path, without collecting the parameters).
    pub fn parse_authorization(value: &[u8]) -> bool {
        crate::header::parse_authorization(value).is_ok()
    }

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
