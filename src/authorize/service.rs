//! The layer, the service and its response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::WWW_AUTHENTICATE;
use http::{Request, Response};
use tower::{Layer, Service};

use super::Authorizer;
use crate::macros::{define_inner_service_accessors, take_ready};
use crate::rejection::{PlainTextRejection, Rejection, RejectionResponse};
use crate::user::{Anonymous, AuthenticatedUser};

/// Lets through only the authenticated users an [`Authorizer`] accepts; put it inside a
/// [`DigestLayer`](crate::DigestLayer). See the [module docs](crate::authorize).
///
/// Cloning is cheap: the authorizer and the rejection response are shared.
#[must_use]
pub struct AuthorizeLayer<A, R = PlainTextRejection> {
    authorizer: Arc<A>,
    rejection: Arc<R>,
}

impl<A: Authorizer> AuthorizeLayer<A> {
    /// A layer asking `authorizer`, with plain-text 403 and 500 bodies.
    pub fn new(authorizer: A) -> Self {
        AuthorizeLayer {
            authorizer: Arc::new(authorizer),
            rejection: Arc::new(PlainTextRejection),
        }
    }
}

impl<A, R> AuthorizeLayer<A, R> {
    /// The response for refused requests ([`PlainTextRejection`] by default). Pass the
    /// same [`RejectionResponse`] as to
    /// [`DigestLayerBuilder::rejection_response`](crate::DigestLayerBuilder::rejection_response)
    /// and one function shapes every 400, 401, 403 and 500. Any `WWW-Authenticate` it adds
    /// is removed: a 403 must not ask for credentials.
    ///
    /// ```
    /// use http::{Response, StatusCode};
    /// use tower_digest_auth::authorize::AuthorizeLayer;
    /// use tower_digest_auth::rejection::Rejection;
    ///
    /// let layer = AuthorizeLayer::role("admin").rejection_response(|rejection: &Rejection, _: &http::request::Parts| {
    ///     let body = match rejection.status() {
    ///         StatusCode::FORBIDDEN => "<h1>Admins only</h1>",
    ///         _ => rejection.public_message(),
    ///     };
    ///     Response::builder().status(rejection.status()).body(body.to_owned()).unwrap()
    /// });
    /// # let _ = layer;
    /// ```
    pub fn rejection_response<R2>(self, rejection: R2) -> AuthorizeLayer<A, R2> {
        AuthorizeLayer {
            authorizer: self.authorizer,
            rejection: Arc::new(rejection),
        }
    }
}

impl<A, R> Clone for AuthorizeLayer<A, R> {
    fn clone(&self) -> Self {
        AuthorizeLayer {
            authorizer: Arc::clone(&self.authorizer),
            rejection: Arc::clone(&self.rejection),
        }
    }
}

impl<A: fmt::Debug, R> fmt::Debug for AuthorizeLayer<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("authorizer", &self.authorizer)
            .finish_non_exhaustive()
    }
}

impl<S, A, R> Layer<S> for AuthorizeLayer<A, R> {
    type Service = Authorize<S, A, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            authorizer: Arc::clone(&self.authorizer),
            rejection: Arc::clone(&self.rejection),
        }
    }
}

/// A service behind an authorizer; made by [`AuthorizeLayer`].
#[must_use]
pub struct Authorize<S, A, R = PlainTextRejection> {
    inner: S,
    authorizer: Arc<A>,
    rejection: Arc<R>,
}

impl<S, A, R> Authorize<S, A, R> {
    define_inner_service_accessors!();
}

impl<S: Clone, A, R> Clone for Authorize<S, A, R> {
    fn clone(&self) -> Self {
        Authorize {
            inner: self.inner.clone(),
            authorizer: Arc::clone(&self.authorizer),
            rejection: Arc::clone(&self.rejection),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug, R> fmt::Debug for Authorize<S, A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorize")
            .field("inner", &self.inner)
            .field("authorizer", &self.authorizer)
            .finish_non_exhaustive()
    }
}

impl<S, A, R, ReqBody, ResBody> Service<Request<ReqBody>> for Authorize<S, A, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    A: Authorizer,
    R: RejectionResponse<ResBody>,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = AuthorizeFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        AuthorizeFuture {
            inner: Box::pin(authorize(
                Arc::clone(&self.authorizer),
                Arc::clone(&self.rejection),
                inner,
                request,
            )),
        }
    }
}

/// The response future of [`Authorize`].
///
/// A named type (rather than a bare boxed future) so its insides can change without
/// breaking anyone's code.
#[must_use = "futures do nothing unless polled"]
pub struct AuthorizeFuture<T> {
    inner: Pin<Box<dyn Future<Output = T> + Send>>,
}

impl<T> Future for AuthorizeFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for AuthorizeFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeFuture").finish_non_exhaustive()
    }
}

/// The whole decision for one request; every refusal is logged here.
async fn authorize<S, A, R, ReqBody, ResBody>(
    authorizer: Arc<A>,
    rejection: Arc<R>,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Authorizer,
    R: RejectionResponse<ResBody>,
{
    // Split so that only the (Sync) parts are borrowed across the authorizer's await.
    let (parts, body) = request.into_parts();
    let refusal = match parts.extensions.get::<AuthenticatedUser>() {
        Some(user) => match authorizer.authorize(user).await {
            Ok(true) => None,
            Ok(false) => {
                tracing::info!(username = user.username(), "authorization: user refused");
                Some(Rejection::Forbidden)
            }
            Err(error) => {
                tracing::error!(%error, username = user.username(), "authorization: authorizer failed");
                Some(Rejection::AuthorizerFailure)
            }
        },
        // A digest layer with allow_anonymous let it through: ask for credentials (the
        // digest layer adds the challenges on the way out).
        None if parts.extensions.get::<Anonymous>().is_some() => {
            Some(Rejection::MissingCredentials)
        }
        None => {
            tracing::error!(
                "authorization: no AuthenticatedUser in the request, so it is refused; \
                 AuthorizeLayer must sit inside DigestLayer (with axum: add it with \
                 .route_layer() before the DigestLayer, on routes the DigestLayer covers)"
            );
            Some(Rejection::AuthorizerFailure)
        }
    };
    match refusal {
        None => inner.call(Request::from_parts(parts, body)).await,
        Some(refusal) => {
            let mut response = rejection.response(&refusal, &parts);
            response.headers_mut().remove(WWW_AUTHENTICATE);
            Ok(response)
        }
    }
}
