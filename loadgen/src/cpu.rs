//! CPU time of a process tree, from /proc.

use std::io;

/// utime + stime + cutime + cstime (clock ticks) of `pid` and all its descendants.
pub(crate) fn tree_cpu_ticks(pid: u32) -> io::Result<u64> {
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
pub(crate) fn parse_stat(stat: &str) -> Option<(u32, u64)> {
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

pub(crate) fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat).map(|(_, t)| t)
}

/// Busy time of the whole machine (all CPUs, clock ticks), from the first line of `/proc/stat`.
pub(crate) fn machine_busy_ticks() -> Option<u64> {
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

pub(crate) fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}
