//! The whole decision for one request, from the header to the nonce store; every
//! rejection is logged here, in one place.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;

use super::Shared;
use super::basic::{authenticate_basic, basic_answer};
use super::log::{log_locks, log_rejection, logged};
use crate::config::Config;
use crate::credentials::{Credential, CredentialStore};
use crate::hash::HashFunction;
use crate::logout::Login;
use crate::nonce::{AccountKey, NcCheck, NonceStore, NonceUse};
use crate::rejection::Rejection;
use crate::throttle::{AttemptOutcome, FailureStore, NewLocks, Reservation, StoreError, Throttle};
use crate::user::AuthenticatedUser;
use crate::verify::{Answer, Attempt, AuthInfo, parse_answer};

/// A success, ready to let the request through.
pub(super) struct Authenticated {
    pub(super) user: AuthenticatedUser,
    /// `Authentication-Info`, for a Digest answer (Basic has none).
    pub(super) info: Option<AuthInfo>,
}

/// The account an answer names: with `userhash`, mapped back through the credential
/// store (a hash that maps to no one stays as sent, and is no account).
struct Account {
    name: String,
    known: bool,
}

/// The order is the contract: parse the header (400s), name the account (for a hashed
/// username, the credential store maps it back), admit the attempt under the throttle
/// (429s) before any hashing, then the nonce MAC and the password check, whose verdict
/// settles the attempt at once (so it holds its room only while the password is being
/// checked), then the nonce's age and the replay check.
pub(super) async fn authenticate<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    parts: &Parts,
    client: IpAddr,
    now: SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
    F: FailureStore,
{
    let config = &shared.config;
    if let Some(credentials) = basic_answer(config, parts, client)? {
        // Boxed: Basic is opt-in and rare beside Digest, and its future would otherwise
        // widen every Digest request's by its whole size.
        return Box::pin(authenticate_basic(shared, &credentials, client, now)).await;
    }
    let answer = parse_answer(config, parts).inspect_err(|rejection| {
        log_rejection(*rejection, client, None);
    })?;
    let hash = answer.algorithm.hash_function();
    let account = resolve_account(&shared.credentials, &answer, &config.realm, hash)
        .await
        .map_err(|error| credential_store_failed(shared, error, client, now))?;
    // An answer to a nonce this process already accepted a correct answer to for this
    // account (a logged-in client's next request) takes no reservation, so many such
    // requests in flight at once are never refused for filling the throttle's room. A
    // wrong password there still counts, after the fact. Every spelling of one account
    // (userhash, username*, the plain name) shares one budget; a name no account answers
    // to counts under itself.
    let throttle = shared.throttle.as_ref();
    let mut reservation = match throttle {
        Some(throttle) if !throttle.is_proven(answer.raw_nonce(), &account.name, now) => {
            Some(admit(shared, throttle, client, &account.name, now).await?)
        }
        _ => None,
    };
    // Boxed, as is the rare count below: each of a request's futures stays within the
    // allocator's fast path (see `REQUEST_FUTURE_BUDGET`).
    let admitted = reservation.as_mut();
    let checked = check_admitted(shared, parts, &answer, &account, admitted, client, now);
    let result = Box::pin(checked).await;
    if let Some(reservation) = &mut reservation {
        give_back_unsettled(shared, reservation, client, now).await;
    } else if let (Some(throttle), Err(Rejection::BadCredentials)) = (throttle, &result) {
        Box::pin(count_failure(shared, throttle, client, &account.name, now)).await?;
    }
    result
}

/// A wrong password on an answer that took no reservation (a proven nonce, proven Basic
/// credentials): counted after the fact, as an admitted failure. Its 429 or 500, if
/// any, replaces the 401.
pub(super) async fn count_failure<C, N, R, F: FailureStore>(
    shared: &Shared<C, N, R, F>,
    throttle: &Throttle<F>,
    client: IpAddr,
    account: &str,
    now: SystemTime,
) -> Result<(), Rejection> {
    let mut reservation = admit(shared, throttle, client, account, now).await?;
    let settled = reservation.settle(AttemptOutcome::Failed, now).await;
    settled_or_failed(shared, settled, account, client, now)
}

