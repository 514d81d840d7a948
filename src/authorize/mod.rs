#![doc = include_str!("../docs/authorization.md")]
//! Authorization after authentication: which authenticated users may use a route.
//!
//! [`DigestLayer`](crate::DigestLayer) answers *who* the client is; an [`AuthorizeLayer`]
//! placed **inside** it answers whether that user *may* go on. It reads the
//! [`AuthenticatedUser`] the digest layer put in the request and asks an [`Authorizer`]:
//! a role ([`AuthorizeLayer::role`]), a permission from a [`Permissions`] store
//! ([`AuthorizeLayer::permission`]), or a predicate of your own, synchronous
//! ([`AuthorizeLayer::predicate`]) or async ([`AuthorizeLayer::async_predicate`]).
//!
//! | request | answer |
//! |---|---|
//! | no credentials, or credentials that do not authenticate | the digest layer's 401 (or 400), with challenges; the authorizer is not asked |
//! | authenticated, authorizer says yes | the inner service runs |
//! | authenticated, authorizer says no | 403, **no** `WWW-Authenticate` (a 401 would make browsers ask for the password again and again) |
//! | the authorizer fails | 500, logged at error level |
//! | no [`AuthenticatedUser`] at all (the authorize layer is not inside a digest layer) | 500, logged with where the layer belongs; never the inner service |
//! | no credentials under [`allow_anonymous`](crate::DigestLayerBuilder::allow_anonymous) | 401, to which the digest layer adds its challenges |
//!
//! The 403 and 500 bodies come from the same [`RejectionResponse`](crate::rejection::RejectionResponse)
//! as the digest layer's: pass one implementation to both (see
//! [`AuthorizeLayer::rejection_response`]).
//!
//! # Example
//!
//! With axum, add the authorize layer to the routes it guards *before* the digest layer
//! (the layer added first is the inner one):
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
//! use tower_digest_auth::authorize::AuthorizeLayer;
//!
//! async fn admin(user: AuthenticatedUser) -> String {
//!     format!("hello, admin {}", user.username())
//! }
//!
//! let realm = "http-auth@example.org";
//! let mut users = MemoryCredentials::new(realm, [("Mufasa", "Circle of Life")]);
//! users.insert_with_roles("Rafiki", "Mandrill", ["admin"]);
//!
//! let app: Router = Router::new()
//!     .route("/admin", get(admin))
//!     .route_layer(AuthorizeLayer::role("admin"))
//!     .route("/whoami", get(|user: AuthenticatedUser| async move { user.username().to_owned() }))
//!     .route_layer(DigestLayer::builder(realm, users).build().unwrap());
//! ```
//!
//! With `tower::ServiceBuilder` the first layer listed is the outer one:
//! `ServiceBuilder::new().layer(digest).layer(authorize).service(app)`.

mod permissions;
mod service;

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, ready};
use std::sync::Arc;

pub use permissions::{MemoryPermissions, Permissions};
pub use service::{Authorize, AuthorizeFuture, AuthorizeLayer};

use crate::user::AuthenticatedUser;

/// Decides whether an authenticated user may use a route; what an [`AuthorizeLayer`] asks.
///
/// The layer provides implementations for roles, permissions and closures; implement it
/// yourself for anything else. `Ok(false)` is a 403; `Err` is a 500 and is logged.
///
/// ```
/// use std::convert::Infallible;
/// use tower_digest_auth::AuthenticatedUser;
/// use tower_digest_auth::authorize::{AuthorizeLayer, Authorizer};
///
/// /// Only users whose name is on a list.
/// struct AllowList(Vec<String>);
///
/// impl Authorizer for AllowList {
///     type Error = Infallible;
///
///     async fn authorize(&self, user: &AuthenticatedUser) -> Result<bool, Infallible> {
///         Ok(self.0.iter().any(|name| name == user.username()))
///     }
/// }
///
/// let layer = AuthorizeLayer::new(AllowList(vec!["Rafiki".into()]));
/// # let _ = layer;
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// The authorizer's own failure (a database error, say).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether `user` may go on.
    fn authorize(
        &self,
        user: &AuthenticatedUser,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

impl<T: Authorizer> Authorizer for Arc<T> {
    type Error = T::Error;

    fn authorize(
        &self,
        user: &AuthenticatedUser,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        T::authorize(self, user)
    }
}

/// A synchronous predicate on the user; made by [`AuthorizeLayer::predicate`].
#[derive(Clone)]
pub struct Predicate<F>(F);

impl<F> Authorizer for Predicate<F>
where
    F: Fn(&AuthenticatedUser) -> bool + Send + Sync + 'static,
{
    type Error = Infallible;

    fn authorize(
        &self,
        user: &AuthenticatedUser,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        ready(Ok((self.0)(user)))
    }
}

impl<F> fmt::Debug for Predicate<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Predicate(..)")
    }
}

