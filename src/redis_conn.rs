//! The connection both Redis stores use ([`RedisNonceStore`](crate::nonce::RedisNonceStore)
//! and [`RedisFailureStore`](crate::throttle::RedisFailureStore)): one node or a Cluster,
//! made on first use, reconnecting by itself after I/O errors.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Where a store's Redis is.
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A live connection: both kinds reconnect by themselves after I/O errors.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Target {
    /// A connection that gives up connecting after `timeout`. Every store call is bounded
    /// by the store's own timer, so a single node gets no response timeout of the client's
    /// (a second timer per call costs for nothing); a Cluster's client needs one to move
    /// past a dead node.
    pub(crate) async fn connect(&self, timeout: Duration) -> Result<Conn, redis::RedisError> {
        Ok(match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(None)
                    // Retrying is the next request's job: it has its own time bound.
                    .set_number_of_retries(0);
                Conn::Single(ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    config,
                )?)
            }
            Target::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Conn::Cluster(client.get_async_connection_with_config(config).await?)
            }
        })
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
