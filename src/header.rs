//! Parsing `Authorization: Digest ...` (RFC 9110 section 11, RFC 7616 section 3.4).
//!
//! Pure and allocation-free unless a quoted string contains escapes. The input is the
//! header's raw bytes: clients do send non-ASCII usernames, so nothing here assumes
//! `HeaderValue::to_str` would succeed. The auth-param helpers (`auth_param`, `token`, ...)
//! also serve the client's challenge parser (`client::parse`, feature `client`).

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
        // By length first, then the first 8 bytes as one little-endian word with each
        // byte's 0x20 bit set (`| 0x20`), and a ninth byte on its own. Among token bytes
        // that maps exactly the letters of either case onto the lowercase letters, and
        // only `*` onto `*`, so for our names (lowercase letters and `*`) equal words
        // mean equal names, case aside.
        Some(match name.len() {
            2 => match word(name) {
                NC => ("nc", &mut self.nc),
                _ => return None,
            },
            3 => match word(name) {
                URI => ("uri", &mut self.uri),
                QOP => ("qop", &mut self.qop),
                _ => return None,
            },
            5 => match word(name) {
                REALM => ("realm", &mut self.realm),
                NONCE => ("nonce", &mut self.nonce),
                _ => return None,
            },
            6 => match word(name) {
                CNONCE => ("cnonce", &mut self.cnonce),
                OPAQUE => ("opaque", &mut self.opaque),
                _ => return None,
            },
            8 => match word(name) {
                USERNAME => ("username", &mut self.username),
                RESPONSE => ("response", &mut self.response),
                USERHASH => ("userhash", &mut self.userhash),
                _ => return None,
            },
            9 => match (word(&name[..8]), name[8] | 0x20) {
                (USERNAME, b'*') => ("username*", &mut self.username_star),
                (ALGORITHM, b'm') => ("algorithm", &mut self.algorithm),
                _ => return None,
            },
            _ => return None,
        })
    }
}

/// The first (up to) 8 bytes of a name as one little-endian word, each with its 0x20
/// bit set (see [`DigestParams::slot`]). Within a length the words of different names
/// differ, and a shorter name leaves the high bytes 0.
const fn word(name: &[u8]) -> u64 {
    let mut word = 0u64;
    let mut at = 0;
    while at < name.len() && at < 8 {
        word |= ((name[at] | 0x20) as u64) << (8 * at);
        at += 1;
    }
    word
}

const NC: u64 = word(b"nc");
const URI: u64 = word(b"uri");
const QOP: u64 = word(b"qop");
const REALM: u64 = word(b"realm");
const NONCE: u64 = word(b"nonce");
const CNONCE: u64 = word(b"cnonce");
const OPAQUE: u64 = word(b"opaque");
const USERNAME: u64 = word(b"username");
const RESPONSE: u64 = word(b"response");
const USERHASH: u64 = word(b"userhash");
/// Its first 8 bytes; the ninth, `m`, is compared on its own.
const ALGORITHM: u64 = word(b"algorithm");

/// Parses one `Authorization` header value.
///
/// One pass from left to right over the rest of the input as a slice: every step takes
/// what it reads off the front, so nothing is scanned twice, and the total work is
/// linear in the (bounded) length.
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
    let (scheme, rest) = token(skip_whitespace(value));
    if !scheme.eq_ignore_ascii_case(b"Digest") {
        return Err(ParseError::OtherScheme);
    }
    match rest.first() {
        None | Some(b' ' | b'\t') => {}
        // "Digest,x" is not a header at all.
        Some(b',') => return Err(ParseError::Malformed("expected a space after Digest")),
        // "Digestfoo" is a different scheme name.
        Some(_) => return Err(ParseError::OtherScheme),
    }

    let mut params = DigestParams::default();
    let mut rest = rest;
    let mut count = 0;
    loop {
        // Empty list elements ("a=1,,b=2") are allowed and skipped.
        let skip = rest
            .iter()
            .position(|&byte| !matches!(byte, b' ' | b'\t' | b','))
            .unwrap_or(rest.len());
        rest = &rest[skip..];
        if rest.is_empty() {
            break;
        }
        count += 1;
        if count > MAX_PARAMS {
            return Err(ParseError::Malformed("too many parameters"));
        }
        let (name, value, after_value) = auth_param(rest)?;
        rest = skip_whitespace(after_value);
        if rest.first().is_some_and(|&byte| byte != b',') {
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

/// A parameter's name, its value, and the input that follows the value.
pub(crate) type AuthParam<'a> = (&'a [u8], Cow<'a, [u8]>, &'a [u8]);

/// The `name=value` parameter `input` starts with: its name, its value (a token, or a
/// quoted-string with its quotes and escapes removed) and what follows the value.
pub(crate) fn auth_param(input: &[u8]) -> Result<AuthParam<'_>, ParseError> {
    let (name, after_name) = token(input);
    if name.is_empty() {
        return Err(ParseError::Malformed("expected a parameter name"));
    }
    let Some((b'=', after_equals)) = skip_whitespace(after_name).split_first() else {
        return Err(ParseError::Malformed("expected '=' after a parameter name"));
    };
    let value_start = skip_whitespace(after_equals);
    let (value, after_value) = if let Some((b'"', quoted)) = value_start.split_first() {
        quoted_string(quoted)?
    } else {
        let (token, after) = token(value_start);
        if token.is_empty() {
            return Err(ParseError::Malformed("expected a parameter value"));
        }
        (Cow::Borrowed(token), after)
    };
    Ok((name, value, after_value))
}

