//! What the layer logs: rejections (attacks as warnings, ordinary misses at debug),
//! locks, the missing peer address explained once, and store failures (every store's)
//! at most once per interval.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use crate::client_ip::UnknownClient;
use crate::rejection::Rejection;
use crate::throttle::NewLocks;

/// Logs a rejection of a known username and answers it.
pub(super) fn logged(rejection: Rejection, client: IpAddr, username: &str) -> Rejection {
    log_rejection(rejection, client, Some(username));
    rejection
}

/// Every store's failures (credential, nonce, throttle), logged at most one error per
/// [`StoreErrorLog::INTERVAL_SECS`] (by the layer's clock): an outage fails every
/// request, and one line per request would bury everything else. The next line that
/// gets through says how many were held back, and the first success after failures
/// says the stores answer again.
#[derive(Debug, Default)]
pub(super) struct StoreErrorLog {
    /// Unix second of the last line logged, plus one (0: none yet).
    last: AtomicU64,
    suppressed: AtomicU64,
    /// Failures since the last success.
    failing: AtomicU64,
}

impl StoreErrorLog {
    const INTERVAL_SECS: u64 = 10;

    /// Records a failure of `store`, logged unless a line went out within the interval.
    pub(super) fn failed(
        &self,
        store: &'static str,
        error: &dyn std::fmt::Display,
        client: IpAddr,
        now: SystemTime,
    ) {
        self.failing.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.admit(now) {
            tracing::error!(%error, client_ip = %client, store, suppressed, "digest auth: {store} store failed");
        }
    }

    /// Records a request every store answered: after failures, one line says so.
    pub(super) fn succeeded(&self) {
        // The common path: one load, nothing to do.
        if self.failing.load(Ordering::Relaxed) == 0 {
            return;
        }
        let failed = self.failing.swap(0, Ordering::Relaxed);
        if failed > 0 {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            self.last.store(0, Ordering::Relaxed);
            tracing::info!(failed, suppressed, "digest auth: stores answer again");
        }
    }

    /// `Some(held back since the last line)` when this error should be logged.
    fn admit(&self, now: SystemTime) -> Option<u64> {
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
pub(super) fn logged_username(username: &str) -> &str {
    const MAX_LOGGED_USERNAME: usize = 64;
    match username.char_indices().nth(MAX_LOGGED_USERNAME) {
        Some((end, _)) => &username[..end],
        None => username,
    }
}

/// Records each lock a failure started, as a warning with the client address: a
/// possible attack. Locks grow while failures continue, so these never flood the log.
pub(super) fn log_locks(locks: NewLocks, client: IpAddr, username: &str) {
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

/// Why the request has no usable client address, logged, as the rejection to answer.
pub(super) fn unknown_client(unknown: UnknownClient, explained: &AtomicBool) -> Rejection {
    match unknown {
        UnknownClient::NoPeerAddress => {
            report_missing_peer(explained);
            Rejection::UnknownClientIp
        }
        // Any client behind the proxy can send this: info, never an error that pages.
        UnknownClient::BadForwarding { proxy, reason } => {
            tracing::info!(proxy_ip = %proxy, reason, "digest auth: unusable forwarding header");
            Rejection::BadForwarding(reason)
        }
    }
}

/// The server passes no peer address: a set-up mistake every request repeats (typically
/// `axum::serve(listener, app)` instead of `app.into_make_service_with_connect_info`).
/// It is explained once, with the fix, as an error; each later request logs a short
/// line at debug level.
fn report_missing_peer(explained: &AtomicBool) {
    const FIX: &str = "digest auth: no client address in the request, so every request is refused \
        with 500 (nonces are bound to the client's address). With axum, serve with \
        `axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())`; \
        with hyper or another server, insert `tower_digest_auth::PeerAddr(remote_addr)` into each \
        request's extensions";
    if explained.swap(true, Ordering::Relaxed) {
        tracing::debug!("digest auth: no client address in the request (see the first such error)");
        return;
    }
    tracing::error!("{FIX}");
}

/// Records a rejection: possible attacks as warnings with the client address (never a
/// secret), ordinary misses (no credentials yet, an expired nonce) as debug events.
pub(crate) fn log_rejection(rejection: Rejection, client: IpAddr, username: Option<&str>) {
    let username = logged_username(username.unwrap_or(""));
    match rejection {
        Rejection::MissingCredentials | Rejection::StaleNonce => {
            tracing::debug!(client_ip = %client, ?rejection, "digest auth: challenge");
        }
        Rejection::BadCredentials => tracing::warn!(
            client_ip = %client, username, "digest auth: failed password or unknown user"
        ),
        Rejection::LoginEnded => tracing::info!(
            client_ip = %client, username, "digest auth: nonce of an ended login"
        ),
        Rejection::Replay => tracing::warn!(
            client_ip = %client, username, "digest auth: replayed nonce count"
        ),
        // A client that moved, or a captured request sent from elsewhere: answered stale.
        Rejection::ForeignNonce => tracing::warn!(
            client_ip = %client, username,
            "digest auth: nonce issued to another client address, right answer (stale)"
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
