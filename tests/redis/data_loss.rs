//! Redis losing its data (a restart without persistence, `FLUSHALL`) under running
//! instances and before an instance starts: the generation marker tells at once, so a
//! captured request is never accepted again.

use std::time::{Duration, Instant};

use http::StatusCode;
use tower_digest_auth::nonce::{AccountKey, NcCheck, NonceStore, RedisNonceStore};
use tower_digest_auth::{DigestLayer, MemoryCredentials};

use super::common::{Answer, REALM, USER, challenges};
use super::support::{RedisCluster, RedisServer};
use super::{connected, layer, random_id, send, use_of};

type Layer = DigestLayer<MemoryCredentials, RedisNonceStore>;

fn on(url: &str) -> Layer {
    layer(RedisNonceStore::from_url(url).unwrap().build())
}

fn on_cluster(cluster: &RedisCluster) -> Layer {
    layer(
        RedisNonceStore::from_cluster_urls(cluster.urls())
            .unwrap()
            .timeout(Duration::from_secs(2))
            .build(),
    )
}

/// A request accepted by `layer` (nc 1), and the next one its client would send (nc 2).
async fn captured(layer: &Layer) -> [String; 2] {
    let challenge = challenges(send(layer, None).await.headers()).remove(0);
    let first = Answer::get("/").header(&challenge);
    assert_eq!(send(layer, Some(&first)).await.status(), StatusCode::OK);
    [first, Answer::get("/").nc(2).header(&challenge)]
}

async fn assert_stale(layer: &Layer, answer: &str, why: &str) {
    let response = send(layer, Some(answer)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert!(
        challenges(response.headers()).iter().all(|c| c.stale),
        "{why}: stale=true"
    );
}

#[tokio::test]
async fn a_replay_after_redis_restarted_under_a_running_instance_is_stale_at_once() {
    let mut server = RedisServer::start();
    // RESP3 too: there no command fails across the restart, the client reconnects alone.
    for url in [server.url(), server.resp3_url()] {
        let layer = on(&url);
        connected(&layer).await;
        let answers = captured(&layer).await;
        server.restart();
        // The client may reconnect in the background meanwhile (RESP3 does), so that
        // no command of ours ever fails.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Across a reconnection a 500 may come; a 200 never, and stale soon.
        let start = Instant::now();
        let mut stale = 0;
        while start.elapsed() < Duration::from_millis(1500) {
            for answer in &answers {
                let response = send(&layer, Some(answer)).await;
                assert_ne!(
                    response.status(),
                    StatusCode::OK,
                    "{url}: after the restart"
                );
                stale += usize::from(
                    response.status() == StatusCode::UNAUTHORIZED
                        && challenges(response.headers()).iter().all(|c| c.stale),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(stale > 0, "{url}: never stale=true");
        for answer in &answers {
            assert_stale(&layer, answer, &url).await;
        }
    }
}

#[tokio::test]
async fn a_replay_on_the_second_of_two_instances_after_a_flushall_is_never_200() {
    let server = RedisServer::start();
    let (a, b) = (on(&server.url()), on(&server.url()));
    connected(&a).await;
    connected(&b).await;
    let answers = captured(&a).await;
    server.cli(&["FLUSHALL"]);
    for answer in &answers {
        assert_stale(&b, answer, "second instance after FLUSHALL").await;
        assert_stale(&a, answer, "first instance after FLUSHALL").await;
    }
    // Both carry on with fresh nonces, under the new generation.
    connected(&a).await;
    connected(&b).await;
}

#[tokio::test]
async fn an_instance_started_after_redis_lost_its_data_answers_old_nonces_stale() {
    let mut server = RedisServer::start();
    let running = on(&server.url());
    connected(&running).await;
    let answers = captured(&running).await;
    for lose in ["FLUSHALL", "restart"] {
        if lose == "restart" {
            server.restart();
        } else {
            server.cli(&["FLUSHALL"]);
        }
        let started_after = on(&server.url());
        for answer in &answers {
            assert_stale(&started_after, answer, lose).await;
        }
    }
}

#[tokio::test]
async fn a_flushall_on_every_node_of_a_cluster_makes_every_earlier_nonce_stale() {
    let cluster = RedisCluster::start();
    let (a, b) = (on_cluster(&cluster), on_cluster(&cluster));
    connected(&a).await;
    connected(&b).await;
    // Nonces over many hash tags, so over every node.
    let mut answers = Vec::new();
    for _ in 0..24 {
        answers.extend(captured(&a).await);
    }
    for node in &cluster.nodes {
        node.cli(&["FLUSHALL"]);
    }
    for answer in &answers {
        assert_stale(&b, answer, "other instance, cluster FLUSHALL").await;
        assert_stale(&a, answer, "same instance, cluster FLUSHALL").await;
    }
    connected(&b).await;
}

/// What the logout guide says of Redis: an ended login lost with Redis's data is
/// forgotten like any other nonce (the layer answers `stale=true`, and the client logs in
/// again without asking), never taken for fresh.
#[tokio::test]
async fn an_ended_login_lost_with_the_data_is_forgotten() {
    let server = RedisServer::start();
    let store = RedisNonceStore::from_url(&server.url()).unwrap().build();
    store.connect().await.unwrap();
    let account = AccountKey::new(REALM, USER);
    let id = random_id();
    let use_ = |nc| use_of(&store, id, nc, Duration::from_secs(600)).for_account(account);
    assert_eq!(store.record_use(use_(1)).await.unwrap(), NcCheck::Accepted);
    assert!(store.end_login(use_(1)).await.unwrap());
    assert_eq!(store.record_use(use_(2)).await.unwrap(), NcCheck::Ended);
    server.cli(&["FLUSHALL"]);
    assert_eq!(store.record_use(use_(3)).await.unwrap(), NcCheck::Forgotten);
}
