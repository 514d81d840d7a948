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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rand::RngCore;
use sha2::Sha256;

const USAGE: &str = "\
digest load generator (loopback targets only)

USAGE: loadgen [OPTIONS]

OPTIONS:
  --url URL             target, http://HOST[:PORT]/PATH with HOST loopback
                        [default: http://127.0.0.1:3000/dir/index.html]
  --connections N       connections, one thread each [default: 2]
  --duration SECS       stop after this many seconds (fractions allowed) [default: 10]
  --requests N          stop after this many requests in total (handshakes included)
  --user NAME           [default: Mufasa]
  --password PASS       [default: Circle of Life]
  --algorithm ALG       answer the challenge with this algorithm (MD5, SHA-256, MD5-sess,
                        SHA-256-sess) [default: the first offered that we support]
  --nonce-reuse N       authenticated requests per nonce before a new handshake
                        [default: unlimited]
  --no-auth             send plain GETs only (open-server baseline, or a challenge flood)
  --decoy-from URL      matched baseline for an open --url: answer a challenge fetched
                        from URL (the protected twin) exactly as usual, but send the
                        header as `X-Auth-Digest` (as long as `Authorization`), so the
                        open route gets the same bytes and the client does the same work
  --verify-rspauth      check rspauth in Authentication-Info on every 2xx
  --server-pid PID      measure the CPU time of PID and its descendants (from /proc)
  --timeout SECS        per-response read timeout [default: 5]
  --label TEXT          free text copied into the report
  --json                print the report as one JSON object
  --strict              exit with status 1 on any error, rejected 401, other status,
                        bad rspauth, or when no request succeeded
  --self-test           check the digest code against the RFC 7616 / RFC 2617 vectors and exit
  -h, --help            this text
";

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Md5,
    Sha256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Algorithm {
    hash: Hash,
    sess: bool,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Self> {
        let (base, sess) = match s.len().checked_sub(5) {
            Some(i) if s.is_char_boundary(i) && s[i..].eq_ignore_ascii_case("-sess") => {
                (&s[..i], true)
            }
            _ => (s, false),
        };
        let hash = if base.eq_ignore_ascii_case("MD5") {
            Hash::Md5
        } else if base.eq_ignore_ascii_case("SHA-256") {
            Hash::Sha256
        } else {
            return None;
        };
        Some(Self { hash, sess })
    }

    fn name(self) -> &'static str {
        match (self.hash, self.sess) {
            (Hash::Md5, false) => "MD5",
            (Hash::Md5, true) => "MD5-sess",
            (Hash::Sha256, false) => "SHA-256",
            (Hash::Sha256, true) => "SHA-256-sess",
        }
    }
}

#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
struct Config {
    url: String,
    authority: String,
    addr: SocketAddr,
    path: String,
    connections: usize,
    duration: Duration,
    max_requests: u64,
    user: String,
    password: String,
    algorithm: Option<Algorithm>,
    nonce_reuse: u64,
    no_auth: bool,
    /// Where the decoy challenges come from: (authority, address).
    decoy_from: Option<(String, SocketAddr)>,
    verify_rspauth: bool,
    server_pid: Option<u32>,
    timeout: Duration,
    label: String,
    json: bool,
    strict: bool,
}

enum Command {
    Run(Box<Config>),
    Help,
    SelfTest,
}

fn parse_secs(flag: &str, v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("{flag}: not a number of seconds: {v:?}"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("{flag}: must be in (0, 86400] seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_count(flag: &str, v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: expected a positive integer, got {v:?}")),
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut url = "http://127.0.0.1:3000/dir/index.html".to_owned();
    let mut connections = 2_u64;
    let mut duration = Duration::from_secs(10);
    let mut max_requests = u64::MAX;
    let mut user = "Mufasa".to_owned();
    let mut password = "Circle of Life".to_owned();
    let mut algorithm = None;
    let mut nonce_reuse = u64::MAX;
    let mut no_auth = false;
    let mut decoy_from = None;
    let mut verify_rspauth = false;
    let mut server_pid = None;
    let mut timeout = Duration::from_secs(5);
    let mut label = String::new();
    let mut json = false;
    let mut strict = false;

    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag}: missing value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--self-test" => return Ok(Command::SelfTest),
            "--url" => url = value()?,
            "--connections" | "-c" => {
                connections = parse_count(&flag, &value()?)?;
                if connections > 1024 {
                    return Err("--connections: at most 1024".into());
                }
            }
            "--duration" | "-d" => duration = parse_secs(&flag, &value()?)?,
            "--requests" | "-n" => max_requests = parse_count(&flag, &value()?)?,
            "--user" => user = value()?,
            "--password" => password = value()?,
            "--algorithm" => {
                let v = value()?;
                algorithm = Some(
                    Algorithm::parse(&v)
                        .ok_or_else(|| format!("--algorithm: unsupported algorithm {v:?}"))?,
                );
            }
            "--nonce-reuse" => nonce_reuse = parse_count(&flag, &value()?)?,
            "--no-auth" => no_auth = true,
            "--decoy-from" => {
                let (authority, addr, _) = parse_url(&value()?)?;
                decoy_from = Some((authority, addr));
            }
            "--verify-rspauth" => verify_rspauth = true,
            "--server-pid" => {
                let v = value()?;
                let pid: u32 = v
                    .parse()
                    .map_err(|_| format!("--server-pid: not a pid: {v:?}"))?;
                server_pid = Some(pid);
            }
            "--timeout" => timeout = parse_secs(&flag, &value()?)?,
            "--label" => label = value()?,
            "--json" => json = true,
            "--strict" => strict = true,
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }

    let (authority, addr, path) = parse_url(&url)?;
    if no_auth && decoy_from.is_some() {
        return Err("--no-auth and --decoy-from exclude each other".into());
    }
    if verify_rspauth && decoy_from.is_some() {
        return Err("--verify-rspauth and --decoy-from exclude each other".into());
    }
    Ok(Command::Run(Box::new(Config {
        url,
        authority,
        addr,
        path,
        connections: usize::try_from(connections).map_err(|e| e.to_string())?,
        duration,
        max_requests,
        user,
        password,
        algorithm,
        nonce_reuse,
        no_auth,
        decoy_from,
        verify_rspauth,
        server_pid,
        timeout,
        label,
        json,
        strict,
    })))
}

