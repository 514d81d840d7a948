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

mod args;
mod commands;
mod lines;
mod password;
mod write;

use std::io;
use std::path::Path;
use std::process::ExitCode;

use args::{USAGE, parse_args};
use commands::{check, delete, list, set_password};

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
