//! [`RedisNonceStoreBuilder`]: what a store is built from.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::conn::Target;
use super::generation::{self, CLUSTER_TAGS, Generations};
use super::{GENERATION_SCRIPT, Health, Inner, RedisNonceStore, WINDOW_SCRIPT};

/// Configures a [`RedisNonceStore`]; see [`RedisNonceStore::from_url`].
#[must_use]
pub struct RedisNonceStoreBuilder {
    pub(super) target: Target,
    prefix: Vec<u8>,
    timeout: Duration,
    check_eviction_policy: bool,
    replicas: Option<(u32, Duration)>,
}

impl RedisNonceStoreBuilder {
    pub(super) fn new(target: Target) -> Self {
        RedisNonceStoreBuilder {
            target,
            prefix: RedisNonceStore::DEFAULT_PREFIX.as_bytes().to_vec(),
            timeout: RedisNonceStore::DEFAULT_TIMEOUT,
            check_eviction_policy: true,
            replicas: None,
        }
    }

    /// The prefix of every key (default [`RedisNonceStore::DEFAULT_PREFIX`]). Instances
    /// accept each other's nonces only with the same prefix (and nonce key): each prefix
    /// has its own generation markers.
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

    /// Exactly once across a failover (off by default): after each accepted window
    /// update, Redis `WAIT`s until `replicas` replicas have it, for at most `timeout`
    /// (rounded up to a millisecond); when fewer acknowledge in time, the request is
    /// refused with a 500 ([`RedisStoreError::NotReplicated`](super::RedisStoreError::NotReplicated)), never accepted on an update
    /// a promoted replica could lack. Pick `timeout` below the store's
    /// [`timeout`](Self::timeout), which bounds the whole call. It costs a round trip
    /// to Redis and the replication delay per accepted request, and needs that many
    /// healthy replicas: with fewer, every login fails. On a Cluster, `WAIT` goes to
    /// every primary (each needs `replicas` replicas). Ending logins (`end_login`,
    /// `end_all_logins`) waits the same way, and fails the same way.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replicas = (replicas > 0).then_some((replicas, timeout.max(Duration::from_millis(1))));
        self
    }

    /// The store. It connects on first use, so Redis need not be up yet.
    pub fn build(self) -> RedisNonceStore {
        let tags = match self.target {
            Target::Single(_) => 1,
            Target::Cluster(_) => CLUSTER_TAGS,
        };
        let tags = (0..tags)
            .map(|tag| {
                let start = generation::tag_prefix(&self.prefix, tag);
                let mut marker = start.clone();
                marker.extend_from_slice(b"generation");
                (start, marker)
            })
            .collect::<Vec<_>>();
        RedisNonceStore {
            inner: Arc::new(Inner {
                generations: Generations::new(tags.len()),
                tags,
                target: self.target,
                prefix: self.prefix,
                timeout: self.timeout,
                check_eviction_policy: self.check_eviction_policy,
                replicas: self.replicas,
                script: redis::Script::new(WINDOW_SCRIPT),
                generation_script: redis::Script::new(GENERATION_SCRIPT),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                serial: AtomicU64::new(0),
                health: Mutex::new(Health::default()),
            }),
        }
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
