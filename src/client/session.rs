//! Answering: [`Credentials`], a [`Session`] per nonce (its `cnonce`, its `nc` and the
//! header text that does not change between requests), and the [`Answer`] of one request
//! with what checks the server's `rspauth`.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU32, Ordering};

use http::{HeaderValue, Method};
use subtle::ConstantTimeEq;

use super::challenge::{Challenge, Qop};
use super::error::Error;
use super::parse::info_fields;
use crate::hash::{
    DigestInput, HashFunction, Hasher, HexDigest, RawDigest, finish_kd, finish_kd_with, ha2_pair,
};
use crate::userhash::userhash_digest;

/// A username and a password. `Debug` shows the username only.
///
/// ```
/// use tower_digest_auth::client::Credentials;
///
/// let credentials = Credentials::new("Mufasa", "Circle of Life");
/// assert!(!format!("{credentials:?}").contains("Circle"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials for `username` with `password`, both hashed as UTF-8 (what
    /// `charset=UTF-8` asks for, and what this crate's server expects).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Everything needed to answer requests with one nonce of one [`Challenge`]: the
/// secret-derived key, a `cnonce` drawn once from the thread's CSPRNG (seeded from the
/// OS), the next `nc`, and the header text that stays the same from one request to the
/// next. Answering takes `&self`, so a session can be shared: each answer takes the next
/// `nc` atomically.
///
/// ```
/// use http::{HeaderValue, Method};
/// use tower_digest_auth::client::{Challenge, Credentials, Session};
///
/// let offer = HeaderValue::from_static(
///     r#"Digest realm="api", qop="auth", algorithm=SHA-256, nonce="abc", opaque="xyz""#,
/// );
/// let challenge = Challenge::strongest([&offer])?;
/// let session = Session::new(&Credentials::new("alice", "s3cret"), challenge);
/// let first = session.answer(&Method::GET, "/a", None)?;
/// let second = session.answer(&Method::GET, "/b", None)?;
/// let header = second.header().to_str().unwrap();
/// assert!(header.starts_with(r#"Digest username="alice", realm="api", nonce="abc", uri="/b""#));
/// assert!(header.contains("nc=00000002") && header.contains(r#"opaque="xyz""#));
/// # let _ = first;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session {
    challenge: Challenge,
    ha1: HexDigest,
    /// `username="..."`, `username*=...` or the hashed name: the same for every nonce.
    username: String,
    /// `HA1`, or for `-sess` `H(HA1:nonce:cnonce)`.
    key: HexDigest,
    /// Where the `cnonce` is in `tail` (empty without qop).
    cnonce: std::ops::Range<usize>,
    /// The `nc` of the last answer (0: none yet).
    nc: AtomicU32,
    /// `Digest username..., realm="...", nonce="...", uri="`: what precedes the URI.
    head: String,
    /// `, algorithm=..., qop=..., cnonce="...", opaque="...", userhash=true`.
    tail: String,
}

impl Session {
    /// A session for `challenge` (which may be `stale`: its nonce is fresh either way).
    pub fn new(credentials: &Credentials, challenge: Challenge) -> Session {
        let hash = challenge.algorithm.hash_function();
        let ha1 = hash.hex_digest(&[
            credentials.username.as_bytes(),
            b":",
            challenge.realm.as_bytes(),
            b":",
            credentials.password.as_bytes(),
        ]);
        let username = username_param(credentials, &challenge, hash);
        Session::build(challenge, ha1, username, new_cnonce().as_str())
    }

    /// A session with a chosen `cnonce`, for the RFC test vectors.
    #[cfg(test)]
    pub(crate) fn with_cnonce(
        credentials: &Credentials,
        challenge: Challenge,
        cnonce: &str,
    ) -> Session {
        let mut session = Session::new(credentials, challenge);
        let username = std::mem::take(&mut session.username);
        Session::build(session.challenge, session.ha1, username, cnonce)
    }

    fn build(challenge: Challenge, ha1: HexDigest, username: String, cnonce: &str) -> Session {
        // Built with `push_str` alone: `format!` costs more than the hashing here.
        let mut head = String::with_capacity(
            64 + username.len() + challenge.realm.len() + challenge.nonce.len(),
        );
        for part in ["Digest ", &username, ", realm=\""] {
            head.push_str(part);
        }
        push_quoted(&mut head, &challenge.realm);
        head.push_str("\", nonce=\"");
        push_quoted(&mut head, &challenge.nonce);
        head.push_str("\", uri=\"");
        let opaque_len = challenge.opaque.as_ref().map_or(0, String::len);
        let mut tail = String::with_capacity(96 + cnonce.len() + opaque_len);
        tail.push_str(", algorithm=");
        tail.push_str(challenge.algorithm.name());
        let qop = match challenge.qop {
            Qop::Auth => Some(", qop=auth, cnonce=\""),
            Qop::AuthInt => Some(", qop=auth-int, cnonce=\""),
            Qop::None => None,
        };
        let mut cnonce_at = 0..0;
        if let Some(qop) = qop {
            tail.push_str(qop);
            cnonce_at = tail.len()..tail.len() + cnonce.len();
            tail.push_str(cnonce);
            tail.push('"');
        }
        if let Some(opaque) = &challenge.opaque {
            tail.push_str(", opaque=\"");
            push_quoted(&mut tail, opaque);
            tail.push('"');
        }
        if challenge.userhash {
            tail.push_str(", userhash=true");
        }
        let key = DigestInput {
            algorithm: challenge.algorithm,
            nonce: challenge.nonce.as_bytes(),
            nc: b"",
            cnonce: tail[cnonce_at.clone()].as_bytes(),
            qop: b"",
            uri: b"",
        }
        .session_key(&ha1);
        Session {
            challenge,
            ha1,
            username,
            key,
            cnonce: cnonce_at,
            nc: AtomicU32::new(0),
            head,
            tail,
        }
    }

