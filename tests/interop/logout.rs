//! Logout in a real browser against the example server's `GET /logout`: headless Chromium
//! driven over its remote debugging protocol (`interop/chromium_prompts.mjs` counts the
//! login prompts, `Fetch.authRequired` events). `tests/logout.rs` checks the nonces over
//! raw sockets.

use std::time::Duration;

use crate::support::{
    PASSWORD, PROTECTED, Report, TestServer, USERNAME, field, interop_file, parse_reports,
    run_client_ok,
};

const LOGOUT: &str = "/logout";

/// Runs `steps` (`login:PATH` or `cancel:PATH`) in one tab of a fresh headless Chromium.
async fn chromium(server: &TestServer, steps: &[&str]) -> Vec<Report> {
    let _turn = crate::chromium::ONE_BROWSER.lock().await;
    let script = interop_file("chromium_prompts.mjs");
    let base = server.url("");
    let mut args = vec![
        "--experimental-websocket",
        script.as_str(),
        base.as_str(),
        USERNAME,
        PASSWORD,
    ];
    args.extend_from_slice(steps);
    let output = run_client_ok("node", &args, Duration::from_secs(120)).await;
    let reports = parse_reports(&output.stdout);
    assert_eq!(reports.len(), steps.len(), "{output:#?}");
    reports
}

fn status_and_prompts(report: &Report) -> (&str, &str) {
    (field(report, "status"), field(report, "prompts"))
}

#[tokio::test]
async fn chromium_asks_again_after_logout_and_not_without_it() {
    let server = TestServer::start_default().await;
    let without = chromium(
        &server,
        &[&format!("login:{PROTECTED}"), &format!("login:{PROTECTED}")],
    )
    .await;
    assert_eq!(
        status_and_prompts(&without[0]),
        ("200", "1"),
        "{without:#?}"
    );
    // Logged in: the browser answers on its own, nobody is asked.
    assert_eq!(
        status_and_prompts(&without[1]),
        ("200", "0"),
        "{without:#?}"
    );

    let with = chromium(
        &server,
        &[
            &format!("login:{PROTECTED}"),
            &format!("cancel:{LOGOUT}"),
            &format!("login:{PROTECTED}"),
        ],
    )
    .await;
    assert_eq!(status_and_prompts(&with[0]), ("200", "1"), "{with:#?}");
    assert_eq!(field(&with[1], "status"), "401", "{with:#?}");
    // After logout the browser asks its user again, and the new login works.
    assert_eq!(status_and_prompts(&with[2]), ("200", "1"), "{with:#?}");
    // The logout was refused to the browser's old login from then on, never stale.
    for exchange in server.exchanges_for(LOGOUT) {
        assert_eq!(exchange.status, 401, "{exchange:#?}");
        assert!(!exchange.is_stale(), "{exchange:#?}");
    }
}
