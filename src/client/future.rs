use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

crate::future::boxed_response_future! {
    /// The response future of [`DigestClient`](super::DigestClient).
    ResponseFuture
}
