//! What can go wrong between the store and Redis.

use std::time::Duration;

use super::server::Unfit;

/// Why a [`RedisNonceStore`](super::RedisNonceStore) could not answer. The request gets a 500: a store that cannot
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
    /// see [`RedisNonceStoreBuilder::check_eviction_policy`](super::RedisNonceStoreBuilder::check_eviction_policy).
    #[error("redis INFO lacks {0}; cannot tell whether nonces may be evicted")]
    UnknownPolicy(&'static str),
    /// With [`wait_for_replicas`](super::RedisNonceStoreBuilder::wait_for_replicas), fewer
    /// replicas than asked acknowledged the window update in time: the request is refused
    /// (500), since a failover now could forget that it was accepted.
    #[error("{acknowledged} of {wanted} redis replicas acknowledged the nonce update in time")]
    NotReplicated {
        /// Replicas asked for.
        wanted: u32,
        /// Replicas that acknowledged.
        acknowledged: i64,
    },
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
