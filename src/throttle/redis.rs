//! A [`FailureStore`] in Redis, so instances behind one load balancer share one budget
//! per client: one Redis node or a Redis Cluster.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::cluster::ClusterClient;
use sha2::{Digest as _, Sha256};

use super::record::RESERVATION_SECS;
use super::{
    Admission, AttemptOutcome, FailureKey, FailureLimit, FailureStore, NewLocks, ThrottleConfig,
};
use crate::clock::unix_secs;
use crate::redis_conn::{Conn, Target};

/// The whole decision, atomic on the server: see the script's header.
const SCRIPT: &str = include_str!("throttle.lua");

/// Why a [`RedisFailureStore`] could not answer. The request gets a 500: a throttle that
/// cannot count refuses rather than lets guesses through uncounted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisThrottleError {
    /// Redis refused the command, the connection failed, or the reply did not parse.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time (it is down, overloaded or unreachable).
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The script answered something it never returns.
    #[error("redis answered {0:?}, not a throttle decision")]
    UnexpectedReply(Vec<i64>),
}

/// A [`FailureStore`] in Redis: every instance with the same Redis and key prefix counts
/// failed logins together, so N instances do not give a guesser N budgets.
///
/// Each key of a [`FailureKey`] is one Redis hash with the fields of a
/// [`FailureRecord`](super::FailureRecord) and a TTL of its expiry (at most the window
/// after its last failure or lock, or a minute after its last reservation); a record with
/// nothing left to say is deleted. Keys are `prefix{address}` for the address and
/// `prefix{address}:` + a SHA-256 of the username (base64url, 22 characters) for the
/// address and user, so their size does not depend on what a client sends, and the hash
/// tag puts both keys of one attempt in one Cluster slot. Every decision (admit, settle,
/// look) is one Lua script (`EVALSHA`), so parallel attempts on several instances never
/// get more checks than the limit.
///
/// **Fails closed.** Building the store does not connect: the first use does, and a lost
/// connection reconnects by itself. Every call is bounded by
/// [`timeout`](RedisFailureStoreBuilder::timeout); a failed or late call is an error,
/// and the request gets a 500, never a 200.
///
/// **Keep the keys.** A lock that Redis evicts or loses is lifted: run it with
/// `maxmemory-policy noeviction` (as [`RedisNonceStore`](crate::nonce::RedisNonceStore)
/// requires, and checks). A restart without persistence starts every count over.
///
/// One `redis::Client` serves both stores:
///
/// ```no_run
/// use std::time::Duration;
/// use tower_digest_auth::{DigestLayer, MemoryCredentials, NonceKey};
/// use tower_digest_auth::nonce::RedisNonceStore;
/// use tower_digest_auth::throttle::RedisFailureStore;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let realm = "api@example.org";
/// let redis = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let layer = DigestLayer::builder(realm, MemoryCredentials::new(realm, [("alice", "s3cret")]))
///     .nonce_key(NonceKey::from_bytes(1, &[7; 32])?)
///     .nonce_store(RedisNonceStore::single(redis.clone()).build())
///     .throttle_store(
///         RedisFailureStore::single(redis)
///             .timeout(Duration::from_millis(500))
///             .build(),
///     )
///     .build()?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisFailureStore {
    inner: Arc<Inner>,
}

/// Configures a [`RedisFailureStore`]; see [`RedisFailureStore::from_url`].
#[must_use]
pub struct RedisFailureStoreBuilder {
    target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
}

struct Inner {
    target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
    script: redis::Script,
    /// Made on first use; a failed attempt leaves it empty for the next call to retry.
    conn: tokio::sync::OnceCell<Conn>,
}

/// What one script call asks.
#[derive(Clone, Copy)]
enum Op {
    Reserve,
    Settle(AttemptOutcome),
    Lock,
}

impl RedisFailureStore {
    /// The default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "digest:throttle:";
    /// The default bound on every call to Redis.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A store on the single Redis node at `url` (`redis://host:port/db`, or
    /// `rediss://` with the `redis-tls` feature). Nothing connects yet.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn from_url(url: &str) -> Result<RedisFailureStoreBuilder, RedisThrottleError> {
        Ok(Self::single(redis::Client::open(url)?))
    }

    /// A store on the Redis Cluster reached through any of `urls` (the seed nodes).
    ///
    /// # Errors
    /// When a URL is not a Redis URL.
    pub fn from_cluster_urls<I, S>(urls: I) -> Result<RedisFailureStoreBuilder, RedisThrottleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        Ok(Self::cluster(ClusterClient::new(nodes)?))
    }

    /// A store on one node through a client you built (the one your nonce store uses,
    /// or one with TLS certificates).
    pub fn single(client: redis::Client) -> RedisFailureStoreBuilder {
        RedisFailureStoreBuilder::new(Target::Single(client))
    }

    /// A store on a Redis Cluster through a client you built.
    pub fn cluster(client: ClusterClient) -> RedisFailureStoreBuilder {
        RedisFailureStoreBuilder::new(Target::Cluster(client))
    }

    /// The Redis keys of a failure key, address-and-user first: for operators and tests.
    pub fn keys_of(&self, key: FailureKey<'_>) -> [Vec<u8>; 2] {
        self.inner.keys(key)
    }

    async fn call(
        &self,
        key: FailureKey<'_>,
        op: Op,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Vec<u64>, RedisThrottleError> {
        let timeout = self.inner.timeout;
        tokio::time::timeout(timeout, self.inner.call(key, op, limits, now))
            .await
            .unwrap_or(Err(RedisThrottleError::Timeout(timeout)))
    }
}

