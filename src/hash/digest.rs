//! Running hashes and their results, on the stack: raw bytes for comparing, lowercase hex
//! for feeding into the next hash.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use subtle::{Choice, ConstantTimeEq};

use super::HashFunction;

/// A running hash of one of our functions; cloning it lets two digests share the work on a
/// common prefix.
#[derive(Clone)]
pub(crate) enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512_256(Sha512_256),
}

impl Hasher {
    pub(crate) fn new(hash: HashFunction) -> Self {
        match hash {
            HashFunction::Md5 => Hasher::Md5(Md5::new()),
            HashFunction::Sha256 => Hasher::Sha256(Sha256::new()),
            HashFunction::Sha512_256 => Hasher::Sha512_256(Sha512_256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(hasher) => hasher.update(data),
            Hasher::Sha256(hasher) => hasher.update(data),
            Hasher::Sha512_256(hasher) => hasher.update(data),
        }
    }

    pub(crate) fn finish(self) -> HexDigest {
        self.finish_raw().to_hex()
    }

    pub(crate) fn finish_raw(self) -> RawDigest {
        match self {
            Hasher::Md5(hasher) => RawDigest::new(&hasher.finalize()),
            Hasher::Sha256(hasher) => RawDigest::new(&hasher.finalize()),
            Hasher::Sha512_256(hasher) => RawDigest::new(&hasher.finalize()),
        }
    }
}

/// A digest as bytes, on the stack (at most 32 bytes for the functions we have). The
/// `response` is compared in this form: half the bytes of hex, and no encoding step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawDigest {
    bytes: [u8; 32],
    len: u8,
}

impl RawDigest {
    fn new(bytes: &[u8]) -> Self {
        let mut raw = RawDigest {
            bytes: [0; 32],
            len: u8::try_from(bytes.len()).expect("digest longer than 32 bytes"),
        };
        raw.bytes[..bytes.len()].copy_from_slice(bytes);
        raw
    }

    /// Decodes hex digits of either case (clients send lowercase, but nothing forbids
    /// uppercase); `None` when not hex, of odd length or longer than 64 digits.
    pub(crate) fn from_hex(hex: &[u8]) -> Option<Self> {
        if hex.len() > 64 || hex.len() % 2 != 0 {
            return None;
        }
        let mut raw = RawDigest {
            bytes: [0; 32],
            len: u8::try_from(hex.len() / 2).ok()?,
        };
        // Table lookups and one check at the end: no branch per digit.
        let mut invalid = 0;
        for (byte, pair) in raw.bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let high = HEX_VALUES[usize::from(pair[0])];
            let low = HEX_VALUES[usize::from(pair[1])];
            invalid |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        (invalid & 0xf0 == 0).then_some(raw)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub(crate) fn to_hex(self) -> HexDigest {
        HexDigest::encode(self.as_bytes())
    }
}

impl ConstantTimeEq for RawDigest {
    /// Compares eight bytes at a time (the length is public: it follows the algorithm).
    fn ct_eq(&self, other: &Self) -> Choice {
        let words = |digest: &RawDigest| {
            let mut words = [0u64; 4];
            for (word, chunk) in words.iter_mut().zip(digest.bytes.chunks_exact(8)) {
                *word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
            }
            words
        };
        let (ours, theirs) = (words(self), words(other));
        let mut equal = self.len.ct_eq(&other.len);
        for (a, b) in ours.iter().zip(&theirs) {
            equal &= a.ct_eq(b);
        }
        equal
    }
}

/// The value of each hex digit (either case); 0xff for every other byte.
static HEX_VALUES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut value: u8 = 0;
    while value < 16 {
        let digits = b"0123456789abcdef";
        table[digits[value as usize] as usize] = value;
        table[digits[value as usize].to_ascii_uppercase() as usize] = value;
        value += 1;
    }
    table
};

/// A digest in lowercase hex, on the stack (at most 64 digits for the functions we have).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct HexDigest {
    digits: [u8; 64],
    len: u8,
}

impl HexDigest {
    /// No digits: a placeholder for a table not filled yet.
    pub(super) const EMPTY: HexDigest = HexDigest {
        digits: [0; 64],
        len: 0,
    };

    fn encode(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0; 64];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        HexDigest {
            digits,
            len: u8::try_from(bytes.len() * 2).expect("digest longer than 64 hex digits"),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits are ASCII")
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
