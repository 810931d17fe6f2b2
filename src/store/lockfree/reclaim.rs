//! Reclaiming unlinked versions, and counting live ones.
//!
//! A chain of versions unlinked from every entry may still be in the hands
//! of a reader that loaded a pointer into it before the unlink. It is freed
//! only when no such reader can remain: normally through `crossbeam-epoch`
//! (every traversal runs pinned; a retired chain is freed once every thread
//! pinned before the retirement has unpinned).
//!
//! Under `--features loom` crossbeam-epoch would need `--cfg crossbeam_loom`,
//! so a stand-in (`epoch.rs`) takes its place. In a store built with
//! `LockFreeStore::with_eager_reclamation` it frees (poisons, in loom's
//! eyes) retired memory as soon as every thread pinned at the retirement
//! has unpinned, the earliest point crossbeam-epoch could, so a
//! use-after-free is a loom failure; other stores keep retired memory until
//! they drop, and their models check *when versions are unlinked* only.
//! crossbeam-epoch's own implementation of the grace period is that crate's
//! separately tested guarantee.
//!
//! The shared commit records of several-key commands go the same way: their
//! owner retires one once it has settled every version pointing to it.
//!
//! A retired chain is not freed by its deferred closure: the closure moves
//! it onto a ready list (`ready.rs`), from which each operation frees at
//! most [`Reclaimer::free_budget`] versions, so that no single command pays
//! for a whole batch of chains (the loom stand-in frees at the grace
//! period itself, the earliest and so the strictest point).
//!
//! Invariant: `live` = versions allocated − versions freed, for this store
//! (exact once the threads touching the store are quiescent, deferred
//! frees have run, and the threads that ran them have freed their ready
//! lists: within their next operations, or when they exit). Debug builds
//! count shared records the same way (`records`), so that tests see a
//! record that is never retired; release builds, which the paper
//! measures, do not pay for that count.

use super::version::{self, Version};
use crate::sync::stat::Counter;
use crate::token::Value;
use std::sync::Arc;

use super::version::Record;

/// Hands out versions and takes back unlinked chains.
pub(crate) struct Reclaimer {
    /// A statistic (`std`'s `Arc` even under loom: it orders nothing).
    live: Arc<Counter>,
    /// Records allocated and not yet freed (a statistic, as `live`).
    #[cfg(all(debug_assertions, not(feature = "loom")))]
    records: Arc<Counter>,
    #[cfg(feature = "loom")]
    epoch: Arc<epoch::Epoch>,
}

// std: the stand-in's book-keeping must be invisible to loom (a loom
// mutex would order every retirement after the one before); see its doc.
#[cfg(feature = "loom")]
#[allow(clippy::disallowed_types)]
mod epoch;

#[cfg(not(feature = "loom"))]
mod ready;

/// A pin that keeps every version reachable when it was taken alive.
#[cfg(not(feature = "loom"))]
pub(crate) type Pin = crossbeam_epoch::Guard;

/// Under loom, a pin on the stand-in (`epoch.rs`).
#[cfg(feature = "loom")]
pub(crate) use epoch::Pin;

/// A detached chain, sendable to whichever thread frees it.
struct Detached(*mut Version);

// SAFETY: a detached chain is owned by exactly one holder (the deferred
// closure or the retired list); versions hold only `Send` data.
unsafe impl Send for Detached {}

/// A retired shared record, sendable to whichever thread frees it.
struct DetachedRecord(*mut Record);

// SAFETY: a retired record is owned by exactly one holder (the deferred
// closure or the retired list); a record is one atomic word.
unsafe impl Send for DetachedRecord {}

impl Reclaimer {
    pub(crate) fn new() -> Self {
        Self::with_eager_frees(false)
    }

    /// A reclaimer whose loom stand-in frees retired memory as early as
    /// crossbeam-epoch could (`eager`), or only when the store drops.
    /// Without `--features loom` reclamation is always crossbeam-epoch's.
    pub(crate) fn with_eager_frees(eager: bool) -> Self {
        let live = Arc::new(Counter::default());
        #[cfg(not(feature = "loom"))]
        let _ = eager;
        Self {
            #[cfg(feature = "loom")]
            epoch: epoch::Epoch::new(eager, Arc::clone(&live)),
            live,
            #[cfg(all(debug_assertions, not(feature = "loom")))]
            records: Arc::new(Counter::default()),
        }
    }

    /// Pins the current thread for a traversal.
    #[inline]
    pub(crate) fn pin(&self) -> Pin {
        #[cfg(not(feature = "loom"))]
        {
            crossbeam_epoch::pin()
        }
        #[cfg(feature = "loom")]
        {
            self.epoch.pin()
        }
    }

    /// Runs `wait` unpinned (re-pinning after it), so that a thread waiting
    /// for another, or a long traversal yielding the processor, does not
    /// hold back reclamation meanwhile: the thread re-pins in the current
    /// epoch, so chains retired before the call may be freed. The caller
    /// must hold no pointer it loaded under the pin across it, nor one to
    /// its own pending versions: a writer may abort a several-key command,
    /// link above its versions and cut them (`write.rs`), so nothing in a
    /// chain is safe from retirement but under a pin.
    ///
    /// Taking a fresh pin while the old one lives would not do it: pins
    /// nest, and a thread stays in the epoch of its outermost pin until the
    /// last one drops. So the pin itself is moved on (`Guard::repin_after`,
    /// which only takes effect if it is the thread's only pin; a caller
    /// nested in another pin stays pinned, as it must).
    #[inline]
    pub(crate) fn unpinned<R>(&self, pin: &mut Pin, wait: impl FnOnce() -> R) -> R {
        #[cfg(not(feature = "loom"))]
        {
            pin.repin_after(wait)
        }
        #[cfg(feature = "loom")]
        {
            self.epoch.unpinned(pin, wait)
        }
    }

