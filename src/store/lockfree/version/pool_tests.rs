//! Stress test of the pools: threads make and give blocks of a test kind
//! through lists of their own and one shared depot, so that magazines move
//! between them; values are made on one thread and given on another; threads
//! exit while others take the blocks they left; and values are given at
//! thread exit, from a thread-local's destructor and from crossbeam-epoch's
//! collection, before and after the pool's list is destroyed. Every value
//! checks that it is dropped exactly once, in the block it was made in; some
//! give a child, or make and give another value, from their own drop (a
//! `give` or `make` inside a `give`).

use super::*;
use crossbeam_epoch::{Collector, LocalHandle};
use std::collections::HashSet;
use std::ptr::null_mut;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

/// Producer threads, each feeding one lane of consumer threads.
const LANES: usize = 4;
/// Batches each producer sends, and values in a batch.
const BATCHES: usize = 48;
const BATCH: usize = 512;
/// Batches one consumer thread gives before a successor takes its lane and
/// it exits (about two magazines' worth moved on, and up to four left).
const PER_GENERATION: usize = 12;
/// Threads of one round that exit with values to give, and rounds.
const EXITING: usize = 8;
const EXIT_ROUNDS: usize = 3;
/// Values an exiting thread makes: a third it defers through the epoch,
/// 128 of them, so that the pin that finalizes its handle collects.
const EXIT_VALUES: usize = 3 * 128;

static DEPOT: Depot<Tracked> = Depot::new();
static POOL: Pool<Tracked> = Pool { local: &LOCAL };

thread_local! {
    static LOCAL: RefCell<FreeList<Tracked>> = RefCell::new(FreeList::new(&DEPOT));
    static LATE: Late = const { Late(RefCell::new(Vec::new())) };
    static HANDLE: LocalHandle = collector().register();
}

/// Values made so far (each took the next id).
static MADE: AtomicUsize = AtomicUsize::new(0);
/// Values dropped so far.
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// Late destructors that found the pool's list destroyed, or not.
static LATE_AFTER: AtomicUsize = AtomicUsize::new(0);
static LATE_BEFORE: AtomicUsize = AtomicUsize::new(0);

/// The test's own epoch collector: nothing else pins it, so every value
/// deferred through it is given once the test's threads are done.
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(Collector::new)
}

