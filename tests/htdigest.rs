//! `HtdigestFile` on real files: reloads by the watcher (writes in place, atomic renames,
//! delete then create) and by hand, files that are refused, and logins through the layer
//! while the file is rewritten under them. The files are written here with the tests'
//! own hashing (`common::h`), not the crate's.

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Answer, REALM, challenges, h, request};
use http::{Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_digest_auth::credentials::htdigest::{HtdigestError, HtdigestFile, LineProblem};
use tower_digest_auth::{AuthenticatedUser, ConfigError, DigestLayer};

type Service = tower::util::BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// A directory of its own under the system's temp dir, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-htdigest-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("users.htdigest")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Apache's line for a user whose password is `<user>-pw`, and our SHA-256 line.
fn lines(user: &str) -> String {
    let password = format!("{user}-pw");
    let md5 = h("MD5", format!("{user}:{REALM}:{password}").as_bytes());
    let sha256 = h("SHA-256", format!("{user}:{REALM}:{password}").as_bytes());
    format!("{user}:{REALM}:{md5}\n#!SHA-256:{user}:{REALM}:{sha256}:{md5}\n")
}

fn file_of(users: &[&str]) -> String {
    let mut text = String::from("# written by tests/htdigest.rs\n");
    for user in users {
        text.push_str(&lines(user));
    }
    text
}

/// Replaces the file the way careful tools do: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn service(store: &HtdigestFile) -> Service {
    // The tests poll logins that fail until a reload lands: each is a failed login, which
    // the failed-login throttle would lock out after ten.
    let layer = DigestLayer::builder(REALM, store.clone())
        .no_throttle()
        .build()
        .unwrap();
    let app = service_fn(|request: Request<String>| async move {
        let user = request.extensions().get::<AuthenticatedUser>().unwrap();
        Ok::<_, Infallible>(Response::new(user.username().to_owned()))
    });
    Service::new(tower::Layer::layer(&layer, app))
}

/// One full login of `user` (password `<user>-pw`) with `algorithm`: the status of the
/// answered request.
async fn login(service: &Service, user: &str, algorithm: &str) -> StatusCode {
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenges(response.headers())
        .into_iter()
        .find(|challenge| challenge.algorithm == algorithm)
        .unwrap();
    let password = format!("{user}-pw");
    let answer = Answer::get("/").username(user).password(&password);
    let response = service
        .clone()
        .oneshot(request("GET", "/", Some(&answer.header(&challenge))))
        .await
        .unwrap();
    if response.status() == StatusCode::OK {
        assert_eq!(response.body(), user);
    }
    response.status()
}

/// The statuses of `user`'s login with SHA-256 and then with MD5.
async fn login_both(service: &Service, user: &str) -> (StatusCode, StatusCode) {
    let sha256 = login(service, user, "SHA-256").await;
    let md5 = login(service, user, "MD5").await;
    (sha256, md5)
}

/// Whether `user` logs in with both algorithms; asserts they agree. Only for a file that
/// is not changing: a reload between the two logins would make them differ.
async fn logs_in(service: &Service, user: &str) -> bool {
    let (sha256, md5) = login_both(service, user).await;
    assert_eq!(sha256, md5, "{user}: SHA-256 and MD5 disagree");
    sha256 == StatusCode::OK
}

