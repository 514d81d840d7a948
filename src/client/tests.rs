//! The sans-I/O core against the RFC test vectors, and its `Authentication-Info` checks.

use http::{HeaderValue, Method};

use super::{Challenge, Credentials, Error, Session};

const NONCE_7616: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const CNONCE_7616: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const OPAQUE_7616: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

fn challenge(text: &str) -> Challenge {
    Challenge::strongest([&HeaderValue::from_str(text).unwrap()]).unwrap()
}

/// RFC 7616 section 3.9.1's exchange, for `algorithm`.
fn rfc7616(algorithm: &str) -> Session {
    let text = format!(
        r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="{NONCE_7616}", opaque="{OPAQUE_7616}""#
    );
    let credentials = Credentials::new("Mufasa", "Circle of Life");
    Session::with_cnonce(&credentials, challenge(&text), CNONCE_7616)
}

fn param<'a>(header: &'a str, name: &str) -> &'a str {
    let start = header.find(&format!(" {name}=")).unwrap() + name.len() + 2;
    let rest = &header[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    &rest[..rest.find(['"', ',']).unwrap_or(rest.len())]
}

fn answer(session: &Session, uri: &str) -> String {
    let answer = session.answer(&Method::GET, uri, None).unwrap();
    answer.header().to_str().unwrap().to_owned()
}

#[test]
fn rfc_7616_responses() {
    for (algorithm, response) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        ("MD5-sess", "e783283f46242139c486a698fec7211d"),
        (
            "SHA-256-sess",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
        ),
    ] {
        let header = answer(&rfc7616(algorithm), "/dir/index.html");
        assert_eq!(param(&header, "response"), response, "{algorithm}");
    }
}

#[test]
fn the_header_carries_every_parameter_in_order() {
    let header = answer(&rfc7616("SHA-256"), "/dir/index.html");
    assert_eq!(
        header,
        format!(
            r#"Digest username="Mufasa", realm="http-auth@example.org", nonce="{NONCE_7616}", uri="/dir/index.html", response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", nc=00000001, algorithm=SHA-256, qop=auth, cnonce="{CNONCE_7616}", opaque="{OPAQUE_7616}""#
        )
    );
}

#[test]
fn rfc_2617_and_rfc_2069_responses() {
    let credentials = Credentials::new("Mufasa", "Circle Of Life");
    let text = r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let session = Session::with_cnonce(&credentials, challenge(text), "0a4f113b");
    assert_eq!(
        param(&answer(&session, "/dir/index.html"), "response"),
        "6629fae49393a05397450978507c4ef1"
    );

    // RFC 2069: no qop, so no nc and no cnonce.
    let credentials = Credentials::new("Mufasa", "CircleOfLife");
    let text = r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let header = answer(
        &Session::new(&credentials, challenge(text)),
        "/dir/index.html",
    );
    assert_eq!(
        param(&header, "response"),
        "1949323746fe6a43ef61f9606e7febea"
    );
    assert!(
        !header.contains("nc=") && !header.contains("cnonce") && !header.contains("qop"),
        "{header}"
    );
}

#[test]
fn rfc_7616_userhash_with_sha_512_256() {
    let credentials = Credentials::new("J\u{e4}s\u{f8}n Doe", "Secret, or not?");
    let text = r#"Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true"#;
    let session = Session::with_cnonce(
        &credentials,
        challenge(text),
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    );
    let header = answer(&session, "/doe.json");
    assert_eq!(
        param(&header, "username"),
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    );
    assert_eq!(
        param(&header, "response"),
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );
    assert!(header.ends_with(", userhash=true"), "{header}");
}

