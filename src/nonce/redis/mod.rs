//! A [`NonceStore`] in Redis, shared by every instance that uses the same Redis and key
//! prefix: one Redis node or a Redis Cluster.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::cluster::ClusterClient;
use redis::{Cmd, Value};

use super::{NcCheck, NonceEpoch, NonceStore, NonceUse};
use crate::clock::MAX_CLOCK_SKEW;
use generation::Generations;
use server::{ServerReport, Unfit};

mod builder;
mod conn;
mod error;
mod generation;
mod logins;
mod server;

pub use builder::RedisNonceStoreBuilder;
use conn::{Conn, Target};
pub use error::RedisStoreError;

/// The nc window update and the generation check, atomic on the server.
///
/// Lua numbers are doubles, so no 64-bit value is ever held in one: `nc` and the highest
/// value seen travel as 32-bit halves, and the 64-bit bitmap (bit `i`: `highest - i` was
/// used) as two 32-bit words shifted with Redis's `bit` library. The value is 24 bytes:
/// highest (high, low), bitmap (high, low), and when its login began (see `logins.rs`),
/// big-endian; or `ended`. The difference `nc - highest` is
/// exact below 2^53 and, above, still has the right sign and a size of at least 64, which
/// is all the window needs. The arguments are in the script's header.
const WINDOW_SCRIPT: &str = include_str!("window.lua");

/// Reads a tag's generation marker, creating it when missing.
const GENERATION_SCRIPT: &str = include_str!("generation.lua");

/// How often the store reads the server's eviction settings (`INFO`) when nothing went
/// wrong. (Data loss needs no polling: the generation marker tells at once.)
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Added to a window's TTL beyond the nonce's remaining life and the tolerated clock
/// skew: the time between the layer reading its clock and the script running.
const TTL_MARGIN: Duration = Duration::from_secs(5);

/// A [`NonceStore`] in Redis, for several instances behind one load balancer.
///
/// Every nonce that has verified is one Redis key, `prefix{t}` + the nonce id in
/// base64url, holding the same 64-value window as [`NcWindow`](super::NcWindow) in 24
/// bytes (with when its login began, for [`end_all_logins`](NonceStore::end_all_logins)). A Lua script (sent as `EVALSHA`, loaded again on `NOSCRIPT`) updates it
/// atomically on the server, so when one `(nonce, nc)` reaches several instances at once
/// exactly one of them accepts it. The `{t}` is a hash tag: one on a single node, 16 on a
/// Cluster, so a Cluster spreads the nonces over 16 hash slots (and up to 16 primaries).
///
/// **Clocks.** A nonce is accepted while its age is under the lifetime, by the clock of
/// the instance that sees it; instances may disagree by up to 60 seconds (a nonce issued
/// up to that far in an instance's future is accepted). So a window lives the nonce's
/// remaining life (by the clock of the instance that creates it) plus those 60 seconds
/// plus 5 seconds of margin: no instance within the tolerated skew still accepts a nonce
/// whose window is gone. Keep the clocks synchronized (NTP) well within 60 seconds.
///
/// **Lost data is told by Redis itself.** Each hash tag has a generation marker,
/// `prefix{t}generation`, created once with a random 28-bit generation and never
/// expiring; every nonce carries (in its signed [`NonceEpoch`]) its tag and the
/// generation it was issued under. The script that updates a window reads the marker in
/// the same call when the nonce has no window yet (one that exists was created under its
/// nonce's generation, after the marker, and Redis never loses a key but keeps a later
/// one): when Redis lost its data (restarted without persistence, `FLUSHALL`,
/// failed over to a replica that had nothing) the marker is gone, the script creates a
/// new one, and every nonce of the old generation gets `stale=true` at once (the client
/// retries with a fresh nonce, without asking its user). The instance learns the new
/// generation from that reply and issues nonces under it; an instance started later reads
/// the markers when it connects. No clock, no polling, the same over RESP2 and RESP3, on
/// one node and on every node of a Cluster (each node's markers stand for its slots).
/// Nonces issued before an instance knows a generation carry none and are answered stale
/// once. A lost marker is told apart from its re-creation except when the new random
/// generation equals the old one (one chance in 2^28).
///
/// **Fails closed, recovers alone.** Building the store does not connect: the first use
/// does, and a lost connection is rebuilt by a later use. Every call is bounded by
/// [`timeout`](RedisNonceStoreBuilder::timeout); when Redis is down, slow or answers
/// something else the call returns an error (the request gets a 500), never a guess.
/// The layer logs the errors, at most one line per 10 seconds for all its stores, with
/// the number held back. The store
/// refuses to work with a server that may evict keys (`maxmemory` set and a
/// `maxmemory-policy` other than `noeviction`), answering errors that name the setting.
///
/// **Failover.** Redis replicates asynchronously: a replica promoted after a primary
/// failed may lack the last window updates the primary acknowledged (its markers
/// replicated long before, so it does not look like lost data), and a request accepted
/// in that gap can be accepted once more. With
/// [`wait_for_replicas`](RedisNonceStoreBuilder::wait_for_replicas) a request is
/// accepted only once that many replicas have the update.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};
/// use tower_digest_auth::nonce::RedisNonceStore;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let realm = "api@example.org";
/// // The same key and the same Redis in every instance.
/// let key = NonceKey::from_bytes(1, &[7; 32])?;
/// let nonces = RedisNonceStore::from_url("redis://127.0.0.1:6379/")?
///     .timeout(Duration::from_millis(500))
///     .build();
/// let layer = DigestLayer::builder(realm, MemoryCredentials::new(realm, [("alice", "s3cret")]))
///     .nonce_key(key)
///     .nonce_store(nonces)
///     .build()?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisNonceStore {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
    check_eviction_policy: bool,
    /// `WAIT` for this many replicas, this long, before accepting.
    replicas: Option<(u32, Duration)>,
    /// Per hash tag, `prefix{t}` and its generation marker's key.
    tags: Vec<(Vec<u8>, Vec<u8>)>,
    generations: Generations,
    script: redis::Script,
    generation_script: redis::Script,
    /// The connection in use and its serial; `None` until first use and after an error.
    conn: Mutex<Option<(u64, Conn)>>,
    /// Held while connecting, so concurrent requests make one connection.
    connecting: tokio::sync::Mutex<()>,
    serial: AtomicU64,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    last_check: Option<Instant>,
    /// Set by every error and every new connection: check before the next command.
    check_needed: bool,
    /// Why the server is unfit, as of the last check.
    unfit: Option<Unfit>,
}

