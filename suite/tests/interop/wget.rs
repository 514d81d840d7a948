//! GNU Wget (Debian's `wget`): MD5 only. It skips the challenges it cannot answer, so it
//! finds the MD5 line after SHA-256 by itself; its `-d` trace shows what it sent.

use std::time::Duration;

use crate::digest::{check_authentication_info, parse_params};
use crate::support::{PASSWORD, PROTECTED, TestServer, USERNAME, WHOAMI, run_client_ok};

/// What one `wget` run did, read from its debug trace on stderr.
#[derive(Debug)]
struct WgetRun {
    body: String,
    /// Every `Authorization` header wget sent, in order.
    sent_authorizations: Vec<String>,
    /// Every `Authentication-Info` header wget received, in order.
    authentication_infos: Vec<String>,
}

async fn wget(url: &str) -> WgetRun {
    let password = format!("--password={PASSWORD}");
    let user = format!("--user={USERNAME}");
    let args = [
        "--debug",
        "--no-proxy",
        "--no-config",
        "--tries=1",
        "--timeout=10",
        "--output-document=-",
        user.as_str(),
        password.as_str(),
        url,
    ];
    let output = run_client_ok("wget", &args, Duration::from_secs(30)).await;
    let header = |name: &str| -> Vec<String> {
        output
            .stderr
            .lines()
            .filter_map(|line| {
                let (field, value) = line.split_once(':')?;
                field
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .collect()
    };
    WgetRun {
        body: output.stdout.clone(),
        sent_authorizations: header("authorization"),
        authentication_infos: header("authentication-info"),
    }
}

#[tokio::test]
async fn wget_logs_in_to_the_default_configuration_with_md5() {
    let server = TestServer::start_default().await;
    let run = wget(&server.url(WHOAMI)).await;

    assert_eq!(
        run.body.replace(char::is_whitespace, ""),
        r#"{"username":"Mufasa"}"#,
        "{run:#?}"
    );
    assert_eq!(run.sent_authorizations.len(), 1, "{run:#?}");
    let sent = &run.sent_authorizations[0];
    assert_eq!(parse_params(sent)["algorithm"], "MD5");
    let info = run
        .authentication_infos
        .last()
        .expect("Authentication-Info");
    if let Err(problem) = check_authentication_info(sent, info, PASSWORD) {
        panic!("wget got a wrong rspauth: {problem}");
    }

    let seen = server.exchanges_for(WHOAMI);
    assert_eq!(seen.len(), 2, "one challenge, one answer: {seen:#?}");
    // Nobody reordered anything for wget: it passed over SHA-256 on its own.
    assert!(seen[0].challenges[0].contains("algorithm=SHA-256"));
    seen[1].assert_verified_success();
    assert_eq!(seen[1].sent_algorithm(), "MD5");
}

#[tokio::test]
async fn wget_post_style_query_target_is_digested_as_sent() {
    let server = TestServer::start_default().await;
    let target = format!("{PROTECTED}?q=caf%C3%A9&x=1");
    let run = wget(&server.url(&target)).await;
    assert_eq!(parse_params(&run.sent_authorizations[0])["uri"], target);
    let seen = server.exchanges_for(PROTECTED);
    let last = seen.last().expect("requests were recorded");
    assert_eq!(last.target, target);
    last.assert_verified_success();
}
