//! The hyper and database examples, served on loopback sockets and answered by the tests'
//! own Digest client (`common`), which hashes independently of the crate.

#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/hyper.rs"]
mod hyper_example;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/database.rs"]
mod database_example;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Answer, Challenge, PASSWORD, REALM, USER, challenges, h, param, params};
use database_example::{SqliteCredentials, Users};
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// An unauthenticated GET: must be a 401 whose challenges are returned.
async fn challenge(url: &str) -> Vec<Challenge> {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    challenges(response.headers())
}

/// A GET of `/` answering `challenge` with `answer`.
async fn answer(url: &str, challenge: &Challenge, answer: &Answer<'_>) -> reqwest::Response {
    client()
        .get(url)
        .header("authorization", answer.header(challenge))
        .send()
        .await
        .unwrap()
}

/// Asserts a success: status, the server's proof (`rspauth`), and the body.
async fn assert_authenticated(
    response: reqwest::Response,
    challenge: &Challenge,
    answer: &Answer<'_>,
    body: &str,
) {
    assert_eq!(response.status(), StatusCode::OK);
    let info = params(response.headers()["authentication-info"].to_str().unwrap());
    assert_eq!(
        param(&info, "rspauth"),
        Some(answer.rspauth(challenge).as_str())
    );
    assert_eq!(response.text().await.unwrap(), body);
}

async fn start_hyper_example() -> String {
    let (listener, addr) = listener().await;
    tokio::spawn(hyper_example::serve(listener));
    format!("http://{addr}/")
}

#[tokio::test]
async fn hyper_example_challenges_then_authenticates() {
    let url = start_hyper_example().await;
    let challenges = challenge(&url).await;
    let algorithms: Vec<&str> = challenges.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["SHA-256", "MD5"]);
    assert_eq!(challenges[0].realm, hyper_example::REALM);

    for challenge in &challenges {
        let answer_ = Answer::get("/");
        let response = answer(&url, challenge, &answer_).await;
        assert_authenticated(response, challenge, &answer_, "Mufasa\n").await;
    }
}

