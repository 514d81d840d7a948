//! curl 7.88+ with `--digest`: one handshake per transfer, answers the first challenge.

use std::time::Duration;

use crate::digest::{check_authentication_info, parse_params};
use crate::server::{ADMIN_PASSWORD, ADMIN_USERNAME, ServerOptions};
use crate::support::{
    ADMIN, PASSWORD, PROTECTED, TestServer, USERNAME, WRONG_PASSWORD, run_client_ok,
};

/// What one `curl --digest` transfer did, read from its `-v` trace.
#[derive(Debug)]
pub struct CurlTransfer {
    pub status: u16,
    pub body: String,
    /// Every `Authorization` header curl sent, in order.
    pub sent_authorizations: Vec<String>,
    /// The last `Authentication-Info` curl received.
    pub authentication_info: Option<String>,
}

impl CurlTransfer {
    fn assert_rspauth_correct(&self) {
        let sent = self
            .sent_authorizations
            .last()
            .expect("curl sent no Authorization");
        let info = self
            .authentication_info
            .as_deref()
            .expect("curl received no Authentication-Info");
        if let Err(problem) = check_authentication_info(sent, info, PASSWORD) {
            panic!("curl got a wrong rspauth: {problem}");
        }
    }
}

pub async fn curl(url: &str, password: &str, extra: &[&str]) -> CurlTransfer {
    curl_as(Some((USERNAME, password)), url, extra).await
}

/// `curl --digest`, logged in as `login` (or with no `--user` at all).
pub async fn curl_as(login: Option<(&str, &str)>, url: &str, extra: &[&str]) -> CurlTransfer {
    let user = login.map(|(username, password)| format!("{username}:{password}"));
    let mut args = vec!["--silent", "--show-error", "--verbose", "--digest"];
    if let Some(user) = &user {
        args.extend(["--user", user.as_str()]);
    }
    args.extend([
        "--noproxy",
        "*",
        "--max-time",
        "20",
        "--write-out",
        "\nHTTP_CODE=%{http_code}",
    ]);
    args.extend_from_slice(extra);
    args.push(url);
    let output = run_client_ok("curl", &args, Duration::from_secs(30)).await;
    let (body, code) = output
        .stdout
        .rsplit_once("\nHTTP_CODE=")
        .unwrap_or_else(|| panic!("no status from curl: {output:?}"));
    let header = |prefix: &str| -> Vec<String> {
        output
            .stderr
            .lines()
            .filter_map(|line| {
                let line = line.strip_prefix(prefix)?;
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case(if prefix == "> " {
                    "authorization"
                } else {
                    "authentication-info"
                })
                .then(|| value.trim().to_owned())
            })
            .collect()
    };
    CurlTransfer {
        status: code.trim().parse().expect("numeric status"),
        body: body.to_owned(),
        sent_authorizations: header("> "),
        authentication_info: header("< ").pop(),
    }
}

#[tokio::test]
async fn curl_get_answers_with_sha256_when_it_is_offered_first() {
    let server = TestServer::start_default().await;
    let transfer = curl(&server.url(PROTECTED), PASSWORD, &[]).await;

    assert_eq!(transfer.status, 200, "{transfer:#?}");
    assert_eq!(transfer.sent_authorizations.len(), 1, "{transfer:#?}");
    let sent = parse_params(&transfer.sent_authorizations[0]);
    assert_eq!(sent["algorithm"], "SHA-256");
    assert_eq!(sent["uri"], PROTECTED);
    transfer.assert_rspauth_correct();

    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen.len(), 2, "one challenge, one answer: {seen:#?}");
    assert_eq!(seen[0].status, 401);
    assert_eq!(seen[0].challenges.len(), 2, "SHA-256 and MD5 challenges");
    seen[1].assert_verified_success();
    assert_eq!(seen[1].sent_algorithm(), "SHA-256");
}

#[tokio::test]
async fn curl_answers_with_md5_when_only_md5_is_offered() {
    let server = TestServer::start(ServerOptions {
        algorithms: vec![tower_digest_auth::Algorithm::Md5],
        ..ServerOptions::default()
    })
    .await;
    let transfer = curl(&server.url(PROTECTED), PASSWORD, &[]).await;

    assert_eq!(transfer.status, 200, "{transfer:#?}");
    transfer.assert_rspauth_correct();
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(seen[0].challenges.len(), 1, "MD5 only: {seen:#?}");
    seen[1].assert_verified_success();
    assert_eq!(seen[1].sent_algorithm(), "MD5");
}

