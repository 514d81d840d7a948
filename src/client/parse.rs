//! The `WWW-Authenticate` / `Proxy-Authenticate` grammar (RFC 9110 section 11.6.1) and the
//! `Authentication-Info` parameter list (RFC 7615): pure, bounded, one pass.
//!
//! A header value is a comma-separated list of challenges, and each challenge's
//! parameters are separated by commas too, so a comma may end a parameter or a whole
//! challenge. After a comma, a token followed by `=` is another parameter of the same
//! challenge; any other token starts a new challenge (an auth-scheme is followed by a
//! space, never by `=`). A scheme may carry a `token68` instead of parameters (`Basic`'s
//! credentials-like form, `Bearer`'s); it is skipped like any other scheme's parameters.

use std::borrow::Cow;

use super::error::ChallengeError;
use crate::header::{MAX_HEADER_LEN, ParseError, auth_param, is_control, skip_whitespace, token};

/// The most challenges (of any scheme) and header lines examined in one response: real
/// servers send one to six. More is refused as a whole, so the work stays bounded.
pub(crate) const MAX_CHALLENGES: usize = 64;

/// The most parameters one challenge (or one `Authentication-Info`) may carry; real ones
/// have at most ten.
const MAX_PARAMS: usize = 32;

/// The Digest parameters a client reads, as sent (quotes and escapes removed). Unknown
/// ones are skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Fields<'a> {
    pub(crate) realm: Option<Cow<'a, [u8]>>,
    pub(crate) nonce: Option<Cow<'a, [u8]>>,
    pub(crate) opaque: Option<Cow<'a, [u8]>>,
    pub(crate) algorithm: Option<Cow<'a, [u8]>>,
    pub(crate) qop: Option<Cow<'a, [u8]>>,
    pub(crate) stale: Option<Cow<'a, [u8]>>,
    pub(crate) userhash: Option<Cow<'a, [u8]>>,
    pub(crate) charset: Option<Cow<'a, [u8]>>,
    // Authentication-Info's.
    pub(crate) rspauth: Option<Cow<'a, [u8]>>,
    pub(crate) nextnonce: Option<Cow<'a, [u8]>>,
}

type Slot<'a> = Option<Cow<'a, [u8]>>;

impl<'a> Fields<'a> {
    /// Records one parameter; a duplicate of one we read makes the whole set unusable.
    fn set(&mut self, name: &[u8], value: Cow<'a, [u8]>) -> Result<(), &'static str> {
        let slots: [(&[u8], &mut Slot<'a>); 10] = [
            (b"realm", &mut self.realm),
            (b"nonce", &mut self.nonce),
            (b"opaque", &mut self.opaque),
            (b"algorithm", &mut self.algorithm),
            (b"qop", &mut self.qop),
            (b"stale", &mut self.stale),
            (b"userhash", &mut self.userhash),
            (b"charset", &mut self.charset),
            (b"rspauth", &mut self.rspauth),
            (b"nextnonce", &mut self.nextnonce),
        ];
        let Some((_, slot)) = slots
            .into_iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        else {
            return Ok(());
        };
        if slot.is_some() {
            return Err("a parameter appears twice");
        }
        *slot = Some(value);
        Ok(())
    }
}

/// One Digest challenge as read: its parameters, or why they cannot be used.
pub(crate) type DigestChallenge<'a> = Result<Fields<'a>, &'static str>;

/// Counts what one response makes the parser examine, across its header lines.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: usize,
}

impl Budget {
    pub(crate) fn spend(&mut self) -> Result<(), ChallengeError> {
        self.used += 1;
        if self.used > MAX_CHALLENGES {
            return Err(ChallengeError::TooManyChallenges);
        }
        Ok(())
    }
}

/// Every Digest challenge in one header value, in order, through `found`; other schemes
/// are skipped. A grammar error refuses the whole value: once a quote or a comma is out
/// of place, where one challenge ends and the next begins cannot be told.
pub(crate) fn digest_challenges<'a>(
    value: &'a [u8],
    budget: &mut Budget,
    found: &mut dyn FnMut(DigestChallenge<'a>),
) -> Result<(), ChallengeError> {
    budget.spend()?;
    let mut rest = checked(value)?;
    loop {
        rest = skip_separators(rest);
        if rest.is_empty() {
            return Ok(());
        }
        let (scheme, after_scheme) = token(rest);
        if scheme.is_empty() {
            return Err(ChallengeError::Malformed("expected an auth-scheme"));
        }
        budget.spend()?;
        let digest = scheme.eq_ignore_ascii_case(b"Digest");
        let (challenge, after) = challenge_body(after_scheme, digest)?;
        rest = after;
        if digest {
            found(challenge);
        }
    }
}

/// The parameters of an `Authentication-Info` value (a bare parameter list).
pub(crate) fn info_fields(value: &[u8]) -> Result<Fields<'_>, &'static str> {
    let rest = checked(value).map_err(|_| "too long, or holds a control character")?;
    let mut fields = Fields::default();
    let mut problem = None;
    let rest = skip_separators(rest);
    if rest.is_empty() {
        return Ok(fields);
    }
    let rest = params(rest, true, &mut fields, &mut problem).map_err(|_| "not a parameter list")?;
    if !skip_separators(rest).is_empty() {
        return Err("not a parameter list");
    }
    problem.map_or(Ok(fields), Err)
}

/// The value, refused when too long or holding a control character.
fn checked(value: &[u8]) -> Result<&[u8], ChallengeError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(ChallengeError::TooLong);
    }
    if value.iter().any(|&byte| is_control(byte)) {
        return Err(ChallengeError::Malformed(
            "control character in a challenge",
        ));
    }
    Ok(value)
}

