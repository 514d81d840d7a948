//! Map keys that are uniformly random already (HMAC output, a keyed hash), used as their
//! own hash: hashing them again with `SipHash` would add a second hash to every lookup
//! and nothing else, since no client can aim a collision at values it cannot predict.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`RandomKeyHasher`]s, for a `DashMap` or `HashMap` over such keys.
pub(crate) type RandomKeys = BuildHasherDefault<RandomKeyHasher>;

/// Folds the key's bytes into one word, eight at a time: a `u64` key is its own hash,
/// and a longer one (a nonce id) mixes all of its words.
#[derive(Default)]
pub(crate) struct RandomKeyHasher(u64);

impl Hasher for RandomKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = self.0.rotate_left(5) ^ key;
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_u64_key_is_its_own_hash_and_longer_keys_use_every_word() {
        let keys = RandomKeys::default();
        assert_eq!(
            keys.hash_one(0x0123_4567_89ab_cdef_u64),
            0x0123_4567_89ab_cdef
        );
        let id = |last: u8| {
            let mut bytes = [7u8; 16];
            bytes[15] = last;
            keys.hash_one(bytes)
        };
        assert_ne!(id(1), id(2), "the second word counts");
    }
}
