//! Store engines compared: read, write, 3-key write and snapshot start, at
//! 1 and 2 threads, on stores of 1k and 100k keys.
//!
//! `cargo bench --bench store`. With 2 threads, each iteration is one
//! operation on *each* thread (the time is wall time per pair), so the
//! 2-thread throughput is 2 / time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kvs::store::{Engine, KeySet, Store, WriteSet};
use kvs::token::Token;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn key(i: usize) -> Token {
    Token::try_from(format!("key{i}").as_str()).expect("valid key")
}

fn filled(engine: Engine, keys: usize) -> Arc<dyn Store> {
    let store = engine.open();
    let value = Token::try_from("v").expect("valid value");
    for chunk in (0..keys).collect::<Vec<_>>().chunks(64) {
        store.write(&WriteSet::from_pairs(
            chunk.iter().map(|&i| (key(i), value)),
        ));
    }
    store
}

/// A cheap per-thread key sequence (no shared state).
struct Keys {
    state: u64,
    keys: usize,
}

impl Keys {
    fn new(seed: u64, keys: usize) -> Self {
        Self {
            state: seed * 0x9E37_79B9_7F4A_7C15 + 1,
            keys,
        }
    }
    fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % self.keys as u64) as usize
    }
}

#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
    Write3,
    SnapshotStart,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Write3 => "write3",
            Op::SnapshotStart => "snapshot_start",
        }
    }
}

/// Runs `iters` operations on one thread; returns the time spent in them.
fn run_one(store: &dyn Store, op: Op, keys: &mut Keys, iters: u64) -> Duration {
    let value = Token::try_from("w").expect("valid value");
    let mut out = Vec::with_capacity(4);
    match op {
        Op::Read => {
            let sets: Vec<KeySet> = (0..1024)
                .map(|_| KeySet::from_keys([key(keys.next())]))
                .collect();
            let start = Instant::now();
            for i in 0..iters {
                store.read(&sets[i as usize % sets.len()], &mut out);
                black_box(&out);
            }
            start.elapsed()
        }
        Op::Write | Op::Write3 => {
            let width = if matches!(op, Op::Write) { 1 } else { 3 };
            let sets: Vec<WriteSet> = (0..1024)
                .map(|_| WriteSet::from_pairs((0..width).map(|_| (key(keys.next()), value))))
                .collect();
            let start = Instant::now();
            for i in 0..iters {
                black_box(store.write(&sets[i as usize % sets.len()]));
            }
            start.elapsed()
        }
        Op::SnapshotStart => {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let snapshot = store.snapshot();
                spent += start.elapsed();
                // Dropping (deregistering, and for the mutex engine freeing
                // the copy) is not part of starting a snapshot.
                drop(black_box(snapshot));
            }
            spent
        }
    }
}

fn run(store: &Arc<dyn Store>, op: Op, threads: usize, keys: usize, iters: u64) -> Duration {
    if threads == 1 {
        return run_one(&**store, op, &mut Keys::new(1, keys), iters);
    }
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                run_one(&*store, op, &mut Keys::new(t as u64 + 1, keys), iters)
            })
        })
        .collect();
    // Wall time is the slowest thread's time.
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    for keys in [1_000usize, 100_000] {
        for engine in Engine::ALL {
            let store = filled(engine, keys);
            for threads in [1usize, 2] {
                for op in [Op::Read, Op::Write, Op::Write3, Op::SnapshotStart] {
                    let mut group =
                        c.benchmark_group(format!("{}/{}k/{}t", op.name(), keys / 1000, threads));
                    group
                        .sample_size(10)
                        .warm_up_time(Duration::from_millis(200))
                        .measurement_time(Duration::from_millis(
                            if matches!(op, Op::SnapshotStart) {
                                1500
                            } else {
                                700
                            },
                        ));
                    group.bench_function(BenchmarkId::from_parameter(engine.name()), |b| {
                        b.iter_custom(|iters| run(&store, op, threads, keys, iters))
                    });
                    group.finish();
                }
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
