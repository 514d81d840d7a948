//! The request body's bytes, for `qop=auth-int`: read from a clone of the body (the
//! original is what is sent), bounded.

use std::future::poll_fn;
use std::pin::pin;

use bytes::Buf;
use http_body::Body;

use super::error::Error;

/// The largest body hashed for `qop=auth-int`; a larger one is an [`Error::Body`].
pub(crate) const MAX_AUTH_INT_BODY: usize = 1024 * 1024;

/// Every byte of `body`, or why not.
pub(crate) async fn collect<B: Body>(body: B) -> Result<Vec<u8>, Error> {
    const TOO_LARGE: Error = Error::Body("the request body is larger than the 1 MiB limit");
    if body.size_hint().lower() > MAX_AUTH_INT_BODY as u64 {
        return Err(TOO_LARGE);
    }
    let mut body = pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| Error::Body("reading the request body failed"))?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers are not part of the entity body
        };
        if bytes.len() + data.remaining() > MAX_AUTH_INT_BODY {
            return Err(TOO_LARGE);
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            bytes.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }
    Ok(bytes)
}
