//! [`HtdigestFile`]: a [`CredentialStore`] over an Apache htdigest file, reloaded when
//! the file changes.
//!
//! The format and its parser live in `parse` (pure, no I/O); which directories are
//! watched is decided in `watch`; this module reads the file, watches and swaps the
//! parsed users in.

mod parse;
mod watch;

use std::convert::Infallible;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify_debouncer_mini::notify::{self, RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use sha2::{Digest, Sha256};

pub use parse::{HtdigestParseError, HtdigestUsers, LineError, LineProblem};

use super::{CredentialStore, Ha1};
use crate::hash::HashFunction;

/// A [`CredentialStore`] over an Apache htdigest file (`user:realm:HA1` lines, MD5),
/// such as the one Apache's `htdigest` or this crate's `tower-htdigest` tool writes, so a
/// server can share the file its Apache or nginx already uses.
///
/// Only the users of the store's realm are kept; lines of other realms are ignored. Users
/// log in with MD5 from the Apache lines, and with SHA-256 (or SHA-512/256) from the
/// extension lines `tower-htdigest` adds, which Apache takes for comments (see
/// [`HtdigestUsers`] and the README for the format).
///
/// The parsed users are one immutable value swapped atomically: a request sees the old
/// users or the new ones, never a mix and never none. A file is taken whole or not at
/// all:
///
/// - a file with a bad line keeps the users loaded before; every bad line is reported
///   with its number ([`HtdigestParseError`]), logged on reload and returned from
///   [`open`](Self::open) and [`reload`](Self::reload);
/// - a file without a user of the realm, while users were loaded, is taken for a
///   truncated or half-written file and refused too ([`HtdigestError::NoUsers`]), unless
///   it has a `#!no-users` line (which `tower-htdigest delete` writes when it removes the
///   last user);
/// - a deleted file keeps the users loaded before (with a warning) until it reappears.
///
/// [`watch`](Self::watch) reloads the file when it changes, 200 ms
/// ([`RELOAD_DELAY`](Self::RELOAD_DELAY)) after the last change it saw, so a change is in
/// force a fraction of a second after it is written; [`reload`](Self::reload) does it on
/// demand (on `SIGHUP`, say). The path may be a symlink (or a chain of them): the
/// directories of the link and of the file it points to are both watched, so the file
/// replaced where it really lives is seen, and so is the link pointed at another file.
/// Clones share the users and the watcher, which stops when the last clone is dropped.
///
/// ```no_run
/// use tower_digest_auth::DigestLayer;
/// use tower_digest_auth::credentials::htdigest::HtdigestFile;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let realm = "http-auth@example.org";
/// let users = HtdigestFile::watch("/etc/apache2/users.htdigest", realm)?;
/// let layer = DigestLayer::builder(realm, users).build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HtdigestFile {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    realm: String,
    users: ArcSwap<HtdigestUsers>,
    /// Held for the whole of a reload, so two reloads cannot swap out of order; remembers
    /// what the file held when last read, so the watcher reports each change once.
    last_seen: Mutex<Seen>,
    watcher: Mutex<Option<Watching>>,
}

/// The running watcher and what it watches.
struct Watching {
    debouncer: Debouncer<RecommendedWatcher>,
    /// The file's directory and those of the symlink targets on the way to it
    /// (`watch::dirs_to_watch`), as they were when last resolved.
    dirs: Vec<PathBuf>,
}

/// The file as last read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Nothing,
    Missing,
    Content([u8; 32]),
}

/// Why an htdigest file could not be (re)loaded. The store keeps the users it had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HtdigestError {
    /// The realm contains a `:` or a line break, which no htdigest line can hold.
    #[error("realm {0:?} cannot appear in an htdigest file: it holds ':' or a line break")]
    InvalidRealm(String),
    /// The file could not be read (missing, no permission, ...).
    #[error("htdigest file {}: {source}", path.display())]
    #[non_exhaustive]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Some lines are bad; none of the file was taken.
    #[error("htdigest file {}: {source}", path.display())]
    #[non_exhaustive]
    Parse {
        /// The file.
        path: PathBuf,
        /// Every bad line.
        source: HtdigestParseError,
    },
    /// The file has no user of the realm, while users were loaded: most likely a write
    /// caught halfway. Add a `#!no-users` line to empty a file on purpose.
    #[error(
        "htdigest file {} has no user in realm {realm:?}: taken for a half-written file, \
         the {kept} users loaded before stay (a `#!no-users` line empties it on purpose)",
        path.display()
    )]
    #[non_exhaustive]
    NoUsers {
        /// The file.
        path: PathBuf,
        /// The store's realm.
        realm: String,
        /// How many users were kept.
        kept: usize,
    },
    /// The directory could not be watched.
    #[error("cannot watch {}: {source}", dir.display())]
    #[non_exhaustive]
    Watch {
        /// The directory of the file.
        dir: PathBuf,
        /// What the watcher said.
        source: notify::Error,
    },
}

