//! The `Authorization` parser harness, shared by `fuzz/fuzz_targets/authorization.rs` and
//! the corpus replay in `tests/fuzz_corpus.rs`.
//!
//! Beyond "no panic", every input checks:
//! - the two entry points agree on whether the header is acceptable;
//! - nothing over 16 KiB and no control character (other than tab) is ever accepted;
//! - round trip: the accepted parameters, written back out in another style (names in
//!   upper case, every value quoted and escaped, extra whitespace, empty list elements, an
//!   unknown parameter), parse to exactly the same parameters.

use tower_digest_auth::__fuzz::{authorization_params, parse_authorization};

/// The parser's size bound (`header::MAX_HEADER_LEN`).
const MAX_HEADER_LEN: usize = 16 * 1024;

/// Runs one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let parsed = authorization_params(data);
    assert_eq!(
        parsed.is_ok(),
        parse_authorization(data),
        "the two entry points disagree"
    );
    let Ok(params) = parsed else { return };
    assert!(data.len() <= MAX_HEADER_LEN, "accepted an oversized header");
    assert!(
        !data.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f),
        "accepted a control character"
    );

    let rewritten = rewrite(&params);
    if rewritten.len() > MAX_HEADER_LEN {
        return;
    }
    let again = authorization_params(&rewritten).unwrap_or_else(|error| {
        panic!(
            "rewritten header refused ({error}): {:?}",
            String::from_utf8_lossy(&rewritten)
        )
    });
    assert_eq!(again, params, "round trip changed the parameters");
}

/// The parameters in another, equivalent spelling.
fn rewrite(params: &[(&'static str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"DIGEST ,".to_vec();
    for (name, value) in params {
        out.extend_from_slice(b" ,, ");
        out.extend_from_slice(name.to_ascii_uppercase().as_bytes());
        out.extend_from_slice(b" =\t\"");
        for &byte in value {
            if byte == b'"' || byte == b'\\' {
                out.push(b'\\');
            }
            out.push(byte);
        }
        out.push(b'"');
    }
    out.extend_from_slice(b", x-unknown=\"a,b\\\"c\" ,");
    out
}
