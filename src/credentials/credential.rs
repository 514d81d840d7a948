//! The secret a [`CredentialStore`](super::CredentialStore) hands out ([`Ha1`]) and what
//! travels with it ([`Credential`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::hash::{HashFunction, HexDigest, RawDigest};
use crate::user::{Roles, UserData};

/// `HA1 = H(username ":" realm ":" password)` for one hash function, the secret a
/// [`CredentialStore`](super::CredentialStore) hands out.
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

/// What a [`CredentialStore`](super::CredentialStore) knows about one user: the `HA1`, and
/// what should travel with the request once the user is authenticated (roles, an
/// application's own user record), so authorization needs no second lookup.
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
    pub(super) ha1: Ha1,
    pub(super) roles: Roles,
    pub(super) data: Option<UserData>,
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
}
