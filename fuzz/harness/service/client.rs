//! An independent Digest client: `nc` spellings, response hashes, the header writer and a
//! reader for challenges, computed with `md-5`/`sha2`, never through the crate.

use std::fmt::Write as _;

use http::Response;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use tower_digest_auth::Algorithm;

use super::REALM;
use super::scenario::NcFormat;

/// `nc` as the client spells it, and the number the server reads from it (if valid).
pub(super) fn spell_nc(nc: u64, format: NcFormat) -> (String, Option<u64>) {
    let nc32 = nc % 0x1_0000_0000;
    let raw = match format {
        NcFormat::Hex8 => format!("{nc32:08x}"),
        NcFormat::Bare => format!("{nc:x}"),
        NcFormat::Upper => format!("{nc32:08X}"),
        NcFormat::Decimal => format!("{:08}", nc % 100_000_000),
        NcFormat::Padded16 => format!("{nc:016x}"),
        NcFormat::TooLong => format!("0{nc:016x}"),
        NcFormat::Zero => "00000000".to_owned(),
        NcFormat::NotHex => format!("{nc32:07x}g"),
    };
    let valid = !raw.is_empty() && raw.len() <= 16 && raw.bytes().all(|b| b.is_ascii_hexdigit());
    let value = if valid {
        u64::from_str_radix(&raw, 16).ok().filter(|&v| v != 0)
    } else {
        None
    };
    (raw, value)
}

/// RFC 8187 `UTF-8''` with every byte that is not plainly safe percent-encoded.
pub(super) fn ext_value(text: &str) -> String {
    let mut out = String::from("UTF-8''");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The `response` (or, with an empty method, `rspauth`) of RFC 7616, computed here
/// with the hash crates directly.
#[allow(clippy::too_many_arguments)]
pub(super) fn response_digest(
    algorithm: Algorithm,
    username: &str,
    password: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    let name = algorithm.name();
    let h = |data: String| hash(name, data.as_bytes());
    let mut ha1 = h(format!("{username}:{REALM}:{password}"));
    if name.ends_with("-sess") {
        ha1 = h(format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = h(format!("{method}:{uri}"));
    h(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
}

pub(super) fn hash(algorithm: &str, data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = match algorithm.trim_end_matches("-sess") {
        "MD5" => Md5::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-512-256" => Sha512_256::digest(data).to_vec(),
        other => unreachable!("no such algorithm {other}"),
    };
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

/// Writes `Authorization: Digest` parameters.
pub(super) struct HeaderBuilder {
    pub(super) out: Vec<u8>,
    pub(super) quote_all: bool,
    pub(super) first: bool,
}

impl HeaderBuilder {
    pub(super) fn new(quote_all: bool) -> Self {
        HeaderBuilder {
            out: b"Digest ".to_vec(),
            quote_all,
            first: true,
        }
    }

    pub(super) fn start(&mut self, name: &str) {
        if !self.first {
            self.out.extend_from_slice(b", ");
        }
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'=');
    }

    /// A parameter, bare when it is a token (unless every value is quoted).
    pub(super) fn param(&mut self, name: &str, value: &str) {
        let token = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if token && !self.quote_all {
            self.start(name);
            self.out.extend_from_slice(value.as_bytes());
        } else {
            self.quoted(name, value);
        }
    }

    pub(super) fn quoted(&mut self, name: &str, value: &str) {
        self.start(name);
        self.out.push(b'"');
        for byte in value.bytes() {
            if byte == b'"' || byte == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(byte);
        }
        self.out.push(b'"');
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.out
    }
}

pub(super) fn is_stale(response: &Response<String>) -> bool {
    // The layer writes `stale` last (challenge_nonce checks the rest of the line).
    response
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|line| line.as_bytes().ends_with(b", stale=true"))
}

/// One parameter of a challenge we issued, whose values hold no comma and no escape.
pub(super) fn challenge_param<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let text = text.strip_prefix("Digest ").unwrap_or(text);
    text.split(',').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `name=value` pairs of a challenge or `Authentication-Info`, quotes removed.
pub(super) fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(8);
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        if let Some(mut quoted) = rest.strip_prefix('"') {
            // Copy runs between escapes whole: this runs for every response.
            loop {
                let Some(at) = quoted.find(['"', '\\']) else {
                    value.push_str(quoted);
                    quoted = "";
                    break;
                };
                value.push_str(&quoted[..at]);
                if quoted.as_bytes()[at] == b'"' {
                    quoted = &quoted[at + 1..];
                    break;
                }
                let mut escaped = quoted[at + 1..].chars();
                value.extend(escaped.next());
                quoted = escaped.as_str();
            }
            rest = quoted;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            rest[..end].trim().clone_into(&mut value);
            rest = &rest[end..];
        }
        out.push((name, value));
    }
    out
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
