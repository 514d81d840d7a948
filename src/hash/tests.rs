use subtle::ConstantTimeEq;

use super::*;

const RFC7616_NONCE: &[u8] = b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_CNONCE: &[u8] = b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_input(algorithm: Algorithm) -> DigestInput<'static> {
    DigestInput {
        algorithm,
        nonce: RFC7616_NONCE,
        nc: b"00000001",
        cnonce: RFC7616_CNONCE,
        qop: b"auth",
        uri: b"/dir/index.html",
    }
}

fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> HexDigest {
    algorithm.hash_function().hex_digest(&[
        user.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// (algorithm, response, rspauth) from RFC 7616 section 3.9.1 and the test vectors computed from it.
#[test]
fn kd_prefix_is_the_same_gathered_or_part_by_part() {
    // Around the gather buffer's size: a cnonce that fits and ones that do not.
    for cnonce_len in [1, 100, 138, 139, 140, 300, 5000] {
        let cnonce = vec![b'c'; cnonce_len];
        let input = DigestInput {
            cnonce: &cnonce,
            ..rfc7616_input(Algorithm::Sha256)
        };
        let key = ha1(Algorithm::Sha256, "Mufasa", "r", "p");
        let expected = HashFunction::Sha256.hex_digest(&[
            key.as_bytes(),
            b":",
            input.nonce,
            b":",
            input.nc,
            b":",
            &cnonce,
            b":",
            input.qop,
            b":",
            ha2_cache::ha2(HashFunction::Sha256, b"GET", input.uri).as_bytes(),
        ]);
        assert_eq!(
            input.response(&key, b"GET"),
            expected,
            "cnonce of {cnonce_len}"
        );
    }
}

#[test]
fn rfc7616_section_3_9_1_vectors() {
    let cases = [
        (
            Algorithm::Md5,
            "8ca523f5e9506fed4657c9700eebdbec",
            Some("9b712497bc9f91499fbcca1dfc5f09a5"),
        ),
        (
            Algorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            Some("86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0"),
        ),
        (Algorithm::Md5Sess, "e783283f46242139c486a698fec7211d", None),
        (
            Algorithm::Sha256Sess,
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            None,
        ),
    ];
    for (algorithm, response, rspauth) in cases {
        let input = rfc7616_input(algorithm);
        let key = input.session_key(&ha1(
            algorithm,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        ));
        assert_eq!(
            input.response(&key, b"GET").as_str(),
            response,
            "{algorithm}"
        );
        if let Some(rspauth) = rspauth {
            assert_eq!(input.rspauth(&key).as_str(), rspauth, "{algorithm}");
        }
    }
}

#[test]
fn rfc2617_section_3_5_vector() {
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        nonce: b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
        nc: b"00000001",
        cnonce: b"0a4f113b",
        qop: b"auth",
        uri: b"/dir/index.html",
    };
    let key = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(
        input.response(&key, b"GET").as_str(),
        "6629fae49393a05397450978507c4ef1"
    );
}

/// RFC 7616 section 3.9.2 with real SHA-512/256 (erratum 4897: the RFC's printed values
/// come from truncated SHA-512).
#[test]
fn sha512_256_erratum_vector() {
    let hash = HashFunction::Sha512_256;
    let userhash = hash.hex_digest(&[b"J\xc3\xa4s\xc3\xb8n Doe:api@example.org"]);
    assert_eq!(
        userhash.as_str(),
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    );
    let input = DigestInput {
        algorithm: Algorithm::Sha512_256,
        nonce: b"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
        nc: b"00000001",
        cnonce: b"NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
        qop: b"auth",
        uri: b"/doe.json",
    };
    let key = ha1(
        Algorithm::Sha512_256,
        "J\u{e4}s\u{f8}n Doe",
        "api@example.org",
        "Secret, or not?",
    );
    assert_eq!(
        input.response(&key, b"GET").as_str(),
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );
}

#[test]
fn algorithm_names_round_trip_case_insensitively() {
    for algorithm in Algorithm::ALL {
        assert_eq!(
            Algorithm::from_name(algorithm.name().as_bytes()),
            Some(algorithm)
        );
        let upper = algorithm.name().to_ascii_uppercase();
        assert_eq!(Algorithm::from_name(upper.as_bytes()), Some(algorithm));
        assert_eq!(Algorithm::from_code(algorithm.code()), Some(algorithm));
    }
    assert_eq!(Algorithm::from_name(b"SHA-1"), None);
    assert_eq!(Algorithm::from_code(0), None);
}

#[test]
fn raw_digest_from_hex() {
    let raw = RawDigest::from_hex(b"00fFa9").unwrap();
    assert_eq!(raw.as_bytes(), [0x00, 0xff, 0xa9]);
    assert_eq!(raw.to_hex().as_str(), "00ffa9");
    for bad in [&b"abc"[..], b"zz", b"0g", &[b'a'; 66]] {
        assert!(RawDigest::from_hex(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn raw_digests_compare_every_byte_and_the_length() {
    let a = RawDigest::from_hex(&[b'a'; 64]).unwrap();
    assert!(bool::from(a.ct_eq(&a)));
    for index in 0..64 {
        let mut hex = [b'a'; 64];
        hex[index] = b'b';
        let b = RawDigest::from_hex(&hex).unwrap();
        assert!(!bool::from(a.ct_eq(&b)), "digit {index}");
    }
    let short = RawDigest::from_hex(&[b'a'; 32]).unwrap();
    let zeros_short = RawDigest::from_hex(&[b'0'; 32]).unwrap();
    let zeros_long = RawDigest::from_hex(&[b'0'; 64]).unwrap();
    assert!(!bool::from(a.ct_eq(&short)));
    assert!(!bool::from(zeros_short.ct_eq(&zeros_long)), "length counts");
}
