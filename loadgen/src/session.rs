//! Session: one answered challenge, reused with nc = 1, 2, 3, ...

use std::fmt::Write as _;

use rand::RngCore;

use crate::challenge::Challenge;
use crate::digest::{ha1, hash_joined, hash_parts, hash_parts_into, nc_hex, to_hex};
use crate::options::{Algorithm, Config};

pub(crate) struct Session {
    pub(crate) alg: Algorithm,
    /// The request text up to and including `nc=` (everything that does not change).
    pub(crate) prefix: Vec<u8>,
    /// `HA1:nonce:` — the start of the response hash input.
    pub(crate) resp_pre: Vec<u8>,
    /// `:cnonce:auth:HA2` — the end of it (or `:HA2` without qop).
    pub(crate) resp_post: Vec<u8>,
    /// `:cnonce:auth:H(":" uri)` — for rspauth.
    pub(crate) rspauth_post: Vec<u8>,
    pub(crate) qop: bool,
    pub(crate) nc: u32,
    pub(crate) used: u64,
}

pub(crate) fn push_quoted(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Session {
    pub(crate) fn new(cfg: &Config, ch: &Challenge, alg: Algorithm, qop: bool) -> Self {
        // The decoy header has the same length as `Authorization`, so the open route
        // reads as many bytes as the protected one (and ignores them).
        let header = if cfg.decoy_from.is_some() {
            "X-Auth-Digest"
        } else {
            "Authorization"
        };
        let realm = ch.param("realm").unwrap_or("");
        let nonce = ch.param("nonce").unwrap_or("");
        let mut raw = [0_u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let mut cnonce = String::with_capacity(32);
        to_hex(&raw, &mut cnonce);

        let ha1 = ha1(alg, &cfg.user, realm, &cfg.password, nonce, &cnonce);
        let ha2 = hash_joined(alg.hash, &["GET", &cfg.path]);
        let ha2_rsp = hash_joined(alg.hash, &["", &cfg.path]);

        let mut p = String::with_capacity(512);
        let _ = write!(
            p,
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: digest-loadgen\r\n\
             {header}: Digest username=",
            cfg.path, cfg.authority
        );
        push_quoted(&mut p, &cfg.user);
        p.push_str(", realm=");
        push_quoted(&mut p, realm);
        p.push_str(", nonce=");
        push_quoted(&mut p, nonce);
        p.push_str(", uri=");
        push_quoted(&mut p, &cfg.path);
        let _ = write!(p, ", algorithm={}", alg.name());
        if let Some(opaque) = ch.param("opaque") {
            p.push_str(", opaque=");
            push_quoted(&mut p, opaque);
        }
        if qop {
            let _ = write!(p, ", qop=auth, cnonce=\"{cnonce}\", nc=");
        }
        Self {
            alg,
            prefix: p.into_bytes(),
            resp_pre: format!("{ha1}:{nonce}:").into_bytes(),
            resp_post: if qop {
                format!(":{cnonce}:auth:{ha2}").into_bytes()
            } else {
                format!(":{ha2}").into_bytes()
            },
            rspauth_post: format!(":{cnonce}:auth:{ha2_rsp}").into_bytes(),
            qop,
            nc: 0,
            used: 0,
        }
    }

    /// Writes the next authenticated request into `req`.
    pub(crate) fn next_request(&mut self, req: &mut Vec<u8>) {
        self.nc = self.nc.wrapping_add(1);
        req.clear();
        req.extend_from_slice(&self.prefix);
        if self.qop {
            let nc = nc_hex(self.nc);
            req.extend_from_slice(&nc);
            req.extend_from_slice(b", response=\"");
            hash_parts_into(self.alg.hash, &[&self.resp_pre, &nc, &self.resp_post], req);
        } else {
            req.extend_from_slice(b", response=\"");
            hash_parts_into(self.alg.hash, &[&self.resp_pre, &self.resp_post], req);
        }
        req.extend_from_slice(b"\"\r\n\r\n");
    }

    pub(crate) fn expected_rspauth(&self) -> String {
        hash_parts(
            self.alg.hash,
            &[&self.resp_pre, &nc_hex(self.nc), &self.rspauth_post],
        )
    }
}

/// Picks the challenge to answer: Digest, an algorithm we support (or the one asked for),
/// and `qop` offering `auth` (or no `qop` at all, RFC 2069 style).
pub(crate) fn pick(
    challenges: &[Challenge],
    wanted: Option<Algorithm>,
) -> Option<(&Challenge, Algorithm, bool)> {
    challenges.iter().find_map(|c| {
        if !c.scheme.eq_ignore_ascii_case("Digest") || c.param("nonce").is_none() {
            return None;
        }
        let alg = Algorithm::parse(c.param("algorithm").unwrap_or("MD5"))?;
        if wanted.is_some_and(|w| w != alg) {
            return None;
        }
        let qop = match c.param("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return None;
                }
            }
        };
        Some((c, alg, qop))
    })
}
