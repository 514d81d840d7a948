//! The htdigest file format, parsed: pure and synchronous, no I/O.
//!
//! Apache's format is one `user:realm:HA1` line per user and realm, with the MD5 `HA1`
//! in hex. Apache trims whitespace around each line and skips blank lines and lines that
//! start with `#`; so do we. The user is everything before the first `:`, the realm
//! everything up to the second, so neither can contain a `:`.
//!
//! Our extension hides in lines Apache takes for comments:
//!
//! ```text
//! #!SHA-256:user:realm:<SHA-256 HA1>:<the user's MD5 HA1>
//! #!SHA-512-256:user:realm:<SHA-512/256 HA1>:<the user's MD5 HA1>
//! #!no-users
//! ```
//!
//! The last field binds the line to the MD5 line it was written with: Apache's
//! `htdigest` copies comment lines untouched when it changes a password, so without the
//! binding the old password would keep working over SHA-256. A line whose binding no
//! longer matches its user's MD5 line is *stale*: it is ignored (and reported as a
//! warning), and the user logs in with MD5 until the tool writes both again.
//!
//! `#!no-users` says that a file without users is meant to be empty (see
//! [`HtdigestUsers::allows_empty`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use crate::credentials::Ha1;
use crate::hash::HashFunction;

const MAX_LINE_LEN: usize = HtdigestUsers::MAX_LINE_LEN;
const MAX_FILE_LEN: usize = HtdigestUsers::MAX_FILE_LEN;
const NO_USERS_MARKER: &str = HtdigestUsers::NO_USERS_MARKER;

/// The `#!` tags of extension lines, with the hash function of their `HA1`.
const EXTENSIONS: [(&str, HashFunction); 2] = [
    ("#!SHA-256:", HashFunction::Sha256),
    ("#!SHA-512-256:", HashFunction::Sha512_256),
];

/// The users of one realm in an htdigest file, with their `HA1`s.
///
/// ```
/// use tower_digest_auth::credentials::htdigest::HtdigestUsers;
///
/// let file = b"# the RFC 2617 example user\n\
///     Mufasa:testrealm@host.com:939e7578ed9e3c518a452acee763bce9\n\
///     someone:another realm:00000000000000000000000000000000\n";
/// let users = HtdigestUsers::parse(file, "testrealm@host.com")?;
/// assert_eq!(users.usernames().collect::<Vec<_>>(), ["Mufasa"]);
/// # Ok::<(), tower_digest_auth::credentials::htdigest::HtdigestParseError>(())
/// ```
#[derive(Clone, Default)]
pub struct HtdigestUsers {
    users: HashMap<String, [Option<Ha1>; 3]>,
    stale_lines: Vec<usize>,
    allows_empty: bool,
}

impl HtdigestUsers {
    /// The longest line accepted, in bytes. Apache's own `htdigest` copes with 255; longer
    /// lines are refused rather than half-read.
    pub const MAX_LINE_LEN: usize = 4096;

    /// The largest file accepted, in bytes: enough for well over 100 000 users.
    pub const MAX_FILE_LEN: usize = 16 * 1024 * 1024;

    /// The line that marks a file as empty on purpose (see
    /// [`allows_empty`](Self::allows_empty)).
    pub const NO_USERS_MARKER: &'static str = "#!no-users";

    /// Parses a whole file and keeps the users of `realm`; lines of other realms are
    /// checked for shape only and otherwise ignored (one file may serve several realms).
    ///
    /// # Errors
    /// [`HtdigestParseError`] listing every bad line with its number, when any line is
    /// bad: the file is then taken as a whole or not at all.
    pub fn parse(bytes: &[u8], realm: &str) -> Result<Self, HtdigestParseError> {
        let mut errors = Errors::default();
        if bytes.len() > MAX_FILE_LEN {
            errors.push(0, LineProblem::FileTooLarge);
            return Err(errors.finish());
        }
        let mut parsed = HtdigestUsers::default();
        // Where each user's line of each hash function is, to name duplicates.
        let mut seen: HashMap<String, [usize; 3]> = HashMap::new();
        // Extension lines wait for every MD5 line: (line, user, binding).
        let mut bindings: Vec<(usize, String, HashFunction, Ha1)> = Vec::new();

        for (index, raw) in bytes.split(|&byte| byte == b'\n').enumerate() {
            let number = index + 1;
            if raw.len() > MAX_LINE_LEN {
                errors.push(number, LineProblem::TooLong);
                continue;
            }
            let line = raw.trim_ascii();
            let entry = match classify(line, realm) {
                Ok(Line::Ignored) => continue,
                Ok(Line::NoUsers) => {
                    parsed.allows_empty = true;
                    continue;
                }
                Ok(Line::Entry(entry)) => entry,
                Err(problem) => {
                    errors.push(number, problem);
                    continue;
                }
            };
            let lines = seen.entry(entry.user.to_owned()).or_default();
            let slot = &mut lines[entry.hash.index()];
            if *slot != 0 {
                errors.push(number, LineProblem::Duplicate { first_line: *slot });
                continue;
            }
            *slot = number;
            let ha1s = parsed.users.entry(entry.user.to_owned()).or_default();
            ha1s[entry.hash.index()] = Some(entry.ha1);
            if let Some(binding) = entry.binding {
                bindings.push((number, entry.user.to_owned(), entry.hash, binding));
            }
        }
        if !errors.is_empty() {
            return Err(errors.finish());
        }

        for (number, user, hash, binding) in bindings {
            let Entry::Occupied(mut ha1s) = parsed.users.entry(user) else {
                unreachable!("every extension line was recorded under its user")
            };
            if ha1s.get()[HashFunction::Md5.index()].as_ref() != Some(&binding) {
                parsed.stale_lines.push(number);
                ha1s.get_mut()[hash.index()] = None;
                if ha1s.get().iter().all(Option::is_none) {
                    ha1s.remove();
                }
            }
        }
        Ok(parsed)
    }

