//! Command-line options: the target, the load (connections, algorithm, nonce reuse, decoy)
//! and its bounds.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub(crate) const USAGE: &str = "\
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
  --spin                never sleep on a socket: poll it and yield the core until the
                        answer is there, so the server's send wakes no sleeping thread
                        (on loopback the sender pays the receiver's wake-up)
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
pub(crate) enum Hash {
    Md5,
    Sha256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Algorithm {
    pub(crate) hash: Hash,
    pub(crate) sess: bool,
}

impl Algorithm {
    pub(crate) fn parse(s: &str) -> Option<Self> {
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

    pub(crate) fn name(self) -> &'static str {
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
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) authority: String,
    pub(crate) addr: SocketAddr,
    pub(crate) path: String,
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    pub(crate) max_requests: u64,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) algorithm: Option<Algorithm>,
    pub(crate) nonce_reuse: u64,
    pub(crate) no_auth: bool,
    /// Where the decoy challenges come from: (authority, address).
    pub(crate) decoy_from: Option<(String, SocketAddr)>,
    pub(crate) verify_rspauth: bool,
    pub(crate) spin: bool,
    pub(crate) server_pid: Option<u32>,
    pub(crate) timeout: Duration,
    pub(crate) label: String,
    pub(crate) json: bool,
    pub(crate) strict: bool,
}

pub(crate) enum Command {
    Run(Box<Config>),
    Help,
    SelfTest,
}

pub(crate) fn parse_secs(flag: &str, v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("{flag}: not a number of seconds: {v:?}"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("{flag}: must be in (0, 86400] seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(crate) fn parse_count(flag: &str, v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: expected a positive integer, got {v:?}")),
    }
}

pub(crate) fn parse_connections(v: &str) -> Result<u64, String> {
    match parse_count("--connections", v)? {
        n if n > 1024 => Err("--connections: at most 1024".into()),
        n => Ok(n),
    }
}

pub(crate) fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
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
    let mut spin = false;
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
            "--connections" | "-c" => connections = parse_connections(&value()?)?,
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
            "--spin" => spin = true,
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
        spin,
        server_pid,
        timeout,
        label,
        json,
        strict,
    })))
}

/// Splits `http://host[:port]/path` and resolves the host, refusing anything not on loopback.
pub(crate) fn parse_url(url: &str) -> Result<(String, SocketAddr, String), String> {
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
