//! Committing a multi-key write or delete at one instant.
//!
//! 1. Compute a horizon, then install, in ascending key order, one pending
//!    version per key, all answering to one fresh [`Record`] (the
//!    version's own for a one-key command). Before each link the writer
//!    prunes the key's chain below its committed head at that horizon
//!    (as a tidy step would: under the chain's pruning claim). A key whose
//!    head is pending for another command that is ready (step 2) is
//!    committed for it (*helping*); one that is not ready yet is waited
//!    for (ascending order: no cycle of waits).
//! 2. Mark the record ready, with minimum `every previous version's ts + 1`
//!    (Release: whoever sees it ready sees every version linked). A
//!    one-key command's version is linked ready (its own word is armed
//!    before the link's Release CAS publishes it), so nobody ever waits
//!    for it. From here the owner and any helper do the same thing: tick
//!    the clock (Release: every installed version is now visible to any
//!    snapshot at or past the tick), commit the record with one CAS at
//!    `ts = max(tick, minimum)` (the first CAS wins; the others read its
//!    `ts`), and advance the clock to `ts`. Only the owner then settles
//!    each version of a several-key command (copies `committed(ts)` into
//!    it) and retires its shared record.
//!
//! Invariants:
//! * Only a chain's head may be pending: a version is linked only on top of
//!   a committed head (or an empty chain).
//! * Commit timestamps strictly grow along every chain (`ts > prev_ts`).
//! * When `commit` returns, the clock reads at least `ts`, so every snapshot
//!   taken afterwards sees the commit.
//! * A command waits only for a several-key command between its first link
//!   and its ready mark, whose window holds nothing but that command's
//!   own links (each pruning first).

use super::index::{Entry, EntryRef, Guard};
use super::reclaim::Pin;
use super::version::{marker, Record, State, Version};
use super::{Inner, LockFreeStore};
use crate::store::{Timestamp, WriteSet};
use crate::sync::{Ordering, SpinWait};
use crate::token::{Key, Value};
use smallvec::SmallVec;

/// The versions one command installed: inline for up to three keys (most
/// job lines write one to three pairs), so such a write allocates nothing
/// but its versions; longer commands spill to the heap.
pub(crate) type InstalledSet<'g> = SmallVec<[Installed<'g>; 3]>;

/// A point inside [`Inner::commit_batch`] where a test or model may hold
/// the command (the store itself passes a hook that does nothing there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// This many of the command's versions are linked. For a several-key
    /// command the record is not ready: another writer of those keys waits
    /// for the owner. A one-key command's version is linked ready: another
    /// writer of its key commits it for the owner.
    Linked(usize),
    /// Every version is linked and the record marked ready, not committed:
    /// another writer of those keys commits it for the owner.
    Ready,
    /// The chain of the command's next key (this many are linked before
    /// it) was just pruned below its head, and the version is not linked
    /// yet: the cut is made and its claim given back, and only the link
    /// that follows would publish it.
    Pruned(usize),
}

/// What every link of one command shares.
#[derive(Clone, Copy)]
struct Linking {
    /// The command's shared record; null for a one-key command, whose
    /// version is linked ready.
    shared: *const Record,
    /// The horizon each link prunes the chain it covers at first.
    horizon: Timestamp,
}

/// One pending version a command linked.
pub(crate) struct Installed<'g> {
    pub(crate) key: Key,
    pub(crate) entry: EntryRef<'g>,
    pub(crate) version: *mut Version,
    /// The commit timestamp of the version it covers (or the entry's floor).
    pub(crate) prev_ts: Timestamp,
    /// Whether the version it covers held a value: whether the key was
    /// present just before this command's commit.
    pub(crate) prev_present: bool,
}

