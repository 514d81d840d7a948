//! Workers: one thread per connection, sending until the deadline or the request budget,
//! and counting what came back (statuses, latencies, stale and rejected answers, rspauth).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{io, thread};

use crate::challenge::parse_params;
use crate::conn::{Conn, invalid};
use crate::options::Config;
use crate::session::{Session, pick};

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) responses: u64,
    pub(crate) ok: u64,
    pub(crate) handshake: u64,
    pub(crate) stale: u64,
    pub(crate) rejected: u64,
    pub(crate) other: u64,
    pub(crate) errors: u64,
    pub(crate) connects: u64,
    pub(crate) no_challenge: u64,
    pub(crate) rspauth_ok: u64,
    pub(crate) rspauth_bad: u64,
    pub(crate) rspauth_missing: u64,
    pub(crate) status: BTreeMap<u16, u64>,
    pub(crate) latencies_ns: Vec<u64>,
    pub(crate) error_samples: Vec<String>,
}

impl Stats {
    pub(crate) fn note_error(&mut self, e: &str) {
        self.errors += 1;
        if self.error_samples.len() < 5 && !self.error_samples.iter().any(|s| s == e) {
            self.error_samples.push(e.to_owned());
        }
    }

    pub(crate) fn merge(&mut self, o: Stats) {
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
pub(crate) fn worker(cfg: &Config, issued: &AtomicU64, deadline: Instant) -> Stats {
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
pub(crate) fn decoy_session(cfg: &Config, st: &mut Stats) -> Option<Session> {
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

pub(crate) fn fetch_decoy_session(
    cfg: &Config,
    authority: &str,
    addr: SocketAddr,
) -> io::Result<Session> {
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

pub(crate) fn check_rspauth(s: &Session, info: Option<&[u8]>, st: &mut Stats) {
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
