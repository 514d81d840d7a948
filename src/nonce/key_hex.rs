//! [`NonceKey::from_hex`]: a nonce key as configuration holds it, in hex (what
//! `openssl rand -hex 32` prints).

use super::{MIN_NONCE_KEY_LEN, NonceKey};

/// Why [`NonceKey::from_hex`] refused its input. The messages give positions and lengths
/// only, never the secret's digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceKeyHexError {
    /// A character that is not a hex digit (`0-9`, `a-f`, `A-F`).
    #[error(
        "a nonce key in hex must be hex digits only (e.g. from `openssl rand -hex 32`): \
         character {position} is not one"
    )]
    #[non_exhaustive]
    NotHex {
        /// Its position in the trimmed input, counting characters from 0.
        position: usize,
    },
    /// An odd number of hex digits: the last byte is half there.
    #[error("a nonce key in hex needs an even number of hex digits, got {digits}")]
    #[non_exhaustive]
    OddLength {
        /// How many digits there are.
        digits: usize,
    },
    /// Fewer than `2 * MIN_NONCE_KEY_LEN` (64) hex digits: under 256 bits of secret.
    #[error(
        "a nonce key in hex needs at least {} hex digits (256 bits), got {digits}",
        2 * MIN_NONCE_KEY_LEN
    )]
    #[non_exhaustive]
    TooShort {
        /// How many digits there are.
        digits: usize,
    },
}

impl NonceKey {
    /// A key from its secret in hex, as `openssl rand -hex 32` prints it (upper or lower
    /// case; whitespace around it, such as the newline at the end of a file, is ignored),
    /// with the given id (see [`from_bytes`](Self::from_bytes)).
    ///
    /// ```
    /// use tower_digest_auth::NonceKey;
    /// use tower_digest_auth::nonce::NonceKeyHexError;
    ///
    /// let hex = "6f".repeat(32);
    /// let key = NonceKey::from_hex(1, &format!("{hex}\n")).unwrap();
    /// assert_eq!(key.id(), 1);
    ///
    /// let short = NonceKey::from_hex(1, "00ff");
    /// assert!(matches!(short, Err(NonceKeyHexError::TooShort { digits: 4, .. })));
    /// ```
    ///
    /// # Errors
    /// [`NonceKeyHexError`]: a character that is not a hex digit, an odd number of digits,
    /// or fewer than 64 digits (256 bits), checked in that order.
    pub fn from_hex(id: u8, hex: &str) -> Result<Self, NonceKeyHexError> {
        let hex = hex.trim();
        if let Some(position) = hex.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(NonceKeyHexError::NotHex { position });
        }
        let digits = hex.len();
        if digits % 2 != 0 {
            return Err(NonceKeyHexError::OddLength { digits });
        }
        if digits < 2 * MIN_NONCE_KEY_LEN {
            return Err(NonceKeyHexError::TooShort { digits });
        }
        let secret: Vec<u8> = hex
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
            .collect();
        NonceKey::from_bytes(id, &secret).map_err(|_| NonceKeyHexError::TooShort { digits })
    }
}

/// The value of one ASCII hex digit (already checked to be one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.to_ascii_lowercase() - b'a' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's signature on a fixed input: equal for equal secrets and ids.
    fn fingerprint(key: &NonceKey) -> [u8; 16] {
        key.derive(b"from_hex test")
    }

    #[test]
    fn hex_of_either_case_gives_the_same_key_as_its_bytes() {
        let bytes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        let lower: String = bytes
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|nibble| char::from_digit(nibble.into(), 16).expect("a nibble"))
            .collect();
        let upper = lower.to_ascii_uppercase();
        let expected = fingerprint(&NonceKey::from_bytes(3, &bytes).unwrap());
        for hex in [
            lower.clone(),
            upper,
            format!("  {lower}\n"),
            format!("{lower}\r\n"),
        ] {
            let key = NonceKey::from_hex(3, &hex).unwrap();
            assert_eq!(key.id(), 3);
            assert_eq!(fingerprint(&key), expected, "{hex:?}");
        }
        // A longer secret is taken whole.
        let long = NonceKey::from_hex(0, &"ab".repeat(64)).unwrap();
        assert_eq!(
            fingerprint(&long),
            fingerprint(&NonceKey::from_bytes(0, &[0xab; 64]).unwrap())
        );
    }

    #[test]
    fn refusals_name_the_problem_without_the_secret() {
        let valid = "0123456789abcdef".repeat(4);
        let cases = [
            (
                format!("{valid}g"),
                NonceKeyHexError::NotHex { position: 64 },
            ),
            (
                format!("0x{valid}"),
                NonceKeyHexError::NotHex { position: 1 },
            ),
            (
                format!("{} {}", &valid[..32], &valid[32..]),
                NonceKeyHexError::NotHex { position: 32 },
            ),
            ("é".repeat(40), NonceKeyHexError::NotHex { position: 0 }),
            (
                format!("{valid}a"),
                NonceKeyHexError::OddLength { digits: 65 },
            ),
            ("abc".to_owned(), NonceKeyHexError::OddLength { digits: 3 }),
            (
                valid[..62].to_owned(),
                NonceKeyHexError::TooShort { digits: 62 },
            ),
            (String::new(), NonceKeyHexError::TooShort { digits: 0 }),
            ("\n".to_owned(), NonceKeyHexError::TooShort { digits: 0 }),
        ];
        for (input, expected) in cases {
            let error = NonceKey::from_hex(1, &input).map(|_| ()).unwrap_err();
            assert_eq!(error, expected, "{input:?}");
            let message = error.to_string();
            assert!(!message.contains(&valid[..8]), "{message}");
        }
        assert_eq!(
            NonceKeyHexError::TooShort { digits: 62 }.to_string(),
            "a nonce key in hex needs at least 64 hex digits (256 bits), got 62"
        );
    }
}
