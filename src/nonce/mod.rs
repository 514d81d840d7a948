//! Nonces: stateless to issue and to check, stateful only once a response has verified.
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

mod binding;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod store;
mod verified_cache;

#[cfg(feature = "redis")]
pub use self::redis::{RedisNonceStore, RedisNonceStoreBuilder, RedisStoreError};
pub use binding::AddressBinding;
pub use memory::MemoryNonceStore;
pub use store::{NcCheck, NcWindow, NonceStore, NonceUse};
pub(crate) use store::{expiry, remaining_life};

use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::unix_secs;
use crate::hash::Algorithm;
use verified_cache::SignerId;

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

/// A nonce that we issued, to this client, as decoded from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IssuedNonce {
    pub(crate) id: NonceId,
    pub(crate) algorithm: Algorithm,
    pub(crate) issued_at: u64,
    /// The epoch of the nonce store that was current when the nonce was issued.
    pub(crate) epoch: NonceEpoch,
}

/// Why a nonce is not one of ours for this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceError {
    /// Not our format, an unknown key id, or a tag that does not verify: never issued by
    /// us (or by an instance sharing our key), in this realm.
    Forged,
    /// Genuine, but issued to another client address.
    OtherClient,
}

/// Signs and checks nonces for one realm with the current key (and accepts older keys).
#[derive(Debug, Clone)]
pub(crate) struct NonceSigner {
    /// Realm keys: the current one first, then retired ones still accepted. Never
    /// changed once made: the verified-nonce cache relies on it (see `id`).
    keys: Vec<NonceKey>,
    /// Names these keys in the per-thread cache of verified nonces
    /// ([`verified_cache`]): every signer made gets its own, clones share it.
    id: SignerId,
    /// Which part of the client's address the client tag covers.
    binding: AddressBinding,
}

