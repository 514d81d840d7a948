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

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::hash::{HashFunction, HexDigest, RawDigest};
use crate::user::{Roles, UserData};

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cached;

pub use crate::userhash::userhash;

/// `HA1 = H(username ":" realm ":" password)` for one hash function, the secret a
/// [`CredentialStore`] hands out.
///
/// Anyone holding an `HA1` can authenticate as that user in that realm, so treat it like a
/// password: its `Debug` output is redacted and it is never logged.
///
/// ```
/// use tower_digest_auth::Ha1;
/// use tower_digest_auth::algorithm::HashFunction;
///
/// let ha1 = Ha1::from_password(HashFunction::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
/// assert_eq!(ha1.expose_hex(), "939e7578ed9e3c518a452acee763bce9");
/// assert_eq!(format!("{ha1:?}"), "Ha1(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1(HexDigest);

impl Ha1 {
    /// Computes the `HA1` at registration time, so that only the hash is stored.
    ///
    /// The username, realm and password are hashed as UTF-8, which is what RFC 7616
    /// clients do.
    pub fn from_password(hash: HashFunction, username: &str, realm: &str, password: &str) -> Self {
        Ha1(hash.hex_digest(&[
            username.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            password.as_bytes(),
        ]))
    }

    /// Loads an `HA1` kept as hex (e.g. from a database column), checking that it has the
    /// length of `hash`'s digest. Uppercase hex is accepted and normalised.
    ///
    /// # Errors
    /// [`InvalidHa1`] when `hex` is not hex or not `hash.hex_len()` digits long.
    pub fn from_hex(hash: HashFunction, hex: &str) -> Result<Self, InvalidHa1> {
        match RawDigest::from_hex(hex.as_bytes()) {
            Some(digest) if hex.len() == hash.hex_len() => Ok(Ha1(digest.to_hex())),
            _ => Err(InvalidHa1 { expected: hash }),
        }
    }

    /// The hex form, for storing it. Named so that every use stands out in review.
    pub fn expose_hex(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn digest(&self) -> &HexDigest {
        &self.0
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ha1(<redacted>)")
    }
}

/// [`Ha1::from_hex`] was given something that is not an `HA1` of the expected hash.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a {expected:?} HA1: expected {} hex digits", expected.hex_len())]
pub struct InvalidHa1 {
    expected: HashFunction,
}

/// What a [`CredentialStore`] knows about one user: the `HA1`, and what should travel
/// with the request once the user is authenticated (roles, an application's own user
/// record), so authorization needs no second lookup.
///
/// The roles and data end up in [`AuthenticatedUser`](crate::AuthenticatedUser).
///
/// ```
/// use tower_digest_auth::{Credential, Ha1};
/// use tower_digest_auth::algorithm::HashFunction;
///
/// #[derive(Debug)]
/// struct Account { id: u64 }
///
/// let ha1 = Ha1::from_password(HashFunction::Sha256, "Rafiki", "realm", "Mandrill");
/// let credential = Credential::new(ha1)
///     .with_roles(["admin"])
///     .with_data(Account { id: 7 });
/// assert!(credential.roles().iter().any(|role| &**role == "admin"));
/// ```
#[derive(Clone)]
pub struct Credential {
    ha1: Ha1,
    roles: Roles,
    data: Option<UserData>,
}

impl Credential {
    /// A user known by their `HA1` alone: no roles, no data.
    pub fn new(ha1: Ha1) -> Self {
        Credential {
            ha1,
            roles: Arc::from([]),
            data: None,
        }
    }

    /// The user's roles (see [`AuthenticatedUser::has_role`](crate::AuthenticatedUser::has_role)).
    #[must_use]
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<Arc<str>>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Any value of the application's, readable later with
    /// [`AuthenticatedUser::data`](crate::AuthenticatedUser::data).
    #[must_use]
    pub fn with_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.data = Some(Arc::new(data));
        self
    }

    /// The `HA1`.
    pub fn ha1(&self) -> &Ha1 {
        &self.ha1
    }

    /// The roles.
    pub fn roles(&self) -> &[Arc<str>] {
        &self.roles
    }

    pub(crate) fn into_parts(self) -> (Ha1, Roles, Option<UserData>) {
        (self.ha1, self.roles, self.data)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("ha1", &self.ha1)
            .field("roles", &self.roles)
            .field("data", &self.data.is_some())
            .finish()
    }
}

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

/// An in-memory [`CredentialStore`] for one realm, built from `(username, password)`
/// pairs; it hashes each password at once and keeps only the `HA1`s (MD5, SHA-256 and
/// SHA-512/256), so it answers every algorithm, and each user's `userhash` for each, so
/// it resolves hashed usernames too.
///
/// ```
/// use tower_digest_auth::MemoryCredentials;
///
/// let users = MemoryCredentials::new("http-auth@example.org", [("Mufasa", "Circle of Life")]);
/// assert_eq!(users.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct MemoryCredentials {
    realm: String,
    users: HashMap<String, MemoryUser>,
    /// Per hash function, `userhash` to username.
    userhashes: [HashMap<String, String>; 3],
}

