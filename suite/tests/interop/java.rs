//! The JDK's `HttpURLConnection` (Debian's `OpenJDK` 17) with an `Authenticator`, run as the
//! single-file program `interop/DigestClient.java`. It answers the last Digest line, MD5 or
//! SHA-256: the default order puts SHA-256 last for it.

use std::time::Duration;

use crate::digest::parse_params;
use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, custom_app, field, interop_file,
    parse_reports, run_client_ok,
};

/// Runs `java DigestClient.java URL USER PASSWORD COUNT`; one report per response.
pub async fn java(url: &str, user: &str, password: &str, count: usize) -> Vec<Report> {
    let script = interop_file("DigestClient.java");
    let count = count.to_string();
    let args = [script.as_str(), url, user, password, &count];
    // The first run compiles the source in memory: give it time on a busy machine.
    let output = run_client_ok("java", &args, Duration::from_secs(120)).await;
    parse_reports(&output.stdout)
}

#[tokio::test]
async fn java_logs_in_with_sha256_and_reuses_the_nonce() {
    let server = TestServer::start_default().await;
    let reports = java(&server.url(PROTECTED), USERNAME, PASSWORD, 3).await;

    assert_eq!(reports.len(), 3, "{reports:#?}");
    for report in &reports {
        assert_eq!(field(report, "status"), "200", "{report:#?}");
        assert!(field(report, "user_agent").starts_with("Java/"));
    }
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen[0].status, 401);
    let offered: Vec<_> = seen[0]
        .challenges
        .iter()
        .map(|c| parse_params(c)["algorithm"].clone())
        .collect();
    assert_eq!(offered, ["MD5", "SHA-256"], "SHA-256 last for Java");
    let answers: Vec<_> = seen.iter().filter(|e| e.authorization.is_some()).collect();
    assert_eq!(answers.len(), 3, "{seen:#?}");
    for exchange in answers {
        exchange.assert_verified_success();
        assert_eq!(exchange.sent_algorithm(), "SHA-256");
    }
    // The client received the very Authentication-Info the server sent.
    let last = seen.last().expect("recorded");
    assert_eq!(
        Some(field(&reports[2], "authentication_info")),
        last.authentication_info.as_deref()
    );
}

/// With the configured order (SHA-256 first, MD5 last) Java answers the last line: MD5,
/// although it can do SHA-256. That is what the default order avoids.
#[tokio::test]
async fn java_answers_the_last_line_so_the_configured_order_gives_it_md5() {
    let server = TestServer::start_app(custom_app(&[(USERNAME, PASSWORD)], |builder| {
        builder.challenge_order(tower_digest_auth::challenge::ChallengeOrder::configured())
    }))
    .await;
    let reports = java(&server.url(PROTECTED), USERNAME, PASSWORD, 1).await;
    assert_eq!(field(&reports[0], "status"), "200", "{reports:#?}");
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("recorded");
    last.assert_verified_success();
    assert_eq!(last.sent_algorithm(), "MD5");
}
