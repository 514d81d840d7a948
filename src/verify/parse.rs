//! From a request to an [`Answer`]: the header parsed and every field checked that needs
//! no hashing (format before the nonce, as the crate's behaviour table orders them).

use std::borrow::Cow;

use http::request::Parts;
use http::{HeaderValue, Uri};

use super::{Answer, CollectedBody};
use crate::config::Config;
use crate::hash::{Algorithm, RawDigest};
use crate::header::{DigestParams, ParseError, parse_authorization};
use crate::rejection::Rejection;

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
    let body = entity_body(&qop, config, parts)?;
    let raw_nc = required(params.nc.take(), "nc")?;
    let cnonce = required(params.cnonce.take(), "cnonce")?;

    let algorithm = offered_algorithm(params.algorithm.as_deref(), config)?;
    let username = if hashed_username {
        let hash = algorithm.hash_function();
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
    check_target(&uri, config, parts)?;
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

/// The request body to hash for `qop`: none for `auth`; for `auth-int`, the body the
/// outer stage read, only from the layer that offered it.
fn entity_body<'a>(
    qop: &[u8],
    config: &Config,
    parts: &'a Parts,
) -> Result<Option<&'a CollectedBody>, Rejection> {
    if qop.eq_ignore_ascii_case(b"auth") {
        Ok(None)
    } else if qop.eq_ignore_ascii_case(b"auth-int") && config.protocol.auth_int_limit.is_some() {
        let body = parts.extensions.get::<CollectedBody>();
        Ok(Some(body.ok_or(Rejection::UnsupportedQop)?))
    } else {
        Err(Rejection::UnsupportedQop)
    }
}

/// The `algorithm` parameter, if this layer offers it; RFC 7616: none means MD5.
fn offered_algorithm(name: Option<&[u8]>, config: &Config) -> Result<Algorithm, Rejection> {
    let algorithm = match name {
        None => Algorithm::Md5,
        Some(name) => Algorithm::from_name(name).ok_or(Rejection::UnsupportedAlgorithm)?,
    };
    if !config.algorithms.contains(&algorithm) {
        return Err(Rejection::UnsupportedAlgorithm);
    }
    Ok(algorithm)
}

/// The `uri` parameter names this request's target; behind a prefix-stripping proxy,
/// what the client signed minus the prefix.
fn check_target(uri: &[u8], config: &Config, parts: &Parts) -> Result<(), Rejection> {
    let inner_uri = config
        .external_prefix
        .inner_uri(uri, parts, &config.client_ip)?;
    let host = parts.headers.get(http::header::HOST);
    if inner_uri.is_some_and(|inner_uri| uri_matches(&inner_uri, request_target(parts), host)) {
        Ok(())
    } else {
        Err(Rejection::UriMismatch)
    }
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
