//! The lock-free multi-version engine (the default).
//!
//! Each key maps, through a concurrent index, to an `index::Entry` holding
//! an atomic pointer to the key's chain of versions, newest first. A global
//! logical `clock::Clock` orders commits; a multi-key write links one
//! pending version per key, all sharing one `version::Record`, and a single
//! CAS on that record's state word makes them visible at once.
//!
//! What each operation may wait for (flurry's `get` and iteration take no
//! lock; its inserts into a non-empty bin, and `compute_if_present`, take
//! that bin's lock for a short critical section):
//!
//! * `read` (a plain `READ`): *lock-free*. Picks `S = clock now` and reads
//!   every key at `S`; takes no lock and never waits for a writer (a
//!   pending record met on the way is pushed past `S`). It restarts at a
//!   fresh `S` when a commit overtook it (a pruning cut, a retired entry,
//!   or a floor above `S`), so it is not wait-free. The first reader of a
//!   fresh entry fixes its floor with one CAS.
//! * one-key `write`: waits for no other thread but briefly. A pending
//!   version at the key's head that is ready (a one-key command's is, from
//!   its link; a several-key command's once its owner marked it) is
//!   committed by the writer that finds it (*helping*, `write.rs`). A
//!   several-key command's version that is not ready yet (its owner
//!   between two links) is waited for a bounded spin, then *aborted*:
//!   that command starts again, and the writer links above its version,
//!   which nobody ever sees. So it is lock-free against one-key commands,
//!   obstruction-free against several-key ones. Creating the key's entry
//!   may wait for a flurry bin lock. Its steps: one horizon (a scan of at
//!   most 128 seats and a SeqCst fence), pruning before the link (below),
//!   the link CAS, the commit CAS (retried only when a reader pushed it or
//!   a helper committed first) and a bounded tidy step.
//! * multi-key `write`: as one-key, key by key in ascending order, then
//!   marks its record ready; if a writer aborted it meanwhile, the mark
//!   fails, and it settles its versions aborted and starts again.
//!   *Obstruction-free*: it commits if it runs alone long enough; two
//!   several-key commands can in principle keep aborting each other.
//! * `delete`: first reads its keys (lock-free); if all are absent it is a
//!   no-op there. Otherwise a multi-key write of tombstones. It then queues
//!   its keys as dead and retires the oldest dead keys beyond the store's
//!   retirement delay (at most one more than it queued; a store built for
//!   models retires its own at once): for each, a CAS, and its removal from
//!   flurry (`compute_if_present`, which takes the bin's lock). A dead key
//!   written again before its turn keeps its entry (`prune.rs`).
//! * snapshot start: lock-free (one seat CAS per free seat met) while
//!   fewer than 128 snapshots are registered; *blocking* (spins) while all
//!   seats are taken.
//! * snapshot iteration: takes no lock, never waits for a writer and never
//!   restarts (nothing it needs is pruned, `read.rs`); each entry costs the
//!   versions above the one visible at its `S`. It re-pins and yields the
//!   processor every 256 entries (`WalkPace`).
//! * snapshot end: frees the seat (wait-free). If it was the oldest, it
//!   sweeps the index when tombstones were held back (O(keys), re-pinning;
//!   each removal takes a flurry bin lock), then runs one bounded tidy
//!   step. So the thread ending the oldest snapshot may wait for flurry bin
//!   locks, and a writer creating or retiring an entry in the same bin may
//!   wait for it; nothing waits for a pending commit there.
//! * pruning (`prune.rs`): never waits (the chain's pruning claim is only
//!   tried). O(1) per write while the horizon has not moved since the
//!   key's last prune; one walk of the versions above the new horizon when
//!   it has.
//! * reclamation (`reclaim.rs`): a retired chain becomes freeable once
//!   every thread pinned at the retirement has unpinned, and is then freed
//!   at most `2·keys + 8` versions per later operation of the thread that
//!   found it so (`reclaim/ready.rs`). No operation waits for it, but
//!   one thread preempted while pinned (in the middle of any operation)
//!   delays every free meanwhile. With no snapshot open, a key holds O(1)
//!   versions after each write to it; versions a snapshot kept are queued
//!   on a backlog and pruned, two keys per later write, delete or snapshot
//!   end, once it has ended.
//!
//! The argument that all of this is linearizable, and what the loom models
//! (`loom_tests/store_*.rs`) check of it, is in `paper.md` §4. Under
//! `--features loom` the index and the reclamation are stand-ins; see
//! `index` and `reclaim` for what the models therefore do not cover.

