//! The outer stage of `qop=auth-int`: reads request bodies before the verification and
//! response bodies after it, both bounded.

use std::fmt;
use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower::{Layer, Service};

use super::body::AuthIntBody;
use super::claims_auth_int;
use super::precheck::{HeaderCheck, check_header};
use crate::credentials::CredentialStore;
use crate::future::AuthIntFuture;
use crate::layer::DigestLayer;
use crate::macros::{define_inner_service_accessors, take_ready};
use crate::mode::AuthMode;
use crate::nonce::{MemoryNonceStore, NonceStore};
use crate::rejection::{PlainTextRejection, Rejection, RejectionResponse};
use crate::service::{DigestService, Shared};
use crate::throttle::{FailureStore, MemoryFailureStore};
use crate::verify::{CollectedBody, PendingRspauth};

/// A [`DigestLayer`] that also offers `qop=auth-int`; made by
/// [`DigestLayerBuilder::build_auth_int`](crate::DigestLayerBuilder::build_auth_int).
///
/// It wraps the service in [`AuthInt`] around a [`DigestService`]. The bodies it reads must
/// be rebuilt for the inner service, so the request body type needs `From<Bytes>`
/// (axum's `Body` has it; with hyper's `Incoming`, map the body to a boxed or axum body
/// first), and the response body must yield `Bytes` and be `Unpin` (axum's and hyper's
/// bodies are). The
/// response body becomes [`AuthIntBody`], which axum serves like any other.
///
/// What it costs, and only for requests that answer with `qop=auth-int`:
/// - the header is checked first, as far as it can be without the body: a client over
///   its failed-login limit gets 429, a nonce we did not issue to it 401, an expired one
///   401 with `stale=true`, all without a byte of the body read (nor `100 Continue`
///   sent). These checks count nothing and ask no credential store.
/// - then the request body is read whole into memory before the verification, up to the
///   limit: a larger one gets 413 (at once when `Content-Length` says so), and a body
///   without a length is counted as it arrives. Request trailers are not passed on.
/// - a body that does not arrive whole within the [body timeout](Self::body_timeout)
///   (30 seconds by default) gets 408, so a client trickling its body cannot hold the
///   buffer for long. The timer is Tokio's: serve from a Tokio runtime with its time
///   driver on, as axum's and hyper-util's servers do.
/// - the response body is read whole into memory to compute `rspauth`, up to the same
///   limit; a larger one is sent as it comes, with `Authentication-Info` but without
///   `rspauth`, so a client that checks it knows the response was not protected.
///
/// In [proxy mode](crate::AuthMode::Proxy) the answer comes in `Proxy-Authorization`
/// and `rspauth` goes in `Proxy-Authentication-Info`, as for `qop=auth`. Answers with
/// `qop=auth` pass through untouched.
///
/// ```
/// use tower_digest_auth::{DigestLayer, MemoryCredentials};
///
/// let realm = "http-auth@example.org";
/// let users = MemoryCredentials::new(realm, [("Mufasa", "Circle of Life")]);
/// let app: axum::Router = axum::Router::new()
///     .route("/upload", axum::routing::put(|body: axum::body::Bytes| async move { body.len().to_string() }))
///     .layer(DigestLayer::builder(realm, users).build_auth_int(1024 * 1024).unwrap());
/// # let _ = app;
/// ```
#[must_use]
pub struct AuthIntLayer<C, N = MemoryNonceStore, R = PlainTextRejection, F = MemoryFailureStore> {
    digest: DigestLayer<C, N, R, F>,
    body_timeout: Duration,
}

impl<C, N, R, F> AuthIntLayer<C, N, R, F> {
    /// How long a request body may take to arrive whole unless
    /// [`body_timeout`](Self::body_timeout) says otherwise: 30 seconds, which a client
    /// on a slow link sending up to the body limit should meet, and which bounds how
    /// long a client can hold a buffer by trickling.
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

