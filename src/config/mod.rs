//! The layer's configuration: what every request reads ([`Config`]), what the builder
//! refuses ([`ConfigError`]), and the builder itself ([`builder`]).

mod builder;

pub use builder::DigestLayerBuilder;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use crate::basic::{BasicAuth, BasicConfig};
use crate::challenge::ChallengeOrder;
use crate::client_ip::ClientIpSource;
use crate::clock::Clock;
use crate::hash::{Algorithm, HashFunction, HexDigest};
use crate::mode::AuthMode;
use crate::nonce::{EpochSource, NonceSigner};
use crate::prefix::ExternalPrefix;

/// How long a nonce is accepted by default: 30 minutes.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The longest nonce lifetime the builder accepts: 30 days. A nonce is a bearer of
/// replay state for its whole life, and longer lifetimes buy nothing a client notices.
pub const MAX_NONCE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A configuration the builder refuses.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No algorithm would be offered.
    #[error("at least one algorithm must be offered")]
    NoAlgorithms,
    /// An algorithm is listed twice.
    #[error("algorithm {0} is listed twice")]
    DuplicateAlgorithm(Algorithm),
    /// The realm, opaque or a domain URI has a control character (or a realm is empty).
    #[error("{0} must be non-empty text without control characters")]
    InvalidText(&'static str),
    /// The nonce lifetime is under one second.
    #[error("the nonce lifetime must be at least one second")]
    LifetimeTooShort,
    /// The nonce lifetime is over [`MAX_NONCE_LIFETIME`].
    #[error("the nonce lifetime must be at most 30 days")]
    LifetimeTooLong,
    /// A previous nonce key has the id of the current one or of another previous key.
    #[error("nonce key id {0} is used twice")]
    DuplicateKeyId(u8),
    /// The credential store says it has no users in the layer's realm (for
    /// [`MemoryCredentials`](crate::MemoryCredentials): the realm given to it differs).
    #[error(
        "the credential store has no users in realm {realm:?}: give the store and the layer the same realm"
    )]
    RealmNotServed {
        /// The layer's realm.
        realm: String,
    },
    /// The external prefix is not a plain path (it must start with `/` and have no
    /// query, fragment, comma, space or control character).
    #[error(
        "the external prefix must be a path starting with '/', without '?', '#', ',' or spaces"
    )]
    InvalidPrefix,
    /// An [`AddressBinding::prefix`](crate::nonce::AddressBinding::prefix) longer than its
    /// address family (32 bits for IPv4, 128 for IPv6).
    #[error("an address binding prefix must be at most 32 bits for IPv4 and 128 for IPv6")]
    InvalidAddressPrefix,
}

/// Everything a request needs, built once and shared by every clone of the service.
pub(crate) struct Config {
    pub(crate) realm: Arc<str>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) lifetime_secs: u64,
    pub(crate) signer: NonceSigner,
    /// The nonce store (the same one the layer records uses in), read for its epoch at
    /// every nonce we issue and check.
    pub(crate) epochs: Arc<dyn EpochSource>,
    pub(crate) client_ip: ClientIpSource,
    pub(crate) opaque: String,
    /// Per offered algorithm, the challenge text before the nonce.
    pub(crate) challenge_prefixes: Vec<(Algorithm, String)>,
    /// The challenge text after the nonce, the same for every algorithm.
    pub(crate) challenge_suffix: String,
    /// Which challenge a client sees first, from its `User-Agent`.
    pub(crate) challenge_order: ChallengeOrder,
    pub(crate) clock: Arc<dyn Clock>,
    /// Whether requests without Digest credentials pass through unauthenticated.
    pub(crate) allow_anonymous: bool,
    /// Origin server or proxy authentication: the header names and the challenge status.
    pub(crate) mode: AuthMode,
    /// The path prefix a reverse proxy strips, put back for the `uri` check.
    pub(crate) external_prefix: ExternalPrefix,
    /// Opt-in protocol extensions: methods that pass unauthenticated, userhash, auth-int.
    pub(crate) protocol: ProtocolOptions,
    /// Basic beside Digest, when on.
    pub(crate) basic: Option<BasicConfig>,
    /// Per hash function, the `HA1` an unknown user is checked against, so that answering
    /// "no such user" costs the same hashing as "wrong password".
    dummy_ha1: [HexDigest; 3],
}

impl Config {
    pub(crate) fn dummy_ha1(&self, hash: HashFunction) -> &HexDigest {
        &self.dummy_ha1[hash.index()]
    }

    /// Whether Basic is offered and accepted on this request.
    pub(crate) fn basic_allowed(&self, parts: &http::request::Parts) -> bool {
        self.basic
            .as_ref()
            .is_some_and(|basic| basic.allowed(parts, &self.client_ip))
    }

    /// Whether a nonce of this age should be replaced through `nextnonce`: in the last
    /// quarter of its life, so clients that honour it never hit a stale nonce.
    pub(crate) fn wants_next_nonce(&self, age_secs: u64) -> bool {
        age_secs >= self.lifetime_secs - self.lifetime_secs / 4
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("lifetime_secs", &self.lifetime_secs)
            .field("client_ip", &self.client_ip)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("mode", &self.mode)
            .field("external_prefix", &self.external_prefix)
            .field("protocol", &self.protocol)
            .field("basic", &self.basic)
            .finish_non_exhaustive()
    }
}

/// The opt-in extensions of the protocol (Basic beside it among them), kept together so
/// the builder carries them as one field. Every one is off by default.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProtocolOptions {
    /// Methods that reach the inner service without authentication (`OPTIONS` for
    /// WebDAV clients that probe without credentials).
    pub(crate) unauthenticated_methods: Vec<Method>,
    /// Whether challenges say `userhash=true` and hashed usernames are accepted.
    pub(crate) userhash: bool,
    /// The body limit of `qop=auth-int`; `None` when auth-int is not offered. Set only by
    /// `build_auth_int`, whose layer reads the bodies.
    pub(crate) auth_int_limit: Option<usize>,
    /// Whether, and where, Basic is accepted beside Digest.
    pub(crate) basic: BasicAuth,
}

impl ProtocolOptions {
    /// Whether `method` passes without authentication.
    pub(crate) fn passes_unauthenticated(&self, method: &Method) -> bool {
        self.unauthenticated_methods.contains(method)
    }
}

/// Text that goes into a quoted-string of a header: no control characters.
pub(super) fn check_text(what: &'static str, text: &str) -> Result<(), ConfigError> {
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(ConfigError::InvalidText(what));
    }
    Ok(())
}

/// Escapes `"` and `\` for a quoted-string.
pub(crate) fn quote_escape(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted
}