mod clock;
mod hold;
mod index;
mod prune;
mod read;
mod reclaim;
mod snapshots;
mod version;
mod write;

use super::{Deletion, Engine, KeySet, Presence, Snapshot, Store, Timestamp, WriteSet};
use crate::pace::{self, Pacer};
use crate::sync::stat::Counter;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering};
use crate::token::{Key, Value};
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use clock::Clock;
use hold::Stage;
use index::Index;
use read::Seen;
use reclaim::Reclaimer;
use snapshots::Registry;

/// How many entries a snapshot (or a sweep) reads under one epoch pin before re-pinning,
/// so that a long `SHOW` or `BACKUP` does not hold back reclamation.
pub(crate) const ENTRIES_PER_PIN: u32 = 256;

/// Paces a walk over the whole index (a snapshot reading every key, a
/// tombstone sweep): at the end of every [`ENTRIES_PER_PIN`] entries it
/// yields the processor unpinned, so that the walk neither holds back
/// reclamation nor keeps the core for long (see [`crate::pace`]).
pub(crate) struct WalkPace(Pacer);

impl WalkPace {
    /// A walk that has read nothing yet.
    pub(crate) fn new() -> Self {
        Self(Pacer::every(ENTRIES_PER_PIN))
    }

    /// Counts one entry read under `pin`; at a chunk's end, yields with
    /// `pin` released and takes it again.
    #[inline]
    pub(crate) fn step(&mut self, reclaim: &Reclaimer, pin: &mut reclaim::Pin) {
        if self.0.due() {
            reclaim.unpinned(pin, crate::sync::thread::yield_now);
        }
    }
}

/// The shared state of one store; snapshots keep it alive.
pub(crate) struct Inner {
    index: Index,
    clock: Clock,
    registry: Registry,
    reclaim: Reclaimer,
    /// The largest commit timestamp of a tombstone whose entry was (or was
    /// about to be) retired. Written only by retirements; read by reads that
    /// find a key missing and by writers creating an entry.
    retired: CachePadded<AtomicU64>,
    /// Tombstones a registered snapshot held back from retirement (an upper
    /// bound; a sweep resets it). When it is not zero, the end of the
    /// oldest snapshot sweeps the index (`prune.rs`).
    held_back: CachePadded<AtomicUsize>,
    /// Versions visited by pruning walks (a statistic, for tests).
    pruning_walk: Counter,
    /// Links that met another command's pending head that was not ready
    /// yet and waited for it, briefly (a statistic, for the benchmark's
    /// attribution of a tail: `kvs-bench --count-switches`).
    pending_waits: Counter,
    /// Links that met another command's pending head ready and committed
    /// it for its owner (a statistic: how often helping happens).
    helps: Counter,
    /// Links that gave up waiting for another command's pending head that
    /// was not ready and aborted that command (a statistic: how often an
    /// owner between two links is made to start again).
    aborts: Counter,
    /// Keys whose chains a snapshot kept long, with the horizon they were
    /// last pruned at: writes and snapshot ends prune a few each once the
    /// horizon has passed it (`prune.rs`).
    backlog: SegQueue<(Key, Timestamp)>,
    /// Keys deletes left dead, oldest first, not yet offered for
    /// retirement (a key may be queued more than once; `prune.rs`).
    dead: SegQueue<Key>,
    /// How many dead keys may wait in `dead` before deletes retire the
    /// oldest: 0 retires each delete's own keys at once.
    retire_delay: usize,
}

/// The lock-free multi-version store.
pub struct LockFreeStore {
    inner: Arc<Inner>,
}

