//! The user a request was authenticated as, for handlers to read.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::basic::AuthScheme;
use crate::hash::Algorithm;
use crate::logout::{EndLoginError, Login};

/// A user's roles, shared between the store's record and every request.
pub(crate) type Roles = Arc<[Arc<str>]>;
/// An application's own data about a user, of any type.
pub(crate) type UserData = Arc<dyn Any + Send + Sync>;

/// In the extensions instead of an [`AuthenticatedUser`] when a layer with
/// `allow_anonymous` let a request without credentials through, so an authorizer can
/// tell "nobody logged in" (401) from "no `DigestLayer` at all" (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anonymous;

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
///
/// On a route the layer does not cover, the extractor answers 500. Under
/// [`allow_anonymous`](crate::DigestLayerBuilder::allow_anonymous) a request without
/// credentials gets a 401 with challenges from it (the handler needs a login), while
/// `Option<AuthenticatedUser>` is `None` (the handler serves everyone):
///
/// ```
/// use tower_digest_auth::AuthenticatedUser;
///
/// async fn home(user: Option<AuthenticatedUser>) -> String {
///     match user {
///         Some(user) => format!("welcome back, {}", user.username()),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(home));
/// ```
///
/// Handlers' unit tests can make one without a layer:
///
/// ```
/// use tower_digest_auth::{Algorithm, AuthenticatedUser};
///
/// let user = AuthenticatedUser::new("Rafiki", "http-auth@example.org", Algorithm::Sha256)
///     .with_roles(["admin"]);
/// assert!(user.has_role("admin"));
/// assert!(!user.has_role("keeper"));
/// ```
#[derive(Clone)]
pub struct AuthenticatedUser {
    username: String,
    realm: Arc<str>,
    algorithm: Algorithm,
    scheme: AuthScheme,
    roles: Roles,
    data: Option<UserData>,
    /// The nonce this request was authenticated with (and its account) and the store to
    /// end it in, for [`end_login`](AuthenticatedUser::end_login); `None` when made
    /// without a layer.
    /// Shared: one allocation per authenticated request keeps every user (and every
    /// request's future, which holds one) a pointer wide.
    login: Option<Arc<Login>>,
}

impl AuthenticatedUser {
    /// A user as the layer would pass it on, with no roles or data.
    pub fn new(
        username: impl Into<String>,
        realm: impl Into<Arc<str>>,
        algorithm: Algorithm,
    ) -> Self {
        AuthenticatedUser {
            username: username.into(),
            realm: realm.into(),
            algorithm,
            scheme: AuthScheme::Digest,
            roles: Arc::from([]),
            data: None,
            login: None,
        }
    }

