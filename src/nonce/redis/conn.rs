//! The connection to Redis: one node or a Cluster, made on first use.

use std::sync::atomic::Ordering;

pub(super) use crate::redis_conn::{Conn, Target};

use super::{Inner, RedisStoreError, generation};

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
        let mut conn = self.target.connect(self.timeout).await?;
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