/// Polls until `user`'s login succeeds (or fails, with `expected = false`), for at most
/// 10 seconds: the watcher's delay is 200 ms, the rest is slack for a loaded machine.
async fn eventually(service: &Service, user: &str, expected: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // While a reload is landing, the SHA-256 login may see the old users and the MD5 one
    // the new: that is "not yet", and the loop ends only once both give the expected answer.
    let wanted = if expected {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    while login_both(service, user).await != (wanted, wanted) {
        assert!(
            Instant::now() < deadline,
            "{user} still {} after 10 s",
            if expected { "refused" } else { "accepted" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gives the watcher time to act on a change that must *not* show, then lets the test
/// check that it did not: several reload delays, short enough to keep the suite quick.
async fn let_the_watcher_see_it() {
    tokio::time::sleep(HtdigestFile::RELOAD_DELAY * 4).await;
}

#[tokio::test]
async fn users_log_in_with_md5_and_sha256_from_the_file() {
    let dir = TempDir::new("login");
    std::fs::write(dir.file(), file_of(&["alice", "bob"])).unwrap();
    let store = HtdigestFile::open(dir.file(), REALM).unwrap();
    assert_eq!(store.len(), 2);
    let service = service(&store);
    assert!(logs_in(&service, "alice").await);
    assert!(logs_in(&service, "bob").await);
    assert!(!logs_in(&service, "carol").await);
    // A wrong password is refused like an unknown user.
    let response = service
        .clone()
        .oneshot(request("GET", "/", None))
        .await
        .unwrap();
    let challenge = challenges(response.headers()).remove(0);
    let wrong = Answer::get("/").username("alice").password("nope");
    let response = service
        .clone()
        .oneshot(request("GET", "/", Some(&wrong.header(&challenge))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn watch_reloads_a_file_written_in_place() {
    let dir = TempDir::new("in-place");
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    let store = HtdigestFile::watch(dir.file(), REALM).unwrap();
    assert!(store.is_watching());
    let service = service(&store);
    assert!(logs_in(&service, "alice").await);
    assert!(!logs_in(&service, "bob").await);

    // Truncates the file, then writes it: the same inode, as `echo >` or most editors'
    // plain save.
    std::fs::write(dir.file(), file_of(&["alice", "bob"])).unwrap();
    eventually(&service, "bob", true).await;
    std::fs::write(dir.file(), file_of(&["bob"])).unwrap();
    eventually(&service, "alice", false).await;
    assert!(logs_in(&service, "bob").await);
}

#[tokio::test]
async fn watch_reloads_a_file_replaced_by_rename() {
    let dir = TempDir::new("rename");
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    let store = HtdigestFile::watch(dir.file(), REALM).unwrap();
    let service = service(&store);
    assert!(logs_in(&service, "alice").await);

    replace(&dir.file(), &file_of(&["alice", "bob"]));
    eventually(&service, "bob", true).await;
    // A second rename: the watch is on the directory, so it survives the first.
    replace(&dir.file(), &file_of(&["carol"]));
    eventually(&service, "carol", true).await;
    assert!(!logs_in(&service, "alice").await);
}

#[tokio::test]
async fn a_deleted_file_keeps_its_users_until_it_is_created_again() {
    let dir = TempDir::new("delete");
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    let store = HtdigestFile::watch(dir.file(), REALM).unwrap();
    let service = service(&store);

    std::fs::remove_file(dir.file()).unwrap();
    let_the_watcher_see_it().await;
    assert!(
        logs_in(&service, "alice").await,
        "a deleted file locked alice out"
    );
    let error = store.reload().unwrap_err();
    assert!(
        matches!(&error, HtdigestError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{error}"
    );
    assert!(logs_in(&service, "alice").await);

    std::fs::write(dir.file(), file_of(&["bob"])).unwrap();
    eventually(&service, "bob", true).await;
    assert!(!logs_in(&service, "alice").await);
}

#[tokio::test]
async fn a_broken_file_keeps_the_old_users_and_reports_every_bad_line() {
    let dir = TempDir::new("broken");
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    let store = HtdigestFile::watch(dir.file(), REALM).unwrap();
    let service = service(&store);

    // Would add bob, but lines 2 and 5 are bad.
    let broken = format!(
        "# header\nno colons here\n{}mallory:{REALM}:not-hex\n{}",
        lines("bob"),
        "x".repeat(5000)
    );
    replace(&dir.file(), &broken);
    let_the_watcher_see_it().await;
    assert!(logs_in(&service, "alice").await);
    assert!(!logs_in(&service, "bob").await);

    let error = store.reload().unwrap_err();
    let HtdigestError::Parse { source, .. } = &error else {
        panic!("not a parse error: {error}")
    };
    let found: Vec<_> = source.lines().iter().map(|e| (e.line, e.problem)).collect();
    assert_eq!(
        found,
        [
            (2, LineProblem::MissingField),
            (
                5,
                LineProblem::BadHa1 {
                    expected: tower_digest_auth::algorithm::HashFunction::Md5
                }
            ),
            (6, LineProblem::TooLong),
        ]
    );
    assert!(!error.to_string().contains("not-hex"), "{error}");
    assert_eq!(store.len(), 1);
    assert!(logs_in(&service, "alice").await);

    // Fixed: taken at once.
    replace(&dir.file(), &file_of(&["alice", "bob"]));
    eventually(&service, "bob", true).await;
}

#[tokio::test]
async fn an_empty_or_truncated_file_keeps_the_old_users() {
    let dir = TempDir::new("empty");
    std::fs::write(dir.file(), file_of(&["alice", "bob"])).unwrap();
    let store = HtdigestFile::open(dir.file(), REALM).unwrap();
    let service = service(&store);

    // Caught mid-write: nothing yet, or only the first comment line.
    for text in ["", "# written by tests/htdigest.rs\n"] {
        std::fs::write(dir.file(), text).unwrap();
        let error = store.reload().unwrap_err();
        assert!(
            matches!(error, HtdigestError::NoUsers { kept: 2, .. }),
            "{error}"
        );
        assert!(logs_in(&service, "alice").await);
    }
    // Cut inside a line: the line is bad.
    let full = file_of(&["alice", "bob"]);
    std::fs::write(dir.file(), &full[..full.len() - 10]).unwrap();
    assert!(matches!(store.reload(), Err(HtdigestError::Parse { .. })));
    assert!(logs_in(&service, "bob").await);

    // Emptied on purpose.
    std::fs::write(dir.file(), "#!no-users\n").unwrap();
    assert!(store.reload().unwrap().is_empty());
    assert!(!logs_in(&service, "alice").await);
    // And users again.
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    assert_eq!(store.reload().unwrap().len(), 1);
    assert!(logs_in(&service, "alice").await);
}

#[tokio::test]
async fn open_refuses_missing_and_broken_files_and_bad_realms() {
    let dir = TempDir::new("open");
    let error = HtdigestFile::open(dir.file(), REALM).unwrap_err();
    assert!(matches!(error, HtdigestError::Read { .. }), "{error}");
    std::fs::write(dir.file(), "bad\n").unwrap();
    let error = HtdigestFile::watch(dir.file(), REALM).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "htdigest file {}: 1 bad line; line 1: not of the form user:realm:HA1",
            dir.file().display()
        )
    );
    // An empty file is a valid start: nobody logs in.
    std::fs::write(dir.file(), "").unwrap();
    assert!(HtdigestFile::open(dir.file(), REALM).unwrap().is_empty());
    let error = HtdigestFile::open(dir.file(), "a:b").unwrap_err();
    assert!(matches!(error, HtdigestError::InvalidRealm(_)));
}

#[tokio::test]
async fn other_realms_in_the_file_are_ignored() {
    let dir = TempDir::new("realms");
    let other = h("MD5", b"mallory:other realm:mallory-pw");
    let text = format!("{}mallory:other realm:{other}\n", lines("alice"));
    std::fs::write(dir.file(), text).unwrap();
    let store = HtdigestFile::open(dir.file(), REALM).unwrap();
    assert_eq!(store.len(), 1);
    assert!(!logs_in(&service(&store), "mallory").await);
}

/// Logins of users present in every version of the file never fail while the file is
/// rewritten (in place and by rename) and reloaded, by the watcher and by hand, over and
/// over: a request sees the old users or the new ones, never none and never a torn file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_never_fail_while_the_file_is_rewritten_and_reloaded() {
    const VERSIONS: usize = 60;
    let dir = TempDir::new("concurrent");
    std::fs::write(dir.file(), file_of(&["alice", "bob"])).unwrap();
    let store = HtdigestFile::watch(dir.file(), REALM).unwrap();
    let service = service(&store);
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for (user, algorithm) in [("alice", "SHA-256"), ("bob", "MD5"), ("alice", "MD5")] {
        let (service, stop) = (service.clone(), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            let mut logins = 0_usize;
            while !stop.load(Ordering::Relaxed) || logins == 0 {
                let status = login(&service, user, algorithm).await;
                assert_eq!(status, StatusCode::OK, "{user} ({algorithm}) refused");
                logins += 1;
                // The layer never waits here, so without this the clients would keep
                // both workers busy and starve the timer that `eventually` sleeps on.
                tokio::task::yield_now().await;
            }
            logins
        }));
    }

    let writer = {
        let (store, path) = (store.clone(), dir.file());
        tokio::task::spawn_blocking(move || {
            let mut swaps = 0;
            for version in 0..VERSIONS {
                let extra = format!("user{version}");
                let text = file_of(&["alice", &extra, "bob"]);
                if version % 2 == 0 {
                    std::fs::write(&path, &text).unwrap();
                } else {
                    replace(&path, &text);
                }
                // The watcher races these reloads; both swap whole sets.
                if version % 3 == 0 {
                    store.reload().unwrap();
                    swaps += 1;
                }
                std::thread::sleep(Duration::from_millis(15));
            }
            swaps
        })
    };
    let swaps = writer.await.unwrap();
    let last = format!("user{}", VERSIONS - 1);
    eventually(&service, &last, true).await;
    stop.store(true, Ordering::Relaxed);
    let mut logins = 0;
    for client in clients {
        logins += client.await.unwrap();
    }
    assert_eq!(swaps, VERSIONS.div_ceil(3));
    assert!(logins >= 3, "{logins} logins");
    println!("{logins} logins during {VERSIONS} rewrites and {swaps} manual reloads");
}

/// Replaces the file behind `link` the way `tower-htdigest` does: follows the link and
/// renames a new file over the target, in the target's directory.
fn replace_through_link(link: &Path, text: &str) {
    let target = std::fs::canonicalize(link).unwrap();
    assert_ne!(target.parent(), link.parent(), "the target lives elsewhere");
    replace(&target, text);
}

/// Points `link` at `target` in one step, as `ln -sfn` plus `mv -T` (or a deploy tool
/// switching a `current` link) does: a new link renamed over the old one.
fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("new-link");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[tokio::test]
async fn a_user_deleted_through_a_symlink_is_gone_after_the_reload_delay() {
    let links = TempDir::new("link");
    let files = TempDir::new("link-target");
    std::fs::write(files.file(), file_of(&["alice", "bob"])).unwrap();
    std::os::unix::fs::symlink(files.file(), links.file()).unwrap();
    let store = HtdigestFile::watch(links.file(), REALM).unwrap();
    let service = service(&store);
    assert!(logs_in(&service, "bob").await);

    replace_through_link(&links.file(), &file_of(&["alice"]));
    eventually(&service, "bob", false).await;
    assert!(logs_in(&service, "alice").await);
    // The target's directory stays watched after its file was replaced.
    replace_through_link(&links.file(), &file_of(&["alice", "carol"]));
    eventually(&service, "carol", true).await;
}

#[tokio::test]
async fn a_symlink_pointed_at_another_file_is_read_and_watched_there() {
    let links = TempDir::new("repoint");
    let first = TempDir::new("repoint-first");
    let second = TempDir::new("repoint-second");
    std::fs::write(first.file(), file_of(&["alice"])).unwrap();
    std::fs::write(second.file(), file_of(&["bob"])).unwrap();
    std::os::unix::fs::symlink(first.file(), links.file()).unwrap();
    let store = HtdigestFile::watch(links.file(), REALM).unwrap();
    let service = service(&store);
    assert!(logs_in(&service, "alice").await);

    // A relative target this time, resolved from the link's directory.
    let second_name = second.0.file_name().unwrap();
    repoint(
        &links.file(),
        &Path::new("..").join(second_name).join("users.htdigest"),
    );
    eventually(&service, "bob", true).await;
    assert!(!logs_in(&service, "alice").await);

    // The watch moved with the link: the new target's edits are seen...
    replace_through_link(&links.file(), &file_of(&["bob", "carol"]));
    eventually(&service, "carol", true).await;
    // ...and the old target's no longer matter.
    replace(&first.file(), &file_of(&["alice", "dave"]));
    let_the_watcher_see_it().await;
    assert!(!logs_in(&service, "dave").await);
    assert!(logs_in(&service, "carol").await);
}

#[test]
fn a_layer_of_another_realm_than_the_file_was_opened_for_is_refused_at_build() {
    let dir = TempDir::new("realm");
    std::fs::write(dir.file(), file_of(&["alice"])).unwrap();
    let store = HtdigestFile::open(dir.file(), REALM).unwrap();
    let typo = REALM.replace(".org", ".com");
    let error = DigestLayer::builder(typo.as_str(), store.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::RealmNotServed { realm } if *realm == typo),
        "{error}"
    );
    assert!(DigestLayer::builder(REALM, store).build().is_ok());
}
