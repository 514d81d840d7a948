//! What one `RedisNonceStore::record_use` costs the client, and what
//! `wait_for_replicas(1, ..)` adds: loops of accepted uses against a private
//! `redis-server` (and its replica) on loopback, started here.
//!
//! ```text
//! cargo bench -p suite --features redis --bench redis_store
//! ```
//!
//! For each variant: the median wall time per call with one call in flight (rounds of
//! `CALLS` calls, median over `ROUNDS` rounds), and this process's CPU time per call
//! (user + system, from /proc/self/stat: the client's side alone, Redis runs in its own
//! process). `REDIS_BENCH_CALLS` and `REDIS_BENCH_ROUNDS` change the sizes. Timings on a
//! busy machine are noise; compare variants within one run.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tower_digest_auth::nonce::{NcCheck, NonceId, NonceStore, NonceUse, RedisNonceStore};

struct Server(Child, u16);

impl Server {
    fn start(extra: &[String]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own directory: a replica writes the primary's snapshot there.
        let dir = std::env::temp_dir().join(format!("redis-bench-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let server = Server(child, port);
        server.wait_for("PONG", &["PING"]);
        server
    }

    fn wait_for(&self, wanted: &str, args: &[&str]) {
        let start = Instant::now();
        loop {
            let out = Command::new("redis-cli")
                .args(["-p", &self.1.to_string()])
                .args(args)
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_default();
            if out.contains(wanted) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "redis: no {wanted}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Median wall time per call and CPU time per call over the rounds.
async fn run(store: &RedisNonceStore, calls: u32, rounds: u32) -> (Duration, Duration) {
    let mut walls = Vec::new();
    let mut ticks = 0;
    for _ in 0..rounds {
        let id = NonceId::from_bytes(rand::random());
        let epoch = store.epoch();
        let started_ticks = cpu_ticks();
        let started = Instant::now();
        for nc in 1..=u64::from(calls) {
            let now = SystemTime::now();
            let use_ = NonceUse::new(id, nc, now, Duration::from_secs(1800), now).in_epoch(epoch);
            assert_eq!(store.record_use(use_).await.unwrap(), NcCheck::Accepted);
        }
        walls.push(started.elapsed() / calls);
        ticks += cpu_ticks() - started_ticks;
    }
    walls.sort();
    // Clock ticks are 10 ms.
    let cpu = Duration::from_millis(ticks * 10) / (calls * rounds);
    (walls[walls.len() / 2], cpu)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let calls: u32 = env("REDIS_BENCH_CALLS", 5000);
    let rounds: u32 = env("REDIS_BENCH_ROUNDS", 7);
    let primary = Server::start(&[]);
    let replica = Server::start(&[
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.1.to_string(),
    ]);
    replica.wait_for("master_link_status:up", &["INFO", "replication"]);
    let url = format!("redis://127.0.0.1:{}/", primary.1);
    let plain = RedisNonceStore::from_url(&url).unwrap().build();
    let waiting = RedisNonceStore::from_url(&url)
        .unwrap()
        .wait_for_replicas(1, Duration::from_millis(500))
        .build();
    for store in [&plain, &waiting] {
        // Connect and learn the generation (a use made before is answered Forgotten).
        let now = SystemTime::now();
        let use_ = NonceUse::new(
            NonceId::from_bytes(rand::random()),
            1,
            now,
            Duration::from_secs(60),
            now,
        );
        let _ = store.record_use(use_.in_epoch(store.epoch())).await;
    }
    println!("{calls} accepted calls per round, {rounds} rounds, one call in flight");
    // Interleaved, twice, so a burst of other load shows as a disagreement.
    for pass in 1..=2 {
        for (name, store) in [("plain", &plain), ("wait_for_replicas(1)", &waiting)] {
            let (wall, cpu) = run(store, calls, rounds).await;
            println!(
                "pass {pass} {name:>22}: median {wall:>9.2?} per call, client CPU {cpu:>9.2?} per call"
            );
        }
    }
}
