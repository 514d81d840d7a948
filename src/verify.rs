//! The decisions, as pure functions: from a request to an [`Answer`] (parsing, no
//! hashing), from an answer to an [`Attempt`] (the nonce MAC), and from an attempt plus
//! the user's `HA1` to a verdict. The service only adds the store calls between them
//! (the failed-login throttle goes between the first two, before any hashing).

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

use http::request::Parts;
use http::{HeaderValue, Uri};
use subtle::ConstantTimeEq;

use crate::auth_int::{CollectedBody, PendingRspauth};
use crate::clock::{MAX_CLOCK_SKEW, from_unix_secs, unix_secs};
use crate::config::Config;
use crate::credentials::Ha1;
use crate::hash::{Algorithm, DigestInput, Hasher, HexDigest, RawDigest};
use crate::hash::{finish_kd, finish_kd_with, ha2_pair};
use crate::header::{DigestParams, ParseError, parse_authorization};
use crate::nonce::{EpochSource, IssuedNonce, NonceError, expiry, remaining_life};
use crate::rejection::Rejection;

/// A well-formed answer to a challenge, whose nonce is not checked yet: everything known
/// without hashing.
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    /// As sent: with `userhash`, the hash (normalised to lowercase hex), which the
    /// credential store maps back to a name.
    pub(crate) username: Cow<'a, str>,
    /// Whether `username` is `H(username:realm)` (RFC 7616 section 3.4.4).
    pub(crate) hashed_username: bool,
    pub(crate) algorithm: Algorithm,
    pub(crate) nc: u64,
    response: RawDigest,
    raw_nonce: Cow<'a, [u8]>,
    raw_nc: Cow<'a, [u8]>,
    cnonce: Cow<'a, [u8]>,
    qop: Cow<'a, [u8]>,
    uri: Cow<'a, [u8]>,
    /// The request body, for `qop=auth-int` (hashed only once the nonce verified).
    entity: Option<&'a CollectedBody>,
}

/// What proves the server to the client, for `Authentication-Info`: `rspauth` at once
/// (`qop=auth`), or once the response body is known (`qop=auth-int`).
pub(crate) enum AuthInfo {
    Header(HeaderValue),
    AfterBody(Box<PendingRspauth>),
}

/// An [`Answer`] with a genuine nonce; what is left is the password check, then the
/// client's address (see `from_elsewhere`), the age and the replay check.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    pub(crate) answer: Answer<'a>,
    pub(crate) nonce: IssuedNonce,
    /// The nonce is genuine but was issued to an address outside the binding: the
    /// response is still checked (a right one means the client moved, and gets
    /// `stale=true`), but the request is never accepted.
    pub(crate) from_elsewhere: bool,
}

