//! `qop=auth-int` (RFC 7616 section 3.4.3), feature `auth-int`: the client's answer
//! covers the request body, and `rspauth` covers the response body.
//!
#![cfg_attr(feature = "auth-int", doc = include_str!("../docs/auth_int.md"))]
//!
//! The work is split so that plain `qop=auth` never pays for it. The
//! [`AuthIntLayer`] (made by
//! [`DigestLayerBuilder::build_auth_int`](crate::DigestLayerBuilder::build_auth_int),
//! `auth-int` feature) sits around the [`DigestService`](crate::DigestService): for a
//! request whose credentials (`Authorization`, or `Proxy-Authorization` in proxy mode)
//! say `qop=auth-int` it first checks what the header alone can tell (the throttle, the
//! nonce's MAC and age: `precheck.rs`), then reads the body (bounded in size, 413, and in
//! time, 408), hands the bytes to the verification through the request extensions, and
//! gives the inner service the same bytes as its body. The verification hashes them
//! into `H(A2) = H(method:uri:H(entity-body))`. On success it cannot write `rspauth` yet:
//! it leaves a `PendingRspauth` in the response extensions, and the outer stage buffers
//! the response body (bounded too) and finishes `rspauth` over it, with
//! `A2 = ":" uri ":" H(entity-body of the response)`.
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
