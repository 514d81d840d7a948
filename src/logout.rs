//! Ending logins: a handler ends the login of the client that sent the request, or every
//! login of its user, through [`AuthenticatedUser`](crate::AuthenticatedUser).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::nonce::{NonceStore, NonceUse};

/// Why [`AuthenticatedUser::end_login`](crate::AuthenticatedUser::end_login) (or
/// [`end_all_logins`](crate::AuthenticatedUser::end_all_logins)) could not end a login.
/// The login may still work: answer the request with a 500, not a logout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndLoginError {
    /// The nonce store failed (Redis down, say).
    #[error("the nonce store failed: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// The nonce store cannot end logins: a [`NonceStore`](crate::NonceStore) of your own
    /// without [`end_login`](crate::NonceStore::end_login) and
    /// [`end_all_logins`](crate::NonceStore::end_all_logins).
    #[error("the nonce store cannot end logins")]
    Unsupported,
    /// The user was made with [`AuthenticatedUser::new`](crate::AuthenticatedUser::new),
    /// not authenticated by a layer: there is no login to end.
    #[error("this user was not authenticated by a DigestLayer")]
    NotFromALayer,
}

/// The login an [`AuthenticatedUser`](crate::AuthenticatedUser) was authenticated by: its
/// nonce's use (with the account), and the layer's nonce store to end it in.
#[derive(Clone)]
pub(crate) struct Login {
    pub(crate) use_: NonceUse,
    pub(crate) store: Arc<dyn EndLogins>,
}

impl Login {
    /// Ends this login, or (`all`) every login of its account.
    pub(crate) async fn end(self, all: bool) -> Result<(), EndLoginError> {
        match self.store.end(self.use_, all).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(EndLoginError::Unsupported),
            Err(error) => Err(EndLoginError::Store(error)),
        }
    }
}

/// A nonce store's two ways of ending logins, object-safe, so that a user (which is not
/// generic over the store) can carry its layer's store.
pub(crate) trait EndLogins: Send + Sync + 'static {
    fn end(&self, login: NonceUse, all: bool) -> BoxFuture<'_, Result<bool, BoxError>>;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<N: NonceStore> EndLogins for N {
    fn end(&self, login: NonceUse, all: bool) -> BoxFuture<'_, Result<bool, BoxError>> {
        Box::pin(async move {
            let ended = match (all, login.account) {
                (true, Some(account)) => self.end_all_logins(account).await,
                // The layer always names the account; without one, this login only.
                _ => self.end_login(login).await,
            };
            ended.map_err(Into::into)
        })
    }
}

/// An account as a [`NonceStore`](crate::NonceStore) knows it, for
/// [`end_all_logins`](crate::NonceStore::end_all_logins): 128 bits of SHA-256 over the
/// realm and the username, so a shared store holds no names.
///
/// ```
/// use tower_digest_auth::AccountKey;
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