/// Everything that can be checked from the request alone without hashing, in the order
/// the crate's behaviour table implies: format (400) before the nonce (401, [`Answer::check_nonce`]).
pub(crate) fn parse_answer<'a>(config: &Config, parts: &'a Parts) -> Result<Answer<'a>, Rejection> {
    let mut headers = parts
        .headers
        .get_all(config.mode.credentials_header())
        .iter();
    let Some(header) = headers.next() else {
        return Err(Rejection::MissingCredentials);
    };
    if headers.next().is_some() {
        return Err(config.mode.duplicate_credentials());
    }
    let mut params = parse_authorization(header.as_bytes()).map_err(|error| match error {
        ParseError::OtherScheme => Rejection::MissingCredentials,
        ParseError::Malformed(what) => Rejection::Malformed(what),
        ParseError::Duplicate(name) => Rejection::DuplicateParameter(name),
    })?;

    let (username, hashed_username) = username(&mut params, config.protocol.userhash)?;
    let realm = required(params.realm.take(), "realm")?;
    let raw_nonce = required(params.nonce.take(), "nonce")?;
    let uri = required(params.uri.take(), "uri")?;
    let response = required(params.response.take(), "response")?;
    let qop = params.qop.take().ok_or(Rejection::UnsupportedQop)?;
    // auth-int only from the layer that offered it, and which read the body.
    let body = if qop.eq_ignore_ascii_case(b"auth") {
        None
    } else if qop.eq_ignore_ascii_case(b"auth-int") && config.protocol.auth_int_limit.is_some() {
        let body = parts.extensions.get::<CollectedBody>();
        Some(body.ok_or(Rejection::UnsupportedQop)?)
    } else {
        return Err(Rejection::UnsupportedQop);
    };
    let raw_nc = required(params.nc.take(), "nc")?;
    let cnonce = required(params.cnonce.take(), "cnonce")?;

    // RFC 7616: no algorithm parameter means MD5.
    let algorithm = match params.algorithm.as_deref() {
        None => Algorithm::Md5,
        Some(name) => Algorithm::from_name(name).ok_or(Rejection::UnsupportedAlgorithm)?,
    };
    if !config.algorithms.contains(&algorithm) {
        return Err(Rejection::UnsupportedAlgorithm);
    }
    let hash = algorithm.hash_function();
    let username = if hashed_username {
        let digest = crate::userhash::parse_userhash(&username, hash).ok_or(
            Rejection::InvalidField("a hashed username must be a digest of the algorithm"),
        )?;
        Cow::Owned(digest.as_str().to_owned())
    } else {
        username
    };
    if *realm != *config.realm.as_bytes() {
        return Err(Rejection::RealmMismatch);
    }
    // Clients should echo opaque; the few that drop it lose nothing we rely on.
    if params
        .opaque
        .as_deref()
        .is_some_and(|opaque| opaque != config.opaque.as_bytes())
    {
        return Err(Rejection::OpaqueMismatch);
    }
    // Behind a prefix-stripping proxy, what the client signed minus the prefix.
    let inner_uri = config
        .external_prefix
        .inner_uri(&uri, parts, &config.client_ip)?;
    if !inner_uri.is_some_and(|inner_uri| {
        uri_matches(
            &inner_uri,
            request_target(parts),
            parts.headers.get(http::header::HOST),
        )
    }) {
        return Err(Rejection::UriMismatch);
    }
    let nc = parse_nc(&raw_nc)?;
    let response = RawDigest::from_hex(&response)
        .filter(|digest| digest.as_bytes().len() * 2 == algorithm.hash_function().hex_len())
        .ok_or(Rejection::InvalidField(
            "response is not a digest of the algorithm",
        ))?;
    Ok(Answer {
        username,
        hashed_username,
        algorithm,
        nc,
        response,
        raw_nonce,
        raw_nc,
        cnonce,
        qop,
        uri,
        entity: body,
    })
}

impl<'a> Answer<'a> {
    /// The nonce as sent.
    pub(crate) fn raw_nonce(&self) -> &[u8] {
        &self.raw_nonce
    }

    /// Checks the nonce's MAC (in constant time): one we issued, for this algorithm, to
    /// this client or (an [`Attempt::from_elsewhere`], which is never accepted) to an
    /// address outside the binding.
    pub(crate) fn check_nonce(
        self,
        config: &Config,
        client: IpAddr,
    ) -> Result<Attempt<'a>, Rejection> {
        let (nonce, from_elsewhere) = match config.signer.check(&self.raw_nonce, client) {
            Ok(nonce) => (nonce, false),
            Err(NonceError::Forged) => return Err(Rejection::ForgedNonce),
            // Its answer decides: stale when right (the client moved), a failure if not.
            Err(NonceError::OtherClient) => match config.signer.check_foreign(&self.raw_nonce) {
                Some(nonce) => (nonce, true),
                None => return Err(Rejection::ForgedNonce),
            },
        };
        if nonce.algorithm != self.algorithm {
            return Err(Rejection::NonceAlgorithmMismatch);
        }
        Ok(Attempt {
            answer: self,
            nonce,
            from_elsewhere,
        })
    }
}