/// An attempt refused before the password was checked (a foreign nonce, a store
/// failure) taught nothing, and gives its room back.
pub(super) async fn give_back_unsettled<C, N, R, F: FailureStore>(
    shared: &Shared<C, N, R, F>,
    reservation: &mut Reservation<F>,
    client: IpAddr,
    now: SystemTime,
) {
    if reservation.is_settled() {
        return;
    }
    if let Err(error) = reservation.settle(AttemptOutcome::Void, now).await {
        store_failed(shared, "throttle", &error, client, now);
    }
}

/// Admits an attempt by `account` from `client`, or answers why not: a 429 (logged) while
/// the throttle refuses, a 500 when its store fails.
pub(super) async fn admit<C, N, R, F: FailureStore>(
    shared: &Shared<C, N, R, F>,
    throttle: &Throttle<F>,
    client: IpAddr,
    account: &str,
    now: SystemTime,
) -> Result<Reservation<F>, Rejection> {
    match throttle.reserve(client, account, now).await {
        Ok(Ok(reservation)) => Ok(reservation),
        Ok(Err(retry_after_secs)) => {
            let rejection = Rejection::Throttled { retry_after_secs };
            Err(logged(rejection, client, account))
        }
        Err(error) => Err(store_failed(shared, "throttle", &error, client, now)),
    }
}

async fn resolve_account<C: CredentialStore>(
    store: &C,
    answer: &Answer<'_>,
    realm: &str,
    hash: HashFunction,
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
/// check. The answer and the account are borrowed, not moved: this future is part of
/// every request's, and a moved value would be stored in it twice.
async fn check_admitted<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    parts: &Parts,
    answer: &Answer<'_>,
    account: &Account,
    reservation: Option<&mut Reservation<F>>,
    client: IpAddr,
    now: SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
    F: FailureStore,
{
    let config = &shared.config;
    // Only an admitted attempt's success teaches the throttle a new proven nonce; a proven
    // one's later requests (no reservation) are already known, so they write nothing.
    let newly_proven = reservation.is_some();
    let attempt = answer
        .check_nonce(config, client)
        .inspect_err(|rejection| log_rejection(*rejection, client, None))?;
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
    let username = &account.name;
    let method = parts.method.as_str().as_bytes();
    let (outcome, decision) = decide(config, &attempt, credential.as_ref(), method, client, now);
    if let Some(reservation) = reservation {
        let settled = reservation.settle(outcome, now).await;
        settled_or_failed(shared, settled, username, client, now)?;
    }
    let (use_, info) = decision.map_err(|rejection| logged(rejection, client, username))?;
    let account = AccountKey::new(&config.realm, username);
    let use_ = use_.for_account(account);
    let recorded = shared.nonces.record_use(use_).await;
    recorded_or_refused(
        shared,
        recorded,
        &attempt,
        username,
        newly_proven,
        client,
        now,
    )?;
    // check_response refused unknown users, so the credential is there.
    let Some(credential) = credential else {
        return Err(logged(Rejection::BadCredentials, client, username));
    };
    let username = username.clone();
    let (_, roles, data) = credential.into_parts();
    let realm = Arc::clone(&config.realm);
    Ok(Authenticated {
        user: AuthenticatedUser::from_credential_parts(username, realm, algorithm, roles, data)
            .with_login(Login {
                use_: Some(use_),
                account,
                store: shared.nonces.clone(),
            }),
        info: Some(info),
    })
}

/// The replay check's answer: the nonce store accepts each `(nonce, nc)` once. The store
/// is called where the request waits for it; this reads what it said.
fn recorded_or_refused<C, N: NonceStore, R, F>(
    shared: &Shared<C, N, R, F>,
    recorded: Result<NcCheck, N::Error>,
    attempt: &Attempt<'_>,
    username: &str,
    newly_proven: bool,
    client: IpAddr,
    now: SystemTime,
) -> Result<(), Rejection> {
    match recorded {
        Ok(NcCheck::Accepted) => {
            shared.store_errors.succeeded();
            if let (Some(throttle), true) = (&shared.throttle, newly_proven) {
                let nonce = attempt.answer.raw_nonce();
                let lifetime_secs = shared.config.lifetime_secs;
                throttle.remember_proven(nonce, username, lifetime_secs, now);
            }
            Ok(())
        }
        Ok(NcCheck::Replayed) => Err(logged(Rejection::Replay, client, username)),
        Ok(NcCheck::Ended) => Err(logged(Rejection::LoginEnded, client, username)),
        // Below the window: a browser with more than 64 requests in flight on one nonce,
        // or a replay of an old count. Either way the request is refused; stale lets an
        // honest client retry without asking its user.
        Ok(NcCheck::BelowWindow | NcCheck::Forgotten) => {
            Err(logged(Rejection::StaleNonce, client, username))
        }
        Err(error) => Err(store_failed(shared, "nonce", &error, client, now)),
    }
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

/// What settling an admitted attempt with the password's verdict gave: the locks it
/// started, logged, or the store's failure. Fails closed: a verdict the store could not
/// take is a 500.
pub(super) fn settled_or_failed<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    settled: Result<NewLocks, StoreError>,
    username: &str,
    client: IpAddr,
    now: SystemTime,
) -> Result<(), Rejection> {
    match settled {
        Ok(locks) => {
            log_locks(locks, client, username);
            Ok(())
        }
        Err(error) => Err(store_failed(shared, "throttle", &error, client, now)),
    }
}

/// The password's verdict (what the throttle learns) and everything after it that needs
/// no store call, at once: a wrong password (`BadCredentials`), a right one to a nonce of
/// another address (`ForeignNonce`), the nonce's age (`StaleNonce`), then the use to
/// record and `Authentication-Info`, finished before the replay check (for a refused
/// replay it is work thrown away). Done in one synchronous step so the hashing state,
/// which is large, never waits on a store inside the request's future.
fn decide(
    config: &Config,
    attempt: &Attempt<'_>,
    credential: Option<&Credential>,
    method: &[u8],
    client: IpAddr,
    now: SystemTime,
) -> (AttemptOutcome, Result<(NonceUse, AuthInfo), Rejection>) {
    let algorithm = attempt.answer.algorithm;
    let dummy = config.dummy_ha1(algorithm.hash_function());
    let verified = attempt.check_response(credential.map(Credential::ha1), dummy, method);
    let outcome = verdict(verified.is_ok(), attempt.from_elsewhere);
    let decision = verified.and_then(|verified| {
        if attempt.from_elsewhere {
            return Err(Rejection::ForeignNonce);
        }
        let age = attempt.fresh_age(now, config.lifetime_secs, &*config.epochs)?;
        let use_ =
            NonceUse::of_issued(&attempt.nonce, attempt.answer.nc, config.lifetime_secs, now);
        let next_nonce = config.wants_next_nonce(age).then(|| {
            config
                .signer
                .issue(algorithm, config.epochs.current(), client, now)
        });
        Ok((use_, attempt.authentication_info(verified, next_nonce)))
    });
    (outcome, decision)
}

pub(super) fn credential_store_failed<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    client: IpAddr,
    now: SystemTime,
) -> Rejection {
    let error: Box<dyn std::error::Error + Send + Sync> = error.into();
    // `&error`, the box itself (which is Display): `&*error` would upcast
    // `dyn Error` to `dyn Display`, which needs Rust 1.86, past the crate's MSRV.
    store_failed(shared, "credential", &error, client, now)
}