impl NonceSigner {
    pub(crate) fn new(current: NonceKey, previous: Vec<NonceKey>, realm: &str) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|key| key.for_realm(realm))
            .collect();
        NonceSigner {
            keys,
            id: SignerId::next(),
            binding: AddressBinding::default(),
        }
    }

    /// The same keys, binding nonces to `binding`'s part of the client's address.
    pub(crate) fn with_binding(mut self, binding: AddressBinding) -> Self {
        self.binding = binding;
        // Other answers for the same nonce and address: never the old signer's entries.
        self.id = SignerId::next();
        self
    }

    /// The 16 bytes the client tag covers for `client`.
    fn bound_bytes(&self, client: IpAddr) -> [u8; 16] {
        ip_bytes(self.binding.bound(client))
    }

    /// A new nonce for `algorithm`, bound to `client`, for a store of `epoch`.
    pub(crate) fn issue(
        &self,
        algorithm: Algorithm,
        epoch: NonceEpoch,
        client: IpAddr,
        now: SystemTime,
    ) -> String {
        let mut nonce = String::with_capacity(ENCODED_NONCE_LEN);
        self.issue_into(algorithm, epoch, client, now, &mut nonce);
        nonce
    }

    /// [`issue`](Self::issue), appending to `out` (a challenge being built).
    pub(crate) fn issue_into(
        &self,
        algorithm: Algorithm,
        epoch: NonceEpoch,
        client: IpAddr,
        now: SystemTime,
        out: &mut String,
    ) {
        let key = &self.keys[0];
        let mut raw = [0u8; NONCE_LEN];
        raw[0] = key.id;
        raw[1] = algorithm.code();
        raw[2..EPOCH_AT].copy_from_slice(&unix_secs(now).to_be_bytes());
        raw[EPOCH_AT..HEADER_LEN].copy_from_slice(&epoch.0.to_be_bytes());
        raw[HEADER_LEN..FIELDS_LEN].copy_from_slice(&rand::random::<[u8; RANDOM_LEN]>());
        let tag: [u8; TAG_LEN] = key.tag(&[&raw[..FIELDS_LEN]]);
        raw[FIELDS_LEN..SIGNED_LEN].copy_from_slice(&tag);
        let client_tag: [u8; CLIENT_TAG_LEN] =
            key.tag(&[&raw[..SIGNED_LEN], &self.bound_bytes(client)]);
        raw[SIGNED_LEN..].copy_from_slice(&client_tag);
        URL_SAFE_NO_PAD.encode_string(raw, out);
    }

    /// Checks that `nonce` is ours and was issued to `client`, comparing MACs in constant
    /// time. A genuine nonce costs one HMAC; the second runs only to explain a failure.
    /// A nonce this thread verified a moment ago for the same client (a client reusing
    /// its nonce with the next `nc`) is answered from [`verified_cache`], which explains
    /// why that gives the very same answer.
    pub(crate) fn check(&self, nonce: &[u8], client: IpAddr) -> Result<IssuedNonce, NonceError> {
        let Ok(encoded) = <&[u8; ENCODED_NONCE_LEN]>::try_from(nonce) else {
            return Err(NonceError::Forged);
        };
        let address = self.bound_bytes(client);
        let key = verified_cache::Key::new(self.id, encoded, &address);
        if let Some(cached) = verified_cache::lookup(&key) {
            return Ok(cached);
        }
        let checked = self.verify(encoded, &address)?;
        verified_cache::remember(&key, checked);
        Ok(checked)
    }

    /// [`check`](Self::check) without the cache: always the MAC (for benchmarks and tests).
    pub(crate) fn check_uncached(
        &self,
        nonce: &[u8],
        client: IpAddr,
    ) -> Result<IssuedNonce, NonceError> {
        let Ok(encoded) = <&[u8; ENCODED_NONCE_LEN]>::try_from(nonce) else {
            return Err(NonceError::Forged);
        };
        self.verify(encoded, &self.bound_bytes(client))
    }

    /// A nonce that [`check`](Self::check) refused as [`NonceError::OtherClient`], decoded:
    /// its tag proves we issued it, for its algorithm, time and epoch, to some client.
    /// Its id is the client tag it carries. `None` when the tag does not verify.
    pub(crate) fn check_foreign(&self, nonce: &[u8]) -> Option<IssuedNonce> {
        let encoded = <&[u8; ENCODED_NONCE_LEN]>::try_from(nonce).ok()?;
        let mut raw = [0u8; NONCE_LEN];
        if URL_SAFE_NO_PAD.decode_slice(encoded, &mut raw) != Ok(NONCE_LEN) {
            return None;
        }
        let key = self.keys.iter().find(|key| key.id == raw[0])?;
        let (fields, rest) = raw.split_at(FIELDS_LEN);
        let (tag, client_tag) = rest.split_at(TAG_LEN);
        let expected: [u8; TAG_LEN] = key.tag(&[fields]);
        if !bool::from(expected.ct_eq(tag)) {
            return None;
        }
        Some(IssuedNonce {
            id: NonceId(client_tag.try_into().ok()?),
            algorithm: Algorithm::from_code(raw[1])?,
            issued_at: u64::from_be_bytes(raw[2..EPOCH_AT].try_into().ok()?),
            epoch: NonceEpoch(u32::from_be_bytes(
                raw[EPOCH_AT..HEADER_LEN].try_into().ok()?,
            )),
        })
    }

    /// Decodes `nonce` and verifies its MACs for `address`.
    fn verify(
        &self,
        nonce: &[u8; ENCODED_NONCE_LEN],
        address: &[u8; 16],
    ) -> Result<IssuedNonce, NonceError> {
        let mut raw = [0u8; NONCE_LEN];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) {
            Ok(NONCE_LEN) => {}
            _ => return Err(NonceError::Forged),
        }
        let key = self
            .keys
            .iter()
            .find(|key| key.id == raw[0])
            .ok_or(NonceError::Forged)?;
        let (signed, client_tag) = raw.split_at(SIGNED_LEN);
        let expected: [u8; CLIENT_TAG_LEN] = key.tag(&[signed, address]);
        if !bool::from(expected.ct_eq(client_tag)) {
            let (fields, tag) = signed.split_at(FIELDS_LEN);
            let expected_tag: [u8; TAG_LEN] = key.tag(&[fields]);
            return Err(if bool::from(expected_tag.ct_eq(tag)) {
                NonceError::OtherClient
            } else {
                NonceError::Forged
            });
        }
        let algorithm = Algorithm::from_code(raw[1]).ok_or(NonceError::Forged)?;
        let issued_at = u64::from_be_bytes(raw[2..EPOCH_AT].try_into().expect("8 bytes"));
        let epoch = u32::from_be_bytes(raw[EPOCH_AT..HEADER_LEN].try_into().expect("4 bytes"));
        Ok(IssuedNonce {
            id: NonceId(expected),
            algorithm,
            issued_at,
            epoch: NonceEpoch(epoch),
        })
    }
}

