//! Perl's LWP (`libwww-perl`, Debian's package): MD5 only. It answers the first challenge
//! with MD5 whatever that challenge's algorithm, then tries the next after a 401; the
//! default order gives it MD5 first so it logs in with one answer. Driven by
//! `interop/lwp.pl`.

use std::time::Duration;

use crate::digest::check_authentication_info;
use crate::server::REALM;
use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, custom_app, field, interop_file,
    parse_reports, run_client_ok,
};

async fn lwp(url: &str, count: usize) -> Vec<Report> {
    let script = interop_file("lwp.pl");
    let count = count.to_string();
    let args = [script.as_str(), url, USERNAME, PASSWORD, REALM, &count];
    let output = run_client_ok("perl", &args, Duration::from_secs(60)).await;
    parse_reports(&output.stdout)
}

fn assert_verified(report: &Report) {
    assert_eq!(field(report, "status"), "200", "{report:#?}");
    let sent = field(report, "authorization");
    let info = field(report, "authentication_info");
    if let Err(problem) = check_authentication_info(sent, info, PASSWORD) {
        panic!("LWP got a wrong rspauth: {problem}");
    }
}

#[tokio::test]
async fn lwp_logs_in_with_md5_in_one_answer_and_reuses_the_nonce() {
    let server = TestServer::start_default().await;
    let reports = lwp(&server.url(PROTECTED), 3).await;

    assert_eq!(reports.len(), 3, "{reports:#?}");
    for report in &reports {
        assert_verified(report);
        assert!(field(report, "user_agent").starts_with("libwww-perl/"));
    }
    let seen = server.exchanges_for(PROTECTED);
    // One challenge, then three answers on its nonce (LWP answers preemptively).
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert!(seen[0].challenges[0].contains("algorithm=MD5"), "{seen:#?}");
    for exchange in &seen[1..] {
        exchange.assert_verified_success();
        assert_eq!(exchange.sent_algorithm(), "MD5");
    }
}

/// Without the default order LWP still gets in, after an MD5 answer on the SHA-256 nonce
/// that the server must refuse (a warning in its log for every login).
#[tokio::test]
async fn lwp_without_the_order_policy_needs_a_refused_answer_first() {
    let server = TestServer::start_app(custom_app(&[(USERNAME, PASSWORD)], |builder| {
        builder.challenge_order(tower_digest_auth::challenge::ChallengeOrder::configured())
    }))
    .await;
    let reports = lwp(&server.url(PROTECTED), 1).await;
    assert_verified(&reports[0]);
    let seen = server.exchanges_for(PROTECTED);
    let statuses: Vec<u16> = seen.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [401, 401, 200], "{seen:#?}");
    seen[1].assert_refused_not_stale();
    assert_eq!(seen[1].sent_algorithm(), "MD5");
    seen[2].assert_verified_success();
}
