//! A Basic password against stored `HA1`s: `H(user-id:realm:password)` for each hash
//! function, compared in constant time with the user's `HA1` of that function, or with a
//! dummy one where the store has none, so an unknown user costs the same work.

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::BasicCredentials;
use crate::credentials::Ha1;
use crate::hash::{HashFunction, HexDigest};

/// The position of the first `(hash function, stored HA1)` whose `HA1` the password
/// reproduces, if any. Every entry is hashed and compared, found or not and matched or
/// not; a missing `HA1` is compared with `dummy`'s and never matches.
pub(crate) fn matching_hash<'a>(
    credentials: &BasicCredentials,
    realm: &str,
    stored: impl IntoIterator<Item = (HashFunction, Option<&'a Ha1>)>,
    dummy: impl Fn(HashFunction) -> &'a HexDigest,
) -> Option<usize> {
    // One past the last entry: "none yet".
    let mut first = u32::MAX;
    for (index, (hash, ha1)) in stored.into_iter().enumerate() {
        let computed = hash.hex_digest(&[
            credentials.username().as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            credentials.password(),
        ]);
        let expected = ha1.map_or_else(|| dummy(hash), Ha1::digest);
        let found = Choice::from(u8::from(ha1.is_some()));
        let matches = found & computed.as_bytes().ct_eq(expected.as_bytes());
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let unset = first.ct_eq(&u32::MAX);
        first = u32::conditional_select(&first, &index, matches & unset);
    }
    (first != u32::MAX)
        .then_some(first)
        .and_then(|first| usize::try_from(first).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basic::parse_basic;

    const REALM: &str = "http-auth@example.org";

    fn credentials(user: &str, password: &str) -> BasicCredentials {
        let plain = format!("{user}:{password}");
        let value = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, plain)
        );
        parse_basic(value.as_bytes()).unwrap()
    }

    fn check(sent: &BasicCredentials, stored: &[(HashFunction, Option<Ha1>)]) -> Option<usize> {
        let dummies = HashFunction::ALL.map(|hash| hash.hex_digest(&[b"dummy"]));
        matching_hash(
            sent,
            REALM,
            stored.iter().map(|(hash, ha1)| (*hash, ha1.as_ref())),
            |hash| &dummies[hash.index()],
        )
    }

    #[allow(clippy::unnecessary_wraps)] // reads as a stored entry in the tables
    fn ha1(hash: HashFunction, password: &str) -> Option<Ha1> {
        Some(Ha1::from_password(hash, "Mufasa", REALM, password))
    }

    #[test]
    fn the_password_is_checked_against_each_stored_ha1() {
        use HashFunction::{Md5, Sha256, Sha512_256};
        let right = credentials("Mufasa", "Circle of Life");
        let wrong = credentials("Mufasa", "Circle of Strife");
        // Both HA1s, one of them, or a SHA-512/256 one: the first match counts.
        let both = [
            (Sha256, ha1(Sha256, "Circle of Life")),
            (Md5, ha1(Md5, "Circle of Life")),
        ];
        assert_eq!(check(&right, &both), Some(0));
        assert_eq!(check(&wrong, &both), None);
        let md5_only = [(Sha256, None), (Md5, ha1(Md5, "Circle of Life"))];
        assert_eq!(check(&right, &md5_only), Some(1));
        assert_eq!(check(&wrong, &md5_only), None);
        let sha512 = [(Sha512_256, ha1(Sha512_256, "Circle of Life"))];
        assert_eq!(check(&right, &sha512), Some(0));
        // An unknown user matches nothing, even the dummy (whose preimage nobody knows).
        assert_eq!(check(&right, &[(Sha256, None), (Md5, None)]), None);
        // The realm is hashed in: another realm's HA1 does not match.
        let other_realm = Ha1::from_password(Sha256, "Mufasa", "other", "Circle of Life");
        assert_eq!(check(&right, &[(Sha256, Some(other_realm))]), None);
        // The RFC 2617 user, whose HA1 the crate's docs print.
        let rfc = Ha1::from_hex(Md5, "939e7578ed9e3c518a452acee763bce9").unwrap();
        let sent = credentials("Mufasa", "Circle Of Life");
        let dummies = HashFunction::ALL.map(|hash| hash.hex_digest(&[b"dummy"]));
        let found = matching_hash(&sent, "testrealm@host.com", [(Md5, Some(&rfc))], |hash| {
            &dummies[hash.index()]
        });
        assert_eq!(found, Some(0));
    }
}
