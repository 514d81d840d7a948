//! Whom the layer authenticates for: the origin server, or a proxy (RFC 9110 section 11).
//!
//! The two differ only in names and one status, so the difference is data that the
//! service, the verifier and the rejection read; there is one code path for both.

use http::header::{AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, StatusCode};

use crate::rejection::Rejection;

/// RFC 7615's headers, which `http` has no constants for.
static AUTHENTICATION_INFO: HeaderName = HeaderName::from_static("authentication-info");
static PROXY_AUTHENTICATION_INFO: HeaderName = HeaderName::from_static("proxy-authentication-info");

/// Whether the layer protects an origin server (the default) or is a proxy's
/// authentication; set it with [`DigestLayerBuilder::mode`](crate::DigestLayerBuilder::mode).
///
/// | | [`Origin`](AuthMode::Origin) | [`Proxy`](AuthMode::Proxy) |
/// |---|---|---|
/// | challenge status | 401 Unauthorized | 407 Proxy Authentication Required |
/// | challenges in | `WWW-Authenticate` | `Proxy-Authenticate` |
/// | credentials from | `Authorization` | `Proxy-Authorization` |
/// | on success | `Authentication-Info` | `Proxy-Authentication-Info` |
///
/// Everything else (nonces, replay checks, `stale`, the 400s, logging) is the same. In
/// proxy mode the layer also removes `Proxy-Authorization` before the request goes on:
/// the credentials were for this proxy, not for the next hop. An `Authorization` header
/// is the origin server's business and passes through untouched.
///
/// ```
/// use http::StatusCode;
/// use tower_digest_auth::AuthMode;
///
/// assert_eq!(AuthMode::Proxy.challenge_status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
/// assert_eq!(AuthMode::Proxy.credentials_header(), "proxy-authorization");
/// assert_eq!(AuthMode::default(), AuthMode::Origin);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// Authentication to the origin server: 401, `WWW-Authenticate`, `Authorization`.
    #[default]
    Origin,
    /// Authentication to a proxy: 407, `Proxy-Authenticate`, `Proxy-Authorization`.
    Proxy,
}

impl AuthMode {
    /// The status of a response that challenges: 401 or 407.
    pub fn challenge_status(self) -> StatusCode {
        match self {
            AuthMode::Origin => StatusCode::UNAUTHORIZED,
            AuthMode::Proxy => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        }
    }

    /// The header the challenges go in: `WWW-Authenticate` or `Proxy-Authenticate`.
    pub fn challenge_header(self) -> &'static HeaderName {
        match self {
            AuthMode::Origin => &WWW_AUTHENTICATE,
            AuthMode::Proxy => &PROXY_AUTHENTICATE,
        }
    }

    /// The header the client's credentials come in: `Authorization` or
    /// `Proxy-Authorization`.
    pub fn credentials_header(self) -> &'static HeaderName {
        match self {
            AuthMode::Origin => &AUTHORIZATION,
            AuthMode::Proxy => &PROXY_AUTHORIZATION,
        }
    }

    /// The header a success carries `rspauth` in: `Authentication-Info` or
    /// `Proxy-Authentication-Info` (RFC 7615).
    pub fn info_header(self) -> &'static HeaderName {
        match self {
            AuthMode::Origin => &AUTHENTICATION_INFO,
            AuthMode::Proxy => &PROXY_AUTHENTICATION_INFO,
        }
    }

    /// Removes the credentials this layer consumed before the request goes on: a proxy's
    /// `Proxy-Authorization` was for this hop only (RFC 9110 section 11.7.2). An origin
    /// server's `Authorization` stays, as it always has, for the application to see.
    pub(crate) fn remove_consumed_credentials(self, headers: &mut HeaderMap) {
        if self == AuthMode::Proxy {
            headers.remove(PROXY_AUTHORIZATION);
        }
    }

    /// The 400 reason for a request with two credentials headers.
    pub(crate) fn duplicate_credentials(self) -> Rejection {
        Rejection::Malformed(match self {
            AuthMode::Origin => "more than one Authorization header",
            AuthMode::Proxy => "more than one Proxy-Authorization header",
        })
    }
}

impl Rejection {
    /// The status of the response in `mode`: [`status`](Rejection::status), with the
    /// 401 of a challenge turned into 407 in [`AuthMode::Proxy`].
    ///
    /// A [`RejectionResponse`](crate::rejection::RejectionResponse) may use either: in proxy mode
    /// the layer turns a 401 it returns for a challenging rejection into 407, so a hook
    /// written for an origin server is right for a proxy too.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_digest_auth::AuthMode;
    /// use tower_digest_auth::rejection::Rejection;
    ///
    /// let missing = Rejection::MissingCredentials;
    /// assert_eq!(missing.status_in(AuthMode::Proxy), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    /// assert_eq!(Rejection::UriMismatch.status_in(AuthMode::Proxy), StatusCode::BAD_REQUEST);
    /// ```
    pub fn status_in(&self, mode: AuthMode) -> StatusCode {
        if self.challenges() {
            mode.challenge_status()
        } else {
            self.status()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modes_differ_only_in_names_and_status() {
        let origin = AuthMode::Origin;
        let proxy = AuthMode::Proxy;
        assert_eq!(
            (origin.challenge_status(), proxy.challenge_status()),
            (
                StatusCode::UNAUTHORIZED,
                StatusCode::PROXY_AUTHENTICATION_REQUIRED
            )
        );
        let names = |mode: AuthMode| {
            [
                mode.challenge_header().as_str(),
                mode.credentials_header().as_str(),
                mode.info_header().as_str(),
            ]
        };
        assert_eq!(
            names(origin),
            ["www-authenticate", "authorization", "authentication-info"]
        );
        assert_eq!(
            names(proxy),
            [
                "proxy-authenticate",
                "proxy-authorization",
                "proxy-authentication-info"
            ]
        );
        for rejection in [Rejection::StaleNonce, Rejection::BadCredentials] {
            assert_eq!(rejection.status_in(origin), StatusCode::UNAUTHORIZED);
            assert_eq!(
                rejection.status_in(proxy),
                StatusCode::PROXY_AUTHENTICATION_REQUIRED
            );
        }
        for rejection in [Rejection::UriMismatch, Rejection::StoreFailure] {
            assert_eq!(rejection.status_in(proxy), rejection.status());
        }
    }
}
