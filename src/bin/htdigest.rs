//! `tower-htdigest`: manages htdigest files, like Apache's `htdigest`, for
//! `tower_digest_auth::credentials::htdigest::HtdigestFile`.
//!
//! It reads and writes Apache's format (`user:realm:MD5-HA1` lines), so it works on files
//! Apache's `htdigest` wrote and Apache reads the files it writes. Next to each MD5 line
//! it writes a `#!SHA-256:` line, which Apache takes for a comment and
//! `tower-digest-auth` uses for SHA-256 clients. Every write goes to a new file in the
//! same directory, synced, then renamed over the old one: a reader sees the old file or
//! the new one, never half of one. The file keeps its permissions and owner; a new one
//! gets mode 0640.
//!
//! Named `tower-htdigest` so that installing it never shadows Apache's `htdigest`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tower_digest_auth::Ha1;
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::htdigest::HtdigestUsers;

const USAGE: &str = "\
tower-htdigest: manage htdigest files (Apache's format) for tower-digest-auth

Usage:
  tower-htdigest create [--stdin] [--md5-only] FILE REALM USER
      Creates FILE with USER (refuses a FILE that exists).
  tower-htdigest add    [--stdin] [--md5-only] FILE REALM USER
      Adds USER to REALM, or changes their password.
  tower-htdigest change [--stdin] [--md5-only] FILE REALM USER
      Changes the password of USER, who must exist.
  tower-htdigest delete FILE REALM USER
      Removes USER from REALM.
  tower-htdigest list   FILE [REALM]
      Prints `user<TAB>realm<TAB>algorithms` for each user.
  tower-htdigest check  FILE REALM
      Checks FILE as tower-digest-auth reads it; exits 1 and lists every bad line if any.

Options:
  --stdin      read the password from the first line of standard input (for scripts);
               otherwise it is asked twice on the terminal, without echo
  --md5-only   write Apache's MD5 line only, not the SHA-256 line
";

/// Apache's `htdigest` reads lines into a 256-byte buffer: longer ones it would split.
const APACHE_MAX_LINE: usize = 255;
/// The longest password read.
const MAX_PASSWORD_LEN: usize = 4096;
/// The mode of a new file: the web server's group may read it, nobody else.
const NEW_FILE_MODE: u32 = 0o640;
const SHA256_TAG: &str = "#!SHA-256:";
const SHA512_256_TAG: &str = "#!SHA-512-256:";

/// A failure, with the message for the user and the exit code.
struct Failure(String, u8);

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure(error.to_string(), 1)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into(), 1))
}

fn usage<T>(message: &str) -> Result<T, Failure> {
    Err(Failure(format!("{message}\n\n{USAGE}"), 2))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("tower-htdigest: {message}");
            ExitCode::from(code)
        }
    }
}

/// The parsed command line.
struct Args<'a> {
    command: &'a str,
    stdin: bool,
    md5_only: bool,
    positional: Vec<&'a str>,
}

fn parse_args(args: &[String]) -> Result<Args<'_>, Failure> {
    let Some((command, rest)) = args.split_first() else {
        return usage("no command");
    };
    let mut parsed = Args {
        command,
        stdin: false,
        md5_only: false,
        positional: Vec::new(),
    };
    let mut options_done = false;
    for arg in rest {
        match arg.as_str() {
            "--" if !options_done => options_done = true,
            "--stdin" if !options_done => parsed.stdin = true,
            "--md5-only" if !options_done => parsed.md5_only = true,
            option if !options_done && option.starts_with("--") => {
                return usage(&format!("unknown option {option}"));
            }
            value => parsed.positional.push(value),
        }
    }
    Ok(parsed)
}

