//! A small, independent HTTP Digest (RFC 7616) load generator.
//!
//! It does not use this crate's code: the digest computation, the challenge parser and the
//! HTTP/1.1 client are written here against the RFC, so it can check the server rather than
//! agree with it by construction. It uses only std, `md-5`, `sha2` and `rand`.
//!
//! One thread per connection, HTTP/1.1 keep-alive. Each connection sends a plain `GET`, answers
//! the 401 challenge (the first offered algorithm, or the one chosen with `--algorithm`), then
//! reuses that nonce with `nc` counting up (`00000001`, `00000002`, ...). A 401 carrying
//! `stale=true` is counted as stale, any other 401 to an authenticated request as rejected; in
//! both cases the fresh challenge it carries is answered next. Every run is bounded by time
//! (`--duration`, 10 s by default) and optionally by a request count (`--requests`).
//!
//! Only loopback targets are accepted (127.0.0.0/8, `::1`, `localhost`).
//!
//! ```text
//! cargo run --release -p loadgen -- --url http://127.0.0.1:3000/dir/index.html \
//!     --connections 2 --duration 10 --server-pid "$(pgrep -n server)"
//! ```
//!
//! Run with `--help` for every option.

mod challenge;
mod conn;
mod cpu;
mod digest;
mod options;
mod report;
mod self_test;
mod session;
mod worker;

use std::process::ExitCode;

use crate::options::{Command, USAGE, parse_args};
use crate::report::{measure, print_json, print_text};
use crate::self_test::self_test;

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::SelfTest) => {
            if self_test() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(Command::Run(cfg)) => match measure(&cfg) {
            Ok(summary) => {
                if cfg.json {
                    print_json(&cfg, &summary);
                } else {
                    print_text(&cfg, &summary);
                }
                if cfg.strict && !summary.clean() {
                    eprintln!("loadgen: --strict: the run had errors, rejections or no success");
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("loadgen: {e}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::Challenge;
    use crate::options::{Algorithm, Config};
    use crate::session::Session;

    fn config(args: &[&str]) -> Config {
        match parse_args(args.iter().map(|&a| a.to_owned())) {
            Ok(Command::Run(config)) => *config,
            _ => panic!("arguments should parse: {args:?}"),
        }
    }

    #[test]
    fn a_decoy_request_differs_only_in_the_header_name() {
        let challenge = Challenge {
            scheme: "Digest".into(),
            params: vec![
                ("realm".into(), "http-auth@example.org".into()),
                ("nonce".into(), "abcdefghijklmnop".into()),
                ("qop".into(), "auth".into()),
                ("algorithm".into(), "MD5".into()),
            ],
        };
        let md5 = Algorithm::parse("MD5").unwrap();
        let real = config(&["--url", "http://127.0.0.1:3000/dir/index.html"]);
        let decoy = config(&[
            "--url",
            "http://127.0.0.1:3000/dir/index.html",
            "--decoy-from",
            "http://127.0.0.1:3001/dir/index.html",
        ]);
        let (mut real_session, mut decoy_session) = (
            Session::new(&real, &challenge, md5, true),
            Session::new(&decoy, &challenge, md5, true),
        );
        let (mut real_request, mut decoy_request) = (Vec::new(), Vec::new());
        real_session.next_request(&mut real_request);
        decoy_session.next_request(&mut decoy_request);
        let (real_request, decoy_request) = (
            String::from_utf8(real_request).unwrap(),
            String::from_utf8(decoy_request).unwrap(),
        );
        // Same length: the open route reads as many bytes as the protected one.
        assert_eq!(real_request.len(), decoy_request.len());
        assert!(real_request.contains("\r\nAuthorization: Digest username=\"Mufasa\""));
        assert!(decoy_request.contains("\r\nX-Auth-Digest: Digest username=\"Mufasa\""));
        assert!(!decoy_request.contains("Authorization"));
        // The cnonce (and so the response) is random per session; the rest matches.
        let shape = |r: &str| {
            r.replace("Authorization", "X-Auth-Digest")
                .split(", ")
                .filter(|p| !p.starts_with("cnonce=") && !p.starts_with("response="))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(shape(&real_request), shape(&decoy_request));
    }

    #[test]
    fn decoy_excludes_no_auth_and_rspauth_checks() {
        for extra in ["--no-auth", "--verify-rspauth"] {
            let args = ["--decoy-from", "http://127.0.0.1:1/", extra];
            assert!(parse_args(args.iter().map(|&a| a.to_owned())).is_err());
        }
        let args = ["--decoy-from", "http://192.0.2.1/"];
        assert!(
            parse_args(args.iter().map(|&a| a.to_owned())).is_err(),
            "a decoy source off loopback is refused like any target"
        );
    }
}
