//! Raw sockets against the example server started through `server::serve`, as its binary does:
//! IP binding, replay under concurrency, algorithm binding and malformed headers. Answers are
//! computed by the suite's own digest code (`interop/digest.rs`).

use std::sync::Arc;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::digest::check_authentication_info;
use crate::server::ServerOptions;
use crate::support::{
    Challenge, LOCALHOST, PASSWORD, PROTECTED, RawResponse, SECOND_LOOPBACK, authorization_for,
    connect_from, fetch_challenge, get_request, raw_request, start_plain_server, try_exchange_on,
};

/// A 200 whose `Authentication-Info` matches the answer we sent.
fn assert_verified(response: &RawResponse, authorization: &str) {
    assert_eq!(response.status, 200, "{response:?}");
    let info = response
        .header("authentication-info")
        .unwrap_or_else(|| panic!("no Authentication-Info: {response:?}"));
    if let Err(problem) = check_authentication_info(authorization, info, PASSWORD) {
        panic!("{problem}");
    }
}

/// A 401 with a fresh challenge that does not claim the nonce is merely stale.
fn assert_refused_not_stale(response: &RawResponse) {
    assert_eq!(response.status, 401, "{response:?}");
    let challenges = response.all("www-authenticate");
    assert!(
        !challenges.is_empty(),
        "401 without a challenge: {response:?}"
    );
    assert!(
        challenges
            .iter()
            .all(|c| !c.to_ascii_lowercase().contains("stale=true")),
        "{response:?}"
    );
}

async fn get_with(source: std::net::IpAddr, addr: std::net::SocketAddr, auth: &str) -> RawResponse {
    raw_request(source, addr, &get_request(PROTECTED, Some(auth.as_bytes()))).await
}

/// A 401 whose challenges say `stale=true`: the client retries without asking its user.
fn assert_refused_stale(response: &RawResponse) {
    assert_eq!(response.status, 401, "{response:?}");
    let challenges = response.all("www-authenticate");
    assert!(
        !challenges.is_empty()
            && challenges
                .iter()
                .all(|c| c.to_ascii_lowercase().contains("stale=true")),
        "{response:?}"
    );
}

#[tokio::test]
async fn raw_nonce_from_127_0_0_1_replayed_from_127_0_0_2_gets_401() {
    let addr = start_plain_server(ServerOptions::default()).await;
    let challenge = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;

    let first = authorization_for(&challenge, "SHA-256", PROTECTED, 1);
    assert_verified(&get_with(LOCALHOST, addr, &first).await, &first);

    // Same nonce, a new nc and a correct response, but from another address: never
    // accepted, but stale (the client moved; it retries with a nonce for its address).
    let elsewhere = authorization_for(&challenge, "SHA-256", PROTECTED, 2);
    assert_refused_stale(&get_with(SECOND_LOOPBACK, addr, &elsewhere).await);
    // The same answer sent verbatim from the second address is refused as well.
    assert_refused_stale(&get_with(SECOND_LOOPBACK, addr, &first).await);

    // The nonce still works for the address it was issued to.
    let again = authorization_for(&challenge, "SHA-256", PROTECTED, 3);
    assert_verified(&get_with(LOCALHOST, addr, &again).await, &again);
}

#[tokio::test]
async fn raw_sha256_nonce_answered_with_md5_gets_401() {
    let addr = start_plain_server(ServerOptions::default()).await;
    let challenge = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;

    // A correct MD5 answer, fresh nc, on a nonce that came with the SHA-256 challenge.
    let downgraded = authorization_for(&challenge, "MD5", PROTECTED, 1);
    assert_refused_not_stale(&get_with(LOCALHOST, addr, &downgraded).await);

    let proper = authorization_for(&challenge, "SHA-256", PROTECTED, 2);
    assert_verified(&get_with(LOCALHOST, addr, &proper).await, &proper);
}

