//! [`Challenge`]: the Digest challenge a client answers, picked from everything a 401 or a
//! 407 offers.

use std::borrow::Cow;

use http::HeaderValue;

use super::error::ChallengeError;
use super::parse::{Budget, Fields, digest_challenges};
use crate::hash::{Algorithm, HashFunction};

/// The quality of protection a [`Challenge`] is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qop {
    /// `qop=auth`: the method and URI are hashed; preferred whenever offered.
    Auth,
    /// `qop=auth-int`: the request body is hashed too; used only when `auth` is not
    /// offered.
    AuthInt,
    /// No `qop` (RFC 2069, still allowed by RFC 2617): no `cnonce` and no `nc`, so each
    /// nonce answers one request; only with the plain (not `-sess`) algorithms.
    None,
}

/// One Digest challenge, as a client answers it: the strongest one a 401 or 407 offers.
///
/// ```
/// use http::HeaderValue;
/// use tower_digest_auth::Algorithm;
/// use tower_digest_auth::client::{Challenge, Qop};
///
/// let offers = [
///     HeaderValue::from_static(r#"Basic realm="api", charset="UTF-8""#),
///     HeaderValue::from_static(r#"Digest realm="api", qop="auth", algorithm=MD5, nonce="a""#),
///     HeaderValue::from_static(r#"Digest realm="api", qop="auth", algorithm=SHA-256, nonce="b""#),
/// ];
/// let challenge = Challenge::strongest(&offers)?;
/// assert_eq!(challenge.algorithm(), Algorithm::Sha256);
/// assert_eq!((challenge.realm(), challenge.nonce(), challenge.qop()), ("api", "b", Qop::Auth));
/// # Ok::<(), tower_digest_auth::client::ChallengeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) opaque: Option<String>,
    pub(crate) algorithm: Algorithm,
    pub(crate) qop: Qop,
    pub(crate) stale: bool,
    pub(crate) userhash: bool,
}

impl Challenge {
    /// Reads every challenge in `values` (the `WWW-Authenticate` or `Proxy-Authenticate`
    /// header lines, several challenges per line allowed) and returns the strongest
    /// Digest one this client can answer: SHA-512-256, then SHA-256, then MD5; `qop=auth`
    /// before `auth-int` before none; a plain algorithm before its `-sess` variant; the
    /// first of equals. Other schemes are skipped.
    ///
    /// The work is bounded: lines over 16 KiB, and more than 64 challenges and lines in
    /// all, are refused. A line that is not UTF-8 or breaks the grammar is skipped; when
    /// no other line has a usable challenge, its error is returned.
    ///
    /// # Errors
    /// [`ChallengeError::NoDigestChallenge`] when no Digest challenge is offered at all;
    /// otherwise why none can be answered.
    pub fn strongest<'a>(
        values: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> Result<Challenge, ChallengeError> {
        let mut budget = Budget::default();
        let mut best: Option<(Rank, Fields<'a>)> = None;
        let mut unusable = None;
        let mut broken = None;
        for value in values {
            if std::str::from_utf8(value.as_bytes()).is_err() {
                budget.spend()?;
                broken.get_or_insert(ChallengeError::NotUtf8);
                continue;
            }
            let mut found = |challenge: Result<Fields<'a>, &'static str>| match challenge
                .and_then(|fields| Ok((rank(&fields)?, fields)))
            {
                Ok((rank, fields)) => {
                    if best.as_ref().is_none_or(|(top, _)| rank.key > top.key) {
                        best = Some((rank, fields));
                    }
                }
                Err(why) => {
                    unusable.get_or_insert(why);
                }
            };
            match digest_challenges(value.as_bytes(), &mut budget, &mut found) {
                Ok(()) => {}
                Err(ChallengeError::TooManyChallenges) => {
                    return Err(ChallengeError::TooManyChallenges);
                }
                Err(error) => {
                    broken.get_or_insert(error);
                }
            }
        }
        match (best, broken, unusable) {
            (Some((rank, fields)), _, _) => Ok(Challenge::new(rank, fields)),
            (None, Some(error), _) => Err(error),
            (None, None, Some(why)) => Err(ChallengeError::Unsupported(why)),
            (None, None, None) => Err(ChallengeError::NoDigestChallenge),
        }
    }

    fn new(rank: Rank, fields: Fields<'_>) -> Challenge {
        let text = |value: Option<Cow<'_, [u8]>>| {
            // The whole header is UTF-8, and removing the backslash of an escape keeps it so.
            value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        let is_true = |value: Option<Cow<'_, [u8]>>| {
            value.is_some_and(|flag| flag.eq_ignore_ascii_case(b"true"))
        };
        Challenge {
            realm: text(fields.realm).unwrap_or_default(),
            nonce: text(fields.nonce).unwrap_or_default(),
            opaque: text(fields.opaque),
            algorithm: rank.algorithm,
            qop: rank.qop,
            stale: is_true(fields.stale),
            userhash: is_true(fields.userhash),
        }
    }

