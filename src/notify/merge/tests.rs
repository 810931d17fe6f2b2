//! Unit tests of the commit-order merge.

use super::*;
use crate::ring::{self, Producer, PushError};

/// Takes a timestamp the way a store's commit does.
fn take_ts(clock: &AtomicU64) -> Timestamp {
    clock.fetch_add(1, Ordering::AcqRel) + 1
}

/// A clock, the workers' gates and rings, and the client's merger.
type Setup = (
    Arc<AtomicU64>,
    Vec<WorkerGate>,
    Vec<Producer<(Timestamp, (Timestamp, usize))>>,
    Merger<(Timestamp, usize), Arc<AtomicU64>>,
);

fn setup(workers: usize, capacity: usize) -> Setup {
    let clock = Arc::new(AtomicU64::new(0));
    let (marks, gates) = Watermarks::new(workers);
    let (producers, consumers) = (0..workers).map(|_| ring::channel(capacity)).unzip();
    let merger = Merger::new(marks, clock.clone(), consumers);
    (clock, gates, producers, merger)
}

#[test]
fn absorb_respects_its_limit_and_the_queues_shrink_after_a_burst() {
    let (clock, mut gates, mut rings, mut merger) = setup(1, 64);
    let guard = gates[0].begin(&*clock);
    let ts = take_ts(&clock);
    for tag in 0..40 {
        rings[0].push((ts, (ts, tag))).unwrap();
    }
    merger.absorb(0);
    assert_eq!(merger.held(), 0, "full queues drain nothing");
    merger.absorb(1);
    assert_eq!(merger.held(), 40);
    guard.end();
    let mut out = Vec::new();
    assert_eq!(merger.collect_ready(&mut out), 40);
    assert!(merger.queues[0].capacity() >= 40);
    merger.shrink(4);
    assert!(
        merger.queues[0].capacity() < 40,
        "the burst's memory is kept"
    );
}

#[test]
fn watermarks_start_idle_and_follow_the_guard() {
    let clock = AtomicU64::new(41);
    let (marks, mut gates) = Watermarks::new(2);
    assert_eq!(marks.workers(), 2);
    assert_eq!(marks.min(), IDLE);
    let guard = gates[1].begin(&clock);
    assert_eq!(marks.min(), 41);
    guard.end();
    assert_eq!(marks.min(), IDLE);
    assert_eq!(Watermarks::new(0).0.min(), IDLE);
}

#[test]
fn a_message_waits_for_an_earlier_commit_in_flight() {
    let (clock, mut gates, mut rings, mut merger) = setup(2, 4);
    let mut out = Vec::new();
    let (gate0, gate1) = gates.split_at_mut(1);

    // Worker 0 begins a commit and takes ts 1, but has not pushed yet.
    let slow = gate0[0].begin(&*clock);
    let slow_ts = take_ts(&clock);
    // Worker 1 commits ts 2 and pushes it at once.
    let fast = gate1[0].begin(&*clock);
    let fast_ts = take_ts(&clock);
    rings[1].push((fast_ts, (fast_ts, 1))).unwrap();
    fast.end();

    assert_eq!(merger.collect_ready(&mut out), 0, "ts 2 must wait for ts 1");
    assert_eq!(merger.held(), 1);

    rings[0].push((slow_ts, (slow_ts, 0))).unwrap();
    slow.end();
    assert_eq!(merger.collect_ready(&mut out), 2);
    assert_eq!(out, [(1, 0), (2, 1)]);
}

#[test]
fn a_commit_newer_than_the_clock_read_waits_a_round() {
    let (clock, mut gates, mut rings, mut merger) = setup(1, 4);
    let mut out = Vec::new();
    // Simulate a message whose commit took its ts after the writer read
    // the clock: the writer's clock says 0, the message says 5.
    rings[0].push((5, (5, 0))).unwrap();
    merger.collect_ready(&mut out);
    assert!(out.is_empty());
    clock.store(5, Ordering::Release);
    merger.collect_ready(&mut out);
    assert_eq!(out, [(5, 0)]);
    let _ = gates.pop();
}

