//! Python clients: `requests` (`HTTPDigestAuth`), `httpx` (`DigestAuth`), `aiohttp`
//! (`DigestAuthMiddleware`) and the standard library's `urllib.request`
//! (`HTTPDigestAuthHandler`), driven by `interop/clients.py`, which also recomputes every
//! `rspauth` with `hashlib`.

use std::time::Duration;

use crate::digest::Inputs;
use crate::server::ServerOptions;
use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, WRONG_PASSWORD, custom_app, field,
    interop_file, parse_reports, run_client, run_client_ok,
};

/// Runs `clients.py CLIENT --url URL ...` and returns one report per final response.
pub async fn python(client: &str, url: &str, password: &str, extra: &[&str]) -> Vec<Report> {
    let script = interop_file("clients.py");
    let mut args = vec![
        script.as_str(),
        client,
        "--url",
        url,
        "--user",
        USERNAME,
        "--password",
        password,
    ];
    args.extend_from_slice(extra);
    let output = run_client_ok("python3", &args, Duration::from_secs(90)).await;
    parse_reports(&output.stdout)
}

/// Every report is a 200 whose rspauth `hashlib` confirmed.
fn assert_all_verified(reports: &[Report], expected: usize) {
    assert_eq!(reports.len(), expected, "{reports:#?}");
    for report in reports {
        assert_eq!(field(report, "status"), "200", "{report:#?}");
        assert_eq!(field(report, "rspauth"), "ok", "{report:#?}");
    }
}

/// The client reused one nonce and counted nc 1, 2, 3, ... in hex.
fn assert_one_nonce_counted_up(reports: &[Report]) {
    let nonce = field(&reports[0], "nonce");
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(field(report, "nonce"), nonce, "nonce reused: {report:#?}");
        assert_eq!(field(report, "nc"), format!("{:08x}", i + 1), "{report:#?}");
    }
}

#[tokio::test]
async fn requests_session_makes_50_gets_on_one_nonce_with_nc_1_to_50() {
    let server = TestServer::start_default().await;
    let reports = python(
        "requests",
        &server.url(PROTECTED),
        PASSWORD,
        &["--count", "50"],
    )
    .await;

    assert_all_verified(&reports, 50);
    assert_one_nonce_counted_up(&reports);
    assert_eq!(field(&reports[0], "history"), "401", "one handshake only");
    for report in &reports[1..] {
        assert_eq!(
            field(report, "history"),
            "",
            "no new handshake: {report:#?}"
        );
    }

    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.len(), 51, "one challenge, then 50 answers");
    assert!(seen[0].authorization.is_none());
    for exchange in &seen[1..] {
        exchange.assert_verified_success();
        // requests merges all challenges into one dict, so the last one wins: the default
        // challenge order puts SHA-256 last for it. It sends the value quoted,
        // `algorithm="SHA-256"`, which the parser must take.
        assert_eq!(exchange.sent_algorithm(), "SHA-256");
        assert!(
            exchange
                .authorization
                .as_deref()
                .is_some_and(|a| a.contains("algorithm=\"SHA-256\"")),
            "requests quotes the algorithm: {exchange:#?}"
        );
    }
}

#[tokio::test]
async fn requests_post_with_a_body_succeeds() {
    let server = TestServer::start_default().await;
    let body = "The circle of life moves us all";
    let reports = python(
        "requests",
        &server.url(PROTECTED),
        PASSWORD,
        &["--body", body],
    )
    .await;

    assert_all_verified(&reports, 1);
    assert_eq!(
        field(&reports[0], "body"),
        format!("{USERNAME} posted {} bytes\n", body.len()),
        "the POST body reaches the handler: {reports:#?}"
    );
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("requests were recorded");
    assert_eq!(last.method, "POST");
    last.assert_verified_success();
}

#[tokio::test]
async fn requests_recovers_from_a_stale_nonce_without_asking_for_the_password_again() {
    let server = TestServer::start(ServerOptions {
        nonce_lifetime: Duration::from_secs(2),
        ..ServerOptions::default()
    })
    .await;
    // One auth object, given the password once; the second request comes after the nonce died.
    let reports = python(
        "requests",
        &server.url(PROTECTED),
        PASSWORD,
        &["--count", "2", "--pause", "3"],
    )
    .await;

    assert_all_verified(&reports, 2);
    assert_eq!(field(&reports[1], "history"), "401", "{reports:#?}");
    assert_ne!(field(&reports[0], "nonce"), field(&reports[1], "nonce"));

    let seen = server.exchanges_for(PROTECTED);
    let statuses: Vec<u16> = seen.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [401, 200, 401, 200], "{seen:#?}");
    seen[1].assert_verified_success();
    seen[3].assert_verified_success();
    let expired = &seen[2];
    assert!(
        expired.is_stale(),
        "an expired nonce is stale: {expired:#?}"
    );
    // The refused answer was correct apart from its age: that is what `stale` promises.
    let sent = expired.sent();
    let inputs = Inputs::from_sent(&sent, PASSWORD);
    assert_eq!(inputs.response("GET", &sent["uri"]), sent["response"]);
    assert_eq!(sent["nonce"], seen[1].sent()["nonce"]);
}

#[tokio::test]
async fn requests_with_a_wrong_password_gets_401() {
    let server = TestServer::start_default().await;
    let reports = python("requests", &server.url(PROTECTED), WRONG_PASSWORD, &[]).await;

    assert_eq!(reports.len(), 1);
    assert_eq!(field(&reports[0], "status"), "401", "{reports:#?}");
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(
        seen.len(),
        2,
        "challenge, then one refused answer: {seen:#?}"
    );
    seen[1].assert_refused_not_stale();
}