/// An address as 16 bytes, with IPv4 and IPv4-mapped IPv6 alike, so a dual-stack socket
/// reporting `::ffff:127.0.0.1` and a v4 socket reporting `127.0.0.1` agree.
fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Which replay state a nonce was issued against; see [`NonceStore::epoch`].
///
/// ```
/// use tower_digest_auth::NonceEpoch;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn signer() -> NonceSigner {
        NonceSigner::new(NonceKey::from_bytes(3, &[9; 32]).unwrap(), vec![], "realm")
    }

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const EPOCH: NonceEpoch = NonceEpoch(0x0102_0304);

    #[test]
    fn issued_nonce_checks_for_its_client() {
        let signer = signer();
        let now = SystemTime::now();
        let nonce = signer.issue(Algorithm::Sha256, EPOCH, CLIENT, now);
        assert_eq!(nonce.len(), ENCODED_NONCE_LEN);
        assert!(!nonce.contains('='), "no padding");
        let checked = signer.check(nonce.as_bytes(), CLIENT).unwrap();
        assert_eq!(checked.algorithm, Algorithm::Sha256);
        assert_eq!(checked.issued_at, unix_secs(now));
        assert_eq!(checked.epoch, EPOCH);
    }

    #[test]
    fn nonce_from_another_client_is_told_apart_from_a_forgery() {
        let signer = signer();
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            signer.check(nonce.as_bytes(), other),
            Err(NonceError::OtherClient)
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_same_client() {
        let signer = signer();
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(signer.check(nonce.as_bytes(), mapped).is_ok());
    }

    #[test]
    fn tampered_nonces_are_forged() {
        let signer = signer();
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        // Flipping any byte breaks the client tag. An edited field (the algorithm byte of a
        // downgrade attempt, say) or tag is a forgery; an edited client tag alone looks
        // like a genuine nonce used from elsewhere. Both are refused.
        for index in 0..NONCE_LEN {
            raw[index] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            let expected = if index < SIGNED_LEN {
                NonceError::Forged
            } else {
                NonceError::OtherClient
            };
            assert_eq!(
                signer.check(tampered.as_bytes(), CLIENT),
                Err(expected),
                "byte {index}"
            );
            raw[index] ^= 1;
        }
        for garbage in [
            &b""[..],
            b"abc",
            &[b'!'; ENCODED_NONCE_LEN],
            &[b'A'; ENCODED_NONCE_LEN],
        ] {
            assert_eq!(signer.check(garbage, CLIENT), Err(NonceError::Forged));
        }
    }

    #[test]
    fn other_realm_or_key_is_forged_and_previous_key_still_verifies() {
        let nonce = signer().issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        let key = NonceKey::from_bytes(3, &[9; 32]).unwrap();
        let other_realm = NonceSigner::new(key.clone(), vec![], "other");
        assert_eq!(
            other_realm.check(nonce.as_bytes(), CLIENT),
            Err(NonceError::Forged)
        );
        let other_key =
            NonceSigner::new(NonceKey::from_bytes(3, &[8; 32]).unwrap(), vec![], "realm");
        assert_eq!(
            other_key.check(nonce.as_bytes(), CLIENT),
            Err(NonceError::Forged)
        );
        let rotated = NonceSigner::new(
            NonceKey::from_bytes(4, &[8; 32]).unwrap(),
            vec![key],
            "realm",
        );
        assert!(rotated.check(nonce.as_bytes(), CLIENT).is_ok());
    }
}
