//! Basic beside Digest with real clients over real sockets: `curl --basic` and Python
//! `requests.auth.HTTPBasicAuth` against the TLS example (`BASIC=on`), and over the plain
//! example server, where Basic is neither offered nor taken unless `BASIC=insecure`.
//! `tests/basic.rs` covers the layer's side case by case.

use std::time::Duration;

use tower_digest_auth::basic::BasicAuth;

use crate::digest::parse_params;
use crate::server::{ADMIN_PASSWORD, ADMIN_USERNAME, ServerOptions};
use crate::support::{
    ADMIN, PASSWORD, REALM, Report, TestServer, USERNAME, WHOAMI, WRONG_PASSWORD, field,
    interop_file, parse_reports, run_client_ok,
};
use crate::tls;

const ADMIN_PAGE: &str = "Welcome, Rafiki: you are an admin.\n";

/// What one curl transfer ended with, from its `-v` trace.
#[derive(Debug)]
struct Transfer {
    status: u16,
    body: String,
    /// Every `WWW-Authenticate` line of the last response.
    challenges: Vec<String>,
    /// Every `Authorization` curl sent.
    sent: Vec<String>,
    authentication_info: Option<String>,
}

impl Transfer {
    /// The scheme of each challenge line, in order.
    fn schemes(&self) -> Vec<&str> {
        self.challenges
            .iter()
            .map(|line| line.split(' ').next().unwrap_or_default())
            .collect()
    }
}

/// One curl transfer to `path` on `server` (trusting its certificate when it has one),
/// with `auth` (`--basic`, `--digest`) as `login`, or no credentials at all.
async fn curl(server: &TestServer, path: &str, login: Option<(&str, &str, &str)>) -> Transfer {
    let url = server.url(path);
    let user = login.map(|(_, username, password)| format!("{username}:{password}"));
    let mut args = vec!["--silent", "--show-error", "--verbose", "--noproxy", "*"];
    args.extend([
        "--max-time",
        "20",
        "--write-out",
        "\nHTTP_CODE=%{http_code}",
    ]);
    if let Some(ca_file) = &server.ca_file {
        args.extend(["--cacert", ca_file.as_str()]);
    }
    if let (Some((auth, _, _)), Some(user)) = (login, &user) {
        args.extend([auth, "--user", user.as_str()]);
    }
    args.push(&url);
    let output = run_client_ok("curl", &args, Duration::from_secs(30)).await;
    let (body, code) = output
        .stdout
        .rsplit_once("\nHTTP_CODE=")
        .unwrap_or_else(|| panic!("no status from curl: {output:?}"));
    let lines = |prefix: &str, wanted: &str| -> Vec<String> {
        output
            .stderr
            .lines()
            .filter_map(|line| {
                let (name, value) = line.strip_prefix(prefix)?.split_once(':')?;
                name.eq_ignore_ascii_case(wanted)
                    .then(|| value.trim().to_owned())
            })
            .collect()
    };
    // The last response's challenges: curl prints every response's headers in turn.
    let last_response = output.stderr.rfind("< HTTP/").unwrap_or(0);
    let challenges = output.stderr[last_response..]
        .lines()
        .filter_map(|line| {
            let (name, value) = line.strip_prefix("< ")?.split_once(':')?;
            name.eq_ignore_ascii_case("www-authenticate")
                .then(|| value.trim().to_owned())
        })
        .collect();
    Transfer {
        status: code.trim().parse().expect("numeric status"),
        body: body.to_owned(),
        challenges,
        sent: lines("> ", "authorization"),
        authentication_info: lines("< ", "authentication-info").pop(),
    }
}

/// `clients.py requests-basic` as `user`: `count` GETs of `path` on one session.
async fn requests_basic(
    server: &TestServer,
    path: &str,
    user: &str,
    password: &str,
    count: usize,
) -> Vec<Report> {
    let script = interop_file("clients.py");
    let url = server.url(path);
    let count = count.to_string();
    let mut args = vec![
        script.as_str(),
        "requests-basic",
        "--url",
        &url,
        "--user",
        user,
        "--password",
        password,
        "--count",
        &count,
    ];
    if let Some(ca_file) = &server.ca_file {
        args.extend(["--verify", ca_file.as_str()]);
    }
    let output = run_client_ok("python3", &args, Duration::from_secs(90)).await;
    parse_reports(&output.stdout)
}