fn run(args: &[String]) -> Result<(), Failure> {
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        print!("{USAGE}");
        return Ok(());
    }
    let args = parse_args(args)?;
    let writes = matches!(args.command, "create" | "add" | "change");
    if (args.stdin || args.md5_only) && !writes {
        return usage(&format!("{} takes no --stdin or --md5-only", args.command));
    }
    match (args.command, args.positional.as_slice()) {
        ("create" | "add" | "change", [file, realm, user]) => {
            set_password(&args, Path::new(file), realm, user)
        }
        ("delete", [file, realm, user]) => delete(Path::new(file), realm, user),
        ("list", [file]) => list(Path::new(file), None),
        ("list", [file, realm]) => list(Path::new(file), Some(realm)),
        ("check", [file, realm]) => check(Path::new(file), realm),
        ("create" | "add" | "change" | "delete" | "list" | "check", _) => {
            usage(&format!("wrong arguments for {}", args.command))
        }
        (other, _) => usage(&format!("unknown command {other}")),
    }
}

/// Refuses what no htdigest line can hold, or what Apache's `htdigest` would misread.
fn check_names(realm: &str, user: &str, md5_only: bool) -> Result<(), Failure> {
    for (what, value) in [("user", user), ("realm", realm)] {
        if value.is_empty() {
            return fail(format!("the {what} is empty"));
        }
        if value.contains(':') || value.chars().any(char::is_control) {
            return fail(format!(
                "the {what} cannot hold ':' or control characters (htdigest lines are user:realm:HA1)"
            ));
        }
        if value.starts_with('#') || value.trim() != value {
            return fail(format!(
                "the {what} cannot start with '#' or with or end in whitespace"
            ));
        }
    }
    let longest = if md5_only {
        md5_line(user, realm, &dummy_md5()).len()
    } else {
        extension_line(HashFunction::Sha256, user, realm, "", "").len() + 64 + 32
    };
    if longest > APACHE_MAX_LINE {
        return fail(format!(
            "user and realm are too long: the line would be {longest} bytes, over the \
             {APACHE_MAX_LINE} Apache's htdigest reads"
        ));
    }
    Ok(())
}

fn dummy_md5() -> String {
    "0".repeat(32)
}

fn md5_line(user: &str, realm: &str, md5: &str) -> String {
    format!("{user}:{realm}:{md5}\n")
}

fn extension_line(hash: HashFunction, user: &str, realm: &str, ha1: &str, md5: &str) -> String {
    let tag = match hash {
        HashFunction::Sha512_256 => SHA512_256_TAG,
        _ => SHA256_TAG,
    };
    format!("{tag}{user}:{realm}:{ha1}:{md5}\n")
}

/// What one line of the file is to the editor.
#[derive(PartialEq, Eq)]
enum Kind {
    /// Apache's line for a user and realm.
    Md5 { user: Vec<u8>, realm: Vec<u8> },
    /// Our `#!SHA-256:` or `#!SHA-512-256:` line for a user and realm.
    Extension { user: Vec<u8>, realm: Vec<u8> },
    /// `#!no-users`.
    NoUsers,
    /// Anything else: kept byte for byte.
    Other,
}

fn kind(line: &[u8]) -> Kind {
    let line = line.trim_ascii();
    let user_realm = |rest: &[u8]| {
        let mut fields = rest.splitn(3, |&byte| byte == b':');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(user), Some(realm), Some(_)) => Some((user.to_vec(), realm.to_vec())),
            _ => None,
        }
    };
    if line == HtdigestUsers::NO_USERS_MARKER.as_bytes() {
        return Kind::NoUsers;
    }
    for tag in [SHA256_TAG, SHA512_256_TAG] {
        if let Some(rest) = line.strip_prefix(tag.as_bytes()) {
            return user_realm(rest)
                .map_or(Kind::Other, |(user, realm)| Kind::Extension { user, realm });
        }
    }
    if line.is_empty() || line.starts_with(b"#") {
        return Kind::Other;
    }
    user_realm(line).map_or(Kind::Other, |(user, realm)| Kind::Md5 { user, realm })
}

/// The file's lines, each with its line break (the last one may lack it).
fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(|error| Failure(format!("{}: {error}", path.display()), 1))?
        .take(HtdigestUsers::MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > HtdigestUsers::MAX_FILE_LEN {
        return fail(format!(
            "{} is over {} bytes",
            path.display(),
            HtdigestUsers::MAX_FILE_LEN
        ));
    }
    Ok(bytes
        .split_inclusive(|&byte| byte == b'\n')
        .map(<[u8]>::to_vec)
        .collect())
}

