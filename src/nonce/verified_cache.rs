//! A small per-thread memory of nonces whose MAC verified, so that a client reusing its
//! nonce (the next `nc` on a keep-alive connection, the steady state) skips the HMAC.
//!
//! # Why it is sound
//!
//! [`NonceSigner::check`](super::NonceSigner::check) is a deterministic function of three
//! things only: the nonce's bytes as sent, the client's address (as the 16 bytes the MAC
//! covers, see `ip_bytes`) and the signer's keys, which never change once the signer is
//! made. So for the same three inputs it gives the same answer every time, and a stored
//! answer is as good as a recomputed one. Each entry is keyed by all three, compared
//! whole:
//!
//! - the **signer** by a [`SignerId`], drawn from a process-wide counter when the signer
//!   is made (clones share it, as they share the keys). Two layers on one thread, two
//!   realms, a rotated key or a rebuilt layer with the same key all have different ids,
//!   so they never see each other's entries; an id is never reused.
//! - the **nonce** by its full encoded bytes (a nonce is exactly
//!   [`ENCODED_NONCE_LEN`] bytes; any other length is refused before the cache is asked);
//! - the **address** by the 16 bytes the MAC covers.
//!
//! The comparison runs in constant time over all of it (the words' differences combined
//! with OR, without a branch, then compared with zero by [`subtle`]), so a lookup tells
//! nothing about how much of a key matched.
//!
//! Only successes are stored, and only after the MAC verified: a forged nonce, a nonce
//! of another client or one of an unknown key id is never inserted, so it costs the
//! HMAC every time, as before. What is stored is the decoded contents
//! ([`IssuedNonce`]: id, algorithm, issue time, store epoch), never a verdict about the
//! request: the age, the store epoch, the algorithm match, the response and the replay
//! window are all checked on those contents exactly as without the cache. An expired
//! nonce therefore still gets `stale=true`, and a replayed `nc` is still refused.
//!
//! # Bounds
//!
//! The table is a fixed array of [`SLOTS`] entries per thread (about 4 KiB), direct
//! mapped, allocated with the thread and never grown. A client can choose which slot its
//! own genuine nonces land in, and so evict others' entries, which only costs them the
//! HMAC they would have paid anyway; it can never add memory. Nothing in an entry is
//! secret: the nonce travels in clear text, and the id is its last 16 bytes.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use subtle::ConstantTimeEq;

use super::{ENCODED_NONCE_LEN, IssuedNonce};

/// How many verified nonces each thread remembers.
pub(super) const SLOTS: usize = 32;

/// Words of a key: the signer, the nonce (72 bytes), the address (16 bytes).
const KEY_WORDS: usize = 1 + ENCODED_NONCE_LEN / 8 + 2;
const _: () = assert!(
    ENCODED_NONCE_LEN % 8 == 0,
    "the nonce packs into whole words"
);

/// Which signer (one set of realm keys) produced a cached answer. Never 0, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SignerId(u64);