/// Splits `http://host[:port]/path` and resolves the host, refusing anything not on loopback.
fn parse_url(url: &str) -> Result<(String, SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url: only http:// URLs are supported, got {url:?}"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if authority.contains('@') {
        return Err("--url: user info in the URL is not supported; use --user/--password".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("--url: bad IPv6 literal in {authority:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => "80",
            None => return Err(format!("--url: bad authority {authority:?}")),
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "80"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("--url: bad port {port:?}"))?;
    let refuse = || {
        format!(
            "refusing target host {host:?}: this load generator only sends to loopback \
             (127.0.0.0/8, ::1, localhost)"
        )
    };
    let addr = if let Ok(ip) = host.parse::<IpAddr>() {
        if !ip.is_loopback() {
            return Err(refuse());
        }
        SocketAddr::new(ip, port)
    } else if host.eq_ignore_ascii_case("localhost") {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve localhost: {e}"))?
            .collect();
        // Every address the name maps to must be loopback, not just the first.
        if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(refuse());
        }
        addrs[0]
    } else {
        return Err(refuse());
    };
    Ok((authority.to_owned(), addr, path))
}

// ---------------------------------------------------------------------------------------------
// Digest computation (independent of the library)

fn to_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// Hex digest of the parts, fed one after another (the caller puts the colons in).
fn hash_parts(hash: Hash, parts: &[&[u8]]) -> String {
    let mut out = Vec::with_capacity(64);
    hash_parts_into(hash, parts, &mut out);
    String::from_utf8(out).expect("hex is ASCII")
}

/// Appends the lowercase hex digest of the parts to `out` (no allocation on the hot path).
fn hash_parts_into(hash: Hash, parts: &[&[u8]], out: &mut Vec<u8>) {
    fn run<D: Digest>(parts: &[&[u8]], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        for b in d.finalize() {
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        }
    }
    match hash {
        Hash::Md5 => run::<Md5>(parts, out),
        Hash::Sha256 => run::<Sha256>(parts, out),
    }
}

/// `nc` as the 8 lowercase hex digits the protocol wants.
fn nc_hex(nc: u32) -> [u8; 8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0_u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((nc >> (28 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// H(a:b:c...) with the colons inserted.
fn hash_joined(hash: Hash, fields: &[&str]) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(fields.len() * 2);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            parts.push(b":");
        }
        parts.push(f.as_bytes());
    }
    hash_parts(hash, &parts)
}

/// HA1 for the algorithm (session variant included).
fn ha1(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
) -> String {
    let base = hash_joined(alg.hash, &[user, realm, password]);
    if alg.sess {
        hash_joined(alg.hash, &[&base, nonce, cnonce])
    } else {
        base
    }
}

// ---------------------------------------------------------------------------------------------
// Challenge parsing (RFC 9110 section 11)

#[derive(Debug, Default)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] == b' ' || self.s[self.i] == b'\t') {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b',') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.i < self.s.len() && is_tchar(self.s[self.i]) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        // At the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' if self.i + 1 < self.s.len() => {
                    out.push(self.s[self.i + 1]);
                    self.i += 2;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
        None
    }
}