/// Removes `user`'s lines in `realm`; returns where the first was.
fn remove_user(lines: &mut Vec<Vec<u8>>, realm: &str, user: &str) -> Option<usize> {
    let mut first = None;
    let mut index = 0;
    lines.retain(|line| {
        let ours = match kind(line) {
            Kind::Md5 { user: u, realm: r } | Kind::Extension { user: u, realm: r } => {
                u == user.as_bytes() && r == realm.as_bytes()
            }
            _ => false,
        };
        if ours && first.is_none() {
            first = Some(index);
        }
        if !ours {
            index += 1;
        }
        !ours
    });
    first
}

fn set_password(args: &Args<'_>, path: &Path, realm: &str, user: &str) -> Result<(), Failure> {
    check_names(realm, user, args.md5_only)?;
    let existing = match args.command {
        "create" => {
            if fs::symlink_metadata(path).is_ok() {
                return fail(format!(
                    "{} exists: use `tower-htdigest add` to add a user to it",
                    path.display()
                ));
            }
            None
        }
        _ => Some(read_lines(path)?),
    };
    let mut lines = existing.unwrap_or_default();
    let position = remove_user(&mut lines, realm, user);
    if args.command == "change" && position.is_none() {
        return fail(format!("no user {user} in realm {realm}"));
    }
    let password = if args.stdin {
        password_from_stdin()?
    } else {
        password_from_terminal()?
    };

    let md5 = Ha1::from_password(HashFunction::Md5, user, realm, &password);
    let mut new = vec![md5_line(user, realm, md5.expose_hex()).into_bytes()];
    if !args.md5_only {
        let sha256 = Ha1::from_password(HashFunction::Sha256, user, realm, &password);
        new.push(
            extension_line(
                HashFunction::Sha256,
                user,
                realm,
                sha256.expose_hex(),
                md5.expose_hex(),
            )
            .into_bytes(),
        );
    }
    drop(password);
    // A file with a user is no longer empty on purpose; keeping the marker would let a
    // file truncated after it pass for an emptied one.
    lines.retain(|line| kind(line) != Kind::NoUsers);
    if position.is_some() {
        eprintln!("Changing password for user {user} in realm {realm}");
    } else {
        eprintln!("Adding user {user} in realm {realm}");
    }
    let at = position.map_or(lines.len(), |at| at.min(lines.len()));
    lines.splice(at..at, new);
    write_lines(path, lines, realm)
}

fn delete(path: &Path, realm: &str, user: &str) -> Result<(), Failure> {
    let mut lines = read_lines(path)?;
    if remove_user(&mut lines, realm, user).is_none() {
        return fail(format!("no user {user} in realm {realm}"));
    }
    let users_left = lines
        .iter()
        .any(|line| matches!(kind(line), Kind::Md5 { realm: r, .. } if r == realm.as_bytes()));
    if !users_left && !lines.iter().any(|line| kind(line) == Kind::NoUsers) {
        // Without it, tower-digest-auth would take the empty file for a half-written one.
        lines.push(format!("{}\n", HtdigestUsers::NO_USERS_MARKER).into_bytes());
    }
    eprintln!("Deleting user {user} in realm {realm}");
    write_lines(path, lines, realm)
}

/// Writes the file, then says if tower-digest-auth would refuse it (bad lines that were
/// there before, say): the tool edits such files, as Apache's does, but tells.
fn write_lines(path: &Path, mut lines: Vec<Vec<u8>>, realm: &str) -> Result<(), Failure> {
    // Apache's htdigest drops a last line without a line break.
    for line in &mut lines {
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
    }
    let bytes = lines.concat();
    write_atomically(path, &bytes)
        .map_err(|error| Failure(format!("writing {}: {error}", path.display()), 1))?;
    if let Err(error) = HtdigestUsers::parse(&bytes, realm) {
        eprintln!(
            "tower-htdigest: warning: tower-digest-auth refuses {} as it is: {error}",
            path.display()
        );
    }
    Ok(())
}

