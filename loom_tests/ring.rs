//! Models of the wait-free SPSC ring (`kvs::ring`).

use crate::check;
use kvs::ring::{self, PushError};
use loom::thread;

/// A producer pushes 0, 1, 2, 3 through a ring of capacity 2, retrying a
/// value whenever the ring says it is full; the consumer pops concurrently.
///
/// Property: in every interleaving the consumer receives exactly 0, 1, 2, 3,
/// in order (nothing lost, duplicated or reordered across two wrap-arounds),
/// a refused push hands back the very value that was pushed, and a push is
/// refused only when the ring really holds 2 values (the consumer has popped
/// at most `pushed - 2`). Loom also checks that no cell is read while being
/// written (the cells are loom `UnsafeCell`s).
///
/// Relies on: `Producer::push`'s Release store of `tail` and
/// `Consumer::pop`'s Release store of `head`, each read with Acquire by the
/// other end (weakening either fails the model; paper §6.5).
#[test]
fn wrap_around_keeps_every_value_once_in_order() {
    check(Some(3), || {
        let (mut tx, mut rx) = ring::channel::<u32>(2);
        let popped = loom::sync::Arc::new(loom::sync::atomic::AtomicU32::new(0));
        let popped_by_consumer = popped.clone();
        let consumer = thread::spawn(move || {
            let mut next = 0;
            while next < 4 {
                match rx.pop() {
                    Some(value) => {
                        assert_eq!(value, next, "lost, duplicated or reordered");
                        next += 1;
                        popped_by_consumer.store(next, loom::sync::atomic::Ordering::SeqCst);
                    }
                    None => loom::thread::yield_now(),
                }
            }
            assert_eq!(rx.pop(), None);
        });
        let mut value = 0;
        while value < 4 {
            // Values the consumer had popped before this push began.
            let freed = popped.load(loom::sync::atomic::Ordering::SeqCst);
            match tx.push(value) {
                Ok(()) => value += 1,
                Err(PushError::Full(back)) => {
                    assert_eq!(back, value, "a refused push returns its value");
                    // Full means 2 values pushed and not popped: a push that
                    // began after `value - 1` pops had a free cell.
                    assert!(value >= 2 && freed <= value - 2, "full with a free slot");
                    loom::thread::yield_now();
                }
            }
        }
        consumer.join().unwrap();
    });
}

/// The consumer drains in batches while the producer pushes 0, 1, 2 through
/// a ring of capacity 2, then drops its end.
///
/// Property: batches concatenate to exactly 0, 1, 2; once the consumer sees
/// the producer gone (`is_abandoned`), one more drain yields everything left,
/// so a consumer can stop without losing a value.
///
/// Relies on: the Release store of `tail` and `Producer::drop`'s Release
/// store of `producer_live`, read with Acquire by the consumer (weakening
/// either fails the model; paper §6.5).
#[test]
fn batch_drain_and_abandonment_lose_nothing() {
    check(Some(3), || {
        let (mut tx, mut rx) = ring::channel::<u32>(2);
        let producer = thread::spawn(move || {
            let mut value = 0;
            while value < 3 {
                match tx.push(value) {
                    Ok(()) => value += 1,
                    Err(PushError::Full(_)) => loom::thread::yield_now(),
                }
            }
        });
        let mut out = Vec::new();
        loop {
            let gone = rx.is_abandoned();
            rx.drain_into(&mut out);
            if gone {
                break;
            }
            loom::thread::yield_now();
        }
        assert_eq!(out, [0, 1, 2]);
        producer.join().unwrap();
    });
}

/// Values left in the ring when both ends are dropped, from different
/// threads, are dropped exactly once and after their last use (loom's `Arc`
/// and `UnsafeCell` tracking would flag a use after free or a racy drop).
#[test]
fn leftover_values_are_freed_once() {
    check(Some(3), || {
        let (mut tx, mut rx) = ring::channel::<loom::sync::Arc<()>>(2);
        let witness = loom::sync::Arc::new(());
        tx.push(witness.clone()).unwrap();
        tx.push(witness.clone()).unwrap();
        let consumer = thread::spawn(move || {
            drop(rx.pop());
            drop(rx);
        });
        drop(tx);
        consumer.join().unwrap();
        assert_eq!(loom::sync::Arc::strong_count(&witness), 1);
    });
}
