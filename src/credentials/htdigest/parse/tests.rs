//! The parser's quirks, one test each.
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