#[tokio::test]
async fn curl_post_with_a_body_succeeds_after_the_handshake() {
    let server = TestServer::start_default().await;
    let body = "name=Simba&message=Hakuna%20Matata";
    let transfer = curl(&server.url(PROTECTED), PASSWORD, &["--data-binary", body]).await;

    assert_eq!(transfer.status, 200, "{transfer:#?}");
    assert_eq!(
        transfer.body,
        format!("{USERNAME} posted {} bytes\n", body.len()),
        "the POST body reaches the handler: {transfer:#?}"
    );
    transfer.assert_rspauth_correct();
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("requests were recorded");
    assert_eq!(last.method, "POST");
    last.assert_verified_success();
}

#[tokio::test]
async fn curl_url_with_an_encoded_query_string_is_accepted() {
    let server = TestServer::start_default().await;
    let target = format!("{PROTECTED}?q=caf%C3%A9%20au%20lait&path=%2Fa%2Fb&eq=1%3D2&empty=");
    let transfer = curl(&server.url(&target), PASSWORD, &[]).await;

    assert_eq!(transfer.status, 200, "{transfer:#?}");
    let sent = parse_params(transfer.sent_authorizations.last().expect("an answer"));
    assert_eq!(
        sent["uri"], target,
        "curl digests the encoded target as sent"
    );
    transfer.assert_rspauth_correct();
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("requests were recorded");
    assert_eq!(last.target, target);
    last.assert_verified_success();
}

#[tokio::test]
async fn curl_with_a_wrong_password_gets_401() {
    let server = TestServer::start_default().await;
    let transfer = curl(&server.url(PROTECTED), WRONG_PASSWORD, &[]).await;

    assert_eq!(transfer.status, 401, "{transfer:#?}");
    assert!(transfer.authentication_info.is_none());
    let seen = server.exchanges_for(PROTECTED);
    assert_eq!(
        seen.len(),
        2,
        "challenge, then one refused answer: {seen:#?}"
    );
    assert!(seen[0].authorization.is_none());
    assert_eq!(seen[1].sent_algorithm(), "SHA-256");
    seen[1].assert_refused_not_stale();
}

#[tokio::test]
async fn curl_as_the_admin_gets_the_admin_page() {
    let server = TestServer::start_default().await;
    let login = (ADMIN_USERNAME, ADMIN_PASSWORD);
    let transfer = curl_as(Some(login), &server.url(ADMIN), &[]).await;

    assert_eq!(transfer.status, 200, "{transfer:#?}");
    assert!(transfer.body.contains(ADMIN_USERNAME), "{transfer:#?}");
    let sent = transfer.sent_authorizations.last().expect("an answer");
    let info = transfer.authentication_info.as_deref().expect("rspauth");
    if let Err(problem) = check_authentication_info(sent, info, ADMIN_PASSWORD) {
        panic!("curl got a wrong rspauth: {problem}");
    }
}

#[tokio::test]
async fn curl_as_a_user_without_the_admin_role_gets_403_and_no_challenge() {
    let server = TestServer::start_default().await;
    let transfer = curl(&server.url(ADMIN), PASSWORD, &[]).await;

    assert_eq!(transfer.status, 403, "{transfer:#?}");
    transfer.assert_rspauth_correct();
    let seen = server.exchanges_for(ADMIN);
    assert_eq!(
        seen.len(),
        2,
        "challenge, then the refused answer: {seen:#?}"
    );
    assert_eq!(seen[1].status, 403);
    assert!(
        seen[1].challenges.is_empty(),
        "a 403 asks for nothing: {seen:#?}"
    );
}

#[tokio::test]
async fn curl_without_credentials_gets_401_with_challenges_on_the_admin_route() {
    let server = TestServer::start_default().await;
    let transfer = curl_as(None, &server.url(ADMIN), &[]).await;

    assert_eq!(transfer.status, 401, "{transfer:#?}");
    assert!(transfer.sent_authorizations.is_empty(), "{transfer:#?}");
    let seen = server.exchanges_for(ADMIN);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    seen[0].assert_refused_not_stale();
    assert_eq!(seen[0].challenges.len(), 2, "SHA-256 and MD5: {seen:#?}");
}