impl Attempt<'_> {
    fn input(&self) -> DigestInput<'_> {
        let answer = &self.answer;
        DigestInput {
            algorithm: answer.algorithm,
            nonce: &answer.raw_nonce,
            nc: &answer.raw_nc,
            cnonce: &answer.cnonce,
            qop: &answer.qop,
            uri: &answer.uri,
        }
    }

    /// Checks the response against the user's `HA1` (or, for an unknown user, against a
    /// dummy one, so both failures cost the same) in constant time. On success returns
    /// `rspauth`, finished from the `KD` prefix it shares with the response.
    pub(crate) fn check_response(
        &self,
        ha1: Option<&Ha1>,
        dummy: &HexDigest,
        method: &[u8],
    ) -> Result<Verified, Rejection> {
        let known = ha1.is_some();
        let input = self.input();
        let key = input.session_key(ha1.map_or(dummy, Ha1::digest));
        let prefix = input.kd_prefix(&key);
        let hash = self.answer.algorithm.hash_function();
        // auth-int: the request body's hash, computed only now, after the throttle and
        // the nonce check.
        let (expected, rspauth_ha2) = match self.answer.entity {
            // Both HA2s from one lookup: rspauth's is kept for authentication_info.
            None => {
                let [ha2, rspauth_ha2] = ha2_pair(hash, method, &self.answer.uri);
                (finish_kd_with(&prefix, &ha2), Some(rspauth_ha2))
            }
            Some(body) => {
                let entity_hash = body.hash(hash);
                let expected =
                    finish_kd(&prefix, hash, method, &self.answer.uri, Some(&entity_hash));
                (expected, None)
            }
        };
        let matches = expected.ct_eq(&self.answer.response);
        if known & bool::from(matches) {
            Ok(Verified {
                prefix,
                rspauth_ha2,
            })
        } else {
            Err(Rejection::BadCredentials)
        }
    }

    /// Seconds since the nonce was issued, if it is still usable; `StaleNonce` when the
    /// client must retry with a fresh one (asked only of a verified response, so a stale
    /// answer never tells an attacker anything):
    /// - its lifetime is over: accepted only while `age < lifetime`, to the millisecond
    ///   of our clock ([`remaining_life`], the boundary the stores use too);
    /// - issued more than [`MAX_CLOCK_SKEW`] in our future: the MAC verifies, so we issued
    ///   it, and our clock has stepped back since; its age cannot be told;
    /// - issued against a nonce store epoch the store no longer accepts (before a restart,
    ///   by the old side of a deploy): this store cannot know its past uses.
    pub(crate) fn fresh_age(
        &self,
        now: SystemTime,
        lifetime_secs: u64,
        epochs: &dyn EpochSource,
    ) -> Result<u64, Rejection> {
        let issued_at = self.nonce.issued_at;
        let expired = remaining_life(expiry(issued_at, lifetime_secs), now).is_none();
        let from_the_future = now
            .checked_add(MAX_CLOCK_SKEW)
            .is_some_and(|latest| from_unix_secs(issued_at) > latest);
        if expired || from_the_future || !epochs.accepts(self.nonce.epoch) {
            return Err(Rejection::StaleNonce);
        }
        Ok(unix_secs(now).saturating_sub(issued_at))
    }

    /// `Authentication-Info` for a success: `rspauth` proves to the client that we know
    /// its `HA1` too; `nextnonce` hands over a fresh nonce before this one expires. For
    /// `qop=auth-int`, `rspauth` covers the response body, so it waits for it.
    pub(crate) fn authentication_info(
        &self,
        verified: Verified,
        next_nonce: Option<String>,
    ) -> AuthInfo {
        let hash = self.answer.algorithm.hash_function();
        if self.answer.entity.is_some() {
            return AuthInfo::AfterBody(Box::new(PendingRspauth {
                prefix: verified.prefix,
                hash,
                uri: self.answer.uri.to_vec(),
                cnonce: self.answer.cnonce.to_vec(),
                nc: self.answer.raw_nc.to_vec(),
                next_nonce,
            }));
        }
        let rspauth = match &verified.rspauth_ha2 {
            Some(ha2) => finish_kd_with(&verified.prefix, ha2),
            None => finish_kd(&verified.prefix, hash, b"", &self.answer.uri, None),
        }
        .to_hex();
        AuthInfo::Header(info_header(
            b"auth",
            Some(&rspauth),
            &self.answer.cnonce,
            &self.answer.raw_nc,
            next_nonce.as_deref(),
        ))
    }
}

/// A verified response: the `KD` state that `rspauth` finishes. It is derived from the
/// user's `HA1`, so it is as secret as the password for this `(nonce, nc)`.
pub(crate) struct Verified {
    prefix: Hasher,
    /// `H(:uri)`, found with the response's own `HA2` (not for auth-int).
    rspauth_ha2: Option<HexDigest>,
}