#[tokio::test]
async fn httpx_client_makes_20_gets_answering_with_sha256() {
    let server = TestServer::start_default().await;
    let reports = python(
        "httpx",
        &server.url(PROTECTED),
        PASSWORD,
        &["--count", "20"],
    )
    .await;

    assert_all_verified(&reports, 20);
    assert_one_nonce_counted_up(&reports);
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.len(), 21, "one challenge, then 20 answers: {seen:#?}");
    for exchange in &seen[1..] {
        exchange.assert_verified_success();
        assert_eq!(exchange.sent_algorithm(), "SHA-256");
    }
}

#[tokio::test]
async fn aiohttp_digest_middleware_makes_10_gets_on_one_nonce() {
    let server = TestServer::start_default().await;
    let reports = python(
        "aiohttp",
        &server.url(PROTECTED),
        PASSWORD,
        &["--count", "10"],
    )
    .await;

    assert_all_verified(&reports, 10);
    // The middleware answers later requests preemptively with the nonce it has.
    assert_one_nonce_counted_up(&reports);
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.len(), 11, "one challenge, then 10 answers: {seen:#?}");
    assert!(seen[0].authorization.is_none());
    for exchange in &seen[1..] {
        exchange.assert_verified_success();
        assert_eq!(exchange.sent_algorithm(), "SHA-256");
    }
}

/// With SHA-256 first and MD5 after (what every other client sees), requests would pick the
/// last line, MD5: the default order moves SHA-256 last for it.
#[tokio::test]
async fn requests_sees_sha256_last_and_answers_with_it() {
    let server = TestServer::start_default().await;
    python("requests", &server.url(PROTECTED), PASSWORD, &[]).await;
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let offered: Vec<_> = seen[0]
        .challenges
        .iter()
        .map(|c| crate::digest::parse_params(c)["algorithm"].clone())
        .collect();
    assert_eq!(offered, ["MD5", "SHA-256"], "both offered, SHA-256 last");
    seen[1].assert_verified_success();
    assert_eq!(seen[1].sent_algorithm(), "SHA-256");
}

#[tokio::test]
async fn urllib_stdlib_logs_in_to_the_default_configuration_with_md5() {
    let server = TestServer::start_default().await;
    let reports = python(
        "urllib",
        &server.url(PROTECTED),
        PASSWORD,
        &["--count", "3"],
    )
    .await;

    assert_all_verified(&reports, 3);
    let seen = server.exchanges_for(PROTECTED);
    // urllib never answers preemptively: a handshake per request.
    assert_eq!(seen.len(), 6, "{seen:#?}");
    for pair in seen.chunks(2) {
        assert_eq!(pair[0].status, 401);
        assert!(pair[0].authorization.is_none());
        // It reads only the first line: MD5 first for it, SHA-256 still offered after.
        assert_eq!(pair[0].challenges.len(), 2);
        assert!(pair[0].challenges[0].contains("algorithm=MD5"), "{pair:#?}");
        assert!(pair[0].challenges[1].contains("algorithm=SHA-256"));
        pair[1].assert_verified_success();
        assert_eq!(pair[1].sent_algorithm(), "MD5");
    }
}

#[tokio::test]
async fn urllib_with_a_wrong_password_gets_401() {
    let server = TestServer::start_default().await;
    let reports = python("urllib", &server.url(PROTECTED), WRONG_PASSWORD, &[]).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(field(&reports[0], "status"), "401", "{reports:#?}");
    let seen = server.exchanges_for(PROTECTED);
    // urllib tries again on each fresh challenge until its own limit (5 retries).
    assert!(seen.len() >= 2, "{seen:#?}");
    for exchange in &seen[1..] {
        exchange.assert_refused_not_stale();
        assert_eq!(exchange.sent_algorithm(), "MD5");
    }
}

/// What the default order fixes: with SHA-256 on the first line, urllib (before 3.14)
/// raises in the client and never sends an answer.
#[tokio::test]
async fn urllib_cannot_log_in_when_sha256_comes_first_for_it() {
    let server = TestServer::start_app(custom_app(&[(USERNAME, PASSWORD)], |builder| {
        builder.challenge_order(tower_digest_auth::challenge::ChallengeOrder::configured())
    }))
    .await;
    let script = interop_file("clients.py");
    let url = server.url(PROTECTED);
    let args = [
        script.as_str(),
        "urllib",
        "--url",
        &url,
        "--user",
        USERNAME,
        "--password",
        PASSWORD,
    ];
    let output = run_client("python3", &args, Duration::from_secs(60)).await;
    let version = run_client_ok(
        "python3",
        &["-c", "import sys; print(sys.version_info >= (3, 14))"],
        Duration::from_secs(30),
    )
    .await;
    if version.stdout.trim() == "True" {
        // Python 3.14 reads SHA-256: it logs in either way.
        assert!(output.success, "{output:#?}");
    } else {
        assert!(!output.success, "{output:#?}");
        assert!(
            output
                .stderr
                .contains("Unsupported digest authentication algorithm 'SHA-256'"),
            "{output:#?}"
        );
        let seen = server.exchanges_for(PROTECTED);
        assert_eq!(seen.len(), 1, "no answer was ever sent: {seen:#?}");
    }
}