/// Parses one header value that may hold several challenges; appends them to `out`.
/// Returns `false` (keeping what was parsed) on malformed input.
fn parse_challenges(value: &[u8], out: &mut Vec<Challenge>) -> bool {
    let mut lx = Lexer { s: value, i: 0 };
    let mut current: Option<Challenge> = None;
    loop {
        lx.skip_ws_commas();
        if lx.peek().is_none() {
            break;
        }
        let Some(word) = lx.token() else {
            out.extend(current);
            return false;
        };
        lx.skip_ws();
        if lx.peek() == Some(b'=') {
            lx.i += 1;
            lx.skip_ws();
            let v = if lx.peek() == Some(b'"') {
                lx.quoted()
            } else {
                lx.token()
            };
            if let (Some(v), Some(c)) = (v, current.as_mut()) {
                c.params.push((word, v));
            } else {
                out.extend(current);
                return false;
            }
        } else {
            // A word not followed by '=' starts a new challenge.
            out.extend(current.take());
            current = Some(Challenge {
                scheme: word,
                params: Vec::new(),
            });
        }
    }
    out.extend(current);
    true
}

/// Parses a bare parameter list (`Authentication-Info`).
fn parse_params(value: &[u8]) -> Vec<(String, String)> {
    let mut v = b"X ".to_vec();
    v.extend_from_slice(value);
    let mut out = Vec::new();
    parse_challenges(&v, &mut out);
    out.into_iter().next().map(|c| c.params).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Session: one answered challenge, reused with nc = 1, 2, 3...

struct Session {
    alg: Algorithm,
    /// The request text up to and including `nc=` (everything that does not change).
    prefix: Vec<u8>,
    /// `HA1:nonce:` — the start of the response hash input.
    resp_pre: Vec<u8>,
    /// `:cnonce:auth:HA2` — the end of it (or `:HA2` without qop).
    resp_post: Vec<u8>,
    /// `:cnonce:auth:H(":" uri)` — for rspauth.
    rspauth_post: Vec<u8>,
    qop: bool,
    nc: u32,
    used: u64,
}

fn push_quoted(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Session {
    fn new(cfg: &Config, ch: &Challenge, alg: Algorithm, qop: bool) -> Self {
        // The decoy header has the same length as `Authorization`, so the open route
        // reads as many bytes as the protected one (and ignores them).
        let header = if cfg.decoy_from.is_some() {
            "X-Auth-Digest"
        } else {
            "Authorization"
        };
        let realm = ch.param("realm").unwrap_or("");
        let nonce = ch.param("nonce").unwrap_or("");
        let mut raw = [0_u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let mut cnonce = String::with_capacity(32);
        to_hex(&raw, &mut cnonce);

        let ha1 = ha1(alg, &cfg.user, realm, &cfg.password, nonce, &cnonce);
        let ha2 = hash_joined(alg.hash, &["GET", &cfg.path]);
        let ha2_rsp = hash_joined(alg.hash, &["", &cfg.path]);

        let mut p = String::with_capacity(512);
        let _ = write!(
            p,
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: digest-loadgen\r\n\
             {header}: Digest username=",
            cfg.path, cfg.authority
        );
        push_quoted(&mut p, &cfg.user);
        p.push_str(", realm=");
        push_quoted(&mut p, realm);
        p.push_str(", nonce=");
        push_quoted(&mut p, nonce);
        p.push_str(", uri=");
        push_quoted(&mut p, &cfg.path);
        let _ = write!(p, ", algorithm={}", alg.name());
        if let Some(opaque) = ch.param("opaque") {
            p.push_str(", opaque=");
            push_quoted(&mut p, opaque);
        }
        if qop {
            let _ = write!(p, ", qop=auth, cnonce=\"{cnonce}\", nc=");
        }
        Self {
            alg,
            prefix: p.into_bytes(),
            resp_pre: format!("{ha1}:{nonce}:").into_bytes(),
            resp_post: if qop {
                format!(":{cnonce}:auth:{ha2}").into_bytes()
            } else {
                format!(":{ha2}").into_bytes()
            },
            rspauth_post: format!(":{cnonce}:auth:{ha2_rsp}").into_bytes(),
            qop,
            nc: 0,
            used: 0,
        }
    }

    /// Writes the next authenticated request into `req`.
    fn next_request(&mut self, req: &mut Vec<u8>) {
        self.nc = self.nc.wrapping_add(1);
        req.clear();
        req.extend_from_slice(&self.prefix);
        if self.qop {
            let nc = nc_hex(self.nc);
            req.extend_from_slice(&nc);
            req.extend_from_slice(b", response=\"");
            hash_parts_into(self.alg.hash, &[&self.resp_pre, &nc, &self.resp_post], req);
        } else {
            req.extend_from_slice(b", response=\"");
            hash_parts_into(self.alg.hash, &[&self.resp_pre, &self.resp_post], req);
        }
        req.extend_from_slice(b"\"\r\n\r\n");
    }

    fn expected_rspauth(&self) -> String {
        hash_parts(
            self.alg.hash,
            &[&self.resp_pre, &nc_hex(self.nc), &self.rspauth_post],
        )
    }
}

/// Picks the challenge to answer: Digest, an algorithm we support (or the one asked for),
/// and `qop` offering `auth` (or no `qop` at all, RFC 2069 style).
fn pick(
    challenges: &[Challenge],
    wanted: Option<Algorithm>,
) -> Option<(&Challenge, Algorithm, bool)> {
    challenges.iter().find_map(|c| {
        if !c.scheme.eq_ignore_ascii_case("Digest") || c.param("nonce").is_none() {
            return None;
        }
        let alg = Algorithm::parse(c.param("algorithm").unwrap_or("MD5"))?;
        if wanted.is_some_and(|w| w != alg) {
            return None;
        }
        let qop = match c.param("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return None;
                }
            }
        };
        Some((c, alg, qop))
    })
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client connection

struct Conn {
    stream: TcpStream,
    keep_auth_info: bool,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

struct Response {
    status: u16,
    challenges: Vec<Challenge>,
    auth_info: Option<Vec<u8>>,
    close: bool,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

impl Conn {
    fn open(cfg: &Config) -> io::Result<Self> {
        Self::open_to(cfg, cfg.addr)
    }

    fn open_to(cfg: &Config, addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, cfg.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cfg.timeout))?;
        stream.set_write_timeout(Some(cfg.timeout))?;
        Ok(Self {
            stream,
            keep_auth_info: cfg.verify_rspauth,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        })
    }

    /// Reads more bytes into the buffer; EOF is an error.
    fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(invalid("response head larger than 64 KiB"));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.end += n;
        Ok(())
    }

    fn skip(&mut self, mut n: usize) -> io::Result<()> {
        loop {
            let avail = self.end - self.start;
            if avail >= n {
                self.start += n;
                return Ok(());
            }
            n -= avail;
            self.start = self.end;
            self.fill()?;
        }
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            self.fill()?;
        }
    }

    fn roundtrip(&mut self, req: &[u8]) -> io::Result<Response> {
        if self.start != self.end {
            return Err(invalid("unexpected bytes before the response"));
        }
        self.stream.write_all(req)?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break self.start + i + 4;
            }
            self.fill()?;
        };
        let head = &self.buf[self.start..head_end - 4];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = lines.next().unwrap_or_default();
        let http10 = status_line.starts_with(b"HTTP/1.0 ");
        if !(status_line.starts_with(b"HTTP/1.1 ") || http10) || status_line.len() < 12 {
            return Err(invalid("bad status line"));
        }
        let status = std::str::from_utf8(&status_line[9..12])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid("bad status code"))?;
        let mut resp = Response {
            status,
            challenges: Vec::new(),
            auth_info: None,
            close: http10,
        };
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(invalid("bad header line"));
            };
            let name = &line[..colon];
            let value = trim(&line[colon + 1..]);
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("bad content-length"))?;
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value
                    .split(|&b| b == b',')
                    .any(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                for t in value.split(|&b| b == b',') {
                    if trim(t).eq_ignore_ascii_case(b"close") {
                        resp.close = true;
                    } else if trim(t).eq_ignore_ascii_case(b"keep-alive") && http10 {
                        resp.close = false;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"www-authenticate") {
                if !parse_challenges(value, &mut resp.challenges) {
                    return Err(invalid("unparsable WWW-Authenticate"));
                }
            } else if self.keep_auth_info && name.eq_ignore_ascii_case(b"authentication-info") {
                resp.auth_info = Some(value.to_vec());
            }
        }
        self.start = head_end;

        if (100..200).contains(&status) || status == 204 || status == 304 {
            // no body
        } else if chunked {
            loop {
                let l = self.line()?;
                let size_text = l.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(trim(size_text))
                    .ok()
                    .and_then(|s| usize::from_str_radix(s, 16).ok())
                    .ok_or_else(|| invalid("bad chunk size"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.skip(size)?;
                if !self.line()?.is_empty() {
                    return Err(invalid("bad chunk end"));
                }
            }
        } else if let Some(n) = content_length {
            self.skip(n)?;
        } else {
            // Body delimited by the end of the connection.
            loop {
                self.start = self.end;
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.close = true;
        }
        if (100..200).contains(&status) {
            // An interim response: the real one follows.
            return self.read_response();
        }
        Ok(resp)
    }
}

// ---------------------------------------------------------------------------------------------
// Workers

#[derive(Default)]
struct Stats {
    responses: u64,
    ok: u64,
    handshake: u64,
    stale: u64,
    rejected: u64,
    other: u64,
    errors: u64,
    connects: u64,
    no_challenge: u64,
    rspauth_ok: u64,
    rspauth_bad: u64,
    rspauth_missing: u64,
    status: BTreeMap<u16, u64>,
    latencies_ns: Vec<u64>,
    error_samples: Vec<String>,
}

impl Stats {
    fn note_error(&mut self, e: &str) {
        self.errors += 1;
        if self.error_samples.len() < 5 && !self.error_samples.iter().any(|s| s == e) {
            self.error_samples.push(e.to_owned());
        }
    }

    fn merge(&mut self, o: Stats) {
        self.responses += o.responses;
        self.ok += o.ok;
        self.handshake += o.handshake;
        self.stale += o.stale;
        self.rejected += o.rejected;
        self.other += o.other;
        self.errors += o.errors;
        self.connects += o.connects;
        self.no_challenge += o.no_challenge;
        self.rspauth_ok += o.rspauth_ok;
        self.rspauth_bad += o.rspauth_bad;
        self.rspauth_missing += o.rspauth_missing;
        for (k, v) in o.status {
            *self.status.entry(k).or_default() += v;
        }
        self.latencies_ns.extend(o.latencies_ns);
        for e in o.error_samples {
            if self.error_samples.len() < 5 && !self.error_samples.contains(&e) {
                self.error_samples.push(e);
            }
        }
    }
}

#[allow(clippy::too_many_lines)] // one request cycle, read top to bottom
fn worker(cfg: &Config, issued: &AtomicU64, deadline: Instant) -> Stats {
    let mut st = Stats {
        latencies_ns: Vec::with_capacity(1 << 16),
        ..Stats::default()
    };
    let mut conn: Option<Conn> = None;
    let mut session: Option<Session> = None;
    let mut req = Vec::with_capacity(1024);
    let plain = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: digest-loadgen\r\n\r\n",
        cfg.path, cfg.authority
    )
    .into_bytes();

    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(cfg) {
                Ok(c) => {
                    st.connects += 1;
                    conn.insert(c)
                }
                Err(e) => {
                    st.note_error(&format!("connect: {e}"));
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        if issued.fetch_add(1, Ordering::Relaxed) >= cfg.max_requests {
            break;
        }
        if session.as_ref().is_some_and(|s| s.used >= cfg.nonce_reuse) {
            session = None;
        }
        if session.is_none() && cfg.decoy_from.is_some() {
            match decoy_session(cfg, &mut st) {
                Some(decoy) => session = Some(decoy),
                None => continue,
            }
        }
        let authed = match session.as_mut() {
            Some(s) if !cfg.no_auth => {
                s.next_request(&mut req);
                true
            }
            _ => {
                req.clear();
                req.extend_from_slice(&plain);
                false
            }
        };

        let t0 = Instant::now();
        let result = c.roundtrip(&req);
        let elapsed = t0.elapsed();
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                st.note_error(&format!("request: {e}"));
                conn = None;
                continue;
            }
        };
        st.responses += 1;
        st.latencies_ns
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        *st.status.entry(resp.status).or_default() += 1;

        match resp.status {
            200..=299 => {
                st.ok += 1;
                if let (true, Some(s)) = (authed, session.as_mut()) {
                    s.used += 1;
                    if cfg.verify_rspauth {
                        check_rspauth(s, resp.auth_info.as_deref(), &mut st);
                    }
                }
            }
            401 => {
                let picked = pick(&resp.challenges, cfg.algorithm);
                if !authed {
                    st.handshake += 1;
                } else if picked.is_some_and(|(c, _, _)| {
                    c.param("stale")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                }) {
                    st.stale += 1;
                } else {
                    st.rejected += 1;
                }
                session = match picked {
                    Some((c, alg, qop)) if !cfg.no_auth => Some(Session::new(cfg, c, alg, qop)),
                    Some(_) => None,
                    None => {
                        st.no_challenge += 1;
                        None
                    }
                };
            }
            _ => st.other += 1,
        }
        if resp.close {
            conn = None;
        }
    }
    st
}

