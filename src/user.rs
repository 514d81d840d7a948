//! The user a request was authenticated as, for handlers to read.

use std::sync::Arc;

use crate::hash::Algorithm;

/// Who the request was authenticated as. The layer puts it in the request extensions
/// before calling the inner service.
///
/// With axum, take it as an extractor (or `Extension<AuthenticatedUser>`):
///
/// ```
/// use tower_digest_auth::AuthenticatedUser;
///
/// async fn whoami(user: AuthenticatedUser) -> String {
///     format!("hello, {} (via {})", user.username(), user.algorithm())
/// }
/// # let _ = axum::Router::<()>::new().route("/whoami", axum::routing::get(whoami));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    username: String,
    realm: Arc<str>,
    algorithm: Algorithm,
}

impl AuthenticatedUser {
    pub(crate) fn new(username: String, realm: Arc<str>, algorithm: Algorithm) -> Self {
        AuthenticatedUser {
            username,
            realm,
            algorithm,
        }
    }

    /// The username, as the credential store knows it.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The realm the user authenticated in.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithm the client answered with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuthenticatedUser {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AuthenticatedUser>().cloned().ok_or((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "AuthenticatedUser used on a route that DigestLayer does not protect",
        ))
    }
}