/// Shows the clock only: the index is too large to show and changes under
/// the reader.
impl std::fmt::Debug for LockFreeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockFreeStore")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Default for LockFreeStore {
    fn default() -> Self {
        Self::new()
    }
}

impl LockFreeStore {
    /// An empty store. Dead keys are retired `prune::RETIRE_DELAY` (1,024) dead
    /// keys later, so a key deleted and soon written again keeps its entry.
    pub fn new() -> Self {
        Self::with_reclaimer(snapshots::SEATS, Reclaimer::new(), prune::RETIRE_DELAY)
    }

    /// An empty store whose registry holds `seats` snapshots at once (small
    /// values keep loom models small), and whose deletes retire their own
    /// dead keys at once (the models check that retirement against every
    /// racing step).
    pub fn with_snapshot_seats(seats: usize) -> Self {
        Self::with_reclaimer(seats, Reclaimer::new(), 0)
    }

    /// An empty store whose deletes retire the oldest dead keys once more
    /// than `delay` wait (0: each delete its own, at once).
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn with_retirement_delay(delay: usize) -> Self {
        Self::with_reclaimer(snapshots::SEATS, Reclaimer::new(), delay)
    }

    /// As [`Self::with_snapshot_seats`]; under `--features loom` the
    /// reclamation stand-in then frees retired memory as early as
    /// crossbeam-epoch could, so a model reports a use-after-free
    /// (`reclaim.rs`). Without the feature it is the same store.
    #[doc(hidden)]
    pub fn with_eager_reclamation(seats: usize) -> Self {
        Self::with_reclaimer(seats, Reclaimer::with_eager_frees(true), 0)
    }