/// What follows an auth-scheme, up to the next challenge: its Digest fields (for the
/// other schemes, nothing is kept), and the rest of the header.
fn challenge_body(
    input: &[u8],
    digest: bool,
) -> Result<(DigestChallenge<'_>, &[u8]), ChallengeError> {
    let spaced = matches!(input.first(), Some(b' ' | b'\t'));
    let rest = skip_whitespace(input);
    let mut fields = Fields::default();
    let mut problem = None;
    let rest = match rest.first() {
        None | Some(b',') => rest,
        Some(_) if !spaced => {
            return Err(ChallengeError::Malformed(
                "expected a space after the auth-scheme",
            ));
        }
        Some(_) => {
            if let Some(after) = token68(rest) {
                problem = Some("a token68 instead of parameters");
                after
            } else {
                params(rest, digest, &mut fields, &mut problem)?
            }
        }
    };
    Ok((problem.map_or(Ok(fields), Err), rest))
}

/// The auth-params of one challenge; stops before a token that starts the next
/// challenge, or at the end. `problem` keeps the first reason the fields cannot be used.
fn params<'a>(
    mut rest: &'a [u8],
    keep: bool,
    fields: &mut Fields<'a>,
    problem: &mut Option<&'static str>,
) -> Result<&'a [u8], ChallengeError> {
    let mut count = 0;
    loop {
        count += 1;
        if count > MAX_PARAMS {
            return Err(ChallengeError::Malformed(
                "too many parameters in a challenge",
            ));
        }
        let (name, value, after) = auth_param(rest).map_err(|error| match error {
            ParseError::Malformed(what) => ChallengeError::Malformed(what),
            _ => ChallengeError::Malformed("bad parameter"),
        })?;
        if keep {
            if let Err(why) = fields.set(name, value) {
                problem.get_or_insert(why);
            }
        }
        rest = skip_whitespace(after);
        match rest.first() {
            None => return Ok(rest),
            Some(b',') => {}
            Some(_) => return Err(ChallengeError::Malformed("expected ',' after a parameter")),
        }
        rest = skip_separators(rest);
        if !starts_param(rest) {
            return Ok(rest);
        }
    }
}

/// Whether `input` starts with `token BWS "="`: a parameter, not a new auth-scheme.
fn starts_param(input: &[u8]) -> bool {
    let (name, after) = token(input);
    !name.is_empty() && skip_whitespace(after).first() == Some(&b'=')
}

/// A `token68` that makes up the whole of a challenge's body (followed by the end or a
/// comma), and what follows it; `None` when `input` is something else, such as a
/// parameter.
fn token68(input: &[u8]) -> Option<&[u8]> {
    let chars = input
        .iter()
        .position(|&byte| !(byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte)))
        .unwrap_or(input.len());
    if chars == 0 {
        return None;
    }
    let padded = chars
        + input[chars..]
            .iter()
            .position(|&byte| byte != b'=')
            .unwrap_or(input.len() - chars);
    let rest = skip_whitespace(&input[padded..]);
    matches!(rest.first(), None | Some(b',')).then_some(rest)
}

