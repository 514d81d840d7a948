//! Why a request was not let through, and the response that says so.

use http::{HeaderValue, Response, StatusCode, header};

/// Why the layer answered instead of the inner service.
///
/// The status follows DESIGN's contract: 400 for a request that is not a well-formed
/// Digest answer to our challenge, 401 (with a fresh challenge) for credentials that do not
/// authenticate, 429 for a client over its failed-login limit, 500 when the layer cannot
/// decide. Every 401 reason shares one response body, so an attacker learns nothing from
/// it: the logs carry the detail.
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
    /// Both `username` and `username*`, or `userhash=true`, which we never offer: 400.
    UnsupportedUsername,
    /// Wrong password or unknown user, which look the same: 401.
    BadCredentials,
    /// A nonce we never issued (bad tag, undecodable, other realm or key): 401.
    ForgedNonce,
    /// A genuine nonce issued to another client address: 401.
    ForeignNonce,
    /// A genuine nonce issued with another algorithm's challenge: 401.
    NonceAlgorithmMismatch,
    /// This `(nonce, nc)` was used before, or `nc` is below the replay window: 401.
    Replay,
    /// The nonce expired (or was forgotten) but the response was right: 401 with
    /// `stale=true`, so the client retries without asking the user.
    StaleNonce,
    /// The client's address (or its address and this username) is over its failed-login
    /// limit: 429, answered before any hashing or store lookup. The layer adds
    /// `Retry-After: retry_after_secs` and no challenge (RFC 6585 section 4; RFC 9110
    /// asks challenges only of a 401, and one would invite a browser to prompt for yet
    /// another password while the lock holds).
    Throttled {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The client's address is unknown, so no nonce can be bound to it: 500.
    UnknownClientIp,
    /// The credential or nonce store failed: 500.
    StoreFailure,
}

impl Rejection {
    /// The status of the response.
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
            | Rejection::UnsupportedUsername => StatusCode::BAD_REQUEST,
            Rejection::MissingCredentials
            | Rejection::BadCredentials
            | Rejection::ForgedNonce
            | Rejection::ForeignNonce
            | Rejection::NonceAlgorithmMismatch
            | Rejection::Replay
            | Rejection::StaleNonce => StatusCode::UNAUTHORIZED,
            Rejection::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::UnknownClientIp | Rejection::StoreFailure => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Whether the response carries `WWW-Authenticate` challenges (every 401 does).
    pub fn challenges(&self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED
    }

    /// Whether the challenges say `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, Rejection::StaleNonce)
    }

    /// A short text for the client: what to fix for a 400, the same words for every 401.
    pub fn public_message(&self) -> &'static str {
        match self {
            Rejection::Malformed(what) | Rejection::InvalidField(what) => what,
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
            | Rejection::StaleNonce => "authentication required",
            Rejection::Throttled { .. } => "too many failed logins; try again later",
            Rejection::UnknownClientIp | Rejection::StoreFailure => "internal server error",
        }
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
/// The layer adds the `WWW-Authenticate` challenges to every 401, and `Retry-After` to
/// every 429, afterwards, so an implementation cannot forget them. Closures `Fn(&Rejection) -> Response<B>` implement
/// it too:
///
/// ```
/// use http::{Response, header};
/// use tower_digest_auth::{DigestLayer, MemoryCredentials, Rejection};
///
/// let realm = "api@example.org";
/// let users = MemoryCredentials::new(realm, [("alice", "secret")]);
/// let layer = DigestLayer::builder(realm, users)
///     .rejection_response(|rejection: &Rejection| {
///         Response::builder()
///             .status(rejection.status())
///             .header(header::CONTENT_TYPE, "application/json")
///             .body(format!(r#"{{"error":"{}"}}"#, rejection.public_message()))
///             .unwrap()
///     })
///     .build()
///     .unwrap();
/// # let _: DigestLayer<_, _, _> = layer;
/// ```
pub trait RejectionResponse<B>: Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &Rejection) -> Response<B>;
}

impl<B, F> RejectionResponse<B> for F
where
    F: Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
{
    fn response(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default rejection: the status and [`Rejection::public_message`] as plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTextRejection;

impl<B: From<&'static str>> RejectionResponse<B> for PlainTextRejection {
    fn response(&self, rejection: &Rejection) -> Response<B> {
        let mut response = Response::new(B::from(rejection.public_message()));
        *response.status_mut() = rejection.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}