    fn with_reclaimer(seats: usize, reclaim: Reclaimer, retire_delay: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                index: Index::new(),
                clock: Clock::new(),
                registry: Registry::with_capacity(seats),
                reclaim,
                retired: CachePadded::new(AtomicU64::new(0)),
                held_back: CachePadded::new(AtomicUsize::new(0)),
                pruning_walk: Counter::default(),
                pending_waits: Counter::default(),
                helps: Counter::default(),
                aborts: Counter::default(),
                backlog: SegQueue::new(),
                dead: SegQueue::new(),
                retire_delay,
            }),
        }
    }

    /// Versions allocated and not yet freed (a debugging statistic: exact
    /// once the store is quiescent and deferred frees have run, including
    /// those waiting on threads' ready lists; see `reclaim.rs`).
    pub fn live_versions(&self) -> usize {
        self.inner.reclaim.live()
    }

    /// Versions pruning walks have visited so far (a statistic: exact once
    /// the store is quiescent).
    #[doc(hidden)]
    pub fn versions_walked_pruning(&self) -> usize {
        self.inner.pruning_walk.sum().max(0) as usize
    }

    /// How many links so far waited for another command's pending version
    /// that was not ready yet (each such link counts once; it waits a
    /// bounded spin at most, then aborts that command: [`Self::aborts`]; a
    /// statistic: exact once the store is quiescent). A pending head that
    /// is ready is helped, not waited for, and is not counted.
    pub fn pending_waits(&self) -> u64 {
        self.inner.pending_waits.sum().max(0) as u64
    }

    /// How many links so far met another command's pending version ready
    /// and committed that command for its owner (or found it committed by
    /// then: the commit's CAS does not say who won). A statistic: exact
    /// once the store is quiescent.
    pub fn helps(&self) -> u64 {
        self.inner.helps.sum().max(0) as u64
    }

    /// How many links so far gave up waiting for another command's pending
    /// version that was not ready (its owner between two links) and
    /// aborted that command, which then started again. A statistic: exact
    /// once the store is quiescent.
    pub fn aborts(&self) -> u64 {
        self.inner.aborts.sum().max(0) as u64
    }

    /// Dead keys whose entry is not retired yet (a committed tombstone at
    /// the head): for models and tests of retirement.
    #[doc(hidden)]
    pub fn unretired_tombstones(&self) -> usize {
        let inner = &*self.inner;
        let guard = inner.index.guard();
        let _pin = inner.reclaim.pin();
        let mut dead = 0;
        inner.index.for_each(&guard, |_, entry| {
            // Acquire: pairs with the Release CAS that linked the head.
            let head = entry.head.load(Ordering::Acquire);
            if version::is_chain_end(head) {
                return;
            }
            // SAFETY: loaded from a live entry while pinned.
            let top = unsafe { &*head };
            if top.value().is_none() && matches!(top.state(), version::State::Committed { .. }) {
                dead += 1;
            }
        });
        dead
    }

    /// Retires every dead key no snapshot can see (also done automatically
    /// when the oldest snapshot ends after some tombstone was held back).
    pub fn sweep(&self) {
        self.inner.sweep_tombstones();
    }

    /// [`Store::delete`]'s work, pinned, running `hold` at each [`Stage`]
    /// of its commit (the store passes a no-op; tests hold it there).
    pub(super) fn delete_pinned(&self, keys: &KeySet, hold: impl FnMut(Stage)) -> Deletion {
        let inner = &*self.inner;
        let guard = inner.index.guard();
        let pin = inner.reclaim.pin();
        let mut seen = read::Checked::default();
        inner.read_all(keys, &mut seen, &guard, &pin);
        if seen.values.iter().all(Option::is_none) {
            // Every key is absent at the read's instant, where this delete
            // takes effect as a no-op: no entry, no tombstone, no commit.
            return Deletion {
                removed: smallvec::smallvec![false; keys.keys().len()],
                ts: None,
            };
        }
        // Each key goes to the entry the read found it in, if any (looked
        // up afresh if it is retired meanwhile).
        let items = keys
            .keys()
            .iter()
            .zip(seen.entries)
            .map(|(key, entry)| (*key, None, entry));
        // Some key was present a moment ago: commit tombstones on every key,
        // absent ones included, so that the presence reported is decided at
        // the commit itself. A tombstone on a key absent at the read is the
        // delete's reservation of that key: its pending version keeps any
        // other command from committing there until this commit, which then
        // finds it still absent (an invisible tombstone, retired like the
        // others), or until a writer that found it between two links aborts
        // this attempt (the delete then installs its tombstones again, and
        // decides presence at that attempt's commit). Without it a write
        // could create the key between the read and the commit, and the
        // delete, committing later, would neither remove it nor see it
        // absent at its own instant (loom model `store_delete_absent_key`
        // fails so).
        let (ts, installed) = inner.commit_batch(items, &guard, &pin, hold);
        let removed: Presence = installed.iter().map(|one| one.prev_present).collect();
        inner.retire_dead(&installed, &guard, &pin);
        let ts = removed.contains(&true).then_some(ts);
        Deletion { removed, ts }
    }

    /// An operation on `keys` keys is over (its pin dropped): it frees its
    /// share of the versions whose grace period has passed (`reclaim.rs`).
    #[inline]
    fn free_some_after(&self, keys: usize) {
        self.inner.reclaim.free_some(Reclaimer::free_budget(keys));
    }
}

impl Store for LockFreeStore {
    fn write(&self, batch: &WriteSet) -> Timestamp {
        let ts = self.write_holding(batch, |_| {});
        self.free_some_after(batch.pairs().len());
        ts
    }

    fn delete(&self, keys: &KeySet) -> Deletion {
        let deletion = self.delete_pinned(keys, |_| {});
        self.free_some_after(keys.keys().len());
        deletion
    }

    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>) {
        {
            let inner = &*self.inner;
            let guard = inner.index.guard();
            let pin = inner.reclaim.pin();
            inner.read_all(keys, out, &guard, &pin);
        }
        self.free_some_after(keys.keys().len());
    }

    fn snapshot(&self) -> Box<dyn Snapshot> {
        let (seat, at) = self.inner.registry.register(&self.inner.clock);
        Box::new(LockFreeSnapshot {
            inner: Arc::clone(&self.inner),
            seat: Some(seat),
            at,
        })
    }

    fn now(&self) -> Timestamp {
        // K1: a commit's timestamp is at least its tick, which exceeds every
        // earlier clock value. K2: `Clock::now` is an Acquire load, and the
        // clock only changes by RMWs, so a reading at or past a commit's
        // timestamp synchronizes with that commit's Release tick.
        self.inner.clock.now()
    }

    fn engine(&self) -> Engine {
        Engine::LockFree
    }
}