/// An async predicate on the user; made by [`AuthorizeLayer::async_predicate`].
///
/// The closure gets its own clone of the user, so the future it returns borrows nothing.
#[derive(Clone)]
pub struct AsyncPredicate<F>(F);

impl<F, Fut, E> Authorizer for AsyncPredicate<F>
where
    F: Fn(AuthenticatedUser) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, E>> + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    type Error = E;

    fn authorize(&self, user: &AuthenticatedUser) -> impl Future<Output = Result<bool, E>> + Send {
        (self.0)(user.clone())
    }
}

impl<F> fmt::Debug for AsyncPredicate<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncPredicate(..)")
    }
}

/// Lets through users with one role, as the credential store gave it
/// ([`AuthenticatedUser::has_role`]); made by [`AuthorizeLayer::role`].
#[derive(Debug, Clone)]
pub struct RequireRole(Arc<str>);

impl Authorizer for RequireRole {
    type Error = Infallible;

    fn authorize(
        &self,
        user: &AuthenticatedUser,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        ready(Ok(user.has_role(&self.0)))
    }
}

/// Lets through users that a [`Permissions`] store grants one permission; made by
/// [`AuthorizeLayer::permission`].
#[derive(Debug, Clone)]
pub struct RequirePermission<P> {
    store: P,
    permission: Arc<str>,
}

impl<P: Permissions> Authorizer for RequirePermission<P> {
    type Error = P::Error;

    fn authorize(
        &self,
        user: &AuthenticatedUser,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.store.has_permission(user, &self.permission)
    }
}

impl<F> AuthorizeLayer<Predicate<F>>
where
    F: Fn(&AuthenticatedUser) -> bool + Send + Sync + 'static,
{
    /// Lets through the users for whom `predicate` is true.
    ///
    /// ```
    /// use tower_digest_auth::AuthenticatedUser;
    /// use tower_digest_auth::authorize::AuthorizeLayer;
    ///
    /// let keepers = AuthorizeLayer::predicate(|user: &AuthenticatedUser| {
    ///     user.has_role("keeper") || user.username() == "Rafiki"
    /// });
    /// # let _ = keepers;
    /// ```
    pub fn predicate(predicate: F) -> Self {
        AuthorizeLayer::new(Predicate(predicate))
    }
}

impl<F, Fut, E> AuthorizeLayer<AsyncPredicate<F>>
where
    F: Fn(AuthenticatedUser) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, E>> + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Lets through the users for whom the future `predicate` returns resolves to
    /// `Ok(true)`; `Err` is a 500.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_digest_auth::AuthenticatedUser;
    /// use tower_digest_auth::authorize::AuthorizeLayer;
    ///
    /// # struct Db;
    /// # impl Db { async fn is_subscriber(&self, _: &str) -> Result<bool, std::io::Error> { Ok(true) } }
    /// let db = Arc::new(Db);
    /// let subscribers = AuthorizeLayer::async_predicate(move |user: AuthenticatedUser| {
    ///     let db = Arc::clone(&db);
    ///     async move { db.is_subscriber(user.username()).await }
    /// });
    /// # let _ = subscribers;
    /// ```
    pub fn async_predicate(predicate: F) -> Self {
        AuthorizeLayer::new(AsyncPredicate(predicate))
    }
}

impl AuthorizeLayer<RequireRole> {
    /// Lets through users that have `role` (see [`Credential::with_roles`] and
    /// [`MemoryCredentials::insert_with_roles`]): the roles came with the `HA1`, so this
    /// costs no lookup.
    ///
    /// [`Credential::with_roles`]: crate::Credential::with_roles
    /// [`MemoryCredentials::insert_with_roles`]: crate::MemoryCredentials::insert_with_roles
    ///
    /// ```
    /// use tower_digest_auth::authorize::AuthorizeLayer;
    ///
    /// let admins_only = AuthorizeLayer::role("admin");
    /// # let _ = admins_only;
    /// ```
    pub fn role(role: impl Into<Arc<str>>) -> Self {
        AuthorizeLayer::new(RequireRole(role.into()))
    }
}

impl<P: Permissions> AuthorizeLayer<RequirePermission<P>> {
    /// Lets through users that `store` grants `permission`. Share one store between
    /// routes with an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_digest_auth::authorize::{AuthorizeLayer, MemoryPermissions};
    ///
    /// let permissions = Arc::new(
    ///     MemoryPermissions::new()
    ///         .grant_role("editor", ["articles:write", "articles:read"])
    ///         .grant_user("Mufasa", ["articles:read"]),
    /// );
    /// let writers = AuthorizeLayer::permission(Arc::clone(&permissions), "articles:write");
    /// let readers = AuthorizeLayer::permission(permissions, "articles:read");
    /// # let _ = (writers, readers);
    /// ```
    pub fn permission(store: P, permission: impl Into<Arc<str>>) -> Self {
        AuthorizeLayer::new(RequirePermission {
            store,
            permission: permission.into(),
        })
    }
}
