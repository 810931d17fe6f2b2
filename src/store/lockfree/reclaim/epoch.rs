//! The reclamation stand-in under `--features loom`: a small epoch scheme
//! that frees retired memory as early as `crossbeam-epoch` could, so that a
//! use-after-free in the engine is a loom failure rather than a silent one.
//!
//! It follows crossbeam-epoch's protocol, reduced to what loom can explore:
//! * every loom thread that pins is a *participant* with one slot word, odd
//!   while pinned; pins nest, and only the outermost pin and unpin touch the
//!   slot (as crossbeam's `guard_count`). A pin stores the slot and then
//!   runs a SeqCst fence, as crossbeam's `pin` does.
//! * a retirement runs a SeqCst fence and then reads every slot, as
//!   crossbeam's `try_advance` does. The fences pair: a thread whose pin the
//!   retirer missed fenced later, so it sees the unlink that preceded the
//!   retirement and cannot reach the retired memory. Every slot found
//!   pinned *blocks* the garbage; the retirer's own slot always does.
//! * when a participant unpins, it frees every garbage item all of whose
//!   blockers have since moved on (an Acquire load that finds the slot's
//!   word changed reads that participant's unpin store, or a later store of
//!   its own that follows it: a Release store in both cases, so every access
//!   the blocker made under its pin happens before the free).
//!
//! *Freeing* is done with loom's exclusive-access checks rather than by
//! giving the memory back: each version's and record's state word, `next`
//! pointer and body are taken through `with_mut` and overwritten with
//! [`FREED`](super::super::version::FREED). Loom then reports any access
//! to that memory that does not happen before the free (`Causality
//! violation`), and an access that happens after it meets the `FREED` word
//! and panics (`use after free`). The memory itself is released when the
//! store drops, so a reported bug never touches memory that is really gone.
//! Before releasing it, the stand-in checks that no version was retired
//! twice (on two retired chains, or on one after being freed through
//! another), which catches a double retirement in a store that frees
//! nothing before it drops (model 16).
//!
//! Loom's SeqCst fence is stronger than C++'s (it joins the causality of
//! every earlier SeqCst fence), so pinning adds happens-before edges a real
//! pin does not have. A store built with
//! `LockFreeStore::with_eager_reclamation` uses this scheme; the others
//! keep every retired chain until they drop and add no steps to the models
//! that do not need it (see `paper.md` §4).

use super::super::version::{self, Record, Version};
use crate::sync::stat::Counter;
use crate::sync::{fence, AtomicU64, Ordering};
use std::sync::{Arc as StdArc, Mutex as StdMutex, MutexGuard as StdGuard, PoisonError};

/// Slots for participants: loom runs at most `loom::MAX_THREADS` (5).
const PARTICIPANTS: usize = 6;

/// Memory handed to the reclaimer.
pub(super) enum Garbage {
    /// A detached chain of versions, from its first to the marker or null.
    Chain(*mut Version),
    /// A shared commit record.
    Record(*mut Record),
}

/// A garbage item and the pins it waits for.
struct Retired {
    garbage: Garbage,
    /// `(slot, word)` of every participant pinned at the retirement.
    blockers: Vec<(usize, u64)>,
}

/// A pointer whose memory is poisoned, to be released on drop.
enum Freed {
    Version(*mut Version),
    Record(*mut Record),
}

/// One pinning thread.
struct Participant {
    thread: loom::thread::ThreadId,
    /// Nested pins held (the slot is odd while it is positive).
    depth: usize,
    /// The slot's current word, as this thread last stored it.
    word: u64,
}

/// The shared state of the stand-in.
pub(super) struct Epoch {
    /// Whether retired memory is freed before the store drops.
    eager: bool,
    /// Each participant's word: odd while pinned. Only its owner stores it.
    slots: [AtomicU64; PARTICIPANTS],
    /// The book-keeping below is plain `std` and never held across a loom
    /// step: loom orders nothing through it. The orderings the argument
    /// needs all go through `slots` and the fences.
    participants: StdMutex<Vec<Participant>>,
    garbage: StdMutex<Vec<Retired>>,
    freed: StdMutex<Vec<Freed>>,
    live: StdArc<Counter>,
}

