//! Versions and commit records.
//!
//! A [`Version`] is one value (or tombstone) of one key, linked to the next
//! older version of that key. Every version written by one command answers
//! to one [`Record`], whose single state word decides when all of them
//! become visible. A command of one key keeps that record inside its
//! version (no second allocation, no second cache line to read); a command
//! of several keys shares one separately allocated record among its
//! versions, and once it has committed copies the final state into each
//! version (*settles* it), so that later readers need not follow the
//! pointer, and then retires the record through the epoch (no reference
//! count: settling hides the record as an unlink hides a version).
//!
//! Invariants:
//! * A version's value and record are written once, before the version is
//!   published by the release CAS that links it into a chain; after that they
//!   are only read.
//! * A record's state moves `pending(0) → pending(m1) → … → ready(m) →
//!   ready(m') → … → committed(ts)`: the minimum only grows (readers push
//!   it, keeping the ready bit; the owner raises it to its lower bound when
//!   it marks the record ready), and `committed(ts)` is final. Only the
//!   owner marks the record ready, once, after linking every version of the
//!   command and pruning below them. Any thread may then commit it (a
//!   writer that finds it at a key's head *helps*): the commit is one CAS
//!   from `ready(m)` to `committed(max(tick, m))`, so it happens exactly
//!   once, and whoever loses the race reads the winner's timestamp.
//! * Hence every thread that asks a record "are you visible at S?" and
//!   resolves a pending state with the CAS of [`Record::resolve_at`] gets the
//!   same answer, however often it asks: the answer is fixed by the first
//!   value of the single state word that settles it.
//! * A version's own word is its record when it has no shared one. When it
//!   has, the own word names the shared record (its address, under the
//!   [`SHARED`] bit: "ask that record"; no reader pushes it) until the
//!   owner settles it to the shared record's `committed(ts)`, a copy of a
//!   final value: both words give every reader the same answer. (In the
//!   word, not beside the value, the address keeps a version 64 bytes.)
//! * A shared record is retired by its owner after settling every version
//!   of the command, so a reader follows a version's pointer to it only if
//!   it read the own word unsettled, hence while pinned before the
//!   retirement (crossbeam-epoch's usual unlink-then-defer argument).

use crate::store::Timestamp;
use crate::sync::{AtomicPtr, AtomicU64, Ordering, UnsafeCell};
use crate::token::Value;
use std::ptr::NonNull;

/// Set in a state word once the record is committed; the other bits hold
/// the commit timestamp. Clear: pending, the bits below [`READY`] hold the
/// minimum commit timestamp readers (and the owner) have demanded.
const COMMITTED: u64 = 1 << 63;

/// Set in a pending state word once the owner has linked every version of
/// the command and pruned below them: from then on any thread may commit it.
const READY: u64 = 1 << 62;

/// A new record's state word: pending, not ready, no minimum demanded.
const FRESH: u64 = 0;

/// Set in a version's own word while the version answers to a shared
/// record, whose address the bits below hold (never with [`COMMITTED`];
/// timestamps and minimums stay below it).
const SHARED: u64 = 1 << 61;

/// What a record's state word says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Not yet visible; it will commit at a timestamp of at least `min`.
    /// `ready`: every version is linked, and anyone may commit it.
    Pending { min: Timestamp, ready: bool },
    /// Visible to every snapshot at `ts` or later.
    Committed { ts: Timestamp },
}

/// The state word of a record the loom reclamation stand-in has freed
/// (`reclaim/epoch.rs`): never a real state (it would be a commit at
/// `2^63 - 1`).
#[cfg(feature = "loom")]
pub(crate) const FREED: u64 = u64::MAX;

impl State {
    fn decode(word: u64) -> Self {
        #[cfg(feature = "loom")]
        assert_ne!(word, FREED, "use after free: a freed record was read");
        if word & COMMITTED != 0 {
            State::Committed {
                ts: word & !COMMITTED,
            }
        } else {
            State::Pending {
                min: word & !READY,
                ready: word & READY != 0,
            }
        }
    }

