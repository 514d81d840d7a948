//! A [`NonceStore`] in Redis, shared by every instance that uses the same Redis and key
//! prefix: one Redis node or a Redis Cluster.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::{NcCheck, NonceEpoch, NonceStore, NonceUse};
use crate::clock::unix_secs;
use server::{LogLimiter, ServerReport, Unfit};

mod server;

/// The nc window update, atomic on the server.
///
/// Lua numbers are doubles, so no 64-bit value is ever held in one: `nc` and the highest
/// value seen travel as 32-bit halves, and the 64-bit bitmap (bit `i`: `highest - i` was
/// used) as two 32-bit words shifted with Redis's `bit` library. The value is 16 bytes:
/// highest (high, low), bitmap (high, low), big-endian. The difference `nc - highest` is
/// exact below 2^53 and, above, still has the right sign and a size of at least 64, which
/// is all the window needs.
///
/// KEYS[1]: the nonce's key. ARGV: nc high, nc low, TTL in milliseconds, and `1` when a
/// missing key may be created (`0`: the nonce may have been used before Redis lost it).
/// Returns 0 accepted, 1 replayed, 2 below the window, 3 forgotten.
const WINDOW_SCRIPT: &str = include_str!("window.lua");

/// How often the store asks Redis who it is (`INFO`) when nothing went wrong.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Why a [`RedisNonceStore`] could not answer. The request gets a 500: a store that cannot
/// tell a replay from a first use refuses both.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// Redis refused the command, the connection failed, or the reply did not parse.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time (it is down, overloaded or unreachable).
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The script answered something it never returns.
    #[error("redis answered {0}, not a nonce window result")]
    UnexpectedReply(i64),
    /// Redis may evict keys under memory pressure, and an evicted nonce would make a
    /// replay look like a first use.
    #[error(
        "redis may evict nonces (maxmemory {maxmemory} with maxmemory-policy {policy}): \
         set maxmemory-policy noeviction, or maxmemory 0"
    )]
    EvictionPossible {
        /// The server's `maxmemory` in bytes.
        maxmemory: u64,
        /// The server's `maxmemory-policy`.
        policy: String,
    },
    /// `INFO` did not say what the store needs (a server that hides its configuration);
    /// see [`RedisNonceStoreBuilder::check_eviction_policy`].
    #[error("redis INFO lacks {0}; cannot tell whether nonces may be evicted")]
    UnknownPolicy(&'static str),
}

/// A [`NonceStore`] in Redis, for several instances behind one load balancer.
///
/// Every nonce that has verified is one Redis key, `prefix` + the nonce id in base64url,
/// holding the same 64-value window as [`NcWindow`](super::NcWindow) in 16 bytes, with a
/// TTL of the nonce's remaining lifetime. A Lua script (sent as `EVALSHA`, loaded again
/// on `NOSCRIPT`) updates it atomically on the server, so when one `(nonce, nc)` reaches
/// several instances at once exactly one of them accepts it. One key per nonce means one
/// hash slot per nonce, so the store works the same on a Redis Cluster.
///
/// Every instance with the same prefix shares one [`NonceEpoch`] (derived from the
/// prefix), so a nonce issued by one is accepted by the others. Give each deployment
/// that must not accept another's nonces its own prefix.
///
/// **Fails closed, recovers alone.** Building the store does not connect: the first use
/// does, and a lost connection is rebuilt by a later use. Every call is bounded by
/// [`timeout`](RedisNonceStoreBuilder::timeout); when Redis is down, slow or answers
/// something else the call returns an error (the request gets a 500), never a guess.
/// Errors are logged at most once per 10 seconds, with the number held back.
///
/// **Lost keys.** A key that vanishes before its nonce expires would make a replay look
/// like a first use. So the store
/// - refuses to work with a server that may evict keys (`maxmemory` set and a
///   `maxmemory-policy` other than `noeviction`; every `volatile-*` policy can evict
///   these keys, which all have a TTL), answering errors that name the setting;
/// - notices a restarted or failed-over server (its `run_id` changes) and answers
///   [`NcCheck::Forgotten`] (`stale=true`, the client retries with a fresh nonce) for
///   nonces issued up to then that the server no longer knows.
///
/// Redis's data must outlive the nonce key otherwise: if Redis loses its data while no
/// instance runs, rotate the nonce key (or change the prefix) before starting them again.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey, RedisNonceStore};
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

