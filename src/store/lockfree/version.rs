//! Versions and commit records.
//!
//! A [`Version`] is one value (or tombstone) of one key, linked to the next
//! older version of that key. Every version written by one command answers
//! to one [`Record`], whose single state word decides when all of them
//! become visible. A command of one key keeps that record inside its
//! version (no second allocation, no second cache line to read); a command
//! of several keys shares one separately allocated record among its
//! versions, and once it has committed (or was aborted) copies the final
//! state into each version (*settles* it), so that later readers need not
//! follow the pointer, and then retires the record through the epoch (no
//! reference count: settling hides the record as an unlink hides a
//! version).
//!
//! Invariants:
//! * A version's value and record are written once, before the version is
//!   published by the release CAS that links it into a chain; after that they
//!   are only read.
//! * A record's state moves `pending(0) → pending(m1) → … → ready(m) →
//!   ready(m') → … → committed(ts)`: the minimum only grows (readers push
//!   it, keeping the ready bit; the owner raises it to its lower bound when
//!   it marks the record ready), and `committed(ts)` is final. Before it is
//!   ready it may instead move to `aborted`, also final and never visible:
//!   a writer that met one of its versions at a key's head, and waited a
//!   little for the owner to finish linking, gives up on the command
//!   rather than wait for an owner that may not be running (`write.rs`).
//!   Only the
//!   owner marks the record ready, once, after linking every version of a
//!   several-key command; a one-key command's own record starts its
//!   published life ready (`ready(prev_ts + 1)`, armed while the version is
//!   unpublished). Any thread may then commit it (a
//!   writer that finds it at a key's head *helps*): the commit is one CAS
//!   from `ready(m)` to `committed(max(tick, m))`, so it happens exactly
//!   once, and whoever loses the race reads the winner's timestamp.
//! * Hence every thread that asks a record "are you visible at S?" and
//!   resolves a pending state with the CAS of [`Record::resolve_at`] gets the
//!   same answer, however often it asks: the answer is fixed by the first
//!   value of the single state word that settles it.
//! * A version's own word is its record when it has no shared one. When it
//!   has, the own word names the shared record (its address, under the
//!   `SHARED` bit of `record.rs`: "ask that record"; no reader pushes it)
//!   until the owner settles it to the shared record's `committed(ts)`, a
//!   copy of a final value: both words give every reader the same answer.
//!   (In the word, not beside the value, the address keeps a version 64
//!   bytes.)
//! * A shared record is retired by its owner after settling every version
//!   of the command, so a reader follows a version's pointer to it only if
//!   it read the own word unsettled, hence while pinned before the
//!   retirement (crossbeam-epoch's usual unlink-then-defer argument).

use crate::store::Timestamp;
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};
use crate::token::Value;
use std::ptr::NonNull;

/// Commit records and their state words (`version/record.rs`).
mod record;

#[cfg(feature = "loom")]
pub(crate) use record::FREED;
pub(crate) use record::{Record, State};

/// One value of one key, or a tombstone.
pub(crate) struct Version {
    /// The value (`None`: a tombstone). Written before publication, then
    /// read-only. In a cell so that loom checks every read happens after
    /// the write that published it.
    body: UnsafeCell<Option<Value>>,
    /// The record of a one-key command; for a command of several keys, the
    /// shared record's address (owned by the command, which retires it
    /// once every version is settled) until settled to its commit or its
    /// abort.
    own: Record,
    /// The next older version; null when there was none; the [`marker`]
    /// when the older versions were pruned.
    pub(crate) next: AtomicPtr<Version>,
}

/// A version's command as one look at its own word found it.
pub(crate) struct Look<'v> {
    /// The command's state.
    pub(crate) state: State,
    /// The record deciding it: the shared one while the own word names it
    /// (live for the looker's pin: it is retired only after this version
    /// is settled, and the look read the word unsettled), else the own.
    pub(crate) record: &'v Record,
}

