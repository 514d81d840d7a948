//! The connection to Redis: one node or a Cluster, made on first use.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::atomic::Ordering;

use super::{Inner, RedisStoreError, generation};

/// Where the store's Redis is.
pub(super) enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A live connection: both kinds reconnect by themselves after I/O errors.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Inner {
    /// The connection, made now if there is none; a new connection reads (or creates)
    /// every tag's generation marker.
    pub(super) async fn connection(&self) -> Result<(u64, Conn), RedisStoreError> {
        if let Some(conn) = self.lock_conn().clone() {
            return Ok(conn);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = self.lock_conn().clone() {
            return Ok(conn);
        }
        let mut conn = match &self.target {
            Target::Single(client) => {
                // No response timeout of the client's own: every call is bounded by
                // ours (`record`), and a second timer per call costs for nothing.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
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
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout);
                Conn::Cluster(client.get_async_connection_with_config(config).await?)
            }
        };
        for (tag, (_, marker)) in self.tags.iter().enumerate() {
            let generation: i64 = self
                .generation_script
                .key(marker)
                .arg(generation::fresh())
                .invoke_async(&mut conn)
                .await?;
            self.learn(tag, generation);
        }
        let serial = self.serial.fetch_add(1, Ordering::AcqRel) + 1;
        self.lock_health().check_needed = true;
        *self.lock_conn() = Some((serial, conn.clone()));
        Ok((serial, conn))
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