    /// The realm (the protection space's name).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The server's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The `opaque` value, echoed in every answer.
    pub fn opaque(&self) -> Option<&str> {
        self.opaque.as_deref()
    }

    /// The algorithm (`MD5` when the challenge names none, as RFC 7616 says).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The quality of protection the answer uses.
    pub fn qop(&self) -> Qop {
        self.qop
    }

    /// `stale=true`: the previous answer was right but its nonce is no longer accepted;
    /// answer again with the same credentials.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// `userhash=true`: the server takes `H(username:realm)` in place of the username,
    /// which this client then sends.
    pub fn userhash(&self) -> bool {
        self.userhash
    }
}

/// An answerable challenge's algorithm and qop, and how good they are: `key` compares
/// strength, then protection, then plain before `-sess`.
#[derive(Debug, Clone, Copy)]
struct Rank {
    key: (u8, u8, bool),
    algorithm: Algorithm,
    qop: Qop,
}

fn qop_rank(qop: Qop) -> u8 {
    match qop {
        Qop::Auth => 2,
        Qop::AuthInt => 1,
        Qop::None => 0,
    }
}

/// The rank of a challenge, or why this client cannot answer it.
fn rank(fields: &Fields<'_>) -> Result<Rank, &'static str> {
    if fields.realm.is_none() {
        return Err("a challenge without a realm");
    }
    if fields.nonce.is_none() {
        return Err("a challenge without a nonce");
    }
    let algorithm = match &fields.algorithm {
        None => Algorithm::Md5,
        Some(name) => Algorithm::from_name(name).ok_or("an algorithm this client does not know")?,
    };
    let qop = match &fields.qop {
        None if algorithm.is_session() => return Err("a -sess algorithm without qop"),
        None => Qop::None,
        Some(list) => offered_qop(list).ok_or("no qop this client knows (auth, auth-int)")?,
    };
    let strength = match algorithm.hash_function() {
        HashFunction::Md5 => 0,
        HashFunction::Sha256 => 1,
        HashFunction::Sha512_256 => 2,
    };
    Ok(Rank {
        key: (strength, qop_rank(qop), !algorithm.is_session()),
        algorithm,
        qop,
    })
}

/// The best of a `qop` list (`"auth,auth-int"`): `auth` if it is there.
fn offered_qop(list: &[u8]) -> Option<Qop> {
    let mut best = None;
    for option in list.split(|&byte| byte == b',') {
        let option = option.trim_ascii();
        if option.eq_ignore_ascii_case(b"auth") {
            return Some(Qop::Auth);
        }
        if option.eq_ignore_ascii_case(b"auth-int") {
            best = Some(Qop::AuthInt);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(values: &[&str]) -> Result<(Algorithm, Qop, String), ChallengeError> {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        Challenge::strongest(&values).map(|c| (c.algorithm, c.qop, c.nonce))
    }

    fn offer(algorithm: &str, qop: &str, nonce: &str) -> String {
        format!(r#"Digest realm="r", algorithm={algorithm}, qop="{qop}", nonce="{nonce}""#)
    }

    #[test]
    fn the_strongest_answerable_challenge_wins() {
        use Algorithm::{Md5, Md5Sess, Sha256, Sha256Sess, Sha512_256};
        type Case<'a> = (&'a [String], (Algorithm, Qop, &'a str));
        let cases: &[Case<'_>] = &[
            (
                &[offer("MD5", "auth", "1"), offer("SHA-256", "auth", "2")],
                (Sha256, Qop::Auth, "2"),
            ),
            (
                &[
                    offer("SHA-256", "auth", "1"),
                    offer("SHA-512-256", "auth", "2"),
                ],
                (Sha512_256, Qop::Auth, "2"),
            ),
            (
                &[
                    offer("SHA-256-sess", "auth", "1"),
                    offer("SHA-256", "auth", "2"),
                ],
                (Sha256, Qop::Auth, "2"),
            ),
            (
                &[
                    offer("SHA-256-sess", "auth", "1"),
                    offer("MD5", "auth", "2"),
                ],
                (Sha256Sess, Qop::Auth, "1"),
            ),
            (&[offer("MD5-sess", "auth", "1")], (Md5Sess, Qop::Auth, "1")),
            (
                &[
                    offer("SHA-256", "auth-int", "1"),
                    offer("SHA-256", "auth,auth-int", "2"),
                ],
                (Sha256, Qop::Auth, "2"),
            ),
            (
                &[offer("SHA-256", "auth-int", "1"), offer("MD5", "auth", "2")],
                (Sha256, Qop::AuthInt, "1"),
            ),
            (
                &[offer("SHA-1", "auth", "1"), offer("MD5", "auth", "2")],
                (Md5, Qop::Auth, "2"),
            ),
            (
                &[offer("MD5", "auth", "1"), offer("MD5", "auth", "2")],
                (Md5, Qop::Auth, "1"),
            ),
            (
                &[r#"Digest realm="r", nonce="1""#.to_owned()],
                (Md5, Qop::None, "1"),
            ),
            (
                &[offer("sha-256", " AUTH-INT , Auth ", "1")],
                (Sha256, Qop::Auth, "1"),
            ),
        ];
        for (values, (algorithm, qop, nonce)) in cases {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            assert_eq!(
                pick(&values),
                Ok((*algorithm, *qop, (*nonce).to_owned())),
                "{values:?}"
            );
        }
    }

    #[test]
    fn nothing_answerable_says_why() {
        let cases: &[(&[&str], ChallengeError)] = &[
            (&[], ChallengeError::NoDigestChallenge),
            (&[r#"Basic realm="r""#], ChallengeError::NoDigestChallenge),
            (
                &[r#"Digest realm="r", algorithm=SHA-1, nonce="n""#],
                ChallengeError::Unsupported("an algorithm this client does not know"),
            ),
            (
                &[r#"Digest realm="r", qop="x", nonce="n""#],
                ChallengeError::Unsupported("no qop this client knows (auth, auth-int)"),
            ),
            (
                &[r#"Digest realm="r", algorithm=MD5-sess, nonce="n""#],
                ChallengeError::Unsupported("a -sess algorithm without qop"),
            ),
            (
                &[r#"Digest realm="r""#],
                ChallengeError::Unsupported("a challenge without a nonce"),
            ),
            (
                &[r#"Digest nonce="n""#],
                ChallengeError::Unsupported("a challenge without a realm"),
            ),
            (
                &[r#"Digest realm="r"#],
                ChallengeError::Malformed("unterminated quoted string"),
            ),
        ];
        for (values, expected) in cases {
            assert_eq!(pick(values), Err(*expected), "{values:?}");
        }
    }

    #[test]
    fn a_broken_line_does_not_hide_a_good_one() {
        let good = offer("SHA-256", "auth", "n");
        assert!(pick(&[r#"Digest realm="r"#, &good]).is_ok());
        let not_utf8 = HeaderValue::from_bytes(b"Digest realm=\"\xff\", nonce=n").unwrap();
        assert_eq!(
            Challenge::strongest([&not_utf8]),
            Err(ChallengeError::NotUtf8)
        );
        let good = HeaderValue::from_str(&good).unwrap();
        assert!(Challenge::strongest([&not_utf8, &good]).is_ok());
    }
}
