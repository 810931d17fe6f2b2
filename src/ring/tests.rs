//! Unit tests of the ring: order across wrap-around, full and closed rings,
//! drops, a two-thread stress run and a property test against a bounded deque.

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

#[test]
fn capacity_rounds_up_to_a_power_of_two() {
    assert_eq!(channel::<u8>(1).0.capacity(), 1);
    assert_eq!(channel::<u8>(3).0.capacity(), 4);
    assert_eq!(channel::<u8>(64).1.capacity(), 64);
}

#[test]
#[should_panic(expected = "at least one cell")]
fn zero_capacity_is_refused() {
    let _ = channel::<u8>(0);
}

#[test]
fn push_pop_in_order_across_wrap_around() {
    let (mut tx, mut rx) = channel(4);
    for round in 0..10u32 {
        for i in 0..3 {
            tx.push(round * 10 + i).unwrap();
        }
        for i in 0..3 {
            assert_eq!(rx.pop(), Some(round * 10 + i));
        }
        assert_eq!(rx.pop(), None);
    }
}

#[test]
fn full_ring_hands_the_value_back() {
    let (mut tx, mut rx) = channel(2);
    tx.push("a").unwrap();
    tx.push("b").unwrap();
    assert_eq!(tx.free_cells(), 0);
    assert_eq!(tx.push("c"), Err(PushError::Full("c")));
    assert_eq!(rx.pop(), Some("a"));
    tx.push("c").unwrap();
    assert_eq!(rx.pop(), Some("b"));
    assert_eq!(rx.pop(), Some("c"));
    assert_eq!(rx.pop(), None);
    assert_eq!(PushError::Full(7).into_inner(), 7);
    assert_eq!(PushError::Full(7).to_string(), "ring is full");
}

#[test]
fn drain_takes_everything_available_in_order() {
    let (mut tx, mut rx) = channel(8);
    let mut out = Vec::new();
    assert_eq!(rx.drain_into(&mut out), 0);
    for i in 0..6 {
        tx.push(i).unwrap();
    }
    assert_eq!(rx.len(), 6);
    assert_eq!(rx.drain_into(&mut out), 6);
    assert!(rx.is_empty());
    // The drained cells are free again, across the wrap-around.
    for i in 6..14 {
        tx.push(i).unwrap();
    }
    assert_eq!(rx.drain_into(&mut out), 8);
    assert_eq!(out, (0..14).collect::<Vec<_>>());
}

#[test]
fn each_side_sees_the_other_go() {
    let (tx, rx) = channel::<u8>(2);
    assert!(!tx.is_abandoned());
    assert!(!rx.is_abandoned());
    drop(rx);
    assert!(tx.is_abandoned());
    let (tx, rx) = channel::<u8>(2);
    drop(tx);
    assert!(rx.is_abandoned());
}

/// Counts its drops, to check that every value is dropped exactly once.
struct Counted<'a>(&'a StdAtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn unconsumed_values_are_dropped_once() {
    let drops = StdAtomicUsize::new(0);
    let (mut tx, mut rx) = channel(4);
    for _ in 0..4 {
        tx.push(Counted(&drops)).unwrap();
    }
    drop(rx.pop());
    tx.push(Counted(&drops)).unwrap();
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(tx);
    drop(rx);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 5);
}

#[test]
fn a_panicking_drain_consumes_exactly_what_it_passed_on() {
    let drops = StdAtomicUsize::new(0);
    let (mut tx, mut rx) = channel(4);
    for _ in 0..4 {
        tx.push(Counted(&drops)).unwrap();
    }
    let mut seen = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.drain_with(|value| {
            seen += 1;
            drop(value);
            if seen == 2 {
                panic!("writer failed");
            }
        })
    }));
    assert!(result.is_err());
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(rx.len(), 2);
    assert_eq!(tx.free_cells(), 2);
    drop(rx);
    drop(tx);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 4);
}

#[test]
fn zero_sized_values_are_counted() {
    let (mut tx, mut rx) = channel(2);
    tx.push(()).unwrap();
    tx.push(()).unwrap();
    assert!(tx.push(()).is_err());
    assert_eq!(rx.pop(), Some(()));
    assert_eq!(rx.len(), 1);
}

/// Two threads, a small ring (so it wraps and fills constantly), millions
/// of values: the consumer sees exactly 0, 1, 2, ... with no gap,
/// duplicate or reordering. Pops and drains alternate to cover both.
#[test]
fn two_thread_stress_keeps_the_sequence() {
    const COUNT: u64 = 2_000_000;
    let (mut tx, mut rx) = channel::<u64>(64);
    let producer = std::thread::spawn(move || {
        let mut next = 0;
        while next < COUNT {
            match tx.push(next) {
                Ok(()) => next += 1,
                Err(PushError::Full(_)) => std::hint::spin_loop(),
            }
        }
    });
    let mut expected = 0;
    let mut batch = Vec::with_capacity(64);
    while expected < COUNT {
        if expected % 3 == 0 {
            if let Some(value) = rx.pop() {
                assert_eq!(value, expected);
                expected += 1;
            }
        } else {
            batch.clear();
            rx.drain_into(&mut batch);
            for &value in &batch {
                assert_eq!(value, expected);
                expected += 1;
            }
        }
        std::hint::spin_loop();
    }
    producer.join().unwrap();
    assert!(rx.is_abandoned());
    assert_eq!(rx.pop(), None);
}

#[derive(Debug, Clone)]
enum Op {
    Push,
    Pop,
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => Just(Op::Push), 2 => Just(Op::Pop), 1 => Just(Op::Drain)]
}

proptest! {
    /// On one thread, the ring behaves exactly like a `VecDeque` bounded
    /// to the ring's capacity.
    #[test]
    fn matches_a_bounded_deque(capacity in 1usize..9, ops in prop::collection::vec(op(), 0..200)) {
        let (mut tx, mut rx) = channel(capacity);
        let capacity = tx.capacity();
        let mut model = VecDeque::new();
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Push => {
                    let result = tx.push(next);
                    if model.len() == capacity {
                        prop_assert_eq!(result, Err(PushError::Full(next)));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        model.push_back(next);
                    }
                    next += 1;
                }
                Op::Pop => prop_assert_eq!(rx.pop(), model.pop_front()),
                Op::Drain => {
                    let mut out = Vec::new();
                    rx.drain_into(&mut out);
                    prop_assert_eq!(out, model.drain(..).collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(tx.free_cells(), capacity - model.len());
        }
    }
}
