//! Models of the commit-order merge (`kvs::notify::merge`).

use crate::check;
use kvs::notify::merge::{Merger, Watermarks, WorkerGate};
use kvs::ring::{self, Producer};
use kvs::store::Timestamp;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

/// One commit of a worker, as the server does it: announce, take a
/// timestamp from the shared clock (a Release RMW, as the protocol requires
/// of a store's clock), push the notification, end. The message is its own
/// timestamp, so the output can be checked for order.
///
/// These are `WorkerPort`'s steps, written out, and not the port itself:
/// driven through `notify::build`'s real ports (over the lock-free store,
/// or over a store that is only this clock), this three-thread model trips
/// loom 0.7.3's own assertion in `match_load_to_stores` /
/// `match_rmw_to_stores` ("TODO: this sometimes fails"; tokio-rs/loom
/// issues 252 and 389) before the exploration completes, at every
/// preemption bound tried (1 to 3; mostly within the first executions, at
/// most after some 42,000), with or without a start line. The port's own
/// steps around the gate are modelled through the real code in
/// `session_end.rs` and `subscribe_vs_delete.rs`.
fn commit(gate: &mut WorkerGate, clock: &AtomicU64, ring: &mut Producer<(Timestamp, Timestamp)>) {
    let guard = gate.begin(clock);
    let ts = clock.fetch_add(1, Ordering::AcqRel) + 1;
    ring.push((ts, ts)).expect("the model's rings never fill");
    guard.end();
}

/// Worker A commits twice and worker B once, each pushing onto its own ring
/// to one client, while the client's writer runs merge rounds concurrently;
/// after both workers finish, the writer runs one last round.
///
/// Property: the writer's output is exactly the three timestamps in
/// increasing order. Since each round's output is appended, this says that no
/// round ever emitted a message before an earlier-committed one (a message
/// is emitted only after every earlier-committed message), and that nothing
/// is lost once both workers are idle. Two commits on A cover a watermark
/// read between two commits of one worker (the `begin` case of the proof);
/// B covers a worker going from idle to active between the writer's reads
/// (the `IDLE` case).
///
/// Relies on: the watermark's Release stores in `WorkerGate::begin` and
/// `end`, `Watermarks::min`'s Acquire loads, the clock's Acquire load, and
/// the clock bound on what a round emits (weakening any one fails the
/// model; paper §6.5). Its threads start without a start line: the
/// weakening rows show the exploration reaches the interleavings they need.
#[test]
fn merge_emits_in_commit_order_and_loses_nothing() {
    check(Some(3), || {
        let clock = Arc::new(AtomicU64::new(0));
        let (marks, mut gates) = Watermarks::new(2);
        let (mut ring_a, rx_a) = ring::channel(2);
        let (mut ring_b, rx_b) = ring::channel(2);
        let mut gate_b = gates.pop().unwrap();
        let mut gate_a = gates.pop().unwrap();

        let clock_a = clock.clone();
        let worker_a = thread::spawn(move || {
            commit(&mut gate_a, &clock_a, &mut ring_a);
            commit(&mut gate_a, &clock_a, &mut ring_a);
        });
        let clock_b = clock.clone();
        let worker_b = thread::spawn(move || {
            commit(&mut gate_b, &clock_b, &mut ring_b);
        });

        let mut merger = Merger::new(marks, clock, vec![rx_a, rx_b]);
        let mut out = Vec::new();
        merger.collect_ready(&mut out);
        merger.collect_ready(&mut out);
        worker_a.join().unwrap();
        worker_b.join().unwrap();
        merger.collect_ready(&mut out);
        assert_eq!(out, [1, 2, 3], "emitted out of commit order, or lost");
    });
}
