//! The other side of the handshake: a Digest client for Tower HTTP clients, and the
//! sans-I/O core under it (feature `client`).
//!
#![doc = include_str!("../docs/client.md")]

mod body;
mod challenge;
mod error;
mod future;
mod layer;
pub(crate) mod parse;
mod service;
mod session;
mod spaces;

pub use challenge::{Challenge, Qop};
pub use error::{BoxError, ChallengeError, Error};
pub use future::ResponseFuture;
pub use layer::DigestClientLayer;
pub use service::DigestClient;
pub use session::{Answer, Credentials, Session};

#[cfg(test)]
mod tests;
