//! What the header alone decides for a `qop=auth-int` request, before its body is read:
//! the failed-login throttle, the nonce's MAC and the nonce's age. A locked-out client, a
//! forged nonce or an expired one never makes the server wait for, or buffer, a body.
//!
//! The checks are the verification's own building blocks, asked in the service's order
//! (client address, header, throttle, nonce MAC), with the nonce's age after them. Nothing
//! here counts, records or asks the credential store: a request that passes is read and
//! then verified by the [`DigestService`](crate::DigestService) exactly as before, all
//! checks again.

use std::net::IpAddr;
use std::time::SystemTime;

use http::request::Parts;

use crate::config::Config;
use crate::rejection::Rejection;
use crate::throttle::{FailureKey, FailureStore, StoreError, Throttle};
use crate::verify::{Attempt, parse_answer};

/// What to do with an auth-int request before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderCheck {
    /// Nothing in the header refuses the request: read the body, then verify.
    ReadBody,
    /// The service refuses this request from its head alone, before any store call or
    /// anything that depends on the body (no usable client address): hand it on with an
    /// empty body, and it answers and logs as it always does.
    HandOn,
    /// Refused now, as the service would refuse it, without reading the body; the
    /// rejection is logged already.
    Refuse(Rejection, IpAddr),
}

/// The checks of an auth-int request's head. `parts` must carry a
/// [`CollectedBody`](crate::verify::CollectedBody) (a placeholder will do), since the parser
/// refuses auth-int without one.
///
/// One answer differs from what the service would give after reading the body: an
/// expired nonce is `stale` here whatever the password, where the service checks the
/// password first. The client retries with a fresh nonce and then gets the real verdict;
/// an expired nonce thus answers the same for every password, and counts as no failure.
pub(super) async fn check_header<F: FailureStore>(
    config: &Config,
    throttle: Option<&Throttle<F>>,
    parts: &Parts,
    now: SystemTime,
) -> HeaderCheck {
    let Ok(client) = config.client_ip.client_ip(parts) else {
        return HeaderCheck::HandOn;
    };
    let answer = match parse_answer(config, parts) {
        Ok(answer) => answer,
        // No credentials at all (not an auth-int answer after all): the service decides,
        // with allow_anonymous among other things.
        Err(Rejection::MissingCredentials) => return HeaderCheck::ReadBody,
        Err(rejection) => return refuse(rejection, client, None),
    };
    if let Some(throttle) = throttle {
        let key = FailureKey::new(client, &answer.username);
        match locked(throttle, key, now).await {
            Ok(Some(retry_after_secs)) => {
                let rejection = Rejection::Throttled { retry_after_secs };
                return refuse(rejection, client, Some(&answer.username));
            }
            Ok(None) => {}
            // The service asks again after the body, and answers the failure (500).
            Err(_) => return HeaderCheck::ReadBody,
        }
    }
    let attempt = match answer.check_nonce(config, client) {
        Ok(attempt) => attempt,
        Err(rejection) => return refuse(rejection, client, None),
    };
    match fresh(&attempt, config, now) {
        Ok(()) => HeaderCheck::ReadBody,
        Err(rejection) => refuse(rejection, client, Some(&attempt.answer.username)),
    }
}

fn refuse(rejection: Rejection, client: IpAddr, username: Option<&str>) -> HeaderCheck {
    crate::service::log_rejection(rejection, client, username);
    HeaderCheck::Refuse(rejection, client)
}

/// The throttle's look at a key, which counts nothing: `Some(Retry-After seconds)` while
/// the address, or the address and user, is locked.
async fn locked<F: FailureStore>(
    throttle: &Throttle<F>,
    key: FailureKey<'_>,
    now: SystemTime,
) -> Result<Option<u64>, StoreError> {
    throttle.lock(key, now).await
}

/// Whether the nonce is still young enough to be accepted: the verification's own age
/// boundary, asked before the password instead of after it.
fn fresh(attempt: &Attempt<'_>, config: &Config, now: SystemTime) -> Result<(), Rejection> {
    attempt
        .fresh_age(now, config.lifetime_secs, &*config.epochs)
        .map(drop)
}