/// A session for the matched baseline: the challenge comes from the protected twin, over
/// a connection of its own, so the measured connection carries only the decoy requests.
fn decoy_session(cfg: &Config, st: &mut Stats) -> Option<Session> {
    let (authority, addr) = cfg.decoy_from.as_ref()?;
    match fetch_decoy_session(cfg, authority, *addr) {
        Ok(session) => Some(session),
        Err(e) => {
            st.note_error(&format!("decoy challenge: {e}"));
            thread::sleep(Duration::from_millis(20));
            None
        }
    }
}

fn fetch_decoy_session(cfg: &Config, authority: &str, addr: SocketAddr) -> io::Result<Session> {
    let mut conn = Conn::open_to(cfg, addr)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: digest-loadgen\r\n\r\n",
        cfg.path
    );
    let response = conn.roundtrip(request.as_bytes())?;
    if response.status != 401 {
        return Err(invalid("the decoy source did not answer 401"));
    }
    let (challenge, alg, qop) = pick(&response.challenges, cfg.algorithm)
        .ok_or_else(|| invalid("no usable challenge from the decoy source"))?;
    Ok(Session::new(cfg, challenge, alg, qop))
}

fn check_rspauth(s: &Session, info: Option<&[u8]>, st: &mut Stats) {
    let Some(info) = info else {
        st.rspauth_missing += 1;
        return;
    };
    let params = parse_params(info);
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    match get("rspauth") {
        None => st.rspauth_missing += 1,
        Some(r) => {
            let nc_ok = get("nc").is_none_or(|nc| u32::from_str_radix(nc, 16) == Ok(s.nc));
            if nc_ok && r.eq_ignore_ascii_case(&s.expected_rspauth()) {
                st.rspauth_ok += 1;
            } else {
                st.rspauth_bad += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CPU time of a process tree, from /proc

/// utime + stime + cutime + cstime (clock ticks) of `pid` and all its descendants.
fn tree_cpu_ticks(pid: u32) -> io::Result<u64> {
    let mut procs: Vec<(u32, u32, u64)> = Vec::new(); // (pid, ppid, ticks)
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue; // exited meanwhile
        };
        if let Some((ppid, ticks)) = parse_stat(&stat) {
            procs.push((p, ppid, ticks));
        }
    }
    if !procs.iter().any(|&(p, _, _)| p == pid) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no process {pid}"),
        ));
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            procs
                .iter()
                .filter(|&&(_, pp, _)| pp == parent)
                .map(|&(p, _, _)| p),
        );
        i += 1;
    }
    Ok(procs
        .iter()
        .filter(|(p, _, _)| tree.contains(p))
        .map(|&(_, _, t)| t)
        .sum())
}