impl RedisNonceStore {
    /// The default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "digest:nonce:";
    /// The default bound on every call to Redis.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A store on the single Redis node at `url` (`redis://host:port/db`, or
    /// `rediss://` with the `redis-tls` feature; credentials as in
    /// `redis://user:password@host/`; `?protocol=resp3` for RESP3). Nothing connects yet.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn from_url(url: &str) -> Result<RedisNonceStoreBuilder, RedisStoreError> {
        Ok(Self::single(redis::Client::open(url)?))
    }

    /// A store on the Redis Cluster reached through any of `urls` (the seed nodes).
    ///
    /// # Errors
    /// When a URL is not a Redis URL.
    pub fn from_cluster_urls<I, S>(urls: I) -> Result<RedisNonceStoreBuilder, RedisStoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        Ok(Self::cluster(ClusterClient::new(nodes)?))
    }

    /// A store on one node through a client you built (for TLS certificates, say:
    /// `redis::Client::build_with_tls`).
    pub fn single(client: redis::Client) -> RedisNonceStoreBuilder {
        RedisNonceStoreBuilder::new(Target::Single(client))
    }

    /// A store on a Redis Cluster through a client you built.
    pub fn cluster(client: ClusterClient) -> RedisNonceStoreBuilder {
        RedisNonceStoreBuilder::new(Target::Cluster(client))
    }

    /// Connects now and learns every generation marker, rather than on the first
    /// request. Call it at startup: a store connects on first use otherwise, and the
    /// nonces a layer issues before then carry no generation, so their first answers get
    /// `stale=true` (the client retries with a fresh nonce, but a login takes one round
    /// trip more). An error (Redis down) changes nothing: the store still connects on
    /// first use.
    ///
    /// # Errors
    /// When Redis cannot be reached within the store's [`timeout`](RedisNonceStoreBuilder::timeout).
    pub async fn connect(&self) -> Result<(), RedisStoreError> {
        let inner = &*self.inner;
        tokio::time::timeout(inner.timeout, inner.connection())
            .await
            .unwrap_or(Err(RedisStoreError::Timeout(inner.timeout)))
            .map(drop)
    }

    /// The Redis key of the window of a nonce with id `id` and epoch `epoch`, for
    /// operators and tests; `None` for an epoch of another store's layout.
    pub fn key_of(&self, id: &super::NonceId, epoch: NonceEpoch) -> Option<Vec<u8>> {
        let (tag, _) = self.inner.generations.split(epoch)?;
        Some(self.inner.key(tag, id))
    }

    async fn record(&self, use_: NonceUse) -> Result<NcCheck, RedisStoreError> {
        let inner = &*self.inner;
        let mut serial = None;
        let result = tokio::time::timeout(inner.timeout, inner.record(use_, &mut serial))
            .await
            .unwrap_or(Err(RedisStoreError::Timeout(inner.timeout)));
        if let Err(error) = &result {
            inner.failed(error, serial);
        }
        result
    }
}

