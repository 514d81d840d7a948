//! The `Authentication-Info` header value, shared by `qop=auth` and `qop=auth-int`.

use http::HeaderValue;

use crate::hash::HexDigest;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::RawDigest;

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
}
