use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::header::RETRY_AFTER;
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
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
        // Taken apart here, not in `handle`: an argument stays in the future for its whole
        // life, so a whole request passed in would be stored beside its parts.
        let (parts, body) = request.into_parts();
        ResponseFuture {
            inner: Box::pin(handle(shared, inner, parts, body)),
        }
    }
}

/// The request's whole life in the layer: let in (authenticated, or unauthenticated where
/// the configuration says so) and handed to the inner service, or answered with the
/// rejection.
async fn handle<S, C, N, R, F, ReqBody, ResBody>(
    shared: Arc<Shared<C, N, R, F>>,
    mut inner: S,
    mut parts: Parts,
    body: ReqBody,
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
    let admission = if config.protocol.passes_unauthenticated(&parts.method) {
        Admission::unauthenticated(config, &mut parts)
    } else {
        let client = match config.client_ip.client_ip(&parts) {
            Ok(client) => client,
            Err(unknown) => {
                let rejection = unknown_client(unknown, &shared.explained_missing_peer);
                return Ok(reject(&shared, rejection, &parts, None, now));
            }
        };
        // Asked now: the request head is gone once the inner service has it.
        let basic = config.basic_allowed(&parts);
        // Boxed apart from this future: see REQUEST_FUTURE_BUDGET in the tests below.
        match Box::pin(authenticate(&shared, &parts, client, now)).await {
            Ok(Authenticated { user, info }) => {
                hand_over(config, &mut parts, user);
                Admission::authenticated(info, client, basic)
            }
            Err(Rejection::MissingCredentials) if config.allow_anonymous => {
                Admission::anonymous(config, &mut parts, client, basic)
            }
            Err(rejection) => return Ok(reject(&shared, rejection, &parts, Some(client), now)),
        }
    };
    let mut response = inner.call(Request::from_parts(parts, body)).await?;
    admission.finish(config, &mut response, now);
    Ok(response)
}

/// How a request was let in, and so what its response gets on the way out.
enum Admission {
    /// An authenticated user: `Authentication-Info` (Digest), or fresh challenges in place
    /// of any proof of the login when the handler refused the user after all.
    Authenticated {
        info: Option<AuthInfo>,
        audience: Audience,
    },
    /// `allow_anonymous` and no credentials: the challenges on any answer (RFC 9110 section
    /// 11.6.1 allows them on any status), so the client can log in.
    Anonymous(Audience),
    /// A method that passes without authentication
    /// ([`unauthenticated_methods`](crate::DigestLayerBuilder::unauthenticated_methods)):
    /// a 401 from inside gets the challenges RFC 9110 requires (when the client's
    /// address is known).
    Unauthenticated(Option<Audience>),
}

impl Admission {
    fn authenticated(info: Option<AuthInfo>, client: IpAddr, basic: bool) -> Self {
        // Challenges, if the handler refuses the user, in the configured order: asking the
        // user agent's would cost every logged-in request for the rare refusal (the next
        // challenge is ordered for the client again).
        let audience = Audience {
            client,
            arrangement: Arrangement::Configured,
            basic,
        };
        Admission::Authenticated { info, audience }
    }

    /// Lets the request through without a user, marked anonymous so an authorizer or
    /// extractor asks for a login (401) rather than failing (500).
    fn unauthenticated(config: &Config, parts: &mut Parts) -> Self {
        let client = config.client_ip.client_ip(parts).ok();
        let audience = client.map(|client| Audience::of(config, parts, client));
        let_in_anonymous(config, parts);
        Admission::Unauthenticated(audience)
    }

    fn anonymous(config: &Config, parts: &mut Parts, client: IpAddr, basic: bool) -> Self {
        let arrangement = config.challenge_order.arrangement(parts);
        let_in_anonymous(config, parts);
        Admission::Anonymous(Audience {
            client,
            arrangement,
            basic,
        })
    }

    /// What the response gets on its way out.
    fn finish<ResBody>(self, config: &Config, response: &mut Response<ResBody>, now: SystemTime) {
        let refused = response.status() == config.mode.challenge_status();
        match self {
            // The handler refused the user after all (a logout, say): fresh challenges, as
            // RFC 9110 asks of a 401, and nothing that proves a login.
            Admission::Authenticated { audience, .. } if refused => {
                audience.replace_in(config, response.headers_mut(), now, false);
            }
            Admission::Authenticated { info, .. } => match info {
                Some(AuthInfo::Header(info)) => {
                    response
                        .headers_mut()
                        .insert(config.mode.info_header(), info);
                }
                // auth-int: the outer stage finishes rspauth over the response body.
                Some(AuthInfo::AfterBody(pending)) => {
                    response.extensions_mut().insert(*pending);
                }
                // Basic: nothing to prove.
                None => {}
            },
            Admission::Anonymous(audience) => {
                audience.append_to(config, response.headers_mut(), now, false);
            }
            // Only our own kind of challenge status: in proxy mode an origin's 401 passes
            // as is.
            Admission::Unauthenticated(Some(audience)) if refused => {
                audience.replace_in(config, response.headers_mut(), now, false);
            }
            Admission::Unauthenticated(_) => {}
        }
    }
}