    /// With these roles (as a [`Credential`](crate::Credential) would carry them).
    #[must_use]
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<Arc<str>>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// With this application data (as a [`Credential`](crate::Credential) would carry it).
    #[must_use]
    pub fn with_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.data = Some(Arc::new(data));
        self
    }

    /// Authenticated by `scheme` ([`AuthScheme::Digest`] unless set), as a layer with
    /// [`BasicAuth`](crate::basic::BasicAuth) would say for a Basic answer.
    #[must_use]
    pub fn with_scheme(mut self, scheme: AuthScheme) -> Self {
        self.scheme = scheme;
        self
    }

    pub(crate) fn from_credential_parts(
        username: String,
        realm: Arc<str>,
        algorithm: Algorithm,
        roles: Roles,
        data: Option<UserData>,
    ) -> Self {
        AuthenticatedUser {
            username,
            realm,
            algorithm,
            scheme: AuthScheme::Digest,
            roles,
            data,
            login: None,
        }
    }

    /// The same user, authenticated by this login.
    pub(crate) fn with_login(mut self, login: Login) -> Self {
        self.login = Some(Arc::new(login));
        self
    }

    /// Ends this client's login (a logout): every later request on the nonce it answered
    /// gets 401 **without** `stale`, which a browser takes for wrong credentials, so it
    /// asks its user again; a new login works as before. Browsers keep Digest credentials
    /// until they close and a server cannot make them forget: refusing the login they
    /// hold is what makes them ask.
    ///
    /// Answer the request itself with a 401 too: the layer puts fresh challenges on it
    /// (not stale) and no `Authentication-Info`, and a browser drops its credentials at
    /// once rather than at its next request.
    ///
    /// ```
    /// use axum::{Router, http::StatusCode, routing::get};
    /// use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
    ///
    /// async fn logout(user: AuthenticatedUser) -> (StatusCode, &'static str) {
    ///     match user.end_login().await {
    ///         Ok(()) => (StatusCode::UNAUTHORIZED, "logged out\n"),
    ///         // The login may still work: say so.
    ///         Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "logout failed\n"),
    ///     }
    /// }
    ///
    /// let realm = "api@example.org";
    /// let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
    /// let app: Router = Router::new()
    ///     .route("/logout", get(logout))
    ///     .route_layer(DigestLayer::builder(realm, users).build().unwrap());
    /// # let _ = app;
    /// ```
    ///
    /// # Errors
    /// [`EndLoginError`]: the nonce store failed or cannot end logins, the user was not
    /// authenticated by a layer, or by Basic ([`EndLoginError::Basic`]: no login to end).
    pub fn end_login(&self) -> impl Future<Output = Result<(), EndLoginError>> + Send + 'static {
        self.end(false)
    }

    /// Ends every login of this user, on every client (after a password change, or for
    /// a disabled account): the next request of each gets 401 without `stale`. Logins
    /// made after it work. To do it outside a request, call
    /// [`NonceStore::end_all_logins`](crate::nonce::NonceStore::end_all_logins) on the layer's
    /// nonce store.
    ///
    /// # Errors
    /// As [`end_login`](AuthenticatedUser::end_login), except that a Basic user's Digest
    /// logins are ended like anyone's.
    pub fn end_all_logins(
        &self,
    ) -> impl Future<Output = Result<(), EndLoginError>> + Send + 'static {
        self.end(true)
    }

    fn end(&self, all: bool) -> impl Future<Output = Result<(), EndLoginError>> + Send + 'static {
        let login = self.login.as_deref().cloned();
        async move {
            match login {
                Some(login) => login.end(all).await,
                None => Err(EndLoginError::NotFromALayer),
            }
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

    /// The algorithm the client answered with; for a [Basic](AuthScheme::Basic) answer,
    /// the algorithm whose `HA1` the password matched.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Which scheme authenticated the request: Digest, or Basic where the layer accepts
    /// it ([`BasicAuth`](crate::basic::BasicAuth)).
    pub fn scheme(&self) -> AuthScheme {
        self.scheme
    }

    /// The roles the credential store gave the user.
    pub fn roles(&self) -> &[Arc<str>] {
        &self.roles
    }

    /// Whether the credential store gave the user `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|have| &**have == role)
    }

    /// The data the credential store attached, if it is a `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.data.as_deref()?.downcast_ref()
    }
}

impl fmt::Debug for AuthenticatedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedUser")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("algorithm", &self.algorithm)
            .field("scheme", &self.scheme)
            .field("roles", &self.roles)
            .field("data", &self.data.is_some())
            .field(
                "login",
                &self
                    .login
                    .as_ref()
                    .and_then(|login| login.use_.map(|use_| use_.id)),
            )
            .finish()
    }
}

/// Two users are equal when name, realm, algorithm and roles are, and they carry the
/// same data (the same allocation: data need not be comparable).
impl PartialEq for AuthenticatedUser {
    fn eq(&self, other: &Self) -> bool {
        self.username == other.username
            && self.realm == other.realm
            && self.algorithm == other.algorithm
            && self.roles == other.roles
            && match (&self.data, &other.data) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for AuthenticatedUser {}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuthenticatedUser {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthenticatedUser>() {
            return Ok(user.clone());
        }
        // Let through by allow_anonymous: this handler needs a login, so ask for one
        // (the layer adds the challenges to the 401 on its way out).
        if parts.extensions.get::<Anonymous>().is_some() {
            return Err((http::StatusCode::UNAUTHORIZED, "authentication required"));
        }
        Err((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "AuthenticatedUser used on a route that DigestLayer does not protect",
        ))
    }
}

/// `Option<AuthenticatedUser>`: `None` when the request was not authenticated, which
/// with a [`DigestLayer`](crate::DigestLayer) in front happens only under
/// [`allow_anonymous`](crate::DigestLayerBuilder::allow_anonymous).
#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for AuthenticatedUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AuthenticatedUser>().cloned())
    }
}