/// `input` without its leading spaces and tabs.
pub(crate) fn skip_whitespace(input: &[u8]) -> &[u8] {
    let skip = input
        .iter()
        .position(|&byte| byte != b' ' && byte != b'\t')
        .unwrap_or(input.len());
    &input[skip..]
}

/// The run of token characters `input` starts with (possibly empty), and what follows.
/// Besides RFC 9110 `tchar` we take `/` and `:` so that a client sending an unquoted
/// `uri` is still understood.
pub(crate) fn token(input: &[u8]) -> (&[u8], &[u8]) {
    let len = input
        .iter()
        .position(|&byte| !is_token_byte(byte))
        .unwrap_or(input.len());
    input.split_at(len)
}

/// A quoted-string whose opening quote was just read, where `\x` stands for `x`: its
/// contents and what follows the closing quote.
fn quoted_string(input: &[u8]) -> Result<(Cow<'_, [u8]>, &[u8]), ParseError> {
    const UNTERMINATED: ParseError = ParseError::Malformed("unterminated quoted string");
    // Most values have no escapes: one search finds the closing quote.
    let mut at = memchr::memchr2(b'"', b'\\', input).ok_or(UNTERMINATED)?;
    if input[at] == b'"' {
        return Ok((Cow::Borrowed(&input[..at]), &input[at + 1..]));
    }
    let mut unescaped = input[..at].to_vec();
    // input[at] is a backslash: the next byte stands for itself.
    loop {
        let Some(&escaped) = input.get(at + 1) else {
            return Err(ParseError::Malformed("bad escape in quoted string"));
        };
        unescaped.push(escaped);
        let rest = &input[at + 2..];
        let run = memchr::memchr2(b'"', b'\\', rest).ok_or(UNTERMINATED)?;
        unescaped.extend_from_slice(&rest[..run]);
        at += 2 + run;
        if input[at] == b'"' {
            return Ok((Cow::Owned(unescaped), &input[at + 1..]));
        }
    }
}

fn is_token_byte(byte: u8) -> bool {
    TOKEN_BYTES[usize::from(byte)]
}

/// RFC 9110 `tchar`, plus `/` and `:` (see [`token`]), as a lookup table.
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
pub(crate) fn is_control(byte: u8) -> bool {
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
    fn parameter_names_match_in_any_case_and_nothing_else() {
        let params =
            parse(r#"Digest USERNAME*=x, NC=1, Qop=auth, AlGoRiThM=MD5, uRi="/""#).unwrap();
        assert_eq!(params.username_star.as_deref(), Some(&b"x"[..]));
        assert_eq!(params.nc.as_deref(), Some(&b"1"[..]));
        assert_eq!(params.qop.as_deref(), Some(&b"auth"[..]));
        assert_eq!(params.algorithm.as_deref(), Some(&b"MD5"[..]));
        assert_eq!(params.uri.as_deref(), Some(&b"/"[..]));
        // Near misses are unknown parameters, skipped: other lengths, and token bytes
        // that lowering by 0x20 maps onto other bytes ('^' to '~', '_' to DEL).
        let params = parse(
            "Digest usernam=a, username**=b, username_=c, ur=d, urii=e, n^=f, nc~=g, \
             realm2=h, opaque^=i, qop_=j, userhash*=k, algorithms=l",
        )
        .unwrap();
        assert_eq!(params, DigestParams::default());
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