/// Each ring holds a sorted run; a round interleaves the runs by
/// timestamp, stops at the emission bound, and keeps the rest queued.
#[test]
fn runs_of_several_rings_interleave_by_timestamp() {
    let (clock, gates, mut rings, mut merger) = setup(3, 8);
    for (ring, stamps) in [(0, [1, 1, 4, 9]), (1, [2, 3, 5, 6]), (2, [7, 8, 10, 11])] {
        for (tag, ts) in stamps.into_iter().enumerate() {
            rings[ring].push((ts, (ts, ring * 10 + tag))).unwrap();
        }
    }
    clock.store(6, Ordering::Release);
    let mut out = Vec::new();
    assert_eq!(merger.collect_ready(&mut out), 7);
    let expected = [(1, 0), (1, 1), (2, 10), (3, 11), (4, 2), (5, 12), (6, 13)];
    assert_eq!(out, expected);
    assert_eq!(merger.held(), 5);
    clock.store(11, Ordering::Release);
    out.clear();
    assert_eq!(merger.collect_ready(&mut out), 5);
    let expected = [(7, 20), (8, 21), (9, 3), (10, 22), (11, 23)];
    assert_eq!(out, expected);
    drop(gates);
}

#[test]
fn messages_of_one_commit_keep_their_push_order() {
    let (clock, mut gates, mut rings, mut merger) = setup(1, 8);
    let guard = gates[0].begin(&*clock);
    let ts = take_ts(&clock);
    for tag in 0..5 {
        rings[0].push((ts, (ts, tag))).unwrap();
    }
    guard.end();
    let mut out = Vec::new();
    merger.collect_ready(&mut out);
    assert_eq!(out, (0..5).map(|tag| (ts, tag)).collect::<Vec<_>>());
}

#[test]
fn finished_once_producers_are_gone_and_all_emitted() {
    let (clock, mut gates, mut rings, mut merger) = setup(2, 4);
    let guard = gates[0].begin(&*clock);
    let ts = take_ts(&clock);
    rings[0].push((ts, (ts, 0))).unwrap();
    guard.end();
    rings.clear();
    assert!(!merger.is_finished());
    assert!(merger.rings_nonempty());
    let mut out = Vec::new();
    merger.collect_ready(&mut out);
    assert!(merger.is_finished());
    assert!(!merger.rings_nonempty());
}

/// Several workers commit and push concurrently, with real interleavings
/// (messages of later commits often arrive first). The client must get
/// every message exactly once, in timestamp order, and one commit's
/// messages in push order.
#[test]
fn concurrent_workers_are_merged_in_commit_order() {
    const WORKERS: usize = 3;
    const COMMITS: usize = 20_000;
    let (clock, gates, producers, mut merger) = setup(WORKERS, 64);
    let handles: Vec<_> = gates
        .into_iter()
        .zip(producers)
        .enumerate()
        .map(|(worker, (mut gate, mut ring))| {
            let clock = clock.clone();
            std::thread::spawn(move || {
                for commit in 0..COMMITS {
                    let guard = gate.begin(&*clock);
                    let ts = take_ts(&clock);
                    // Some commits notify twice (a multi-key write).
                    for part in 0..1 + commit % 2 {
                        let mut message = (ts, (ts, worker * 2 + part));
                        // A real server would disconnect the client;
                        // the test waits so that nothing is lost.
                        while let Err(PushError::Full(back)) = ring.push(message) {
                            message = back;
                            std::thread::yield_now();
                        }
                    }
                    guard.end();
                }
            })
        })
        .collect();

    let mut out = Vec::new();
    while !merger.is_finished() {
        if merger.collect_ready(&mut out) == 0 {
            std::thread::yield_now();
        }
    }
    for handle in handles {
        handle.join().unwrap();
    }

    let expected_len = WORKERS * (COMMITS + COMMITS / 2);
    assert_eq!(out.len(), expected_len);
    for pair in out.windows(2) {
        assert!(
            pair[0] < pair[1],
            "out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    // Every commit's timestamp appears: nothing lost.
    assert_eq!(out.last().unwrap().0, (WORKERS * COMMITS) as Timestamp);
}

#[test]
fn fn_clock_and_references_are_clocks() {
    let clock = FnClock(|| 7);
    assert_eq!(clock.now(), 7);
    fn read(clock: impl CommitClock) -> Timestamp {
        clock.now()
    }
    let by_ref: &dyn CommitClock = &clock;
    assert_eq!(read(by_ref), 7);
    assert_eq!(Arc::new(AtomicU64::new(3)).now(), 3);
}
