//! This crate's example server (`examples/server.rs`), served as its binary serves it, on a
//! loopback port: every algorithm, the choice among several, `userhash`, nonce reuse, a
//! stale nonce and a wrong password. The server checks every answer and proves each
//! success with `rspauth`, which the layer verifies (a mismatch would be an error).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tower_digest_auth::Algorithm;
use tower_digest_auth::credentials::userhash;

use crate::server::{self, INDEX_BODY, ServerOptions};
use crate::support::{
    PASSWORD, REALM, USERNAME, WRONG_PASSWORD, assert_nonce_reused, assert_one_refused_answer,
    client, get, get_ok,
};

/// Starts the example with `options` on a free loopback port.
pub async fn start(options: ServerOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, options));
    addr
}

fn offering(algorithms: &[Algorithm]) -> ServerOptions {
    ServerOptions {
        algorithms: algorithms.to_vec(),
        ..ServerOptions::default()
    }
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

#[tokio::test]
async fn logs_in_to_the_example_server_with_each_of_the_six_algorithms() {
    for algorithm in Algorithm::ALL {
        let addr = start(offering(&[algorithm])).await;
        let (mut client, recording) = client(USERNAME, PASSWORD);
        let body = get_ok(&mut client, &url(addr, "/dir/index.html")).await;
        assert_eq!(body, INDEX_BODY, "{algorithm:?}");

        let exchanges = recording.exchanges();
        assert_eq!(exchanges.len(), 2, "{algorithm:?}: {exchanges:#?}");
        let answer = &exchanges[1];
        assert_eq!(answer.sent("algorithm"), algorithm.name());
        let digits = algorithm.hash_function().hex_len();
        assert_eq!(answer.sent("response").len(), digits, "{algorithm:?}");
        let info = answer.info.as_deref().expect("Authentication-Info");
        let rspauth = crate::support::params(info)["rspauth"].clone();
        assert_eq!(rspauth.len(), digits, "{algorithm:?}: {info}");
    }
}

#[tokio::test]
async fn takes_the_strongest_algorithm_whatever_the_challenge_order() {
    let cases: [(&[Algorithm], Algorithm); 4] = [
        (&[Algorithm::Md5, Algorithm::Sha256], Algorithm::Sha256),
        (
            &[Algorithm::Md5, Algorithm::Sha256, Algorithm::Sha512_256],
            Algorithm::Sha512_256,
        ),
        (
            &[Algorithm::Md5Sess, Algorithm::Sha256Sess, Algorithm::Md5],
            Algorithm::Sha256Sess,
        ),
        (&Algorithm::ALL, Algorithm::Sha512_256),
    ];
    for (offered, expected) in cases {
        let addr = start(offering(offered)).await;
        let (mut client, recording) = client(USERNAME, PASSWORD);
        get_ok(&mut client, &url(addr, "/dir/index.html")).await;
        let exchanges = recording.exchanges();
        assert_eq!(exchanges[0].challenges.len(), offered.len());
        assert_eq!(
            exchanges[1].sent("algorithm"),
            expected.name(),
            "offered {offered:?}"
        );
    }
}

#[tokio::test]
async fn sends_a_userhash_when_the_example_server_offers_it() {
    for algorithm in [Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha512_256Sess] {
        let addr = start(ServerOptions {
            userhash: true,
            ..offering(&[algorithm])
        })
        .await;
        let (mut client, recording) = client(USERNAME, PASSWORD);
        // /api/whoami names the user the server resolved from the hash.
        let body = get_ok(&mut client, &url(addr, "/api/whoami")).await;
        assert_eq!(body, r#"{"username":"Mufasa"}"#, "{algorithm:?}");

        let answer = &recording.exchanges()[1];
        assert_eq!(answer.sent("userhash"), "true", "{algorithm:?}");
        assert_eq!(
            answer.sent("username"),
            userhash(algorithm.hash_function(), USERNAME, REALM),
            "{algorithm:?}"
        );
    }
}

#[tokio::test]
async fn reuses_its_example_server_nonce_with_the_next_nc() {
    let addr = start(ServerOptions::default()).await;
    let (mut client, recording) = client(USERNAME, PASSWORD);
    for _ in 0..3 {
        let body = get_ok(&mut client, &url(addr, "/dir/index.html")).await;
        assert_eq!(body, INDEX_BODY);
    }
    assert_nonce_reused(&recording, 3);
}

#[tokio::test]
async fn recovers_from_the_example_servers_stale_nonce_without_an_error() {
    let addr = start(ServerOptions {
        nonce_lifetime: Duration::from_secs(2),
        ..ServerOptions::default()
    })
    .await;
    let (mut client, recording) = client(USERNAME, PASSWORD);
    get_ok(&mut client, &url(addr, "/dir/index.html")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.clear();
    let body = get_ok(&mut client, &url(addr, "/dir/index.html")).await;
    assert_eq!(body, INDEX_BODY);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert!(
        exchanges[0].status == 401 && exchanges[0].is_stale(),
        "{exchanges:#?}"
    );
    assert_eq!(exchanges[1].status, 200, "{exchanges:#?}");
    assert_ne!(exchanges[1].sent("nonce"), exchanges[0].sent("nonce"));
}

#[tokio::test]
async fn hands_back_the_example_servers_final_401_for_a_wrong_password() {
    let addr = start(ServerOptions::default()).await;
    let (mut client, recording) = client(USERNAME, WRONG_PASSWORD);
    let fetched = get(&mut client, &url(addr, "/dir/index.html"))
        .await
        .expect("a refusal is a response, not an error");
    assert_eq!(fetched.status, 401, "{fetched:?}");
    assert_one_refused_answer(&recording, 401);
}