impl Inner {
    /// Writes `items` (ascending, unique keys; `None` writes a tombstone;
    /// each with the key's entry if the caller just found it) at one
    /// instant. `hold` runs at each [`Stage`] the command passes (tests and
    /// models use it to hold a commit pending; the store passes a no-op).
    pub(crate) fn commit_batch<'g>(
        &'g self,
        items: impl ExactSizeIterator<Item = (Key, Option<Value>, Option<EntryRef<'g>>)>,
        guard: &'g Guard<'_>,
        pin: &mut Pin,
        mut hold: impl FnMut(Stage),
    ) -> (Timestamp, InstalledSet<'g>) {
        let shared = if items.len() > 1 {
            self.reclaim.alloc_record()
        } else {
            std::ptr::null_mut()
        };
        // Computed before the links, which prune at it: a version linked
        // after this point commits at a tick above it (`prune.rs`).
        let horizon = if items.len() == 0 {
            0
        } else {
            self.registry.horizon(&self.clock)
        };
        let linking = Linking { shared, horizon };
        let installed = self.install_all(items, linking, guard, pin, &mut hold);
        let lower = installed
            .iter()
            .map(|one| one.prev_ts + 1)
            .max()
            .unwrap_or(0);
        let Some(first) = installed.first() else {
            hold(Stage::Ready);
            return (self.clock.tick(), installed);
        };
        // SAFETY: our own version: it is retired only by a cut below a
        // newer version or with its entry, and then freed only after our
        // pin ends; we stay pinned past the settling.
        let first = unsafe { &*first.version };
        // SAFETY: `shared` is the record we made the versions with, and we
        // retire it only below, after the commit.
        let record = unsafe { first.owners_record(shared) };
        // From here on a writer that meets one of our versions commits the
        // command for us (`link`); whoever commits first fixes `ts`.
        let marked = Self::ready(record, shared, lower);
        hold(Stage::Ready);
        let ts = self
            .commit_ready(record, marked)
            .expect("a record its owner marked ready commits");
        if !shared.is_null() {
            self.settle_all(&installed, shared, ts, pin);
        }
        // A horizon stays sound after it is computed (later snapshots read
        // a later clock), so the backlog is worked off with the same one.
        self.tidy(horizon, guard, pin);
        (ts, installed)
    }

    /// The owner's state to commit `record` from, ready at minimum `lower`:
    /// a several-key command marks its `shared` record ready now; a one-key
    /// command's version was linked ready (`publish`), in the state built
    /// here unless a reader pushed its minimum since (the commit's CAS then
    /// reloads it).
    fn ready(record: &Record, shared: *const Record, lower: Timestamp) -> State {
        if shared.is_null() {
            State::Pending {
                min: lower,
                ready: true,
            }
        } else {
            record.mark_ready(lower)
        }
    }

    /// Settles every version a several-key command installed to its commit
    /// at `ts`, then retires its `shared` record.
    fn settle_all(
        &self,
        installed: &InstalledSet<'_>,
        shared: *mut Record,
        ts: Timestamp,
        pin: &Pin,
    ) {
        for one in installed {
            // SAFETY: our own version, alive while we stay pinned: a version
            // pruned by a later writer since the commit is only retired, and
            // freed after our pin ends.
            unsafe { &*one.version }.settle(ts);
        }
        // SAFETY: every version pointing to the record is settled, so no
        // reader reaches it from now on; we alone retire it, once.
        unsafe { self.reclaim.retire_record(shared, pin) };
    }

