//! Free lists of version and record blocks: one per thread, backed by one
//! shared depot per kind. A version or record freed through the epoch is
//! unreachable for every thread, exactly as if it went back to the
//! allocator, so its block may be handed out again; keeping them spares the
//! allocator a `malloc` and a `free` per written key (frees arrive in
//! batches of a whole epoch bag, which overflow the allocator's own
//! per-thread caches).
//!
//! Why a depot: a thread frees the blocks of whichever chains it finds
//! freeable, not the ones it wrote, so over a run some threads free more
//! than they allocate and others less. With lists private to each thread
//! the first kind fills its list while the second keeps calling `malloc`,
//! and the heap grows for as long as the run lasts: with 64 load threads on
//! two cores, every growth step is an `mprotect` under the process's
//! `mmap_lock`, and a page fault that queues behind a preempted holder of
//! that lock waits for a whole round of the run queue (`paper.md` §8.0,
//! target 4).
//! So a thread keeps at most [`LOCAL_CAPACITY`] blocks and moves the
//! surplus, a [`MAGAZINE`] at a time, to the depot, where a thread whose
//! list ran dry takes it back. One exchange moves a thousand blocks, so the
//! depot's queue is touched once per thousand allocations or frees.
//!
//! Why the depot holds so many (up to [`DEPOT_BLOCKS`] blocks, about
//! 64 MiB of versions): after a snapshot, the versions it kept are freed
//! over the next operations (`reclaim/ready.rs`), tens of thousands of them
//! at 100k keys. A pool that overflows hands the excess to glibc's `free`,
//! often for blocks another thread allocated; with 1,024 blocks per thread
//! and no depot, two load threads' write p99.9 under backups was about
//! half as long again in a paired run (`paper.md` §8.2). A depot that holds
//! them gives them back to the next writes instead. The memory is the
//! versions the snapshot kept, which the store held anyway at its peak.
//!
//! Invariant: every pointer in a list or a magazine is a `Box<T>`
//! allocation whose value was dropped in place; it is referenced nowhere
//! else.

use super::{Record, Version};
use crate::sync::{AtomicUsize, Ordering};
use crossbeam_queue::SegQueue;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::thread::LocalKey;

/// Blocks of one kind one thread keeps at most (256 KiB of versions).
const LOCAL_CAPACITY: usize = 4 * MAGAZINE;

/// Blocks moved between a thread's list and the depot at once.
const MAGAZINE: usize = 1024;

/// Blocks the depot of one kind holds at most (2^20). Counted in blocks,
/// not magazines, so that the partial magazines exiting threads leave
/// cannot fill it with a few blocks each.
const DEPOT_BLOCKS: usize = 1 << 20;

/// Frees a block whose value was already dropped.
///
/// # Safety
/// `block` is a `Box<T>` allocation whose value was dropped in place, and
/// nothing references it (the module's invariant).
unsafe fn release<T>(block: *mut T) {
    // SAFETY: per the contract; freeing it as an uninitialized box frees
    // the memory without dropping the value again.
    drop(unsafe { Box::from_raw(block.cast::<MaybeUninit<T>>()) });
}

/// Blocks on their way between threads.
struct Magazine<T>(Vec<*mut T>);

// SAFETY: a magazine's blocks are dropped values nobody references (the
// module's invariant), so they belong to whichever thread holds it.
unsafe impl<T> Send for Magazine<T> {}

/// The shared stock of one kind of block.
pub(super) struct Depot<T> {
    magazines: SegQueue<Magazine<T>>,
    /// Blocks in the queue's magazines or about to be pushed: bounds it.
    held: AtomicUsize,
}

impl<T> Depot<T> {
    const fn new() -> Self {
        Self {
            magazines: SegQueue::new(),
            held: AtomicUsize::new(0),
        }
    }

    /// Keeps `magazine`, or frees its blocks when the depot is full.
    fn put(&self, magazine: Magazine<T>) {
        let blocks = magazine.0.len();
        // Relaxed: the count only bounds the queue; the blocks themselves
        // are handed over by the queue's push and pop.
        if self.held.fetch_add(blocks, Ordering::Relaxed) + blocks <= DEPOT_BLOCKS {
            self.magazines.push(magazine);
            return;
        }
        // Relaxed: as above.
        self.held.fetch_sub(blocks, Ordering::Relaxed);
        for block in magazine.0 {
            // SAFETY: a magazine's block, per the module's invariant.
            unsafe { release(block) };
        }
    }

    /// A magazine of blocks, if the depot has one.
    fn take(&self) -> Option<Magazine<T>> {
        let magazine = self.magazines.pop()?;
        // Relaxed: as in `put`.
        self.held.fetch_sub(magazine.0.len(), Ordering::Relaxed);
        Some(magazine)
    }

    /// Frees every block the depot holds and returns their addresses
    /// (tests: what the depot kept, and that no block is in it twice).
    #[cfg(test)]
    fn drain(&self) -> Vec<usize> {
        let mut blocks = Vec::new();
        while let Some(magazine) = self.take() {
            for block in magazine.0 {
                blocks.push(block as usize);
                // SAFETY: a magazine's block, per the module's invariant.
                unsafe { release(block) };
            }
        }
        blocks
    }
}

/// One thread's list of one kind.
pub(super) struct FreeList<T: 'static> {
    blocks: Vec<*mut T>,
    depot: &'static Depot<T>,
}