    pub(crate) fn new(digest: DigestLayer<C, N, R, F>) -> Self {
        AuthIntLayer {
            digest,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
        }
    }

    /// The longest a `qop=auth-int` request body may take to arrive whole, counted from
    /// when the layer starts reading it; past it the answer is `408 Request Timeout`
    /// (logged at info). Raise it with the body limit for slow clients; a zero timeout
    /// refuses every body that is not already there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users)
    ///     .build_auth_int(64 * 1024)
    ///     .unwrap()
    ///     .body_timeout(Duration::from_secs(10));
    /// # let _ = layer;
    /// ```
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

impl<C, N, R, F> Clone for AuthIntLayer<C, N, R, F> {
    fn clone(&self) -> Self {
        AuthIntLayer {
            digest: self.digest.clone(),
            body_timeout: self.body_timeout,
        }
    }
}

impl<C, N, R, F> fmt::Debug for AuthIntLayer<C, N, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthIntLayer")
            .field("digest", &self.digest)
            .field("body_timeout", &self.body_timeout)
            .finish()
    }
}

impl<S, C, N, R, F> Layer<S> for AuthIntLayer<C, N, R, F> {
    type Service = AuthInt<DigestService<S, C, N, R, F>, C, N, R, F>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthInt {
            inner: self.digest.layer(inner),
            shared: Arc::clone(&self.digest.shared),
            body_timeout: self.body_timeout,
        }
    }
}

/// The service of an [`AuthIntLayer`]: reads the bodies of `qop=auth-int` exchanges
/// around the [`DigestService`] inside it.
#[must_use]
pub struct AuthInt<S, C, N, R, F = MemoryFailureStore> {
    inner: S,
    shared: Arc<Shared<C, N, R, F>>,
    body_timeout: Duration,
}

impl<S, C, N, R, F> AuthInt<S, C, N, R, F> {
    define_inner_service_accessors!();
}

impl<S: Clone, C, N, R, F> Clone for AuthInt<S, C, N, R, F> {
    fn clone(&self) -> Self {
        AuthInt {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            body_timeout: self.body_timeout,
        }
    }
}

impl<S: fmt::Debug, C, N, R, F> fmt::Debug for AuthInt<S, C, N, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInt")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R, F, ReqBody, ResBody> Service<Request<ReqBody>> for AuthInt<S, C, N, R, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
    F: FailureStore,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ResBody: Body<Data = Bytes> + Unpin + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<AuthIntBody<ResBody>>;
    type Error = S::Error;
    type Future = AuthIntFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        let shared = Arc::clone(&self.shared);
        AuthIntFuture {
            inner: Box::pin(handle(shared, self.body_timeout, inner, request)),
        }
    }
}

