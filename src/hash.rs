//! The digest algorithms and the RFC 7616 computations built on them.
//!
//! Everything here is pure and allocation-free: hashes are streamed from byte slices and
//! their hex forms live in fixed stack buffers, because these functions run on every
//! authenticated request.

mod digest;
mod ha2_cache;
mod kd;

pub(crate) use digest::{Hasher, HexDigest, RawDigest};
pub(crate) use ha2_cache::ha2_pair;
pub(crate) use kd::{DigestInput, finish_kd, finish_kd_with};

use std::fmt;

/// A digest algorithm as named in the `algorithm` parameter (RFC 7616 section 3.3).
///
/// The `-sess` variants hash the client nonce into the session key (`HA1`), so the
/// long-term `HA1` is used once per nonce instead of once per request.
///
/// ```
/// use tower_digest_auth::Algorithm;
/// use tower_digest_auth::algorithm::HashFunction;
///
/// let algorithm: Algorithm = "SHA-256-sess".parse().unwrap();
/// assert_eq!(algorithm.name(), "SHA-256-sess");
/// assert!(algorithm.is_session());
/// // The HA1 a credential store returns is the plain algorithm's.
/// assert_eq!(algorithm.hash_function(), HashFunction::Sha256);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`: for legacy clients only; MD5 is broken as a hash, offer it last.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`: what RFC 7616 recommends and every current client supports.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`: SHA-512/256 (FIPS 180-4), not a truncated SHA-512.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm this crate implements.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha256,
        Algorithm::Md5,
        Algorithm::Sha512_256,
        Algorithm::Sha256Sess,
        Algorithm::Md5Sess,
        Algorithm::Sha512_256Sess,
    ];

    /// The name used on the wire, e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The hash function underneath; the `-sess` variant shares it with its plain one,
    /// and so does the stored `HA1`.
    pub fn hash_function(self) -> HashFunction {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFunction::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFunction::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashFunction::Sha512_256,
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// Parses a wire name, case-insensitively (RFC 7616 says the token is
    /// case-insensitive, and clients differ on `MD5-sess` versus `MD5-SESS`).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// A stable one-byte code, carried inside nonces to bind them to the algorithm.
    pub(crate) fn code(self) -> u8 {
        match self {
            Algorithm::Md5 => 1,
            Algorithm::Md5Sess => 2,
            Algorithm::Sha256 => 3,
            Algorithm::Sha256Sess => 4,
            Algorithm::Sha512_256 => 5,
            Algorithm::Sha512_256Sess => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.code() == code)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a wire name case-insensitively, as [`Algorithm::from_name`] does, for
/// configuration files and environment variables.
///
/// ```
/// use tower_digest_auth::Algorithm;
///
/// assert_eq!("sha-256".parse::<Algorithm>().unwrap(), Algorithm::Sha256);
/// assert!("SHA-1".parse::<Algorithm>().is_err());
/// ```
impl std::str::FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, UnknownAlgorithm> {
        Algorithm::from_name(name.as_bytes()).ok_or_else(|| UnknownAlgorithm(name.into()))
    }
}

/// A name that is not one of [`Algorithm::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown digest algorithm {0:?}: expected one of MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess"
)]
pub struct UnknownAlgorithm(String);

/// The hash function behind an [`Algorithm`]; it decides which `HA1` a
/// [`CredentialStore`](crate::CredentialStore) must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFunction {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-256 (64 hex digits).
    Sha256,
    /// SHA-512/256 (64 hex digits).
    Sha512_256,
}

impl HashFunction {
    /// Every hash function: a store that wants to answer every [`Algorithm`] keeps one
    /// `HA1` per entry.
    ///
    /// ```
    /// use tower_digest_auth::Ha1;
    /// use tower_digest_auth::algorithm::HashFunction;
    ///
    /// let ha1s = HashFunction::ALL.map(|hash| Ha1::from_password(hash, "alice", "realm", "pw"));
    /// assert_eq!(ha1s.len(), 3);
    /// ```
    pub const ALL: [HashFunction; 3] = [
        HashFunction::Md5,
        HashFunction::Sha256,
        HashFunction::Sha512_256,
    ];

    /// A slot number, for tables with one entry per hash function.
    pub(crate) fn index(self) -> usize {
        match self {
            HashFunction::Md5 => 0,
            HashFunction::Sha256 => 1,
            HashFunction::Sha512_256 => 2,
        }
    }

    /// The name of the plain algorithm with this hash (`MD5`, `SHA-256`, `SHA-512-256`),
    /// handy as a key for stored `HA1`s.
    pub fn name(self) -> &'static str {
        match self {
            HashFunction::Md5 => "MD5",
            HashFunction::Sha256 => "SHA-256",
            HashFunction::Sha512_256 => "SHA-512-256",
        }
    }

    /// Length of this function's digest in lowercase hex.
    pub fn hex_len(self) -> usize {
        match self {
            HashFunction::Md5 => 32,
            HashFunction::Sha256 | HashFunction::Sha512_256 => 64,
        }
    }

    /// `H(parts[0] || parts[1] || ...)` in lowercase hex.
    pub(crate) fn hex_digest(self, parts: &[&[u8]]) -> HexDigest {
        let mut hasher = Hasher::new(self);
        for part in parts {
            hasher.update(part);
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests;