impl HtdigestFile {
    /// How long the watched directories must be quiet before a change is read (200 ms):
    /// a tool writing the file in several steps is then done, and a burst of events costs
    /// one reload.
    pub const RELOAD_DELAY: Duration = Duration::from_millis(200);

    /// Loads the users of `realm` from the htdigest file at `path`, without watching it:
    /// call [`reload`](Self::reload) to read it again.
    ///
    /// # Errors
    /// When the realm cannot appear in such a file, or the file cannot be read or has a
    /// bad line ([`HtdigestError`]). A file without users is accepted (nobody can log in).
    pub fn open(path: impl Into<PathBuf>, realm: impl Into<String>) -> Result<Self, HtdigestError> {
        let realm = realm.into();
        if realm.contains([':', '\n', '\r']) {
            return Err(HtdigestError::InvalidRealm(realm));
        }
        let store = HtdigestFile {
            inner: Arc::new(Inner {
                path: path.into(),
                realm,
                users: ArcSwap::from_pointee(HtdigestUsers::default()),
                last_seen: Mutex::new(Seen::Nothing),
                watcher: Mutex::new(None),
            }),
        };
        store.inner.reload(false)?;
        Ok(store)
    }

    /// Like [`open`](Self::open), then watches the file's directory (not the file:
    /// editors and tools replace files by renaming a new one over them) and reloads the
    /// file [`RELOAD_DELAY`](Self::RELOAD_DELAY) after the directory goes quiet. When the
    /// path is a symlink, the directory of each link target on the way to the file is
    /// watched too, and the links are followed again after every change, so a link
    /// pointed at another file moves the watch with it. The outcome of each reload is
    /// logged with `tracing`: users loaded, bad lines, a missing file.
    ///
    /// # Errors
    /// Those of [`open`](Self::open), and [`HtdigestError::Watch`] when a directory
    /// cannot be watched.
    pub fn watch(
        path: impl Into<PathBuf>,
        realm: impl Into<String>,
    ) -> Result<Self, HtdigestError> {
        let store = HtdigestFile::open(path, realm)?;
        let weak: Weak<Inner> = Arc::downgrade(&store.inner);
        let handler = move |result: DebounceEventResult| {
            let Some(inner) = weak.upgrade() else { return };
            match result {
                // Any change in a watched directory: a link may have been pointed
                // elsewhere, and an unchanged file is recognised and skipped anyway.
                Ok(_events) => {
                    inner.rewatch();
                    inner.reload_logged();
                }
                Err(error) => {
                    tracing::warn!(%error, path = %inner.path.display(), "htdigest: watcher error");
                }
            }
        };
        let dirs = watch::dirs_to_watch(&store.inner.path);
        let watch_error = |dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| HtdigestError::Watch { dir, source }
        };
        let mut debouncer =
            new_debouncer(Self::RELOAD_DELAY, handler).map_err(watch_error(&dirs[0]))?;
        for dir in &dirs {
            debouncer
                .watcher()
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(watch_error(dir))?;
        }
        *store
            .inner
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Watching { debouncer, dirs });
        // A change between the first read and the start of the watch would go unseen.
        store.inner.rewatch();
        store.inner.reload_logged();
        Ok(store)
    }

    /// Reads the file again and swaps its users in, if it is whole (see the type's
    /// docs); returns the users now in force.
    ///
    /// # Errors
    /// [`HtdigestError`] when the file was refused; the users loaded before stay.
    pub fn reload(&self) -> Result<Arc<HtdigestUsers>, HtdigestError> {
        self.inner.reload(false)?;
        Ok(self.users())
    }

    /// The users in force now.
    pub fn users(&self) -> Arc<HtdigestUsers> {
        self.inner.users.load_full()
    }

    /// How many users the realm has now.
    pub fn len(&self) -> usize {
        self.inner.users.load().len()
    }

    /// Whether the realm has no user now.
    pub fn is_empty(&self) -> bool {
        self.inner.users.load().is_empty()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The realm whose users are kept.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// Whether the file is being watched.
    pub fn is_watching(&self) -> bool {
        self.inner
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl Inner {
    /// Follows the links again and moves the watch to the directories they lead to now.
    /// A directory that cannot be watched is logged and tried again on the next change.
    fn rewatch(&self) {
        let dirs = watch::dirs_to_watch(&self.path);
        let mut watching = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(watching) = watching.as_mut() else {
            return;
        };
        if watching.dirs == dirs {
            return;
        }
        let watcher = watching.debouncer.watcher();
        for old in watching.dirs.iter().filter(|old| !dirs.contains(old)) {
            // Fails only for a directory that is gone, whose watch is gone with it.
            let _ = watcher.unwatch(old);
        }
        let mut now_watched = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if watching.dirs.contains(&dir) {
                now_watched.push(dir);
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => now_watched.push(dir),
                Err(error) => {
                    tracing::warn!(%error, dir = %dir.display(), "htdigest: cannot watch");
                }
            }
        }
        tracing::info!(path = %self.path.display(), dirs = ?now_watched, "htdigest: watching");
        watching.dirs = now_watched;
    }

    /// [`reload`](Self::reload) for the watcher: only a changed file, and the outcome
    /// logged.
    fn reload_logged(&self) {
        if let Err(error) = self.reload(true) {
            tracing::warn!(%error, "htdigest: keeping the users loaded before");
        }
    }

    /// Reads and parses the file, swapping its users in when it is whole. With
    /// `only_if_changed` (the watcher), a file as it was last read is neither parsed nor
    /// reported again.
    fn reload(&self, only_if_changed: bool) -> Result<(), HtdigestError> {
        let mut last_seen = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = match read_bounded(&self.path) {
            Ok(bytes) => bytes,
            Err(source) => {
                let seen = Seen::Missing;
                let changed = *last_seen != seen;
                *last_seen = seen;
                if only_if_changed && !changed {
                    return Ok(());
                }
                return Err(HtdigestError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let seen = Seen::Content(Sha256::digest(&bytes).into());
        if only_if_changed && *last_seen == seen {
            return Ok(());
        }
        *last_seen = seen;

        let users =
            HtdigestUsers::parse(&bytes, &self.realm).map_err(|source| HtdigestError::Parse {
                path: self.path.clone(),
                source,
            })?;
        let kept = self.users.load().len();
        if users.is_empty() && kept > 0 && !users.allows_empty() {
            return Err(HtdigestError::NoUsers {
                path: self.path.clone(),
                realm: self.realm.clone(),
                kept,
            });
        }
        if !users.stale_lines().is_empty() {
            tracing::warn!(
                path = %self.path.display(),
                lines = ?users.stale_lines(),
                "htdigest: ignoring SHA-256 lines written for an MD5 HA1 that has changed \
                 since (those users log in with MD5 until tower-htdigest sets them again)"
            );
        }
        tracing::info!(
            path = %self.path.display(),
            realm = %self.realm,
            users = users.len(),
            "htdigest: users loaded"
        );
        self.users.store(Arc::new(users));
        Ok(())
    }
}

/// The file's bytes, at most one more than [`HtdigestUsers::MAX_FILE_LEN`] (which the parser refuses).
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(HtdigestUsers::MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl fmt::Debug for HtdigestFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtdigestFile")
            .field("path", &self.inner.path)
            .field("realm", &self.inner.realm)
            .field("users", &self.len())
            .field("watching", &self.is_watching())
            .finish()
    }
}

impl CredentialStore for HtdigestFile {
    type Error = Infallible;

    /// Only the users of the realm given to [`open`](Self::open) are kept, so a layer of
    /// another realm is refused at build instead of refusing every password.
    fn serves_realm(&self, realm: &str) -> Option<bool> {
        Some(realm == self.inner.realm)
    }

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        hash: HashFunction,
    ) -> Result<Option<Ha1>, Infallible> {
        if realm != self.inner.realm {
            return Ok(None);
        }
        Ok(self.inner.users.load().ha1(username, hash).cloned())
    }
}
