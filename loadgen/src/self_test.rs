//! `--self-test`: the digest code against published vectors (RFC 7616 section 3.9.1, RFC 2617
//! section 3.5) and the challenge parser against awkward headers.

use crate::challenge::parse_challenges;
use crate::digest::{ha1, hash_joined};
use crate::options::{Algorithm, Hash};
use crate::session::pick;

pub(crate) fn self_test() -> bool {
    let mut ok = true;
    let mut check = |what: &str, got: &str, want: &str| {
        let pass = got == want;
        println!("{} {what}", if pass { "ok  " } else { "FAIL" });
        if !pass {
            println!("     got  {got}\n     want {want}");
        }
        ok &= pass;
    };
    let (user, realm, pass) = ("Mufasa", "http-auth@example.org", "Circle of Life");
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let uri = "/dir/index.html";
    let cases = [
        (
            "MD5",
            "8ca523f5e9506fed4657c9700eebdbec",
            Some("9b712497bc9f91499fbcca1dfc5f09a5"),
        ),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            Some("86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0"),
        ),
        ("MD5-sess", "e783283f46242139c486a698fec7211d", None),
        (
            "SHA-256-sess",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            None,
        ),
    ];
    for (name, want, want_rsp) in cases {
        let alg = Algorithm::parse(name).expect("known algorithm");
        let h1 = ha1(alg, user, realm, pass, nonce, cnonce);
        let h2 = hash_joined(alg.hash, &["GET", uri]);
        let resp = hash_joined(alg.hash, &[&h1, nonce, "00000001", cnonce, "auth", &h2]);
        check(&format!("RFC 7616 3.9.1 {name} response"), &resp, want);
        if let Some(w) = want_rsp {
            let h2r = hash_joined(alg.hash, &["", uri]);
            let rspauth = hash_joined(alg.hash, &[&h1, nonce, "00000001", cnonce, "auth", &h2r]);
            check(&format!("RFC 7616 3.9.1 {name} rspauth"), &rspauth, w);
        }
    }
    let h1 = hash_joined(
        Hash::Md5,
        &["Mufasa", "testrealm@host.com", "Circle Of Life"],
    );
    let h2 = hash_joined(Hash::Md5, &["GET", uri]);
    let resp = hash_joined(
        Hash::Md5,
        &[
            &h1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "00000001",
            "0a4f113b",
            "auth",
            &h2,
        ],
    );
    check(
        "RFC 2617 3.5 response",
        &resp,
        "6629fae49393a05397450978507c4ef1",
    );

    // The session code path must produce the same value as the plain computation.
    let mut chs = Vec::new();
    let parsed = parse_challenges(
        format!(
            "Digest realm=\"{realm}\", qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"{nonce}\", \
             opaque=\"x\\\"y\",Digest realm=\"{realm}\",qop=\"auth\",algorithm=MD5,nonce=\"{nonce}\""
        )
        .as_bytes(),
        &mut chs,
    );
    check(
        "parse two comma-joined challenges",
        &format!("{parsed} {}", chs.len()),
        "true 2",
    );
    check(
        "escaped quote in quoted-string",
        chs[0].param("opaque").unwrap_or(""),
        "x\"y",
    );
    let picked = pick(&chs, Algorithm::parse("MD5")).map(|(c, a, q)| (c.param("algorithm"), a, q));
    check(
        "pick --algorithm MD5",
        &format!("{picked:?}"),
        &format!(
            "{:?}",
            Some((Some("MD5"), Algorithm::parse("MD5").expect("md5"), true))
        ),
    );
    ok
}
