//! A commit record: one 64-bit state word that decides, once, when every
//! version of a command becomes visible (the invariants are the parent
//! module's). A version's own word is a record too, which for a several-key
//! command names the shared record until it is settled.

use crate::store::Timestamp;
use crate::sync::{AtomicU64, Ordering};

/// Set in a state word once the record is committed; the other bits hold
/// the commit timestamp. Clear: pending, the bits below [`READY`] hold the
/// minimum commit timestamp readers (and the owner) have demanded.
const COMMITTED: u64 = 1 << 63;

/// Set in a pending state word once the owner has linked every version of
/// the command: from then on any thread may commit it.
const READY: u64 = 1 << 62;

/// The state word of an aborted record: both flags, no timestamp. A
/// committed word never has [`READY`] set (its timestamp stays below
/// [`SHARED`]), so this one is told apart from every commit.
const ABORTED: u64 = COMMITTED | READY;

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
    /// Never visible: a writer that met the command not ready gave up on
    /// it, and its owner starts it again with fresh versions (final, like
    /// a commit).
    Aborted,
}

/// The state word of a record the loom reclamation stand-in has freed
/// (`reclaim/epoch.rs`): never a real state (it would be a commit at
/// `2^63 - 1`).
#[cfg(feature = "loom")]
pub(crate) const FREED: u64 = u64::MAX;

impl State {
    pub(super) fn decode(word: u64) -> Self {
        #[cfg(feature = "loom")]
        assert_ne!(word, FREED, "use after free: a freed record was read");
        if word == ABORTED {
            State::Aborted
        } else if word & COMMITTED != 0 {
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
        // A minimum at bit 61 would read as a shared record's address: the
        // clock would need about 2^61 commits to get there.
        debug_assert!(
            !matches!(self, State::Pending { min, .. } if min >= SHARED),
            "a minimum overflowed into the state word's flags"
        );
        match self {
            State::Committed { ts } => COMMITTED | ts,
            State::Aborted => ABORTED,
            State::Pending { min, ready: false } => min,
            State::Pending { min, ready: true } => READY | min,
        }
    }
}

/// The shared commit record of one write or delete.
#[derive(Debug)]
pub(crate) struct Record {
    pub(super) state: AtomicU64,
}

impl Record {
    /// A pending record with no demanded minimum.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU64::new(FRESH),
        }
    }

    /// A version's own word: a fresh record, or one naming `shared`.
    pub(super) fn of_version(shared: *const Record) -> Self {
        // The cast exposes the address, so that `named` may rebuild the
        // pointer. User addresses stay far below bit 61 on 64-bit targets;
        // checked, as a wrong guess would corrupt states.
        let address = shared as usize as u64;
        assert!(
            address & (COMMITTED | READY | SHARED) == 0,
            "address too high"
        );
        let word = if shared.is_null() {
            FRESH
        } else {
            SHARED | address
        };
        Self {
            state: AtomicU64::new(word),
        }
    }

    /// The word as it stands (a version's own word, which may name a
    /// shared record: see [`Self::named`]).
    pub(super) fn word(&self) -> u64 {
        // Acquire: pairs with the Release of a commit or a settle into it
        // (see `state`).
        self.state.load(Ordering::Acquire)
    }

    /// The shared record `word`, an unsettled own word, names, if any.
    pub(super) fn named(word: u64) -> Option<*const Record> {
        let address = (word & !SHARED) as usize;
        (word & (COMMITTED | SHARED) == SHARED).then_some(address as *const Record)
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
                State::Aborted => return false,
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

    /// Stores `last`, the final state (committed or aborted) copied from
    /// the shared record that reached it (see [`super::Version::settle`]).
    pub(super) fn settle(&self, last: State) {
        debug_assert!(!matches!(last, State::Pending { .. }), "settled pending");
        // Release: pairs with the Acquire loads in `state` and `resolve_at`,
        // like the commit it copies (the clock already orders what a reader
        // at `S >= ts` needs, so this only keeps the copy no weaker).
        self.state.store(last.encode(), Ordering::Release);
    }

    /// Aborts the command, which the caller found in state `seen` at a
    /// key's head, if it is still not ready (its owner between two links):
    /// it will never be visible, and its owner starts it again. Returns
    /// whether this call aborted it; `false` when its owner marked it
    /// ready first or another writer aborted it (the caller looks again:
    /// it commits a ready command, and links above an aborted one).
    pub(crate) fn abort(&self, seen: State) -> bool {
        let mut word = seen.encode();
        loop {
            if !matches!(State::decode(word), State::Pending { ready: false, .. }) {
                return false;
            }
            match self.state.compare_exchange(
                word,
                ABORTED,
                // Relaxed: the abort publishes nothing. Nobody reads an
                // aborted command's values; the caller's Release CAS that
                // links above the aborted version publishes its own, and
                // its owner only learns from this word's value (its
                // `mark_ready` is a CAS on it) that it must start again.
                Ordering::Relaxed,
                // Relaxed: a failed try only hands us the word to decide on.
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }

    /// Makes an unpublished record ready at minimum `min`: a one-key
    /// command's own word, armed just before the link that publishes its
    /// version (the command is ready as soon as anyone can see it).
    pub(crate) fn arm_ready(&self, min: Timestamp) {
        // Relaxed: the record is not yet reachable; the Release CAS that
        // links its version publishes it to every Acquire head load.
        self.state.store(
            State::Pending { min, ready: true }.encode(),
            Ordering::Relaxed,
        );
    }

    /// Marks the record ready, raising its minimum to at least `lower` (the
    /// command's own bound: one above every timestamp its versions cover);
    /// returns the state it left, which the owner commits from.
    ///
    /// Only the record's owner calls this, once, after linking every version
    /// of a several-key command.
    pub(crate) fn mark_ready(&self, lower: Timestamp) -> State {
        // The owner's guess, right unless a reader pushed the record: then
        // the CAS fails and hands us the pushed word (one access fewer on
        // the common path than a load first).
        let mut word = FRESH;
        loop {
            let min = match State::decode(word) {
                State::Pending { min, .. } => min,
                // A writer that met one of our versions gave up on us: the
                // owner starts the command again.
                State::Aborted => return State::Aborted,
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
            State::Pending { ready: false, .. } | State::Aborted => return None,
            State::Pending { ready: true, .. } => tick(),
        };
        let mut word = seen.encode();
        loop {
            let min = match State::decode(word) {
                State::Pending { min, ready: true } => min,
                // Unreachable while `seen` is a state this word held: the
                // ready bit never clears. A made-up `seen` must not commit
                // a command whose owner is still linking. (Nor is a ready
                // record ever aborted.)
                State::Pending { ready: false, .. } | State::Aborted => return None,
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
