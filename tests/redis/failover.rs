//! A replica promoted to primary (`REPLICAOF NO ONE`): with `wait_for_replicas`, a
//! request is accepted only once the replica has its window update, so no request is
//! accepted on the old primary and again on the promoted replica.

use std::time::Duration;

use http::StatusCode;
use tower_digest_auth::nonce::{AccountKey, NcCheck, NonceStore, RedisNonceStore, RedisStoreError};
use tower_digest_auth::{DigestLayer, MemoryCredentials};

use super::common::{Answer, REALM, USER, challenges};
use super::support::RedisServer;
use super::{connected, layer, random_id, send, use_of};

fn waiting_on(server: &RedisServer) -> DigestLayer<MemoryCredentials, RedisNonceStore> {
    layer(
        RedisNonceStore::from_url(&server.url())
            .unwrap()
            .timeout(Duration::from_secs(2))
            .wait_for_replicas(1, Duration::from_millis(500))
            .build(),
    )
}

#[tokio::test]
async fn with_wait_for_replicas_no_request_is_accepted_before_and_again_after_a_promotion() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    let old = waiting_on(&primary);
    connected(&old).await;
    let challenge = challenges(send(&old, None).await.headers()).remove(0);
    let first = Answer::get("/").header(&challenge);
    let second = Answer::get("/").nc(2).header(&challenge);

    // Accepted once the replica has it; the replica is then promoted.
    assert_eq!(send(&old, Some(&first)).await.status(), StatusCode::OK);
    replica.cli(&["REPLICAOF", "NO", "ONE"]);
    let promoted = waiting_on(&replica);
    let replay = send(&promoted, Some(&first)).await.status();
    assert_ne!(replay, StatusCode::OK, "replayed on the promoted replica");

    // The old primary, still up but without its replica (the promoted one's view ends
    // where replication stopped): its update cannot reach the replica, so it must not
    // accept; the promoted replica then may, once. Never twice.
    let statuses = [
        send(&old, Some(&second)).await.status(),
        send(&promoted, Some(&second)).await.status(),
        send(&promoted, Some(&second)).await.status(),
    ];
    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(accepted <= 1, "accepted {accepted} times: {statuses:?}");
    assert_eq!(
        statuses[0],
        StatusCode::INTERNAL_SERVER_ERROR,
        "no replica acknowledged: fail closed"
    );
}

/// Ending logins waits for the replicas as an accepted request does: an end that no
/// replica acknowledged is an error the handler sees (a promoted replica would not have
/// it, and would take the ended login), never a silent success.
#[tokio::test]
async fn with_wait_for_replicas_an_end_no_replica_acknowledged_is_an_error() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    let store = RedisNonceStore::from_url(&primary.url())
        .unwrap()
        .timeout(Duration::from_secs(2))
        .wait_for_replicas(1, Duration::from_millis(300))
        .build();
    store.connect().await.unwrap();
    let account = AccountKey::new(REALM, USER);
    let id = random_id();
    let use_ = |nc| use_of(&store, id, nc, Duration::from_secs(600)).for_account(account);
    assert_eq!(store.record_use(use_(1)).await.unwrap(), NcCheck::Accepted);
    // With the replica answering, an end is acknowledged and taken.
    assert!(store.end_login(use_(1)).await.unwrap());

    replica.pause();
    let one = store.end_login(use_(1)).await;
    let all = store.end_all_logins(account).await;
    replica.resume();
    assert!(
        matches!(one, Err(RedisStoreError::NotReplicated { .. })),
        "end_login: {one:?}"
    );
    assert!(
        matches!(all, Err(RedisStoreError::NotReplicated { .. })),
        "end_all_logins: {all:?}"
    );
}