    /// The same credentials with the server's `nextnonce`, from `nc` 1 with a new `cnonce`.
    #[must_use]
    pub fn with_next_nonce(&self, nonce: &str) -> Session {
        let challenge = Challenge {
            nonce: nonce.to_owned(),
            stale: false,
            ..self.challenge.clone()
        };
        Session::build(
            challenge,
            self.ha1,
            self.username.clone(),
            new_cnonce().as_str(),
        )
    }

    /// The challenge this session answers.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The `Authorization` (or `Proxy-Authorization`) value for a request, with the next
    /// `nc`. `uri` is the request target as sent (`/path?query`, an absolute URI through
    /// a proxy, the authority for `CONNECT`); `body` is needed only for `qop=auth-int`.
    ///
    /// # Errors
    /// [`Error::Body`] for `qop=auth-int` without a body; [`Error::InvalidUri`] for a `uri`
    /// with control characters (an `http::Uri` has none).
    pub fn answer(&self, method: &Method, uri: &str, body: Option<&[u8]>) -> Result<Answer, Error> {
        let challenge = &self.challenge;
        let hash = challenge.algorithm.hash_function();
        let entity = match (challenge.qop, body) {
            (Qop::AuthInt, None) => return Err(Error::Body("qop=auth-int needs the request body")),
            (Qop::AuthInt, Some(body)) => Some(hash.hex_digest(&[body])),
            _ => None,
        };
        let nc = self
            .nc
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |nc| {
                Some(nc.saturating_add(1))
            })
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let nc = HexText::<8>::of(&nc.to_be_bytes());
        let nc = nc.as_str();
        let prefix = self.prefix(nc);
        // Both HA2s from one lookup of the crate's cache; rspauth's is kept for `verify`.
        let (response, rspauth_ha2) = match &entity {
            None => {
                let [ha2, rspauth_ha2] = ha2_pair(hash, method.as_str().as_bytes(), uri.as_bytes());
                (finish_kd_with(&prefix, &ha2), Some(rspauth_ha2))
            }
            Some(entity) => {
                let method = method.as_str().as_bytes();
                (
                    finish_kd(&prefix, hash, method, uri.as_bytes(), Some(entity)),
                    None,
                )
            }
        };
        let response = response.to_hex();

