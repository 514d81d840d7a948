//! Permissions: named rights granted to roles and users, for the common case of
//! authorization.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, ready};
use std::sync::Arc;

use crate::user::AuthenticatedUser;

/// Answers whether a user holds a permission: implement it over your own database, or
/// use [`MemoryPermissions`]. [`AuthorizeLayer::permission`](crate::authorize::AuthorizeLayer::permission)
/// asks it.
///
/// The user comes with the roles and data the
/// [`CredentialStore`](crate::CredentialStore) returned with the `HA1`, so a store that
/// maps roles to permissions often needs no query at all. Return `Err` only when the store
/// fails: the request gets a 500 and the error is logged.
///
/// ```
/// use tower_digest_auth::AuthenticatedUser;
/// use tower_digest_auth::authorize::Permissions;
///
/// struct Grants { /* a connection pool */ }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("database error")]
/// struct DbError;
///
/// impl Permissions for Grants {
///     type Error = DbError;
///
///     async fn has_permission(&self, user: &AuthenticatedUser, permission: &str)
///         -> Result<bool, DbError>
///     {
///         // SELECT 1 FROM grants WHERE (username = ? OR role IN (?...)) AND permission = ?
///         let _ = (user.username(), user.roles(), permission);
///         Ok(false)
///     }
/// }
/// ```
pub trait Permissions: Send + Sync + 'static {
    /// The store's own failure (a database error, say).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether `user` holds `permission`.
    fn has_permission(
        &self,
        user: &AuthenticatedUser,
        permission: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

impl<T: Permissions> Permissions for Arc<T> {
    type Error = T::Error;

    fn has_permission(
        &self,
        user: &AuthenticatedUser,
        permission: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        T::has_permission(self, user, permission)
    }
}

/// An in-memory [`Permissions`] store: permissions granted to roles (which the
/// credential store gives users) and to single users. A user holds a permission granted
/// to their name or to any of their roles.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use tower_digest_auth::{Algorithm, AuthenticatedUser};
/// use tower_digest_auth::authorize::{MemoryPermissions, Permissions};
///
/// let permissions = MemoryPermissions::new()
///     .grant_role("admin", ["users:read", "users:write"])
///     .grant_user("Mufasa", ["users:read"]);
///
/// let rafiki = AuthenticatedUser::new("Rafiki", "realm", Algorithm::Sha256).with_roles(["admin"]);
/// let mufasa = AuthenticatedUser::new("Mufasa", "realm", Algorithm::Sha256);
/// assert!(permissions.has_permission(&rafiki, "users:write").await.unwrap());
/// assert!(permissions.has_permission(&mufasa, "users:read").await.unwrap());
/// assert!(!permissions.has_permission(&mufasa, "users:write").await.unwrap());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryPermissions {
    roles: HashMap<String, HashSet<String>>,
    users: HashMap<String, HashSet<String>>,
}

impl MemoryPermissions {
    /// A store that grants nothing.
    pub fn new() -> Self {
        MemoryPermissions::default()
    }

    /// Grants `permissions` to every user with `role`.
    #[must_use]
    pub fn grant_role<P: Into<String>>(
        mut self,
        role: impl Into<String>,
        permissions: impl IntoIterator<Item = P>,
    ) -> Self {
        let granted = self.roles.entry(role.into()).or_default();
        granted.extend(permissions.into_iter().map(Into::into));
        self
    }

    /// Grants `permissions` to the user named `username`.
    #[must_use]
    pub fn grant_user<P: Into<String>>(
        mut self,
        username: impl Into<String>,
        permissions: impl IntoIterator<Item = P>,
    ) -> Self {
        let granted = self.users.entry(username.into()).or_default();
        granted.extend(permissions.into_iter().map(Into::into));
        self
    }

    /// Whether `user` holds `permission`, by name or through a role.
    pub fn allows(&self, user: &AuthenticatedUser, permission: &str) -> bool {
        let holds = |grants: Option<&HashSet<String>>| {
            grants.is_some_and(|granted| granted.contains(permission))
        };
        holds(self.users.get(user.username()))
            || user
                .roles()
                .iter()
                .any(|role| holds(self.roles.get(&**role)))
    }
}

impl fmt::Debug for MemoryPermissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPermissions")
            .field("roles", &self.roles)
            .field("users", &self.users)
            .finish()
    }
}

impl Permissions for MemoryPermissions {
    type Error = Infallible;

    fn has_permission(
        &self,
        user: &AuthenticatedUser,
        permission: &str,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        ready(Ok(self.allows(user, permission)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Algorithm;

    fn user(name: &str, roles: &[&str]) -> AuthenticatedUser {
        AuthenticatedUser::new(name, "realm", Algorithm::Sha256).with_roles(roles.iter().copied())
    }

    #[test]
    fn grants_by_role_and_by_name_and_nothing_else() {
        let permissions = MemoryPermissions::new()
            .grant_role("admin", ["users:write"])
            .grant_role("admin", ["users:read"])
            .grant_user("Mufasa", ["pride:rule"]);
        let cases = [
            (user("Rafiki", &["admin"]), "users:write", true),
            (user("Rafiki", &["admin"]), "users:read", true),
            (user("Rafiki", &["keeper", "admin"]), "users:read", true),
            (user("Rafiki", &["admin"]), "pride:rule", false),
            (user("Mufasa", &[]), "pride:rule", true),
            (user("Mufasa", &[]), "users:read", false),
            // A role named like a user, or a user named like a role, grants nothing.
            (user("admin", &[]), "users:read", false),
            (user("Scar", &["Mufasa"]), "pride:rule", false),
            // Permissions are matched exactly.
            (user("Rafiki", &["admin"]), "users:*", false),
            (user("Rafiki", &["admin"]), "USERS:READ", false),
        ];
        for (user, permission, expected) in cases {
            assert_eq!(
                permissions.allows(&user, permission),
                expected,
                "{user:?} {permission}"
            );
        }
    }
}