/// From `/proc/PID/stat`: (ppid, utime + stime + cutime + cstime).
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state): field N is f[N - 3].
    let ppid = f.get(1)?.parse().ok()?;
    let mut ticks = 0_u64;
    for n in 14..=17 {
        ticks += f.get(n - 3)?.parse::<i64>().ok()?.unsigned_abs();
    }
    Some((ppid, ticks))
}

fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat).map(|(_, t)| t)
}

/// Busy time of the whole machine (all CPUs, clock ticks), from the first line of `/proc/stat`.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_ascii_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    Some(
        f.iter()
            .take(8)
            .enumerate()
            .filter(|&(i, _)| i != 3 && i != 4)
            .map(|(_, v)| v)
            .sum(),
    )
}

fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------------------------
// Report

#[allow(clippy::cast_precision_loss)] // counts and nanoseconds far below 2^52
fn as_f64(v: u64) -> f64 {
    v as f64
}

fn percentile_us(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = (sorted.len() * p / 100).min(sorted.len() - 1);
    as_f64(sorted[idx]) / 1000.0
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

struct CpuReport {
    secs: f64,
    us_per_req: f64,
    util: f64,
}

struct Summary {
    total: Stats,
    wall: f64,
    rps: f64,
    p50: f64,
    p99: f64,
    mean: f64,
    max: f64,
    cpu: Option<CpuReport>,
    client_us: Option<f64>,
    client_util: Option<f64>,
    machine_busy: Option<f64>,
}

impl Summary {
    fn clean(&self) -> bool {
        let t = &self.total;
        t.errors == 0
            && t.rejected == 0
            && t.other == 0
            && t.rspauth_bad == 0
            && t.no_challenge == 0
            && t.ok > 0
    }
}

/// Runs the load and gathers the figures.
fn measure(cfg: &Config) -> Result<Summary, String> {
    let clk = as_f64(clock_ticks_per_sec());
    let issued = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(cfg.connections + 1));
    let shared_cfg = Arc::new(cfg.clone());
    let deadline_slot = Arc::new(std::sync::OnceLock::<Instant>::new());

    let handles: Vec<_> = (0..cfg.connections)
        .map(|_| {
            let (cfg, issued, barrier, slot) = (
                Arc::clone(&shared_cfg),
                Arc::clone(&issued),
                Arc::clone(&barrier),
                Arc::clone(&deadline_slot),
            );
            thread::spawn(move || {
                barrier.wait();
                let deadline = *slot.get().expect("deadline set before the barrier");
                worker(&cfg, &issued, deadline)
            })
        })
        .collect();

    let server_before = match cfg.server_pid {
        Some(pid) => Some(tree_cpu_ticks(pid).map_err(|e| format!("--server-pid {pid}: {e}"))?),
        None => None,
    };
    let own_before = own_cpu_ticks();
    let machine_before = machine_busy_ticks();
    let start = Instant::now();
    let _ = deadline_slot.set(start + cfg.duration);
    barrier.wait();
    let mut total = Stats::default();
    for h in handles {
        total.merge(
            h.join()
                .map_err(|_| "a worker thread panicked".to_owned())?,
        );
    }
    let wall = start.elapsed().as_secs_f64();
    let own_after = own_cpu_ticks();
    let machine_after = machine_busy_ticks();
    let cpu = match (cfg.server_pid, server_before) {
        (Some(pid), Some(before)) => {
            let after = tree_cpu_ticks(pid).map_err(|e| format!("--server-pid {pid}: {e}"))?;
            let secs = as_f64(after.saturating_sub(before)) / clk;
            Some(CpuReport {
                secs,
                us_per_req: if total.responses > 0 {
                    secs * 1e6 / as_f64(total.responses)
                } else {
                    0.0
                },
                util: secs / wall,
            })
        }
        _ => None,
    };
    let client_util = match (own_before, own_after) {
        (Some(b), Some(a)) => Some(as_f64(a.saturating_sub(b)) / clk / wall),
        _ => None,
    };
    let machine_busy = match (machine_before, machine_after) {
        (Some(b), Some(a)) => Some(as_f64(a.saturating_sub(b)) / clk / wall),
        _ => None,
    };
    let client_us = match (own_before, own_after) {
        (Some(b), Some(a)) if total.responses > 0 => {
            Some(as_f64(a.saturating_sub(b)) / clk * 1e6 / as_f64(total.responses))
        }
        _ => None,
    };

    let mut lat = std::mem::take(&mut total.latencies_ns);
    lat.sort_unstable();
    let mean = if lat.is_empty() {
        0.0
    } else {
        as_f64(lat.iter().sum::<u64>()) / as_f64(lat.len() as u64) / 1000.0
    };
    Ok(Summary {
        rps: as_f64(total.responses) / wall,
        p50: percentile_us(&lat, 50),
        p99: percentile_us(&lat, 99),
        mean,
        max: lat.last().map_or(0.0, |&v| as_f64(v) / 1000.0),
        total,
        wall,
        cpu,
        client_us,
        client_util,
        machine_busy,
    })
}

