//! `userhash` (RFC 7616 section 3.4.4): a client may send `H(username ":" realm)` in place
//! of its username, so the name does not cross the wire. Pure functions; the service
//! asks the credential store to map a hash back to a name.

use crate::hash::{HashFunction, HexDigest, RawDigest};

/// The hashed username a client sends with `userhash=true`: `H(username ":" realm)` in
/// lowercase hex, with the hash function of the algorithm it answers with.
///
/// A [`CredentialStore`](crate::CredentialStore) that serves
/// [`username_for_hash`](crate::CredentialStore::username_for_hash) keeps these next to
/// its users, one per hash function it answers for.
///
/// ```
/// use tower_digest_auth::algorithm::HashFunction;
/// use tower_digest_auth::credentials::userhash;
///
/// // RFC 7616 section 3.9.2, with real SHA-512/256 (erratum 4897).
/// assert_eq!(
///     userhash(HashFunction::Sha512_256, "J\u{e4}s\u{f8}n Doe", "api@example.org"),
///     "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
/// );
/// ```
pub fn userhash(hash: HashFunction, username: &str, realm: &str) -> String {
    userhash_digest(hash, username, realm).as_str().to_owned()
}

pub(crate) fn userhash_digest(hash: HashFunction, username: &str, realm: &str) -> HexDigest {
    hash.hex_digest(&[username.as_bytes(), b":", realm.as_bytes()])
}

/// A hashed username as sent, normalised to lowercase hex; `None` when it is not a digest
/// of `hash` (wrong length, not hex).
pub(crate) fn parse_userhash(username: &str, hash: HashFunction) -> Option<HexDigest> {
    if username.len() != hash.hex_len() {
        return None;
    }
    RawDigest::from_hex(username.as_bytes()).map(RawDigest::to_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_case_and_checks_length() {
        let hash = userhash_digest(HashFunction::Sha256, "Mufasa", "http-auth@example.org");
        let upper = hash.as_str().to_ascii_uppercase();
        assert_eq!(parse_userhash(&upper, HashFunction::Sha256), Some(hash));
        assert_eq!(parse_userhash(hash.as_str(), HashFunction::Md5), None);
        assert_eq!(parse_userhash("Mufasa", HashFunction::Md5), None);
        let not_hex = "z".repeat(32);
        assert_eq!(parse_userhash(&not_hex, HashFunction::Md5), None);
    }

    #[test]
    fn md5_userhash_is_h_of_username_colon_realm() {
        // `printf 'Mufasa:http-auth@example.org' | md5sum`
        assert_eq!(
            userhash(HashFunction::Md5, "Mufasa", "http-auth@example.org"),
            "4238f3a16167373febb9bc4d43db9cc4"
        );
    }
}
