//! A small, independent Digest client for the tests: it hashes with `md-5`/`sha2`
//! directly instead of calling the crate, so a mistake in the crate cannot agree with
//! itself here.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Request};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use tower_digest_auth::PeerAddr;

pub const REALM: &str = "http-auth@example.org";
pub const USER: &str = "Mufasa";
pub const PASSWORD: &str = "Circle of Life";

/// One `WWW-Authenticate: Digest` challenge, as a client reads it.
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: String,
    pub qop: String,
    pub stale: bool,
    pub domain: Option<String>,
    /// `userhash=true`: the server takes hashed usernames.
    pub userhash: bool,
}

/// `name=value` pairs of a challenge or `Authentication-Info`, quotes removed.
pub fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            v.push(e);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((name, value));
    }
    out
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every Digest challenge in `headers`, in header order.
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    challenges_in(headers, &http::header::WWW_AUTHENTICATE)
}

/// Every Digest challenge in the header `name` (`Proxy-Authenticate` for a proxy); the
/// other schemes' lines (Basic, where the layer offers it) are skipped.
pub fn challenges_in(headers: &HeaderMap, name: &http::HeaderName) -> Vec<Challenge> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| {
            let text = value.to_str().expect("challenge is ASCII");
            let rest = text.strip_prefix("Digest ")?;
            let p = params(rest);
            Some(Challenge {
                realm: param(&p, "realm").expect("realm").to_owned(),
                nonce: param(&p, "nonce").expect("nonce").to_owned(),
                opaque: param(&p, "opaque").map(str::to_owned),
                algorithm: param(&p, "algorithm").expect("algorithm").to_owned(),
                qop: param(&p, "qop").expect("qop").to_owned(),
                stale: param(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
                domain: param(&p, "domain").map(str::to_owned),
                userhash: param(&p, "userhash").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            })
        })
        .collect()
}

/// The scheme of each challenge line in the header `name`, in order (`Digest`, `Basic`).
pub fn schemes_in(headers: &HeaderMap, name: &http::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|value| {
            let text = value.to_str().expect("challenge is ASCII");
            text.split(' ').next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// `Basic base64(user:password)`, as a client sends it.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard padded base64 (RFC 4648), written out here rather than borrowed from the
/// crate's own dependency.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, &b)| word | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(word >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `H(data)` in lowercase hex for an algorithm name (`-sess` uses the same hash).
pub fn h(algorithm: &str, data: &[u8]) -> String {
    let base = algorithm
        .trim_end_matches("-sess")
        .trim_end_matches("-SESS");
    let bytes: Vec<u8> = match base.to_ascii_uppercase().as_str() {
        "MD5" => Md5::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-512-256" => Sha512_256::digest(data).to_vec(),
        other => panic!("unknown algorithm {other}"),
    };
    bytes.iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// What a client needs to answer a challenge.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nc: u32,
    pub cnonce: &'a str,
    /// `auth` or `auth-int`.
    pub qop: &'a str,
    /// The request body, hashed into `A2` for `auth-int`.
    pub body: &'a [u8],
    /// Send `H(username:realm)` with `userhash=true`.
    pub hash_username: bool,
}

impl<'a> Answer<'a> {
    pub fn get(uri: &'a str) -> Self {
        Answer {
            username: USER,
            password: PASSWORD,
            method: "GET",
            uri,
            nc: 1,
            cnonce: "0a4f113b",
            qop: "auth",
            body: b"",
            hash_username: false,
        }
    }

    /// Answers with `qop=auth-int` over `body`.
    pub fn auth_int(mut self, body: &'a [u8]) -> Self {
        self.qop = "auth-int";
        self.body = body;
        self
    }

    /// Sends the username hashed (`userhash=true`).
    pub fn hashed_username(mut self) -> Self {
        self.hash_username = true;
        self
    }

    pub fn nc(mut self, nc: u32) -> Self {
        self.nc = nc;
        self
    }

    pub fn password(mut self, password: &'a str) -> Self {
        self.password = password;
        self
    }

    pub fn username(mut self, username: &'a str) -> Self {
        self.username = username;
        self
    }

    pub fn method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    fn session_key(&self, challenge: &Challenge) -> String {
        let alg = &challenge.algorithm;
        let ha1 = h(
            alg,
            format!("{}:{}:{}", self.username, challenge.realm, self.password).as_bytes(),
        );
        if alg.to_ascii_lowercase().ends_with("-sess") {
            h(
                alg,
                format!("{ha1}:{}:{}", challenge.nonce, self.cnonce).as_bytes(),
            )
        } else {
            ha1
        }
    }

    /// `KD` with `A2 = method:uri`, or for auth-int `method:uri:H(entity)`.
    fn kd(&self, challenge: &Challenge, method: &str, entity: &[u8]) -> String {
        let alg = &challenge.algorithm;
        let a2 = if self.qop == "auth-int" {
            format!("{method}:{}:{}", self.uri, h(alg, entity))
        } else {
            format!("{method}:{}", self.uri)
        };
        let ha2 = h(alg, a2.as_bytes());
        h(
            alg,
            format!(
                "{}:{}:{:08x}:{}:{}:{ha2}",
                self.session_key(challenge),
                challenge.nonce,
                self.nc,
                self.cnonce,
                self.qop
            )
            .as_bytes(),
        )
    }

    /// The `response` parameter.
    pub fn response(&self, challenge: &Challenge) -> String {
        self.kd(challenge, self.method, self.body)
    }

    /// The `rspauth` the server should send back (for auth-int, over an empty response).
    pub fn rspauth(&self, challenge: &Challenge) -> String {
        self.kd(challenge, "", b"")
    }

    /// The auth-int `rspauth` for a response whose body is `response_body`.
    pub fn rspauth_over(&self, challenge: &Challenge, response_body: &[u8]) -> String {
        self.kd(challenge, "", response_body)
    }

    /// What goes in `username`: the name, or `H(name:realm)` with `hash_username`.
    pub fn username_param(&self, challenge: &Challenge) -> String {
        if self.hash_username {
            h(
                &challenge.algorithm,
                format!("{}:{}", self.username, challenge.realm).as_bytes(),
            )
        } else {
            self.username.to_owned()
        }
    }

    /// A complete `Authorization` header value.
    pub fn header(&self, challenge: &Challenge) -> String {
        let mut header = format!(
            r#"Digest username="{}", realm="{}", nonce="{}", uri="{}", algorithm={}, qop={}, nc={:08x}, cnonce="{}", response="{}""#,
            self.username_param(challenge),
            challenge.realm,
            challenge.nonce,
            self.uri,
            challenge.algorithm,
            self.qop,
            self.nc,
            self.cnonce,
            self.response(challenge)
        );
        if self.hash_username {
            header.push_str(", userhash=true");
        }
        if let Some(opaque) = &challenge.opaque {
            header = format!(r#"{header}, opaque="{opaque}""#);
        }
        header
    }
}

pub fn client_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::from([192, 0, 2, 10]), 50_000)
}

/// A request from `client_addr()` (unless `peer` says otherwise).
pub fn request(method: &str, uri: &str, authorization: Option<&str>) -> Request<String> {
    request_from(client_addr(), method, uri, authorization)
}

pub fn request_from(
    peer: SocketAddr,
    method: &str,
    uri: &str,
    authorization: Option<&str>,
) -> Request<String> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    let mut request = builder.body(String::new()).unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    request
}