/// One user of [`MemoryCredentials`]: an `HA1` per hash function, and roles.
#[derive(Clone)]
struct MemoryUser {
    ha1s: [Ha1; 3],
    roles: Roles,
}

impl MemoryCredentials {
    /// Registers the given users in `realm`.
    pub fn new<U, P>(realm: impl Into<String>, users: impl IntoIterator<Item = (U, P)>) -> Self
    where
        U: Into<String>,
        P: AsRef<str>,
    {
        let mut store = MemoryCredentials {
            realm: realm.into(),
            users: HashMap::new(),
            userhashes: Default::default(),
        };
        for (username, password) in users {
            store.insert(username, password.as_ref());
        }
        store
    }

    /// Adds or replaces one user; the password is hashed here and then dropped.
    pub fn insert(&mut self, username: impl Into<String>, password: &str) {
        self.insert_with_roles(username, password, std::iter::empty::<&str>());
    }

    /// Adds or replaces one user with roles, which reach
    /// [`AuthenticatedUser::roles`](crate::AuthenticatedUser::roles).
    ///
    /// ```
    /// use tower_digest_auth::MemoryCredentials;
    ///
    /// let mut users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// users.insert_with_roles("Rafiki", "Mandrill", ["admin"]);
    /// assert_eq!(users.len(), 2);
    /// ```
    pub fn insert_with_roles<R: Into<Arc<str>>>(
        &mut self,
        username: impl Into<String>,
        password: &str,
        roles: impl IntoIterator<Item = R>,
    ) {
        let username = username.into();
        let ha1s = HashFunction::ALL
            .map(|hash| Ha1::from_password(hash, &username, &self.realm, password));
        let roles = roles.into_iter().map(Into::into).collect();
        for hash in HashFunction::ALL {
            let hashed = crate::userhash::userhash(hash, &username, &self.realm);
            self.userhashes[hash.index()].insert(hashed, username.clone());
        }
        self.users.insert(username, MemoryUser { ha1s, roles });
    }

    /// The realm the passwords were hashed for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// How many users are registered.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is registered.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl fmt::Debug for MemoryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCredentials")
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl CredentialStore for MemoryCredentials {
    type Error = Infallible;

    fn serves_realm(&self, realm: &str) -> Option<bool> {
        Some(realm == self.realm)
    }

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, Infallible> {
        Ok(self
            .credential(username, realm, hash)
            .await?
            .map(|credential| credential.ha1))
    }

    async fn username_for_hash(
        &self,
        userhash: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<String>, Infallible> {
        if realm != self.realm {
            return Ok(None);
        }
        Ok(self.userhashes[hash.index()].get(userhash).cloned())
    }

    async fn credential(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Credential>, Infallible> {
        if realm != self.realm {
            return Ok(None);
        }
        Ok(self.users.get(username).map(|user| Credential {
            ha1: user.ha1s[hash.index()].clone(),
            roles: Arc::clone(&user.roles),
            data: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_hex_checks_length_and_digits() {
        let md5 = "939e7578ed9e3c518a452acee763bce9";
        assert!(Ha1::from_hex(HashFunction::Md5, md5).is_ok());
        assert_eq!(
            Ha1::from_hex(HashFunction::Md5, &md5.to_uppercase())
                .unwrap()
                .expose_hex(),
            md5
        );
        assert!(Ha1::from_hex(HashFunction::Sha256, md5).is_err());
        assert!(Ha1::from_hex(HashFunction::Md5, &md5.replace('9', "z")).is_err());
    }

    #[tokio::test]
    async fn memory_credentials_answer_per_hash_and_realm() {
        let store = MemoryCredentials::new("r", [("alice", "pw")]);
        for hash in [
            HashFunction::Md5,
            HashFunction::Sha256,
            HashFunction::Sha512_256,
        ] {
            let found = store.ha1("alice", "r", hash).await.unwrap();
            assert_eq!(found, Some(Ha1::from_password(hash, "alice", "r", "pw")));
        }
        assert_eq!(
            store.ha1("bob", "r", HashFunction::Md5).await.unwrap(),
            None
        );
        let other_realm = store.ha1("alice", "other", HashFunction::Md5).await;
        assert_eq!(other_realm.unwrap(), None);
        for hash in HashFunction::ALL {
            let hashed = crate::userhash::userhash(hash, "alice", "r");
            let found = store.username_for_hash(&hashed, "r", hash).await.unwrap();
            assert_eq!(found.as_deref(), Some("alice"));
            let elsewhere = store.username_for_hash(&hashed, "other", hash).await;
            assert_eq!(elsewhere.unwrap(), None);
        }
        let md5 = crate::userhash::userhash(HashFunction::Md5, "alice", "r");
        let with_sha256 = store
            .username_for_hash(&md5, "r", HashFunction::Sha256)
            .await;
        assert_eq!(with_sha256.unwrap(), None);
        assert!(!format!("{store:?}").contains("pw"));
    }
}
