//! The commands: each edits or reads one file.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use tower_digest_auth::Ha1;
use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::htdigest::HtdigestUsers;

use crate::args::Args;
use crate::lines::{Kind, check_names, extension_line, kind, md5_line, read_lines, remove_user};
use crate::password::{password_from_stdin, password_from_terminal};
use crate::write::write_lines;
use crate::{Failure, fail};

pub(crate) fn set_password(
    args: &Args<'_>,
    path: &Path,
    realm: &str,
    user: &str,
) -> Result<(), Failure> {
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

pub(crate) fn delete(path: &Path, realm: &str, user: &str) -> Result<(), Failure> {
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

pub(crate) fn list(path: &Path, realm: Option<&str>) -> Result<(), Failure> {
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

pub(crate) fn check(path: &Path, realm: &str) -> Result<(), Failure> {
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
