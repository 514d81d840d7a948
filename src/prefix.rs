//! The path a client saw, behind a reverse proxy that strips a prefix (`/app/x` outside,
//! `/x` inside): the client signs the outside path, so the `uri` check must put the
//! prefix back, and nothing more.

use std::borrow::Cow;

use http::HeaderName;
use http::request::Parts;

use crate::client_ip::ClientIpSource;
use crate::rejection::Rejection;

/// The longest `X-Forwarded-Prefix` read; real prefixes are a few segments.
const MAX_PREFIX_LEN: usize = 256;

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Where the layer learns the prefix: a configured one, and optionally
/// `X-Forwarded-Prefix` from a trusted proxy (which then wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExternalPrefix {
    /// `""` (none) or a path like `/app`, without a trailing `/`.
    configured: String,
    forwarded: bool,
}

/// Why a prefix cannot be used.
const BAD_HEADER: &str =
    "X-Forwarded-Prefix must be one path of visible ASCII without ',', '?' or '#'";

impl ExternalPrefix {
    /// `configured` as the builder got it; `None` if it is not a usable path.
    pub(crate) fn new(configured: &str, forwarded: bool) -> Option<Self> {
        let configured = normalize(configured.as_bytes())?;
        Some(ExternalPrefix {
            configured: String::from_utf8(configured.to_vec()).ok()?,
            forwarded,
        })
    }

    /// The `uri` a client signed, as the inner service sees it: with this request's
    /// prefix taken off its path. `Ok(None)` when the path does not start with the
    /// prefix (the `uri` names another resource); a 400 when a trusted proxy's
    /// `X-Forwarded-Prefix` is unusable.
    pub(crate) fn inner_uri<'a>(
        &self,
        claimed: &'a [u8],
        parts: &Parts,
        client_ip: &ClientIpSource,
    ) -> Result<Option<Cow<'a, [u8]>>, Rejection> {
        let mut prefix = self.configured.as_bytes();
        // Read only from a proxy the client address also trusts: from anyone else the
        // header is the client's own invention.
        if self.forwarded && client_ip.is_trusted_proxy(parts) {
            let mut values = parts.headers.get_all(&X_FORWARDED_PREFIX).iter();
            if let Some(value) = values.next() {
                if values.next().is_some() {
                    return Err(Rejection::BadForwarding(BAD_HEADER));
                }
                prefix = normalize(value.as_bytes()).ok_or(Rejection::BadForwarding(BAD_HEADER))?;
            }
        }
        if prefix.is_empty() {
            return Ok(Some(Cow::Borrowed(claimed)));
        }
        Ok(strip(claimed, prefix))
    }
}

/// A prefix as a path without its trailing `/` (`""` for none); `None` if it is not
/// a plain path: visible ASCII, starting with `/`, no query, fragment or list.
fn normalize(prefix: &[u8]) -> Option<&[u8]> {
    let usable = prefix.len() <= MAX_PREFIX_LEN
        && (prefix.is_empty() || prefix[0] == b'/')
        && prefix
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b','));
    if !usable {
        return None;
    }
    let mut end = prefix.len();
    while end > 0 && prefix[end - 1] == b'/' {
        end -= 1;
    }
    Some(&prefix[..end])
}

/// `claimed` with `prefix` taken off its path, origin-form (`/app/x?q`) or absolute-form
/// (`http://host/app/x?q`); `None` when the path does not start with the whole prefix
/// segment (`/application` is not under `/app`). The bare prefix (`/app`, `/app?q`) is the
/// inner root (`/`, `/?q`), where prefix-stripping proxies send it.
fn strip<'a>(claimed: &'a [u8], prefix: &[u8]) -> Option<Cow<'a, [u8]>> {
    let path_start = if claimed.first() == Some(&b'/') {
        0
    } else {
        let authority = find(claimed, b"://")? + 3;
        authority
            + claimed[authority..]
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))?
    };
    let (head, path) = claimed.split_at(path_start);
    let rest = path.strip_prefix(prefix)?;
    match rest.first() {
        Some(b'/') if head.is_empty() => Some(Cow::Borrowed(rest)),
        Some(b'/') => Some(Cow::Owned([head, rest].concat())),
        None | Some(b'?') => Some(Cow::Owned([head, b"/", rest].concat())),
        Some(_) => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_normalize_or_are_refused() {
        assert_eq!(normalize(b"/app"), Some(&b"/app"[..]));
        assert_eq!(normalize(b"/app/"), Some(&b"/app"[..]));
        assert_eq!(normalize(b"/a/b//"), Some(&b"/a/b"[..]));
        assert_eq!(normalize(b"/"), Some(&b""[..]));
        assert_eq!(normalize(b""), Some(&b""[..]));
        for bad in [
            &b"app"[..],
            b"/app?x",
            b"/app#x",
            b"/a,/b",
            b"/a b",
            b"/a\x00",
            b"/\xc3\xa9",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(&[b'/'; MAX_PREFIX_LEN + 1]), None);
    }

    #[test]
    fn strip_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/app/dir/index.html", Some("/dir/index.html")),
            ("/app/dir/index.html?a=1", Some("/dir/index.html?a=1")),
            ("/app/", Some("/")),
            ("/app", Some("/")),
            ("/app?a=1", Some("/?a=1")),
            ("/application", None),
            ("/dir/index.html", None),
            ("/ap", None),
            ("/APP/x", None),
            ("http://example.org/app/x?q", Some("http://example.org/x?q")),
            ("http://example.org/app", Some("http://example.org/")),
            ("http://example.org/x", None),
            ("http://example.org", None),
            ("*", None),
            ("example.org:443", None),
            ("", None),
        ];
        for (claimed, expected) in cases {
            let got = strip(claimed.as_bytes(), b"/app");
            assert_eq!(
                got.as_deref(),
                expected.map(str::as_bytes),
                "{claimed} -> {expected:?}"
            );
        }
    }
}