/// Logs a store's failure (at most one line per interval for every store together) and
/// answers it: a 500, never a 200.
pub(super) fn store_failed<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    store: &'static str,
    error: &dyn std::fmt::Display,
    client: IpAddr,
    now: SystemTime,
) -> Rejection {
    shared.store_errors.failed(store, error, client, now);
    Rejection::StoreFailure
}

#[cfg(test)]
mod tests {
    use http::Request;
    use http::header::AUTHORIZATION;

    use super::*;
    use crate::service::tests::{REQUEST_FUTURE_BUDGET, layer};

    #[test]
    fn the_password_checks_future_fits_the_budget() {
        let layer = layer();
        let shared = &layer.shared;
        let header = "Digest username=\"alice\", realm=\"realm\", nonce=\"n\", uri=\"/\", \
                      response=\"00000000000000000000000000000000\", qop=auth, nc=00000001, \
                      cnonce=\"c\", algorithm=MD5";
        let request = Request::get("/").header(AUTHORIZATION, header).body(());
        let (parts, ()) = request.unwrap().into_parts();
        let answer = parse_answer(&shared.config, &parts).unwrap();
        let account = Account {
            name: "alice".to_owned(),
            known: true,
        };
        let client = IpAddr::from([127, 0, 0, 1]);
        let now = SystemTime::now();
        let check = check_admitted(shared, &parts, &answer, &account, None, client, now);
        let size = std::mem::size_of_val(&check);
        assert!(size <= REQUEST_FUTURE_BUDGET, "{size} bytes");
    }
}
