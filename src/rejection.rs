//! Why a request was not let through ([`Rejection`]), and the response that says so
//! ([`RejectionResponse`]: [`PlainTextRejection`] by default, or any function of the
//! rejection and the request head, set with
//! [`DigestLayerBuilder::rejection_response`](crate::DigestLayerBuilder::rejection_response)).
//!
//! ```
//! use http::StatusCode;
//! use tower_digest_auth::rejection::{PlainTextRejection, Rejection, RejectionResponse};
//!
//! let (head, ()) = http::Request::new(()).into_parts();
//! let response: http::Response<String> =
//!     PlainTextRejection.response(&Rejection::UnsupportedQop, &head);
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(response.body(), Rejection::UnsupportedQop.public_message());
//! ```
//!
#![doc = include_str!("docs/rejections.md")]

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};

/// Why the layer answered instead of the inner service.
///
/// The status follows the table in the [crate docs](crate): 400 for a request that is not a well-formed
/// Digest answer to our challenge, 401 (with a fresh challenge) for credentials that do not
/// authenticate, 403 for a user the route's authorizer refuses, 429 for a client over its
/// failed-login limit, 500 when a layer cannot decide. Every 401 reason shares one
/// response body, so an attacker learns nothing from it: the logs carry the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No `Authorization` header, or one with another scheme (Basic, Bearer): 401.
    MissingCredentials,
    /// The header is not a valid Digest parameter list: 400.
    Malformed(&'static str),
    /// A parameter appears twice: 400.
    DuplicateParameter(&'static str),
    /// A required parameter is missing: 400.
    MissingField(&'static str),
    /// A parameter has a value we cannot use (an `nc` that is not hex, say): 400.
    InvalidField(&'static str),
    /// `qop` is not `auth` (including no `qop` at all: RFC 2069 answers are refused): 400.
    UnsupportedQop,
    /// `algorithm` names one we did not offer: 400.
    UnsupportedAlgorithm,
    /// `realm` is not ours: 400.
    RealmMismatch,
    /// `opaque` is not the one we sent: 400.
    OpaqueMismatch,
    /// `uri` does not name the request's target: 400.
    UriMismatch,
    /// Both `username` and `username*`, or `userhash=true` when the layer does not offer
    /// it (or with `username*`): 400.
    UnsupportedUsername,
    /// Wrong password or unknown user, which look the same: 401.
    BadCredentials,
    /// A nonce we never issued (bad tag, undecodable, other realm or key): 401.
    ForgedNonce,
    /// A genuine nonce issued to an address outside the
    /// [`AddressBinding`](crate::nonce::AddressBinding), answered with the right password: the
    /// client's address changed. 401 with `stale=true`, so the client retries with a
    /// nonce for its new address without asking its user. (A wrong answer to such a nonce
    /// is [`BadCredentials`](Rejection::BadCredentials).)
    ForeignNonce,
    /// A genuine nonce issued with another algorithm's challenge: 401.
    NonceAlgorithmMismatch,
    /// This `(nonce, nc)` was used before: 401.
    Replay,
    /// The login this nonce carries was ended (a logout, or all of the user's logins
    /// ended; see [`AuthenticatedUser::end_login`](crate::AuthenticatedUser::end_login)):
    /// 401, not stale, so a browser asks its user again.
    LoginEnded,
    /// The response was right but the nonce can no longer be used: it expired, was
    /// issued against another nonce store (before a restart), was forgotten by the
    /// store, comes from before a clock step, or its `nc` fell below the replay window.
    /// 401 with `stale=true`, so the client retries without asking the user.
    StaleNonce,
    /// The connection comes from a trusted proxy whose forwarding header names no usable
    /// client (too many trusted hops, a hop that is not ASCII or not an address, no header
    /// at all), so no nonce can be bound to the client; or whose `X-Forwarded-Prefix`
    /// (read under [`forwarded_prefix`](crate::DigestLayerBuilder::forwarded_prefix)) is
    /// not one plain path: 400, with the reason.
    BadForwarding(&'static str),
    /// The client's address (or its address and this username) is over its failed-login
    /// limit: 429, answered before any hashing or store lookup. The layer adds
    /// `Retry-After: retry_after_secs` and no challenge (RFC 6585 section 4; RFC 9110
    /// asks challenges only of a 401, and one would invite a browser to prompt for yet
    /// another password while the lock holds).
    Throttled {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The request carries no peer address at all (the server does not pass
    /// `ConnectInfo` or [`PeerAddr`](crate::PeerAddr)), so no nonce can be bound to it: 500.
    UnknownClientIp,
    /// The credential or nonce store failed: 500.
    StoreFailure,
    /// Authenticated, but the route's [`AuthorizeLayer`](crate::authorize::AuthorizeLayer) refuses
    /// this user: 403, without a challenge (a 401 would make browsers ask again forever).
    Forbidden,
    /// The authorizer failed, or found no authenticated user because it does not sit
    /// inside a [`DigestLayer`](crate::DigestLayer): 500.
    AuthorizerFailure,
    /// A `qop=auth-int` request whose body is larger than the configured limit, refused
    /// before it is read whole: 413.
    PayloadTooLarge,
    /// A `qop=auth-int` request whose body did not arrive whole within the layer's body
    /// timeout (`AuthIntLayer::body_timeout`, feature `auth-int`): 408.
    BodyTimeout,
}

impl Rejection {
    /// The status of the response, for an origin server: a challenge is 401. In proxy
    /// mode the layer answers 407 instead; see [`status_in`](Rejection::status_in).
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Malformed(_)
            | Rejection::DuplicateParameter(_)
            | Rejection::MissingField(_)
            | Rejection::InvalidField(_)
            | Rejection::UnsupportedQop
            | Rejection::UnsupportedAlgorithm
            | Rejection::RealmMismatch
            | Rejection::OpaqueMismatch
            | Rejection::UriMismatch
            | Rejection::UnsupportedUsername
            | Rejection::BadForwarding(_) => StatusCode::BAD_REQUEST,
            Rejection::MissingCredentials
            | Rejection::BadCredentials
            | Rejection::ForgedNonce
            | Rejection::ForeignNonce
            | Rejection::NonceAlgorithmMismatch
            | Rejection::Replay
            | Rejection::LoginEnded
            | Rejection::StaleNonce => StatusCode::UNAUTHORIZED,
            Rejection::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::UnknownClientIp | Rejection::StoreFailure | Rejection::AuthorizerFailure => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Rejection::Forbidden => StatusCode::FORBIDDEN,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Whether the response carries challenges: every 401, in `WWW-Authenticate` (in
    /// proxy mode, every 407, in `Proxy-Authenticate`).
    pub fn challenges(&self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED
    }

    /// Whether the challenges say `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, Rejection::StaleNonce | Rejection::ForeignNonce)
    }

    /// A short text for the client: what to fix for a 400, the same words for every 401.
    pub fn public_message(&self) -> &'static str {
        match self {
            Rejection::Malformed(what)
            | Rejection::InvalidField(what)
            | Rejection::BadForwarding(what) => what,
            Rejection::DuplicateParameter(name) => duplicate_message(name),
            Rejection::MissingField(name) => missing_message(name),
            Rejection::UnsupportedQop => "qop must be \"auth\"",
            Rejection::UnsupportedAlgorithm => "algorithm was not offered",
            Rejection::RealmMismatch => "realm does not match",
            Rejection::OpaqueMismatch => "opaque does not match",
            Rejection::UriMismatch => "uri does not match the request target",
            Rejection::UnsupportedUsername => "send username only (no username*, no userhash=true)",
            Rejection::MissingCredentials
            | Rejection::BadCredentials
            | Rejection::ForgedNonce
            | Rejection::ForeignNonce
            | Rejection::NonceAlgorithmMismatch
            | Rejection::Replay
            | Rejection::LoginEnded
            | Rejection::StaleNonce => "authentication required",
            Rejection::Throttled { .. } => "too many failed logins; try again later",
            Rejection::UnknownClientIp | Rejection::StoreFailure | Rejection::AuthorizerFailure => {
                "internal server error"
            }
            Rejection::Forbidden => "forbidden",
            Rejection::PayloadTooLarge => "request body too large for auth-int",
            Rejection::BodyTimeout => "request body not received in time",
        }
    }
}

/// The [`public_message`](Rejection::public_message), as a client would read it.
///
/// ```
/// use tower_digest_auth::rejection::Rejection;
///
/// assert_eq!(Rejection::UriMismatch.to_string(), "uri does not match the request target");
/// ```
impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.public_message())
    }
}

fn missing_message(name: &str) -> &'static str {
    match name {
        "username" => "missing field: username",
        "realm" => "missing field: realm",
        "nonce" => "missing field: nonce",
        "uri" => "missing field: uri",
        "response" => "missing field: response",
        "nc" => "missing field: nc",
        "cnonce" => "missing field: cnonce",
        _ => "missing field",
    }
}

fn duplicate_message(name: &str) -> &'static str {
    match name {
        "username" => "duplicate parameter: username",
        "realm" => "duplicate parameter: realm",
        "nonce" => "duplicate parameter: nonce",
        "uri" => "duplicate parameter: uri",
        "response" => "duplicate parameter: response",
        "algorithm" => "duplicate parameter: algorithm",
        "qop" => "duplicate parameter: qop",
        "nc" => "duplicate parameter: nc",
        "cnonce" => "duplicate parameter: cnonce",
        "opaque" => "duplicate parameter: opaque",
        "username*" => "duplicate parameter: username*",
        "userhash" => "duplicate parameter: userhash",
        _ => "duplicate parameter",
    }
}

