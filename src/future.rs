use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The response future of [`DigestService`](crate::DigestService).
///
/// A named type (rather than a bare boxed future) so its insides can change without
/// breaking anyone's code.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<T> {
    pub(crate) inner: Pin<Box<dyn Future<Output = T> + Send>>,
}

impl<T> Future for ResponseFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
