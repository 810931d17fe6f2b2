//! Per-thread free lists of version and record blocks. A version or
//! record freed through the epoch is unreachable for every thread, exactly
//! as if it went back to the allocator, so its block may be handed out
//! again; keeping them per thread spares the allocator a `malloc` and a
//! `free` per written key (frees arrive in batches of a whole epoch bag,
//! which overflow the allocator's own per-thread caches).
//!
//! Why so many (up to [`CAPACITY`], 4 MiB of versions per thread): after
//! a snapshot, the versions it kept are freed over the next operations
//! (`reclaim/ready.rs`), tens of thousands of them at 100k keys. A pool
//! that overflows hands the excess to glibc's `free`, often for blocks
//! another thread allocated; with 1,024 blocks, two load threads' write
//! p99.9 under backups was about half as long again in a paired run
//! (`paper.md` §8.2). A pool that holds them gives them back to the
//! thread's own next writes instead. The memory is the versions the
//! snapshot kept, which the store held anyway at its peak.
//!
//! Invariant: every pointer in a list is a `Box<T>` allocation whose value
//! was dropped in place; it is referenced nowhere else.

use super::{Record, Version};
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::thread::LocalKey;

/// Blocks of one kind one thread keeps at most (4 MiB of versions).
const CAPACITY: usize = 1 << 16;

/// Room a thread's list starts with (64 KiB of versions); it grows as
/// needed up to [`CAPACITY`].
const INITIAL: usize = 1024;

pub(super) struct FreeList<T>(Vec<*mut T>);

impl<T> Drop for FreeList<T> {
    fn drop(&mut self) {
        for block in self.0.drain(..) {
            // SAFETY: per the invariant, a dropped value's block from
            // `Box::new`; freeing it as an uninitialized box frees the
            // memory without dropping again.
            drop(unsafe { Box::from_raw(block.cast::<MaybeUninit<T>>()) });
        }
    }
}

/// One kind's free list on this thread.
pub(super) type List<T> = LocalKey<RefCell<FreeList<T>>>;

thread_local! {
    pub(super) static VERSIONS: RefCell<FreeList<Version>> =
        RefCell::new(FreeList(Vec::with_capacity(INITIAL)));
    pub(super) static RECORDS: RefCell<FreeList<Record>> =
        RefCell::new(FreeList(Vec::with_capacity(INITIAL)));
}

/// How many blocks `list` keeps on this thread (tests).
#[cfg(test)]
pub(super) fn len<T>(list: &'static List<T>) -> usize {
    list.with(|free| free.borrow().0.len())
}

/// `value`, moved into a pooled block if this thread has one, else
/// into a new box.
pub(super) fn make<T>(list: &'static List<T>, value: T) -> *mut T {
    match list.try_with(|free| free.borrow_mut().0.pop()) {
        Ok(Some(block)) => {
            // SAFETY: a pooled block is a `T` allocation whose value
            // was dropped and which nobody else can reach.
            unsafe { block.write(value) };
            block
        }
        _ => Box::into_raw(Box::new(value)),
    }
}

/// Drops the value at `block` and keeps its block, or frees it when
/// the list is full (or the thread is exiting).
///
/// # Safety
/// `block` came from [`make`] on `list`, holds a live value, and
/// nothing references it any more.
pub(super) unsafe fn give<T>(list: &'static List<T>, block: *mut T) {
    // SAFETY: per the contract; the block stays allocated.
    unsafe { std::ptr::drop_in_place(block) };
    let kept = list
        .try_with(|free| {
            let mut free = free.borrow_mut();
            let room = free.0.len() < CAPACITY;
            if room {
                free.0.push(block);
            }
            room
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: a dropped value's block from `Box::new` (as in
        // `FreeList::drop`).
        drop(unsafe { Box::from_raw(block.cast::<MaybeUninit<T>>()) });
    }
}
