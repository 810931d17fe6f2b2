//! A bounded, wait-free, single-producer single-consumer ring.
//!
//! A committing worker hands each notification to a client's pipe writer
//! through one of these rings. The worker must never block, lock, allocate or
//! make a system call on that path, and a client that stops reading must not
//! slow it down: a full ring is reported to the worker, which then drops the
//! client instead of waiting.
//!
//! # Algorithm
//!
//! The ring is an array of `N = 2^k` cells and two counters, `tail` (the
//! number of values ever pushed) and `head` (the number ever popped). Both
//! only grow and wrap around `usize`; value number `i` lives in cell
//! `i & (N - 1)`. Only the producer writes `tail`; only the consumer writes
//! `head`. The number of values in the ring is `tail - head` (wrapping).
//!
//! * `push`: if `tail - head == N` the ring is full and the value is handed
//!   back. Otherwise the producer writes the value into cell `tail`, then
//!   publishes it with a *Release* store of `tail + 1`.
//! * `pop`: if `head == tail` the ring is empty. Otherwise the consumer moves
//!   the value out of cell `head`, then frees the cell with a *Release* store
//!   of `head + 1`.
//!
//! Each side reads the other's counter with *Acquire*, so it sees the cell
//! contents the other side wrote (consumer) or is done reading (producer)
//! before that counter moved.
//!
//! # Invariants
//!
//! 1. `0 <= tail - head <= N` at every instant (wrapping arithmetic).
//! 2. Cells `head..tail` hold initialized values owned by the ring; all other
//!    cells are uninitialized. The producer alone touches cells outside
//!    `head..tail` (it writes cell `tail`), the consumer alone touches cell
//!    `head` while `head != tail`: no cell is ever accessed by both at once.
//! 3. Each side keeps a private *cached* copy of the other side's counter.
//!    The cache is never ahead of the real counter, so it can only make the
//!    ring look fuller (producer) or emptier (consumer) than it is, never the
//!    reverse. A side reloads the shared counter only when its cache says it
//!    cannot proceed; in a steady stream this makes most operations touch
//!    only the side's own cache line.
//!
//! `head` and `tail` sit on separate cache lines ([`CachePadded`]) so the two
//! threads do not invalidate each other's line on every operation.
//!
//! # Progress
//!
//! `push` and `pop` run a fixed number of steps: at most one load of the
//! other counter, one cell access and one store, with no loop and no retry.
//! Neither can be delayed by the other thread being descheduled, so both are
//! wait-free. A batch drain reads `tail` once and then moves at most `N`
//! values, so it is wait-free too.
//!
//! # Disconnection
//!
//! Each handle clears its side's `live` flag when dropped, so the other side
//! can see it is gone ([`Producer::is_abandoned`], [`Consumer::is_abandoned`]).
//! The cells are freed, and values still in the ring dropped, when the last
//! handle goes.

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::mem::MaybeUninit;

/// Why [`Producer::push`] did not take a value.
#[derive(PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring holds `capacity` values: the consumer is not keeping up. The
    /// value is handed back.
    Full(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(value) => value,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("ring is full"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// The state both handles share.
struct Shared<T> {
    /// Values ever popped. Written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Values ever pushed. Written only by the producer.
    tail: CachePadded<AtomicUsize>,
    /// Cleared when the producer is dropped.
    producer_live: AtomicBool,
    /// Cleared when the consumer is dropped.
    consumer_live: AtomicBool,
    /// `capacity` cells; value `i` lives in `cells[i & mask]`.
    cells: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// `capacity - 1`, with `capacity` a power of two.
    mask: usize,
}

// SAFETY: the ring moves `T`s from the producer's thread to the consumer's,
// so `T: Send` is required and enough. Concurrent access to a cell never
// happens (invariant 2 of the module docs): each cell is handed from one
// thread to the other by a Release store and Acquire load of `tail` or `head`.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send`: the two handles share `Shared` only through atomics
// and through cells whose ownership those atomics hand over.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    fn cell(&self, index: usize) -> &UnsafeCell<MaybeUninit<T>> {
        &self.cells[index & self.mask]
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // `&mut self`: both handles are gone and `Arc`'s drop has ordered all
        // of their accesses before this one, so Relaxed loads see the final
        // counters.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut index = head;
        while index != tail {
            let cell = self.cell(index);
            // SAFETY: cells `head..tail` hold initialized values (invariant
            // 2) that nobody else can reach any more; each is dropped once.
            cell.with_mut(|cell| unsafe { (*cell).assume_init_drop() });
            index = index.wrapping_add(1);
        }
    }
}

/// Creates a ring holding up to `capacity` values, rounded up to a power of
/// two, and returns its two ends.
///
/// # Panics
///
/// If `capacity` is zero or its power-of-two round-up overflows `usize`.
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "a ring needs at least one cell");
    let capacity = capacity
        .checked_next_power_of_two()
        .expect("ring capacity too large");
    let cells = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        producer_live: AtomicBool::new(true),
        consumer_live: AtomicBool::new(true),
        cells,
        mask: capacity - 1,
    });
    let producer = Producer {
        shared: shared.clone(),
        tail: 0,
        head_cache: 0,
    };
    let consumer = Consumer {
        shared,
        head: 0,
        tail_cache: 0,
    };
    (producer, consumer)
}

/// The pushing end of a ring. There is exactly one per ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Our own copy of `shared.tail`: only we write it.
    tail: usize,
    /// A value `shared.head` had at some point; never ahead of it.
    head_cache: usize,
}

