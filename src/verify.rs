//! The decisions, as pure functions: from a request to an [`Answer`] (parsing, no
//! hashing), from an answer to an [`Attempt`] (the nonce MAC), and from an attempt plus
//! the user's `HA1` to a verdict. The service only adds the store calls between them
//! (the failed-login throttle goes between the first two, before any hashing).

mod body;
mod info;
mod parse;

pub(crate) use body::{CollectedBody, PendingRspauth};
pub(crate) use info::info_header;
pub(crate) use parse::parse_answer;

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderValue;
use subtle::ConstantTimeEq;

use crate::clock::{MAX_CLOCK_SKEW, from_unix_secs, unix_secs};
use crate::config::Config;
use crate::credentials::Ha1;
use crate::hash::{Algorithm, DigestInput, Hasher, HexDigest, RawDigest};
use crate::hash::{finish_kd, finish_kd_with, ha2_pair};
use crate::nonce::{EpochSource, IssuedNonce, NonceError, expiry, remaining_life};
use crate::rejection::Rejection;

/// A well-formed answer to a challenge, whose nonce is not checked yet: everything known
/// without hashing.
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    /// As sent: with `userhash`, the hash (normalised to lowercase hex), which the
    /// credential store maps back to a name.
    pub(crate) username: Cow<'a, str>,
    /// Whether `username` is `H(username:realm)` (RFC 7616 section 3.4.4).
    pub(crate) hashed_username: bool,
    pub(crate) algorithm: Algorithm,
    pub(crate) nc: u64,
    response: RawDigest,
    raw_nonce: Cow<'a, [u8]>,
    raw_nc: Cow<'a, [u8]>,
    cnonce: Cow<'a, [u8]>,
    qop: Cow<'a, [u8]>,
    uri: Cow<'a, [u8]>,
    /// The request body, for `qop=auth-int` (hashed only once the nonce verified).
    entity: Option<&'a CollectedBody>,
}

/// What proves the server to the client, for `Authentication-Info`: `rspauth` at once
/// (`qop=auth`), or once the response body is known (`qop=auth-int`).
pub(crate) enum AuthInfo {
    Header(HeaderValue),
    AfterBody(Box<PendingRspauth>),
}

/// An [`Answer`] with a genuine nonce; what is left is the password check, then the
/// client's address (see `from_elsewhere`), the age and the replay check.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    pub(crate) answer: &'a Answer<'a>,
    pub(crate) nonce: IssuedNonce,
    /// The nonce is genuine but was issued to an address outside the binding: the
    /// response is still checked (a right one means the client moved, and gets
    /// `stale=true`), but the request is never accepted.
    pub(crate) from_elsewhere: bool,
}

impl<'a> Answer<'a> {
    /// The nonce as sent.
    pub(crate) fn raw_nonce(&self) -> &[u8] {
        &self.raw_nonce
    }

    /// Checks the nonce's MAC (in constant time): one we issued, for this algorithm, to
    /// this client or (an [`Attempt::from_elsewhere`], which is never accepted) to an
    /// address outside the binding.
    pub(crate) fn check_nonce(
        &'a self,
        config: &Config,
        client: IpAddr,
    ) -> Result<Attempt<'a>, Rejection> {
        let (nonce, from_elsewhere) = match config.signer.check(&self.raw_nonce, client) {
            Ok(nonce) => (nonce, false),
            Err(NonceError::Forged) => return Err(Rejection::ForgedNonce),
            // Its answer decides: stale when right (the client moved), a failure if not.
            Err(NonceError::OtherClient) => match config.signer.check_foreign(&self.raw_nonce) {
                Some(nonce) => (nonce, true),
                None => return Err(Rejection::ForgedNonce),
            },
        };
        if nonce.algorithm != self.algorithm {
            return Err(Rejection::NonceAlgorithmMismatch);
        }
        Ok(Attempt {
            answer: self,
            nonce,
            from_elsewhere,
        })
    }
}