/// Whom fresh challenges are for: the client's address (each nonce is bound to it), the
/// order its user agent needs, and whether Basic is offered on this request.
#[derive(Clone, Copy)]
struct Audience {
    client: IpAddr,
    arrangement: Arrangement,
    basic: bool,
}

impl Audience {
    fn of(config: &Config, parts: &Parts, client: IpAddr) -> Self {
        Audience {
            client,
            arrangement: config.challenge_order.arrangement(parts),
            basic: config.basic_allowed(parts),
        }
    }

    /// The challenges, one per header line, after any already there.
    fn append_to(self, config: &Config, headers: &mut HeaderMap, now: SystemTime, stale: bool) {
        let Audience {
            client,
            arrangement,
            basic,
        } = self;
        for challenge in challenges(config, client, now, stale, arrangement, basic) {
            headers.append(config.mode.challenge_header(), challenge);
        }
    }

    /// The challenges in place of any already there.
    fn replace_in(self, config: &Config, headers: &mut HeaderMap, now: SystemTime, stale: bool) {
        headers.remove(config.mode.challenge_header());
        self.append_to(config, headers, now, stale);
    }
}

/// No user: marked anonymous, and without the credentials the layer consumes.
fn let_in_anonymous(config: &Config, parts: &mut Parts) {
    config.mode.remove_consumed_credentials(&mut parts.headers);
    parts.extensions.insert(Anonymous);
}

/// The authenticated user into the request's extensions, and out of its headers the
/// credentials that go no further than the layer: a proxy's, which were for this hop
/// only, and Basic's, which are the password (the handler has the user, and no log or
/// upstream of the application should see it).
fn hand_over(config: &Config, parts: &mut Parts, user: AuthenticatedUser) {
    if user.scheme() == AuthScheme::Basic {
        parts.headers.remove(config.mode.credentials_header());
    }
    config.mode.remove_consumed_credentials(&mut parts.headers);
    parts.extensions.insert(user);
}

/// The rejection response, with a fresh challenge on every 401 (407 in proxy mode),
/// ordered for the client.
pub(crate) fn reject<C, N, R, F, ResBody>(
    shared: &Shared<C, N, R, F>,
    rejection: Rejection,
    request: &Parts,
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
        let audience = Audience::of(&shared.config, request, client);
        audience.replace_in(
            &shared.config,
            response.headers_mut(),
            now,
            rejection.is_stale(),
        );
    }
    response
}

#[cfg(test)]
pub(super) mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::{DigestLayer, MemoryCredentials};

    /// The most any one of a request's futures may take, with the default stores. glibc's
    /// allocator serves up to 1,032 bytes from a per-thread cache; a larger allocation
    /// takes its slow path on every request. Written plainly, a request's future is one of
    /// 1,816 bytes; boxed apart into three of at most 1,024 (the one `call` makes,
    /// authentication's and the password check's), `service/reuse_nonce` took 9 % (MD5)
    /// and 6 % (SHA-256) less time in an interleaved native A/B (12 paired rounds). Grow
    /// one past it only with such a timing beside the change.
    pub(super) const REQUEST_FUTURE_BUDGET: usize = 1024;

    pub(super) fn layer() -> crate::DigestLayer<MemoryCredentials> {
        let users = MemoryCredentials::new("realm", [("alice", "secret")]);
        DigestLayer::builder("realm", users).build().unwrap()
    }

    #[test]
    fn the_request_and_authentication_futures_fit_the_budget() {
        let layer = layer();
        let inner = tower::service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let (parts, body) = Request::new(String::new()).into_parts();
        let client = IpAddr::from([127, 0, 0, 1]);
        let now = SystemTime::now();
        let size = std::mem::size_of_val(&authenticate(&layer.shared, &parts, client, now));
        assert!(
            size <= REQUEST_FUTURE_BUDGET,
            "authentication: {size} bytes"
        );
        let request = handle(Arc::clone(&layer.shared), inner, parts, body);
        let size = std::mem::size_of_val(&request);
        assert!(size <= REQUEST_FUTURE_BUDGET, "request: {size} bytes");
    }
}
