//! Benchmarks of the notification ring: one-thread cost, cross-thread
//! round trips, and streaming with per-value pops versus batch drains.
//!
//! `cargo bench --bench ring`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvs::ring::{self, Consumer, Producer, PushError};
use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

/// Waits a little: spins first, then yields, so that a benchmark thread
/// whose partner was descheduled (the machine may have fewer free cores than
/// threads) gives its core back instead of burning its time slice.
fn backoff(round: &mut u32) {
    if *round < 64 {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
    *round += 1;
}

/// Pushes `value`, waiting while the ring is full (only the benchmark
/// waits; a server would disconnect the client).
fn push_spin<T>(tx: &mut Producer<T>, mut value: T) {
    let mut round = 0;
    while let Err(PushError::Full(back)) = tx.push(value) {
        value = back;
        backoff(&mut round);
    }
}

fn pop_spin<T>(rx: &mut Consumer<T>) -> T {
    let mut round = 0;
    loop {
        if let Some(value) = rx.pop() {
            return value;
        }
        backoff(&mut round);
    }
}

/// Push then pop on one thread: the cost of the operations themselves,
/// with every cache line local.
fn same_thread(c: &mut Criterion) {
    let (mut tx, mut rx) = ring::channel::<u64>(1024);
    c.bench_function("ring/same_thread_push_pop", |b| {
        b.iter(|| {
            tx.push(black_box(7)).unwrap();
            black_box(rx.pop())
        })
    });
}

/// A value goes to another thread on one ring and comes back on a second:
/// the latency of a hand-off, twice, including the cache-line transfers.
fn ping_pong(c: &mut Criterion) {
    c.bench_function("ring/ping_pong_round_trip", |b| {
        b.iter_custom(|iters| {
            let (mut ping_tx, mut ping_rx) = ring::channel::<u64>(2);
            let (mut pong_tx, mut pong_rx) = ring::channel::<u64>(2);
            let echo = thread::spawn(move || {
                for _ in 0..iters {
                    let value = pop_spin(&mut ping_rx);
                    push_spin(&mut pong_tx, value);
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                push_spin(&mut ping_tx, i);
                black_box(pop_spin(&mut pong_rx));
            }
            let elapsed = start.elapsed();
            echo.join().unwrap();
            elapsed
        })
    });
}

/// The notification payload: a commit timestamp and two 41-byte fields.
type Message = (u64, [u8; 82]);

const STREAM: u64 = 200_000;

/// A producer streams `STREAM` messages through a 1024-cell ring; the
/// consumer takes them one `pop` at a time or with `drain_into` batches, as
/// the pipe writer does.
fn streaming(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring/stream_82B");
    group.throughput(Throughput::Elements(STREAM));
    group.bench_function("pop", |b| {
        b.iter_custom(|iters| {
            stream(iters, |rx, batch| {
                batch.clear();
                match rx.pop() {
                    Some(message) => {
                        batch.push(message);
                        1
                    }
                    None => 0,
                }
            })
        })
    });
    group.bench_function("drain_into", |b| {
        b.iter_custom(|iters| {
            stream(iters, |rx, batch| {
                batch.clear();
                rx.drain_into(batch)
            })
        })
    });
    group.finish();
}

fn stream(
    iters: u64,
    mut take: impl FnMut(&mut Consumer<Message>, &mut Vec<Message>) -> usize,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (mut tx, mut rx) = ring::channel::<Message>(1024);
        let producer = thread::spawn(move || {
            for i in 0..STREAM {
                push_spin(&mut tx, (i, [0; 82]));
            }
        });
        let mut batch = Vec::with_capacity(1024);
        let mut received = 0u64;
        let mut round = 0;
        let start = Instant::now();
        while received < STREAM {
            let got = take(&mut rx, &mut batch);
            // Both variants hand the messages over in `batch`, so both copy
            // the payload out of the ring.
            black_box(&batch);
            if got == 0 {
                backoff(&mut round);
            } else {
                round = 0;
            }
            received += got as u64;
        }
        total += start.elapsed();
        producer.join().unwrap();
    }
    total
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = same_thread, ping_pong, streaming
}
criterion_main!(benches);
