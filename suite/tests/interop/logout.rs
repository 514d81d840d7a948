//! Logout in a real browser against the example server's `GET /logout`: headless Chromium
//! driven over its remote debugging protocol (`interop/chromium_prompts.mjs` counts the
//! login prompts, `Fetch.authRequired` events), and the example's contract over raw
//! sockets (`tests/logout.rs` checks ending all of a user's logins too).

use std::time::Duration;

use crate::server::ServerOptions;
use crate::support::{
    LOCALHOST, PASSWORD, PROTECTED, RawResponse, Report, TestServer, USERNAME, authorization_for,
    fetch_challenge, field, get_request, interop_file, parse_reports, raw_request, run_client_ok,
    start_plain_server,
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

/// A 401 whose fresh challenges do not say `stale`, and no `Authentication-Info`.
fn assert_refused_not_stale(response: &RawResponse) {
    assert_eq!(response.status, 401, "{response:?}");
    let challenges = response.all("www-authenticate");
    assert!(!challenges.is_empty(), "{response:?}");
    assert!(
        challenges
            .iter()
            .all(|c| !c.to_ascii_lowercase().contains("stale")),
        "{response:?}"
    );
    assert!(
        response.header("authentication-info").is_none(),
        "{response:?}"
    );
}

#[tokio::test]
async fn raw_logout_on_the_example_server_ends_the_nonce_and_a_new_handshake_logs_in() {
    let addr = start_plain_server(ServerOptions::default()).await;
    let get = async |target: &str, authorization: &str| {
        raw_request(
            LOCALHOST,
            addr,
            &get_request(target, Some(authorization.as_bytes())),
        )
        .await
    };
    let challenge = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;
    let first = authorization_for(&challenge, "SHA-256", PROTECTED, 1);
    assert_eq!(get(PROTECTED, &first).await.status, 200);

    let logout = authorization_for(&challenge, "SHA-256", LOGOUT, 2);
    assert_refused_not_stale(&get(LOGOUT, &logout).await);
    // The same nonce with the next nc: refused, not stale.
    let after = authorization_for(&challenge, "SHA-256", PROTECTED, 3);
    assert_refused_not_stale(&get(PROTECTED, &after).await);

    let fresh = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;
    let again = authorization_for(&fresh, "SHA-256", PROTECTED, 1);
    assert_eq!(get(PROTECTED, &again).await.status, 200);
}
