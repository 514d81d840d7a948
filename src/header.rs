//! Parsing `Authorization: Digest ...` (RFC 9110 section 11, RFC 7616 section 3.4).
//!
//! Pure and allocation-free unless a quoted string contains escapes. The input is the
//! header's raw bytes: clients do send non-ASCII usernames, so nothing here assumes
//! `HeaderValue::to_str` would succeed.

use std::borrow::Cow;

/// The largest `Authorization` value we read. Real Digest headers are a few hundred bytes;
/// the `uri` parameter is what can make one long, and 16 KiB covers any URL a browser sends.
pub(crate) const MAX_HEADER_LEN: usize = 16 * 1024;

/// The most parameters (known or not) one header may carry.
const MAX_PARAMS: usize = 32;

/// Why a header was not accepted as Digest credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Another scheme (Basic, Bearer, ...): the client should be challenged, not scolded.
    OtherScheme,
    /// Not a valid auth-param list; the text says where it went wrong.
    Malformed(&'static str),
    /// A parameter we read appears twice.
    Duplicate(&'static str),
}

/// The parameters of a Digest `Authorization` header that we use, as sent (quotes and
/// escapes removed). Unknown parameters are skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DigestParams<'a> {
    pub(crate) username: Option<Cow<'a, [u8]>>,
    pub(crate) username_star: Option<Cow<'a, [u8]>>,
    pub(crate) realm: Option<Cow<'a, [u8]>>,
    pub(crate) nonce: Option<Cow<'a, [u8]>>,
    pub(crate) uri: Option<Cow<'a, [u8]>>,
    pub(crate) response: Option<Cow<'a, [u8]>>,
    pub(crate) algorithm: Option<Cow<'a, [u8]>>,
    pub(crate) cnonce: Option<Cow<'a, [u8]>>,
    pub(crate) opaque: Option<Cow<'a, [u8]>>,
    pub(crate) qop: Option<Cow<'a, [u8]>>,
    pub(crate) nc: Option<Cow<'a, [u8]>>,
    pub(crate) userhash: Option<Cow<'a, [u8]>>,
}

impl<'a> DigestParams<'a> {
    /// The slot for a parameter name (matched case-insensitively), with its canonical name.
    fn slot(&mut self, name: &[u8]) -> Option<(&'static str, &mut Option<Cow<'a, [u8]>>)> {
        // The longest name we know has 9 bytes; anything longer is unknown.
        let mut buffer = [0u8; 9];
        let lower = buffer.get_mut(..name.len())?;
        // Copied and lowered in one loop: a call to memcpy for a few bytes costs more.
        for (to, from) in lower.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        Some(match &*lower {
            b"username" => ("username", &mut self.username),
            b"username*" => ("username*", &mut self.username_star),
            b"realm" => ("realm", &mut self.realm),
            b"nonce" => ("nonce", &mut self.nonce),
            b"uri" => ("uri", &mut self.uri),
            b"response" => ("response", &mut self.response),
            b"algorithm" => ("algorithm", &mut self.algorithm),
            b"cnonce" => ("cnonce", &mut self.cnonce),
            b"opaque" => ("opaque", &mut self.opaque),
            b"qop" => ("qop", &mut self.qop),
            b"nc" => ("nc", &mut self.nc),
            b"userhash" => ("userhash", &mut self.userhash),
            _ => return None,
        })
    }
}

