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
use crate::client_order::Arrangement;
use crate::credentials::{Credential, CredentialStore};
use crate::future::ResponseFuture;
use crate::layer::Shared;
use crate::logout::{AccountKey, Login};
use crate::nonce::{NcCheck, NonceStore, NonceUse};
use crate::rejection::{Rejection, RejectionResponse};
use crate::throttle::{AttemptOutcome, Reservation};
use crate::user::{Anonymous, AuthenticatedUser};
use crate::verify::{AuthInfo, parse_answer};

mod log;

pub(crate) use log::ErrorLogLimit;
pub(crate) use log::log_rejection;
use log::{log_locks, logged, report_missing_peer};

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
        if response.status() == config.mode.challenge_status() {
            // The handler refused the user after all (a logout, say): fresh challenges,
            // as RFC 9110 asks of a 401, and nothing that proves a login.
            let headers = response.headers_mut();
            headers.remove(config.mode.challenge_header());
            for challenge in challenges(config, client, now, false, Arrangement::Configured) {
                headers.append(config.mode.challenge_header(), challenge);
            }
            return Ok(response);
        }
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
///
/// The order is the contract: parse the header (400s), name the account (for a hashed
/// username, the credential store maps it back), admit the attempt under the throttle
/// (429s) before any hashing, then the nonce MAC and the password check, whose verdict
/// settles the attempt at once (so it holds its room only while the password is being
/// checked), then the nonce's age and the replay check.
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
    let answer = parse_answer(config, parts).inspect_err(|rejection| {
        log_rejection(*rejection, client, None);
    })?;
    let hash = answer.algorithm.hash_function();
    let account = resolve_account(&shared.credentials, &answer, &config.realm, hash)
        .await
        .map_err(|error| credential_store_failed(shared, error, client, now))?;
    let Some(throttle) = &config.throttle else {
        return check_admitted(shared, parts, answer, account, None, client, now).await;
    };
    if throttle.is_proven(answer.raw_nonce(), &account.name, now) {
        return check_proven(shared, parts, answer, account, client, now).await;
    }
    // Every spelling of one account (userhash, username*, the plain name) shares one
    // budget; a name no account answers to counts under itself.
    let mut reservation = admit(shared, throttle, client, &account.name, now).await?;
    let result = check_admitted(
        shared,
        parts,
        answer,
        account,
        Some(&mut reservation),
        client,
        now,
    )
    .await;
    if !reservation.is_settled() {
        // Refused before the password was checked (a foreign nonce, a store failure):
        // the attempt taught nothing, and gives its room back.
        if let Err(error) = reservation.settle(AttemptOutcome::Void, now).await {
            store_failed(shared, "throttle", &error, client, now);
        }
    }
    result
}