#[test]
fn names_a_quoted_string_cannot_carry_go_in_username_star() {
    let text = r#"Digest realm="r", qop="auth", nonce="n""#;
    let header = answer(
        &Session::new(
            &Credentials::new("J\u{e4}s\u{f8}n Doe", "pw"),
            challenge(text),
        ),
        "/",
    );
    assert!(
        header.starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="),
        "{header}"
    );
    let header = answer(
        &Session::new(&Credentials::new("a\"b\\c", "pw"), challenge(text)),
        "/",
    );
    assert!(
        header.starts_with(r#"Digest username="a\"b\\c", realm="#),
        "{header}"
    );
}

#[test]
fn nc_counts_up_and_a_next_nonce_starts_over() {
    let session = rfc7616("SHA-256");
    assert_eq!(param(&answer(&session, "/"), "nc"), "00000001");
    assert_eq!(param(&answer(&session, "/"), "nc"), "00000002");
    let next = session.with_next_nonce("fresh");
    let header = answer(&next, "/");
    assert_eq!(
        (param(&header, "nonce"), param(&header, "nc")),
        ("fresh", "00000001")
    );
    assert_ne!(param(&header, "cnonce"), CNONCE_7616);
}

#[test]
fn rspauth_is_checked() {
    for (algorithm, rspauth) in [
        ("MD5", "9b712497bc9f91499fbcca1dfc5f09a5"),
        (
            "SHA-256",
            "86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0",
        ),
    ] {
        let session = rfc7616(algorithm);
        let answer = session
            .answer(&Method::GET, "/dir/index.html", None)
            .unwrap();
        let info = |text: String| HeaderValue::from_str(&text).unwrap();
        let right = info(format!(
            r#"qop=auth, rspauth="{rspauth}", cnonce="{CNONCE_7616}", nc=00000001, nextnonce="n2""#
        ));
        assert_eq!(answer.verify(&right).unwrap().as_deref(), Some("n2"));
        let upper = info(format!(r#"rspauth="{}""#, rspauth.to_ascii_uppercase()));
        assert_eq!(answer.verify(&upper).unwrap(), None);
        let mut wrong = rspauth.to_owned();
        wrong.replace_range(..1, if wrong.starts_with('0') { "1" } else { "0" });
        for bad in [wrong.as_str(), &rspauth[..30], "", "not hex"] {
            let bad = info(format!(r#"rspauth="{bad}""#));
            assert!(
                matches!(answer.verify(&bad), Err(Error::RspauthMismatch)),
                "{bad:?}"
            );
        }
        // No rspauth: nothing to check.
        assert_eq!(answer.verify(&info("qop=auth".into())).unwrap(), None);
        assert!(matches!(
            answer.verify(&info("rspauth=\"a".into())),
            Err(Error::MalformedInfo(_))
        ));
    }
}

#[test]
fn auth_int_hashes_the_body_and_needs_it() {
    let text = r#"Digest realm="r", qop="auth-int", algorithm=SHA-256, nonce="n""#;
    let session = Session::new(&Credentials::new("u", "p"), challenge(text));
    assert!(matches!(
        session.answer(&Method::POST, "/", None),
        Err(Error::Body(_))
    ));
    let empty = session.answer(&Method::POST, "/", Some(b"")).unwrap();
    let body = session.answer(&Method::POST, "/", Some(b"body")).unwrap();
    let header = |answer: &super::Answer| answer.header().to_str().unwrap().to_owned();
    assert!(header(&body).contains("qop=auth-int"));
    assert_ne!(
        param(&header(&empty), "response"),
        param(&header(&body), "response")
    );
}

#[test]
fn debug_never_shows_the_password() {
    let credentials = Credentials::new("Mufasa", "Circle of Life");
    let session = rfc7616("MD5");
    for text in [format!("{credentials:?}"), format!("{session:?}")] {
        assert!(!text.contains("Circle"), "{text}");
    }
}

#[test]
fn a_uri_no_header_can_carry_is_an_error_not_a_panic() {
    let session = rfc7616("MD5");
    assert!(matches!(
        session.answer(&Method::GET, "/a\r\nX: y", None),
        Err(Error::InvalidUri)
    ));
}