fn statuses(reports: &[Report]) -> Vec<&str> {
    reports
        .iter()
        .map(|report| field(report, "status"))
        .collect()
}

async fn tls_server(basic: BasicAuth) -> TestServer {
    TestServer::start_tls(tls::ServerOptions {
        basic,
        ..tls::ServerOptions::default()
    })
    .await
}

const BASIC_LINE: &str = "Basic realm=\"http-auth@example.org\", charset=\"UTF-8\"";

#[tokio::test]
async fn curl_basic_over_tls_logs_in_with_roles_and_gets_no_authentication_info() {
    let server = tls_server(BasicAuth::OverTls).await;
    let asked = curl(&server, WHOAMI, None).await;
    assert_eq!(asked.status, 401, "{asked:#?}");
    assert_eq!(asked.schemes(), ["Digest", "Digest", "Basic"], "{asked:#?}");
    assert_eq!(asked.challenges[2], BASIC_LINE);
    assert_eq!(parse_params(&asked.challenges[0])["realm"], REALM);

    let admin = Some(("--basic", ADMIN_USERNAME, ADMIN_PASSWORD));
    let transfer = curl(&server, ADMIN, admin).await;
    assert_eq!(
        (transfer.status, transfer.body.as_str()),
        (200, ADMIN_PAGE),
        "{transfer:#?}"
    );
    // curl --basic sends the credentials at once: one request, no challenge first.
    assert_eq!(transfer.sent.len(), 1, "{transfer:#?}");
    assert!(transfer.sent[0].starts_with("Basic "), "{transfer:#?}");
    assert_eq!(
        transfer.authentication_info, None,
        "Basic proves nothing back"
    );
    let seen = server.exchanges_for(ADMIN);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(
        (seen[0].status, seen[0].authentication_info.as_deref()),
        (200, None)
    );

    // Roles come from the same store: Mufasa is no admin, but is himself.
    let mufasa = Some(("--basic", USERNAME, PASSWORD));
    assert_eq!(curl(&server, ADMIN, mufasa).await.status, 403);
    let whoami = curl(&server, WHOAMI, mufasa).await;
    assert_eq!(
        (whoami.status, whoami.body.as_str()),
        (200, r#"{"username":"Mufasa"}"#)
    );

    let wrong = curl(&server, WHOAMI, Some(("--basic", USERNAME, WRONG_PASSWORD))).await;
    assert_eq!(wrong.status, 401, "{wrong:#?}");
    assert_eq!(wrong.schemes(), ["Digest", "Digest", "Basic"]);

    // Digest beside it, unchanged: curl --digest picks Digest among the three.
    let digest = curl(&server, WHOAMI, Some(("--digest", USERNAME, PASSWORD))).await;
    assert_eq!(digest.status, 200, "{digest:#?}");
    assert!(
        digest.sent.last().unwrap().starts_with("Digest "),
        "{digest:#?}"
    );
    assert!(digest.authentication_info.is_some(), "{digest:#?}");
}

#[tokio::test]
async fn requests_basic_over_tls_logs_in_and_its_wrong_passwords_lock_the_user_out() {
    let server = tls_server(BasicAuth::OverTls).await;
    let admin = requests_basic(&server, ADMIN, ADMIN_USERNAME, ADMIN_PASSWORD, 3).await;
    assert_eq!(statuses(&admin), ["200", "200", "200"], "{admin:#?}");
    for report in &admin {
        assert_eq!(field(report, "body"), ADMIN_PAGE);
        // Sent with every request, unasked: no 401 on the way.
        assert_eq!(field(report, "history"), "", "{report:#?}");
        assert!(field(report, "authorization").starts_with("Basic "));
        assert!(!report.contains_key("authentication_info"), "{report:#?}");
    }
    let denied = requests_basic(&server, ADMIN, USERNAME, PASSWORD, 1).await;
    assert_eq!(statuses(&denied), ["403"], "{denied:#?}");

    // Ten wrong passwords count as failed logins; the eleventh try is locked out, and so
    // is the right password after them.
    let wrong = requests_basic(&server, WHOAMI, USERNAME, WRONG_PASSWORD, 11).await;
    let mut expected = vec!["401"; 10];
    expected.push("429");
    assert_eq!(statuses(&wrong), expected, "{wrong:#?}");
    let locked = requests_basic(&server, WHOAMI, USERNAME, PASSWORD, 1).await;
    assert_eq!(statuses(&locked), ["429"], "{locked:#?}");
    let refused: Vec<u16> = server
        .exchanges_for(WHOAMI)
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(
        refused.iter().filter(|&&s| s == 401).count(),
        10,
        "{refused:?}"
    );
    // Another user from the same address is not locked.
    let other = requests_basic(&server, ADMIN, ADMIN_USERNAME, ADMIN_PASSWORD, 1).await;
    assert_eq!(statuses(&other), ["200"], "{other:#?}");
}

/// Basic is neither offered nor taken: 401 with the two Digest challenges only.
fn assert_digest_only(transfer: &Transfer) {
    assert_eq!(transfer.status, 401, "{transfer:#?}");
    assert_eq!(transfer.schemes(), ["Digest", "Digest"], "{transfer:#?}");
}

#[tokio::test]
async fn over_plain_http_basic_is_neither_offered_nor_taken_unless_insecure() {
    let basic = Some(("--basic", USERNAME, PASSWORD));
    // BASIC=on: over TLS only, and this is plain HTTP.
    let on = TestServer::start(ServerOptions {
        basic: BasicAuth::OverTls,
        ..ServerOptions::default()
    })
    .await;
    assert_digest_only(&curl(&on, WHOAMI, None).await);
    let refused = curl(&on, WHOAMI, basic).await;
    assert_digest_only(&refused);
    assert!(
        refused.sent[0].starts_with("Basic "),
        "curl did send it: {refused:#?}"
    );
    let requests = requests_basic(&on, WHOAMI, USERNAME, PASSWORD, 1).await;
    assert_eq!(statuses(&requests), ["401"], "{requests:#?}");

    // BASIC unset: not even over TLS.
    let unset = tls_server(BasicAuth::Off).await;
    assert_digest_only(&curl(&unset, WHOAMI, None).await);
    assert_digest_only(&curl(&unset, WHOAMI, basic).await);

    // BASIC=insecure: offered and taken over plain HTTP too.
    let insecure = TestServer::start(ServerOptions {
        basic: BasicAuth::AlsoPlainHttp,
        ..ServerOptions::default()
    })
    .await;
    let asked = curl(&insecure, WHOAMI, None).await;
    assert_eq!(asked.schemes(), ["Digest", "Digest", "Basic"], "{asked:#?}");
    let taken = curl(&insecure, WHOAMI, basic).await;
    assert_eq!(
        (taken.status, taken.body.as_str()),
        (200, r#"{"username":"Mufasa"}"#)
    );
    let requests = requests_basic(&insecure, ADMIN, ADMIN_USERNAME, ADMIN_PASSWORD, 1).await;
    assert_eq!(statuses(&requests), ["200"], "{requests:#?}");
    assert_eq!(field(&requests[0], "body"), ADMIN_PAGE);
}

/// A `Basic` line after the Digest ones changes nothing for the Digest clients: each still
/// answers with Digest and the algorithm it picks without it (requests merges every line,
/// httpx and aiohttp read the first Digest one, urllib the first line), verified by
/// `hashlib`.
#[tokio::test]
async fn python_digest_clients_log_in_as_before_with_basic_offered_last() {
    let server = TestServer::start(ServerOptions {
        basic: BasicAuth::AlsoPlainHttp,
        ..ServerOptions::default()
    })
    .await;
    let url = server.url(crate::support::PROTECTED);
    for (client, algorithm) in [
        ("requests", "SHA-256"),
        ("httpx", "SHA-256"),
        ("aiohttp", "SHA-256"),
        ("urllib", "MD5"),
    ] {
        let reports = crate::python::python(client, &url, PASSWORD, &[]).await;
        assert_eq!(reports.len(), 1, "{client}: {reports:#?}");
        assert_eq!(
            field(&reports[0], "status"),
            "200",
            "{client}: {reports:#?}"
        );
        assert_eq!(
            field(&reports[0], "rspauth"),
            "ok",
            "{client}: {reports:#?}"
        );
        let seen = server.exchanges_for(crate::support::PROTECTED);
        let [.., challenge, answer] = seen.as_slice() else {
            panic!("{client}: {seen:#?}");
        };
        assert_eq!(
            challenge.challenges.last().map(String::as_str),
            Some(BASIC_LINE)
        );
        answer.assert_verified_success();
        assert_eq!(answer.sent_algorithm(), algorithm, "{client}");
    }
}