/// The `Authentication-Info` value: `qop`, `rspauth` (when there is one), `cnonce`, `nc`
/// and `nextnonce`.
pub(crate) fn info_header(
    qop: &[u8],
    rspauth: Option<&HexDigest>,
    cnonce: &[u8],
    nc: &[u8],
    next_nonce: Option<&str>,
) -> HeaderValue {
    let mut value = Vec::with_capacity(info_len(qop, rspauth, cnonce, nc, next_nonce));
    value.extend_from_slice(b"qop=");
    value.extend_from_slice(qop);
    if let Some(rspauth) = rspauth {
        value.extend_from_slice(b", rspauth=\"");
        value.extend_from_slice(rspauth.as_bytes());
        value.push(b'"');
    }
    value.extend_from_slice(b", cnonce=\"");
    if memchr::memchr2(b'"', b'\\', cnonce).is_none() {
        // The usual case: hex or base64, nothing to escape.
        value.extend_from_slice(cnonce);
    } else {
        for &byte in cnonce {
            if byte == b'"' || byte == b'\\' {
                value.push(b'\\');
            }
            value.push(byte);
        }
    }
    value.extend_from_slice(b"\", nc=");
    value.extend_from_slice(nc);
    if let Some(next) = next_nonce {
        value.extend_from_slice(b", nextnonce=\"");
        value.extend_from_slice(next.as_bytes());
        value.push(b'"');
    }
    // Every byte came from our own hex and base64 or from the header we parsed, which
    // holds no control characters (the parser refuses them), so this cannot fail.
    HeaderValue::try_from(value).expect("Authentication-Info is a valid header value")
}

/// The exact length of [`info_header`]'s value (escapes in `cnonce` aside): a buffer with
/// no spare capacity becomes the header's `Bytes` as it is, where one with any would
/// cost another allocation.
fn info_len(
    qop: &[u8],
    rspauth: Option<&HexDigest>,
    cnonce: &[u8],
    nc: &[u8],
    next_nonce: Option<&str>,
) -> usize {
    // `qop=`, `, cnonce="`, `", nc=`; `, rspauth="` and `"`; `, nextnonce="` and `"`.
    4 + qop.len()
        + rspauth.map_or(0, |rspauth| 12 + rspauth.as_bytes().len())
        + 10
        + cnonce.len()
        + 6
        + nc.len()
        + next_nonce.map_or(0, |next| 14 + next.len())
}

fn required<'a>(
    field: Option<Cow<'a, [u8]>>,
    name: &'static str,
) -> Result<Cow<'a, [u8]>, Rejection> {
    field.ok_or(Rejection::MissingField(name))
}

/// The username from `username` or `username*` (RFC 8187 `UTF-8''percent%20encoded`),
/// and whether it is hashed (`userhash=true`); both at once is refused, and so is a
/// hashed one when `userhash` was not offered or comes as `username*`.
fn username<'a>(
    params: &mut DigestParams<'a>,
    userhash_offered: bool,
) -> Result<(Cow<'a, str>, bool), Rejection> {
    let hashed = params
        .userhash
        .as_deref()
        .is_some_and(|flag| flag.eq_ignore_ascii_case(b"true"));
    if hashed && (!userhash_offered || params.username_star.is_some()) {
        return Err(Rejection::UnsupportedUsername);
    }
    plain_username(params).map(|username| (username, hashed))
}

fn plain_username<'a>(params: &mut DigestParams<'a>) -> Result<Cow<'a, str>, Rejection> {
    match (params.username.take(), params.username_star.take()) {
        (Some(_), Some(_)) => Err(Rejection::UnsupportedUsername),
        (None, None) => Err(Rejection::MissingField("username")),
        (Some(Cow::Borrowed(bytes)), None) => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| Rejection::InvalidField("username is not UTF-8"))
            .and_then(no_controls),
        (Some(Cow::Owned(bytes)), None) => String::from_utf8(bytes)
            .map(Cow::Owned)
            .map_err(|_| Rejection::InvalidField("username is not UTF-8"))
            .and_then(no_controls),
        (None, Some(extended)) => {
            decode_ext_value(&extended)
                .map(Cow::Owned)
                .ok_or(Rejection::InvalidField(
                    "username* is not UTF-8''percent-encoded",
                ))
        }
    }
}

