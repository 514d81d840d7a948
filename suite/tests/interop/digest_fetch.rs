//! Node's `digest-fetch` 3.1 (npm, pinned by `interop/package-lock.json`) over Node's own
//! `fetch`, driven by `interop/digest_fetch.mjs`. It answers with the algorithm from its
//! options (MD5 by default), not the challenge's, on the first nonce it finds. A nonce is
//! bound to its challenge's algorithm, so it logs in when its option matches the first
//! challenge: `algorithm: 'SHA-256'` against the default configuration. With its default
//! option it is refused; no order serves both settings, and its `User-Agent` is Node's
//! generic `node`, so the built-in list leaves it alone and README says what to do.

use std::time::Duration;

use tower_digest_auth::challenge::{Arrangement, ChallengeOrder, ClientRule};

use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, custom_app, field, interop_file,
    parse_reports, run_client_ok,
};

async fn digest_fetch(url: &str, algorithm: Option<&str>) -> Report {
    let script = interop_file("digest_fetch.mjs");
    let mut args = vec![script.as_str(), url, USERNAME, PASSWORD];
    args.extend(algorithm);
    let output = run_client_ok("node", &args, Duration::from_secs(60)).await;
    let mut reports = parse_reports(&output.stdout);
    assert_eq!(reports.len(), 1, "{output:#?}");
    reports.remove(0)
}

#[tokio::test]
async fn digest_fetch_set_to_sha256_logs_in_to_the_default_configuration() {
    let server = TestServer::start_default().await;
    let report = digest_fetch(&server.url(PROTECTED), Some("SHA-256")).await;
    assert_eq!(field(&report, "status"), "200", "{report:#?}");
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("recorded");
    last.assert_verified_success();
    assert_eq!(last.sent_algorithm(), "SHA-256");
    assert_eq!(
        Some(field(&report, "authentication_info")),
        last.authentication_info.as_deref()
    );
}

/// With its default option it answers MD5 on the SHA-256 nonce of the first line: refused,
/// as any such answer must be. A rule for Node's `User-Agent` puts MD5 first and lets it in.
#[tokio::test]
async fn digest_fetch_with_its_md5_default_needs_md5_first() {
    let server = TestServer::start_default().await;
    let report = digest_fetch(&server.url(PROTECTED), None).await;
    assert_eq!(field(&report, "status"), "401", "{report:#?}");
    let seen = server.exchanges_for(PROTECTED);
    let answer = seen
        .iter()
        .find(|e| e.authorization.is_some())
        .unwrap_or_else(|| panic!("never answered: {seen:#?}"));
    assert_eq!(answer.sent_algorithm(), "MD5");
    answer.assert_refused_not_stale();

    let order = ChallengeOrder::known_clients_and([ClientRule::new("node", Arrangement::Md5First)]);
    let server = TestServer::start_app(custom_app(&[(USERNAME, PASSWORD)], |builder| {
        builder.challenge_order(order)
    }))
    .await;
    let report = digest_fetch(&server.url(PROTECTED), None).await;
    assert_eq!(field(&report, "status"), "200", "{report:#?}");
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("recorded");
    last.assert_verified_success();
    assert_eq!(last.sent_algorithm(), "MD5");
}
