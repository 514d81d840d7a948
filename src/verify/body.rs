//! `qop=auth-int`'s share of the verification: the request body to hash, and the
//! `rspauth` that waits for the response body. The outer stage (`auth_int`) fills the one
//! and finishes the other; verification itself never reads a body.

use bytes::Bytes;
use http::HeaderValue;

use super::info_header;
use crate::hash::{HashFunction, Hasher, HexDigest, finish_kd};

/// The request body the outer stage read, for the verification to hash.
#[derive(Clone, Debug)]
pub(crate) struct CollectedBody(pub(crate) Bytes);

impl CollectedBody {
    pub(crate) fn hash(&self, hash: HashFunction) -> HexDigest {
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
