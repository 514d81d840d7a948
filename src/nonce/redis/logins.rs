//! Ending logins in Redis: one login by overwriting its nonce's window with `ended`; all
//! of an account's logins by an end mark per hash tag, which the window script compares
//! with when each window's login began. With `wait_for_replicas`, an end waits for the
//! replicas as an accepted request does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::Cmd;

use super::{Inner, RedisStoreError, TTL_MARGIN};
use crate::clock::MAX_CLOCK_SKEW;
use crate::config::MAX_NONCE_LIFETIME;
use crate::nonce::AccountKey;
use crate::nonce::NonceUse;

/// Counts the tag's ended accounts and marks `account` with the new count, for as long as
/// any nonce can live. KEYS[1]: the tag's count; KEYS[2]: the account's mark; ARGV[1]:
/// the mark's TTL in ms.
const END_ALL_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
     redis.call('SET', KEYS[2], n, 'PX', ARGV[1]) return n";

impl Inner {
    /// The tag's count of ended accounts, and `account`'s end mark (or, with no
    /// account, a key never written), both in the tag's slot.
    pub(super) fn end_keys(&self, tag: usize, account: Option<&AccountKey>) -> (Vec<u8>, Vec<u8>) {
        let start = &self.tags[tag].0;
        let mut count = start.clone();
        count.extend_from_slice(b"ends");
        let mut mark = start.clone();
        mark.extend_from_slice(b"ended:");
        if let Some(account) = account {
            mark.extend_from_slice(URL_SAFE_NO_PAD.encode(account.as_bytes()).as_bytes());
        }
        (count, mark)
    }

    /// Overwrites the window of `login.id` with `ended`, to live as long as a window.
    pub(super) async fn end_login(&self, login: NonceUse) -> Result<(), RedisStoreError> {
        let (Some(remaining), Some((tag, _))) =
            (login.remaining_life(), self.generations.split(login.epoch))
        else {
            // Expired, or of another layout: refused anyway.
            return Ok(());
        };
        let (_, mut conn) = self.connection().await?;
        let ttl = remaining + MAX_CLOCK_SKEW + TTL_MARGIN;
        let mut cmd = Cmd::new();
        cmd.arg("SET")
            .arg(self.key(tag, &login.id))
            .arg("ended")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        cmd.query_async::<()>(&mut conn).await?;
        // An end a promoted replica lacks would let the login back in.
        self.wait_for_replicas(&mut conn).await
    }

    /// Marks `account` ended in every hash tag.
    pub(super) async fn end_all_logins(&self, account: AccountKey) -> Result<(), RedisStoreError> {
        let (_, mut conn) = self.connection().await?;
        let ttl = MAX_NONCE_LIFETIME + MAX_CLOCK_SKEW + TTL_MARGIN;
        let script = redis::Script::new(END_ALL_SCRIPT);
        for tag in 0..self.tags.len() {
            let (count, mark) = self.end_keys(tag, Some(&account));
            script
                .key(count)
                .key(mark)
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .invoke_async::<i64>(&mut conn)
                .await?;
        }
        self.wait_for_replicas(&mut conn).await
    }
}