impl<T> Producer<T> {
    /// Appends `value`, or hands it back if the ring is full. Wait-free.
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.tail.wrapping_sub(self.head_cache) == self.shared.capacity() {
            // Acquire pairs with the consumer's Release store of `head`: the
            // consumer has finished moving out every cell it freed.
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_cache) == self.shared.capacity() {
                return Err(PushError::Full(value));
            }
        }
        let cell = self.shared.cell(self.tail);
        // SAFETY: `tail - head < capacity`, so cell `tail` is outside
        // `head..tail`: it is uninitialized and the consumer will not touch
        // it until we publish it below (invariant 2).
        cell.with_mut(|cell| unsafe { (*cell).write(value) });
        self.tail = self.tail.wrapping_add(1);
        // Release pairs with the consumer's Acquire load of `tail`: the value
        // written above is visible before the consumer can read the cell.
        self.shared.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// How many more values `push` would accept right now. The consumer may
    /// free more at any time, so this is a lower bound.
    pub fn free_cells(&mut self) -> usize {
        // Acquire pairs with the consumer's Release store of `head`, as in
        // `push`.
        self.head_cache = self.shared.head.load(Ordering::Acquire);
        self.shared.capacity() - self.tail.wrapping_sub(self.head_cache)
    }

    /// The number of cells.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Whether the consumer has been dropped: pushed values will never be
    /// read.
    pub fn is_abandoned(&self) -> bool {
        // Relaxed: no data travels with this flag; once it reads false, the
        // producer only stops pushing.
        !self.shared.consumer_live.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Release pairs with the consumer's Acquire load in `is_abandoned`:
        // a consumer that sees the producer gone also sees its last `tail`.
        self.shared.producer_live.store(false, Ordering::Release);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("pushed", &self.tail)
            .finish()
    }
}

/// The popping end of a ring. There is exactly one per ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Our own copy of `shared.head`: only we write it.
    head: usize,
    /// A value `shared.tail` had at some point; never ahead of it.
    tail_cache: usize,
}

impl<T> Consumer<T> {
    /// Removes the oldest value, or returns `None` if the ring is empty.
    /// Wait-free.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            self.tail_cache = self.load_tail();
            if self.head == self.tail_cache {
                return None;
            }
        }
        let value = self.take(self.head);
        self.head = self.head.wrapping_add(1);
        // Release pairs with the producer's Acquire load of `head`: the move
        // out of the cell is complete before the producer may overwrite it.
        self.shared.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Moves every value available now into `out`, oldest first, and returns
    /// how many. Reads `tail` once and frees all the cells with one store,
    /// so a burst costs two shared-memory operations rather than two per
    /// value. Wait-free: at most `capacity` values are moved.
    pub fn drain_into(&mut self, out: &mut Vec<T>) -> usize {
        self.drain_with(|value| out.push(value))
    }

    /// Calls `f` on every value available now, oldest first, and returns how
    /// many. Like [`drain_into`](Self::drain_into) without the vector. If `f`
    /// panics, the values already passed to it stay consumed and the rest
    /// stay in the ring.
    pub fn drain_with(&mut self, mut f: impl FnMut(T)) -> usize {
        self.tail_cache = self.load_tail();
        let start = self.head;
        let publish = PublishHead { consumer: self };
        while publish.consumer.head != publish.consumer.tail_cache {
            let value = publish.consumer.take(publish.consumer.head);
            // Count the value as consumed before `f` runs, so a panic in `f`
            // never leaves a moved-out cell inside `head..tail`.
            publish.consumer.head = publish.consumer.head.wrapping_add(1);
            f(value);
        }
        let count = publish.consumer.head.wrapping_sub(start);
        drop(publish);
        count
    }

    /// The number of values in the ring right now. The producer may add more
    /// at any time, so this is a lower bound.
    pub fn len(&mut self) -> usize {
        self.tail_cache = self.load_tail();
        self.tail_cache.wrapping_sub(self.head)
    }

    /// Whether the ring is empty right now.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The number of cells.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Whether the producer has been dropped. Once this returns true, the
    /// values in the ring are all there will ever be: a following
    /// [`drain_into`](Self::drain_into) gets every one of them.
    pub fn is_abandoned(&self) -> bool {
        // Acquire pairs with the Release store in `Producer::drop`, which
        // comes after the producer's last `tail` store.
        !self.shared.producer_live.load(Ordering::Acquire)
    }

    fn load_tail(&self) -> usize {
        // Acquire pairs with the producer's Release store of `tail`: the
        // values in cells before `tail` are visible before we read them.
        self.shared.tail.load(Ordering::Acquire)
    }

    /// Moves value `index` out of its cell. The caller must then count it
    /// as consumed by advancing `self.head` past it.
    fn take(&self, index: usize) -> T {
        debug_assert!(index != self.tail_cache);
        let cell = self.shared.cell(index);
        // `head <= index < tail_cache <= tail`: the producer published this
        // cell with its Release store of `tail` (read by our Acquire load)
        // and will not touch it until we publish a `head` past it.
        // SAFETY: the cell holds an initialized value; the caller advances
        // `head` past `index` at once, so it is moved out only once.
        cell.with(|cell| unsafe { (*cell).assume_init_read() })
    }
}

/// Publishes the consumer's `head` when a drain ends, even by a panic.
struct PublishHead<'a, T> {
    consumer: &'a mut Consumer<T>,
}

impl<T> Drop for PublishHead<'_, T> {
    fn drop(&mut self) {
        // Release pairs with the producer's Acquire load of `head`: every
        // value drained has been moved out before the producer may reuse its
        // cell.
        self.consumer
            .shared
            .head
            .store(self.consumer.head, Ordering::Release);
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Relaxed: the producer only uses the flag to stop pushing; no data
        // travels with it. The values left in the ring are dropped by
        // `Shared::drop`, which `Arc` orders after both handles.
        self.shared.consumer_live.store(false, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("popped", &self.head)
            .finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests;
