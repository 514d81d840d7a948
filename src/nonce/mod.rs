//! Nonces: the key that signs them ([`NonceKey`]), how long they live
//! ([`DEFAULT_NONCE_LIFETIME`]), and the store that accepts each `(nonce, nc)` once
//! ([`NonceStore`]: [`MemoryNonceStore`] by default, `RedisNonceStore` with the `redis`
//! feature for several instances).
//!
//! ```
//! use tower_digest_auth::nonce::{MemoryNonceStore, NonceKey};
//! use tower_digest_auth::{DigestLayer, MemoryCredentials};
//!
//! // Every instance behind one load balancer: the same key (`openssl rand -hex 32`).
//! let key = NonceKey::from_hex(1, &"5e".repeat(32))?;
//! let users = MemoryCredentials::new("api@example.org", [("alice", "secret")]);
//! let layer = DigestLayer::builder("api@example.org", users)
//!     .nonce_key(key)
//!     .nonce_store(MemoryNonceStore::new())
//!     .build()?;
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How nonces work
//!
//! Stateless to issue and to check, stateful only once a response has verified.
//!
#![doc = include_str!("../docs/several_instances.md")]
//!
//! A nonce is `base64url(key id, algorithm, issue time, store epoch, 96 random bits, tag,
//! client tag)`,
//! with MACs under a key derived from the nonce key and the realm (so a nonce of another
//! realm never verifies):
//!
//! - `client tag = HMAC-SHA256(realm key, fields || tag || client IP)`, cut to 128 bits,
//!   proves we issued the nonce, for this algorithm and time, to this client. It is the
//!   only MAC computed for a genuine nonce (one inner and one outer SHA-256 block), and it
//!   is the nonce's id in the [`NonceStore`].
//! - `tag = HMAC-SHA256(realm key, fields)`, cut to 96 bits, is checked only when the
//!   client tag fails, to tell a forged nonce from a genuine one used from another
//!   address in the logs.
//!
//! A client reusing its nonce (the next `nc`) skips even that one MAC: each thread
//! remembers the last few nonces it verified, keyed by the whole nonce, the client's
//! address and the signer (`verified_cache`, which says why that is sound).
//!
//! Issuing stores nothing, so a flood of unauthenticated requests costs no memory. The
//! [`NonceStore`] is asked only after a response has verified, to accept each
//! `(nonce, nc)` once.

mod account;
mod binding;
mod key_hex;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod signer;
mod store;
mod verified_cache;

#[cfg(feature = "redis")]
pub use self::redis::{RedisNonceStore, RedisNonceStoreBuilder, RedisStoreError};
pub use account::AccountKey;
pub use binding::AddressBinding;
pub use key_hex::NonceKeyHexError;
pub use memory::MemoryNonceStore;
pub(crate) use signer::{IssuedNonce, NonceError, NonceSigner};
pub use store::{NcCheck, NcWindow, NonceStore, NonceUse};

pub use crate::config::{DEFAULT_NONCE_LIFETIME, MAX_NONCE_LIFETIME};
pub(crate) use store::{expiry, remaining_life};

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const RANDOM_LEN: usize = 12;
const TAG_LEN: usize = 12;
const CLIENT_TAG_LEN: usize = 16;
/// Key id, algorithm, issue time and the nonce store's epoch.
const HEADER_LEN: usize = 1 + 1 + 8 + 4;
/// Where the epoch sits in the header.
const EPOCH_AT: usize = 1 + 1 + 8;
/// Key id, algorithm, issue time, epoch and random part: what the tag covers.
const FIELDS_LEN: usize = HEADER_LEN + RANDOM_LEN;
/// The fields and the tag: what the client tag covers, with the client's address.
const SIGNED_LEN: usize = FIELDS_LEN + TAG_LEN;
const NONCE_LEN: usize = SIGNED_LEN + CLIENT_TAG_LEN;
/// Length of a nonce in base64url without padding (some load tools cut nonces at `=`).
pub(crate) const ENCODED_NONCE_LEN: usize = (NONCE_LEN * 4).div_ceil(3);

/// The secret that signs nonces.
///
/// By default each layer draws a random one, so after a restart the nonces clients hold
/// no longer verify: they get a fresh challenge, and a browser may ask its user again.
/// Configure a key that outlives the process to avoid that: old nonces then still verify,
/// but they carry the old store's [`NonceEpoch`], which the fresh [`MemoryNonceStore`]
/// does not have (it cannot know their past uses), so clients get `stale=true` and retry
/// without asking. Instances behind one load
/// balancer must share a key (and a [`NonceStore`]) to accept each other's nonces. The id
/// lets a rotated-out key keep verifying the nonces it signed (see
/// [`DigestLayerBuilder::previous_nonce_key`](crate::DigestLayerBuilder::previous_nonce_key)).
///
/// ```
/// use tower_digest_auth::NonceKey;
///
/// let key = NonceKey::from_bytes(1, &[7; 32]).unwrap();
/// assert_eq!(key.id(), 1);
/// assert_eq!(format!("{key:?}"), "NonceKey { id: 1, .. }");
/// assert!(NonceKey::from_bytes(1, b"short").is_err());
/// ```
#[derive(Clone)]
pub struct NonceKey {
    id: u8,
    mac: HmacSha256,
}

