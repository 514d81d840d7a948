//! The command line: the usage text and the parsed arguments.

use crate::{Failure, usage};

pub(crate) const USAGE: &str = "\
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

/// The parsed command line.
pub(crate) struct Args<'a> {
    pub(crate) command: &'a str,
    pub(crate) stdin: bool,
    pub(crate) md5_only: bool,
    pub(crate) positional: Vec<&'a str>,
}

pub(crate) fn parse_args(args: &[String]) -> Result<Args<'_>, Failure> {
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
