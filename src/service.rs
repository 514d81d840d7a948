use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use tower::Service;

use crate::basic::AuthScheme;
use crate::challenge::{Arrangement, challenges};
use crate::config::Config;
use crate::credentials::CredentialStore;
use crate::future::ResponseFuture;
use crate::macros::{define_inner_service_accessors, take_ready};
use crate::nonce::NonceStore;
use crate::rejection::{Rejection, RejectionResponse};
use crate::throttle::{FailureStore, MemoryFailureStore, Throttle};
use crate::user::{Anonymous, AuthenticatedUser};
use crate::verify::AuthInfo;

mod authenticate;
mod basic;
mod log;

use authenticate::{Authenticated, authenticate};
#[cfg(feature = "auth-int")]
pub(crate) use log::log_rejection;
use log::{StoreErrorLog, unknown_client};

/// What every service made by one layer shares.
pub(crate) struct Shared<C, N, R, F> {
    pub(crate) config: Config,
    pub(crate) credentials: C,
    /// Shared with the configuration, which reads its epochs.
    pub(crate) nonces: Arc<N>,
    /// The failed-login throttle; `None` when switched off.
    pub(crate) throttle: Option<Throttle<F>>,
    pub(crate) rejection: R,
    /// Set once the missing-peer-address mistake was explained, so it is explained once.
    explained_missing_peer: AtomicBool,
    /// Every store's failures, logged at most once per interval.
    store_errors: StoreErrorLog,
}

impl<C, N, R, F> Shared<C, N, R, F> {
    pub(crate) fn new(
        config: Config,
        credentials: C,
        nonces: Arc<N>,
        throttle: Option<Throttle<F>>,
        rejection: R,
    ) -> Self {
        Shared {
            config,
            credentials,
            nonces,
            throttle,
            rejection,
            explained_missing_peer: AtomicBool::new(false),
            store_errors: StoreErrorLog::default(),
        }
    }
}

/// A service behind Digest authentication; made by [`DigestLayer`](crate::DigestLayer).
#[must_use]
pub struct DigestService<S, C, N, R, F = MemoryFailureStore> {
    inner: S,
    shared: Arc<Shared<C, N, R, F>>,
}

impl<S, C, N, R, F> DigestService<S, C, N, R, F> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C, N, R, F>>) -> Self {
        DigestService { inner, shared }
    }

    define_inner_service_accessors!();
}

impl<S: Clone, C, N, R, F> Clone for DigestService<S, C, N, R, F> {
    fn clone(&self) -> Self {
        DigestService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, C, N, R, F> fmt::Debug for DigestService<S, C, N, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R, F, ReqBody, ResBody> Service<Request<ReqBody>> for DigestService<S, C, N, R, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
    F: FailureStore,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        let shared = Arc::clone(&self.shared);
        ResponseFuture {
            inner: Box::pin(handle(shared, inner, request)),
        }
    }
}