#[tokio::test]
async fn hyper_example_refuses_a_wrong_password() {
    let url = start_hyper_example().await;
    let challenge = challenge(&url).await.remove(0);
    let response = answer(&url, &challenge, &Answer::get("/").password("Scar")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !challenges(response.headers()).is_empty(),
        "fresh challenge"
    );
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "tower-digest-auth-examples-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database in `dir` with the RFC user registered.
fn registered_store(dir: &TempDir) -> (SqliteCredentials, PathBuf) {
    let path = dir.path().join("users.db");
    let store = SqliteCredentials::open(&path).unwrap();
    store.register(USER, PASSWORD).unwrap();
    (store, path)
}

async fn start_database_example(store: SqliteCredentials) -> String {
    start_database_example_with(Users::cached(store)).await
}

async fn start_database_example_with(users: Users) -> String {
    let (listener, addr) = listener().await;
    tokio::spawn(database_example::serve(listener, users));
    format!("http://{addr}/")
}

#[test]
fn database_register_stores_ha1s_and_no_password() {
    let dir = TempDir::new();
    let (_store, path) = registered_store(&dir);

    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains(PASSWORD), "the password is in the database file");

    let db = rusqlite::Connection::open(&path).unwrap();
    let mut rows: Vec<(String, String, String, String)> = db
        .prepare("SELECT username, realm, algorithm, ha1 FROM users")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    let secret = format!("{USER}:{REALM}:{PASSWORD}");
    let expected: Vec<_> = ["MD5", "SHA-256", "SHA-512-256"]
        .into_iter()
        .map(|algorithm| {
            let ha1 = h(algorithm, secret.as_bytes());
            assert!(contains(&ha1), "{algorithm} HA1 is in the file");
            (USER.to_owned(), REALM.to_owned(), algorithm.to_owned(), ha1)
        })
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn database_register_again_replaces_the_password() {
    let dir = TempDir::new();
    let (store, path) = registered_store(&dir);
    store.register(USER, "Hakuna Matata").unwrap();

    let db = rusqlite::Connection::open(&path).unwrap();
    let ha1: String = db
        .query_row(
            "SELECT ha1 FROM users WHERE algorithm = 'SHA-256'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let expected = h(
        "SHA-256",
        format!("{USER}:{REALM}:Hakuna Matata").as_bytes(),
    );
    assert_eq!(ha1, expected);
}

#[tokio::test]
async fn database_example_authenticates_registered_users_over_a_socket() {
    let dir = TempDir::new();
    let (store, _) = registered_store(&dir);
    let url = start_database_example(store).await;

    let challenges = challenge(&url).await;
    assert_eq!(challenges.len(), 2);
    for challenge in &challenges {
        let answer_ = Answer::get("/");
        let response = answer(&url, challenge, &answer_).await;
        assert_authenticated(response, challenge, &answer_, "Hello, Mufasa!\n").await;
    }
}

#[tokio::test]
async fn database_example_refuses_unknown_users_and_wrong_passwords() {
    let dir = TempDir::new();
    let (store, _) = registered_store(&dir);
    let url = start_database_example(store).await;
    let challenge = challenge(&url).await.remove(0);

    let unknown = Answer::get("/").username("Scar");
    let response = answer(&url, &challenge, &unknown).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let wrong = Answer::get("/").password("Hakuna Matata").nc(2);
    let response = answer(&url, &challenge, &wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn database_example_answers_500_when_the_database_fails() {
    let dir = TempDir::new();
    let (store, path) = registered_store(&dir);
    let url = start_database_example(store).await;
    let challenge = challenge(&url).await.remove(0);

    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE users")
        .unwrap();

    let response = answer(&url, &challenge, &Answer::get("/")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(challenges(response.headers()).is_empty());
}

#[tokio::test]
async fn database_example_answers_500_for_a_stored_ha1_that_does_not_parse() {
    let dir = TempDir::new();
    let (store, path) = registered_store(&dir);
    let url = start_database_example(store).await;
    let challenge = challenge(&url).await.remove(0);

    // A broken row must not pass for a wrong password (a 401 with a fresh challenge).
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE users SET ha1 = 'not hex'")
        .unwrap();

    let response = answer(&url, &challenge, &Answer::get("/")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(challenges(response.headers()).is_empty());
}

/// One `curl --digest` transfer as `user:password`: the status and the body. `extra` goes
/// before the URL. curl is a real client nobody here wrote; tests/interop-setup.sh
/// installs it.
async fn curl(url: &str, user: &str, password: &str, extra: &[&str]) -> (u16, String) {
    let credentials = format!("{user}:{password}");
    let mut args = vec![
        "--silent",
        "--show-error",
        "--digest",
        "--user",
        &credentials,
        "--noproxy",
        "*",
        "--max-time",
        "20",
        "--write-out",
        "\nHTTP_CODE=%{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let output = tokio::process::Command::new("curl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl is not installed: run tests/interop-setup.sh (apt-get install curl)");
    assert!(output.status.success(), "curl failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (body, code) = stdout
        .rsplit_once("\nHTTP_CODE=")
        .expect("status from curl");
    (code.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn database_example_password_change_is_seen_at_once_by_curl() {
    let dir = TempDir::new();
    let (store, _) = registered_store(&dir);
    let url = start_database_example(store).await;
    let password_url = format!("{url}password");

    // The first request fills the cache with the old HA1s.
    let (status, body) = curl(&url, USER, PASSWORD, &[]).await;
    assert_eq!((status, body.as_str()), (200, "Hello, Mufasa!\n"));

    let change = ["--request", "PUT", "--data-binary", "Hakuna Matata"];
    let (status, body) = curl(&password_url, USER, PASSWORD, &change).await;
    assert_eq!((status, body.as_str()), (200, "password changed\n"));

    assert_eq!(curl(&url, USER, PASSWORD, &[]).await.0, 401, "old password");
    let (status, body) = curl(&url, USER, "Hakuna Matata", &[]).await;
    assert_eq!((status, body.as_str()), (200, "Hello, Mufasa!\n"));
    // The old password cannot change it back either.
    let back = ["--request", "PUT", "--data-binary", PASSWORD];
    assert_eq!(curl(&password_url, USER, PASSWORD, &back).await.0, 401);
}

#[tokio::test]
async fn database_example_refuses_an_empty_or_oversize_password() {
    let dir = TempDir::new();
    let (store, _) = registered_store(&dir);
    let password_url = format!("{}password", start_database_example(store).await);
    let long = "x".repeat(1025);
    for new in ["", long.as_str()] {
        let change = ["--request", "PUT", "--data-binary", new];
        let (status, body) = curl(&password_url, USER, PASSWORD, &change).await;
        assert_eq!(status, 400);
        assert!(body.contains("1 to 1024 bytes"), "{body}");
    }
}

#[tokio::test]
async fn database_example_without_the_cache_authenticates_and_changes_passwords() {
    let dir = TempDir::new();
    let (store, _) = registered_store(&dir);
    let url = start_database_example_with(Users::uncached(store)).await;
    let challenge = challenge(&url).await.remove(0);
    let answer_ = Answer::get("/");
    let response = answer(&url, &challenge, &answer_).await;
    assert_authenticated(response, &challenge, &answer_, "Hello, Mufasa!\n").await;

    let change = ["--request", "PUT", "--data-binary", "Hakuna Matata"];
    let password_url = format!("{url}password");
    assert_eq!(curl(&password_url, USER, PASSWORD, &change).await.0, 200);
    assert_eq!(curl(&url, USER, PASSWORD, &[]).await.0, 401);
    assert_eq!(curl(&url, USER, "Hakuna Matata", &[]).await.0, 200);
}