    /// Installs a pending version for each of `items`, in order, as
    /// `linking` says, calling `hold` after each link.
    fn install_all<'g>(
        &'g self,
        items: impl ExactSizeIterator<Item = (Key, Option<Value>, Option<EntryRef<'g>>)>,
        linking: Linking,
        guard: &'g Guard<'_>,
        pin: &mut Pin,
        hold: &mut impl FnMut(Stage),
    ) -> InstalledSet<'g> {
        items
            .enumerate()
            .map(|(index, item)| {
                let mut at_prune = || hold(Stage::Pruned(index));
                let one = self.install(item, linking, guard, pin, &mut at_prune);
                hold(Stage::Linked(index + 1));
                one
            })
            .collect()
    }

    /// Links a pending version of `key` with `value` into `found` (the
    /// key's entry, found in the index under `guard`) or else the entry
    /// the index holds, replacing a retired entry by a fresh one when it
    /// meets one; prunes the chain first (`link`), then runs `pruned`.
    fn install<'g>(
        &'g self,
        (key, value, mut found): (Key, Option<Value>, Option<EntryRef<'g>>),
        linking: Linking,
        guard: &'g Guard<'_>,
        pin: &mut Pin,
        pruned: &mut impl FnMut(),
    ) -> Installed<'g> {
        let version = self.reclaim.alloc(value, linking.shared);
        loop {
            let entry = match found.take() {
                Some(entry) => entry,
                None => self.index.get_or_insert(&key, Entry::new, guard),
            };
            match self.link(&key, &entry, version, linking, pin, pruned) {
                Some((prev_ts, prev_present)) => {
                    return Installed {
                        key,
                        entry,
                        version,
                        prev_ts,
                        prev_present,
                    }
                }
                // The entry was retired: help take it out of the index, so
                // the next lookup inserts a fresh one, then try again.
                None => self.index.remove_if(&key, &entry, guard),
            }
        }
    }

    /// Links `version` as the head of `entry`, first pruning the chain below
    /// the committed head it covers at the command's horizon (and running
    /// `pruned` then). Returns the covered version's timestamp and
    /// presence, or `None` if the entry is retired. A one-key command's
    /// version is linked ready.
    ///
    /// A pending head of another command that is ready is committed here
    /// ([`Self::commit_ready`]), so a writer preempted after its command is
    /// ready (a one-key command: from its link) stops nobody. Waiting for
    /// one that is not ready yet (its owner is still linking), it unpins
    /// (so a stalled owner of that head does not also stall reclamation
    /// through us): it holds no version pointer across the wait but its
    /// own: this one, unpublished, and its command's earlier ones, which
    /// are not ready, so nobody links above them or unlinks them.
    fn link(
        &self,
        key: &Key,
        entry: &Entry,
        version: *mut Version,
        linking: Linking,
        pin: &mut Pin,
        pruned: &mut impl FnMut(),
    ) -> Option<(Timestamp, bool)> {
        let wait = SpinWait::new();
        let mut waited = false;
        let mut pruned_once = false;
        loop {
            // Acquire: pairs with the Release CAS that linked the current head
            // (or retired the entry), so we may read that version.
            let head = entry.head.load(Ordering::Acquire);
            if head == marker() {
                return None;
            }
            let covered = if head.is_null() {
                (self.floor_of(entry), false)
            } else {
                // SAFETY: `head` was loaded from a live entry while the caller
                // is pinned; it is freed only after that pin ends.
                let top = unsafe { &*head };
                let look = top.look();
                let ts = match look.state {
                    seen @ State::Pending { .. } => {
                        // Another command owns this key until it commits. If
                        // it is ready, commit it for it (helping); else its
                        // owner is between two links: wait for it.
                        if self.commit_ready(look.record, seen).is_some() {
                            self.helps.add(1);
                        } else {
                            if !waited {
                                waited = true;
                                self.pending_waits.add(1);
                            }
                            self.reclaim.unpinned(pin, || wait.wait());
                        }
                        continue;
                    }
                    State::Committed { ts } => ts,
                };
                if !pruned_once {
                    // Once: a head linked since by another writer was
                    // pruned below by that writer, or by the claim's
                    // holder when that writer found the claim held.
                    pruned_once = true;
                    self.prune_below(key, entry, linking.horizon, pin);
                    pruned();
                }
                (ts, top.value().is_some())
            };
            if Self::publish(entry, head, version, covered.0, linking) {
                return Some(covered);
            }
        }
    }

    /// Links `version` above `head` (committed at `prev_ts`, or the entry's
    /// floor) by CAS, armed ready first if it is a one-key command's;
    /// `false` when the head moved.
    fn publish(
        entry: &Entry,
        head: *mut Version,
        version: *mut Version,
        prev_ts: Timestamp,
        linking: Linking,
    ) -> bool {
        // SAFETY: `version` is ours and unpublished until the CAS below.
        let unpublished = unsafe { &*version };
        if linking.shared.is_null() {
            unpublished.arm_ready(prev_ts + 1);
        }
        // Relaxed: published by the Release CAS below.
        unpublished.next.store(head, Ordering::Relaxed);
        entry
            .head
            .compare_exchange(
                head,
                version,
                // Release: publishes the version (value, record, next) to
                // the Acquire head loads of readers and writers.
                Ordering::Release,
                // Relaxed: on failure the caller reloads the head with
                // Acquire.
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Commits the command whose `record` is in state `seen` (as the
    /// caller's look at one of its versions found it, or as the owner's
    /// mark left it) if that is ready: takes a tick, commits at
    /// `max(tick, the record's minimum)` (or reads the timestamp another
    /// thread committed it at), and makes the clock read at least that
    /// timestamp. Returns `None`, touching nothing, when the command is not
    /// ready. The caller is pinned and reached the record from a live entry
    /// (or owns it).
    ///
    /// The owner and every helper may all call it; the record's one CAS
    /// decides the timestamp. Each caller raises the clock to it before
    /// returning, so whoever returns from here (the owner included, if a
    /// helper was preempted after its CAS) leaves the clock at least `ts`.
    fn commit_ready(&self, record: &Record, seen: State) -> Option<Timestamp> {
        let mut tick = 0;
        let ts = record.commit(seen, || {
            tick = self.clock.tick();
            tick
        })?;
        if ts > tick {
            self.clock.advance_to(ts);
        }
        Some(ts)
    }
}

/// Commits held at a [`Stage`], for models and tests.
impl LockFreeStore {
    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `between` after every pending version is installed and
    /// before the commit. For models and tests that need a commit held
    /// pending.
    #[doc(hidden)]
    pub fn write_pausing(&self, batch: &WriteSet, between: impl FnOnce()) -> Timestamp {
        self.write_pausing_at(batch, Stage::Ready, between)
    }

    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `between` once its first version is linked and before the
    /// next is. For a several-key `batch` the record is not ready there
    /// (another writer of that key waits instead of helping); a one-key
    /// `batch`'s version is linked ready (another writer commits it). For
    /// tests and models that need a command caught right after a link.
    #[doc(hidden)]
    pub fn write_pausing_after_first_link(
        &self,
        batch: &WriteSet,
        between: impl FnOnce(),
    ) -> Timestamp {
        self.write_pausing_at(batch, Stage::Linked(1), between)
    }

    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `between` once the chain of its first key is pruned below
    /// its head and before that key's version is linked (if the head was
    /// committed when it got there; else at the first committed head it
    /// then finds). For models that need the cut made and not yet
    /// published by the link.
    #[doc(hidden)]
    pub fn write_pausing_after_first_prune(
        &self,
        batch: &WriteSet,
        between: impl FnOnce(),
    ) -> Timestamp {
        self.write_pausing_at(batch, Stage::Pruned(0), between)
    }

    /// Writes `batch`, running `between` once, when the commit reaches `at`.
    fn write_pausing_at(&self, batch: &WriteSet, at: Stage, between: impl FnOnce()) -> Timestamp {
        let mut between = Some(between);
        self.write_holding(batch, |stage| {
            if stage == at {
                if let Some(between) = between.take() {
                    between();
                }
            }
        })
    }

    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `hold` at each stage.
    pub(super) fn write_holding(&self, batch: &WriteSet, hold: impl FnMut(Stage)) -> Timestamp {
        let inner = &*self.inner;
        let guard = inner.index.guard();
        let mut pin = inner.reclaim.pin();
        let items = batch
            .pairs()
            .iter()
            .map(|(key, value)| (*key, Some(*value), None));
        let (ts, _installed) = inner.commit_batch(items, &guard, &mut pin, hold);
        ts
    }
}
