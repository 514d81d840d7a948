//! Ending logins: a handler ends the login of the client that sent the request, or every
//! login of its user, through [`AuthenticatedUser`](crate::AuthenticatedUser).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::nonce::{AccountKey, NonceStore, NonceUse};

/// Why [`AuthenticatedUser::end_login`](crate::AuthenticatedUser::end_login) (or
/// [`end_all_logins`](crate::AuthenticatedUser::end_all_logins)) could not end a login.
/// The login may still work: answer the request with a 500, not a logout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndLoginError {
    /// The nonce store failed (Redis down, say).
    #[error("the nonce store failed: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// The nonce store cannot end logins: a [`NonceStore`](crate::nonce::NonceStore) of your own
    /// without [`end_login`](crate::nonce::NonceStore::end_login) and
    /// [`end_all_logins`](crate::nonce::NonceStore::end_all_logins).
    #[error("the nonce store cannot end logins")]
    Unsupported,
    /// The user was made with [`AuthenticatedUser::new`](crate::AuthenticatedUser::new),
    /// not authenticated by a layer: there is no login to end.
    #[error("this user was not authenticated by a DigestLayer")]
    NotFromALayer,
    /// The user was authenticated with Basic ([`BasicAuth`](crate::basic::BasicAuth)), which
    /// has no login to end: the client sends its password with every request, and the
    /// next one gets in. Only [`end_login`](crate::AuthenticatedUser::end_login) answers
    /// this; [`end_all_logins`](crate::AuthenticatedUser::end_all_logins) ends the user's
    /// Digest logins as for any user. To stop a Basic client, change its password.
    #[error("this user was authenticated with Basic, which has no login to end")]
    Basic,
}

/// The login an [`AuthenticatedUser`](crate::AuthenticatedUser) was authenticated by: its
/// nonce's use (none for Basic), its account, and the layer's nonce store to end them in.
#[derive(Clone)]
pub(crate) struct Login {
    pub(crate) use_: Option<NonceUse>,
    pub(crate) account: AccountKey,
    pub(crate) store: Arc<dyn EndLogins>,
}

impl Login {
    /// Ends this login, or (`all`) every login of its account.
    pub(crate) async fn end(self, all: bool) -> Result<(), EndLoginError> {
        let end = match (all, self.use_) {
            (true, _) => End::All(self.account),
            (false, Some(use_)) => End::One(use_),
            (false, None) => return Err(EndLoginError::Basic),
        };
        match self.store.end(end).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(EndLoginError::Unsupported),
            Err(error) => Err(EndLoginError::Store(error)),
        }
    }
}

/// What to end: one nonce's login, or every login of an account.
pub(crate) enum End {
    One(NonceUse),
    All(AccountKey),
}

/// A nonce store's two ways of ending logins, object-safe, so that a user (which is not
/// generic over the store) can carry its layer's store.
pub(crate) trait EndLogins: Send + Sync + 'static {
    fn end(&self, end: End) -> BoxFuture<'_, Result<bool, BoxError>>;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<N: NonceStore> EndLogins for N {
    fn end(&self, end: End) -> BoxFuture<'_, Result<bool, BoxError>> {
        Box::pin(async move {
            let ended = match end {
                End::One(login) => self.end_login(login).await,
                End::All(account) => self.end_all_logins(account).await,
            };
            ended.map_err(Into::into)
        })
    }
}
