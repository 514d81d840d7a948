//! A Basic answer, where the layer accepts one ([`BasicAuth`](crate::basic::BasicAuth)):
//! the password checked against the credential store's `HA1`s under the same throttle as
//! a Digest answer, in the same order (parse, admit, check, settle).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;

use super::Shared;
use super::authenticate::{
    Authenticated, admit, count_failure, credential_store_failed, give_back_unsettled,
    settled_or_failed, store_failed,
};
use super::log::{log_rejection, logged};
use crate::basic::{AuthScheme, BasicCredentials, is_basic, matching_hash, parse_basic};
use crate::config::Config;
use crate::credentials::{Credential, CredentialStore};
use crate::hash::Algorithm;
use crate::logout::Login;
use crate::nonce::{AccountKey, NonceStore};
use crate::rejection::Rejection;
use crate::throttle::{AttemptOutcome, FailureKey, FailureStore, Reservation};
use crate::user::AuthenticatedUser;

/// The Basic credentials of a request whose one credentials header is in the Basic
/// scheme, on a layer that takes Basic: `Ok(None)` for any other request (Digest goes
/// on), and [`Rejection::MissingCredentials`] where Basic is not allowed (plain HTTP
/// under [`BasicAuth::OverTls`](crate::basic::BasicAuth::OverTls)), read no further. Two
/// headers are left to the Digest parser, which refuses them.
pub(super) fn basic_answer(
    config: &Config,
    parts: &Parts,
    client: IpAddr,
) -> Result<Option<BasicCredentials>, Rejection> {
    let Some(basic) = &config.basic else {
        return Ok(None);
    };
    let mut headers = parts
        .headers
        .get_all(config.mode.credentials_header())
        .iter();
    let (Some(header), None) = (headers.next(), headers.next()) else {
        return Ok(None);
    };
    if !is_basic(header.as_bytes()) {
        return Ok(None);
    }
    if !basic.allowed(parts, &config.client_ip) {
        tracing::debug!(
            client_ip = %client,
            "digest auth: Basic credentials where Basic is not allowed (not over TLS); challenged"
        );
        return Err(Rejection::MissingCredentials);
    }
    parse_basic(header.as_bytes())
        .map(Some)
        .inspect_err(|rejection| log_rejection(*rejection, client, None))
}

/// A Basic answer through the throttle: admitted (or 429) before any lookup or hashing,
/// settled by the password's verdict. Credentials this process accepted before for the
/// same account skip the reservation, as a proven Digest nonce does, so a logged-in
/// client's parallel requests are not refused while the store is slow; they still wait
/// out a lock, and a wrong password on them (the password changed since) still counts.
pub(super) async fn authenticate_basic<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    credentials: &BasicCredentials,
    client: IpAddr,
    now: SystemTime,
) -> Result<Authenticated, Rejection>
where
    C: CredentialStore,
    N: NonceStore,
    F: FailureStore,
{
    let username = credentials.username();
    let Some(throttle) = &shared.throttle else {
        return check(shared, credentials, None, client, now).await;
    };
    let proof = credentials.as_bytes();
    if throttle.is_proven(proof, username, now) {
        // Proven credentials are the password itself, so a lock must still hold them
        // back: a guesser locked out would otherwise see the one right guess get in.
        let key = FailureKey::new(client, username);
        match throttle.lock(key, now).await {
            Ok(None) => {}
            Ok(Some(retry_after_secs)) => {
                let rejection = Rejection::Throttled { retry_after_secs };
                return Err(logged(rejection, client, username));
            }
            Err(error) => return Err(store_failed(shared, "throttle", &error, client, now)),
        }
        let result = check(shared, credentials, None, client, now).await;
        if let Err(Rejection::BadCredentials) = &result {
            count_failure(shared, throttle, client, username, now).await?;
        }
        return result;
    }
    let mut reservation = admit(shared, throttle, client, username, now).await?;
    let result = check(shared, credentials, Some(&mut reservation), client, now).await;
    give_back_unsettled(shared, &mut reservation, client, now).await;
    if result.is_ok() {
        let lifetime_secs = shared.config.lifetime_secs;
        throttle.remember_proven(proof, username, lifetime_secs, now);
    }
    result
}

/// The password against the user's `HA1` of each hash function the layer offers (a
/// dummy one where the store has none, so an unknown user takes the same lookups and
/// hashing), then the verdict settles `reservation`.
async fn check<C, N, R, F>(
    shared: &Shared<C, N, R, F>,
    credentials: &BasicCredentials,
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
    let algorithms = config
        .basic
        .as_ref()
        .map_or(&[][..], |basic| basic.algorithms());
    let username = credentials.username();
    let mut found: Vec<Option<Credential>> = Vec::with_capacity(algorithms.len());
    for algorithm in algorithms {
        let credential = shared
            .credentials
            .credential(username, &config.realm, algorithm.hash_function())
            .await
            .map_err(|error| credential_store_failed(shared, error, client, now))?;
        found.push(credential);
    }
    let stored = algorithms
        .iter()
        .zip(&found)
        .map(|(algorithm, credential)| {
            let ha1 = credential.as_ref().map(Credential::ha1);
            (algorithm.hash_function(), ha1)
        });
    let matched = matching_hash(credentials, &config.realm, stored, |hash| {
        config.dummy_ha1(hash)
    });
    if let Some(reservation) = reservation {
        let outcome = if matched.is_some() {
            AttemptOutcome::Succeeded
        } else {
            AttemptOutcome::Failed
        };
        let settled = reservation.settle(outcome, now).await;
        settled_or_failed(shared, settled, username, client, now)?;
    }
    let matched = matched.and_then(|index| Some((algorithms[index], found.swap_remove(index)?)));
    let Some((algorithm, credential)) = matched else {
        return Err(logged(Rejection::BadCredentials, client, username));
    };
    shared.store_errors.succeeded();
    let user = basic_user(shared, username, algorithm, credential);
    Ok(Authenticated { user, info: None })
}

/// The user a Basic answer authenticated: the store's roles and data, and a login that
/// has no nonce to end (its account's Digest logins can still all be ended).
fn basic_user<C, N: NonceStore, R, F>(
    shared: &Shared<C, N, R, F>,
    username: &str,
    algorithm: Algorithm,
    credential: Credential,
) -> AuthenticatedUser {
    let (_, roles, data) = credential.into_parts();
    let realm = Arc::clone(&shared.config.realm);
    let account = AccountKey::new(&realm, username);
    let username = username.to_owned();
    AuthenticatedUser::from_credential_parts(username, realm, algorithm, roles, data)
        .with_scheme(AuthScheme::Basic)
        .with_login(Login {
            use_: None,
            account,
            store: shared.nonces.clone(),
        })
}