/// Parses one `Authorization` header value.
pub(crate) fn parse_authorization(value: &[u8]) -> Result<DigestParams<'_>, ParseError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(ParseError::Malformed("Authorization header too long"));
    }
    // One branch-free pass over the whole value (it vectorises), so the scanners below
    // only look for the bytes that end a token or a quoted string.
    if value
        .iter()
        .fold(false, |bad, &byte| bad | is_control(byte))
    {
        return Err(ParseError::Malformed(
            "control character in Authorization header",
        ));
    }
    let mut cursor = Cursor {
        input: value,
        pos: 0,
    };
    cursor.skip_whitespace();
    let scheme = cursor.token();
    if !scheme.eq_ignore_ascii_case(b"Digest") {
        return Err(ParseError::OtherScheme);
    }
    if !cursor.at_end() && !cursor.skip_whitespace() {
        // "Digestfoo" is a different scheme name; "Digest,x" is not a header at all.
        return Err(if cursor.peek() == Some(b',') {
            ParseError::Malformed("expected a space after Digest")
        } else {
            ParseError::OtherScheme
        });
    }

    let mut params = DigestParams::default();
    let mut count = 0;
    loop {
        // Empty list elements ("a=1,,b=2") are allowed and skipped.
        while cursor.skip_whitespace() || cursor.eat(b',') {}
        if cursor.at_end() {
            break;
        }
        count += 1;
        if count > MAX_PARAMS {
            return Err(ParseError::Malformed("too many parameters"));
        }
        let name = cursor.token();
        if name.is_empty() {
            return Err(ParseError::Malformed("expected a parameter name"));
        }
        cursor.skip_whitespace();
        if !cursor.eat(b'=') {
            return Err(ParseError::Malformed("expected '=' after a parameter name"));
        }
        cursor.skip_whitespace();
        let value = if cursor.peek() == Some(b'"') {
            cursor.quoted_string()?
        } else {
            let token = cursor.token();
            if token.is_empty() {
                return Err(ParseError::Malformed("expected a parameter value"));
            }
            Cow::Borrowed(token)
        };
        cursor.skip_whitespace();
        if !cursor.at_end() && cursor.peek() != Some(b',') {
            return Err(ParseError::Malformed("expected ',' between parameters"));
        }
        if let Some((canonical, slot)) = params.slot(name) {
            if slot.is_some() {
                return Err(ParseError::Duplicate(canonical));
            }
            *slot = Some(value);
        }
    }
    Ok(params)
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.pos += 1;
        }
        matched
    }

    /// Skips spaces and tabs; says whether there were any.
    fn skip_whitespace(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// A run of token characters, possibly empty. Besides RFC 9110 `tchar` we take `/`
    /// and `:` so that a client sending an unquoted `uri` is still understood.
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// A quoted-string starting at the opening quote; `\x` stands for `x`.
    fn quoted_string(&mut self) -> Result<Cow<'a, [u8]>, ParseError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let start = self.pos;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            // Skip the run of plain bytes in one pass: most values have no escapes.
            let rest = &self.input[self.pos..];
            let run = memchr::memchr2(b'"', b'\\', rest)
                .ok_or(ParseError::Malformed("unterminated quoted string"))?;
            if let Some(owned) = &mut unescaped {
                owned.extend_from_slice(&rest[..run]);
            }
            self.pos += run + 1;
            if rest[run] == b'"' {
                return Ok(match unescaped {
                    Some(owned) => Cow::Owned(owned),
                    None => Cow::Borrowed(&self.input[start..self.pos - 1]),
                });
            }
            // A backslash: the next byte stands for itself.
            let Some(escaped) = self.peek() else {
                return Err(ParseError::Malformed("bad escape in quoted string"));
            };
            self.pos += 1;
            unescaped
                .get_or_insert_with(|| self.input[start..self.pos - 2].to_vec())
                .push(escaped);
        }
    }
}

fn is_token_byte(byte: u8) -> bool {
    TOKEN_BYTES[usize::from(byte)]
}

/// RFC 9110 `tchar`, plus `/` and `:` (see [`Cursor::token`]), as a lookup table.
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        #[allow(clippy::cast_possible_truncation)]
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
                    | b'/'
                    | b':'
            );
        byte += 1;
    }
    table
};