/// The header parser refuses ASCII control bytes, but UTF-8 carries the C1 controls
/// (U+0080 to U+009F, such as U+009B, a terminal's CSI) in ordinary bytes: refuse them
/// as `username*` does, before they reach logs and the application.
fn no_controls(username: Cow<'_, str>) -> Result<Cow<'_, str>, Rejection> {
    // Printable ASCII, the usual case, has no control to look for char by char.
    if username.bytes().all(|byte| (0x20..0x7f).contains(&byte)) {
        return Ok(username);
    }
    if username.chars().any(char::is_control) {
        return Err(Rejection::InvalidField("username has control characters"));
    }
    Ok(username)
}

/// RFC 8187 `ext-value` with the UTF-8 charset (the only one RFC 7616 allows).
fn decode_ext_value(value: &[u8]) -> Option<String> {
    let (charset, rest) = split_once(value, b'\'')?;
    let (_language, encoded) = split_once(rest, b'\'')?;
    if !charset.eq_ignore_ascii_case(b"UTF-8") {
        return None;
    }
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut bytes = encoded.iter();
    while let Some(&byte) = bytes.next() {
        if byte == b'%' {
            let high = (*bytes.next()? as char).to_digit(16)?;
            let low = (*bytes.next()? as char).to_digit(16)?;
            decoded.push(u8::try_from(high * 16 + low).ok()?);
        } else {
            decoded.push(byte);
        }
    }
    // Percent-encoding can smuggle what the header itself may not carry.
    let decoded = String::from_utf8(decoded).ok()?;
    (!decoded.chars().any(char::is_control)).then_some(decoded)
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// `nc`: hex digits (RFC 7616 says eight; one client counts in decimal, which still
/// parses as increasing hex), at least 1.
fn parse_nc(raw: &[u8]) -> Result<u64, Rejection> {
    const INVALID: Rejection = Rejection::InvalidField("nc must be 1 to 16 hex digits, not zero");
    if raw.is_empty() || raw.len() > 16 {
        return Err(INVALID);
    }
    // One pass, digits checked as they are read (16 digits cannot overflow a u64).
    let mut nc = 0u64;
    for &byte in raw {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => return Err(INVALID),
        };
        nc = nc << 4 | u64::from(digit);
    }
    if nc == 0 {
        return Err(INVALID);
    }
    Ok(nc)
}

/// The target as the client sent it: inside a nested axum router the request's URI has
/// lost its prefix, and the original is in the extensions.
fn request_target(parts: &Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(original)) = parts.extensions.get() {
        return original;
    }
    &parts.uri
}

