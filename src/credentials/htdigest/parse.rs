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
/// use tower_digest_auth::HtdigestUsers;
///
/// let file = b"# the RFC 2617 example user\n\
///     Mufasa:testrealm@host.com:939e7578ed9e3c518a452acee763bce9\n\
///     someone:another realm:00000000000000000000000000000000\n";
/// let users = HtdigestUsers::parse(file, "testrealm@host.com")?;
/// assert_eq!(users.usernames().collect::<Vec<_>>(), ["Mufasa"]);
/// # Ok::<(), tower_digest_auth::HtdigestParseError>(())
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
    /// is meant to be so. Without it, [`HtdigestFile`](crate::HtdigestFile) takes a file
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError {
    /// The line number, counting from 1.
    pub line: usize,
    /// What is wrong.
    pub problem: LineProblem,
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
mod tests {
    use super::*;

    const REALM: &str = "testrealm@host.com";
    /// `HA1`s of the RFC 2617 example user (`Mufasa`, `Circle Of Life`).
    const MD5: &str = "939e7578ed9e3c518a452acee763bce9";

    fn sha256(user: &str, password: &str) -> String {
        Ha1::from_password(HashFunction::Sha256, user, REALM, password)
            .expose_hex()
            .to_owned()
    }

    fn md5(user: &str, password: &str) -> String {
        Ha1::from_password(HashFunction::Md5, user, REALM, password)
            .expose_hex()
            .to_owned()
    }

    fn parse(text: impl AsRef<[u8]>) -> Result<HtdigestUsers, HtdigestParseError> {
        HtdigestUsers::parse(text.as_ref(), REALM)
    }

    /// The `(line, problem)` pairs of a refused file.
    fn problems(text: impl AsRef<[u8]>) -> Vec<(usize, LineProblem)> {
        let error = parse(text).expect_err("the file should be refused");
        error.lines().iter().map(|e| (e.line, e.problem)).collect()
    }

    fn names(users: &HtdigestUsers) -> Vec<&str> {
        let mut names: Vec<_> = users.usernames().collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn reads_the_rfc_2617_user_as_apache_writes_it() {
        let users = parse(format!("Mufasa:{REALM}:{MD5}\n")).unwrap();
        assert_eq!(names(&users), ["Mufasa"]);
        let ha1 = users.ha1("Mufasa", HashFunction::Md5).unwrap();
        assert_eq!(ha1.expose_hex(), MD5);
        assert_eq!(users.ha1("Mufasa", HashFunction::Sha256), None);
    }

    #[test]
    fn skips_comments_and_blank_lines() {
        let text = format!("# users\n\n   \n\t# indented comment\nMufasa:{REALM}:{MD5}\n\n");
        assert_eq!(names(&parse(text).unwrap()), ["Mufasa"]);
    }

    #[test]
    fn accepts_crlf_and_surrounding_whitespace_like_apache() {
        let text = format!(
            "# c\r\n  Mufasa:{REALM}:{MD5}  \r\nbob:{REALM}:{}\r\n",
            md5("bob", "pw")
        );
        let users = parse(text).unwrap();
        assert_eq!(names(&users), ["Mufasa", "bob"]);
        assert_eq!(
            users.ha1("Mufasa", HashFunction::Md5).unwrap().expose_hex(),
            MD5
        );
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        assert_eq!(
            names(&parse(format!("Mufasa:{REALM}:{MD5}")).unwrap()),
            ["Mufasa"]
        );
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let users = parse(format!("Mufasa:{REALM}:{}\n", MD5.to_uppercase())).unwrap();
        assert_eq!(
            users.ha1("Mufasa", HashFunction::Md5).unwrap().expose_hex(),
            MD5
        );
    }

    #[test]
    fn other_realms_are_ignored_but_must_have_the_shape() {
        let text = format!(
            "alice:other realm:{MD5}\nbob:other:not-even-hex\nMufasa:{REALM}:{MD5}\n\
             carol:{REALM}x:{MD5}\n"
        );
        let users = parse(text).unwrap();
        assert_eq!(names(&users), ["Mufasa"]);
        assert!(!users.contains("alice") && !users.contains("bob") && !users.contains("carol"));
        assert_eq!(
            problems("just-a-user\nuser:realm-only\n"),
            [
                (1, LineProblem::MissingField),
                (2, LineProblem::MissingField),
            ]
        );
    }

    #[test]
    fn duplicate_users_name_the_first_line() {
        let text = format!(
            "Mufasa:{REALM}:{MD5}\n# again\nMufasa:{REALM}:{}\n",
            md5("Mufasa", "x")
        );
        assert_eq!(
            problems(text),
            [(3, LineProblem::Duplicate { first_line: 1 })]
        );
        // The same name in another realm is another user.
        let text = format!("Mufasa:{REALM}:{MD5}\nMufasa:other:{MD5}\n");
        assert_eq!(names(&parse(text).unwrap()), ["Mufasa"]);
    }

    #[test]
    fn bad_hex_is_refused_with_the_hash_it_should_be() {
        let md5 = LineProblem::BadHa1 {
            expected: HashFunction::Md5,
        };
        let text = format!(
            "a:{REALM}:{}\nb:{REALM}:{}\nc:{REALM}:{}0\nd:{REALM}:\ne:{REALM}:{MD5}:extra\n",
            MD5.replace('9', "g"),
            &MD5[..31],
            MD5,
        );
        assert_eq!(
            problems(text),
            [(1, md5), (2, md5), (3, md5), (4, md5), (5, md5)]
        );
        // A SHA-256 HA1 on an Apache line is not MD5.
        assert_eq!(
            problems(format!("a:{REALM}:{}\n", sha256("a", "pw"))),
            [(1, md5)]
        );
    }

    #[test]
    fn empty_usernames_are_refused() {
        assert_eq!(
            problems(format!(":{REALM}:{MD5}\n")),
            [(1, LineProblem::EmptyUsername)]
        );
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = format!("ok:{REALM}:{MD5}\nbad\n# fine\nworse:{REALM}:xyz\n\n#!SHA256:x\n");
        let error = parse(text).unwrap_err();
        assert_eq!(error.total(), 3);
        assert_eq!(
            error.to_string(),
            "3 bad lines; line 2: not of the form user:realm:HA1; \
             line 4: the HA1 is not 32 hex digits of MD5; \
             line 6: unknown #! line (ours are #!SHA-256:, #!SHA-512-256: and #!no-users)"
        );
    }

    #[test]
    fn errors_never_show_the_line() {
        let secret = MD5.replace('9', "z");
        let error = parse(format!("Mufasa:{REALM}:{secret}\n")).unwrap_err();
        assert!(!error.to_string().contains(&secret[..8]));
        assert!(!format!("{error:?}").contains(&secret[..8]));
        assert!(!error.to_string().contains("Mufasa"));
    }

    #[test]
    fn very_long_lines_are_refused_without_reading_them() {
        let long = format!(
            "{}:{REALM}:{MD5}\n",
            "u".repeat(HtdigestUsers::MAX_LINE_LEN)
        );
        let text = format!("ok:{REALM}:{MD5}\n{long}# after\n");
        assert_eq!(problems(text), [(2, LineProblem::TooLong)]);
        // Just under the limit is fine.
        let user = "u".repeat(HtdigestUsers::MAX_LINE_LEN - REALM.len() - MD5.len() - 2);
        assert!(
            parse(format!("{user}:{REALM}:{MD5}\n"))
                .unwrap()
                .contains(&user)
        );
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_whole() {
        let line = format!("# {}\n", "x".repeat(1000));
        let text = line.repeat(HtdigestUsers::MAX_FILE_LEN / line.len() + 1);
        assert_eq!(problems(text), [(0, LineProblem::FileTooLarge)]);
    }

    #[test]
    fn only_the_first_thousand_bad_lines_are_listed() {
        let error = parse("bad\n".repeat(1500)).unwrap_err();
        assert_eq!(error.total(), 1500);
        assert_eq!(error.lines().len(), HtdigestParseError::MAX_LISTED);
        assert!(error.to_string().ends_with("; and 500 more"));
    }

    #[test]
    fn non_utf8_bytes() {
        // A Latin-1 username of our realm can never log in: refused, so it is noticed.
        let mut text = b"J\xe4son:".to_vec();
        text.extend_from_slice(format!("{REALM}:{MD5}\n").as_bytes());
        assert_eq!(problems(&text), [(1, LineProblem::UsernameNotUtf8)]);
        // Elsewhere they do no harm: comments, other realms.
        let mut text = b"# caf\xe9\nJ\xe4son:r\xe9alm:".to_vec();
        text.extend_from_slice(format!("{MD5}\nMufasa:{REALM}:{MD5}\n").as_bytes());
        assert_eq!(names(&parse(&text).unwrap()), ["Mufasa"]);
        // Bytes that are not UTF-8 inside the HA1 are bad hex.
        let mut text = format!("Mufasa:{REALM}:").into_bytes();
        text.extend_from_slice(&[0xff; 32]);
        let md5 = LineProblem::BadHa1 {
            expected: HashFunction::Md5,
        };
        assert_eq!(problems(&text), [(1, md5)]);
    }

    #[test]
    fn utf8_usernames_match_what_clients_hash() {
        let user = "Jäsøn Doe";
        let users = parse(format!("{user}:{REALM}:{}\n", md5(user, "pw"))).unwrap();
        assert_eq!(
            users.ha1(user, HashFunction::Md5),
            Some(&Ha1::from_password(HashFunction::Md5, user, REALM, "pw"))
        );
    }

    #[test]
    fn sha256_lines_add_an_ha1_while_bound_to_the_md5_line() {
        let text = format!(
            "Mufasa:{REALM}:{MD5}\n#!SHA-256:Mufasa:{REALM}:{}:{MD5}\n",
            sha256("Mufasa", "Circle Of Life")
        );
        let users = parse(text).unwrap();
        assert_eq!(
            users.hash_functions("Mufasa"),
            [HashFunction::Md5, HashFunction::Sha256]
        );
        assert_eq!(
            users.ha1("Mufasa", HashFunction::Sha256),
            Some(&Ha1::from_password(
                HashFunction::Sha256,
                "Mufasa",
                REALM,
                "Circle Of Life"
            ))
        );
        assert!(users.stale_lines().is_empty());
    }

    #[test]
    fn an_extension_line_may_come_first() {
        let text = format!(
            "#!SHA-256:Mufasa:{REALM}:{}:{MD5}\nMufasa:{REALM}:{MD5}\n",
            sha256("Mufasa", "Circle Of Life")
        );
        assert_eq!(parse(text).unwrap().hash_functions("Mufasa").len(), 2);
    }

    #[test]
    fn a_sha256_line_goes_stale_when_apache_changes_the_password() {
        // What Apache's htdigest leaves after changing Mufasa's password: its new MD5
        // line, and our SHA-256 line untouched with the old password.
        let text = format!(
            "Mufasa:{REALM}:{}\n#!SHA-256:Mufasa:{REALM}:{}:{MD5}\n",
            md5("Mufasa", "new"),
            sha256("Mufasa", "Circle Of Life"),
        );
        let users = parse(text).unwrap();
        assert_eq!(users.hash_functions("Mufasa"), [HashFunction::Md5]);
        assert_eq!(users.stale_lines(), [2]);
    }

    #[test]
    fn a_sha256_line_without_its_md5_line_is_stale() {
        let text = format!("#!SHA-256:Mufasa:{REALM}:{}:{MD5}\n", sha256("Mufasa", "x"));
        let users = parse(text).unwrap();
        assert!(users.is_empty());
        assert_eq!(users.stale_lines(), [1]);
    }

    #[test]
    fn sha512_256_lines_work_alike() {
        let ha1 = Ha1::from_password(HashFunction::Sha512_256, "Mufasa", REALM, "pw");
        let text = format!(
            "Mufasa:{REALM}:{MD5}\n#!SHA-512-256:Mufasa:{REALM}:{}:{MD5}\n",
            ha1.expose_hex()
        );
        let users = parse(text).unwrap();
        assert_eq!(users.ha1("Mufasa", HashFunction::Sha512_256), Some(&ha1));
    }

    #[test]
    fn bad_extension_lines_are_refused() {
        let sha = sha256("Mufasa", "x");
        let sha_bad = LineProblem::BadHa1 {
            expected: HashFunction::Sha256,
        };
        let md5_bad = LineProblem::BadHa1 {
            expected: HashFunction::Md5,
        };
        let text = format!(
            "Mufasa:{REALM}:{MD5}\n\
             #!SHA-256:Mufasa:{REALM}:{MD5}:{MD5}\n\
             #!SHA-256:Mufasa:{REALM}:{sha}\n\
             #!SHA-256:Mufasa:{REALM}:{sha}:nothex\n\
             #!SHA-256:Mufasa:{REALM}:{sha}:{MD5}\n\
             #!SHA-256:Mufasa:{REALM}:{sha}:{MD5}\n\
             #!sha-256:Mufasa:{REALM}:{sha}:{MD5}\n"
        );
        assert_eq!(
            problems(text),
            [
                (2, sha_bad),
                (3, LineProblem::MissingField),
                (4, md5_bad),
                (6, LineProblem::Duplicate { first_line: 5 }),
                (7, LineProblem::UnknownDirective),
            ]
        );
    }

    #[test]
    fn the_no_users_marker_is_read() {
        assert!(!parse("").unwrap().allows_empty());
        assert!(!parse("# nobody\n").unwrap().allows_empty());
        let users = parse("#!no-users\r\n").unwrap();
        assert!(users.is_empty() && users.allows_empty());
    }

    #[test]
    fn debug_shows_no_user_or_ha1() {
        let users = parse(format!("Mufasa:{REALM}:{MD5}\n")).unwrap();
        let debug = format!("{users:?}");
        assert!(!debug.contains(MD5) && !debug.contains("Mufasa"), "{debug}");
    }
}