impl Attempt<'_> {
    fn input(&self) -> DigestInput<'_> {
        let answer = self.answer;
        DigestInput {
            algorithm: answer.algorithm,
            nonce: &answer.raw_nonce,
            nc: &answer.raw_nc,
            cnonce: &answer.cnonce,
            qop: &answer.qop,
            uri: &answer.uri,
        }
    }

    /// Checks the response against the user's `HA1` (or, for an unknown user, against a
    /// dummy one, so both failures cost the same) in constant time. On success returns
    /// `rspauth`, finished from the `KD` prefix it shares with the response.
    pub(crate) fn check_response(
        &self,
        ha1: Option<&Ha1>,
        dummy: &HexDigest,
        method: &[u8],
    ) -> Result<Verified, Rejection> {
        let known = ha1.is_some();
        let input = self.input();
        let key = input.session_key(ha1.map_or(dummy, Ha1::digest));
        let prefix = input.kd_prefix(&key);
        let hash = self.answer.algorithm.hash_function();
        // auth-int: the request body's hash, computed only now, after the throttle and
        // the nonce check.
        let (expected, rspauth_ha2) = match self.answer.entity {
            // Both HA2s from one lookup: rspauth's is kept for authentication_info.
            None => {
                let [ha2, rspauth_ha2] = ha2_pair(hash, method, &self.answer.uri);
                (finish_kd_with(&prefix, &ha2), Some(rspauth_ha2))
            }
            Some(body) => {
                let entity_hash = body.hash(hash);
                let expected =
                    finish_kd(&prefix, hash, method, &self.answer.uri, Some(&entity_hash));
                (expected, None)
            }
        };
        let matches = expected.ct_eq(&self.answer.response);
        if known & bool::from(matches) {
            Ok(Verified {
                prefix,
                rspauth_ha2,
            })
        } else {
            Err(Rejection::BadCredentials)
        }
    }

    /// Seconds since the nonce was issued, if it is still usable; `StaleNonce` when the
    /// client must retry with a fresh one (asked only of a verified response, so a stale
    /// answer never tells an attacker anything):
    /// - its lifetime is over: accepted only while `age < lifetime`, to the millisecond
    ///   of our clock ([`remaining_life`], the boundary the stores use too);
    /// - issued more than [`MAX_CLOCK_SKEW`] in our future: the MAC verifies, so we issued
    ///   it, and our clock has stepped back since; its age cannot be told;
    /// - issued against a nonce store epoch the store no longer accepts (before a restart,
    ///   by the old side of a deploy): this store cannot know its past uses.
    pub(crate) fn fresh_age(
        &self,
        now: SystemTime,
        lifetime_secs: u64,
        epochs: &dyn EpochSource,
    ) -> Result<u64, Rejection> {
        let issued_at = self.nonce.issued_at;
        let expired = remaining_life(expiry(issued_at, lifetime_secs), now).is_none();
        let from_the_future = now
            .checked_add(MAX_CLOCK_SKEW)
            .is_some_and(|latest| from_unix_secs(issued_at) > latest);
        if expired || from_the_future || !epochs.accepts(self.nonce.epoch) {
            return Err(Rejection::StaleNonce);
        }
        Ok(unix_secs(now).saturating_sub(issued_at))
    }

    /// `Authentication-Info` for a success: `rspauth` proves to the client that we know
    /// its `HA1` too; `nextnonce` hands over a fresh nonce before this one expires. For
    /// `qop=auth-int`, `rspauth` covers the response body, so it waits for it.
    pub(crate) fn authentication_info(
        &self,
        verified: Verified,
        next_nonce: Option<String>,
    ) -> AuthInfo {
        let hash = self.answer.algorithm.hash_function();
        if self.answer.entity.is_some() {
            return AuthInfo::AfterBody(Box::new(PendingRspauth {
                prefix: verified.prefix,
                hash,
                uri: self.answer.uri.to_vec(),
                cnonce: self.answer.cnonce.to_vec(),
                nc: self.answer.raw_nc.to_vec(),
                next_nonce,
            }));
        }
        let rspauth = match &verified.rspauth_ha2 {
            Some(ha2) => finish_kd_with(&verified.prefix, ha2),
            None => finish_kd(&verified.prefix, hash, b"", &self.answer.uri, None),
        }
        .to_hex();
        AuthInfo::Header(info_header(
            b"auth",
            Some(&rspauth),
            &self.answer.cnonce,
            &self.answer.raw_nc,
            next_nonce.as_deref(),
        ))
    }
}

/// A verified response: the `KD` state that `rspauth` finishes. It is derived from the
/// user's `HA1`, so it is as secret as the password for this `(nonce, nc)`.
pub(crate) struct Verified {
    prefix: Hasher,
    /// `H(:uri)`, found with the response's own `HA2` (not for auth-int).
    rspauth_ha2: Option<HexDigest>,
}