/// Replaces `path` with `bytes` through a synced temporary file in the same directory,
/// keeping the old file's mode and owner. A symlink is followed: its target is replaced.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let old = fs::metadata(&target).ok();
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tower-htdigest-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mode = old
            .as_ref()
            .map_or(NEW_FILE_MODE, |meta| meta.permissions().mode() & 0o7777);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        if let Some(meta) = &old {
            // Root editing www-data's file must leave it www-data's. Anyone else can
            // keep the owner only if it is them: refuse rather than hand the file over.
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            let new = file.metadata()?;
            if (new.uid(), new.gid()) != (meta.uid(), meta.gid()) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "cannot keep the file's owner and group (run as its owner, or root)",
                ));
            }
        }
        // Set after the owner: the umask played no part, and no other user could read
        // the file while it was still someone else's.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn password_from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .take(MAX_PASSWORD_LEN as u64 + 2)
        .read_line(&mut line)
        .map_err(|error| Failure(format!("reading the password from stdin: {error}"), 1))?;
    let password = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |p| p.strip_suffix('\r').unwrap_or(p));
    check_password(password)?;
    Ok(password.to_owned())
}

fn password_from_terminal() -> Result<String, Failure> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|error| {
            Failure(
                format!("cannot read a password from the terminal ({error}): use --stdin"),
                1,
            )
        })
    };
    let password = ask("New password: ")?;
    check_password(&password)?;
    if ask("Re-type new password: ")? != password {
        return fail("the passwords do not match");
    }
    Ok(password)
}

fn check_password(password: &str) -> Result<(), Failure> {
    if password.is_empty() {
        return fail("empty password");
    }
    if password.len() > MAX_PASSWORD_LEN {
        return fail(format!("password over {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

fn list(path: &Path, realm: Option<&str>) -> Result<(), Failure> {
    let lines = read_lines(path)?;
    let mut realms: Vec<String> = Vec::new();
    if let Some(realm) = realm {
        realms.push(realm.to_owned());
    } else {
        for line in &lines {
            if let Kind::Md5 { realm, .. } = kind(line) {
                let realm = String::from_utf8_lossy(&realm).into_owned();
                if !realms.contains(&realm) {
                    realms.push(realm);
                }
            }
        }
    }
    let bytes = lines.concat();
    let mut out = io::stdout().lock();
    let mut failed = false;
    for realm in realms {
        match HtdigestUsers::parse(&bytes, &realm) {
            Ok(users) => {
                let mut names: Vec<&str> = users.usernames().collect();
                names.sort_unstable();
                for user in names {
                    let hashes: Vec<&str> = users
                        .hash_functions(user)
                        .into_iter()
                        .map(HashFunction::name)
                        .collect();
                    writeln!(out, "{user}\t{realm}\t{}", hashes.join(","))?;
                }
            }
            Err(error) => {
                eprintln!("tower-htdigest: realm {realm}: {error}");
                failed = true;
            }
        }
    }
    if failed {
        return fail("some realms have bad lines");
    }
    Ok(())
}

fn check(path: &Path, realm: &str) -> Result<(), Failure> {
    let bytes = read_lines(path)?.concat();
    match HtdigestUsers::parse(&bytes, realm) {
        Ok(users) => {
            for line in users.stale_lines() {
                eprintln!(
                    "line {line}: stale SHA-256 line (its user's MD5 line changed): \
                     set the password again with tower-htdigest"
                );
            }
            if users.is_empty() && !users.allows_empty() {
                eprintln!(
                    "no user in realm {realm}: tower-digest-auth takes this for a \
                     half-written file once it has loaded users (add `{}` to mean it)",
                    HtdigestUsers::NO_USERS_MARKER
                );
            }
            println!("{}: {} users in realm {realm}", path.display(), users.len());
            Ok(())
        }
        Err(error) => {
            for line in error.lines() {
                eprintln!("{}: {line}", path.display());
            }
            fail(error.to_string())
        }
    }
}