impl RedisNonceStore {
    /// `call` within the store's timeout, its failure logged and handled as a window
    /// update's.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisStoreError>>,
    ) -> Result<T, RedisStoreError> {
        let inner = &*self.inner;
        let result = tokio::time::timeout(inner.timeout, call)
            .await
            .unwrap_or(Err(RedisStoreError::Timeout(inner.timeout)));
        if let Err(error) = &result {
            inner.failed(error, None);
        }
        result
    }
}

impl Inner {
    /// `prefix{tag}` + the id in base64url.
    fn key(&self, tag: usize, id: &super::NonceId) -> Vec<u8> {
        let start_key = &self.tags[tag].0;
        let mut key = Vec::with_capacity(start_key.len() + 22);
        key.extend_from_slice(start_key);
        let start = key.len();
        key.resize(start + 22, 0);
        let written = URL_SAFE_NO_PAD
            .encode_slice(id.as_bytes(), &mut key[start..])
            .unwrap_or(0);
        key.truncate(start + written);
        key
    }

    async fn record(
        &self,
        use_: NonceUse,
        serial: &mut Option<u64>,
    ) -> Result<NcCheck, RedisStoreError> {
        // The layer never hands over an expired use, nor one of another layout.
        let (Some(remaining), Some((tag, generation))) =
            (use_.remaining_life(), self.generations.split(use_.epoch))
        else {
            return Ok(NcCheck::Forgotten);
        };
        let (current, mut conn) = self.connection().await?;
        *serial = Some(current);
        self.check_server_if_due(&mut conn).await?;
        let ttl = remaining + MAX_CLOCK_SKEW + TTL_MARGIN;
        let (ends, ended) = self.end_keys(tag, use_.account.as_ref());
        // One command buffer, the numbers formatted straight into it: no per-argument
        // allocation (as `Script::key`/`arg` would make), built once even on `NOSCRIPT`.
        let mut cmd = Cmd::with_capacity(11, 224);
        cmd.arg("EVALSHA")
            .arg(self.script.get_hash())
            .arg(4)
            .arg(self.key(tag, &use_.id))
            .arg(&self.tags[tag].1)
            .arg(ends)
            .arg(ended)
            .arg(use_.nc >> 32)
            .arg(use_.nc & 0xffff_ffff)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(generation)
            .arg(generation::fresh());
        let reply: i64 = match cmd.query_async(&mut conn).await {
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.script.prepare_invoke().load_async(&mut conn).await?;
                cmd.query_async(&mut conn).await?
            }
            reply => reply?,
        };
        match reply {
            0 => {
                self.wait_for_replicas(&mut conn).await?;
                Ok(NcCheck::Accepted)
            }
            1 => Ok(NcCheck::Replayed),
            2 => Ok(NcCheck::BelowWindow),
            3 => Ok(NcCheck::Ended),
            current if current < 0 => {
                self.learn(tag, -current);
                Ok(NcCheck::Forgotten)
            }
            other => Err(RedisStoreError::UnexpectedReply(other)),
        }
    }

    fn learn(&self, tag: usize, generation: i64) {
        if let Ok(generation) = u32::try_from(generation) {
            self.generations.learn(tag, generation);
        }
    }

    async fn wait_for_replicas(&self, conn: &mut Conn) -> Result<(), RedisStoreError> {
        let Some((wanted, timeout)) = self.replicas else {
            return Ok(());
        };
        let acknowledged: i64 = redis::cmd("WAIT")
            .arg(wanted)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
            .query_async(conn)
            .await?;
        if acknowledged < i64::from(wanted) {
            return Err(RedisStoreError::NotReplicated {
                wanted,
                acknowledged,
            });
        }
        Ok(())
    }

    /// Reads the server's eviction settings when a check is due: after a new connection
    /// or an error, and every [`CHECK_EVERY`].
    async fn check_server_if_due(&self, conn: &mut Conn) -> Result<(), RedisStoreError> {
        if !self.check_eviction_policy {
            return Ok(());
        }
        {
            let health = self.lock_health();
            let due = health.check_needed
                || health
                    .last_check
                    .is_none_or(|last| last.elapsed() >= CHECK_EVERY);
            if !due {
                return health
                    .unfit
                    .clone()
                    .map_or(Ok(()), |unfit| Err(unfit.into()));
            }
        }
        let info: Value = redis::cmd("INFO").query_async(conn).await?;
        let unfit = ServerReport::from_info(&info).unfit();
        let mut health = self.lock_health();
        health.last_check = Some(Instant::now());
        health.check_needed = false;
        health.unfit.clone_from(&unfit);
        unfit.map_or(Ok(()), |unfit| Err(unfit.into()))
    }

    /// After an error (which the caller logs: the layer, once per interval for every
    /// store): check the server before the next command, and drop the connection the call used so the next one starts afresh (a connection
    /// that timed out or read garbage may be out of step).
    fn failed(&self, error: &RedisStoreError, serial: Option<u64>) {
        self.lock_health().check_needed = true;
        if matches!(
            error,
            RedisStoreError::EvictionPossible { .. }
                | RedisStoreError::UnknownPolicy(_)
                | RedisStoreError::NotReplicated { .. }
        ) {
            return;
        }
        let mut conn = self.lock_conn();
        if serial.is_none() || conn.as_ref().map(|(s, _)| *s) == serial {
            *conn = None;
        }
    }

    fn lock_conn(&self) -> std::sync::MutexGuard<'_, Option<(u64, Conn)>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for RedisNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client holds the URL, which may hold a password: not printed.
        f.debug_struct("RedisNonceStore")
            .field("cluster", &matches!(self.inner.target, Target::Cluster(_)))
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl NonceStore for RedisNonceStore {
    type Error = RedisStoreError;

    /// A random tag's generation, as last learned from Redis.
    fn epoch(&self) -> NonceEpoch {
        self.inner.generations.current()
    }

    /// Every epoch reaches the script, which checks it against the generation marker
    /// atomically with the window.
    fn accepts_epoch(&self, _epoch: NonceEpoch) -> bool {
        true
    }

    fn record_use(
        &self,
        use_: NonceUse,
    ) -> impl Future<Output = Result<NcCheck, RedisStoreError>> + Send {
        self.record(use_)
    }

    async fn end_login(&self, login: NonceUse) -> Result<bool, RedisStoreError> {
        self.bounded(self.inner.end_login(login))
            .await
            .map(|()| true)
    }

    async fn end_all_logins(
        &self,
        account: crate::nonce::AccountKey,
    ) -> Result<bool, RedisStoreError> {
        self.bounded(self.inner.end_all_logins(account))
            .await
            .map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_the_tag_and_the_id_in_base64url() {
        let store = RedisNonceStore::from_url("redis://127.0.0.1:1/")
            .unwrap()
            .prefix("p:")
            .build();
        let id = super::super::NonceId::from_bytes([0xff; 16]);
        let key = store.key_of(&id, store.epoch()).unwrap();
        assert_eq!(key, b"p:{0}_____________________w");
        assert_eq!(store.inner.tags[0].1, b"p:{0}generation");
        assert_eq!(
            store.key_of(&id, NonceEpoch::from_u32(1 << 28)),
            None,
            "one tag on a single node"
        );
    }
}
