//! Digest computation (independent of the library).

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::options::{Algorithm, Hash};

pub(crate) fn to_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// Hex digest of the parts, fed one after another (the caller puts the colons in).
pub(crate) fn hash_parts(hash: Hash, parts: &[&[u8]]) -> String {
    let mut out = Vec::with_capacity(64);
    hash_parts_into(hash, parts, &mut out);
    String::from_utf8(out).expect("hex is ASCII")
}

/// Appends the lowercase hex digest of the parts to `out` (no allocation on the hot path).
pub(crate) fn hash_parts_into(hash: Hash, parts: &[&[u8]], out: &mut Vec<u8>) {
    fn run<D: Digest>(parts: &[&[u8]], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        for b in d.finalize() {
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        }
    }
    match hash {
        Hash::Md5 => run::<Md5>(parts, out),
        Hash::Sha256 => run::<Sha256>(parts, out),
    }
}

/// `nc` as the 8 lowercase hex digits the protocol wants.
pub(crate) fn nc_hex(nc: u32) -> [u8; 8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0_u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((nc >> (28 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// H(a:b:c...) with the colons inserted.
pub(crate) fn hash_joined(hash: Hash, fields: &[&str]) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(fields.len() * 2);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            parts.push(b":");
        }
        parts.push(f.as_bytes());
    }
    hash_parts(hash, &parts)
}

/// HA1 for the algorithm (session variant included).
pub(crate) fn ha1(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
) -> String {
    let base = hash_joined(alg.hash, &[user, realm, password]);
    if alg.sess {
        hash_joined(alg.hash, &[&base, nonce, cnonce])
    } else {
        base
    }
}
