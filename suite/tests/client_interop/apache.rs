//! Apache httpd's `mod_auth_digest`: MD5 with `qop=auth`, users from an htdigest file,
//! `Authentication-Info` with an `rspauth` the layer checks. `/stale/` has a two-second
//! nonce lifetime, so a nonce the client holds goes stale while the test waits.

use std::process::Command;
use std::time::Duration;

use md5::{Digest as _, Md5};

use crate::support::{
    Daemon, PASSWORD, REALM, TempDir, USERNAME, WRONG_PASSWORD, assert_nonce_reused,
    assert_one_refused_answer, client, free_port, get, get_ok, running_as_root,
};

const BODY: &str = "apache says hello\n";
const STALE_BODY: &str = "apache, short nonces\n";
/// `AuthDigestNonceLifetime` of `/stale/`, in seconds.
const SHORT_LIFETIME: u64 = 2;

/// Apache on a free loopback port, its config, files and logs in a temp dir.
struct Apache {
    port: u16,
    _daemon: Daemon,
    _dir: TempDir,
}

impl Apache {
    fn start() -> Apache {
        let dir = TempDir::new("apache");
        let root = dir.path().display().to_string();
        let port = free_port();
        dir.write("htdocs/index.html", BODY);
        dir.write("htdocs/stale/index.html", STALE_BODY);
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        // htdigest's format: user:realm:MD5(user:realm:password).
        let ha1 = hex(&Md5::digest(format!("{USERNAME}:{REALM}:{PASSWORD}")));
        let users = dir.write("users", &format!("{USERNAME}:{REALM}:{ha1}\n"));
        // Apache refuses to serve as root: its workers drop to www-data.
        let user = if running_as_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let modules = "/usr/lib/apache2/modules";
        let config = format!(
            r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
ErrorLog "{root}/error.log"
{user}LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_digest_module {modules}/mod_auth_digest.so
StartServers 1
MinSpareServers 1
MaxSpareServers 2
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    AuthType Digest
    AuthName "{REALM}"
    AuthDigestProvider file
    AuthUserFile "{users}"
    AuthDigestAlgorithm MD5
    AuthDigestQop auth
    Require valid-user
</Directory>
<Directory "{root}/htdocs/stale">
    AuthDigestNonceLifetime {SHORT_LIFETIME}
</Directory>
"#,
            users = users.display(),
        );
        let conf = dir.write("httpd.conf", &config);
        let mut command = Command::new("/usr/sbin/apache2");
        command.arg("-f").arg(&conf).arg("-DFOREGROUND");
        let daemon = Daemon::start("apache2", command, port, dir.path().join("error.log"));
        Apache {
            port,
            _daemon: daemon,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[tokio::test]
async fn logs_in_to_apache_with_md5_and_accepts_its_rspauth() {
    let apache = Apache::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    assert_eq!(get_ok(&mut client, &apache.url("/index.html")).await, BODY);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert_eq!(exchanges[0].status, 401);
    let answer = &exchanges[1];
    assert_eq!(answer.sent("algorithm").to_ascii_uppercase(), "MD5");
    assert_eq!(answer.sent("qop"), "auth");
    assert_eq!(answer.sent("uri"), "/index.html");
    // Apache proved it knows the password; the layer checked the proof (a mismatch is an
    // error, not this Ok).
    let info = answer
        .info
        .as_deref()
        .expect("Apache sends Authentication-Info");
    assert!(info.contains("rspauth="), "{info}");
}

#[tokio::test]
async fn reuses_its_apache_nonce_with_the_next_nc() {
    let apache = Apache::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    for _ in 0..3 {
        assert_eq!(get_ok(&mut client, &apache.url("/index.html")).await, BODY);
    }
    assert_nonce_reused(&recording, 3);
}

#[tokio::test]
async fn recovers_from_apaches_stale_nonce_without_an_error() {
    let apache = Apache::start();
    let (mut client, recording) = client(USERNAME, PASSWORD);
    let url = apache.url("/stale/index.html");
    assert_eq!(get_ok(&mut client, &url).await, STALE_BODY);
    // Past the nonce's lifetime (and that of any nextnonce Apache handed over with it).
    tokio::time::sleep(Duration::from_secs(SHORT_LIFETIME + 1)).await;
    recording.clear();
    assert_eq!(get_ok(&mut client, &url).await, STALE_BODY);

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert!(
        exchanges[0].status == 401 && exchanges[0].is_stale(),
        "{exchanges:#?}"
    );
    assert!(exchanges[0].credentials.is_some(), "{exchanges:#?}");
    assert_eq!(exchanges[1].status, 200, "{exchanges:#?}");
    assert_ne!(exchanges[1].sent("nonce"), exchanges[0].sent("nonce"));
}

#[tokio::test]
async fn hands_back_apaches_final_401_for_a_wrong_password() {
    let apache = Apache::start();
    let (mut client, recording) = client(USERNAME, WRONG_PASSWORD);
    let fetched = get(&mut client, &apache.url("/index.html"))
        .await
        .expect("a refusal is a response, not an error");
    assert_eq!(fetched.status, 401, "{fetched:?}");
    assert_one_refused_answer(&recording, 401);
}