/// The shortest secret [`NonceKey::from_bytes`] takes: 256 bits.
pub const MIN_NONCE_KEY_LEN: usize = 32;

/// [`NonceKey::from_bytes`] was given fewer than [`MIN_NONCE_KEY_LEN`] bytes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a nonce key needs at least {MIN_NONCE_KEY_LEN} bytes of secret, got {0}")]
pub struct NonceKeyTooShort(usize);

impl NonceKey {
    /// A fresh random key with id 0.
    pub fn random() -> Self {
        let secret: [u8; MIN_NONCE_KEY_LEN] = rand::random();
        let mac = HmacSha256::new_from_slice(&secret).unwrap_or_else(|_| unreachable!());
        NonceKey { id: 0, mac }
    }

    /// A key from configuration (e.g. 32 bytes from a secrets manager), shared by every
    /// instance that must accept the others' nonces.
    ///
    /// # Errors
    /// [`NonceKeyTooShort`] when `secret` has fewer than [`MIN_NONCE_KEY_LEN`] bytes.
    pub fn from_bytes(id: u8, secret: &[u8]) -> Result<Self, NonceKeyTooShort> {
        if secret.len() < MIN_NONCE_KEY_LEN {
            return Err(NonceKeyTooShort(secret.len()));
        }
        // HMAC takes keys of any length, so this error cannot happen.
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| NonceKeyTooShort(secret.len()))?;
        Ok(NonceKey { id, mac })
    }

    /// The id carried in every nonce this key signs.
    pub fn id(&self) -> u8 {
        self.id
    }

    /// HMAC over `parts`, starting from the pre-keyed state (no key schedule per call).
    fn tag<const N: usize>(&self, parts: &[&[u8]]) -> [u8; N] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0; N];
        tag.copy_from_slice(&full[..N]);
        tag
    }

    /// A value derived from the key, for defaults (such as `opaque`) that instances
    /// sharing a key must agree on without revealing the key.
    pub(crate) fn derive(&self, label: &[u8]) -> [u8; 16] {
        self.tag(&[b"tower-digest-auth derive\0", label])
    }

    /// The key that signs this realm's nonces: hashing the realm into the key instead of
    /// into every message keeps each nonce MAC to one block.
    fn for_realm(&self, realm: &str) -> NonceKey {
        let secret: [u8; 32] = self.tag(&[b"tower-digest-auth nonce realm\0", realm.as_bytes()]);
        let mac = HmacSha256::new_from_slice(&secret).unwrap_or_else(|_| unreachable!());
        NonceKey { id: self.id, mac }
    }
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Identifies one issued nonce in a [`NonceStore`]: 128 bits that only the key holder
/// can produce, so stores may use them directly as map or Redis keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceId([u8; CLIENT_TAG_LEN]);

impl NonceId {
    /// An id from its raw bytes, for stores that keep ids elsewhere (and for tests and
    /// benchmarks that fill a store).
    pub fn from_bytes(bytes: [u8; CLIENT_TAG_LEN]) -> Self {
        NonceId(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; CLIENT_TAG_LEN] {
        &self.0
    }
}

impl fmt::Debug for NonceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NonceId({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Which replay state a nonce was issued against; see [`NonceStore::epoch`].
///
/// ```
/// use tower_digest_auth::nonce::NonceEpoch;
///
/// // Every process naming the same shared state agrees; random epochs (almost) never do.
/// assert_eq!(NonceEpoch::from_label(b"redis://cache/digest:"), NonceEpoch::from_label(b"redis://cache/digest:"));
/// assert_ne!(NonceEpoch::random(), NonceEpoch::random());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceEpoch(u32);

impl NonceEpoch {
    /// The epoch of a [`NonceUse`] made without one; no Redis generation has it.
    pub const UNKNOWN: NonceEpoch = NonceEpoch(0);

    /// A fresh random epoch, for a store whose state lives and dies with one process.
    pub fn random() -> Self {
        NonceEpoch(rand::random())
    }

    /// An epoch from its number (the inverse of [`get`](NonceEpoch::get)), for stores
    /// that encode their own state in it.
    pub fn from_u32(epoch: u32) -> Self {
        NonceEpoch(epoch)
    }

    /// The epoch every process derives from the same `label` (for example a shared
    /// store's key prefix), so they accept each other's nonces.
    pub fn from_label(label: &[u8]) -> Self {
        use sha2::Digest as _;
        let digest = Sha256::new_with_prefix(b"tower-digest-auth epoch\0")
            .chain_update(label)
            .finalize();
        NonceEpoch(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }

    /// The epoch as a number (for logs and stores that record it).
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The layer's view of its nonce store's epochs, so that the configuration (which is
/// not generic over the store) reads them at every nonce it issues and checks.
pub(crate) trait EpochSource: Send + Sync + 'static {
    /// The epoch to write into a nonce issued now.
    fn current(&self) -> NonceEpoch;
    /// Whether a nonce of `epoch` may reach the store.
    fn accepts(&self, epoch: NonceEpoch) -> bool;
}

impl<N: NonceStore> EpochSource for N {
    fn current(&self) -> NonceEpoch {
        self.epoch()
    }

    fn accepts(&self, epoch: NonceEpoch) -> bool {
        self.accepts_epoch(epoch)
    }
}
