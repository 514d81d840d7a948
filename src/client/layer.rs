use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tower::Layer;

use super::service::{ClientState, DigestClient};
use super::session::Credentials;
use super::spaces::Spaces;

/// Logs a Tower HTTP client in with Digest authentication: see the [module
/// docs](super) for what it does, what it needs and what it remembers.
///
/// Clones share the remembered sessions, and so do the services a layer makes.
///
/// ```
/// use tower::Layer;
/// use tower_digest_auth::client::DigestClientLayer;
///
/// # let inner = tower::service_fn(|_: http::Request<String>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// # });
/// let client = DigestClientLayer::new("Mufasa", "Circle of Life").layer(inner);
/// # let _ = client;
/// ```
#[must_use]
#[derive(Clone)]
pub struct DigestClientLayer {
    state: ClientState,
}

impl DigestClientLayer {
    /// A layer that logs in as `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        DigestClientLayer {
            state: ClientState {
                credentials: Arc::new(Credentials::new(username, password)),
                spaces: Arc::new(Spaces::default()),
                peer: None,
            },
        }
    }

    /// For tests of a server without sockets: inserts [`PeerAddr`](crate::PeerAddr)`(addr)`
    /// into every request that has none, as a server's accept loop does, so that a
    /// [`DigestLayer`](crate::DigestLayer) called in-process (`oneshot`) knows the
    /// client's address. A real client has no use for it.
    pub fn peer_addr(mut self, addr: SocketAddr) -> Self {
        self.state.peer = Some(addr);
        self
    }
}

impl fmt::Debug for DigestClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClientLayer")
            .field("credentials", &self.state.credentials)
            .field("peer_addr", &self.state.peer)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for DigestClientLayer {
    type Service = DigestClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DigestClient::new(inner, self.state.clone())
    }
}
