//! `tower-htdigest` and `HtdigestFile` against Apache's own `htdigest` (Debian's
//! apache2-utils), in both directions; Apache httpd's `mod_auth_digest` serving users from a
//! file the tool wrote; and the htdigest example served on a loopback socket to
//! `curl --digest` while the tool adds a user. Apache's `htdigest` reads
//! passwords from a terminal only, so it runs on a pseudo-terminal
//! (`tests/htdigest/pty_run.py`). `tests/htdigest-setup.sh` installs what is missing.

#![allow(missing_docs)]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/htdigest.rs"]
mod htdigest_example;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::io::Write as _;

use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::htdigest::HtdigestFile;
use tower_digest_auth::{CredentialStore, Ha1};

/// The RFC 2617 example: its MD5 `HA1` is printed in the RFC.
const REALM: &str = "testrealm@host.com";
const USER: &str = "Mufasa";
const PASSWORD: &str = "Circle Of Life";
const RFC_HA1: &str = "939e7578ed9e3c518a452acee763bce9";

const TOOL: &str = env!("CARGO_BIN_EXE_tower-htdigest");

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-htdigest-interop-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command on a pseudo-terminal, typing `password` at each password prompt.
fn on_terminal(program: &str, args: &[&str], password: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/htdigest/pty_run.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(program)
        .args(args)
        .env("PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (bash tests/htdigest-setup.sh installs it)");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// Apache's `htdigest`, answering its prompts with `password`.
fn apache_htdigest(args: &[&str], password: &str) {
    let found = Command::new("sh")
        .args(["-c", "command -v htdigest"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "Apache's htdigest is missing: run bash tests/htdigest-setup.sh (apt-get install apache2-utils)"
    );
    on_terminal("htdigest", args, password);
}

/// `tower-htdigest`, with `stdin` as its standard input.
fn tool(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(TOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A tool that refuses its arguments exits before reading: its stdin is then closed.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        result => result.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// `tower-htdigest` that must succeed; its standard output.
fn tool_ok(args: &[&str], stdin: &str) -> String {
    let output = tool(args, stdin);
    assert!(
        output.status.success(),
        "tower-htdigest {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn md5_line(user: &str, realm: &str, password: &str) -> String {
    let ha1 = Ha1::from_password(HashFunction::Md5, user, realm, password);
    format!("{user}:{realm}:{}\n", ha1.expose_hex())
}

async fn ha1(store: &HtdigestFile, user: &str, hash: HashFunction) -> Option<String> {
    let ha1 = store.ha1(user, REALM, hash).await.unwrap();
    ha1.map(|ha1| ha1.expose_hex().to_owned())
}

#[tokio::test]
async fn a_file_apache_htdigest_wrote_is_read_by_the_store_and_the_tool() {
    let dir = TempDir::new("from-apache");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    apache_htdigest(&["-c", f, REALM, USER], PASSWORD);
    apache_htdigest(&[f, REALM, "bob"], "bob-pw");
    apache_htdigest(&[f, "other realm", "carol"], "carol-pw");

    let store = HtdigestFile::open(&file, REALM).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(ha1(&store, USER, HashFunction::Md5).await.unwrap(), RFC_HA1);
    let bob = Ha1::from_password(HashFunction::Md5, "bob", REALM, "bob-pw");
    assert_eq!(
        ha1(&store, "bob", HashFunction::Md5).await.unwrap(),
        bob.expose_hex()
    );
    assert_eq!(ha1(&store, USER, HashFunction::Sha256).await, None);

    assert_eq!(
        tool_ok(&["list", f], ""),
        format!("Mufasa\t{REALM}\tMD5\nbob\t{REALM}\tMD5\ncarol\tother realm\tMD5\n")
    );
    assert!(tool_ok(&["check", f, REALM], "").contains("2 users in realm"));

    // Our tool edits it: Apache's other lines stay byte for byte.
    let before = std::fs::read_to_string(&file).unwrap();
    tool_ok(
        &["add", "--stdin", f, REALM, USER],
        &format!("{PASSWORD}\n"),
    );
    let after = std::fs::read_to_string(&file).unwrap();
    for line in before.lines().filter(|line| !line.starts_with("Mufasa:")) {
        assert!(after.contains(line), "lost {line:?}");
    }
    let store = HtdigestFile::open(&file, REALM).unwrap();
    assert_eq!(ha1(&store, USER, HashFunction::Md5).await.unwrap(), RFC_HA1);
    let sha256 = Ha1::from_password(HashFunction::Sha256, USER, REALM, PASSWORD);
    assert_eq!(
        ha1(&store, USER, HashFunction::Sha256).await.unwrap(),
        sha256.expose_hex()
    );
}

#[tokio::test]
async fn the_tool_writes_the_lines_apache_htdigest_writes() {
    let dir = TempDir::new("same-lines");
    let (ours, apache) = (dir.path("ours"), dir.path("apache"));
    let password_line = format!("{PASSWORD}\n");
    tool_ok(
        &[
            "create",
            "--stdin",
            "--md5-only",
            ours.to_str().unwrap(),
            REALM,
            USER,
        ],
        &password_line,
    );
    tool_ok(
        &[
            "add",
            "--stdin",
            "--md5-only",
            ours.to_str().unwrap(),
            REALM,
            "Jäsøn",
        ],
        "Secret, or not?\n",
    );
    apache_htdigest(&["-c", apache.to_str().unwrap(), REALM, USER], PASSWORD);
    apache_htdigest(
        &[apache.to_str().unwrap(), REALM, "Jäsøn"],
        "Secret, or not?",
    );
    let ours = std::fs::read(&ours).unwrap();
    assert_eq!(text(&ours), text(&std::fs::read(&apache).unwrap()));
    assert!(text(&ours).starts_with(&format!("{USER}:{REALM}:{RFC_HA1}\n")));
}

#[tokio::test]
async fn apache_htdigest_edits_a_file_the_tool_wrote() {
    let dir = TempDir::new("to-apache");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    tool_ok(
        &["create", "--stdin", f, REALM, USER],
        &format!("{PASSWORD}\n"),
    );
    tool_ok(&["add", "--stdin", f, REALM, "bob"], "bob-pw\n");
    let store = HtdigestFile::open(&file, REALM).unwrap();
    assert_eq!(store.users().hash_functions(USER).len(), 2);

    // Apache's htdigest changes Mufasa's password and adds carol: it keeps our SHA-256
    // lines as comments, untouched.
    apache_htdigest(&[f, REALM, USER], "new password");
    apache_htdigest(&[f, REALM, "carol"], "carol-pw");
    let content = std::fs::read_to_string(&file).unwrap();
    assert!(
        content.contains(&md5_line(USER, REALM, "new password")),
        "{content}"
    );
    assert!(
        content.contains(&md5_line("carol", REALM, "carol-pw")),
        "{content}"
    );
    assert_eq!(content.matches("#!SHA-256:").count(), 2, "{content}");

    let users = store.reload().unwrap();
    assert_eq!(users.len(), 3);
    // Mufasa's SHA-256 line still has the old password: it is stale, so ignored.
    assert_eq!(users.stale_lines(), [2]);
    assert_eq!(users.hash_functions(USER), [HashFunction::Md5]);
    let new = Ha1::from_password(HashFunction::Md5, USER, REALM, "new password");
    assert_eq!(
        ha1(&store, USER, HashFunction::Md5).await.unwrap(),
        new.expose_hex()
    );
    assert_eq!(ha1(&store, USER, HashFunction::Sha256).await, None);
    assert_eq!(users.hash_functions("bob").len(), 2);
    assert_eq!(users.hash_functions("carol"), [HashFunction::Md5]);

    // Setting the password with our tool writes both lines again.
    tool_ok(&["change", "--stdin", f, REALM, USER], "new password\n");
    let users = store.reload().unwrap();
    assert!(users.stale_lines().is_empty());
    let sha256 = Ha1::from_password(HashFunction::Sha256, USER, REALM, "new password");
    assert_eq!(
        ha1(&store, USER, HashFunction::Sha256).await.unwrap(),
        sha256.expose_hex()
    );
    // And Apache's htdigest still reads the result.
    apache_htdigest(&[f, REALM, "dave"], "dave-pw");
    assert_eq!(store.reload().unwrap().len(), 4);
}

#[test]
fn the_tool_reads_the_password_from_the_terminal_without_echo() {
    let dir = TempDir::new("terminal");
    let file = dir.path("users");
    let secret = "terminal-secret-4711";
    let output = on_terminal(
        TOOL,
        &["create", file.to_str().unwrap(), REALM, USER],
        secret,
    );
    let screen = text(&output.stdout);
    assert!(screen.contains("New password:") && screen.contains("Re-type new password:"));
    assert!(
        !screen.contains(secret),
        "the password was echoed: {screen:?}"
    );
    let content = std::fs::read_to_string(&file).unwrap();
    assert!(
        content.starts_with(&md5_line(USER, REALM, secret)),
        "{content}"
    );
}

#[test]
fn the_tool_replaces_the_file_atomically_keeping_mode_and_owner() {
    let dir = TempDir::new("atomic");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    tool_ok(&["create", "--stdin", f, REALM, USER], "pw\n");
    let created = std::fs::metadata(&file).unwrap();
    assert_eq!(created.permissions().mode() & 0o7777, 0o640);

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).unwrap();
    // Tests run as root (as CI does): hand the file to `nobody`, as a web server's own.
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    let before = std::fs::metadata(&file).unwrap();
    tool_ok(&["add", "--stdin", f, REALM, "bob"], "pw\n");
    let after = std::fs::metadata(&file).unwrap();
    assert_ne!(before.ino(), after.ino(), "not replaced by a rename");
    assert_eq!(after.permissions().mode() & 0o7777, 0o604);
    assert_eq!((after.uid(), after.gid()), (65534, 65534));
    assert_eq!(dir.entries(), ["users"], "a temporary file was left behind");

    // Through a symlink, the target is replaced and the link kept.
    let link = dir.path("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    tool_ok(&["delete", link.to_str().unwrap(), REALM, "bob"], "");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!std::fs::read_to_string(&file).unwrap().contains("bob"));
}

#[test]
fn the_tool_refuses_bad_input_and_leaves_the_file_alone() {
    let dir = TempDir::new("refuse");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    tool_ok(&["create", "--stdin", f, REALM, USER], "pw\n");
    let before = std::fs::read(&file).unwrap();
    let refused = |args: &[&str], stdin: &str, code: i32, message: &str| {
        let output = tool(args, stdin);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{args:?} changed the file"
        );
    };
    refused(&["create", "--stdin", f, REALM, "bob"], "pw\n", 1, "exists");
    refused(
        &["add", "--stdin", f, REALM, "a:b"],
        "pw\n",
        1,
        "cannot hold ':'",
    );
    refused(
        &["add", "--stdin", f, "a:b", "bob"],
        "pw\n",
        1,
        "cannot hold ':'",
    );
    refused(
        &["add", "--stdin", f, REALM, "bob"],
        "\n",
        1,
        "empty password",
    );
    refused(
        &["add", "--stdin", f, REALM, &"u".repeat(200)],
        "pw\n",
        1,
        "too long",
    );
    refused(
        &["change", "--stdin", f, REALM, "nobody"],
        "pw\n",
        1,
        "no user nobody",
    );
    refused(&["delete", f, REALM, "nobody"], "", 1, "no user nobody");
    refused(&["add", f, REALM], "", 2, "wrong arguments");
    refused(&["frobnicate", f], "", 2, "unknown command");
    refused(&["list", "--stdin", f], "", 2, "takes no --stdin");

    // check lists every bad line of a file it would refuse.
    std::fs::write(&file, format!("bad\n{USER}:{REALM}:xyz\n")).unwrap();
    let output = tool(&["check", f, REALM], "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 1: not of the form") && stderr.contains("line 2: the HA1"));
}

#[tokio::test]
async fn deleting_the_last_user_empties_the_store_on_purpose() {
    let dir = TempDir::new("last-user");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    tool_ok(&["create", "--stdin", f, REALM, USER], "pw\n");
    let store = HtdigestFile::open(&file, REALM).unwrap();
    tool_ok(&["delete", f, REALM, USER], "");
    // The tool marks the file, so the store does not take it for a truncated one.
    assert!(store.reload().unwrap().is_empty());
    tool_ok(&["add", "--stdin", f, REALM, "bob"], "pw\n");
    let content = std::fs::read_to_string(&file).unwrap();
    assert!(!content.contains("#!no-users"), "{content}");
    assert_eq!(store.reload().unwrap().len(), 1);
}

/// `curl --digest` against the example: the status code, and the body.
fn curl(url: &str, user: &str, password: &str) -> (String, String) {
    let output = Command::new("curl")
        .args(["--silent", "--max-time", "5", "--digest", "--user"])
        .arg(format!("{user}:{password}"))
        .args(["--write-out", "\n%{http_code}", url])
        .output()
        .expect("curl runs (bash tests/htdigest-setup.sh installs it)");
    let out = text(&output.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_a_user_the_tool_adds_while_it_runs() {
    let dir = TempDir::new("example");
    let file = dir.path("users.htdigest");
    let f = file.to_str().unwrap().to_owned();
    let realm = htdigest_example::REALM;
    tool_ok(
        &["create", "--stdin", &f, realm, "Mufasa"],
        "Circle of Life\n",
    );

    let users = HtdigestFile::watch(&file, realm).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(htdigest_example::serve(listener, users));

    let get = |user: &'static str, password: &'static str| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || curl(&url, user, password))
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get("Mufasa", "Circle of Life").await,
        ("200".to_owned(), "Hello, Mufasa!\n".to_owned())
    );
    assert_eq!(get("Rafiki", "Mandrill").await.0, "401");

    let added = tool(&["add", "--stdin", &f, realm, "Rafiki"], "Mandrill\n");
    assert!(added.status.success(), "{}", text(&added.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get("Rafiki", "Mandrill").await;
        if status == "200" {
            assert_eq!(body, "Hello, Rafiki!\n");
            break;
        }
        assert_eq!(status, "401");
        assert!(Instant::now() < deadline, "Rafiki still refused after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get("Mufasa", "Circle of Life").await.0, "200");
}

/// Apache httpd on a loopback port with its own config under `dir`, protecting `/` with
/// `mod_auth_digest` over `users`. Stopped on drop.
struct Apache {
    child: std::process::Child,
    url: String,
}

impl Apache {
    fn start(dir: &TempDir, users: &Path) -> Apache {
        assert!(
            Path::new("/usr/sbin/apache2").exists(),
            "apache2 is missing: run bash tests/htdigest-setup.sh (apt-get install apache2)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = dir.path("httpd");
        for sub in ["run", "logs", "htdocs"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("htdocs/index.html"), "apache says hello\n").unwrap();
        // Its children run as www-data and must reach the files.
        for path in [&dir.0, &root, &root.join("htdocs")] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            root.join("htdocs/index.html"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let modules = "/usr/lib/apache2/modules";
        let config = format!(
            r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run default
ErrorLog "{root}/logs/error.log"
User www-data
Group www-data
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_digest_module {modules}/mod_auth_digest.so
StartServers 1
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    AuthType Digest
    AuthName "{REALM}"
    AuthDigestProvider file
    AuthUserFile "{users}"
    Require valid-user
</Directory>
"#,
            root = root.display(),
            users = users.display(),
        );
        let conf = root.join("httpd.conf");
        std::fs::write(&conf, config).unwrap();
        // A process group of its own: on shutdown Apache signals its whole group, which
        // would otherwise be this test binary and cargo.
        let child = Command::new("/usr/sbin/apache2")
            .process_group(0)
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let apache = Apache {
            child,
            url: format!("http://127.0.0.1:{port}/index.html"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(root.join("logs/error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "apache2 did not start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        apache
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // SIGTERM to the parent only (it stops its children); the child handle is ours.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn apache_httpd_authenticates_users_from_a_file_the_tool_wrote() {
    let dir = TempDir::new("httpd");
    let file = dir.path("users");
    let f = file.to_str().unwrap();
    tool_ok(
        &["create", "--stdin", f, REALM, USER],
        &format!("{PASSWORD}\n"),
    );
    // Apache's children (www-data) read it; later writes keep the mode.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    tool_ok(&["add", "--stdin", f, REALM, "bob"], "bob-pw\n");
    let content = std::fs::read_to_string(&file).unwrap();
    assert_eq!(content.matches("#!SHA-256:").count(), 2, "{content}");

    let apache = Apache::start(&dir, &file);
    assert_eq!(
        curl(&apache.url, USER, PASSWORD),
        ("200".to_owned(), "apache says hello\n".to_owned())
    );
    assert_eq!(curl(&apache.url, "bob", "bob-pw").0, "200");
    assert_eq!(curl(&apache.url, "bob", "wrong").0, "401");
    assert_eq!(curl(&apache.url, "nobody", "bob-pw").0, "401");
}