fn print_json(cfg: &Config, s: &Summary) {
    let t = &s.total;
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"label\":{},\"url\":{},\"mode\":{},\"algorithm\":{},\"connections\":{},\
         \"duration_s\":{:.3},\"requests\":{},\"rps\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\
         \"mean_us\":{:.1},\"max_us\":{:.1},\"ok_2xx\":{},\"handshake_401\":{},\"stale_401\":{},\
         \"rejected_401\":{},\"other_status\":{},\"errors\":{},\"connects\":{},\
         \"no_usable_challenge\":{}",
        json_str(&cfg.label),
        json_str(&cfg.url),
        json_str(if cfg.no_auth { "no-auth" } else { "digest" }),
        json_str(cfg.algorithm.map_or("first-offered", Algorithm::name)),
        cfg.connections,
        s.wall,
        t.responses,
        s.rps,
        s.p50,
        s.p99,
        s.mean,
        s.max,
        t.ok,
        t.handshake,
        t.stale,
        t.rejected,
        t.other,
        t.errors,
        t.connects,
        t.no_challenge,
    );
    if cfg.verify_rspauth {
        let _ = write!(
            o,
            ",\"rspauth_ok\":{},\"rspauth_bad\":{},\"rspauth_missing\":{}",
            t.rspauth_ok, t.rspauth_bad, t.rspauth_missing
        );
    }
    o.push_str(",\"status\":{");
    for (i, (k, v)) in t.status.iter().enumerate() {
        let _ = write!(o, "{}\"{k}\":{v}", if i > 0 { "," } else { "" });
    }
    o.push('}');
    if let Some(c) = &s.cpu {
        let _ = write!(
            o,
            ",\"server_pid\":{},\"server_cpu_s\":{:.3},\"server_cpu_us_per_req\":{:.2},\
             \"server_cpu_util\":{:.3}",
            cfg.server_pid.unwrap_or(0),
            c.secs,
            c.us_per_req,
            c.util
        );
    }
    if let Some(c) = s.client_us {
        let _ = write!(o, ",\"client_cpu_us_per_req\":{c:.2}");
    }
    if let Some(c) = s.client_util {
        let _ = write!(o, ",\"client_cpu_util\":{c:.3}");
    }
    if let Some(c) = s.machine_busy {
        let _ = write!(o, ",\"machine_busy_cores\":{c:.3}");
    }
    o.push_str(",\"error_samples\":[");
    for (i, e) in t.error_samples.iter().enumerate() {
        let _ = write!(o, "{}{}", if i > 0 { "," } else { "" }, json_str(e));
    }
    let _ = write!(o, "],\"clean\":{}}}", s.clean());
    println!("{o}");
}