    /// How many users the realm has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the realm has no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users' names, in no particular order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether `username` is a user of the realm.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// Which hash functions `username` has an `HA1` for.
    pub fn hash_functions(&self, username: &str) -> Vec<HashFunction> {
        self.users.get(username).map_or_else(Vec::new, |ha1s| {
            HashFunction::ALL
                .into_iter()
                .filter(|hash| ha1s[hash.index()].is_some())
                .collect()
        })
    }

    /// Line numbers of `#!SHA-256:` (or `#!SHA-512-256:`) lines that were ignored because
    /// their user's MD5 line changed since they were written (Apache's `htdigest` changed
    /// the password, say) or is gone.
    pub fn stale_lines(&self) -> &[usize] {
        &self.stale_lines
    }

    /// Whether the file has a `#!no-users` line, which says that a file without users
    /// is meant to be so. Without it, [`HtdigestFile`](crate::credentials::htdigest::HtdigestFile) takes a file
    /// without users for a half-written one and keeps the users it had.
    pub fn allows_empty(&self) -> bool {
        self.allows_empty
    }

    /// The `HA1` of `username` for `hash`.
    pub(crate) fn ha1(&self, username: &str, hash: HashFunction) -> Option<&Ha1> {
        self.users.get(username)?[hash.index()].as_ref()
    }
}

impl fmt::Debug for HtdigestUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtdigestUsers")
            .field("users", &self.users.len())
            .field("stale_lines", &self.stale_lines)
            .field("allows_empty", &self.allows_empty)
            .finish()
    }
}

/// What one trimmed line is.
enum Line<'a> {
    /// Blank, a comment, or a user of another realm.
    Ignored,
    /// `#!no-users`.
    NoUsers,
    /// A user of our realm.
    Entry(UserLine<'a>),
}

/// One `HA1` of a user of our realm.
struct UserLine<'a> {
    user: &'a str,
    hash: HashFunction,
    ha1: Ha1,
    /// The MD5 `HA1` an extension line was written with.
    binding: Option<Ha1>,
}

fn classify<'a>(line: &'a [u8], realm: &str) -> Result<Line<'a>, LineProblem> {
    if line.is_empty() {
        return Ok(Line::Ignored);
    }
    if line.starts_with(b"#!") {
        if line == NO_USERS_MARKER.as_bytes() {
            return Ok(Line::NoUsers);
        }
        let Some((hash, rest)) = EXTENSIONS
            .iter()
            .find_map(|(tag, hash)| Some((*hash, line.strip_prefix(tag.as_bytes())?)))
        else {
            return Err(LineProblem::UnknownDirective);
        };
        let mut fields = rest.splitn(4, |&byte| byte == b':');
        let (Some(user), Some(line_realm), Some(ha1), Some(binding)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(LineProblem::MissingField);
        };
        if line_realm != realm.as_bytes() {
            return Ok(Line::Ignored);
        }
        return Ok(Line::Entry(UserLine {
            user: username(user)?,
            hash,
            ha1: ha1_from(hash, ha1)?,
            binding: Some(ha1_from(HashFunction::Md5, binding)?),
        }));
    }
    if line.starts_with(b"#") {
        return Ok(Line::Ignored);
    }
    let mut fields = line.splitn(3, |&byte| byte == b':');
    let (Some(user), Some(line_realm), Some(ha1)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(LineProblem::MissingField);
    };
    if line_realm != realm.as_bytes() {
        return Ok(Line::Ignored);
    }
    Ok(Line::Entry(UserLine {
        user: username(user)?,
        hash: HashFunction::Md5,
        ha1: ha1_from(HashFunction::Md5, ha1)?,
        binding: None,
    }))
}

