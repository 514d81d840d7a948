//! [`AccountKey`]: an account as a nonce store knows it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// An account as a [`NonceStore`](crate::nonce::NonceStore) knows it, for
/// [`end_all_logins`](crate::nonce::NonceStore::end_all_logins): 128 bits of SHA-256 over the
/// realm and the username, so a shared store holds no names.
///
/// ```
/// use tower_digest_auth::nonce::AccountKey;
///
/// let alice = AccountKey::new("api@example.org", "alice");
/// assert_eq!(alice, AccountKey::new("api@example.org", "alice"));
/// assert_ne!(alice, AccountKey::new("other realm", "alice"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey([u8; 16]);

impl AccountKey {
    /// The key of `username` in `realm` (the name as the credential store knows it).
    pub fn new(realm: &str, username: &str) -> Self {
        let digest = Sha256::new_with_prefix(b"tower-digest-auth account\0")
            .chain_update(realm.as_bytes())
            .chain_update([0])
            .chain_update(username.as_bytes())
            .finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        AccountKey(key)
    }

    /// The raw bytes (for a store's own keys).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}