fn print_text(cfg: &Config, s: &Summary) {
    let t = &s.total;
    if !cfg.label.is_empty() {
        println!("label:        {}", cfg.label);
    }
    let mode = if cfg.no_auth {
        "no auth".to_owned()
    } else {
        format!(
            "digest, {}",
            cfg.algorithm
                .map_or("first offered algorithm", Algorithm::name)
        )
    };
    println!(
        "target:       {} ({}, {} connection(s), {mode})",
        cfg.url, cfg.addr, cfg.connections
    );
    println!("duration:     {:.2} s", s.wall);
    println!("requests:     {} ({:.0} req/s)", t.responses, s.rps);
    println!(
        "latency:      p50 {:.1} µs, p99 {:.1} µs, mean {:.1} µs, max {:.1} µs",
        s.p50, s.p99, s.mean, s.max
    );
    println!(
        "responses:    2xx {}, handshake 401 {}, stale 401 {}, rejected 401 {}, other {}",
        t.ok, t.handshake, t.stale, t.rejected, t.other
    );
    let codes: Vec<String> = t.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("status codes: {}", codes.join(", "));
    println!(
        "errors:       {} (connections opened: {}, 401 without a usable challenge: {})",
        t.errors, t.connects, t.no_challenge
    );
    for e in &t.error_samples {
        println!("  e.g. {e}");
    }
    if cfg.verify_rspauth {
        println!(
            "rspauth:      ok {}, bad {}, missing {}",
            t.rspauth_ok, t.rspauth_bad, t.rspauth_missing
        );
    }
    if let Some(c) = &s.cpu {
        println!(
            "server cpu:   {:.2} µs/request ({:.2} s, {:.0}% of one core; pid {} and its children)",
            c.us_per_req,
            c.secs,
            c.util * 100.0,
            cfg.server_pid.unwrap_or(0)
        );
    }
    if let Some(c) = s.client_us {
        println!("client cpu:   {c:.2} µs/request");
    }
    if let Some(c) = s.machine_busy {
        println!("machine busy: {c:.2} cores on average (server, this client and anything else)");
    }
}