/// The request's whole life in the layer: authenticated (or let through unauthenticated
/// where the configuration says so), or answered with the rejection.
async fn handle<S, C, N, R, F, ReqBody, ResBody>(
    shared: Arc<Shared<C, N, R, F>>,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
    F: FailureStore,
{
    let config = &shared.config;
    let now = config.clock.now();
    let (mut parts, body) = request.into_parts();
    if config.protocol.passes_unauthenticated(&parts.method) {
        return pass_unauthenticated(&shared, inner, parts, body, now).await;
    }
    let client = match config.client_ip.client_ip(&parts) {
        Ok(client) => client,
        Err(unknown) => {
            let rejection = unknown_client(unknown, &shared.explained_missing_peer);
            return Ok(reject(&shared, rejection, &parts, None, now));
        }
    };
    // Asked now: the request head is gone once the inner service has it.
    let basic = config.basic_allowed(&parts);
    let info = match authenticate(&shared, &parts, client, now).await {
        Ok(Authenticated { user, info }) => {
            hand_over(config, &mut parts, user);
            info
        }
        Err(Rejection::MissingCredentials) if config.allow_anonymous => {
            return pass_anonymous(&shared, inner, parts, body, client, now, basic).await;
        }
        Err(rejection) => return Ok(reject(&shared, rejection, &parts, Some(client), now)),
    };
    let mut response = inner.call(Request::from_parts(parts, body)).await?;
    if response.status() == config.mode.challenge_status() {
        // The handler refused the user after all (a logout, say): fresh challenges, as
        // RFC 9110 asks of a 401, and nothing that proves a login. The request is gone:
        // the configured order (the next challenge is ordered for the client again).
        let headers = response.headers_mut();
        headers.remove(config.mode.challenge_header());
        let arrangement = Arrangement::Configured;
        for challenge in challenges(config, client, now, false, arrangement, basic) {
            headers.append(config.mode.challenge_header(), challenge);
        }
        return Ok(response);
    }
    match info {
        Some(AuthInfo::Header(info)) => {
            let header = config.mode.info_header();
            response.headers_mut().insert(header, info);
        }
        // auth-int: the outer stage finishes rspauth over the response body.
        Some(AuthInfo::AfterBody(pending)) => {
            response.extensions_mut().insert(*pending);
        }
        // Basic: nothing to prove.
        None => {}
    }
    Ok(response)
}

/// The authenticated user into the request's extensions, and out of its headers the
/// credentials that go no further than the layer: a proxy's, which were for this hop
/// only, and Basic's, which are the password (the handler has the user, and no log or
/// upstream of the application should see it).
fn hand_over(config: &Config, parts: &mut http::request::Parts, user: AuthenticatedUser) {
    if user.scheme() == AuthScheme::Basic {
        parts.headers.remove(config.mode.credentials_header());
    }
    config.mode.remove_consumed_credentials(&mut parts.headers);
    parts.extensions.insert(user);
}

/// `allow_anonymous` and no credentials: through without a user, with the challenges on
/// the answer (RFC 9110 section 11.6.1 allows them on any status) so the client can log in.
async fn pass_anonymous<S, C, N, R, F, ReqBody, ResBody>(
    shared: &Shared<C, N, R, F>,
    mut inner: S,
    mut parts: http::request::Parts,
    body: ReqBody,
    client: IpAddr,
    now: SystemTime,
    basic: bool,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let config = &shared.config;
    parts.extensions.insert(Anonymous);
    config.mode.remove_consumed_credentials(&mut parts.headers);
    let arrangement = config.challenge_order.arrangement(&parts);
    let mut response = inner.call(Request::from_parts(parts, body)).await?;
    let headers = response.headers_mut();
    for challenge in challenges(config, client, now, false, arrangement, basic) {
        headers.append(config.mode.challenge_header(), challenge);
    }
    Ok(response)
}

/// A request whose method passes without authentication
/// ([`unauthenticated_methods`](crate::DigestLayerBuilder::unauthenticated_methods)):
/// no user, marked anonymous so an authorizer or extractor asks for a login (401) rather
/// than failing (500); a 401 from inside gets the challenges RFC 9110 requires.
async fn pass_unauthenticated<S, C, N, R, F, ReqBody, ResBody>(
    shared: &Shared<C, N, R, F>,
    mut inner: S,
    mut parts: http::request::Parts,
    body: ReqBody,
    now: SystemTime,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let config = &shared.config;
    let client = config.client_ip.client_ip(&parts).ok();
    let arrangement = config.challenge_order.arrangement(&parts);
    let basic = config.basic_allowed(&parts);
    config.mode.remove_consumed_credentials(&mut parts.headers);
    parts.extensions.insert(Anonymous);
    let mut response = inner.call(Request::from_parts(parts, body)).await?;
    // Only our own kind of challenge status: in proxy mode an origin's 401 passes as is.
    if let (true, Some(client)) = (response.status() == config.mode.challenge_status(), client) {
        let headers = response.headers_mut();
        headers.remove(config.mode.challenge_header());
        for challenge in challenges(config, client, now, false, arrangement, basic) {
            headers.append(config.mode.challenge_header(), challenge);
        }
    }
    Ok(response)
}

/// The rejection response, with a fresh challenge on every 401 (407 in proxy mode),
/// ordered for the client.
pub(crate) fn reject<C, N, R, F, ResBody>(
    shared: &Shared<C, N, R, F>,
    rejection: Rejection,
    request: &http::request::Parts,
    client: Option<IpAddr>,
    now: SystemTime,
) -> Response<ResBody>
where
    R: RejectionResponse<ResBody>,
{
    let mut response = shared.rejection.response(&rejection, request);
    if let Rejection::Throttled { retry_after_secs } = rejection {
        response
            .headers_mut()
            .insert(RETRY_AFTER, http::HeaderValue::from(retry_after_secs));
    }
    if let (true, Some(client)) = (rejection.challenges(), client) {
        let mode = shared.config.mode;
        // A hook answers with Rejection::status(); in proxy mode its 401 becomes 407.
        if response.status() == StatusCode::UNAUTHORIZED {
            *response.status_mut() = mode.challenge_status();
        }
        let headers = response.headers_mut();
        headers.remove(mode.challenge_header());
        let arrangement = shared.config.challenge_order.arrangement(request);
        let stale = rejection.is_stale();
        let basic = shared.config.basic_allowed(request);
        for challenge in challenges(&shared.config, client, now, stale, arrangement, basic) {
            headers.append(mode.challenge_header(), challenge);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::{DigestLayer, MemoryCredentials};

    /// The most a request's future may take. Every request allocates it once and moves
    /// it into its box, and each nested future is moved into its parent, so its size is
    /// paid on every request, authenticated or not; the budget keeps an edit from growing
    /// it unnoticed. It was 2,048 bytes when last set, down from 2,760 once the answer was
    /// borrowed rather than moved down the calls (each moved value was stored twice) and
    /// Basic's future boxed. With two map lookups fewer in the same change, an interleaved
    /// native A/B took `service/reuse_nonce` from 3.79 to 3.32 µs (MD5) and from 3.63 to
    /// 3.14 µs (SHA-256). Raise it only with a native timing of `service/reuse_nonce`
    /// beside it.
    const REQUEST_FUTURE_BUDGET: usize = 2304;

    #[test]
    fn a_request_future_fits_its_budget() {
        let users = MemoryCredentials::new("realm", [("alice", "secret")]);
        let layer = DigestLayer::builder("realm", users).build().unwrap();
        let inner = tower::service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let future = handle(
            Arc::clone(&layer.shared),
            inner,
            Request::new(String::new()),
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= REQUEST_FUTURE_BUDGET, "{size} bytes");
    }
}