impl RedisFailureStoreBuilder {
    fn new(target: Target) -> Self {
        RedisFailureStoreBuilder {
            target,
            prefix: RedisFailureStore::DEFAULT_PREFIX.as_bytes().to_vec(),
            timeout: RedisFailureStore::DEFAULT_TIMEOUT,
        }
    }

    /// The prefix of every key (default [`RedisFailureStore::DEFAULT_PREFIX`]): instances
    /// with the same prefix count together.
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

    /// The store. It connects on first use, so Redis need not be up yet.
    pub fn build(self) -> RedisFailureStore {
        RedisFailureStore {
            inner: Arc::new(Inner {
                target: self.target,
                prefix: self.prefix,
                timeout: self.timeout,
                script: redis::Script::new(SCRIPT),
                conn: tokio::sync::OnceCell::new(),
            }),
        }
    }
}

impl Inner {
    fn keys(&self, key: FailureKey<'_>) -> [Vec<u8>; 2] {
        let address = match key.address() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => v6.to_string(),
        };
        let mut address_key = self.prefix.clone();
        address_key.push(b'{');
        address_key.extend_from_slice(address.as_bytes());
        address_key.push(b'}');
        let digest = Sha256::digest(key.username().as_bytes());
        let mut user_key = address_key.clone();
        user_key.push(b':');
        user_key.extend_from_slice(URL_SAFE_NO_PAD.encode(&digest[..16]).as_bytes());
        [user_key, address_key]
    }

    async fn call(
        &self,
        key: FailureKey<'_>,
        op: Op,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Vec<u64>, RedisThrottleError> {
        let mut conn = self.conn.get_or_try_init(|| self.connect()).await?.clone();
        let name = match op {
            Op::Reserve => "reserve",
            Op::Settle(AttemptOutcome::Failed) => "fail",
            Op::Settle(AttemptOutcome::Succeeded) => "succeed",
            Op::Settle(AttemptOutcome::Void) => "void",
            Op::Lock => "lock",
        };
        let [user_key, address_key] = self.keys(key);
        let mut invocation = self.script.key(user_key);
        invocation.key(address_key).arg(name).arg(unix_secs(now));
        for limit in [limits.address_and_user_limit(), limits.address_limit()] {
            limit_args(&mut invocation, &limit);
        }
        invocation.arg(RESERVATION_SECS);
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        let expected = if matches!(op, Op::Settle(_)) { 2 } else { 1 };
        match reply.iter().map(|&n| u64::try_from(n)).collect() {
            Ok(values) if reply.len() == expected => Ok(values),
            _ => Err(RedisThrottleError::UnexpectedReply(reply)),
        }
    }

    async fn connect(&self) -> Result<Conn, RedisThrottleError> {
        Ok(self.target.connect(self.timeout).await?)
    }
}

fn limit_args(invocation: &mut redis::ScriptInvocation<'_>, limit: &FailureLimit) {
    invocation
        .arg(limit.max_failures())
        .arg(limit.window().as_secs())
        .arg(limit.first_lockout().as_secs())
        .arg(limit.max_lockout().as_secs());
}

impl FailureStore for RedisFailureStore {
    type Error = RedisThrottleError;

    async fn reserve(
        &self,
        key: FailureKey<'_>,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<Admission, RedisThrottleError> {
        let reply = self.call(key, Op::Reserve, limits, now).await?;
        Ok(match reply[0] {
            0 => Admission::Admitted,
            wait => Admission::Refused(Duration::from_secs(wait)),
        })
    }

    async fn settle(
        &self,
        key: FailureKey<'_>,
        outcome: AttemptOutcome,
        limits: &ThrottleConfig,
        now: SystemTime,
    ) -> Result<NewLocks, RedisThrottleError> {
        let reply = self.call(key, Op::Settle(outcome), limits, now).await?;
        let lock = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        Ok(NewLocks {
            address_and_user: lock(reply[0]),
            address: lock(reply[1]),
        })
    }

    async fn lock(
        &self,
        key: FailureKey<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, RedisThrottleError> {
        // The limits do not matter to a look.
        let limits = ThrottleConfig::default();
        let reply = self.call(key, Op::Lock, &limits, now).await?;
        Ok((reply[0] > 0).then(|| Duration::from_secs(reply[0])))
    }
}

impl fmt::Debug for RedisFailureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client holds the URL, which may hold a password: not printed.
        f.debug_struct("RedisFailureStore")
            .field("cluster", &matches!(self.inner.target, Target::Cluster(_)))
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisFailureStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFailureStoreBuilder")
            .field("cluster", &matches!(self.target, Target::Cluster(_)))
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_keys_of_an_attempt_share_one_hash_tag_and_a_fixed_size() {
        let store = RedisFailureStore::from_url("redis://127.0.0.1:1/")
            .unwrap()
            .prefix("p:")
            .build();
        let long = "x".repeat(4096);
        let key = FailureKey::new("2001:db8::1".parse().unwrap(), &long);
        let [user, address] = store.keys_of(key);
        assert_eq!(address, b"p:{2001:db8::}");
        assert!(user.starts_with(b"p:{2001:db8::}:"));
        assert_eq!(user.len(), address.len() + 1 + 22);
        let other = store.keys_of(FailureKey::new("2001:db8::1".parse().unwrap(), "y"));
        assert_ne!(other[0], user, "each user has a key of their own");
    }
}
