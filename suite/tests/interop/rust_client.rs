//! A Rust client nobody here wrote: `diqwest` 3 on `reqwest` 0.13.
//!
//! diqwest answers the first challenge (SHA-256 here). Its `DigestAuthSession` caches the nonce
//! but not the algorithm, so its later, preemptive answers fall back to MD5 on a nonce that was
//! issued for SHA-256 (with a fresh nc and an MD5 response that is otherwise correct). The
//! server must refuse those with a 401, the only status on which diqwest drops its cache and
//! starts a fresh handshake, which then succeeds with SHA-256.

use diqwest::{DigestAuthSession, WithDigestAuth};
use reqwest::Client;

use crate::digest::{Hash, Inputs};
use crate::support::{Exchange, PASSWORD, PROTECTED, TestServer, USERNAME, WHOAMI};

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

/// The `Authentication-Info` the client got is the one the server sent for a verified answer.
fn assert_received_verified(seen: &[Exchange], received: Option<&str>) {
    let last = seen.last().expect("requests were recorded");
    last.assert_verified_success();
    assert_eq!(received, last.authentication_info.as_deref());
}

#[tokio::test]
async fn diqwest_get_answers_with_sha256_and_sees_whoami() {
    let server = TestServer::start_default().await;
    let response = client()
        .get(server.url(WHOAMI))
        .send_digest_auth((USERNAME, PASSWORD))
        .await
        .expect("diqwest request");

    assert_eq!(response.status(), 200);
    let info = authentication_info(&response);
    let body = response.text().await.expect("body");
    assert_eq!(
        body.replace(char::is_whitespace, ""),
        r#"{"username":"Mufasa"}"#
    );

    let seen = server.exchanges_for(WHOAMI);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[1].sent_algorithm(), "SHA-256");
    assert_received_verified(&seen, info.as_deref());
}

#[tokio::test]
async fn diqwest_post_with_a_body_succeeds() {
    let server = TestServer::start_default().await;
    let body = "Remember who you are";
    let response = client()
        .post(server.url(PROTECTED))
        .body(body)
        .send_digest_auth((USERNAME, PASSWORD))
        .await
        .expect("diqwest request");

    assert_eq!(response.status(), 200);
    let info = authentication_info(&response);
    assert_eq!(
        response.text().await.expect("body"),
        format!("{USERNAME} posted {} bytes\n", body.len())
    );
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.last().map(|e| e.method.as_str()), Some("POST"));
    assert_received_verified(&seen, info.as_deref());
}

#[tokio::test]
async fn diqwest_session_md5_downgrade_on_a_sha256_nonce_is_refused_and_it_recovers() {
    let server = TestServer::start_default().await;
    let client = client();
    let session = DigestAuthSession::new(USERNAME, PASSWORD);
    for round in 0..3 {
        let response = client
            .get(server.url(PROTECTED))
            .send_digest_auth(&session)
            .await
            .expect("diqwest request");
        assert_eq!(response.status(), 200, "round {round}");
    }

    let seen = server.exchanges_for(PROTECTED);
    let mut downgrades = 0;
    let mut last_success_nonce: Option<String> = None;
    for exchange in &seen {
        let Some(_) = exchange.authorization else {
            assert_eq!(exchange.status, 401, "{exchange:#?}");
            continue;
        };
        match exchange.sent_algorithm().as_str() {
            "SHA-256" => {
                exchange.assert_verified_success();
                last_success_nonce = Some(exchange.sent()["nonce"].clone());
            }
            "MD5" => {
                downgrades += 1;
                let sent = exchange.sent();
                assert_eq!(
                    Some(&sent["nonce"]),
                    last_success_nonce.as_ref(),
                    "the preemptive answer reuses the cached SHA-256 nonce"
                );
                // Nothing else is wrong with it: a new nc, and a correct MD5 response. Only the
                // algorithm the nonce was issued for can be the reason for the refusal.
                assert_ne!(sent["nc"], "00000001", "{exchange:#?}");
                let md5 = Inputs::from_sent(&sent, PASSWORD);
                assert_eq!(md5.algorithm.hash, Hash::Md5);
                assert_eq!(md5.response("GET", &sent["uri"]), sent["response"]);
                exchange.assert_refused_not_stale();
            }
            other => panic!("unexpected algorithm {other}: {exchange:#?}"),
        }
    }
    assert_eq!(
        downgrades, 2,
        "rounds 2 and 3 each tried MD5 first: {seen:#?}"
    );
    let successes = seen.iter().filter(|e| e.status == 200).count();
    assert_eq!(successes, 3, "{seen:#?}");
}

/// The `Authentication-Info` the server sent, if any.
fn authentication_info(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("authentication-info")
        .map(|value| value.to_str().expect("ASCII").to_owned())
}
