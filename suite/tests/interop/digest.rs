//! An independent HTTP Digest computation (RFC 7616 section 3.4), written for the interop suite
//! straight from the RFC on top of the `md-5` and `sha2` crates. It never calls the library, so a
//! mistake in the library cannot hide behind the same mistake here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The hash function behind an `algorithm` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha256,
}

/// A parsed `algorithm` value: hash function and whether it is a `-sess` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithm {
    pub hash: Hash,
    pub session: bool,
}

impl Algorithm {
    /// Reads an `algorithm` parameter; an absent one means MD5 (RFC 7616 section 3.3).
    pub fn from_param(value: Option<&str>) -> Self {
        let value = value.unwrap_or("MD5").to_ascii_uppercase();
        let (name, session) = match value.strip_suffix("-SESS") {
            Some(name) => (name.to_owned(), true),
            None => (value.clone(), false),
        };
        let hash = match name.as_str() {
            "MD5" => Hash::Md5,
            "SHA-256" => Hash::Sha256,
            other => panic!("the interop suite does not know algorithm {other:?}"),
        };
        Self { hash, session }
    }
}

/// Lower-case hex of `H(data)`.
pub fn hex_hash(hash: Hash, data: &[u8]) -> String {
    let bytes: Vec<u8> = match hash {
        Hash::Md5 => Md5::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    out
}

/// Everything a `qop=auth` digest computation needs.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub nonce: &'a str,
    pub cnonce: &'a str,
    pub nc: &'a str,
    pub qop: &'a str,
}

impl<'a> Inputs<'a> {
    /// The inputs a client used, read back from the parameters of the `Authorization` it
    /// sent (as `Exchange::sent` returns them), with the password it must have known.
    pub fn from_sent(sent: &'a BTreeMap<String, String>, password: &'a str) -> Self {
        Inputs {
            algorithm: Algorithm::from_param(sent.get("algorithm").map(String::as_str)),
            username: &sent["username"],
            realm: &sent["realm"],
            password,
            nonce: &sent["nonce"],
            cnonce: &sent["cnonce"],
            nc: &sent["nc"],
            qop: &sent["qop"],
        }
    }
}

impl Inputs<'_> {
    fn h(&self, data: &str) -> String {
        hex_hash(self.algorithm.hash, data.as_bytes())
    }

    fn ha1(&self) -> String {
        let base = self.h(&format!(
            "{}:{}:{}",
            self.username, self.realm, self.password
        ));
        if self.algorithm.session {
            self.h(&format!("{base}:{}:{}", self.nonce, self.cnonce))
        } else {
            base
        }
    }

    fn kd(&self, ha2: &str) -> String {
        let ha1 = self.ha1();
        self.h(&format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            self.nonce, self.nc, self.cnonce, self.qop
        ))
    }

    /// The `response` a client must send for `method uri`.
    pub fn response(&self, method: &str, uri: &str) -> String {
        self.kd(&self.h(&format!("{method}:{uri}")))
    }

    /// The `rspauth` a server must answer with: A2 has an empty method.
    pub fn rspauth(&self, uri: &str) -> String {
        self.kd(&self.h(&format!(":{uri}")))
    }
}

/// Splits `Digest a=b, c="d"` (or a bare parameter list, as in `Authentication-Info`) into a
/// map with lower-case names. Quoted values lose their quotes and `\x` escapes. Panics on a
/// header that does not follow RFC 9110 auth-param syntax: the suite only feeds it headers that
/// real clients and the server produced, and those must be well formed.
pub fn parse_params(header: &str) -> BTreeMap<String, String> {
    let mut rest = header.trim();
    if rest.len() >= 7 && rest.as_bytes()[..7].eq_ignore_ascii_case(b"digest ") {
        rest = rest[7..].trim_start();
    }
    let mut params = BTreeMap::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b' ' {
            i += 1;
        }
        let name = rest[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        assert!(
            i < bytes.len() && bytes[i] == b'=',
            "parameter {name:?} has no value in {header:?}"
        );
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => panic!("unterminated quoted string in {header:?}"),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let ch = rest[i + 1..].chars().next().expect("escape at end");
                        value.push(ch);
                        i += 1 + ch.len_utf8();
                    }
                    Some(_) => {
                        let ch = rest[i..].chars().next().expect("inside the string");
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b',' && bytes[i] != b' ' {
                i += 1;
            }
            value.push_str(&rest[start..i]);
        }
        let previous = params.insert(name.clone(), value);
        assert!(previous.is_none(), "parameter {name:?} twice in {header:?}");
    }
    params
}

/// Checks a server's `Authentication-Info` against the `Authorization` the client sent, for the
/// user `username` with `password`. Returns a description of the first problem, if any.
pub fn check_authentication_info(
    authorization: &str,
    authentication_info: &str,
    password: &str,
) -> Result<(), String> {
    let sent = parse_params(authorization);
    let info = parse_params(authentication_info);
    let field = |map: &BTreeMap<String, String>, name: &str| -> Result<String, String> {
        map.get(name)
            .cloned()
            .ok_or_else(|| format!("no {name} in {map:?}"))
    };
    let inputs_owned = (
        field(&sent, "username")?,
        field(&sent, "realm")?,
        field(&sent, "nonce")?,
        field(&sent, "cnonce")?,
        field(&sent, "nc")?,
        field(&sent, "qop")?,
        field(&sent, "uri")?,
    );
    let (username, realm, nonce, cnonce, nc, qop, uri) = &inputs_owned;
    let inputs = Inputs {
        algorithm: Algorithm::from_param(sent.get("algorithm").map(String::as_str)),
        username,
        realm,
        password,
        nonce,
        cnonce,
        nc,
        qop,
    };
    let expected = inputs.rspauth(uri);
    let got = field(&info, "rspauth")?;
    if got != expected {
        return Err(format!(
            "rspauth {got} but {expected} expected (sent {authorization:?}, got {authentication_info:?})"
        ));
    }
    if field(&info, "qop")? != *qop {
        return Err(format!("qop differs: {authentication_info:?}"));
    }
    if field(&info, "cnonce")? != *cnonce {
        return Err(format!("cnonce not echoed: {authentication_info:?}"));
    }
    if field(&info, "nc")? != *nc {
        return Err(format!("nc not echoed: {authentication_info:?}"));
    }
    Ok(())
}