#[tokio::test]
async fn raw_one_nonce_and_nc_sent_on_16_connections_at_once_succeeds_exactly_once() {
    const CONNECTIONS: usize = 16;
    let addr = start_plain_server(ServerOptions::default()).await;
    let challenge = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;
    let authorization = authorization_for(&challenge, "SHA-256", PROTECTED, 1);
    let request = Arc::new(get_request(PROTECTED, Some(authorization.as_bytes())));

    // Connect everything first, then release all the writes together.
    let barrier = Arc::new(Barrier::new(CONNECTIONS));
    let mut tasks = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let stream = connect_from(LOCALHOST, addr).await;
        let (barrier, request) = (barrier.clone(), request.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            try_exchange_on(stream, &request).await
        });
    }
    let mut responses = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        responses.push(joined.expect("task").unwrap_or_else(|p| panic!("{p}")));
    }

    let (accepted, refused): (Vec<_>, Vec<_>) = responses.iter().partition(|r| r.status == 200);
    assert_eq!(accepted.len(), 1, "exactly one success: {responses:#?}");
    assert_verified(accepted[0], &authorization);
    assert_eq!(refused.len(), CONNECTIONS - 1);
    for response in refused {
        assert_refused_not_stale(response);
    }
}

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("fits")).expect("fits")
    }

    fn byte_in(&mut self, low: u8, high: u8) -> u8 {
        low + u8::try_from(self.below(usize::from(high - low) + 1)).expect("fits")
    }
}

/// Headers that are wrong in ways a parser must survive: structural mistakes that a bit of
/// mutation then makes worse.
fn structural_cases(c: &Challenge) -> Vec<String> {
    let n = &c.nonce;
    let o = &c.opaque;
    let good = format!(
        "username=\"Mufasa\", realm=\"http-auth@example.org\", nonce=\"{n}\", uri=\"{PROTECTED}\", \
         algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"abc\", opaque=\"{o}\""
    );
    let response = "response=\"0000000000000000000000000000000000000000000000000000000000000000\"";
    vec![
        String::new(),
        "Digest".to_owned(),
        "Digest ".to_owned(),
        "Digest ,,,,,,".to_owned(),
        "Digest =".to_owned(),
        "Digest =\"x\"".to_owned(),
        "Digest username".to_owned(),
        "Digest username=".to_owned(),
        "Digest username=\"".to_owned(),
        "Digest username=\"\\".to_owned(),
        "Digest \"username\"=\"Mufasa\"".to_owned(),
        format!("Digest {good}"),
        format!("Digest {good}, {response}, {response}"),
        format!("Digest {good}, username=\"Mufasa\", {response}"),
        format!("Digest {good}, username*=UTF-8''Mufasa, {response}"),
        format!("Digest {good}, {response}").replace("qop=auth", "qop=auth-int"),
        format!("Digest {good}, {response}").replace("qop=auth, ", ""),
        format!("Digest {good}, {response}").replace("nc=00000001", "nc=zzzzzzzz"),
        format!("Digest {good}, {response}").replace("nc=00000001", "nc=1ffffffffffffffffffff"),
        format!("Digest {good}, {response}").replace("nc=00000001", "nc=-1"),
        format!("Digest {good}, {response}").replace("SHA-256", "SHA-512-256"),
        format!("Digest {good}, {response}").replace("http-auth@example.org", "evil@example.org"),
        format!("Digest {good}, {response}").replace(o.as_str(), "not-our-opaque"),
        format!("Digest {good}, {response}").replace(PROTECTED, "/somewhere/else"),
        format!("Digest {good}, {response}").replace(n.as_str(), "AAAA"),
        format!("Digest {good}, {response}").replace(n.as_str(), "%%%not-base64%%%"),
        format!("Digest {good}, {response}").replace("username=\"Mufasa\", ", ""),
        format!("Digest {good}, {response}").replace(", ", ","),
        format!("Digest {good}, {response}").replace('=', " = "),
        format!(
            "Digest {}, {response}",
            good.replace("username=\"Mufasa\"", "username*=UTF-8''%FF%FE%ZZ")
        ),
        format!("Digest {}", "a=b, ".repeat(500)),
        format!("Basic {good}"),
        format!("DIGEST{good}"),
        format!("Digest {good}, {response}, {}", "x=\"".repeat(50)),
    ]
}

