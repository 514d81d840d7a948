//! Logout against the example server's `GET /logout`: in a real browser, headless Chromium
//! driven over its remote debugging protocol (`interop/chromium_prompts.mjs` counts the
//! login prompts, `Fetch.authRequired` events); with curl, one handshake per transfer; with
//! a Python `requests` session, which answers on its own; and the example's contract over
//! raw sockets (`tests/logout.rs` checks ending all of a user's logins too).

use std::time::Duration;

use crate::curl::{curl, curl_as};
use crate::digest::parse_params;
use crate::python::python;
use crate::server::ServerOptions;
use crate::support::{
    Challenge, LOCALHOST, PASSWORD, PROTECTED, RawResponse, Report, TestServer, USERNAME,
    authorization_for, fetch_challenge, field, get_request, interop_file, parse_reports,
    raw_request, run_client_ok, start_plain_server,
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

/// The statuses of the recorded exchanges for `path`, in order.
fn statuses_for(server: &TestServer, path: &str) -> Vec<u16> {
    server
        .exchanges_for(path)
        .iter()
        .map(|e| e.status)
        .collect()
}

/// curl makes a new handshake for every transfer (every URL, even within one command), so
/// it never reuses a nonce itself: its logout's nonce is sent again by hand, with the next
/// `nc`, by curl (`--header`), and a second invocation logs in with a new handshake.
#[tokio::test]
async fn curl_logout_ends_its_nonce_and_the_next_transfer_logs_in_with_a_new_handshake() {
    let server = TestServer::start_default().await;
    assert_eq!(
        curl(&server.url(PROTECTED), PASSWORD, &[]).await.status,
        200
    );

    let logout = curl(&server.url(LOGOUT), PASSWORD, &[]).await;
    assert_eq!(logout.status, 401, "{logout:#?}");
    assert_eq!(logout.authentication_info, None, "{logout:#?}");
    // A challenge, then curl's answer, which the handler took and ended: not stale.
    let seen = server.exchanges_for(LOGOUT);
    assert_eq!(statuses_for(&server, LOGOUT), [401, 401], "{seen:#?}");
    seen[1].assert_refused_not_stale();

    // The logout's nonce, with the next nc, correct for the protected page: refused, not
    // stale (a browser would ask its user).
    let sent = parse_params(logout.sent_authorizations.last().expect("curl answered"));
    let challenge = Challenge {
        nonce: sent["nonce"].clone(),
        opaque: sent["opaque"].clone(),
    };
    let header = authorization_for(&challenge, &sent["algorithm"], PROTECTED, 2);
    let replay = format!("Authorization: {header}");
    let old = curl_as(None, &server.url(PROTECTED), &["--header", &replay]).await;
    assert_eq!(old.status, 401, "{old:#?}");
    let refused = server.exchanges_for(PROTECTED).pop().expect("recorded");
    assert_eq!(refused.sent()["nonce"], sent["nonce"], "{refused:#?}");
    refused.assert_refused_not_stale();

    // The next invocation: a new handshake, a new nonce, logged in.
    let again = curl(&server.url(PROTECTED), PASSWORD, &[]).await;
    assert_eq!(again.status, 200, "{again:#?}");
    let new = parse_params(again.sent_authorizations.last().expect("curl answered"));
    assert_ne!(new["nonce"], sent["nonce"]);
    server
        .exchanges_for(PROTECTED)
        .pop()
        .unwrap()
        .assert_verified_success();
}

/// A `requests` session with `HTTPDigestAuth` answers ahead with the nonce it holds and
/// answers every 401 once more by itself, so what it does around a logout is: its logout
/// request ends its login, and it at once answers the logout's fresh challenge, a new login
/// that the handler ends too (the script sees 401); its next request, on that ended nonce,
/// gets 401 without `stale`, and it answers the fresh challenge: logged in again, without
/// being asked for anything (it holds the password).
#[tokio::test]
async fn requests_session_after_logout_is_refused_on_its_old_nonce_and_logs_in_again() {
    let server = TestServer::start_default().await;
    let logout = server.url(LOGOUT);
    let protected = server.url(PROTECTED);
    let also = [
        "--also", &logout, "--also", &protected, "--also", &protected,
    ];
    let reports = python("requests", &protected, PASSWORD, &also).await;
    let statuses: Vec<&str> = reports.iter().map(|r| field(r, "status")).collect();
    assert_eq!(statuses, ["200", "401", "200", "200"], "{reports:#?}");
    // The logout's 401 came after a retry; the next request after one more.
    assert_eq!(field(&reports[1], "history"), "401", "{reports:#?}");
    assert_eq!(field(&reports[2], "history"), "401", "{reports:#?}");
    assert_eq!(field(&reports[3], "history"), "", "{reports:#?}");
    assert_eq!(
        field(&reports[2], "nc"),
        "00000001",
        "a new nonce: {reports:#?}"
    );
    assert_ne!(field(&reports[2], "nonce"), field(&reports[1], "nonce"));
    assert_eq!(field(&reports[3], "nonce"), field(&reports[2], "nonce"));

    // What the server saw: both logout requests were logins it ended, never stale ...
    let ended = server.exchanges_for(LOGOUT);
    assert_eq!(statuses_for(&server, LOGOUT), [401, 401], "{ended:#?}");
    let first_nonce = server.exchanges_for(PROTECTED)[1].sent()["nonce"].clone();
    assert_eq!(ended[0].sent()["nonce"], first_nonce, "ahead, on its nonce");
    assert_eq!(ended[0].sent()["nc"], "00000002");
    assert_eq!(ended[1].sent()["nc"], "00000001", "the retry's new nonce");
    for exchange in &ended {
        exchange.assert_refused_not_stale();
    }
    // ... then the old (ended) nonce with the next nc: 401 without stale; a new handshake: 200.
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(
        statuses_for(&server, PROTECTED),
        [401, 200, 401, 200, 200],
        "{seen:#?}"
    );
    assert_eq!(
        seen[2].sent()["nonce"],
        ended[1].sent()["nonce"],
        "{seen:#?}"
    );
    assert_eq!(seen[2].sent()["nc"], "00000002");
    seen[2].assert_refused_not_stale();
    seen[3].assert_verified_success();
    seen[4].assert_verified_success();
}