impl Version {
    /// A new, unpublished version, answering to `shared` if not null, else to
    /// a record of its own.
    pub(crate) fn new(value: Option<Value>, shared: *const Record) -> Self {
        Self {
            body: UnsafeCell::new(value),
            own: Record::of_version(shared),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The version's value (`None`: tombstone).
    pub(crate) fn value(&self) -> Option<Value> {
        // SAFETY: the body is written only by `new`, before the version is
        // published through a Release CAS that every reader's Acquire load
        // of the pointer synchronizes with; after that it is only read.
        self.body.with(|body| unsafe { *body })
    }

    /// The state of the command that wrote this version, and the record
    /// deciding it.
    pub(crate) fn look(&self) -> Look<'_> {
        let word = self.own.word();
        match Record::named(word) {
            Some(shared) => {
                // SAFETY: read unsettled while pinned: the record, retired
                // only after the settle, outlives our pin (module docs).
                let record = unsafe { &*shared };
                Look {
                    state: record.state(),
                    record,
                }
            }
            None => Look {
                state: State::decode(word),
                record: &self.own,
            },
        }
    }

    /// The state of the command that wrote this version.
    pub(crate) fn state(&self) -> State {
        self.look().state
    }

    /// Whether this version is visible at `s`, deciding it once and for all
    /// if its command is pending (see [`Record::resolve_at`]).
    pub(crate) fn visible_at(&self, s: Timestamp) -> bool {
        let word = self.own.word();
        if let Some(shared) = Record::named(word) {
            // SAFETY: as in `look`.
            return unsafe { &*shared }.resolve_at(s);
        }
        match State::decode(word) {
            State::Committed { ts } => ts <= s,
            State::Aborted => false,
            State::Pending { .. } => self.own.resolve_at(s),
        }
    }

    /// The record a command's owner commits this version through: its own
    /// for a one-key command (`shared` null), else `shared`.
    ///
    /// # Safety
    /// `shared` is null or the live record this version was made with.
    pub(crate) unsafe fn owners_record(&self, shared: *const Record) -> &Record {
        if shared.is_null() {
            &self.own
        } else {
            // SAFETY: per the contract.
            unsafe { &*shared }
        }
    }

    /// Arms an unpublished one-key version's own record ready at `min`
    /// (see [`Record::arm_ready`]).
    pub(crate) fn arm_ready(&self, min: Timestamp) {
        self.own.arm_ready(min);
    }

    /// Copies a several-key command's final state (its commit, or its
    /// abort) into this version's own word, so readers stop at the version
    /// (its owner calls this once the record is final, only on versions
    /// made with a shared record).
    pub(crate) fn settle(&self, last: State) {
        self.own.settle(last);
    }

    /// Whether the version's own word decides it: a one-key version, or a
    /// several-key one its owner settled (no shared record is consulted).
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn is_settled(&self) -> bool {
        Record::named(self.own.word()).is_none()
    }
}

/// The marker a `next` pointer holds when the older versions were pruned,
/// and an entry's head holds once the entry is retired. It is never a real
/// allocation: `NonNull::dangling` is an aligned address no allocator hands
/// out for a `Version`.
#[inline]
pub(crate) fn marker() -> *mut Version {
    NonNull::<Version>::dangling().as_ptr()
}

/// Allocates a version and returns its raw pointer (counted by the caller).
/// It reuses a block this thread freed earlier when it has one (see
/// [`pool`]).
pub(crate) fn alloc(value: Option<Value>, shared: *const Record) -> *mut Version {
    pool::make(&pool::VERSIONS, Version::new(value, shared))
}

/// Allocates a pending shared record (a several-key command's), reusing a
/// pooled block like [`alloc`].
pub(crate) fn alloc_record() -> *mut Record {
    pool::make(&pool::RECORDS, Record::new())
}

/// Frees a record made by [`alloc_record`], keeping its block for reuse.
///
/// # Safety
/// No thread can still reach `record`, and no other call frees it.
// Under loom retired records are freed only when the store drops.
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) unsafe fn free_record(record: *mut Record) {
    // SAFETY: forwarded contract; `alloc_record` made the block.
    unsafe { pool::give(&pool::RECORDS, record) }
}

/// Where a freed version's block goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocks {
    /// To this thread's [`pool`], for the next versions it writes.
    // Under loom retired chains are freed only when the store drops.
    #[cfg_attr(feature = "loom", allow(dead_code))]
    Reuse,
    /// Back to the allocator (a store's teardown: nobody writes again).
    Release,
}

/// Frees a detached chain from `first` to its end (null or the marker),
/// returning how many versions it freed.
///
/// # Safety
/// The caller owns the chain: it is unlinked from every entry, no thread
/// can still hold a pointer into it, and no other call frees any part of it.
pub(crate) unsafe fn free_chain(first: *mut Version, blocks: Blocks) -> usize {
    // SAFETY: forwarded contract.
    unsafe { free_chain_prefix(first, usize::MAX, blocks) }.0
}

/// Whether `p` ends a chain (null, or the marker a retired entry's head
/// and a cut `next` hold).
#[inline]
pub(crate) fn is_chain_end(p: *mut Version) -> bool {
    p.is_null() || p == marker()
}

/// Frees at most `limit` versions of a detached chain from `first`,
/// returning how many it freed and the rest of the chain (its end when
/// nothing is left), which the caller still owns.
///
/// # Safety
/// As [`free_chain`].
pub(crate) unsafe fn free_chain_prefix(
    first: *mut Version,
    limit: usize,
    blocks: Blocks,
) -> (usize, *mut Version) {
    let mut freed = 0;
    let mut p = first;
    while freed < limit && !is_chain_end(p) {
        // Relaxed: the chain is exclusively ours; nobody else writes it.
        // SAFETY: per the contract, `p` is an owned, live allocation made by
        // `alloc`, reached through the detached chain.
        let next = unsafe { (*p).next.load(Ordering::Relaxed) };
        match blocks {
            // SAFETY: as above; nothing reaches `p` after this.
            Blocks::Reuse => unsafe { pool::give(&pool::VERSIONS, p) },
            // SAFETY: as above; a block `alloc` made as a `Box`.
            Blocks::Release => drop(unsafe { Box::from_raw(p) }),
        }
        p = next;
        freed += 1;
    }
    (freed, p)
}

/// Per-thread free lists of version and record blocks (`version/pool.rs`).
#[cfg(not(feature = "loom"))]
mod pool;

/// Under loom, freeing poisons (`version/poison.rs`), so that loom reports
/// any access the free does not happen after.
#[cfg(feature = "loom")]
mod poison;

/// Under loom, no pool (`version/unpooled.rs`).
#[cfg(feature = "loom")]
#[path = "version/unpooled.rs"]
mod pool;

#[cfg(all(test, not(feature = "loom")))]
mod tests;