// ---------------------------------------------------------------------------------------------
// Self-test against the published vectors (DESIGN.md section 7)

fn self_test() -> bool {
    let mut ok = true;
    let mut check = |what: &str, got: &str, want: &str| {
        let pass = got == want;
        println!("{} {what}", if pass { "ok  " } else { "FAIL" });
        if !pass {
            println!("     got  {got}\n     want {want}");
        }
        ok &= pass;
    };
    let (user, realm, pass) = ("Mufasa", "http-auth@example.org", "Circle of Life");
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let uri = "/dir/index.html";
    let cases = [
        (
            "MD5",
            "8ca523f5e9506fed4657c9700eebdbec",
            Some("9b712497bc9f91499fbcca1dfc5f09a5"),
        ),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            Some("86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0"),
        ),
        ("MD5-sess", "e783283f46242139c486a698fec7211d", None),
        (
            "SHA-256-sess",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            None,
        ),
    ];
    for (name, want, want_rsp) in cases {
        let alg = Algorithm::parse(name).expect("known algorithm");
        let h1 = ha1(alg, user, realm, pass, nonce, cnonce);
        let h2 = hash_joined(alg.hash, &["GET", uri]);
        let resp = hash_joined(alg.hash, &[&h1, nonce, "00000001", cnonce, "auth", &h2]);
        check(&format!("RFC 7616 3.9.1 {name} response"), &resp, want);
        if let Some(w) = want_rsp {
            let h2r = hash_joined(alg.hash, &["", uri]);
            let rspauth = hash_joined(alg.hash, &[&h1, nonce, "00000001", cnonce, "auth", &h2r]);
            check(&format!("RFC 7616 3.9.1 {name} rspauth"), &rspauth, w);
        }
    }
    let h1 = hash_joined(
        Hash::Md5,
        &["Mufasa", "testrealm@host.com", "Circle Of Life"],
    );
    let h2 = hash_joined(Hash::Md5, &["GET", uri]);
    let resp = hash_joined(
        Hash::Md5,
        &[
            &h1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "00000001",
            "0a4f113b",
            "auth",
            &h2,
        ],
    );
    check(
        "RFC 2617 3.5 response",
        &resp,
        "6629fae49393a05397450978507c4ef1",
    );

    // The session code path must produce the same value as the plain computation.
    let mut chs = Vec::new();
    let parsed = parse_challenges(
        format!(
            "Digest realm=\"{realm}\", qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"{nonce}\", \
             opaque=\"x\\\"y\",Digest realm=\"{realm}\",qop=\"auth\",algorithm=MD5,nonce=\"{nonce}\""
        )
        .as_bytes(),
        &mut chs,
    );
    check(
        "parse two comma-joined challenges",
        &format!("{parsed} {}", chs.len()),
        "true 2",
    );
    check(
        "escaped quote in quoted-string",
        chs[0].param("opaque").unwrap_or(""),
        "x\"y",
    );
    let picked = pick(&chs, Algorithm::parse("MD5")).map(|(c, a, q)| (c.param("algorithm"), a, q));
    check(
        "pick --algorithm MD5",
        &format!("{picked:?}"),
        &format!(
            "{:?}",
            Some((Some("MD5"), Algorithm::parse("MD5").expect("md5"), true))
        ),
    );
    ok
}

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
