//! HTTP Basic beside Digest, opt-in ([`BasicAuth`], set with
//! [`DigestLayerBuilder::basic`](crate::DigestLayerBuilder::basic)): for the clients that
//! speak nothing else, checked against the same credential store, throttle and users.
//! [`TlsConnection`] tells the layer a request came over TLS, and [`AuthScheme`] tells a
//! handler which scheme authenticated its user.
//!
//! ```
//! use tower_digest_auth::basic::{AuthScheme, BasicAuth};
//! use tower_digest_auth::{AuthenticatedUser, DigestLayer, MemoryCredentials};
//!
//! let realm = "api@example.org";
//! let users = MemoryCredentials::new(realm, [("alice", "s3cret")]);
//! // Basic for requests that came over TLS; Digest everywhere.
//! let layer = DigestLayer::builder(realm, users).basic(BasicAuth::OverTls).build()?;
//!
//! async fn whoami(user: AuthenticatedUser) -> String {
//!     let how = if user.scheme() == AuthScheme::Basic { "Basic" } else { "Digest" };
//!     format!("{} (by {how})", user.username())
//! }
//! # let _ = (layer, whoami);
//! # Ok::<(), tower_digest_auth::ConfigError>(())
//! ```
//!
#![doc = include_str!("docs/basic.md")]

mod check;
mod parse;

pub(crate) use check::matching_hash;
pub(crate) use parse::{BasicCredentials, is_basic, parse_basic};

use http::HeaderValue;
use http::request::Parts;

use crate::client_ip::ClientIpSource;
use crate::config::quote_escape;
use crate::hash::Algorithm;

/// Whether, and where, the layer accepts HTTP Basic credentials (RFC 7617) beside Digest;
/// set with [`DigestLayerBuilder::basic`](crate::DigestLayerBuilder::basic).
///
/// Basic sends the password itself with every request (base64 is no encryption), so it
/// is as safe as the connection: [`OverTls`](BasicAuth::OverTls) accepts it only on
/// requests the layer knows came over TLS, and offers it only there (`Basic realm=...`
/// after the Digest challenges); elsewhere a Basic answer is treated as no credentials at
/// all. See the [module documentation](crate::basic) for how the layer knows.
///
/// ```
/// use tower_digest_auth::basic::BasicAuth;
///
/// assert_eq!(BasicAuth::default(), BasicAuth::Off);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BasicAuth {
    /// Digest only (the default): a Basic answer is treated as no credentials.
    #[default]
    Off,
    /// Basic beside Digest on requests that came over TLS: a [`TlsConnection`] in the
    /// request's extensions, or a trusted proxy's `X-Forwarded-Proto: https` /
    /// `Forwarded: proto=https`.
    OverTls,
    /// Basic beside Digest on every request, plain HTTP included: **anyone who can watch
    /// the traffic reads the password** (and can then log in with Digest too, since it is
    /// the same password). Only for a network you trust end to end: a loopback test, a
    /// TLS-terminating proxy on the same host whose headers you cannot configure.
    AlsoPlainHttp,
}

/// Marks a request that arrived on a TLS connection: insert it into the request's
/// extensions where your server accepts TLS, for [`BasicAuth::OverTls`].
///
/// Only your server knows how a connection was made: the request itself cannot say it.
/// A client chooses its request-target's scheme (`GET https://host/ HTTP/1.1` over plain
/// TCP, or `:scheme: https` over cleartext HTTP/2), so the layer never reads it; a
/// forwarding header counts only from a trusted proxy.
///
/// ```
/// use tower_digest_auth::basic::TlsConnection;
///
/// // In the accept loop, for each request of a connection that did a TLS handshake
/// // (see `suite/examples/tls.rs`):
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(TlsConnection);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TlsConnection;

/// Which scheme authenticated an [`AuthenticatedUser`](crate::AuthenticatedUser)
/// ([`scheme`](crate::AuthenticatedUser::scheme)).
///
/// ```
/// use tower_digest_auth::basic::AuthScheme;
/// use tower_digest_auth::{Algorithm, AuthenticatedUser};
///
/// let user = AuthenticatedUser::new("alice", "realm", Algorithm::Sha256);
/// assert_eq!(user.scheme(), AuthScheme::Digest);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// HTTP Digest (RFC 7616), the layer's own.
    #[default]
    Digest,
    /// HTTP Basic (RFC 7617), under [`BasicAuth`]: the client sent its password.
    Basic,
}

