//! The outer stage of `qop=auth-int`: reads request bodies before the verification and
//! response bodies after it, both bounded.

use std::fmt;
use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower::{Layer, Service};

use super::body::AuthIntBody;
use super::{CollectedBody, PendingRspauth, claims_auth_int};
use crate::credentials::CredentialStore;
use crate::future::ResponseFuture;
use crate::layer::{DigestLayer, Shared};
use crate::mode::AUTHENTICATION_INFO;
use crate::nonce::{MemoryNonceStore, NonceStore};
use crate::rejection::{PlainTextRejection, Rejection, RejectionResponse};
use crate::service::DigestService;

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
/// - the request body is read whole into memory before the verification, up to the
///   limit: a larger one gets 413 (at once when `Content-Length` says so), and a body
///   without a length is counted as it arrives. Request trailers are not passed on.
/// - the response body is read whole into memory to compute `rspauth`, up to the same
///   limit; a larger one is sent as it comes, with `Authentication-Info` but without
///   `rspauth`, so a client that checks it knows the response was not protected.
///
/// Answers with `qop=auth` pass through untouched.
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
pub struct AuthIntLayer<C, N = MemoryNonceStore, R = PlainTextRejection> {
    digest: DigestLayer<C, N, R>,
}

impl<C, N, R> AuthIntLayer<C, N, R> {
    pub(crate) fn new(digest: DigestLayer<C, N, R>) -> Self {
        AuthIntLayer { digest }
    }
}

impl<C, N, R> Clone for AuthIntLayer<C, N, R> {
    fn clone(&self) -> Self {
        AuthIntLayer {
            digest: self.digest.clone(),
        }
    }
}

impl<C, N, R> fmt::Debug for AuthIntLayer<C, N, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthIntLayer")
            .field("digest", &self.digest)
            .finish()
    }
}

impl<S, C, N, R> Layer<S> for AuthIntLayer<C, N, R> {
    type Service = AuthInt<DigestService<S, C, N, R>, C, N, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthInt {
            inner: self.digest.layer(inner),
            shared: Arc::clone(&self.digest.shared),
        }
    }
}

/// The service of an [`AuthIntLayer`]: reads the bodies of `qop=auth-int` exchanges
/// around the [`DigestService`] inside it.
#[must_use]
pub struct AuthInt<S, C, N, R> {
    inner: S,
    shared: Arc<Shared<C, N, R>>,
}

impl<S, C, N, R> AuthInt<S, C, N, R> {
    /// The inner service (the [`DigestService`]).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, N, R> Clone for AuthInt<S, C, N, R> {
    fn clone(&self) -> Self {
        AuthInt {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, C, N, R> fmt::Debug for AuthInt<S, C, N, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInt")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R, ReqBody, ResBody> Service<Request<ReqBody>> for AuthInt<S, C, N, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ResBody: Body<Data = Bytes> + Unpin + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<AuthIntBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        ResponseFuture {
            inner: Box::pin(handle(shared, inner, request)),
        }
    }
}

async fn handle<S, C, N, R, ReqBody, ResBody>(
    shared: Arc<Shared<C, N, R>>,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<AuthIntBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponse<ResBody>,
    ReqBody: Body + From<Bytes>,
    ResBody: Body<Data = Bytes> + Unpin,
{
    let (mut parts, body) = request.into_parts();
    if !claims_auth_int(&parts) {
        let response = inner.call(Request::from_parts(parts, body)).await?;
        return Ok(response.map(AuthIntBody::inner));
    }
    let limit = shared.config.protocol.auth_int_limit.unwrap_or(0);
    let bytes = match read_request_body(&parts.headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(rejection) => {
            tracing::info!(
                reason = rejection.public_message(),
                limit,
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
    head.headers.insert(AUTHENTICATION_INFO.clone(), info);
    Ok(Response::from_parts(head, body))
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