/// Builds the response for a [`Rejection`]; replace it to answer in JSON, HTML, etc.
///
/// It sees the request's head (method, URI, headers such as `Accept`), so one hook can
/// answer a browser with HTML and an API client with JSON. The layer adds the
/// `WWW-Authenticate` challenges to every 401, and `Retry-After` to every 429,
/// afterwards, so an implementation cannot forget them. In [proxy mode](crate::AuthMode::Proxy)
/// the layer also turns that 401 into 407 and puts the challenges in `Proxy-Authenticate`:
/// a hook that answers with [`Rejection::status`] serves both modes unchanged. Give the same implementation to
/// [`AuthorizeLayer::rejection_response`](crate::authorize::AuthorizeLayer::rejection_response) and
/// it shapes the 403 too. Closures `Fn(&Rejection, &http::request::Parts) -> Response<B>`
/// implement it too. With axum the body type is `axum::body::Body`:
///
/// ```
/// use axum::body::Body;
/// use axum::{Router, routing::get};
/// use http::{Response, header, request::Parts};
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
/// use tower_digest_auth::rejection::Rejection;
///
/// fn rejection(rejection: &Rejection, request: &Parts) -> Response<Body> {
///     let wants_json = request
///         .headers
///         .get(header::ACCEPT)
///         .and_then(|accept| accept.to_str().ok())
///         .is_some_and(|accept| accept.contains("application/json"));
///     // public_message() is fixed text, safe to show any client; serde_json escapes it
///     // all the same, as any text put into JSON should be.
///     let message = rejection.public_message();
///     let (content_type, body) = if wants_json {
///         ("application/json", serde_json::json!({ "error": message }).to_string())
///     } else {
///         ("text/plain; charset=utf-8", format!("{}: {message}", rejection.status()))
///     };
///     Response::builder()
///         .status(rejection.status())
///         .header(header::CONTENT_TYPE, content_type)
///         .body(Body::from(body))
///         .unwrap()
/// }
///
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
/// let layer = DigestLayer::builder(realm, users)
///     .rejection_response(rejection)
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
/// # let _ = app;
///
/// // A message with quotes in it is still valid JSON.
/// let (request, ()) = http::Request::builder()
///     .header(header::ACCEPT, "application/json")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let response = rejection(&Rejection::UnsupportedQop, &request);
/// # let body = tokio::runtime::Runtime::new().unwrap()
/// #     .block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
/// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(json["error"], r#"qop must be "auth""#);
/// ```
pub trait RejectionResponse<B>: Send + Sync + 'static {
    /// The response for `rejection` of the request whose head is `request`.
    fn response(&self, rejection: &Rejection, request: &Parts) -> Response<B>;
}

impl<B, F> RejectionResponse<B> for F
where
    F: Fn(&Rejection, &Parts) -> Response<B> + Send + Sync + 'static,
{
    fn response(&self, rejection: &Rejection, request: &Parts) -> Response<B> {
        self(rejection, request)
    }
}

/// The default rejection: the status and [`Rejection::public_message`] as plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTextRejection;

impl<B: From<&'static str>> RejectionResponse<B> for PlainTextRejection {
    fn response(&self, rejection: &Rejection, _request: &Parts) -> Response<B> {
        let mut response = Response::new(B::from(rejection.public_message()));
        *response.status_mut() = rejection.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}
