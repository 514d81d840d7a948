use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A named response future around a boxed future: a named type (rather than a bare boxed
/// future) so its insides can change without breaking anyone's code, and one name per
/// service so the docs and compiler messages say whose future it is.
macro_rules! boxed_response_future {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[must_use = "futures do nothing unless polled"]
        pub struct $name<T> {
            pub(crate) inner: Pin<Box<dyn Future<Output = T> + Send>>,
        }

        impl<T> Future for $name<T> {
            type Output = T;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
                self.inner.as_mut().poll(cx)
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

// Also for the client's future (src/client/future.rs).
#[cfg(feature = "client")]
pub(crate) use boxed_response_future;

boxed_response_future! {
    /// The response future of the [Digest service](crate::DigestService).
    ResponseFuture
}

#[cfg(feature = "auth-int")]
boxed_response_future! {
    /// The response future of the [body-integrity stage](crate::auth_int::AuthInt).
    AuthIntFuture
}