        // Exactly the length: `Bytes` takes a full buffer as it is, where spare capacity
        // would cost it another allocation.
        let escapes = uri
            .bytes()
            .filter(|&byte| byte == b'"' || byte == b'\\')
            .count();
        let nc_len = if challenge.qop == Qop::None {
            0
        } else {
            5 + nc.len()
        };
        let len = self.head.len()
            + uri.len()
            + escapes
            + 14
            + response.as_str().len()
            + nc_len
            + self.tail.len();
        let mut value = String::with_capacity(len);
        value.push_str(&self.head);
        push_quoted(&mut value, uri);
        value.push_str("\", response=\"");
        value.push_str(response.as_str());
        value.push('"');
        if challenge.qop != Qop::None {
            value.push_str(", nc=");
            value.push_str(nc);
        }
        value.push_str(&self.tail);
        debug_assert_eq!(value.len(), len, "the answer's length was not foreseen");
        // Realm, nonce and opaque come from a header the parser checked for control
        // characters, and the username is quoted only when printable ASCII (else percent-
        // encoded): only a caller's `uri` can hold what a header may not.
        let header = HeaderValue::try_from(value).map_err(|_| Error::InvalidUri)?;
        // With auth-int, rspauth covers the response body, which is not read here.
        let rspauth = rspauth_ha2.map(|ha2| RspauthCheck { prefix, ha2 });
        Ok(Answer { header, rspauth })
    }

    /// The hash state `KD` continues with `H(A2)`: `key:nonce:nc:cnonce:qop:`, or
    /// without qop (RFC 2069) `key:nonce:`.
    fn prefix(&self, nc: &str) -> Hasher {
        let challenge = &self.challenge;
        let qop: &[u8] = match challenge.qop {
            Qop::Auth => b"auth",
            Qop::AuthInt => b"auth-int",
            Qop::None => {
                let mut hasher = Hasher::new(challenge.algorithm.hash_function());
                for part in [self.key.as_bytes(), b":", challenge.nonce.as_bytes(), b":"] {
                    hasher.update(part);
                }
                return hasher;
            }
        };
        DigestInput {
            algorithm: challenge.algorithm,
            nonce: challenge.nonce.as_bytes(),
            nc: nc.as_bytes(),
            cnonce: self.tail[self.cnonce.clone()].as_bytes(),
            qop,
            uri: b"",
        }
        .kd_prefix(&self.key)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("challenge", &self.challenge)
            .field("nc", &self.nc.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One request's credentials header, and what checks the server's `rspauth` for it.
pub struct Answer {
    header: HeaderValue,
    rspauth: Option<RspauthCheck>,
}

/// `KD` up to `H(A2)`, and `H(:uri)` to finish it with: the `rspauth` a server that knows
/// the password sends. Derived from `HA1`: as secret as the password for this nonce.
struct RspauthCheck {
    prefix: Hasher,
    ha2: HexDigest,
}

impl Answer {
    /// The `Authorization` (or `Proxy-Authorization`) header value.
    pub fn header(&self) -> &HeaderValue {
        &self.header
    }

    /// Moves the header value out, for the request it goes on (a clone of it would copy
    /// the text, which is in no shared buffer yet); [`verify`](Answer::verify) still works.
    pub(crate) fn take_header(&mut self) -> HeaderValue {
        std::mem::replace(&mut self.header, HeaderValue::from_static(""))
    }

    /// Checks the server's `Authentication-Info` (or `Proxy-Authentication-Info`) for
    /// this answer: its `rspauth`, when present, must be the one a server knowing the
    /// password computes (compared in constant time). Returns the `nextnonce`, if any,
    /// to continue with ([`Session::with_next_nonce`]).
    ///
    /// With `qop=auth-int` the `rspauth` covers the response body, which this method
    /// does not see: it is not checked.
    ///
    /// # Errors
    /// [`Error::RspauthMismatch`], or [`Error::MalformedInfo`] when the header cannot be
    /// read.
    pub fn verify(&self, info: &HeaderValue) -> Result<Option<String>, Error> {
        let text = info
            .to_str()
            .map_err(|_| Error::MalformedInfo("not visible ASCII"))?;
        let fields = info_fields(text.as_bytes()).map_err(Error::MalformedInfo)?;
        if let (Some(check), Some(sent)) = (&self.rspauth, &fields.rspauth) {
            let expected = finish_kd_with(&check.prefix, &check.ha2);
            let sent = RawDigest::from_hex(sent)
                .filter(|sent| sent.as_bytes().len() * 2 == check.ha2.as_bytes().len());
            let matches = sent.is_some_and(|sent| bool::from(sent.ct_eq(&expected)));
            if !matches {
                return Err(Error::RspauthMismatch);
            }
        }
        Ok(fields
            .nextnonce
            .map(|nonce| String::from_utf8_lossy(&nonce).into_owned()))
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// `username="..."`, `username*=UTF-8''...` (RFC 8187) for a name that a quoted string
/// cannot carry, or with `userhash` the hashed name (RFC 7616 section 3.4.4).
fn username_param(credentials: &Credentials, challenge: &Challenge, hash: HashFunction) -> String {
    let username = credentials.username.as_str();
    if challenge.userhash {
        let hashed = userhash_digest(hash, username, &challenge.realm);
        return ["username=\"", hashed.as_str(), "\""].concat();
    }
    if username.bytes().all(|byte| (0x20..0x7f).contains(&byte)) {
        let mut param = String::from("username=\"");
        push_quoted(&mut param, username);
        param.push('"');
        return param;
    }
    let mut param = String::from("username*=UTF-8''");
    for byte in username.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            param.push(char::from(byte));
        } else {
            write!(param, "%{byte:02X}").expect("writing to a String cannot fail");
        }
    }
    param
}

/// Appends `text` as the inside of a quoted string: `"` and `\` escaped.
fn push_quoted(out: &mut String, text: &str) {
    if memchr::memchr2(b'"', b'\\', text.as_bytes()).is_none() {
        out.push_str(text);
        return;
    }
    for char in text.chars() {
        if char == '"' || char == '\\' {
            out.push('\\');
        }
        out.push(char);
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// 128 random bits, in hex.
fn new_cnonce() -> HexText<32> {
    HexText::of(&rand::random::<[u8; 16]>())
}

/// Lowercase hex digits on the stack (`nc`: 8, `cnonce`: 32).
struct HexText<const N: usize>([u8; N]);

impl<const N: usize> HexText<N> {
    /// The digits of `bytes` (`N / 2` of them; any more are not written).
    fn of(bytes: &[u8]) -> Self {
        let mut digits = [b'0'; N];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0xf)];
        }
        HexText(digits)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}
