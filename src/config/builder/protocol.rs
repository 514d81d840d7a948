//! The builder's opt-in protocol extensions: methods that pass unauthenticated, hashed
//! usernames, proxy mode, an external path prefix, Basic beside Digest, and `qop=auth-int`. All are off by
//! default; each changes what the layer accepts, so each is documented with its trade-off.

use http::Method;

use super::DigestLayerBuilder;
use crate::basic::BasicAuth;
use crate::mode::AuthMode;
#[cfg(feature = "auth-int")]
use crate::nonce::NonceStore;
#[cfg(feature = "auth-int")]
use crate::throttle::FailureStore;
#[cfg(feature = "auth-int")]
use crate::{ConfigError, CredentialStore};

impl<C, N, R, F> DigestLayerBuilder<C, N, R, F> {
    /// Methods whose requests reach the inner service without authentication, for
    /// clients that probe before they log in: Windows' WebDAV redirector and several DAV
    /// clients send `OPTIONS` without credentials and give up on a 401. Empty (off) by
    /// default.
    ///
    /// The trade-off: these requests carry no [`AuthenticatedUser`](crate::AuthenticatedUser)
    /// and are never refused by this layer, so the inner service must not answer them
    /// with anything protected. `OPTIONS` is the usual choice (a WebDAV server answers it
    /// with its `DAV` and `Allow` headers); never list `GET` or `PROPFIND`. Credentials on
    /// such a request are not checked. If the inner service answers 401 anyway (an
    /// [`AuthorizeLayer`](crate::authorize::AuthorizeLayer), an `AuthenticatedUser` extractor), the
    /// layer adds the challenges.
    ///
    /// ```
    /// use http::Method;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("dav", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("dav", users)
    ///     .unauthenticated_methods([Method::OPTIONS])
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn unauthenticated_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.settings.protocol.unauthenticated_methods = methods.into_iter().collect();
        self
    }

    /// Offers `userhash=true` (RFC 7616 section 3.4.4): a client may then send
    /// `H(username:realm)` instead of its username, so the name does not cross the wire.
    /// Off by default; with it off a hashed username is refused (400).
    ///
    /// The credential store maps the hash back with
    /// [`CredentialStore::username_for_hash`](crate::CredentialStore::username_for_hash)
    /// ([`MemoryCredentials`](crate::MemoryCredentials) does; the default finds no one, so
    /// every hashed login fails like an unknown user). Clients that ignore `userhash` keep
    /// sending plain usernames, which still work, and
    /// [`AuthenticatedUser::username`](crate::AuthenticatedUser::username) is always the
    /// real name.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users).userhash(true).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn userhash(mut self, userhash: bool) -> Self {
        self.settings.protocol.userhash = userhash;
        self
    }

    /// Accepts HTTP Basic credentials beside Digest ([`BasicAuth::OverTls`]: on requests
    /// that came over TLS; [`BasicAuth::AlsoPlainHttp`]: everywhere, with the risk that
    /// names), for clients that speak nothing else. [`BasicAuth::Off`] by default.
    ///
    /// Where Basic is allowed it is offered too, as the last challenge
    /// (`Basic realm="...", charset="UTF-8"` after the Digest ones), and a Basic answer is
    /// checked against the same credential store's `HA1`s, under the same throttle, and
    /// gives the same [`AuthenticatedUser`](crate::AuthenticatedUser), without
    /// `Authentication-Info`; its header, the password, is removed from the request
    /// before the inner service sees it. Where it is not, it is neither offered nor read: a Basic
    /// answer is no credentials. How the layer knows a request came over TLS, and how
    /// Basic meets the other options: [Basic beside Digest](crate::basic).
    ///
    /// ```
    /// use tower_digest_auth::basic::BasicAuth;
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users).basic(BasicAuth::OverTls).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn basic(mut self, basic: BasicAuth) -> Self {
        self.settings.protocol.basic = basic;
        self
    }

    /// Authenticate for an origin server ([`AuthMode::Origin`], the default: 401,
    /// `WWW-Authenticate`, `Authorization`) or as a proxy ([`AuthMode::Proxy`]: 407,
    /// `Proxy-Authenticate`, `Proxy-Authorization`, which the layer then removes from the
    /// request it passes on). See `examples/proxy.rs` for a forward proxy.
    ///
    /// ```
    /// use tower_digest_auth::{AuthMode, DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("proxy", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("proxy", users).mode(AuthMode::Proxy).build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn mode(mut self, mode: AuthMode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// The path prefix a reverse proxy strips before the request reaches this service
    /// (`"/app"` when clients ask for `/app/x` and the service sees `/x`). Clients sign
    /// the path they asked for, so the `uri` check compares the signed `uri` with the
    /// prefix put back in front of the request's target: `/app/x` is accepted for `/x`,
    /// `/x` no longer is. Nothing else loosens. Every request is taken to have come
    /// through the proxy. None by default.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users).external_prefix("/app").build().unwrap();
    /// # let _ = layer;
    /// ```
    pub fn external_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.external_prefix = prefix.into();
        self
    }

    /// Reads the prefix from `X-Forwarded-Prefix` (as Traefik and Spring's proxies write
    /// it) when the connection comes from a proxy trusted by
    /// [`client_ip`](Self::client_ip) (`ClientIpSource::XForwardedFor` or `Forwarded`
    /// ranges); it then replaces the [`external_prefix`](Self::external_prefix). From any
    /// other peer the header is ignored: it would let a client choose what it signs. One
    /// header line holding one path, or the request is refused with a 400. Off by default.
    pub fn forwarded_prefix(mut self, read: bool) -> Self {
        self.settings.forwarded_prefix = read;
        self
    }
}

#[cfg(feature = "auth-int")]
impl<C, N, R, F> DigestLayerBuilder<C, N, R, F> {
    /// Checks the configuration and makes a layer that also offers `qop=auth-int`
    /// (`qop="auth,auth-int"` in its challenges): the client's answer then covers the
    /// request body, and `rspauth` the response body. Bodies of such requests are read
    /// whole, up to `body_limit` bytes (413 past it), before the inner service runs;
    /// responses to them are buffered up to the same limit to compute `rspauth`. Answers
    /// with `qop=auth` keep working as with [`build`](Self::build).
    ///
    /// Never offered by a plain [`build`](Self::build): offering auth-int breaks some
    /// clients, and the body reading lives in the layer this returns. Needs the
    /// `auth-int` feature; see [`AuthIntLayer`](crate::auth_int::AuthIntLayer) for the body types.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong.
    ///
    /// ```
    /// use tower_digest_auth::{DigestLayer, MemoryCredentials};
    ///
    /// let users = MemoryCredentials::new("realm", [("Mufasa", "Circle of Life")]);
    /// let layer = DigestLayer::builder("realm", users).build_auth_int(64 * 1024).unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::post(|body: String| async move { body }))
    ///     .layer(layer);
    /// # let _ = app;
    /// ```
    pub fn build_auth_int(
        mut self,
        body_limit: usize,
    ) -> Result<crate::auth_int::AuthIntLayer<C, N, R, F>, ConfigError>
    where
        C: CredentialStore,
        N: NonceStore,
        F: FailureStore,
    {
        self.settings.protocol.auth_int_limit = Some(body_limit);
        Ok(crate::auth_int::AuthIntLayer::new(self.build()?))
    }
}