/// A layer's Basic settings, when Basic is on.
#[derive(Debug)]
pub(crate) struct BasicConfig {
    /// [`BasicAuth::OverTls`] or [`BasicAuth::AlsoPlainHttp`].
    policy: BasicAuth,
    /// `Basic realm="...", charset="UTF-8"`, the last challenge where Basic is offered.
    challenge: HeaderValue,
    /// One algorithm per hash function the layer's algorithms use, the first of each in
    /// configured order: whose `HA1`s a password is checked against, and the algorithm a
    /// Basic user reports.
    algorithms: Vec<Algorithm>,
}

impl BasicConfig {
    /// The settings for `policy` (`None` for [`BasicAuth::Off`]) in `realm` (already
    /// checked for control characters), over the layer's `algorithms`.
    pub(crate) fn new(policy: BasicAuth, realm: &str, algorithms: &[Algorithm]) -> Option<Self> {
        if policy == BasicAuth::Off {
            return None;
        }
        // charset (RFC 7617 section 2.1): the only value allowed, and the one the HA1s
        // were computed in; without it some clients send Latin-1.
        let challenge = format!("Basic realm=\"{}\", charset=\"UTF-8\"", quote_escape(realm));
        let challenge =
            HeaderValue::try_from(challenge).expect("the realm has no control characters");
        let mut distinct: Vec<Algorithm> = Vec::new();
        for &algorithm in algorithms {
            let hash = algorithm.hash_function();
            if !distinct.iter().any(|seen| seen.hash_function() == hash) {
                distinct.push(algorithm);
            }
        }
        Some(BasicConfig {
            policy,
            challenge,
            algorithms: distinct,
        })
    }

    /// Whether Basic is offered and accepted on this request.
    pub(crate) fn allowed(&self, parts: &Parts, client_ip: &ClientIpSource) -> bool {
        match self.policy {
            BasicAuth::AlsoPlainHttp => true,
            _ => over_tls(parts, client_ip),
        }
    }

    pub(crate) fn challenge(&self) -> &HeaderValue {
        &self.challenge
    }

    pub(crate) fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
}

/// Whether the request came over TLS, as far as the layer can know: the server said so
/// ([`TlsConnection`]), or a trusted proxy did.
fn over_tls(parts: &Parts, client_ip: &ClientIpSource) -> bool {
    parts.extensions.get::<TlsConnection>().is_some() || client_ip.proxy_says_https(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_algorithm_per_hash_function_in_configured_order() {
        use Algorithm::{Md5, Md5Sess, Sha256, Sha256Sess, Sha512_256Sess};
        let basic = |algorithms: &[Algorithm]| {
            BasicConfig::new(BasicAuth::OverTls, "realm", algorithms)
                .unwrap()
                .algorithms
        };
        assert_eq!(basic(&[Sha256, Md5]), [Sha256, Md5]);
        assert_eq!(
            basic(&[Sha256Sess, Sha256, Md5Sess, Md5]),
            [Sha256Sess, Md5Sess]
        );
        assert_eq!(basic(&[Sha512_256Sess, Md5]), [Sha512_256Sess, Md5]);
        assert!(BasicConfig::new(BasicAuth::Off, "realm", &[Sha256]).is_none());
    }

    #[test]
    fn the_challenge_quotes_the_realm_and_names_utf8() {
        let basic = BasicConfig::new(BasicAuth::AlsoPlainHttp, r#"say "hi""#, &[Algorithm::Md5]);
        assert_eq!(
            basic.unwrap().challenge(),
            r#"Basic realm="say \"hi\"", charset="UTF-8""#
        );
    }

    #[test]
    fn over_tls_only_with_the_marker_or_a_trusted_proxy() {
        let (mut parts, ()) = http::Request::builder()
            .uri("https://example.org/")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap()
            .into_parts();
        let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 4000));
        parts.extensions.insert(crate::PeerAddr(peer));
        let basic = BasicConfig::new(BasicAuth::OverTls, "realm", &[Algorithm::Sha256]).unwrap();
        // An https target and a forwarding header from a peer that is no trusted proxy.
        assert!(!basic.allowed(&parts, &ClientIpSource::Connection));
        let trusted = ClientIpSource::XForwardedFor(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(basic.allowed(&parts, &trusted));
        parts.headers.remove("x-forwarded-proto");
        assert!(!basic.allowed(&parts, &trusted));
        parts.extensions.insert(TlsConnection);
        assert!(basic.allowed(&parts, &ClientIpSource::Connection));
        let plain = BasicConfig::new(BasicAuth::AlsoPlainHttp, "realm", &[Algorithm::Md5]).unwrap();
        let (bare, ()) = http::Request::new(()).into_parts();
        assert!(plain.allowed(&bare, &ClientIpSource::Connection));
    }
}
