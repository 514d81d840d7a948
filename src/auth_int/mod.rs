//! `qop=auth-int` (RFC 7616 section 3.4.3), feature `auth-int`: the client's answer
//! covers the request body, and `rspauth` covers the response body.
//!
#![cfg_attr(feature = "auth-int", doc = include_str!("../docs/auth_int.md"))]
//!
//! [`DigestLayerBuilder::build_auth_int`](crate::DigestLayerBuilder::build_auth_int) makes
//! an [`AuthIntLayer`], which wraps the digest layer: requests that answer with
//! `qop=auth-int` have their body read (bounded in size, 413, and in time, 408) and
//! hashed, and responses come back as an [`AuthIntBody`] so `rspauth` can cover them.
//! Requests that answer with `qop=auth` pass through untouched.
//!
//! ```
//! use tower_digest_auth::auth_int::AuthIntLayer;
//! use tower_digest_auth::{DigestLayer, MemoryCredentials};
//!
//! let realm = "api@example.org";
//! let users = MemoryCredentials::new(realm, [("alice", "secret")]);
//! // Request bodies up to 64 KiB.
//! let layer: AuthIntLayer<MemoryCredentials> =
//!     DigestLayer::builder(realm, users).build_auth_int(64 * 1024).unwrap();
//! # let _ = layer;
//! ```

// How it works: the work is split so that plain `qop=auth` never pays for it. The
// `AuthIntLayer` (made by `DigestLayerBuilder::build_auth_int`) sits around the
// `DigestService`: for a
// request whose credentials (`Authorization`, or `Proxy-Authorization` in proxy mode)
// say `qop=auth-int` it first checks what the header alone can tell (the throttle, the
// nonce's MAC and age: `precheck.rs`), then reads the body (bounded in size, 413, and in
// time, 408), hands the bytes to the verification through the request extensions, and
// gives the inner service the same bytes as its body. The verification hashes them
// into `H(A2) = H(method:uri:H(entity-body))`. On success it cannot write `rspauth` yet:
// it leaves a `PendingRspauth` in the response extensions, and the outer stage buffers
// the response body (bounded too) and finishes `rspauth` over it, with
// `A2 = ":" uri ":" H(entity-body of the response)`.
//
// Requests that answer with `qop=auth` pass the outer stage untouched.

use bytes::Bytes;
use http::HeaderValue;

use crate::hash::{HashFunction, Hasher, finish_kd};
use crate::verify::info_header;

#[cfg(feature = "auth-int")]
mod body;
#[cfg(feature = "auth-int")]
mod layer;
#[cfg(feature = "auth-int")]
mod precheck;

#[cfg(feature = "auth-int")]
pub use body::AuthIntBody;
#[cfg(feature = "auth-int")]
pub use layer::{AuthInt, AuthIntLayer};

#[cfg(feature = "auth-int")]
pub use crate::future::AuthIntFuture;

/// The request body the outer stage read, for the verification to hash.
#[derive(Clone, Debug)]
pub(crate) struct CollectedBody(pub(crate) Bytes);

impl CollectedBody {
    pub(crate) fn hash(&self, hash: HashFunction) -> crate::hash::HexDigest {
        hash.hex_digest(&[&self.0])
    }
}

/// A verified `qop=auth-int` answer whose `rspauth` waits for the response body; left in
/// the response extensions by the service, taken out by the outer stage.
#[derive(Clone)]
#[cfg_attr(not(feature = "auth-int"), allow(dead_code))]
pub(crate) struct PendingRspauth {
    /// The `KD` state shared with the verified response: secret, never printed.
    pub(crate) prefix: Hasher,
    pub(crate) hash: HashFunction,
    pub(crate) uri: Vec<u8>,
    pub(crate) cnonce: Vec<u8>,
    pub(crate) nc: Vec<u8>,
    pub(crate) next_nonce: Option<String>,
}

#[cfg_attr(not(feature = "auth-int"), allow(dead_code))]
impl PendingRspauth {
    /// `Authentication-Info` for a response whose body is `body`; `None` when the body was
    /// too large to buffer, which leaves `rspauth` out (a client that checks it refuses
    /// the response, rightly: it is not protected).
    pub(crate) fn finish(&self, body: Option<&[u8]>) -> HeaderValue {
        let rspauth = body.map(|body| {
            let entity = self.hash.hex_digest(&[body]);
            finish_kd(&self.prefix, self.hash, b"", &self.uri, Some(&entity)).to_hex()
        });
        info_header(
            b"auth-int",
            rspauth.as_ref(),
            &self.cnonce,
            &self.nc,
            self.next_nonce.as_deref(),
        )
    }
}

impl std::fmt::Debug for PendingRspauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRspauth").finish_non_exhaustive()
    }
}

/// Whether this request answers with `qop=auth-int` in the credentials header of `mode`
/// (`Authorization`, or `Proxy-Authorization` for a proxy), so its body must be read
/// before it can be verified. Anything the parser refuses is left to the verification.
#[cfg(feature = "auth-int")]
pub(crate) fn claims_auth_int(parts: &http::request::Parts, mode: crate::AuthMode) -> bool {
    parts
        .headers
        .get(mode.credentials_header())
        .and_then(|value| crate::header::parse_authorization(value.as_bytes()).ok())
        .and_then(|params| params.qop)
        .is_some_and(|qop| qop.eq_ignore_ascii_case(b"auth-int"))
}
