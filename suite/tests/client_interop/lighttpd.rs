//! lighttpd's `mod_auth` with the `plain` backend (a file of plaintext passwords, so it can
//! answer for any algorithm): `/sha-256/` offers SHA-256 and MD5, `/all/` SHA-512-256 too,
//! one `WWW-Authenticate` line each, strongest first. No `rspauth`: lighttpd sends
//! `Authentication-Info` only with a `nextnonce`.
//!
//! lighttpd's nonces live 10 minutes, fixed. It runs under libfaketime with its clock read
//! from a file, so the stale test moves the server's clock 11 minutes on instead of waiting.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    Daemon, PASSWORD, REALM, TempDir, USERNAME, WRONG_PASSWORD, assert_nonce_reused,
    assert_one_refused_answer, client, free_port, get, get_ok,
};

const SHA256_BODY: &str = "lighttpd, SHA-256 and MD5\n";
const ALL_BODY: &str = "lighttpd, every algorithm\n";

struct Lighttpd {
    port: u16,
    /// libfaketime's offset for lighttpd's clock (`+0`, `+660`, ...), read at each call.
    clock: PathBuf,
    _daemon: Daemon,
    _dir: TempDir,
}

impl Lighttpd {
    fn start() -> Lighttpd {
        let dir = TempDir::new("lighttpd");
        let root = dir.path().display().to_string();
        let port = free_port();
        dir.write("htdocs/sha-256/index.html", SHA256_BODY);
        dir.write("htdocs/all/index.html", ALL_BODY);
        let users = dir.write("users", &format!("{USERNAME}:{PASSWORD}\n"));
        let clock = dir.write("clock", "+0\n");
        let config = format!(
            r#"server.document-root = "{root}/htdocs"
server.bind = "127.0.0.1"
server.port = {port}
server.pid-file = "{root}/lighttpd.pid"
server.errorlog = "{root}/error.log"
server.modules = ( "mod_auth", "mod_authn_file" )
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = (
    "/sha-256/" => (
        "method" => "digest", "realm" => "{REALM}", "require" => "valid-user",
        "algorithm" => "MD5|SHA-256",
    ),
    "/all/" => (
        "method" => "digest", "realm" => "{REALM}", "require" => "valid-user",
        "algorithm" => "MD5|SHA-256|SHA-512-256",
    ),
)
"#,
            users = users.display(),
        );
        let conf = dir.write("lighttpd.conf", &config);
        let mut command = Command::new("/usr/sbin/lighttpd");
        command
            .arg("-D")
            .arg("-f")
            .arg(&conf)
            .env("LD_PRELOAD", faketime_library())
            .env("FAKETIME_TIMESTAMP_FILE", &clock)
            .env("FAKETIME_NO_CACHE", "1");
        let daemon = Daemon::start("lighttpd", command, port, dir.path().join("error.log"));
        Lighttpd {
            port,
            clock,
            _daemon: daemon,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Moves lighttpd's clock `secs` seconds past the real one.
    fn advance_clock(&self, secs: u64) {
        std::fs::write(&self.clock, format!("+{secs}\n")).unwrap();
    }
}

/// libfaketime's preload library, in the machine's multiarch directory.
fn faketime_library() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("faketime/libfaketime.so.1"))
        .find(|path| path.exists())
        .expect("libfaketime is missing: run bash tests/client-interop-setup.sh")
}

#[tokio::test]
async fn logs_in_to_lighttpd_with_sha_256_when_md5_is_offered_too() {
    let lighttpd = Lighttpd::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    let body = get_ok(&mut client, &lighttpd.url("/sha-256/index.html")).await;
    assert_eq!(body, SHA256_BODY);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    let offered: Vec<String> = exchanges[0]
        .challenges
        .iter()
        .map(|c| crate::support::params(c)["algorithm"].clone())
        .collect();
    assert_eq!(offered, ["SHA-256", "MD5"]);
    assert_eq!(exchanges[1].sent("algorithm"), "SHA-256");
    assert_eq!(exchanges[1].sent("response").len(), 64);
}

#[tokio::test]
async fn logs_in_to_lighttpd_with_sha_512_256_when_it_is_offered() {
    let lighttpd = Lighttpd::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    assert_eq!(
        get_ok(&mut client, &lighttpd.url("/all/index.html")).await,
        ALL_BODY
    );
    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert_eq!(exchanges[0].challenges.len(), 3, "{exchanges:#?}");
    assert_eq!(exchanges[1].sent("algorithm"), "SHA-512-256");
}

#[tokio::test]
async fn reuses_its_lighttpd_nonce_with_the_next_nc() {
    let lighttpd = Lighttpd::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    for _ in 0..3 {
        let body = get_ok(&mut client, &lighttpd.url("/sha-256/index.html")).await;
        assert_eq!(body, SHA256_BODY);
    }
    assert_nonce_reused(&recording, 3);
}

#[tokio::test]
async fn recovers_from_lighttpds_stale_nonce_without_an_error() {
    let lighttpd = Lighttpd::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    let url = lighttpd.url("/sha-256/index.html");
    assert_eq!(get_ok(&mut client, &url).await, SHA256_BODY);
    // Eleven minutes on for lighttpd, whose nonces live ten; it reads the clock about once
    // a second.
    lighttpd.advance_clock(660);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    recording.clear();
    assert_eq!(get_ok(&mut client, &url).await, SHA256_BODY);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert!(
        exchanges[0].status == 401 && exchanges[0].is_stale(),
        "{exchanges:#?}"
    );
    assert_eq!(exchanges[1].status, 200, "{exchanges:#?}");
    assert_eq!(exchanges[1].sent("algorithm"), "SHA-256");
    assert_ne!(exchanges[1].sent("nonce"), exchanges[0].sent("nonce"));
}

#[tokio::test]
async fn hands_back_lighttpds_final_401_for_a_wrong_password() {
    let lighttpd = Lighttpd::start();
    let (mut client, recording) = client(USERNAME, WRONG_PASSWORD);
    let fetched = get(&mut client, &lighttpd.url("/sha-256/index.html"))
        .await
        .expect("a refusal is a response, not an error");
    assert_eq!(fetched.status, 401, "{fetched:?}");
    assert_one_refused_answer(&recording, 401);
}
