//! The response body of [`AuthInt`](super::AuthInt): the inner body untouched, or what was
//! buffered to compute `rspauth`, followed by the rest when the body outgrew the limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of an [`AuthInt`](crate::auth_int::AuthInt) service: the inner service's
    /// body as it was, or the bytes that were read to compute `rspauth` (and, past the
    /// limit, the rest of the inner body after them). Implements [`http_body::Body`], so
    /// axum and hyper serve it as they would the inner body.
    pub struct AuthIntBody<B>
    where
        B: Body,
    {
        head: Option<Bytes>,
        #[pin]
        rest: Option<B>,
        trailers: Option<HeaderMap>,
        error: Option<B::Error>,
    }
}

impl<B: Body> AuthIntBody<B> {
    /// The inner body, passed through.
    pub(crate) fn inner(body: B) -> Self {
        AuthIntBody {
            head: None,
            rest: Some(body),
            trailers: None,
            error: None,
        }
    }

    /// A body read whole: its bytes and trailers.
    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        AuthIntBody {
            head: Some(data),
            rest: None,
            trailers,
            error: None,
        }
    }

    /// The bytes read so far, then the rest of `body`.
    pub(crate) fn chained(head: Bytes, body: B) -> Self {
        AuthIntBody {
            head: Some(head),
            rest: Some(body),
            trailers: None,
            error: None,
        }
    }

    /// The bytes read before `error`, then the error.
    pub(crate) fn failed(head: Bytes, error: B::Error) -> Self {
        AuthIntBody {
            head: Some(head),
            rest: None,
            trailers: None,
            error: Some(error),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for AuthIntBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if let Some(head) = this.head.take() {
            if !head.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(head))));
            }
        }
        if let Some(rest) = this.rest.as_mut().as_pin_mut() {
            match rest.poll_frame(cx) {
                Poll::Ready(None) => this.rest.set(None),
                other => return other,
            }
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        Poll::Ready(
            this.trailers
                .take()
                .map(|trailers| Ok(Frame::trailers(trailers))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.head.as_ref().is_none_or(Bytes::is_empty)
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
            && self.trailers.is_none()
            && self.error.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |head| head.len() as u64);
        match &self.rest {
            None => SizeHint::with_exact(head),
            Some(rest) => {
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + head);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + head);
                }
                hint
            }
        }
    }
}

impl<B: Body> std::fmt::Debug for AuthIntBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthIntBody")
            .field("buffered", &self.head.as_ref().map(Bytes::len))
            .field("streaming", &self.rest.is_some())
            .finish_non_exhaustive()
    }
}
