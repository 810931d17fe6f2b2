//! Store engines compared: read, write, 3-key write and snapshot start, at
//! 1 and 2 threads, on stores of 1k and 100k keys.
//!
//! `cargo bench --bench store`. With 2 threads, each iteration is one
//! operation on *each* thread (the time is wall time per pair), so the
//! 2-thread throughput is 2 / time.
//!
//! Working set: every command's keys are drawn uniformly from the whole
//! store. The argument sets are built before timing (so the timed loop
//! allocates nothing), twice as many as there are keys, and each timed
//! batch starts at a random place among them, so a 100k-key store is
//! touched across all of its keys, not a hot few.

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

/// A cheap key sequence (no shared state).
struct Keys {
    state: u64,
    keys: usize,
}

impl Keys {
    fn new(seed: u64, keys: usize) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
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

/// The argument sets of the timed commands, drawn over every key of the
/// store, built once per store size and shared by the threads.
struct Commands {
    reads: Vec<KeySet>,
    writes: Vec<WriteSet>,
    writes3: Vec<WriteSet>,
}

impl Commands {
    fn new(keys: usize) -> Self {
        let count = (2 * keys).max(1024);
        let mut draw = Keys::new(7, keys);
        let value = Token::try_from("w").expect("valid value");
        let mut write = |width: usize| {
            WriteSet::from_pairs(
                (0..width)
                    .map(|_| (key(draw.next()), value))
                    .collect::<Vec<_>>(),
            )
        };
        let writes = (0..count).map(|_| write(1)).collect();
        let writes3 = (0..count).map(|_| write(3)).collect();
        let reads = (0..count)
            .map(|_| KeySet::from_keys([key(draw.next())]))
            .collect();
        Self {
            reads,
            writes,
            writes3,
        }
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

/// Runs `iters` operations on one thread, starting at the place `start`
/// picks among the prepared commands; returns the time spent in them.
fn run_one(
    store: &dyn Store,
    op: Op,
    commands: &Commands,
    start: &mut Keys,
    iters: u64,
) -> Duration {
    let mut out = Vec::with_capacity(4);
    match op {
        Op::Read => {
            let sets = &commands.reads;
            let first = start.next();
            let began = Instant::now();
            for i in 0..iters as usize {
                store.read(&sets[(first + i) % sets.len()], &mut out);
                black_box(&out);
            }
            began.elapsed()
        }
        Op::Write | Op::Write3 => {
            let sets = if matches!(op, Op::Write) {
                &commands.writes
            } else {
                &commands.writes3
            };
            let first = start.next();
            let began = Instant::now();
            for i in 0..iters as usize {
                black_box(store.write(&sets[(first + i) % sets.len()]));
            }
            began.elapsed()
        }
        Op::SnapshotStart => {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let began = Instant::now();
                let snapshot = store.snapshot();
                spent += began.elapsed();
                // Dropping (deregistering, and for the mutex engine freeing
                // the copy) is not part of starting a snapshot.
                drop(black_box(snapshot));
            }
            spent
        }
    }
}

fn run(
    store: &Arc<dyn Store>,
    commands: &Arc<Commands>,
    op: Op,
    threads: usize,
    iters: u64,
) -> Duration {
    let places = commands.reads.len();
    if threads == 1 {
        return run_one(&**store, op, commands, &mut Keys::new(iters, places), iters);
    }
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, commands, barrier) = (
                Arc::clone(store),
                Arc::clone(commands),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                let mut start = Keys::new(iters ^ (t as u64 + 1) << 32, places);
                barrier.wait();
                run_one(&*store, op, &commands, &mut start, iters)
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
        let commands = Arc::new(Commands::new(keys));
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
                        b.iter_custom(|iters| run(&store, &commands, op, threads, iters))
                    });
                    group.finish();
                }
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