impl<T: 'static> FreeList<T> {
    fn new(depot: &'static Depot<T>) -> Self {
        Self {
            blocks: Vec::with_capacity(LOCAL_CAPACITY + 1),
            depot,
        }
    }

    /// A block, from this list or else from the depot.
    fn pop(&mut self) -> Option<*mut T> {
        if self.blocks.is_empty() {
            let magazine = self.depot.take()?;
            self.blocks.extend_from_slice(&magazine.0);
        }
        self.blocks.pop()
    }

    /// Keeps `block`, moving a magazine to the depot when the list is full.
    fn push(&mut self, block: *mut T) {
        self.blocks.push(block);
        if self.blocks.len() > LOCAL_CAPACITY {
            let surplus = self.blocks.split_off(self.blocks.len() - MAGAZINE);
            self.depot.put(Magazine(surplus));
        }
    }
}

impl<T: 'static> Drop for FreeList<T> {
    /// A thread that exits leaves its blocks to the depot (as far as it has
    /// room) for the threads that go on.
    fn drop(&mut self) {
        while !self.blocks.is_empty() {
            let from = self.blocks.len().saturating_sub(MAGAZINE);
            self.depot.put(Magazine(self.blocks.split_off(from)));
        }
    }
}

/// One kind's pool: each thread's list and the shared depot.
pub(super) struct Pool<T: 'static> {
    local: &'static LocalKey<RefCell<FreeList<T>>>,
}

static VERSION_DEPOT: Depot<Version> = Depot::new();
static RECORD_DEPOT: Depot<Record> = Depot::new();

thread_local! {
    static LOCAL_VERSIONS: RefCell<FreeList<Version>> =
        RefCell::new(FreeList::new(&VERSION_DEPOT));
    static LOCAL_RECORDS: RefCell<FreeList<Record>> =
        RefCell::new(FreeList::new(&RECORD_DEPOT));
}

/// The versions' pool.
pub(super) static VERSIONS: Pool<Version> = Pool {
    local: &LOCAL_VERSIONS,
};
/// The shared records' pool.
pub(super) static RECORDS: Pool<Record> = Pool {
    local: &LOCAL_RECORDS,
};

/// How many blocks `pool` keeps on this thread (tests).
#[cfg(test)]
pub(super) fn len<T: 'static>(pool: &Pool<T>) -> usize {
    pool.local.with(|free| free.borrow().blocks.len())
}

/// `value`, moved into a pooled block if this thread or the depot has
/// one, else into a new box.
pub(super) fn make<T: 'static>(pool: &Pool<T>, value: T) -> *mut T {
    match pool.local.try_with(|free| free.borrow_mut().pop()) {
        Ok(Some(block)) => {
            // SAFETY: a pooled block is a `T` allocation whose value
            // was dropped and which nobody else can reach.
            unsafe { block.write(value) };
            block
        }
        _ => Box::into_raw(Box::new(value)),
    }
}

/// Drops the value at `block` and keeps its block (on this thread, or in
/// the depot), or frees it when both are full or the thread is exiting.
///
/// # Safety
/// `block` came from [`make`] on `pool`, holds a live value, and nothing
/// references it any more.
pub(super) unsafe fn give<T: 'static>(pool: &Pool<T>, block: *mut T) {
    // SAFETY: per the contract; the block stays allocated.
    unsafe { std::ptr::drop_in_place(block) };
    if pool
        .local
        .try_with(|free| free.borrow_mut().push(block))
        .is_err()
    {
        // SAFETY: the value was just dropped; nothing references it.
        unsafe { release(block) };
    }
}

/// Many threads exchanging blocks of a test kind (`pool_tests.rs`).
#[cfg(all(test, not(feature = "loom")))]
#[path = "pool_tests.rs"]
mod stress;

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    static DEPOT: Depot<u64> = Depot::new();

    fn block(value: u64) -> *mut u64 {
        Box::into_raw(Box::new(value))
    }

    #[test]
    fn a_full_list_moves_a_magazine_to_the_depot_and_an_empty_one_takes_it_back() {
        let mut giver = FreeList::new(&DEPOT);
        for i in 0..=LOCAL_CAPACITY as u64 {
            giver.push(block(i));
        }
        assert_eq!(giver.blocks.len(), LOCAL_CAPACITY + 1 - MAGAZINE);
        let mut taker = FreeList::new(&DEPOT);
        let first = taker.pop().expect("the depot hands over the magazine");
        assert_eq!(taker.blocks.len(), MAGAZINE - 1);
        // SAFETY: the test's own box; no value to drop.
        unsafe { release(first) };
        drop(taker);
        drop(giver);
        let drained = DEPOT.drain().len();
        assert_eq!(drained, LOCAL_CAPACITY, "exiting threads leave every block");
    }

    #[test]
    fn partial_magazines_leave_room_for_full_ones() {
        static SMALL: Depot<u64> = Depot::new();
        let partial = 2 * MAGAZINE;
        for i in 0..partial as u64 {
            SMALL.put(Magazine(vec![block(i)]));
        }
        SMALL.put(Magazine((0..MAGAZINE as u64).map(block).collect()));
        let kept = SMALL.drain().len();
        assert_eq!(kept, partial + MAGAZINE, "the full magazine was kept");
    }
}
