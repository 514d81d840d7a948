//! [`MemoryCredentials`], the in-memory [`CredentialStore`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use super::{Credential, CredentialStore, Ha1};
use crate::hash::HashFunction;
use crate::user::Roles;

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
