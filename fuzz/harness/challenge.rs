//! The client's challenge parser harness, shared by `fuzz/fuzz_targets/challenge.rs` and
//! the corpus replay in `tests/fuzz_corpus.rs`.
//!
//! The input is split on `\n` into header lines (at most 80; a line that is not a valid
//! header value is dropped, as `http` would never hand it over); a line starting with
//! `info:` is an `Authentication-Info` value instead. Beyond "no panic", every input
//! checks:
//! - a chosen challenge came from a line that names the Digest scheme and holds its nonce;
//! - round trip: the chosen challenge, written back in another spelling (upper-case names,
//!   every value quoted and escaped, a Basic challenge and an unknown parameter holding
//!   `,` and `\"` around it), is chosen again, equal in every field;
//! - answering it gives a header that this crate's own server parser reads back with the
//!   same realm, nonce, opaque and URI (under `--cfg fuzzing`, where the parser is
//!   reachable), and checking any `Authentication-Info` against the answer returns.

use http::{HeaderValue, Method};
use tower_digest_auth::client::{Challenge, Credentials, Qop, Session};

/// Runs one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let mut values = Vec::new();
    let mut info = None;
    for line in data.split(|&byte| byte == b'\n').take(80) {
        if let Some(rest) = line.strip_prefix(b"info:") {
            info = HeaderValue::from_bytes(rest).ok();
        } else if let Ok(value) = HeaderValue::from_bytes(line) {
            values.push(value);
        }
    }
    let Ok(challenge) = Challenge::strongest(&values) else {
        return;
    };
    // Unescaping only removes backslashes: without any, the nonce is in its line.
    let unescaped = |text: &str| text.replace('\\', "");
    assert!(
        values.iter().any(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            text.to_ascii_lowercase().contains("digest")
                && unescaped(&text).contains(&unescaped(challenge.nonce()))
        }),
        "chose a challenge no line holds: {challenge:?}"
    );

    let rewritten = rewrite(&challenge);
    if rewritten.len() <= 16 * 1024 {
        let value =
            HeaderValue::from_str(&rewritten).expect("a rewritten challenge is a header value");
        let again = Challenge::strongest([&value])
            .unwrap_or_else(|error| panic!("rewritten challenge refused ({error}): {rewritten}"));
        assert_eq!(
            again, challenge,
            "round trip changed the challenge: {rewritten}"
        );
    }

    let session = Session::new(
        &Credentials::new("Mufasa", "Circle of Life"),
        challenge.clone(),
    );
    let answer = session
        .answer(&Method::POST, "/dir/index.html?a=b", Some(b"body"))
        .expect("a body is at hand, so every challenge can be answered");
    #[cfg(fuzzing)]
    read_back(answer.header(), &challenge);
    if let Some(info) = info {
        let _ = answer.verify(&info);
    }
}

/// The challenge in another, equivalent spelling, between other challenges.
fn rewrite(challenge: &Challenge) -> String {
    let mut out = String::from(r#"Basic realm="a, Digest realm=b", DIGEST  REALM = ""#);
    out.push_str(&escaped(challenge.realm()));
    out.push_str("\" ,, NONCE=\"");
    out.push_str(&escaped(challenge.nonce()));
    out.push_str("\", X-Unknown=\"a,b\\\"c\", ALGORITHM=\"");
    out.push_str(challenge.algorithm().name());
    out.push('"');
    match challenge.qop() {
        Qop::Auth => out.push_str(r#", QOP="auth-int , auth""#),
        Qop::AuthInt => out.push_str(r#", QOP="auth-int""#),
        _ => {}
    }
    if let Some(opaque) = challenge.opaque() {
        out.push_str(", OPAQUE=\"");
        out.push_str(&escaped(opaque));
        out.push('"');
    }
    out.push_str(if challenge.stale() {
        ", STALE=TRUE"
    } else {
        ", stale=false"
    });
    out.push_str(if challenge.userhash() {
        ", USERHASH=\"true\""
    } else {
        ""
    });
    out.push_str(", Bearer abc==");
    out
}

fn escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The answer, read by the server's parser: the same realm, nonce, opaque and URI.
#[cfg(fuzzing)]
fn read_back(header: &HeaderValue, challenge: &Challenge) {
    let params = tower_digest_auth::__fuzz::authorization_params(header.as_bytes())
        .unwrap_or_else(|error| panic!("the server cannot read the answer ({error}): {header:?}"));
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    };
    assert_eq!(
        get("realm"),
        Some(challenge.realm().as_bytes()),
        "{header:?}"
    );
    assert_eq!(
        get("nonce"),
        Some(challenge.nonce().as_bytes()),
        "{header:?}"
    );
    assert_eq!(
        get("opaque"),
        challenge.opaque().map(str::as_bytes),
        "{header:?}"
    );
    assert_eq!(get("uri"), Some(&b"/dir/index.html?a=b"[..]), "{header:?}");
}
