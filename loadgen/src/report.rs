//! Report: a measured run (workers started together, CPU time of the server and of this
//! process) summarised as text or as one JSON line.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use crate::cpu::{clock_ticks_per_sec, machine_busy_ticks, own_cpu_ticks, tree_cpu_ticks};
use crate::options::{Algorithm, Config};
use crate::worker::{Stats, worker};

#[allow(clippy::cast_precision_loss)] // counts and nanoseconds far below 2^52
pub(crate) fn as_f64(v: u64) -> f64 {
    v as f64
}

pub(crate) fn percentile_us(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = (sorted.len() * p / 100).min(sorted.len() - 1);
    as_f64(sorted[idx]) / 1000.0
}

pub(crate) fn json_str(s: &str) -> String {
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

pub(crate) struct CpuReport {
    pub(crate) secs: f64,
    pub(crate) us_per_req: f64,
    pub(crate) util: f64,
}

pub(crate) struct Summary {
    pub(crate) total: Stats,
    pub(crate) wall: f64,
    pub(crate) rps: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
    pub(crate) max: f64,
    pub(crate) cpu: Option<CpuReport>,
    pub(crate) client_us: Option<f64>,
    pub(crate) client_util: Option<f64>,
    pub(crate) machine_busy: Option<f64>,
}

impl Summary {
    pub(crate) fn clean(&self) -> bool {
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
pub(crate) fn measure(cfg: &Config) -> Result<Summary, String> {
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

pub(crate) fn print_json(cfg: &Config, s: &Summary) {
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

pub(crate) fn print_text(cfg: &Config, s: &Summary) {
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
