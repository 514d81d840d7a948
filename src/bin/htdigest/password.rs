//! Reading the new password, from standard input or the terminal.

use std::io::{self, BufRead, Read};

use crate::{Failure, fail};

/// The longest password read.
const MAX_PASSWORD_LEN: usize = 4096;

pub(crate) fn password_from_stdin() -> Result<String, Failure> {
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

pub(crate) fn password_from_terminal() -> Result<String, Failure> {
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