fn username(bytes: &[u8]) -> Result<&str, LineProblem> {
    match std::str::from_utf8(bytes) {
        Ok("") => Err(LineProblem::EmptyUsername),
        Ok(user) => Ok(user),
        Err(_) => Err(LineProblem::UsernameNotUtf8),
    }
}

fn ha1_from(hash: HashFunction, hex: &[u8]) -> Result<Ha1, LineProblem> {
    std::str::from_utf8(hex)
        .ok()
        .and_then(|hex| Ha1::from_hex(hash, hex).ok())
        .ok_or(LineProblem::BadHa1 { expected: hash })
}

/// Why a line of an htdigest file was refused. Never shows the line itself, which may
/// hold an `HA1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineProblem {
    /// The whole file is over [`HtdigestUsers::MAX_FILE_LEN`] bytes (reported as line 0).
    FileTooLarge,
    /// The line is over [`HtdigestUsers::MAX_LINE_LEN`] bytes.
    TooLong,
    /// Not `user:realm:HA1` (or `#!SHA-256:user:realm:HA1:MD5-HA1`).
    MissingField,
    /// A user of our realm with an empty name.
    EmptyUsername,
    /// A user of our realm whose name is not UTF-8, which no client could send.
    UsernameNotUtf8,
    /// The `HA1` is not hex of the length of `expected`.
    BadHa1 {
        /// The hash function the line's `HA1` should be of.
        expected: HashFunction,
    },
    /// The same user and hash function as an earlier line.
    Duplicate {
        /// The number of the earlier line.
        first_line: usize,
    },
    /// A `#!` line that is none of ours (a mistyped `#!SHA-256:`, say).
    UnknownDirective,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::FileTooLarge => write!(f, "the file is over {MAX_FILE_LEN} bytes"),
            LineProblem::TooLong => write!(f, "longer than {MAX_LINE_LEN} bytes"),
            LineProblem::MissingField => f.write_str("not of the form user:realm:HA1"),
            LineProblem::EmptyUsername => f.write_str("empty username"),
            LineProblem::UsernameNotUtf8 => f.write_str("username is not UTF-8"),
            LineProblem::BadHa1 { expected } => write!(
                f,
                "the HA1 is not {} hex digits of {}",
                expected.hex_len(),
                expected.name()
            ),
            LineProblem::Duplicate { first_line } => {
                write!(f, "the same user as line {first_line}")
            }
            LineProblem::UnknownDirective => {
                f.write_str("unknown #! line (ours are #!SHA-256:, #!SHA-512-256: and #!no-users)")
            }
        }
    }
}

/// One bad line: its number (from 1) and what is wrong with it.
///
/// `#[non_exhaustive]`: read its fields, build one with [`LineError::new`] (to compare
/// with [`HtdigestParseError::lines`] in a test, say).
///
/// ```
/// use tower_digest_auth::credentials::htdigest::{LineError, LineProblem};
///
/// let error = LineError::new(3, LineProblem::EmptyUsername);
/// assert_eq!((error.line, error.problem), (3, LineProblem::EmptyUsername));
/// assert_eq!(error.to_string(), "line 3: empty username");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineError {
    /// The line number, counting from 1.
    pub line: usize,
    /// What is wrong.
    pub problem: LineProblem,
}

impl LineError {
    /// The error for line `line` (counting from 1).
    pub const fn new(line: usize, problem: LineProblem) -> Self {
        LineError { line, problem }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// An htdigest file that was refused, with every bad line (up to
/// [`MAX_LISTED`](Self::MAX_LISTED); the rest are counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HtdigestParseError {
    errors: Vec<LineError>,
    total: usize,
}

impl HtdigestParseError {
    /// At most this many bad lines are listed one by one; the rest are only counted.
    pub const MAX_LISTED: usize = 1000;

    /// The bad lines, in file order.
    pub fn lines(&self) -> &[LineError] {
        &self.errors
    }

    /// How many lines were bad, counting those not listed.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl fmt::Display for HtdigestParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.total == 1 { "" } else { "s" };
        write!(f, "{} bad line{plural}", self.total)?;
        for error in &self.errors {
            write!(f, "; {error}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "; and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Errors {
    listed: Vec<LineError>,
    total: usize,
}

impl Errors {
    fn push(&mut self, line: usize, problem: LineProblem) {
        self.total += 1;
        if self.listed.len() < HtdigestParseError::MAX_LISTED {
            self.listed.push(LineError { line, problem });
        }
    }

    fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn finish(self) -> HtdigestParseError {
        HtdigestParseError {
            errors: self.listed,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests;
