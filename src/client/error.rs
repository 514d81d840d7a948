//! What can go wrong on the client side: [`Error`] for a request through
//! [`DigestClient`](super::DigestClient), [`ChallengeError`] for a challenge that cannot be
//! answered.

/// The error of an inner service, boxed as Tower's middleware box them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request through [`DigestClient`](super::DigestClient) (or a step of the sans-I/O
/// core) failed.
///
/// A server's refusal is not an error: when the one retry is refused too (a wrong
/// password), the 401 or 407 is returned as the response. Errors are for what the caller
/// cannot act on from a status: the inner service failed, the server's challenge cannot
/// be answered, or the server failed to prove it knows the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The inner service (the HTTP client) failed; the source is its error, boxed.
    #[error("the inner service failed: {0}")]
    Inner(#[source] BoxError),
    /// The server asked for Digest authentication, but no challenge it sent can be
    /// answered (see [`ChallengeError`]).
    #[error("cannot answer the server's Digest challenge: {0}")]
    Challenge(#[from] ChallengeError),
    /// The server accepted the request, but the `rspauth` in its `Authentication-Info`
    /// (or `Proxy-Authentication-Info`) is not the one a server knowing the password
    /// computes: the response may come from an impostor or have been tampered with. The
    /// response is withheld, and the remembered nonce is forgotten.
    #[error("rspauth mismatch: the server did not prove that it knows the password")]
    RspauthMismatch,
    /// The server's `Authentication-Info` (or `Proxy-Authentication-Info`) could not be
    /// read; the text says why.
    #[error("malformed Authentication-Info: {0}")]
    MalformedInfo(&'static str),
    /// The challenge needs `qop=auth-int`, and the request body could not be hashed;
    /// the text says why (too large, failed to read, not at hand).
    #[error("cannot hash the request body for qop=auth-int: {0}")]
    Body(&'static str),
    /// The `uri` given to [`Session::answer`](super::Session::answer) holds control
    /// characters, which no header may carry.
    #[error("the request URI holds control characters")]
    InvalidUri,
}

impl Error {
    pub(crate) fn inner(error: impl Into<BoxError>) -> Self {
        Error::Inner(error.into())
    }
}

/// Why no challenge of a 401 or 407 could be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The response has no Digest challenge at all (none, or only Basic, Bearer, ...).
    /// [`DigestClient`](super::DigestClient) returns such a response as it is.
    #[error("no Digest challenge in the response")]
    NoDigestChallenge,
    /// A challenge header is not UTF-8.
    #[error("a challenge header is not UTF-8")]
    NotUtf8,
    /// A challenge header is longer than the 16 KiB the client reads.
    #[error("a challenge header is longer than 16 KiB")]
    TooLong,
    /// More challenges (or challenge header lines) than the client examines.
    #[error("more than {max} challenges or challenge headers", max = super::parse::MAX_CHALLENGES)]
    TooManyChallenges,
    /// A challenge header does not follow the `WWW-Authenticate` grammar (RFC 9110
    /// section 11.6.1); the text says where it went wrong.
    #[error("malformed challenge header: {0}")]
    Malformed(&'static str),
    /// Digest challenges were offered, but none that this client can answer; the text is
    /// the first one's reason (an unknown algorithm, an unknown `qop`, no nonce, ...).
    #[error("no supported Digest challenge: {0}")]
    Unsupported(&'static str),
}