    /// The state word that decodes to `self`.
    fn encode(self) -> u64 {
        match self {
            State::Committed { ts } => COMMITTED | ts,
            State::Pending { min, ready: false } => min,
            State::Pending { min, ready: true } => READY | min,
        }
    }
}

/// The shared commit record of one write or delete.
#[derive(Debug)]
pub(crate) struct Record {
    state: AtomicU64,
}

impl Record {
    /// A pending record with no demanded minimum.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU64::new(FRESH),
        }
    }

    /// A version's own word: a fresh record, or one naming `shared`.
    fn of_version(shared: *const Record) -> Self {
        let address = shared as u64;
        // User-space addresses stay far below bit 61 on every 64-bit target
        // this builds for; checked, since a wrong guess would corrupt states.
        let high = address & (COMMITTED | READY | SHARED);
        assert!(high == 0, "record address too high");
        let word = if shared.is_null() {
            FRESH
        } else {
            SHARED | address
        };
        Self {
            state: AtomicU64::new(word),
        }
    }

    /// The record's current state.
    pub(crate) fn state(&self) -> State {
        // Acquire: pairs with the Release of `commit`, so a thread that sees
        // the record committed also sees the versions its owner installed.
        State::decode(self.state.load(Ordering::Acquire))
    }

    /// Decides, once and for all, whether this record is visible at `s`,
    /// without waiting: a pending record is pushed to commit after `s`.
    ///
    /// Returns `true` exactly when the record is committed at or before `s`.
    pub(crate) fn resolve_at(&self, s: Timestamp) -> bool {
        // Acquire: pairs with the Release of `commit` (see `state`).
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            match State::decode(word) {
                State::Committed { ts } => return ts <= s,
                State::Pending { min, .. } if min > s => return false,
                State::Pending { ready, .. } => {
                    // The push and the owner's commit are CASes on this one
                    // word: whichever comes first in its modification order,
                    // the other sees it. Pushed first: the commit takes a
                    // timestamp above `s`. Committed first: our CAS fails and
                    // we read the commit. The ready bit is kept. AcqRel on
                    // success: Acquire is for symmetry with the failure
                    // path; Release orders nothing the committer needs (it
                    // only needs the value, which an RMW always reads).
                    match self.state.compare_exchange(
                        word,
                        State::Pending { min: s + 1, ready }.encode(),
                        Ordering::AcqRel,
                        // Acquire: pairs with the Release of `commit`.
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return false,
                        Err(current) => word = current,
                    }
                }
            }
        }
    }

    /// Stores `committed(ts)`, copied from the shared record that committed
    /// at `ts` (see [`Version::settle`]).
    fn settle(&self, ts: Timestamp) {
        // Release: pairs with the Acquire loads in `state` and `resolve_at`,
        // like the commit it copies (the clock already orders what a reader
        // at `S >= ts` needs, so this only keeps the copy no weaker).
        self.state.store(COMMITTED | ts, Ordering::Release);
    }

    /// Marks the record ready, raising its minimum to at least `lower` (the
    /// command's own bound: one above every timestamp its versions cover);
    /// returns the state it left, which the owner commits from.
    ///
    /// Only the record's owner calls this, once, after linking every version
    /// of the command and pruning below them.
    pub(crate) fn mark_ready(&self, lower: Timestamp) -> State {
        // The owner's guess, right unless a reader pushed the record: then
        // the CAS fails and hands us the pushed word (one access fewer on
        // the common path than a load first).
        let mut word = FRESH;
        loop {
            let min = match State::decode(word) {
                State::Pending { min, .. } => min,
                // Unreachable: nobody commits a record before it is ready.
                committed @ State::Committed { .. } => return committed,
            };
            let ready = State::Pending {
                min: lower.max(min),
                ready: true,
            };
            match self.state.compare_exchange(
                word,
                ready.encode(),
                // Release: pairs with the Acquire load of a helper's `state`:
                // the tick it takes afterwards then publishes every version
                // we linked, as our own tick would.
                Ordering::Release,
                // Relaxed: a failed CAS only hands us a reader's push.
                Ordering::Relaxed,
            ) {
                Ok(_) => return ready,
                Err(current) => word = current,
            }
        }
    }

    /// Commits the record, seen in state `seen`, if that is ready, at the
    /// smallest timestamp that is at least both `tick()` and every minimum
    /// demanded; returns the commit timestamp (also when another thread
    /// committed it first), or `None` when `seen` is not ready (its owner is
    /// still linking).
    ///
    /// `seen` is what the owner's [`Self::mark_ready`] returned, or what a
    /// helper's Acquire load ([`Self::state`]) read: `tick` is then called
    /// (at most once) after the owner's links, so the timestamp it takes
    /// publishes them.
    pub(crate) fn commit(
        &self,
        seen: State,
        tick: impl FnOnce() -> Timestamp,
    ) -> Option<Timestamp> {
        let lower = match seen {
            State::Committed { ts } => return Some(ts),
            State::Pending { ready: false, .. } => return None,
            State::Pending { ready: true, .. } => tick(),
        };
        let mut word = seen.encode();
        loop {
            let min = match State::decode(word) {
                State::Pending { min, ready: true } => min,
                // Unreachable while `seen` is a state this word held: the
                // ready bit never clears. A made-up `seen` must not commit
                // a command whose owner is still linking.
                State::Pending { ready: false, .. } => return None,
                // Another thread committed it first: its timestamp stands.
                State::Committed { ts } => return Some(ts),
            };
            let ts = lower.max(min);
            match self.state.compare_exchange(
                word,
                COMMITTED | ts,
                // Release: pairs with the Acquire loads in `state` and
                // `resolve_at`: whoever sees the commit sees the versions
                // (ours, or, for a helper, the owner's through `mark_ready`).
                Ordering::Release,
                // Acquire: pairs with the Release of a racing commit, whose
                // timestamp we then return.
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(ts),
                Err(current) => word = current,
            }
        }
    }
}

