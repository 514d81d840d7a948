//! The lines of an htdigest file: Apache's MD5 line, our extension lines, and what the
//! editor makes of each.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tower_digest_auth::algorithm::HashFunction;
use tower_digest_auth::credentials::htdigest::HtdigestUsers;

use crate::{Failure, fail};

/// Apache's `htdigest` reads lines into a 256-byte buffer: longer ones it would split.
const APACHE_MAX_LINE: usize = 255;
const SHA256_TAG: &str = "#!SHA-256:";
const SHA512_256_TAG: &str = "#!SHA-512-256:";

/// Refuses what no htdigest line can hold, or what Apache's `htdigest` would misread.
pub(crate) fn check_names(realm: &str, user: &str, md5_only: bool) -> Result<(), Failure> {
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

pub(crate) fn md5_line(user: &str, realm: &str, md5: &str) -> String {
    format!("{user}:{realm}:{md5}\n")
}

pub(crate) fn extension_line(
    hash: HashFunction,
    user: &str,
    realm: &str,
    ha1: &str,
    md5: &str,
) -> String {
    let tag = match hash {
        HashFunction::Sha512_256 => SHA512_256_TAG,
        _ => SHA256_TAG,
    };
    format!("{tag}{user}:{realm}:{ha1}:{md5}\n")
}

/// What one line of the file is to the editor.
#[derive(PartialEq, Eq)]
pub(crate) enum Kind {
    /// Apache's line for a user and realm.
    Md5 { user: Vec<u8>, realm: Vec<u8> },
    /// Our `#!SHA-256:` or `#!SHA-512-256:` line for a user and realm.
    Extension { user: Vec<u8>, realm: Vec<u8> },
    /// `#!no-users`.
    NoUsers,
    /// Anything else: kept byte for byte.
    Other,
}

pub(crate) fn kind(line: &[u8]) -> Kind {
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
pub(crate) fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, Failure> {
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
pub(crate) fn remove_user(lines: &mut Vec<Vec<u8>>, realm: &str, user: &str) -> Option<usize> {
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
