//! `KD(secret, data)` as RFC 7616 builds it for `response` and `rspauth`, sharing the hash
//! state on their common prefix.

use super::{HashFunction, Hasher, HexDigest, RawDigest, ha2_cache};
use crate::hash::Algorithm;

/// The inputs of one digest computation, exactly as the client sent them: the hash is
/// over the bytes on the wire (`nc` and `qop` included), not over re-encoded values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DigestInput<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) nonce: &'a [u8],
    pub(crate) nc: &'a [u8],
    pub(crate) cnonce: &'a [u8],
    pub(crate) qop: &'a [u8],
    // Read by `finish_kd` and `response`, which only tests and the benchmarks call.
    #[cfg_attr(not(any(test, tower_digest_auth_bench)), allow(dead_code))]
    pub(crate) uri: &'a [u8],
}

impl DigestInput<'_> {
    /// The key for this request's `KD`: `HA1`, or for `-sess` `H(HA1:nonce:cnonce)`.
    pub(crate) fn session_key(&self, ha1: &HexDigest) -> HexDigest {
        if self.algorithm.is_session() {
            self.algorithm.hash_function().hex_digest(&[
                ha1.as_bytes(),
                b":",
                self.nonce,
                b":",
                self.cnonce,
            ])
        } else {
            *ha1
        }
    }

    /// The hash state after `session_key:nonce:nc:cnonce:qop:`, the part of `KD` that
    /// the `response` and `rspauth` share; each finishes it with its own `H(A2)`.
    pub(crate) fn kd_prefix(&self, session_key: &HexDigest) -> Hasher {
        let mut hasher = Hasher::new(self.algorithm.hash_function());
        let parts = [
            session_key.as_bytes(),
            self.nonce,
            self.nc,
            self.cnonce,
            self.qop,
        ];
        // Gathered into one buffer when it fits (as it does for every real client), so
        // the hash is fed once rather than ten times: each feed copies into its block
        // buffer anyway, and costs a call and its bookkeeping on top.
        let mut buffer = [0u8; 256];
        let mut at = 0;
        for part in parts {
            let Some(slot) = buffer.get_mut(at..at + part.len() + 1) else {
                // Too long for the buffer (a long cnonce): part by part.
                for part in parts {
                    hasher.update(part);
                    hasher.update(b":");
                }
                return hasher;
            };
            let (bytes, colon) = slot.split_at_mut(part.len());
            bytes.copy_from_slice(part);
            colon[0] = b':';
            at += part.len() + 1;
        }
        hasher.update(&buffer[..at]);
        hasher
    }

    #[cfg(any(test, tower_digest_auth_bench))]
    /// Finishes `KD` for `method` (empty for `rspauth`) from a shared prefix.
    pub(crate) fn finish_kd(&self, prefix: &Hasher, method: &[u8]) -> RawDigest {
        finish_kd(
            prefix,
            self.algorithm.hash_function(),
            method,
            self.uri,
            None,
        )
    }

    #[cfg(any(test, tower_digest_auth_bench))]
    /// The `response` a client with the right password sends for `method`.
    pub(crate) fn response(&self, session_key: &HexDigest, method: &[u8]) -> HexDigest {
        self.finish_kd(&self.kd_prefix(session_key), method)
            .to_hex()
    }

    /// `rspauth` for `Authentication-Info`: the same computation with an empty method,
    /// which proves to the client that the server knows its `HA1` too.
    #[cfg(test)]
    pub(crate) fn rspauth(&self, session_key: &HexDigest) -> HexDigest {
        self.finish_kd(&self.kd_prefix(session_key), b"").to_hex()
    }
}

/// Finishes `KD` from a shared prefix with `H(A2)`, where `A2` is `method:uri`, or for
/// `qop=auth-int` `method:uri:H(entity-body)` (`method` is empty for `rspauth`).
pub(crate) fn finish_kd(
    prefix: &Hasher,
    hash: HashFunction,
    method: &[u8],
    uri: &[u8],
    entity_hash: Option<&HexDigest>,
) -> RawDigest {
    let ha2 = match entity_hash {
        None => ha2_cache::ha2(hash, method, uri),
        Some(entity) => hash.hex_digest(&[method, b":", uri, b":", entity.as_bytes()]),
    };
    finish_kd_with(prefix, &ha2)
}

/// Finishes `KD` from a shared prefix with an `H(A2)` already at hand.
pub(crate) fn finish_kd_with(prefix: &Hasher, ha2: &HexDigest) -> RawDigest {
    let mut hasher = prefix.clone();
    hasher.update(ha2.as_bytes());
    hasher.finish_raw()
}