/// An answer to a nonce this process already accepted a correct answer to for this
/// account (a logged-in client's next request): no reservation, so many such requests
/// in flight at once are never refused for filling the throttle's room. A wrong password
/// still counts, after the fact.
async fn check_proven<C, N, R>(
    shared: &Shared<C, N, R>,
    parts: &http::request::Parts,
    answer: crate::verify::Answer<'_>,
    account: Account,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
{
    let name = account.name.clone();
    let result = check_admitted(shared, parts, answer, account, None, client, now).await;
    if let (Err(Rejection::BadCredentials), Some(throttle)) = (&result, &shared.config.throttle) {
        let mut reservation = admit(shared, throttle, client, &name, now).await?;
        settle(
            shared,
            &mut reservation,
            AttemptOutcome::Failed,
            &name,
            client,
            now,
        )
        .await?;
    }
    result
}

/// Admits an attempt by `account` from `client`, or answers why not: a 429 (logged) while
/// the throttle refuses, a 500 when its store fails.
async fn admit<C, N, R>(
    shared: &Shared<C, N, R>,
    throttle: &crate::throttle::Throttle,
    client: IpAddr,
    account: &str,
    now: std::time::SystemTime,
) -> Result<Reservation, Rejection> {
    match throttle.reserve(client, account, now).await {
        Ok(Ok(reservation)) => Ok(reservation),
        Ok(Err(retry_after_secs)) => {
            let rejection = Rejection::Throttled { retry_after_secs };
            Err(logged(rejection, client, account))
        }
        Err(error) => Err(store_failed(shared, "throttle", &error, client, now)),
    }
}

/// The account an answer names: with `userhash`, mapped back through the credential
/// store (a hash that maps to no one stays as sent, and is no account).
struct Account {
    name: String,
    known: bool,
}

async fn resolve_account<C: CredentialStore>(
    store: &C,
    answer: &crate::verify::Answer<'_>,
    realm: &str,
    hash: crate::HashFunction,
) -> Result<Account, C::Error> {
    let sent = &answer.username;
    if answer.hashed_username {
        if let Some(name) = store.username_for_hash(sent, realm, hash).await? {
            return Ok(Account { name, known: true });
        }
        return Ok(Account {
            name: sent.clone().into_owned(),
            known: false,
        });
    }
    Ok(Account {
        name: sent.clone().into_owned(),
        known: true,
    })
}

/// An admitted attempt (`reservation`, when throttled), from the nonce MAC to the replay
/// check.
async fn check_admitted<C, N, R>(
    shared: &Shared<C, N, R>,
    parts: &http::request::Parts,
    answer: crate::verify::Answer<'_>,
    account: Account,
    reservation: Option<&mut Reservation>,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
{
    let config = &shared.config;
    let attempt = answer
        .check_nonce(config, client)
        .inspect_err(|rejection| {
            log_rejection(*rejection, client, None);
        })?;
    let algorithm = attempt.answer.algorithm;
    let hash = algorithm.hash_function();
    // A hash that maps to no one still costs a credential lookup (of the hash, whose
    // answer is ignored), so a known hash with a wrong password and an unknown hash take
    // the same store work, as a wrong password and an unknown user do.
    let credential = shared
        .credentials
        .credential(&account.name, &config.realm, hash)
        .await
        .map_err(|error| credential_store_failed(shared, error, client, now))?
        .filter(|_| account.known);
    let username = account.name;
    let verified = attempt.check_response(
        credential.as_ref().map(Credential::ha1),
        config.dummy_ha1(hash),
        parts.method.as_str().as_bytes(),
    );
    if let Some(reservation) = reservation {
        let outcome = verdict(verified.is_ok(), attempt.from_elsewhere);
        settle(shared, reservation, outcome, &username, client, now).await?;
    }
    let verified = verified.map_err(|rejection| logged(rejection, client, &username))?;
    if attempt.from_elsewhere {
        return Err(logged(Rejection::ForeignNonce, client, &username));
    }
    let (use_, info) = conclude(config, &attempt, verified, client, now)
        .map_err(|rejection| logged(rejection, client, &username))?;
    let use_ = use_.for_account(AccountKey::new(&config.realm, &username));
    match shared.nonces.record_use(use_).await {
        Ok(NcCheck::Accepted) => {
            if let Some(throttle) = &config.throttle {
                let nonce = attempt.answer.raw_nonce();
                throttle.remember_proven(nonce, &username, config.lifetime_secs, now);
            }
        }
        Ok(NcCheck::Replayed) => return Err(logged(Rejection::Replay, client, &username)),
        Ok(NcCheck::Ended) => return Err(logged(Rejection::LoginEnded, client, &username)),
        // Below the window: a browser with more than 64 requests in flight on one nonce,
        // or a replay of an old count. Either way the request is refused; stale lets an
        // honest client retry without asking its user.
        Ok(NcCheck::BelowWindow | NcCheck::Forgotten) => {
            return Err(logged(Rejection::StaleNonce, client, &username));
        }
        Err(error) => return Err(store_failed(shared, "nonce", &error, client, now)),
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
        )
        .with_login(Login {
            use_,
            store: shared.nonces.clone(),
        }),
        info,
    })
}

/// The one kind of rejection the throttle counts: a wrong password or an unknown user,
/// in a well-formed answer to a genuine nonce. A right answer to a nonce of another
/// address proves nothing new (a captured request is right too), so it clears nothing.
fn verdict(password_verified: bool, from_elsewhere: bool) -> AttemptOutcome {
    match (password_verified, from_elsewhere) {
        (false, _) => AttemptOutcome::Failed,
        (true, false) => AttemptOutcome::Succeeded,
        (true, true) => AttemptOutcome::Void,
    }
}

/// Settles an admitted attempt with the password's verdict and logs the locks it
/// started. Fails closed: a verdict the store could not take is a 500.
async fn settle<C, N, R>(
    shared: &Shared<C, N, R>,
    reservation: &mut Reservation,
    outcome: AttemptOutcome,
    username: &str,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<(), Rejection> {
    match reservation.settle(outcome, now).await {
        Ok(locks) => {
            log_locks(locks, client, username);
            Ok(())
        }
        Err(error) => Err(store_failed(shared, "throttle", &error, client, now)),
    }
}

fn credential_store_failed<C, N, R>(
    shared: &Shared<C, N, R>,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Rejection {
    let error: Box<dyn std::error::Error + Send + Sync> = error.into();
    // `&error`, the box itself (which is Display): `&*error` would upcast
    // `dyn Error` to `dyn Display`, which needs Rust 1.86, past the crate's MSRV.
    store_failed(shared, "credential", &error, client, now)
}

/// Everything after a verified password that needs the attempt, with no store call: the
/// nonce's age (`StaleNonce`), then the use to record and, finished before the replay
/// check (for a refused replay it is work thrown away), `Authentication-Info`.
fn conclude(
    config: &crate::config::Config,
    attempt: &crate::verify::Attempt<'_>,
    verified: crate::verify::Verified,
    client: IpAddr,
    now: std::time::SystemTime,
) -> Result<(NonceUse, AuthInfo), Rejection> {
    let algorithm = attempt.answer.algorithm;
    let age = attempt.fresh_age(now, config.lifetime_secs, &*config.epochs)?;
    let use_ = NonceUse::of_issued(&attempt.nonce, attempt.answer.nc, config.lifetime_secs, now);
    let next_nonce = config.wants_next_nonce(age).then(|| {
        config
            .signer
            .issue(algorithm, config.epochs.current(), client, now)
    });
    Ok((use_, attempt.authentication_info(verified, next_nonce)))
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

/// The rejection response, with a fresh challenge on every 401 (407 in proxy mode),
/// ordered for the client.
pub(crate) fn reject<C, N, R, ResBody>(
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
