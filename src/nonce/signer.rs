//! Issuing and checking nonces: the MACs, the layout, the client binding.

use std::net::IpAddr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use super::verified_cache::{self, SignerId};
use super::{
    AddressBinding, CLIENT_TAG_LEN, ENCODED_NONCE_LEN, EPOCH_AT, FIELDS_LEN, HEADER_LEN, NONCE_LEN,
    NonceEpoch, NonceId, NonceKey, RANDOM_LEN, SIGNED_LEN, TAG_LEN,
};
use crate::clock::unix_secs;
use crate::hash::Algorithm;

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
    pub(super) id: SignerId,
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
pub(super) fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
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
