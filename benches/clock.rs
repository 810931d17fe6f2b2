//! What a commit clock shared by every writer costs on this machine: two
//! threads each taking timestamps by `fetch_add` from one counter, against
//! each taking them from a counter of its own on its own cache line.
//!
//! The lock-free engine ticks one shared counter per commit (the commit
//! order that snapshots read at and notifications merge by), so with two
//! writers its cache line moves between the cores. The difference between
//! the two cases bounds what a clock that does not bounce could save a
//! write (paper §9.1, *The levers*). It measures the machine, not
//! the engine: the counters here are plain atomics.
//!
//! `cargo bench --bench clock`

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::CachePadded;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Two threads run `iters` ticks each, thread `i` on `counters[i %
/// counters.len()]`; returns the time the slower thread took.
fn two_tickers(counters: &[CachePadded<AtomicU64>], iters: u64) -> Duration {
    let start = Barrier::new(2);
    thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|i| {
                let counter = &counters[i % counters.len()];
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    for _ in 0..iters {
                        // AcqRel, as the engine's `Clock::tick`; nothing else
                        // is published here, the ordering only matches its cost.
                        black_box(counter.fetch_add(1, Ordering::AcqRel));
                    }
                    began.elapsed()
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a ticker panicked"))
            .max()
            .unwrap_or_default()
    })
}

fn shared_against_private(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    let shared = [CachePadded::new(AtomicU64::new(0))];
    group.bench_function("two_threads_one_counter", |b| {
        b.iter_custom(|iters| two_tickers(&shared, iters))
    });
    let private = [
        CachePadded::new(AtomicU64::new(0)),
        CachePadded::new(AtomicU64::new(0)),
    ];
    group.bench_function("two_threads_own_counters", |b| {
        b.iter_custom(|iters| two_tickers(&private, iters))
    });
    group.finish();
}

criterion_group!(benches, shared_against_private);
criterion_main!(benches);