/// The `index`-th malformed `Authorization` value (bytes: it need not be text).
fn malformed_header(index: usize, rng: &mut Generator, cases: &[String]) -> Vec<u8> {
    let base = cases[rng.below(cases.len())].clone().into_bytes();
    let mut header = match index % 7 {
        // Truncated at a random point.
        0 => base[..rng.below(base.len() + 1)].to_vec(),
        // Oversized: one huge value, up to 128 KiB.
        1 => {
            let size = 1024 + rng.below(127 * 1024);
            let mut h = b"Digest username=\"".to_vec();
            h.extend(std::iter::repeat_n(b'a', size));
            h.extend_from_slice(b"\", ");
            h.extend_from_slice(&base);
            h
        }
        // Control bytes (CR and LF too) dropped at random places.
        2 => {
            let mut h = base;
            for _ in 0..=rng.below(3) {
                let byte = if rng.below(8) == 0 {
                    0x7f
                } else {
                    rng.byte_in(0, 0x1f)
                };
                let at = rng.below(h.len() + 1);
                h.insert(at, byte);
            }
            h
        }
        // Bytes that are not UTF-8.
        3 => {
            let mut h = base;
            for _ in 0..=rng.below(4) {
                let byte = rng.byte_in(0x80, 0xff);
                let at = rng.below(h.len() + 1);
                h.insert(at, byte);
            }
            h
        }
        // Unbalanced quotes and dangling escapes.
        4 => {
            let mut h = base;
            let quotes: Vec<usize> = (0..h.len()).filter(|&i| h[i] == b'"').collect();
            match rng.below(3) {
                0 if !quotes.is_empty() => {
                    h.remove(quotes[rng.below(quotes.len())]);
                }
                1 => {
                    let at = rng.below(h.len() + 1);
                    h.insert(at, b'"');
                }
                _ => h.extend_from_slice(b", cnonce=\"abc\\"),
            }
            h
        }
        // Random printable and non-printable junk after the scheme.
        5 => {
            let mut h = b"Digest ".to_vec();
            for _ in 0..rng.below(600) {
                h.push(rng.byte_in(0x20, 0xff));
            }
            h
        }
        // Thousands of parameters.
        _ => {
            let mut h = b"Digest ".to_vec();
            for i in 0..(200 + rng.below(3000)) {
                h.extend_from_slice(format!("p{i}=v{i}, ").as_bytes());
            }
            h.extend_from_slice(&base);
            h
        }
    };
    // A CR or LF in the value ends the header line early: that is malformed input too, and
    // `Connection: close` comes first, so whatever follows cannot be read as a second request.
    header.truncate(200 * 1024);
    header
}

fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).into_owned();
    format!("{text:?} ({} bytes)", bytes.len())
}

#[tokio::test]
async fn raw_1000_malformed_authorization_headers_each_get_4xx_and_the_server_carries_on() {
    const CASES: usize = 1000;
    const IN_FLIGHT: usize = 16;
    let addr = start_plain_server(ServerOptions::default()).await;
    let challenge = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;
    let cases = structural_cases(&challenge);
    let mut rng = Generator(0x5eed_d16e_57a0_7616);
    let headers: Vec<Vec<u8>> = (0..CASES)
        .map(|i| malformed_header(i, &mut rng, &cases))
        .collect();

    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (batch_start, batch) in headers.chunks(IN_FLIGHT).enumerate() {
        let mut tasks = JoinSet::new();
        for (offset, header) in batch.iter().enumerate() {
            let index = batch_start * IN_FLIGHT + offset;
            let request = get_request(PROTECTED, Some(header));
            tasks.spawn(async move {
                let stream = connect_from(LOCALHOST, addr).await;
                (index, try_exchange_on(stream, &request).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (index, result) = joined.expect("task");
            match result {
                Ok(response) if (400..500).contains(&response.status) => {
                    *statuses.entry(response.status).or_default() += 1;
                }
                Ok(response) => failures.push(format!(
                    "#{index} {}: status {}",
                    printable(&headers[index]),
                    response.status
                )),
                Err(problem) => {
                    failures.push(format!(
                        "#{index} {}: {problem}",
                        printable(&headers[index])
                    ));
                }
            }
        }
    }
    eprintln!("malformed Authorization headers, answers by status: {statuses:?}");
    assert!(
        failures.is_empty(),
        "{} of {CASES} malformed headers did not get a 4xx; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );

    // The server is unharmed: the public page and a proper login both work.
    let public = raw_request(LOCALHOST, addr, &get_request("/", None)).await;
    assert_eq!(public.status, 200, "{public:?}");
    assert!(public.body.starts_with(b"Public page"), "{public:?}");
    let fresh = fetch_challenge(LOCALHOST, addr, PROTECTED, "SHA-256").await;
    let good = authorization_for(&fresh, "SHA-256", PROTECTED, 1);
    assert_verified(&get_with(LOCALHOST, addr, &good).await, &good);
}