/// One value of one key, or a tombstone.
pub(crate) struct Version {
    /// The value (`None`: a tombstone). Written before publication, then
    /// read-only. In a cell so that loom checks every read happens after
    /// the write that published it.
    body: UnsafeCell<Option<Value>>,
    /// The record of a one-key command; for a command of several keys, the
    /// shared record's address (owned by the command, which retires it
    /// once every version is settled) until settled to its commit.
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

    /// The own word, loaded once.
    fn own_word(&self) -> u64 {
        // Acquire: pairs with the Release of a commit or a settle into it
        // (see `Record::state`).
        self.own.state.load(Ordering::Acquire)
    }

    /// The shared record `word`, an unsettled own word, names, if any.
    fn named(word: u64) -> Option<*const Record> {
        (word & (COMMITTED | SHARED) == SHARED).then_some((word & !SHARED) as *const Record)
    }

    /// The state of the command that wrote this version, and the record
    /// deciding it.
    pub(crate) fn look(&self) -> Look<'_> {
        let word = self.own_word();
        match Self::named(word) {
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
        let word = self.own_word();
        if let Some(shared) = Self::named(word) {
            // SAFETY: as in `look`.
            return unsafe { &*shared }.resolve_at(s);
        }
        match State::decode(word) {
            State::Committed { ts } => ts <= s,
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

    /// Copies a several-key command's commit at `ts` into this version's
    /// own word, so readers stop at the version (its owner calls this after
    /// the commit, only on versions made with a shared record).
    pub(crate) fn settle(&self, ts: Timestamp) {
        self.own.settle(ts);
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