/// Configures a [`RedisNonceStore`]; see [`RedisNonceStore::from_url`].
#[must_use]
pub struct RedisNonceStoreBuilder {
    target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
    check_eviction_policy: bool,
}

enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A live connection: both kinds reconnect by themselves after I/O errors.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

struct Inner {
    target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
    check_eviction_policy: bool,
    epoch: NonceEpoch,
    script: redis::Script,
    /// The connection in use and its generation; `None` until first use and after an error.
    conn: Mutex<Option<(u64, Conn)>>,
    /// Held while connecting, so concurrent requests make one connection.
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    health: Mutex<Health>,
    /// Issue time (Unix seconds) up to which a nonce Redis does not know may have been
    /// used and lost (the server restarted or failed over).
    forgotten_through: AtomicU64,
    /// The latest `now` seen (Unix seconds), from the layer's clock.
    latest_now: AtomicU64,
    log: LogLimiter,
}

#[derive(Default)]
struct Health {
    /// Run ids of the server (every primary of a cluster), sorted; empty until checked.
    run_ids: Vec<String>,
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
    /// `redis://user:password@host/`). Nothing connects yet.
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

    /// The Redis key of a nonce id, for operators and tests.
    pub fn key_of(&self, id: &super::NonceId) -> Vec<u8> {
        self.inner.key(id)
    }

    async fn record(&self, use_: NonceUse) -> Result<NcCheck, RedisStoreError> {
        let inner = &*self.inner;
        inner
            .latest_now
            .fetch_max(unix_secs(use_.now), Ordering::AcqRel);
        let mut generation = None;
        let result = tokio::time::timeout(inner.timeout, inner.record(use_, &mut generation))
            .await
            .unwrap_or(Err(RedisStoreError::Timeout(inner.timeout)));
        match &result {
            Ok(_) => inner.log.success(),
            Err(error) => inner.failed(error, generation),
        }
        result
    }
}

impl RedisNonceStoreBuilder {
    fn new(target: Target) -> Self {
        RedisNonceStoreBuilder {
            target,
            prefix: RedisNonceStore::DEFAULT_PREFIX.as_bytes().to_vec(),
            timeout: RedisNonceStore::DEFAULT_TIMEOUT,
            check_eviction_policy: true,
        }
    }

    /// The prefix of every key (default [`RedisNonceStore::DEFAULT_PREFIX`]). It also
    /// names the store's [`NonceEpoch`]: instances accept each other's nonces only with
    /// the same prefix (and nonce key).
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a call may take, connecting included (default 500 ms); past it the
    /// request gets a 500.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to refuse a server that may evict keys (default `true`). Turn it off only
    /// for a server whose `INFO` hides `maxmemory`/`maxmemory_policy` and that you know
    /// never evicts.
    pub fn check_eviction_policy(mut self, check: bool) -> Self {
        self.check_eviction_policy = check;
        self
    }

    /// The store. It connects on first use, so Redis need not be up yet.
    pub fn build(self) -> RedisNonceStore {
        RedisNonceStore {
            inner: Arc::new(Inner {
                epoch: NonceEpoch::from_label(&self.prefix),
                target: self.target,
                prefix: self.prefix,
                timeout: self.timeout,
                check_eviction_policy: self.check_eviction_policy,
                script: redis::Script::new(WINDOW_SCRIPT),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                health: Mutex::new(Health::default()),
                forgotten_through: AtomicU64::new(0),
                latest_now: AtomicU64::new(0),
                log: LogLimiter::default(),
            }),
        }
    }
}