/// A value that checks it is dropped once and intact.
struct Tracked {
    id: usize,
    /// `!id` while live; `id` once dropped.
    check: usize,
    /// Made by `make` on [`POOL`], owned by this value, given by its drop.
    child: *mut Tracked,
    /// Whether its drop makes and gives another value.
    temp: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert_eq!(self.check, !self.id, "dropped twice, or its block reused");
        self.check = self.id;
        if !self.child.is_null() {
            // SAFETY: the child is this value's alone (see the field).
            unsafe { give(&POOL, self.child) };
        }
        if self.temp {
            sent(null_mut(), false).give();
        }
        // Relaxed: a tally, read once every thread is joined (the joins
        // order it before the read).
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A new value in a block of [`POOL`].
fn made(child: *mut Tracked, temp: bool) -> *mut Tracked {
    sent(child, temp).0
}

/// A new value in a block of [`POOL`], ready to send.
fn sent(child: *mut Tracked, temp: bool) -> Sent {
    // Relaxed: only makes ids unique; the tally is read after the joins.
    let id = MADE.fetch_add(1, Ordering::Relaxed);
    let check = !id;
    let value = Tracked {
        id,
        check,
        child,
        temp,
    };
    Sent(make(&POOL, value), id)
}

/// A value on its way to the one thread that gives it, with its id.
struct Sent(*mut Tracked, usize);

// SAFETY: a value in flight has one holder, which gives it once; a
// `Tracked` and its child are plain data the pool moves between threads.
unsafe impl Send for Sent {}

impl Sent {
    /// Checks that the block still holds the value it was sent with (no
    /// other thread was handed the block meanwhile), and gives it.
    fn give(self) {
        // SAFETY: ours alone until the give; live since its make.
        let (id, check) = unsafe { ((*self.0).id, (*self.0).check) };
        assert_eq!((id, check), (self.1, !self.1), "a block held twice");
        // SAFETY: made by `make` on POOL, live, and ours alone.
        unsafe { give(&POOL, self.0) };
    }
}

/// Values a thread gives from a thread-local destructor at its exit.
struct Late(RefCell<Vec<Sent>>);

impl Drop for Late {
    fn drop(&mut self) {
        let destroyed = LOCAL.try_with(|_| ()).is_err();
        let tally = if destroyed { &LATE_AFTER } else { &LATE_BEFORE };
        // Relaxed: a tally, read after the joins.
        tally.fetch_add(1, Ordering::Relaxed);
        for value in self.0.take() {
            value.give();
        }
        sent(null_mut(), true).give();
    }
}

#[test]
fn threads_exchange_blocks_and_every_value_drops_once() {
    a_thread_takes_the_blocks_another_left_at_exit();
    producers_feed_consumers_that_exit_in_turn();
    threads_give_while_they_exit();
    everything_dropped_once_and_pooled_once();
}

fn a_thread_takes_the_blocks_another_left_at_exit() {
    const LEFT: usize = 2 * MAGAZINE + 500;
    DEPOT.drain();
    let left: HashSet<usize> = thread::spawn(|| {
        let values: Vec<_> = (0..LEFT).map(|_| sent(null_mut(), false)).collect();
        let blocks = values.iter().map(|value| value.0 as usize).collect();
        values.into_iter().for_each(Sent::give);
        blocks
    })
    .join()
    .unwrap();
    assert_eq!(left.len(), LEFT);
    // Relaxed: read after joining the only thread that touched the depot.
    let held = DEPOT.held.load(Ordering::Relaxed);
    assert_eq!(held, LEFT, "the exiting thread's blocks");
    thread::spawn(move || {
        let values: Vec<_> = (0..LEFT).map(|_| sent(null_mut(), false)).collect();
        let taken: HashSet<usize> = values.iter().map(|value| value.0 as usize).collect();
        assert_eq!(taken.len(), LEFT, "a block handed out twice");
        assert!(taken.is_subset(&left), "blocks not from the depot");
        values.into_iter().for_each(Sent::give);
    })
    .join()
    .unwrap();
}

/// Makes batches of values (some with a child, some that make another when
/// dropped) and sends them down `lane`; its list runs dry, so it lives on
/// the magazines its consumers leave in the depot.
fn produce(lane: SyncSender<Vec<Sent>>) {
    for _ in 0..BATCHES {
        let batch = (0..BATCH)
            .map(|i| {
                let child = if i % 7 == 0 {
                    made(null_mut(), false)
                } else {
                    null_mut()
                };
                sent(child, i % 11 == 0)
            })
            .collect();
        lane.send(batch).expect("the lane's consumer failed");
    }
}

/// The consumer that takes over a lane from one that exits.
struct Generation(Option<JoinHandle<Generation>>);

/// Gives the values of [`PER_GENERATION`] batches from `lane`, then hands
/// the lane to a new thread and exits, leaving its blocks to the depot
/// while the producers take from it.
fn consume(lane: Receiver<Vec<Sent>>) -> Generation {
    for _ in 0..PER_GENERATION {
        let Ok(batch) = lane.recv() else {
            return Generation(None);
        };
        batch.into_iter().for_each(Sent::give);
    }
    Generation(Some(thread::spawn(move || consume(lane))))
}

fn producers_feed_consumers_that_exit_in_turn() {
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..LANES {
        let (send, receive) = mpsc::sync_channel(2);
        producers.push(thread::spawn(move || produce(send)));
        consumers.push(thread::spawn(move || consume(receive)));
    }
    for producer in producers {
        producer.join().unwrap();
    }
    for first in consumers {
        let mut next = first.join().unwrap();
        while let Generation(Some(consumer)) = next {
            next = consumer.join().unwrap();
        }
    }
}

/// Gives `value` through the test's collector: it drops on whichever
/// thread's pin collects it, maybe one that is exiting.
fn defer_give(value: Sent) {
    HANDLE.with(|handle| {
        let pin = handle.pin();
        let deferred = move || value.give();
        // SAFETY: the collector runs `deferred` once; it owns its value
        // alone, which `Sent` lets any thread give.
        unsafe { pin.defer_unchecked(deferred) };
    });
}

/// Makes values and gives them now, at exit from [`LATE`]'s destructor, or
/// through the epoch. An even `k` touches [`LATE`] and [`HANDLE`] before
/// the pool's list, an odd one after: thread-locals are destroyed in the
/// reverse order, so some exits give after the list is gone.
fn exit_with_values_to_give(k: usize) {
    if k % 2 == 0 {
        LATE.with(|_| ());
        HANDLE.with(|_| ());
    }
    for i in 0..EXIT_VALUES {
        let value = sent(null_mut(), i % 5 == 0);
        match i % 3 {
            0 => value.give(),
            1 => LATE.with(|late| late.0.borrow_mut().push(value)),
            _ => defer_give(value),
        }
    }
}

fn threads_give_while_they_exit() {
    for _ in 0..EXIT_ROUNDS {
        let threads: Vec<_> = (0..EXITING)
            .map(|k| thread::spawn(move || exit_with_values_to_give(k)))
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

/// Runs what the epoch still defers, then checks that every value made was
/// dropped, that no block sits twice in the depot or this thread's list,
/// and that the depot's count came back to zero.
fn everything_dropped_once_and_pooled_once() {
    let handle = collector().register();
    for _ in 0..1_000 {
        handle.pin().flush();
        // Relaxed: the tallies; the joins and the collections on this
        // thread order every drop before these reads.
        if DROPPED.load(Ordering::Relaxed) == MADE.load(Ordering::Relaxed) {
            break;
        }
    }
    // Relaxed: as above.
    let (made, dropped) = (
        MADE.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
    );
    assert_eq!(dropped, made, "values not dropped");
    let mut blocks = DEPOT.drain();
    let local = LOCAL.with(|local| std::mem::take(&mut local.borrow_mut().blocks));
    for block in local {
        blocks.push(block as usize);
        // SAFETY: a pooled block, per the module's invariant.
        unsafe { release(block) };
    }
    let distinct: HashSet<usize> = blocks.iter().copied().collect();
    assert_eq!(distinct.len(), blocks.len(), "a block pooled twice");
    // Relaxed: every thread that touched the depot is joined.
    assert_eq!(DEPOT.held.load(Ordering::Relaxed), 0, "held miscounted");
    // Relaxed: tallies, as above.
    let (after, before) = (
        LATE_AFTER.load(Ordering::Relaxed),
        LATE_BEFORE.load(Ordering::Relaxed),
    );
    assert_eq!(
        after + before,
        EXITING * EXIT_ROUNDS,
        "late destructors ran"
    );
}
