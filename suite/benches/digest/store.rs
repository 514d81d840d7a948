//! The `store` group: `MemoryNonceStore` prefilled with 10k and 1M live entries, driven from
//! 1, 2 and 8 threads at once.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput};
use tower_digest_auth::nonce::{MemoryNonceStore, NcCheck, NonceId, NonceStore, NonceUse};

use super::ready;

/// The largest store, plus one spare id per thread for the insert benchmark.
const MAX_ENTRIES: usize = 1_000_000;
const MAX_THREADS: usize = 8;

/// `count` distinct random nonce ids.
fn generate_ids(count: usize) -> Vec<NonceId> {
    (0..count)
        .map(|_| NonceId::from_bytes(rand::random()))
        .collect()
}

fn ids() -> &'static [NonceId] {
    static IDS: OnceLock<Vec<NonceId>> = OnceLock::new();
    IDS.get_or_init(|| {
        let start = Instant::now();
        let ids = generate_ids(MAX_ENTRIES + MAX_THREADS);
        eprintln!(
            "store: {} random nonce ids in {:.2?}",
            ids.len(),
            start.elapsed()
        );
        ids
    })
}

/// Unix time of the pre-filled nonces (issued over a 30-minute spread from here).
const PREFILL_ISSUED: u64 = 1_700_000_000;
/// Pre-filled nonces expire this long after their issue, past every insert below.
const PREFILL_LIFETIME: u64 = 1_000_000_000;
/// The `k`th insert is issued, and expires, at this plus `k`: after every pre-filled
/// nonce's issue time (so the store's forgetting watermark never refuses it) and before
/// every pre-filled expiry (so only inserted entries are swept).
const INSERT_BASE: u64 = PREFILL_ISSUED + 3600;

fn unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// One pre-filled store and the counters that keep each benchmark's uses valid.
struct Prefilled {
    store: MemoryNonceStore,
    live: &'static [NonceId],
    spare: &'static [NonceId],
    /// The next `nc` block to hand out, so every `reuse` is a new, higher count.
    next_nc: AtomicU64,
    /// The next insert's time offset.
    next_insert: AtomicU64,
    /// Uses answered other than `Accepted` (races on the forgetting watermark).
    refused: AtomicU64,
}

impl Prefilled {
    fn new(entries: usize) -> Self {
        let ids = ids();
        let live = &ids[..entries];
        let spare = &ids[MAX_ENTRIES..];
        // Room for every live entry and the inserts in flight: no eviction.
        let store = MemoryNonceStore::with_max_entries(entries * 2);
        let start = Instant::now();
        for (index, id) in (0u64..).zip(live) {
            let issued = PREFILL_ISSUED + index % 1800;
            let use_ = NonceUse::new(
                *id,
                1,
                unix(issued),
                Duration::from_secs(PREFILL_LIFETIME),
                unix(PREFILL_ISSUED),
            );
            assert_eq!(ready(store.record_use(use_)), Ok(NcCheck::Accepted));
        }
        eprintln!(
            "store: pre-filled {entries} entries in {:.2?}",
            start.elapsed()
        );
        assert_eq!(store.len(), entries);
        Prefilled {
            store,
            live,
            spare,
            next_nc: AtomicU64::new(2),
            next_insert: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// `ops` uses of live nonces by thread `thread` of `threads`, each with a higher `nc`
    /// than that nonce has seen. Threads touch disjoint nonces, in a scattered order.
    fn reuse(&self, thread: usize, threads: usize, ops: u64) {
        let entries = self.live.len() as u64;
        let threads = threads as u64;
        let base = self.next_nc.fetch_add(ops, Ordering::Relaxed);
        // Start somewhere new each sample, in this thread's residue class.
        let mut position = (base % entries) / threads * threads + thread as u64;
        let mut refused = 0;
        for nc in base..base + ops {
            // A bijection on 0..entries (the multiplier is a prime not dividing it).
            let index = position.wrapping_mul(2_654_435_761) % entries;
            let use_ = NonceUse::new(
                self.live[usize::try_from(index).expect("index fits")],
                nc,
                unix(PREFILL_ISSUED),
                Duration::from_secs(PREFILL_LIFETIME),
                unix(PREFILL_ISSUED + 1),
            );
            if ready(self.store.record_use(black_box(use_))) != Ok(NcCheck::Accepted) {
                refused += 1;
            }
            position += threads;
            if position >= entries {
                position -= entries;
            }
        }
        self.refused.fetch_add(refused, Ordering::Relaxed);
    }

    /// `ops` first uses of this thread's spare nonce, each expired by the time the store
    /// looks, so each call inserts an entry and sweeps it again.
    fn insert(&self, thread: usize, ops: u64) {
        let id = self.spare[thread];
        let mut refused = 0;
        for _ in 0..ops {
            let at = INSERT_BASE + self.next_insert.fetch_add(1, Ordering::Relaxed);
            let use_ = NonceUse::new(id, 1, unix(at), Duration::ZERO, unix(at + 1));
            if ready(self.store.record_use(black_box(use_))) != Ok(NcCheck::Accepted) {
                refused += 1;
            }
        }
        self.refused.fetch_add(refused, Ordering::Relaxed);
    }
}

/// Runs `work(thread, ops)` on `threads` threads sharing `iters` operations, and returns
/// the wall time from the moment all are ready until the last finishes.
fn parallel(threads: usize, iters: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let share = iters / threads as u64;
    let extra = iters % threads as u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let ops = share + u64::from((thread as u64) < extra);
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(thread, ops);
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            handle.join().expect("benchmark thread");
        }
        start.elapsed()
    })
}

pub(super) fn bench_store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for (entries, label) in [(10_000, "10k"), (MAX_ENTRIES, "1M")] {
        // Built on first use, so a filter that skips these benchmarks skips the setup too.
        let prefilled: OnceLock<Prefilled> = OnceLock::new();
        let state = || prefilled.get_or_init(|| Prefilled::new(entries));
        for threads in [1, 2, MAX_THREADS] {
            let id = format!("{threads}t/{label}");
            group.bench_function(BenchmarkId::new("reuse", &id), |b| {
                let state = state();
                b.iter_custom(|iters| {
                    parallel(threads, iters, |thread, ops| {
                        state.reuse(thread, threads, ops);
                    })
                });
            });
            group.bench_function(BenchmarkId::new("insert", &id), |b| {
                let state = state();
                b.iter_custom(|iters| {
                    parallel(threads, iters, |thread, ops| state.insert(thread, ops))
                });
            });
        }
        if let Some(state) = prefilled.get() {
            let uses =
                state.next_nc.load(Ordering::Relaxed) + state.next_insert.load(Ordering::Relaxed);
            eprintln!(
                "store {label}: {} live entries after the runs; {} of ~{uses} uses refused \
                 (forgetting-watermark races between concurrent inserts)",
                state.store.len(),
                state.refused.load(Ordering::Relaxed),
            );
        }
    }
    group.finish();
}
