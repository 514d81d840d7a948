#![doc = include_str!("../docs/database.md")]
#![doc = include_str!("../docs/userhash.md")]
#![cfg_attr(feature = "cache", doc = include_str!("../docs/caching.md"))]
#![cfg_attr(feature = "htdigest", doc = include_str!("../docs/htdigest.md"))]
//! Where users' secrets come from: the [`CredentialStore`] trait, the [`Ha1`] and
//! [`Credential`] it returns, and [`MemoryCredentials`], an in-memory store.
//!
//! Digest never needs the password itself, only `HA1 = H(username:realm:password)`, so a
//! store keeps HA1s computed at registration time and plain-text passwords are never
//! stored by anything in this crate.
//!
//! Submodules: `htdigest` (feature `htdigest`), a store over an Apache htdigest file;
//! `cached` (feature `cache`), a cache in front of a slow store.
//!
//! ```
//! use tower_digest_auth::algorithm::HashFunction;
//! use tower_digest_auth::credentials::{Ha1, MemoryCredentials, userhash};
//!
//! let realm = "api@example.org";
//! // Kept at registration time, in place of the password:
//! let ha1 = Ha1::from_password(HashFunction::Sha256, "alice", realm, "secret");
//! let users = MemoryCredentials::new(realm, [("bob", "hunter2")]);
//! # let _ = (ha1, users);
//! // What a client sends with `userhash=true` in place of the name.
//! assert_eq!(userhash(HashFunction::Sha256, "alice", realm).len(), 64);
//! ```

#[cfg(feature = "htdigest")]
#[cfg_attr(docsrs, doc(cfg(feature = "htdigest")))]
pub mod htdigest;

use std::future::Future;

use crate::hash::HashFunction;

mod credential;
mod memory;
pub use credential::{Credential, Ha1, InvalidHa1};
pub use memory::MemoryCredentials;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cached;

pub use crate::userhash::userhash;