async fn handle<S, C, N, R, F, ReqBody, ResBody>(
    shared: Arc<Shared<C, N, R, F>>,
    body_timeout: Duration,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<AuthIntBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponse<ResBody>,
    F: FailureStore,
    ReqBody: Body + From<Bytes>,
    ResBody: Body<Data = Bytes> + Unpin,
{
    let (mut parts, body) = request.into_parts();
    let config = &shared.config;
    if !claims_auth_int(&parts, config.mode)
        || config.protocol.passes_unauthenticated(&parts.method)
    {
        let response = inner.call(Request::from_parts(parts, body)).await?;
        return Ok(response.map(AuthIntBody::inner));
    }
    // The parser takes auth-int only with a body to hash: empty until the body is read,
    // and empty for a request handed on unread.
    parts.extensions.insert(CollectedBody(Bytes::new()));
    let now = config.clock.now();
    match check_header(config, shared.throttle.as_ref(), &parts, now).await {
        HeaderCheck::ReadBody => {}
        HeaderCheck::HandOn => {
            let request = Request::from_parts(parts, ReqBody::from(Bytes::new()));
            return Ok(inner.call(request).await?.map(AuthIntBody::inner));
        }
        HeaderCheck::Refuse(rejection, client) => {
            let response = crate::service::reject(&shared, rejection, &parts, Some(client), now);
            return Ok(response.map(AuthIntBody::inner));
        }
    }
    let limit = config.protocol.auth_int_limit.unwrap_or(0);
    let read = tokio::time::timeout(body_timeout, read_request_body(&parts.headers, body, limit));
    let bytes = match read.await.unwrap_or(Err(Rejection::BodyTimeout)) {
        Ok(bytes) => bytes,
        Err(rejection) => {
            tracing::info!(
                reason = rejection.public_message(),
                limit,
                timeout_ms = u64::try_from(body_timeout.as_millis()).unwrap_or(u64::MAX),
                "digest auth: auth-int request body refused"
            );
            let response = shared.rejection.response(&rejection, &parts);
            return Ok(response.map(AuthIntBody::inner));
        }
    };
    parts.extensions.insert(CollectedBody(bytes.clone()));
    let mut response = inner
        .call(Request::from_parts(parts, ReqBody::from(bytes)))
        .await?;
    let Some(pending) = response.extensions_mut().remove::<PendingRspauth>() else {
        // Refused by the verification: no rspauth to compute.
        return Ok(response.map(AuthIntBody::inner));
    };
    Ok(with_rspauth(response, &pending, limit, config.mode).await)
}

/// The verified response, its body read (up to `limit`) to finish `rspauth` over it, in
/// the mode's `Authentication-Info` or `Proxy-Authentication-Info`.
async fn with_rspauth<B: Body<Data = Bytes> + Unpin>(
    response: Response<B>,
    pending: &PendingRspauth,
    limit: usize,
    mode: AuthMode,
) -> Response<AuthIntBody<B>> {
    let (mut head, body) = response.into_parts();
    let (body, info) = match read_response_body(body, limit).await {
        ResponseBody::Whole(bytes, trailers) => {
            let info = pending.finish(Some(&bytes));
            (AuthIntBody::buffered(bytes, trailers), info)
        }
        ResponseBody::TooLarge(read, rest) => {
            tracing::warn!(
                limit,
                "digest auth: auth-int response larger than the body limit, sent without rspauth"
            );
            (AuthIntBody::chained(read, rest), pending.finish(None))
        }
        ResponseBody::Failed(read, error) => {
            (AuthIntBody::failed(read, error), pending.finish(None))
        }
    };
    head.headers.insert(mode.info_header(), info);
    Response::from_parts(head, body)
}

/// The request body, whole, if it fits in `limit`: 413 as soon as `Content-Length` or
/// the bytes received say it does not; 400 if the client broke off.
async fn read_request_body<B: Body>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Rejection> {
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit_u64) || body.size_hint().lower() > limit_u64 {
        return Err(Rejection::PayloadTooLarge);
    }
    let capacity = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buffer = Vec::with_capacity(capacity.min(limit));
    let mut body = pin!(body);
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| Rejection::InvalidField("request body could not be read"))?;
        if let Ok(mut data) = frame.into_data() {
            if data.remaining() > limit - buffer.len() {
                return Err(Rejection::PayloadTooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let len = chunk.len();
                buffer.extend_from_slice(chunk);
                data.advance(len);
            }
        }
    }
    Ok(Bytes::from(buffer))
}

enum ResponseBody<B: Body> {
    Whole(Bytes, Option<HeaderMap>),
    TooLarge(Bytes, B),
    Failed(Bytes, B::Error),
}

/// The response body, whole if it fits in `limit`; otherwise what was read and the rest.
async fn read_response_body<B: Body<Data = Bytes> + Unpin>(
    mut body: B,
    limit: usize,
) -> ResponseBody<B> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0usize;
    let mut trailers = None;
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return ResponseBody::Whole(concat(chunks), trailers),
            Some(Err(error)) => return ResponseBody::Failed(concat(chunks), error),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    read = read.saturating_add(data.len());
                    chunks.push(data);
                    if read > limit {
                        return ResponseBody::TooLarge(concat(chunks), body);
                    }
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            },
        }
    }
}

fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    }
}