impl Inner {
    fn key(&self, id: &super::NonceId) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 22);
        key.extend_from_slice(&self.prefix);
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
        generation: &mut Option<u64>,
    ) -> Result<NcCheck, RedisStoreError> {
        let (current, mut conn) = self.connection().await?;
        *generation = Some(current);
        self.check_server_if_due(&mut conn).await?;
        let may_create = unix_secs(use_.issued_at) > self.forgotten_through.load(Ordering::Acquire);
        let ttl = use_
            .expires_at
            .duration_since(use_.now)
            .unwrap_or(Duration::ZERO);
        // At least a millisecond: PX refuses zero, and the layer has already checked
        // that the nonce is fresh.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply: i64 = self
            .script
            .key(self.key(&use_.id))
            .arg(use_.nc >> 32)
            .arg(use_.nc & 0xffff_ffff)
            .arg(ttl_ms)
            .arg(if may_create { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await?;
        match reply {
            0 => Ok(NcCheck::Accepted),
            1 => Ok(NcCheck::Replayed),
            2 => Ok(NcCheck::BelowWindow),
            3 => Ok(NcCheck::Forgotten),
            other => Err(RedisStoreError::UnexpectedReply(other)),
        }
    }

    /// The connection, made now if there is none.
    async fn connection(&self) -> Result<(u64, Conn), RedisStoreError> {
        if let Some(conn) = self.lock_conn().clone() {
            return Ok(conn);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = self.lock_conn().clone() {
            return Ok(conn);
        }
        let conn = match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // Retrying is the next request's job: it has its own time bound.
                    .set_number_of_retries(0);
                Conn::Single(ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    config,
                )?)
            }
            Target::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout);
                Conn::Cluster(client.get_async_connection_with_config(config).await?)
            }
        };
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.lock_health().check_needed = true;
        *self.lock_conn() = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Asks the server who it is when a check is due: after a new connection or an
    /// error, and every [`CHECK_EVERY`].
    async fn check_server_if_due(&self, conn: &mut Conn) -> Result<(), RedisStoreError> {
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
        let report = ServerReport::from_info(&info);
        let unfit = if self.check_eviction_policy {
            report.unfit()
        } else {
            None
        };
        let mut health = self.lock_health();
        if !health.run_ids.is_empty() && health.run_ids != report.run_ids {
            // Restarted or failed over: whatever it held may be gone, so a nonce issued
            // until now that it does not know may have been used already.
            let now = self.latest_now.load(Ordering::Acquire);
            self.forgotten_through.fetch_max(now, Ordering::AcqRel);
            tracing::warn!(
                forgotten_through = now,
                "digest auth: redis restarted or failed over (run_id changed); unknown nonces \
                 issued until now get stale=true"
            );
        }
        if !report.run_ids.is_empty() {
            health.run_ids = report.run_ids;
        }
        health.last_check = Some(Instant::now());
        health.check_needed = false;
        health.unfit.clone_from(&unfit);
        unfit.map_or(Ok(()), |unfit| Err(unfit.into()))
    }

    /// After an error: log (rate-limited), check the server before the next command, and
    /// drop the connection the call used so the next one starts afresh (a connection
    /// that timed out or read garbage may be out of step).
    fn failed(&self, error: &RedisStoreError, generation: Option<u64>) {
        self.log.error(error);
        self.lock_health().check_needed = true;
        if matches!(
            error,
            RedisStoreError::EvictionPossible { .. } | RedisStoreError::UnknownPolicy(_)
        ) {
            return;
        }
        let mut conn = self.lock_conn();
        if generation.is_none() || conn.as_ref().map(|(g, _)| *g) == generation {
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

impl From<Unfit> for RedisStoreError {
    fn from(unfit: Unfit) -> Self {
        match unfit {
            Unfit::Eviction { maxmemory, policy } => {
                RedisStoreError::EvictionPossible { maxmemory, policy }
            }
            Unfit::Unknown(what) => RedisStoreError::UnknownPolicy(what),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
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

impl fmt::Debug for RedisNonceStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisNonceStoreBuilder")
            .field("cluster", &matches!(self.target, Target::Cluster(_)))
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NonceStore for RedisNonceStore {
    type Error = RedisStoreError;

    fn epoch(&self) -> NonceEpoch {
        self.inner.epoch
    }

    fn record_use(
        &self,
        use_: NonceUse,
    ) -> impl Future<Output = Result<NcCheck, RedisStoreError>> + Send {
        self.record(use_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_the_id_in_base64url() {
        let store = RedisNonceStore::from_url("redis://127.0.0.1:1/")
            .unwrap()
            .prefix("p:")
            .build();
        let key = store.key_of(&super::super::NonceId::from_bytes([0xff; 16]));
        assert_eq!(key, b"p:_____________________w");
        assert_eq!(
            store.epoch(),
            NonceEpoch::from_label(b"p:"),
            "the epoch names the prefix"
        );
    }
}
