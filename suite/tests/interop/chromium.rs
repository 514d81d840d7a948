//! Headless Chromium (Debian's `chromium`), driven by `playwright-core` through
//! `interop/chromium.mjs`. The browser does its own Digest computation; which algorithm it
//! answered with is read at the server, from the recorded `Authorization` headers.

use std::time::Duration;

use tokio::sync::Mutex;

use crate::server::ServerOptions;
use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, WHOAMI, WRONG_PASSWORD, field, interop_file,
    parse_reports, run_client_ok,
};

/// One browser at a time: two cores are not enough for several Chromiums and the other clients.
pub(crate) static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// Visits `paths` in one tab of a fresh headless Chromium; one report per page.
async fn chromium(server: &TestServer, password: &str, paths: &[&str]) -> Vec<Report> {
    let _turn = ONE_BROWSER.lock().await;
    let script = interop_file("chromium.mjs");
    let base = server.url("");
    let mut args = vec![script.as_str(), base.as_str(), USERNAME, password];
    args.extend_from_slice(paths);
    let output = run_client_ok("node", &args, Duration::from_secs(120)).await;
    let reports = parse_reports(&output.stdout);
    assert_eq!(reports.len(), paths.len(), "{output:#?}");
    reports
}

/// The page loaded, and the `Authentication-Info` the browser got is one the server sent for
/// an answer whose `rspauth` the suite verified.
fn assert_page_verified(server: &TestServer, report: &Report, algorithm: &str) {
    assert_eq!(field(report, "status"), "200", "{report:#?}");
    let path = field(report, "path");
    let seen = server.exchanges_for(path);
    let authorized: Vec<_> = seen.iter().filter(|e| e.authorization.is_some()).collect();
    assert!(
        !authorized.is_empty(),
        "Chromium never answered for {path}: {seen:#?}"
    );
    for exchange in &authorized {
        assert_eq!(exchange.sent_algorithm(), algorithm, "{exchange:#?}");
        exchange.assert_verified_success();
    }
    let received = field(report, "authentication_info");
    assert!(
        authorized
            .iter()
            .any(|e| e.authentication_info.as_deref() == Some(received)),
        "the browser's Authentication-Info {received:?} is not one the server sent: {seen:#?}"
    );
}

#[tokio::test]
async fn chromium_logs_in_with_sha256_when_offered_first_and_sees_whoami() {
    let server = TestServer::start_default().await;
    let reports = chromium(&server, PASSWORD, &[PROTECTED, WHOAMI]).await;

    assert_page_verified(&server, &reports[0], "SHA-256");
    assert_page_verified(&server, &reports[1], "SHA-256");
    let whoami = field(&reports[1], "body").replace(char::is_whitespace, "");
    assert_eq!(whoami, r#"{"username":"Mufasa"}"#, "{reports:#?}");
}

#[tokio::test]
async fn chromium_logs_in_with_md5_when_only_md5_is_offered() {
    let server = TestServer::start(ServerOptions {
        algorithms: vec![tower_digest_auth::Algorithm::Md5],
        ..ServerOptions::default()
    })
    .await;
    let reports = chromium(&server, PASSWORD, &[WHOAMI]).await;

    assert_page_verified(&server, &reports[0], "MD5");
    let whoami = field(&reports[0], "body").replace(char::is_whitespace, "");
    assert_eq!(whoami, r#"{"username":"Mufasa"}"#, "{reports:#?}");
}

#[tokio::test]
async fn chromium_with_a_wrong_password_shows_the_401_page() {
    let server = TestServer::start_default().await;
    let reports = chromium(&server, WRONG_PASSWORD, &[WHOAMI]).await;

    assert_eq!(field(&reports[0], "status"), "401", "{reports:#?}");
    assert!(
        !field(&reports[0], "body").contains("Mufasa"),
        "{reports:#?}"
    );
    let seen = server.exchanges_for(WHOAMI);
    assert!(seen.iter().all(|e| e.status == 401), "{seen:#?}");
    let answers: Vec<_> = seen.iter().filter(|e| e.authorization.is_some()).collect();
    assert!(
        !answers.is_empty(),
        "Chromium did try the password: {seen:#?}"
    );
    for answer in answers {
        assert_eq!(answer.sent_algorithm(), "SHA-256");
        answer.assert_refused_not_stale();
    }
}