    /// A new, unpublished version, counted as live.
    pub(crate) fn alloc(&self, value: Option<Value>, shared: *const Record) -> *mut Version {
        self.live.add(1);
        version::alloc(value, shared)
    }

    /// A new pending record for a command of several keys.
    pub(crate) fn alloc_record(&self) -> *mut Record {
        #[cfg(all(debug_assertions, not(feature = "loom")))]
        self.records.add(1);
        version::alloc_record()
    }

    /// Retires a shared record: it is freed once no pinned reader can still
    /// hold a pointer to it.
    ///
    /// # Safety
    /// `record` came from [`Self::alloc_record`], every version pointing to
    /// it is settled, and the caller retires it only once.
    pub(crate) unsafe fn retire_record(&self, record: *mut Record, pin: &Pin) {
        let record = DetachedRecord(record);
        #[cfg(not(feature = "loom"))]
        {
            #[cfg(debug_assertions)]
            let records = Arc::clone(&self.records);
            let free = move || {
                let record = record;
                // SAFETY: after the grace period no reader holds the
                // pointer, and the record is ours alone.
                unsafe { version::free_record(record.0) };
                #[cfg(debug_assertions)]
                records.add(-1);
            };
            // SAFETY: crossbeam-epoch runs `free` only after every thread
            // pinned now has unpinned; `free` owns only `Send` data.
            unsafe { pin.defer_unchecked(free) };
        }
        #[cfg(feature = "loom")]
        {
            let _ = pin;
            self.epoch.retire(epoch::Garbage::Record(record.0));
        }
    }

    /// Frees a chain no thread can reach any more (store teardown).
    ///
    /// # Safety
    /// As [`version::free_chain`].
    pub(crate) unsafe fn free_now(&self, first: *mut Version) {
        // SAFETY: forwarded contract.
        let freed = unsafe { version::free_chain(first, version::Blocks::Release) };
        self.live.add(-(freed as isize));
    }

    /// Retires a chain that was just unlinked: it is freed once no pinned
    /// reader can still hold a pointer into it.
    ///
    /// # Safety
    /// The chain from `first` is unlinked from every entry, the caller is the
    /// only one to retire it, and its `next` pointers change only by a cut
    /// (to the marker) made by a thread pinned before this call, so that
    /// the free, which runs after that thread unpins, sees the cut.
    pub(crate) unsafe fn retire(&self, first: *mut Version, pin: &Pin) {
        if version::is_chain_end(first) {
            return;
        }
        let chain = Detached(first);
        #[cfg(not(feature = "loom"))]
        {
            let live = Arc::clone(&self.live);
            let free = move || {
                let chain = chain;
                // SAFETY: this runs after the grace period: no reader holds a
                // pointer into the detached chain, which we own alone.
                unsafe { ready::push(chain.0, live) };
            };
            // The no-free ablation (`--features ablation-no-free`, bench
            // builds only) leaks pruned chains, to measure what freeing
            // them costs the write tail.
            #[cfg(feature = "ablation-no-free")]
            let _ = (pin, std::mem::ManuallyDrop::new(free));
            #[cfg(not(feature = "ablation-no-free"))]
            // SAFETY: crossbeam-epoch runs `free` only after every thread
            // pinned now has unpinned; `free` owns only `Send` data.
            unsafe {
                pin.defer_unchecked(free)
            };
        }
        #[cfg(feature = "loom")]
        {
            let _ = pin;
            self.epoch.retire(epoch::Garbage::Chain(chain.0));
        }
    }

    /// How many versions an operation on `keys` keys frees at most from
    /// its thread's ready list: twice what it can allocate, plus a few, so
    /// that the list shrinks under any load that allocates.
    #[inline]
    pub(crate) fn free_budget(keys: usize) -> usize {
        2 * keys + 8
    }

    /// Frees at most `budget` versions whose grace period has passed (this
    /// thread's ready list); returns how many. Call it unpinned, after the
    /// operation's own work.
    #[inline]
    pub(crate) fn free_some(&self, budget: usize) -> usize {
        #[cfg(not(feature = "loom"))]
        {
            ready::free_some(budget)
        }
        #[cfg(feature = "loom")]
        {
            let _ = budget;
            0
        }
    }

    /// Frees every version on this thread's ready list (a snapshot's
    /// thread once it gives up its seat, and tests that wait for frees).
    pub(crate) fn free_ready(&self) -> usize {
        self.free_some(usize::MAX)
    }

    /// Versions allocated and not yet freed.
    pub(crate) fn live(&self) -> usize {
        self.live.sum().max(0) as usize
    }

    /// Shared records allocated and not yet freed (debug builds; exact once
    /// the store is quiescent and deferred frees have run).
    #[cfg(all(test, debug_assertions, not(feature = "loom")))]
    pub(crate) fn live_records(&self) -> usize {
        self.records.sum().max(0) as usize
    }
}