/// A registered snapshot: it owns a reference to the store's internals and a
/// registry seat (until it gives the seat up), and reads every key at `at`
/// when consumed.
struct LockFreeSnapshot {
    inner: Arc<Inner>,
    seat: Option<usize>,
    at: Timestamp,
}

impl LockFreeSnapshot {
    /// Copies every key's value at `at`, unsorted. The pin and the index
    /// guard end with the walk.
    fn walk(&self) -> Vec<(Key, Value)> {
        let inner = &*self.inner;
        let guard = inner.index.guard();
        let mut pin = inner.reclaim.pin();
        // Room for every entry and some written meanwhile, taken at once: a
        // vector grown while the walk fills it copies tens of megabytes at
        // a time at 1M keys, with no yield in the copy (see `crate::pace`).
        let entries = inner.index.len();
        let mut pairs = Vec::with_capacity(entries + entries / 16);
        let mut pace = WalkPace::new();
        inner.index.for_each(&guard, |key, entry| {
            pace.step(&inner.reclaim, &mut pin);
            match inner.read_entry(entry, self.at, &pin) {
                Seen::Found(Some(value)) => pairs.push((*key, value)),
                Seen::Found(None) => {}
                // Registered: every horizon is at most `at`, so nothing it
                // needs is pruned, and every tombstone retired (hence every
                // floor) is at most `at`.
                Seen::Stale => debug_assert!(false, "a registered snapshot read stale"),
            }
        });
        pairs
    }

    /// Gives the seat up (once): writers may prune below `at` again.
    fn release_seat(&mut self) {
        let Some(seat) = self.seat.take() else {
            return;
        };
        if self.inner.registry.deregister(seat) {
            // The oldest snapshot ended: tombstones it held back may go now.
            // This is the one place a snapshot's thread may wait: the sweep
            // walks the index (O(keys)) and removes dead entries with
            // flurry's `compute_if_present`, which takes the bin's lock, so
            // it waits for an insert or removal in progress on that bin (a
            // short critical section, never a pending commit).
            self.inner.sweep_if_held_back();
            self.inner.tidy_now();
        }
        // The walk's, the sweep's and the tidy step's pins ran deferred
        // frees onto this thread's ready list; free them here, off every
        // writer's path (`reclaim.rs`).
        self.inner.reclaim.free_ready();
    }
}

impl Snapshot for LockFreeSnapshot {
    /// The walk, then the seat given up, then the sort: the pairs are
    /// copies, so the sort (the longest part of a large backup) holds
    /// neither a pin, which would keep the epoch from advancing and the
    /// versions retired meanwhile from being freed, nor the seat, which
    /// would keep writers from pruning below `at`.
    fn into_sorted_pairs(mut self: Box<Self>) -> Vec<(Key, Value)> {
        let mut pairs = self.walk();
        self.release_seat();
        pace::sort_pairs(&mut pairs);
        // An entry replaced during the iteration may be met twice; at most
        // one of the two has a value at `at`, but be safe.
        pace::dedup_sorted_pairs(&mut pairs);
        pairs
    }
}

impl Drop for LockFreeSnapshot {
    fn drop(&mut self) {
        self.release_seat();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let guard = self.index.guard();
        self.index.for_each(&guard, |_, entry| {
            // Relaxed: we are the last owner; no thread touches the store.
            let head = entry.head.load(Ordering::Relaxed);
            if head != version::marker() {
                // SAFETY: the store is being dropped: no reader or writer
                // remains, and live chains are disjoint from retired ones.
                unsafe { self.reclaim.free_now(head) };
            }
        });
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests;