impl SignerId {
    /// A fresh id: one per [`NonceSigner::new`](super::NonceSigner::new).
    pub(super) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // 2^64 signers cannot be made in a process's life, so the counter never wraps
        // back to an id in use.
        SignerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a cached answer is keyed by, packed into words for a cheap constant-time compare.
pub(super) struct Key([u64; KEY_WORDS]);

impl Key {
    pub(super) fn new(
        signer: SignerId,
        nonce: &[u8; ENCODED_NONCE_LEN],
        address: &[u8; 16],
    ) -> Self {
        let mut words = [0u64; KEY_WORDS];
        words[0] = signer.0;
        let (nonce_words, address_words) = words[1..].split_at_mut(ENCODED_NONCE_LEN / 8);
        for (word, bytes) in nonce_words.iter_mut().zip(nonce.chunks_exact(8)) {
            *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        for (word, bytes) in address_words.iter_mut().zip(address.chunks_exact(8)) {
            *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        Key(words)
    }

    /// The slot this key lives in: a multiplicative hash of every word.
    fn slot(&self) -> usize {
        let hash = self.0.iter().fold(0u64, |hash, &word| {
            (hash ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        // The top bits are the best mixed; SLOTS is a power of two.
        #[allow(clippy::cast_possible_truncation)]
        let slot = (hash >> (64 - SLOTS.trailing_zeros())) as usize;
        slot
    }
}

const _: () = assert!(SLOTS.is_power_of_two());

#[derive(Clone, Copy)]
struct Entry {
    key: [u64; KEY_WORDS],
    nonce: IssuedNonce,
}

thread_local! {
    static TABLE: RefCell<[Option<Entry>; SLOTS]> = const { RefCell::new([None; SLOTS]) };
}

/// The decoded contents of this exact nonce, if this thread verified it for this
/// address under this signer.
pub(super) fn lookup(key: &Key) -> Option<IssuedNonce> {
    TABLE
        .try_with(|table| {
            let table = table.try_borrow().ok()?;
            let entry = table[key.slot()].as_ref()?;
            // Every word compared, without a branch: the differences combined with OR, and
            // one constant-time comparison of that with zero.
            let difference = entry
                .key
                .iter()
                .zip(&key.0)
                .fold(0u64, |difference, (a, b)| difference | (a ^ b));
            bool::from(difference.ct_eq(&0)).then_some(entry.nonce)
        })
        .ok()
        .flatten()
}

/// Remembers a nonce whose MAC just verified for `key` (replacing whatever held its slot).
/// Call it with nothing else: only answers of a successful check belong here.
pub(super) fn remember(key: &Key, nonce: IssuedNonce) {
    // A thread being torn down has no table: the answer is simply not kept.
    let _ = TABLE.try_with(|table| {
        if let Ok(mut table) = table.try_borrow_mut() {
            table[key.slot()] = Some(Entry { key: key.0, nonce });
        }
    });
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::SystemTime;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::super::signer::ip_bytes;
    use super::super::{NonceEpoch, NonceError, NonceKey, NonceSigner};
    use super::*;
    use crate::hash::Algorithm;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const EPOCH: NonceEpoch = NonceEpoch(7);

    fn signer(secret: u8) -> NonceSigner {
        NonceSigner::new(
            NonceKey::from_bytes(1, &[secret; 32]).unwrap(),
            vec![],
            "realm",
        )
    }

    fn cached(signer: &NonceSigner, nonce: &str, client: IpAddr) -> Option<IssuedNonce> {
        let nonce: &[u8; ENCODED_NONCE_LEN] = nonce.as_bytes().try_into().unwrap();
        lookup(&Key::new(signer.id, nonce, &ip_bytes(client)))
    }

    #[test]
    fn a_verified_nonce_is_answered_from_the_cache_with_the_same_contents() {
        let signer = signer(1);
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        assert_eq!(
            cached(&signer, &nonce, CLIENT),
            None,
            "issuing caches nothing"
        );
        let checked = signer.check(nonce.as_bytes(), CLIENT).unwrap();
        assert_eq!(cached(&signer, &nonce, CLIENT), Some(checked));
        assert_eq!(signer.check(nonce.as_bytes(), CLIENT), Ok(checked));
        // Another thread starts with an empty cache: its answer is the MAC's.
        let fresh = std::thread::scope(|scope| {
            scope
                .spawn(|| signer.check(nonce.as_bytes(), CLIENT))
                .join()
                .unwrap()
        });
        assert_eq!(fresh, Ok(checked));
    }

    #[test]
    fn another_signer_never_sees_the_entry() {
        let first = signer(1);
        let nonce = first.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        first.check(nonce.as_bytes(), CLIENT).unwrap();
        // Another key (a rotation without the old key kept, another layer): a miss, and
        // the MAC refuses it.
        let other_key = signer(2);
        assert_eq!(cached(&other_key, &nonce, CLIENT), None);
        assert_eq!(
            other_key.check(nonce.as_bytes(), CLIENT),
            Err(NonceError::Forged)
        );
        assert_eq!(
            cached(&other_key, &nonce, CLIENT),
            None,
            "refusals are not kept"
        );
        // Even a signer with the very same key is another signer: it verifies on its own.
        let same_key = signer(1);
        assert_eq!(cached(&same_key, &nonce, CLIENT), None);
        assert!(same_key.check(nonce.as_bytes(), CLIENT).is_ok());
    }

    #[test]
    fn another_address_misses_and_is_refused() {
        let signer = signer(1);
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        signer.check(nonce.as_bytes(), CLIENT).unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(cached(&signer, &nonce, other), None);
        assert_eq!(
            signer.check(nonce.as_bytes(), other),
            Err(NonceError::OtherClient)
        );
        assert_eq!(
            cached(&signer, &nonce, other),
            None,
            "refusals are not kept"
        );
        // The same address written as IPv4-mapped IPv6 is the same client to the MAC.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(cached(&signer, &nonce, mapped).is_some());
    }

    #[test]
    fn a_nonce_one_byte_off_misses_and_is_refused() {
        let signer = signer(1);
        let nonce = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        signer.check(nonce.as_bytes(), CLIENT).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        for index in 0..raw.len() {
            raw[index] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(cached(&signer, &tampered, CLIENT), None, "byte {index}");
            assert!(
                signer.check(tampered.as_bytes(), CLIENT).is_err(),
                "byte {index}"
            );
            raw[index] ^= 1;
        }
        // The genuine one is still there.
        assert!(cached(&signer, &nonce, CLIENT).is_some());
    }

    #[test]
    fn forged_nonces_are_never_cached() {
        let signer = signer(1);
        let genuine = signer.issue(Algorithm::Md5, EPOCH, CLIENT, SystemTime::now());
        let mut raw = URL_SAFE_NO_PAD.decode(&genuine).unwrap();
        raw[5] ^= 0x80; // the issue time: a forgery
        let forged = URL_SAFE_NO_PAD.encode(&raw);
        for _ in 0..2 {
            assert_eq!(
                signer.check(forged.as_bytes(), CLIENT),
                Err(NonceError::Forged)
            );
            assert_eq!(cached(&signer, &forged, CLIENT), None);
        }
        // A nonce of the right form under a key id we do not have.
        raw[5] ^= 0x80;
        raw[0] = 9;
        let unknown_key = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(
            signer.check(unknown_key.as_bytes(), CLIENT),
            Err(NonceError::Forged)
        );
        assert_eq!(cached(&signer, &unknown_key, CLIENT), None);
    }

    #[test]
    fn the_table_stays_bounded_under_many_nonces() {
        let signer = signer(1);
        let now = SystemTime::now();
        let nonces: Vec<String> = (0..SLOTS * 8)
            .map(|_| signer.issue(Algorithm::Md5, EPOCH, CLIENT, now))
            .collect();
        for nonce in &nonces {
            signer.check(nonce.as_bytes(), CLIENT).unwrap();
        }
        let kept = nonces
            .iter()
            .filter(|nonce| cached(&signer, nonce, CLIENT).is_some())
            .count();
        assert!((1..=SLOTS).contains(&kept), "{kept} kept");
        // Evicted or not, every one still verifies.
        for nonce in &nonces {
            assert!(signer.check(nonce.as_bytes(), CLIENT).is_ok());
        }
        // "A handful of KiB" per thread, and it never grows.
        assert!(std::mem::size_of::<[Option<Entry>; SLOTS]>() <= 6 * 1024);
    }
}