/// Looks up a user's `HA1`: implement it over your user database.
///
/// It is asked once per authentication attempt whose nonce is genuine, with the
/// username, the realm and the hash function of the algorithm the client chose. Return
/// `Ok(None)` for an unknown user: the middleware then answers exactly as for a wrong
/// password, after the same amount of hashing. Return `Err` only when the store itself
/// fails; the request then gets a 500 and the error is logged.
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use tower_digest_auth::{CredentialStore, Ha1};
/// use tower_digest_auth::algorithm::HashFunction;
///
/// /// Users registered with a SHA-256 HA1 only.
/// struct Users(HashMap<String, Ha1>);
///
/// impl CredentialStore for Users {
///     type Error = Infallible;
///
///     async fn ha1(&self, username: &str, _realm: &str, hash: HashFunction)
///         -> Result<Option<Ha1>, Infallible>
///     {
///         Ok(match hash {
///             HashFunction::Sha256 => self.0.get(username).cloned(),
///             _ => None,
///         })
///     }
/// }
/// ```
///
/// Errors can be `anyhow::Error` (or any error that boxes):
///
/// ```
/// use tower_digest_auth::{CredentialStore, DigestLayer, Ha1};
/// use tower_digest_auth::algorithm::HashFunction;
///
/// struct Db;
///
/// impl CredentialStore for Db {
///     type Error = anyhow::Error;
///
///     async fn ha1(&self, username: &str, _realm: &str, _hash: HashFunction)
///         -> anyhow::Result<Option<Ha1>>
///     {
///         anyhow::ensure!(username.len() < 256, "username too long for the users table");
///         Ok(None)
///     }
/// }
///
/// let layer = DigestLayer::builder("api@example.org", Db).build().unwrap();
/// # let _ = layer;
/// ```
pub trait CredentialStore: Send + Sync + 'static {
    /// The store's own failure (a database error, say).
    ///
    /// Anything that converts into `Box<dyn Error + Send + Sync>` will do: your own error
    /// type, `std::io::Error`, `anyhow::Error`, a boxed error.
    type Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static;

    /// The `HA1` of `username` in `realm` for `hash`, or `None` if there is no such user
    /// (or no `HA1` of that hash function for them).
    fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<Ha1>, Self::Error>> + Send;

    /// The username whose `userhash` (`H(username:realm)` in lowercase hex, see
    /// [`userhash`](crate::credentials::userhash())) is `userhash` for `hash`, for clients that send a
    /// hashed username when [`userhash`](crate::DigestLayerBuilder::userhash) is on.
    ///
    /// The default knows no hash, so it fails closed: every hashed login is answered like
    /// an unknown user (the same 401 as a wrong password). A store that keeps the hashes
    /// next to its users (an indexed column, one per hash function) answers from them;
    /// it must not compute them per request by scanning its users.
    ///
    /// The layer asks this, then [`credential`](Self::credential) for the name it returns
    /// (or, when it returns `None`, for the hash itself, whose answer is ignored), so the
    /// two outcomes cost the same store calls.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower_digest_auth::{CredentialStore, Ha1};
    /// use tower_digest_auth::algorithm::HashFunction;
    /// use tower_digest_auth::credentials::userhash;
    ///
    /// struct OneUser { ha1: Ha1, sha256_userhash: String }
    ///
    /// impl CredentialStore for OneUser {
    ///     type Error = Infallible;
    ///
    ///     async fn ha1(&self, username: &str, _realm: &str, hash: HashFunction)
    ///         -> Result<Option<Ha1>, Infallible>
    ///     {
    ///         Ok((username == "Mufasa" && hash == HashFunction::Sha256).then(|| self.ha1.clone()))
    ///     }
    ///
    ///     async fn username_for_hash(&self, hashed: &str, _realm: &str, hash: HashFunction)
    ///         -> Result<Option<String>, Infallible>
    ///     {
    ///         let found = hash == HashFunction::Sha256 && hashed == self.sha256_userhash;
    ///         Ok(found.then(|| "Mufasa".to_owned()))
    ///     }
    /// }
    ///
    /// let realm = "http-auth@example.org";
    /// let store = OneUser {
    ///     ha1: Ha1::from_password(HashFunction::Sha256, "Mufasa", realm, "Circle of Life"),
    ///     sha256_userhash: userhash(HashFunction::Sha256, "Mufasa", realm),
    /// };
    /// # let _ = store;
    /// ```
    fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send {
        let _ = (userhash, realm, hash);
        async { Ok(None) }
    }

    /// Whether this store holds users of `realm`: `Some(false)` makes
    /// [`DigestLayerBuilder::build`](crate::DigestLayerBuilder::build) refuse a layer
    /// whose realm the store cannot answer for (a typo there would otherwise look exactly
    /// like every password being wrong). The default, `None`, means the store cannot tell.
    fn serves_realm(&self, realm: &str) -> Option<bool> {
        let _ = realm;
        None
    }

    /// The user's [`Credential`]: the `HA1` with roles and data for
    /// [`AuthenticatedUser`](crate::AuthenticatedUser). This is what the layer asks;
    /// the default wraps [`ha1`](CredentialStore::ha1) with no roles or data. Override it
    /// to load them in the same query as the `HA1`.
    fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<Credential>, Self::Error>> + Send {
        async move { Ok(self.ha1(username, realm, hash).await?.map(Credential::new)) }
    }
}

// Passes on every method, none left to its default body: a test reads this block and the
// trait's (src/credentials/cached/forwarding_tests.rs) and fails if one is missing.
impl<T: CredentialStore> CredentialStore for std::sync::Arc<T> {
    type Error = T::Error;

    fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<Ha1>, Self::Error>> + Send {
        T::ha1(self, username, realm, hash)
    }

    fn serves_realm(&self, realm: &str) -> Option<bool> {
        T::serves_realm(self, realm)
    }

    fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send {
        T::username_for_hash(self, userhash, realm, hash)
    }

    fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> impl Future<Output = Result<Option<Credential>, Self::Error>> + Send {
        T::credential(self, username, realm, hash)
    }
}