// SAFETY: the raw pointers in the lists are owned by the stand-in alone
// (retired memory nobody else frees); versions and records hold only
// `Send + Sync` data.
unsafe impl Send for Epoch {}
// SAFETY: as above; every list is behind a mutex.
unsafe impl Sync for Epoch {}

/// A pin on the stand-in; unpins when dropped.
pub(crate) struct Pin {
    /// `None` for a store that frees only when it drops (no book-keeping).
    epoch: Option<StdArc<Epoch>>,
    slot: usize,
    /// Not `Send`, like crossbeam's guard: a pin belongs to its thread.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(epoch) = &self.epoch {
            epoch.unpin(self.slot);
        }
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> StdGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Epoch {
    pub(super) fn new(eager: bool, live: StdArc<Counter>) -> StdArc<Self> {
        StdArc::new(Self {
            eager,
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            participants: StdMutex::new(Vec::new()),
            garbage: StdMutex::new(Vec::new()),
            freed: StdMutex::new(Vec::new()),
            live,
        })
    }

    /// Pins the current thread.
    pub(super) fn pin(self: &StdArc<Self>) -> Pin {
        if !self.eager {
            return Pin {
                epoch: None,
                slot: 0,
                _thread_bound: std::marker::PhantomData,
            };
        }
        let me = loom::thread::current().id();
        let (slot, word) = {
            let mut participants = lock(&self.participants);
            let slot = match participants.iter().position(|p| p.thread == me) {
                Some(slot) => slot,
                None => {
                    assert!(participants.len() < PARTICIPANTS, "too many participants");
                    participants.push(Participant {
                        thread: me,
                        depth: 0,
                        word: 0,
                    });
                    participants.len() - 1
                }
            };
            let p = &mut participants[slot];
            p.depth += 1;
            if p.depth > 1 {
                (slot, None)
            } else {
                p.word += 1;
                (slot, Some(p.word))
            }
        };
        if let Some(word) = word {
            self.announce(slot, word);
        }
        Pin {
            epoch: Some(StdArc::clone(self)),
            slot,
            _thread_bound: std::marker::PhantomData,
        }
    }

    /// Stores a pinned word and fences, as crossbeam's `pin`.
    fn announce(&self, slot: usize, word: u64) {
        // Release: a collector that reads this word instead of our previous
        // unpin still synchronizes with everything before it.
        self.slots[slot].store(word, Ordering::Release);
        // SeqCst: pairs with the fence of `retire`: either the retirer
        // sees this pin, or our later loads see its unlink.
        fence(Ordering::SeqCst);
    }

    /// Leaves the outermost pin of `slot`'s thread (and then collects).
    fn unpin(&self, slot: usize) {
        let word = {
            let mut participants = lock(&self.participants);
            let p = &mut participants[slot];
            p.depth -= 1;
            if p.depth > 0 {
                return;
            }
            p.word += 1;
            p.word
        };
        // Release: pairs with the Acquire loads of `collect`: everything
        // this thread did under the pin happens before a free it allows.
        self.slots[slot].store(word, Ordering::Release);
        self.collect();
    }

    /// Runs `wait` with the thread unpinned if `pin` is its only pin
    /// (crossbeam's `repin_after`); an empty `wait` is a repin.
    pub(super) fn unpinned<R>(&self, pin: &Pin, wait: impl FnOnce() -> R) -> R {
        if pin.epoch.is_none() {
            return wait();
        }
        let only = lock(&self.participants)[pin.slot].depth == 1;
        if !only {
            return wait();
        }
        self.unpin(pin.slot);
        let result = wait();
        let word = {
            let mut participants = lock(&self.participants);
            let p = &mut participants[pin.slot];
            p.depth += 1;
            p.word += 1;
            p.word
        };
        self.announce(pin.slot, word);
        result
    }

    /// Hands `garbage` over, to be freed once every thread pinned now has
    /// unpinned (the caller is pinned, so not before it unpins).
    pub(super) fn retire(&self, garbage: Garbage) {
        let mut blockers = Vec::new();
        if self.eager {
            // SeqCst: pairs with the fence of every pin (`announce`).
            fence(Ordering::SeqCst);
            let count = lock(&self.participants).len();
            for slot in 0..count {
                // Acquire: an unpinned word read here is the unpin store
                // (or a later one of that thread), so that thread's earlier
                // accesses happen before the free.
                let word = self.slots[slot].load(Ordering::Acquire);
                if word % 2 == 1 {
                    blockers.push((slot, word));
                }
            }
            debug_assert!(!blockers.is_empty(), "the retirer is not pinned");
        }
        lock(&self.garbage).push(Retired { garbage, blockers });
    }

    /// Frees every garbage item whose blockers have all unpinned since.
    ///
    /// Each collector checks every blocker itself: a blocker another
    /// collector saw move on is no proof for this one, whose free must
    /// happen after the blocker's unpin in its own view.
    fn collect(&self) {
        let pending = std::mem::take(&mut *lock(&self.garbage));
        let mut kept = Vec::new();
        for item in pending {
            let unblocked = item.blockers.iter().all(|&(slot, word)| {
                // Acquire: pairs with the Release stores of `unpin` and
                // `announce` (see the module docs). A stale load may return
                // an older word (smaller: each slot only grows), which
                // still blocks.
                self.slots[slot].load(Ordering::Acquire) > word
            });
            if unblocked {
                self.free(item.garbage);
            } else {
                kept.push(item);
            }
        }
        if !kept.is_empty() {
            lock(&self.garbage).append(&mut kept);
        }
    }

    /// Poisons `garbage` (module docs) and keeps it for release on drop.
    fn free(&self, garbage: Garbage) {
        let mut freed = Vec::new();
        match garbage {
            Garbage::Record(record) => {
                // SAFETY: retired once, and every thread that could still
                // reach it has unpinned; a breach of that is what loom
                // reports inside `poison`.
                unsafe { (*record).poison() };
                freed.push(Freed::Record(record));
            }
            Garbage::Chain(first) => {
                let mut p = first;
                while !p.is_null() && p != version::marker() {
                    freed.push(Freed::Version(p));
                    // SAFETY: as for a record; the chain is ours alone, up
                    // to the marker a concurrent cut stored.
                    p = unsafe { (*p).poison() };
                }
                self.live.add(-(freed.len() as isize));
            }
        }
        lock(&self.freed).append(&mut freed);
    }
}