/// Control characters other than tab, which no header value may hold (the `http` crate
/// refuses them too; we check again so the parser stands on its own).
fn is_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<DigestParams<'_>, ParseError> {
        parse_authorization(input.as_bytes())
    }

    /// One line per quirk: the header, then the username (or the error) it must give.
    #[test]
    fn parser_table() {
        type Expected = Result<Option<&'static [u8]>, ParseError>;
        let cases: &[(&[u8], Expected)] = &[
            (br#"Digest username="Mufasa""#, Ok(Some(b"Mufasa"))),
            (br#"digest username="Mufasa""#, Ok(Some(b"Mufasa"))),
            (br#"DIGEST USERNAME="Mufasa""#, Ok(Some(b"Mufasa"))),
            (br#"  Digest   username = "Mufasa"  "#, Ok(Some(b"Mufasa"))),
            (b"Digest\tusername=\t\"Mufasa\"", Ok(Some(b"Mufasa"))),
            (b"Digest username=Mufasa", Ok(Some(b"Mufasa"))),
            (br#"Digest username="Mu\"fa\\sa""#, Ok(Some(br#"Mu"fa\sa"#))),
            (br#"Digest username="a,b", realm="r""#, Ok(Some(b"a,b"))),
            (br#"Digest ,, username="u",,realm="r",,"#, Ok(Some(b"u"))),
            (br#"Digest realm="r",username="u""#, Ok(Some(b"u"))),
            (
                br#"Digest foo="bar", username="u", foo="baz""#,
                Ok(Some(b"u")),
            ),
            (
                b"Digest username=\"J\xc3\xa4s\xc3\xb8n\"",
                Ok(Some(b"J\xc3\xa4s\xc3\xb8n")),
            ),
            (b"Digest username=\"\xff\xfe\"", Ok(Some(b"\xff\xfe"))),
            (br#"Digest realm="r""#, Ok(None)),
            (b"Digest", Ok(None)),
            (b"Basic dXNlcjpwYXNz", Err(ParseError::OtherScheme)),
            (b"Bearer abc", Err(ParseError::OtherScheme)),
            (br#"Digestive username="u""#, Err(ParseError::OtherScheme)),
            (b"", Err(ParseError::OtherScheme)),
            (
                br#"Digest username="u", Username="v""#,
                Err(ParseError::Duplicate("username")),
            ),
            (
                br#"Digest username="u"#,
                Err(ParseError::Malformed("unterminated quoted string")),
            ),
            (
                b"Digest username=\"u\x01\"",
                Err(ParseError::Malformed(
                    "control character in Authorization header",
                )),
            ),
            (
                b"Digest username=\"u\r\n\"",
                Err(ParseError::Malformed(
                    "control character in Authorization header",
                )),
            ),
            (
                br#"Digest username"u""#,
                Err(ParseError::Malformed("expected '=' after a parameter name")),
            ),
            (
                b"Digest username=",
                Err(ParseError::Malformed("expected a parameter value")),
            ),
            (
                br#"Digest username="u" realm="r""#,
                Err(ParseError::Malformed("expected ',' between parameters")),
            ),
            (
                br#"Digest ="u""#,
                Err(ParseError::Malformed("expected a parameter name")),
            ),
            (
                br#"Digest username="u\"#,
                Err(ParseError::Malformed("bad escape in quoted string")),
            ),
            (
                br#"Digest,username="u""#,
                Err(ParseError::Malformed("expected a space after Digest")),
            ),
        ];
        for (input, expected) in cases {
            let got = parse_authorization(input).map(|p| p.username.map(Cow::into_owned));
            let expected = expected.map(|u| u.map(<[u8]>::to_vec));
            assert_eq!(got, expected, "input: {}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn every_known_field_is_read() {
        let params = parse(
            r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",
               algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
               nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,
               response="753927fa", opaque="FQhe", userhash=false, username*=UTF-8''x"#
                .replace('\n', " ")
                .leak(),
        )
        .unwrap();
        assert_eq!(params.realm.as_deref(), Some(&b"http-auth@example.org"[..]));
        assert_eq!(params.uri.as_deref(), Some(&b"/dir/index.html"[..]));
        assert_eq!(params.algorithm.as_deref(), Some(&b"SHA-256"[..]));
        assert_eq!(params.nc.as_deref(), Some(&b"00000001"[..]));
        assert_eq!(params.qop.as_deref(), Some(&b"auth"[..]));
        assert_eq!(params.response.as_deref(), Some(&b"753927fa"[..]));
        assert_eq!(params.opaque.as_deref(), Some(&b"FQhe"[..]));
        assert_eq!(params.userhash.as_deref(), Some(&b"false"[..]));
        assert_eq!(params.username_star.as_deref(), Some(&b"UTF-8''x"[..]));
        assert!(params.nonce.is_some() && params.cnonce.is_some());
    }

    #[test]
    fn quoted_tokens_are_accepted_as_python_requests_sends_them() {
        let params = parse(r#"Digest algorithm="SHA-256", qop="auth""#).unwrap();
        assert_eq!(params.algorithm.as_deref(), Some(&b"SHA-256"[..]));
        assert_eq!(params.qop.as_deref(), Some(&b"auth"[..]));
    }

    #[test]
    fn unescaped_values_borrow_the_input() {
        let params = parse(r#"Digest username="plain""#).unwrap();
        assert!(matches!(params.username, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn oversize_input_is_refused_before_parsing() {
        let long = format!(r#"Digest username="{}""#, "a".repeat(MAX_HEADER_LEN));
        assert_eq!(
            parse(&long),
            Err(ParseError::Malformed("Authorization header too long"))
        );
        let many = format!("Digest {}", "x=1,".repeat(MAX_PARAMS + 1));
        assert_eq!(
            parse(&many),
            Err(ParseError::Malformed("too many parameters"))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep over short inputs built from the bytes that matter.
        let alphabet = b"D igest=\",\\\x00\xffa";
        let mut input = Vec::new();
        for seed in 0usize..50_000 {
            input.clear();
            input.extend_from_slice(b"Digest ");
            let mut n = seed;
            while n > 0 {
                input.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            let _ = parse_authorization(&input);
        }
    }
}
