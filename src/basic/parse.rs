//! `Authorization: Basic <token68>` (RFC 7617): the base64 of `user-id:password`, decoded
//! and checked. Pure; every way a header can be wrong is a 400 naming it.

use std::fmt;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::rejection::Rejection;

/// The longest Basic `Authorization` value read: room for a long user-id and a
/// password-manager password many times over, and far less than the Digest limit (a
/// Basic header carries no URI).
pub(crate) const MAX_BASIC_LEN: usize = 4 * 1024;

/// Standard base64, padded or not (clients pad; a few tools do not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decoded Basic credentials: `user-id:password` as UTF-8, split at the first colon.
/// The password never shows in `Debug`.
pub(crate) struct BasicCredentials {
    text: String,
    colon: usize,
}

impl BasicCredentials {
    /// The user-id, as the client sent it.
    pub(crate) fn username(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The password, as UTF-8 bytes (what `HA1` hashes).
    pub(crate) fn password(&self) -> &[u8] {
        &self.text.as_bytes()[self.colon + 1..]
    }

    /// `user-id:password` whole: what identifies these credentials for the throttle.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username())
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Whether an `Authorization` value is in the Basic scheme (the name, in any case,
/// followed by whitespace or nothing), whatever follows.
pub(crate) fn is_basic(value: &[u8]) -> bool {
    let value = value.trim_ascii_start();
    value
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"Basic"))
        && matches!(value.get(5), None | Some(b' ' | b'\t'))
}

/// The credentials in a Basic `Authorization` value (one [`is_basic`] accepts), or the
/// 400 that says what is wrong with it.
pub(crate) fn parse_basic(value: &[u8]) -> Result<BasicCredentials, Rejection> {
    if value.len() > MAX_BASIC_LEN {
        return Err(Rejection::Malformed("Authorization header too long"));
    }
    // "Basic" and the whitespace after it; RFC 7617: 1*SP token68, and nothing after.
    let token = value
        .trim_ascii()
        .get(5..)
        .unwrap_or_default()
        .trim_ascii_start();
    if token.is_empty() {
        return Err(Rejection::Malformed("no credentials after Basic"));
    }
    let decoded = BASE64
        .decode(token)
        .map_err(|_| Rejection::Malformed("Basic credentials are not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| Rejection::InvalidField("Basic credentials are not UTF-8"))?;
    let colon = text.find(':').ok_or(Rejection::InvalidField(
        "Basic credentials have no ':' between user-id and password",
    ))?;
    // RFC 7617 section 2: neither part may hold control characters.
    if text.chars().any(char::is_control) {
        return Err(Rejection::InvalidField(
            "control character in Basic credentials",
        ));
    }
    Ok(BasicCredentials { text, colon })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Result<(String, String), Rejection> {
        parse_basic(value.as_bytes()).map(|credentials| {
            let password = String::from_utf8(credentials.password().to_vec()).unwrap();
            (credentials.username().to_owned(), password)
        })
    }

    #[allow(clippy::unnecessary_wraps)] // one side of the table's expected results
    fn ok(user: &str, password: &str) -> Result<(String, String), Rejection> {
        Ok((user.to_owned(), password.to_owned()))
    }

    fn basic(plain: &[u8]) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain)
        )
    }

    #[test]
    fn the_scheme_is_basic_in_any_case_and_stands_alone() {
        for value in ["Basic abc", "basic abc", "BASIC\tabc", "Basic", "  Basic x"] {
            assert!(is_basic(value.as_bytes()), "{value:?}");
        }
        for value in [
            "Digest username=\"a\"",
            "Basicx abc",
            "Bearer abc",
            "Basi",
            "",
        ] {
            assert!(!is_basic(value.as_bytes()), "{value:?}");
        }
    }

    #[test]
    fn credentials_table() {
        let cases = [
            // RFC 7617's example, and the password keeps every colon after the first.
            (
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                ok("Aladdin", "open sesame"),
            ),
            (
                &basic(b"Mufasa:Circle:of:Life"),
                ok("Mufasa", "Circle:of:Life"),
            ),
            // Unpadded, any case of the scheme, whitespace around.
            (
                "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",
                ok("Aladdin", "open sesame"),
            ),
            (
                "Basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ",
                ok("Aladdin", "open sesame"),
            ),
            // Empty parts are names and passwords like any other (no such user, say).
            (&basic(b":"), ok("", "")),
            (
                &basic("J\u{e4}s\u{f8}n:p\u{e4}ss".as_bytes()),
                ok("J\u{e4}s\u{f8}n", "p\u{e4}ss"),
            ),
            (
                "Basic",
                Err(Rejection::Malformed("no credentials after Basic")),
            ),
            (
                "Basic    ",
                Err(Rejection::Malformed("no credentials after Basic")),
            ),
            (
                "Basic !!!!",
                Err(Rejection::Malformed("Basic credentials are not base64")),
            ),
            (
                "Basic QWxh ZGRp",
                Err(Rejection::Malformed("Basic credentials are not base64")),
            ),
            (
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ===",
                Err(Rejection::Malformed("Basic credentials are not base64")),
            ),
            (
                "Basic Zm9v\u{0}",
                Err(Rejection::Malformed("Basic credentials are not base64")),
            ),
            (
                &basic(b"no colon here"),
                Err(Rejection::InvalidField(
                    "Basic credentials have no ':' between user-id and password",
                )),
            ),
            (
                &basic(b"caf\xe9:latin-1"),
                Err(Rejection::InvalidField("Basic credentials are not UTF-8")),
            ),
            (
                &basic(b"\xff\xfe:\x00"),
                Err(Rejection::InvalidField("Basic credentials are not UTF-8")),
            ),
            (
                &basic(b"user:pass\nword"),
                Err(Rejection::InvalidField(
                    "control character in Basic credentials",
                )),
            ),
            (
                &basic(b"us\x7fer:password"),
                Err(Rejection::InvalidField(
                    "control character in Basic credentials",
                )),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(parsed(value), expected, "{value:?}");
        }
    }

    #[test]
    fn an_over_long_header_is_refused_before_decoding() {
        let long = basic(format!("user:{}", "x".repeat(MAX_BASIC_LEN)).as_bytes());
        assert_eq!(
            parsed(&long),
            Err(Rejection::Malformed("Authorization header too long"))
        );
        let just_fits = format!("Basic {}", "A".repeat(MAX_BASIC_LEN - 6 - 4));
        assert!(!matches!(
            parsed(&just_fits),
            Err(Rejection::Malformed("Authorization header too long"))
        ));
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let credentials = parse_basic(basic(b"alice:hunter2").as_bytes()).unwrap();
        let debug = format!("{credentials:?}");
        assert!(
            debug.contains("alice") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