impl Epoch {
    /// Panics if a version was retired twice: if it lies on two retired
    /// chains, or on a retired chain after it was freed (poisoned) through
    /// another, so that the release below would free it twice. Retired
    /// chains are disjoint up to the marker a concurrent cut stored
    /// (`prune.rs`), and no address is reused before this check (the
    /// stand-in keeps freed memory until here).
    fn assert_retired_once(&self) {
        let mut seen = std::collections::HashSet::new();
        for freed in lock(&self.freed).iter() {
            if let Freed::Version(p) = *freed {
                seen.insert(p as usize);
            }
        }
        for item in lock(&self.garbage).iter() {
            let Garbage::Chain(first) = item.garbage else {
                continue;
            };
            let mut p = first;
            while !version::is_chain_end(p) {
                assert!(seen.insert(p as usize), "a version was retired twice");
                // Relaxed: every thread of the model is done; nothing
                // writes the chain any more.
                // SAFETY: retired and not yet released; no thread remains.
                p = unsafe { (*p).next.load(Ordering::Relaxed) };
            }
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        // A second panic while a failed model unwinds would abort the run.
        if !std::thread::panicking() {
            self.assert_retired_once();
        }
        // Every pin and every store user is gone: release all memory.
        for item in std::mem::take(&mut *lock(&self.garbage)) {
            match item.garbage {
                Garbage::Record(record) => {
                    // SAFETY: retired once; no thread remains.
                    drop(unsafe { Box::from_raw(record) });
                }
                Garbage::Chain(first) => {
                    // SAFETY: retired once; no thread remains.
                    let freed = unsafe { version::free_chain(first, version::Blocks::Release) };
                    self.live.add(-(freed as isize));
                }
            }
        }
        for freed in std::mem::take(&mut *lock(&self.freed)) {
            match freed {
                // SAFETY: poisoned once (its `next` was taken, so no chain
                // walk reaches it again); no thread remains.
                Freed::Version(p) => drop(unsafe { Box::from_raw(p) }),
                // SAFETY: as above.
                Freed::Record(p) => drop(unsafe { Box::from_raw(p) }),
            }
        }
    }
}
