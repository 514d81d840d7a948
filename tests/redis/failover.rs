//! A replica promoted to primary (`REPLICAOF NO ONE`): with `wait_for_replicas`, a
//! request is accepted only once the replica has its window update, so no request is
//! accepted on the old primary and again on the promoted replica.

use std::time::Duration;

use http::StatusCode;
use tower_digest_auth::nonce::RedisNonceStore;
use tower_digest_auth::{DigestLayer, MemoryCredentials};

use super::common::{Answer, challenges};
use super::support::RedisServer;
use super::{connected, layer, send};

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
