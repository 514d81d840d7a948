use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use tower::Service;

use crate::challenge::challenges;
use crate::client_ip::UnknownClient;
use crate::credentials::{Credential, CredentialStore};
use crate::future::ResponseFuture;
use crate::layer::Shared;
use crate::nonce::{NcCheck, NonceStore, NonceUse};
use crate::rejection::{Rejection, RejectionResponse};
use crate::throttle::{FailureKey, NewLocks};
use crate::user::{Anonymous, AuthenticatedUser};
use crate::verify::{AuthInfo, parse_answer};

/// A service behind Digest authentication; made by [`DigestLayer`](crate::DigestLayer).
#[must_use]
pub struct DigestService<S, C, N, R> {
    inner: S,
    shared: Arc<Shared<C, N, R>>,
}

impl<S, C, N, R> DigestService<S, C, N, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C, N, R>>) -> Self {
        DigestService { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, N, R> Clone for DigestService<S, C, N, R> {
    fn clone(&self) -> Self {
        DigestService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, C, N, R> fmt::Debug for DigestService<S, C, N, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, N, R, ReqBody, ResBody> Service<Request<ReqBody>> for DigestService<S, C, N, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
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
        // Keep the instance that was polled ready for this request; leave a fresh clone
        // behind for the next poll_ready (tower-service: "be careful when cloning").
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        // Split here rather than in `handle`: an async fn keeps its arguments in its
        // state for its whole life, so a `Request` argument would sit next to the parts.
        let (parts, body) = request.into_parts();
        ResponseFuture {
            inner: Box::pin(handle(shared, inner, parts, body)),
        }
    }
}

/// A success, ready to let the request through.
struct Authenticated {
    user: AuthenticatedUser,
    info: AuthInfo,
}

/// The request's whole life in the layer.
///
/// Its state is what every request allocates, so it is kept small (under glibc's 1 KiB
/// thread-cache limit, past which each allocation and free takes malloc's slow path): a
/// plain function around an `async move` block, because an `async fn` would keep each
/// argument twice (as passed, and as the local it moves into), and each awaited result
/// taken apart at once, so that nothing borrowed stays alive across a later await.
#[allow(clippy::manual_async_fn)] // See above: `async fn` would store the arguments twice.
fn handle<S, C, N, R, ReqBody, ResBody>(
    shared: Arc<Shared<C, N, R>>,
    mut inner: S,
    mut parts: http::request::Parts,
    body: ReqBody,
) -> impl Future<Output = Result<Response<ResBody>, S::Error>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: CredentialStore,
    N: NonceStore,
    R: RejectionResponse<ResBody>,
{
    async move {
        let config = &shared.config;
        let now = config.clock.now();
        if config.protocol.passes_unauthenticated(&parts.method) {
            // Boxed: its state would otherwise widen every request's future.
            return Box::pin(pass_unauthenticated(&shared, inner, parts, body, now)).await;
        }
        let client = match config.client_ip.client_ip(&parts) {
            Ok(client) => client,
            Err(UnknownClient::NoPeerAddress) => {
                report_missing_peer(&shared.explained_missing_peer);
                return Ok(reject(
                    &shared,
                    Rejection::UnknownClientIp,
                    &parts,
                    None,
                    now,
                ));
            }
            // Any client behind the proxy can send this: info, never an error that pages.
            Err(UnknownClient::BadForwarding { proxy, reason }) => {
                tracing::info!(
                    proxy_ip = %proxy, reason, "digest auth: unusable forwarding header"
                );
                let rejection = Rejection::BadForwarding(reason);
                return Ok(reject(&shared, rejection, &parts, None, now));
            }
        };
        // Boxed on its own: two futures under glibc's 1 KiB small-allocation limit cost
        // less than one over it, whose free sends malloc down its slow path.
        // The awaited result is taken apart within this statement: kept alive (and
        // borrowed by the guard) across the inner service's await, it would widen the state.
        let info = match Box::pin(authenticate(&shared, &parts, client, now)).await {
            Ok(Authenticated { user, info }) => {
                parts.extensions.insert(user);
                Some(info)
            }
            Err(Rejection::MissingCredentials) if config.allow_anonymous => None,
            Err(rejection) => return Ok(reject(&shared, rejection, &parts, Some(client), now)),
        };
        let Some(info) = info else {
            // allow_anonymous: through without a user, with the challenges on the answer
            // (RFC 9110 section 11.6.1 allows them on any status) so the client can log in.
            parts.extensions.insert(Anonymous);
            config.mode.remove_consumed_credentials(&mut parts.headers);
            let arrangement = config.challenge_order.arrangement(&parts);
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            let headers = response.headers_mut();
            for challenge in challenges(config, client, now, false, arrangement) {
                headers.append(config.mode.challenge_header(), challenge);
            }
            return Ok(response);
        };
        config.mode.remove_consumed_credentials(&mut parts.headers);
        let mut response = inner.call(Request::from_parts(parts, body)).await?;
        match info {
            AuthInfo::Header(info) => {
                response
                    .headers_mut()
                    .insert(config.mode.info_header(), info);
            }
            // auth-int: the outer stage finishes rspauth over the response body.
            AuthInfo::AfterBody(pending) => {
                response.extensions_mut().insert(*pending);
            }
        }
        Ok(response)
    }
}

/// The whole decision for one request; every rejection is logged here, in one place.
async fn authenticate<C, N, R>(
    shared: &Shared<C, N, R>,
    parts: &http::request::Parts,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
{
    let config = &shared.config;
    // No closures kept in locals here: each would sit in the future's state.
    // The answer and the attempt are borrowed only inside these blocks: a borrowed local
    // stays in the future's state until its scope ends, and both are gone before the
    // replay check's await.
    let (algorithm, username, credential, sent_username);
    // Matched as a temporary: a named result would stay in the future's state to its end.
    #[allow(clippy::blocks_in_conditions)]
    let (use_, info) = match {
        let mut attempt = {
            let answer = parse_answer(config, parts).inspect_err(|rejection| {
                log_rejection(*rejection, client, None);
            })?;
            // Before any hashing (the nonce MAC included) and any store lookup.
            if let Some(throttle) = &config.throttle {
                let key = FailureKey::new(client, &answer.username);
                if let Some(retry_after_secs) = throttle
                    .lock(key, now)
                    .await
                    .map_err(|error| store_failed(shared, "throttle", &error, client, now))?
                {
                    let rejection = Rejection::Throttled { retry_after_secs };
                    log_rejection(rejection, client, Some(&answer.username));
                    return Err(rejection);
                }
            }
            answer
                .check_nonce(config, client)
                .inspect_err(|rejection| {
                    log_rejection(*rejection, client, None);
                })?
        };
        algorithm = attempt.answer.algorithm;
        let hash = algorithm.hash_function();
        (username, credential) = lookup(&shared.credentials, &attempt, &config.realm, hash)
            .await
            .map_err(|error| {
                let error: Box<dyn std::error::Error + Send + Sync> = error.into();
                store_failed(shared, "credential", &*error, client, now)
            })?;
        // As sent: with userhash, the hash, which is also what the throttle counts on.
        // Nothing after the lookup reads it in the attempt.
        sent_username = std::mem::take(&mut attempt.answer.username);
        conclude(
            config,
            &attempt,
            credential.as_ref(),
            parts.method.as_str().as_bytes(),
            client,
            now,
        )
    } {
        Ok(concluded) => concluded,
        // The one kind of rejection the throttle counts: a wrong password or an unknown
        // user, in a well-formed answer to a genuine nonce of this client.
        Err(Rejection::BadCredentials) => {
            let rejection = logged(Rejection::BadCredentials, client, &username);
            if let Some(throttle) = &config.throttle {
                let locks = throttle
                    .record_failure(FailureKey::new(client, &sent_username), now)
                    .await
                    .map_err(|error| store_failed(shared, "throttle", &error, client, now))?;
                log_locks(locks, client, &username);
            }
            return Err(rejection);
        }
        Err(rejection) => return Err(logged(rejection, client, &username)),
    };
    match shared.nonces.record_use(use_).await {
        Ok(NcCheck::Accepted) => {}
        Ok(NcCheck::Replayed) => return Err(logged(Rejection::Replay, client, &username)),
        // Below the window: a browser with more than 64 requests in flight on one nonce,
        // or a replay of an old count. Either way the request is refused; stale lets an
        // honest client retry without asking its user.
        Ok(NcCheck::BelowWindow | NcCheck::Forgotten) => {
            return Err(logged(Rejection::StaleNonce, client, &username));
        }
        Err(error) => {
            return Err(store_failed(shared, "nonce", &error, client, now));
        }
    }
    if let Some(throttle) = &config.throttle {
        // The password was right: a failed reset only leaves old failures to run out.
        let key = FailureKey::new(client, &sent_username);
        if let Err(error) = throttle.record_success(key, now).await {
            store_failed(shared, "throttle", &error, client, now);
        }
    }
    // check_response refused unknown users, so the credential is there.
    let Some(credential) = credential else {
        return Err(logged(Rejection::BadCredentials, client, &username));
    };
    let (_, roles, data) = credential.into_parts();
    Ok(Authenticated {
        user: AuthenticatedUser::from_credential_parts(
            username,
            Arc::clone(&config.realm),
            algorithm,
            roles,
            data,
        ),
        info,
    })
}

/// Everything after the credential lookup that needs the attempt, with no store call:
/// the response check against the user's `HA1` (`BadCredentials`, which the throttle
/// counts), the nonce's age (`StaleNonce`), then the use to record and, finished before
/// the replay check (for a refused replay it is work thrown away),
/// `Authentication-Info`. Synchronous, so the attempt and the hash state never sit in
/// the future's state across an await.
fn conclude(
    config: &crate::config::Config,
    attempt: &crate::verify::Attempt<'_>,
    credential: Option<&Credential>,
    method: &[u8],
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<(NonceUse, AuthInfo), Rejection> {
    let algorithm = attempt.answer.algorithm;
    let verified = attempt.check_response(
        credential.map(Credential::ha1),
        config.dummy_ha1(algorithm.hash_function()),
        method,
    )?;
    let age = attempt.fresh_age(now, config.lifetime_secs, &*config.epochs)?;
    let use_ = NonceUse::of_issued(&attempt.nonce, attempt.answer.nc, config.lifetime_secs, now);
    let next_nonce = config.wants_next_nonce(age).then(|| {
        config
            .signer
            .issue(algorithm, config.epochs.current(), client, now)
    });
    Ok((use_, attempt.authentication_info(verified, next_nonce)))
}

/// Logs a rejection of a known username and answers it.
fn logged(rejection: Rejection, client: IpAddr, username: &str) -> Rejection {
    log_rejection(rejection, client, Some(username));
    rejection
}

/// Logs a store's failure (rate-limited) and answers it: a 500, never a 200.
fn store_failed<C, N, R>(
    shared: &Shared<C, N, R>,
    store: &'static str,
    error: &dyn std::fmt::Display,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Rejection {
    if let Some(suppressed) = shared.store_errors.admit(now) {
        tracing::error!(%error, client_ip = %client, store, suppressed, "digest auth: {store} store failed");
    }
    Rejection::StoreFailure
}

/// At most one store-failure error per [`ErrorLogLimit::INTERVAL_SECS`] (by the layer's
/// clock): an outage fails every request, and one log line per request would bury
/// everything else. The next line that gets through says how many were held back.
#[derive(Debug, Default)]
pub(crate) struct ErrorLogLimit {
    /// Unix second of the last line logged, plus one (0: none yet).
    last: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl ErrorLogLimit {
    const INTERVAL_SECS: u64 = 10;

    /// `Some(held back since the last line)` when this error should be logged.
    pub(crate) fn admit(&self, now: std::time::SystemTime) -> Option<u64> {
        use std::sync::atomic::Ordering;
        let now = crate::clock::unix_secs(now) + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now >= last.saturating_add(Self::INTERVAL_SECS) || now < last;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// The username is the client's to choose: log a bounded prefix of it.
fn logged_username(username: &str) -> &str {
    const MAX_LOGGED_USERNAME: usize = 64;
    match username.char_indices().nth(MAX_LOGGED_USERNAME) {
        Some((end, _)) => &username[..end],
        None => username,
    }
}

/// Records each lock a failure started, as a warning with the client address: a
/// possible attack. Locks grow while failures continue, so these never flood the log.
fn log_locks(locks: NewLocks, client: IpAddr, username: &str) {
    let username = logged_username(username);
    if let Some(lock) = locks.address_and_user {
        tracing::warn!(
            client_ip = %client, username, lock_secs = lock.as_secs(),
            "digest auth: too many failed logins for this user from this address; locked out"
        );
    }
    if let Some(lock) = locks.address {
        tracing::warn!(
            client_ip = %client, lock_secs = lock.as_secs(),
            "digest auth: too many failed logins from this address; locked out"
        );
    }
}

/// The server passes no peer address: a set-up mistake every request repeats (typically
/// `axum::serve(listener, app)` instead of `app.into_make_service_with_connect_info`).
/// The first time, it is explained with the fix, on stderr too when no `tracing`
/// subscriber is installed (the quick start's users would otherwise see bare 500s);
/// after that each request logs one short line.
fn report_missing_peer(explained: &std::sync::atomic::AtomicBool) {
    const FIX: &str = "digest auth: no client address in the request, so every request is refused \
        with 500 (nonces are bound to the client's address). With axum, serve with \
        `axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())`; \
        with hyper or another server, insert `tower_digest_auth::PeerAddr(remote_addr)` into each \
        request's extensions";
    if explained.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("digest auth: no client address in the request (see the first such error)");
        return;
    }
    tracing::error!("{FIX}");
    if !tracing::dispatcher::has_been_set() {
        eprintln!("{FIX}");
    }
}

/// The user's name and credential. A hashed username (`userhash=true`) is mapped back
/// through the store first; one that maps to no one still costs a credential lookup (of
/// the hash, whose answer is ignored), so a known hash with a wrong password and an
/// unknown hash take the same store work, as a wrong password and an unknown user do.
async fn lookup<C: CredentialStore>(
    store: &C,
    attempt: &crate::verify::Attempt<'_>,
    realm: &str,
    hash: crate::HashFunction,
) -> Result<(String, Option<Credential>), C::Error> {
    let sent = &attempt.answer.username;
    if !attempt.answer.hashed_username {
        let credential = store.credential(sent, realm, hash).await?;
        return Ok((sent.clone().into_owned(), credential));
    }
    if let Some(username) = store.username_for_hash(sent, realm, hash).await? {
        let credential = store.credential(&username, realm, hash).await?;
        return Ok((username, credential));
    }
    let _ = store.credential(sent, realm, hash).await?;
    Ok((sent.clone().into_owned(), None))
}

/// A request whose method passes without authentication
/// ([`unauthenticated_methods`](crate::DigestLayerBuilder::unauthenticated_methods)):
/// no user, marked anonymous so an authorizer or extractor asks for a login (401) rather
/// than failing (500); a 401 from inside gets the challenges RFC 9110 requires.
async fn pass_unauthenticated<S, C, N, R, ReqBody, ResBody>(
    shared: &Shared<C, N, R>,
    mut inner: S,
    mut parts: http::request::Parts,
    body: ReqBody,
    now: std::time::SystemTime,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let config = &shared.config;
    let client = config.client_ip.client_ip(&parts).ok();
    let arrangement = config.challenge_order.arrangement(&parts);
    config.mode.remove_consumed_credentials(&mut parts.headers);
    parts.extensions.insert(Anonymous);
    let mut response = inner.call(Request::from_parts(parts, body)).await?;
    // Only our own kind of challenge status: in proxy mode an origin's 401 passes as is.
    if let (true, Some(client)) = (response.status() == config.mode.challenge_status(), client) {
        let headers = response.headers_mut();
        headers.remove(config.mode.challenge_header());
        for challenge in challenges(config, client, now, false, arrangement) {
            headers.append(config.mode.challenge_header(), challenge);
        }
    }
    Ok(response)
}

/// Records a rejection: possible attacks as warnings with the client address (never a
/// secret), ordinary misses (no credentials yet, an expired nonce) as debug events.
fn log_rejection(rejection: Rejection, client: IpAddr, username: Option<&str>) {
    let username = logged_username(username.unwrap_or(""));
    match rejection {
        Rejection::MissingCredentials | Rejection::StaleNonce => {
            tracing::debug!(client_ip = %client, ?rejection, "digest auth: challenge");
        }
        Rejection::BadCredentials => tracing::warn!(
            client_ip = %client, username, "digest auth: failed password or unknown user"
        ),
        Rejection::Replay => tracing::warn!(
            client_ip = %client, username, "digest auth: replayed nonce count"
        ),
        Rejection::ForeignNonce => tracing::warn!(
            client_ip = %client, "digest auth: nonce issued to another client address"
        ),
        Rejection::ForgedNonce => {
            tracing::warn!(client_ip = %client, "digest auth: forged or foreign-key nonce");
        }
        Rejection::NonceAlgorithmMismatch => tracing::warn!(
            client_ip = %client, "digest auth: nonce used with another algorithm (downgrade?)"
        ),
        Rejection::UriMismatch => tracing::warn!(
            client_ip = %client, "digest auth: uri does not match the request target"
        ),
        // Each lock was logged as a warning when it began; these are its echoes.
        Rejection::Throttled { retry_after_secs } => tracing::debug!(
            client_ip = %client, username, retry_after_secs, "digest auth: locked out (429)"
        ),
        other => tracing::info!(
            client_ip = %client, reason = other.public_message(), "digest auth: bad request"
        ),
    }
}

/// The rejection response, with a fresh challenge on every 401 (407 in proxy mode),
/// ordered for the client.
fn reject<C, N, R, ResBody>(
    shared: &Shared<C, N, R>,
    rejection: Rejection,
    request: &http::request::Parts,
    client: Option<IpAddr>,
    now: std::time::SystemTime,
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
        for challenge in challenges(&shared.config, client, now, stale, arrangement) {
            headers.append(mode.challenge_header(), challenge);
        }
    }
    response
}