/// Whether the `uri` parameter names the request target: byte-equal in the usual case;
/// otherwise (absolute-form on either side) the same path and query, and the same
/// authority, taken from the `Host` header when the target has none.
fn uri_matches(claimed: &[u8], target: &Uri, host: Option<&HeaderValue>) -> bool {
    // Authority-form (`CONNECT host:port`) has no path: the authority is the target, and
    // the `/` that `path_and_query` would fall back to names nothing.
    if target.scheme().is_none() {
        if let Some(authority) = target.authority() {
            return claimed.eq_ignore_ascii_case(authority.as_str().as_bytes());
        }
    }
    let target_path = target.path_and_query().map_or("/", |pq| pq.as_str());
    if claimed == target_path.as_bytes() {
        return true;
    }
    let Ok(claimed) = Uri::try_from(claimed) else {
        return false;
    };
    let claimed_path = claimed.path_and_query().map_or("/", |pq| pq.as_str());
    if claimed_path != target_path {
        return false;
    }
    let Some(claimed_authority) = claimed.authority() else {
        return true;
    };
    match target.authority() {
        Some(authority) => {
            claimed_authority
                .as_str()
                .eq_ignore_ascii_case(authority.as_str())
                && claimed.scheme() == target.scheme()
        }
        None => host.is_some_and(|host| {
            host.as_bytes()
                .eq_ignore_ascii_case(claimed_authority.as_str().as_bytes())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_match_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("/dir/index.html", "/dir/index.html", true),
            (
                "http://evil.example/dir/index.html",
                "/dir/index.html",
                false,
            ),
            ("/dir/index.html?a=1", "/dir/index.html?a=1", true),
            ("/dir/index.html?a=%20", "/dir/index.html?a=%20", true),
            ("/dir/index.html", "/dir/index.html?a=1", false),
            ("/dir/index.html?a=2", "/dir/index.html?a=1", false),
            ("/other", "/dir/index.html", false),
            ("http://Example.org/dir/index.html", "/dir/index.html", true),
            ("/dir/index.html", "http://example.org/dir/index.html", true),
            ("http://example.org/a?b", "http://EXAMPLE.org/a?b", true),
            ("http://evil.example/a", "http://example.org/a", false),
            ("not a uri", "/dir/index.html", false),
            ("*", "*", true),
            // CONNECT's authority-form: the authority itself, not a path.
            ("example.org:443", "example.org:443", true),
            ("EXAMPLE.org:443", "example.org:443", true),
            ("/", "example.org:443", false),
            ("other.example:443", "example.org:443", false),
            ("example.org:8443", "example.org:443", false),
            ("http://example.org:443/", "example.org:443", false),
        ];
        for (claimed, target, expected) in cases {
            let target: Uri = target.parse().unwrap();
            let host = HeaderValue::from_static("example.org");
            assert_eq!(
                uri_matches(claimed.as_bytes(), &target, Some(&host)),
                *expected,
                "{claimed} vs {target}"
            );
        }
    }

    #[test]
    fn authentication_info_echoes_the_cnonce_escaped() {
        let rspauth = RawDigest::from_hex(&[b'a'; 32]).unwrap().to_hex();
        for (cnonce, echoed) in [
            (&b"0a4f113b"[..], &b"0a4f113b"[..]),
            (b"a\"b\\c", b"a\\\"b\\\\c"),
        ] {
            let info = info_header(b"auth", Some(&rspauth), cnonce, b"00000001", None);
            let mut expected = b"qop=auth, rspauth=\"".to_vec();
            expected.extend_from_slice(&[b'a'; 32]);
            expected.extend_from_slice(b"\", cnonce=\"");
            expected.extend_from_slice(echoed);
            expected.extend_from_slice(b"\", nc=00000001");
            assert_eq!(info.as_bytes(), expected.as_slice());
        }
    }

    #[test]
    fn authentication_info_buffer_is_sized_exactly() {
        let rspauth = RawDigest::from_hex(&[b'b'; 64]).unwrap().to_hex();
        for (rspauth, next) in [
            (None, None),
            (Some(&rspauth), None),
            (Some(&rspauth), Some("bmV4dA")),
            (None, Some("bmV4dA")),
        ] {
            let args = (
                &b"auth"[..],
                rspauth,
                &b"0a4f113b"[..],
                &b"00000001"[..],
                next,
            );
            let info = info_header(args.0, args.1, args.2, args.3, args.4);
            assert_eq!(
                info.as_bytes().len(),
                info_len(args.0, args.1, args.2, args.3, args.4),
                "{info:?}"
            );
        }
    }

    #[test]
    fn usernames_with_control_characters_are_refused() {
        // A tab passes the header parser (it is whitespace there) but not here.
        for bad in ["a\tb", "\t", "a\u{9b}b", "\u{85}"] {
            assert!(no_controls(Cow::Borrowed(bad)).is_err(), "{bad:?}");
        }
        for good in ["Mufasa", "J\u{e4}s\u{f8}n Doe", "a b~", ""] {
            assert!(no_controls(Cow::Borrowed(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn nc_parsing() {
        assert_eq!(parse_nc(b"00000001"), Ok(1));
        assert_eq!(parse_nc(b"0000000a"), Ok(10));
        assert_eq!(parse_nc(b"0000000A"), Ok(10));
        assert_eq!(parse_nc(b"00000010"), Ok(16));
        assert_eq!(parse_nc(b"ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_nc(b"FfFf"), Ok(0xffff));
        assert_eq!(parse_nc(b"9"), Ok(9));
        for bad in [
            &b""[..],
            b"00000000",
            b"xyz",
            b"-1",
            b"+1",
            b"11111111111111111",
            b"\xff",
            b"0000000g",
            b" 1",
            b"1 ",
            b"0x1",
            b"0000000/",
            b"0000000:",
            b"0000000@",
            b"0000000`",
        ] {
            assert!(parse_nc(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ext_value_usernames() {
        assert_eq!(
            decode_ext_value(b"UTF-8''J%C3%A4s%C3%B8n%20Doe").as_deref(),
            Some("J\u{e4}s\u{f8}n Doe")
        );
        assert_eq!(
            decode_ext_value(b"utf-8'en'plain").as_deref(),
            Some("plain")
        );
        assert_eq!(decode_ext_value(b"ISO-8859-1''x"), None);
        assert_eq!(decode_ext_value(b"UTF-8''%C3"), None);
        assert_eq!(decode_ext_value(b"UTF-8''%zz"), None);
        assert_eq!(decode_ext_value(b"no quotes"), None);
        assert_eq!(decode_ext_value(b"UTF-8''a%0D%0Ab"), None);
        assert_eq!(decode_ext_value(b"UTF-8''a%00"), None);
    }
}