/// `input` without its leading whitespace and empty list elements.
fn skip_separators(input: &[u8]) -> &[u8] {
    let skip = input
        .iter()
        .position(|&byte| !matches!(byte, b' ' | b'\t' | b','))
        .unwrap_or(input.len());
    &input[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each Digest challenge's realm, or why it is unusable; or why the header is refused.
    type Parsed = Result<Vec<Result<String, &'static str>>, ChallengeError>;

    /// The Digest challenges of `value`.
    fn digest(value: &str) -> Parsed {
        let mut out = Vec::new();
        digest_challenges(value.as_bytes(), &mut Budget::default(), &mut |challenge| {
            out.push(challenge.map(|fields| {
                String::from_utf8(fields.realm.unwrap_or_default().into_owned()).unwrap()
            }));
        })?;
        Ok(out)
    }

    /// Usable challenges with these realms.
    #[allow(clippy::unnecessary_wraps)]
    fn realms(names: &[&str]) -> Parsed {
        Ok(names.iter().map(|name| Ok((*name).to_owned())).collect())
    }

    #[test]
    fn challenge_lists() {
        let cases: &[(&str, Parsed)] = &[
            (r#"Digest realm="a", nonce="n""#, realms(&["a"])),
            (r#"digest REALM="a""#, realms(&["a"])),
            (
                r#"Basic realm="b", Digest realm="a", nonce="n""#,
                realms(&["a"]),
            ),
            (r#"Digest realm="a", Digest realm="b""#, realms(&["a", "b"])),
            (
                r#"Basic realm="x, Digest realm=y", Digest realm=z"#,
                realms(&["z"]),
            ),
            ("Basic dXNlcjpwYXNz, Digest realm=a", realms(&["a"])),
            ("Bearer abc==, Digest realm=a", realms(&["a"])),
            ("Bearer, Negotiate, Digest realm=a", realms(&["a"])),
            (
                r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
                realms(&[]),
            ),
            (r#",, Digest  realm = "a" ,, nonce=n ,,"#, realms(&["a"])),
            (r#"Digest realm="a\"b\\c""#, realms(&["a\"b\\c"])),
            (
                "Digest realm=a, realm=b",
                Ok(vec![Err("a parameter appears twice")]),
            ),
            (
                "Digest abc==",
                Ok(vec![Err("a token68 instead of parameters")]),
            ),
            ("Digest", realms(&[""])),
            ("", realms(&[])),
            (
                r#"Digest realm="a"#,
                Err(ChallengeError::Malformed("unterminated quoted string")),
            ),
            (
                "Digest realm=a nonce=b",
                Err(ChallengeError::Malformed("expected ',' after a parameter")),
            ),
            // The grammar reads a lone `name=` as a token68.
            (
                "Digest realm=",
                Ok(vec![Err("a token68 instead of parameters")]),
            ),
            (
                "Digest realm=a, nonce=",
                Err(ChallengeError::Malformed("expected a parameter value")),
            ),
            (
                "Digest =a",
                Err(ChallengeError::Malformed("expected a parameter name")),
            ),
            (
                "Digest\"realm\"",
                Err(ChallengeError::Malformed(
                    "expected a space after the auth-scheme",
                )),
            ),
            (
                "\"Digest\"",
                Err(ChallengeError::Malformed("expected an auth-scheme")),
            ),
            (
                "Digest realm=\"a\x01\"",
                Err(ChallengeError::Malformed(
                    "control character in a challenge",
                )),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(&digest(value), expected, "{value}");
        }
    }

    #[test]
    fn limits_refuse_the_whole_header() {
        let long = format!(r#"Digest realm="{}""#, "a".repeat(MAX_HEADER_LEN));
        assert_eq!(digest(&long), Err(ChallengeError::TooLong));
        let many = "Basic realm=x, ".repeat(MAX_CHALLENGES);
        assert_eq!(digest(&many), Err(ChallengeError::TooManyChallenges));
        let params = format!("Digest {}", "x=1, ".repeat(MAX_PARAMS + 1));
        assert_eq!(
            digest(&params),
            Err(ChallengeError::Malformed(
                "too many parameters in a challenge"
            ))
        );
    }

    #[test]
    fn authentication_info_is_a_bare_parameter_list() {
        let fields =
            info_fields(br#"qop=auth, rspauth="ab", cnonce="c", nc=00000001, nextnonce="n""#)
                .unwrap();
        assert_eq!(fields.rspauth.as_deref(), Some(&b"ab"[..]));
        assert_eq!(fields.nextnonce.as_deref(), Some(&b"n"[..]));
        assert!(info_fields(b"").unwrap().rspauth.is_none());
        assert_eq!(
            info_fields(b"rspauth=a, rspauth=b"),
            Err("a parameter appears twice")
        );
        assert_eq!(
            info_fields(b"rspauth=a Digest"),
            Err("not a parameter list")
        );
        assert_eq!(
            info_fields(b"Digest rspauth=a"),
            Err("not a parameter list")
        );
    }
}
