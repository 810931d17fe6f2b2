//! Committing a multi-key write or delete at one instant.
//!
//! 1. Compute a horizon, then install, in ascending key order, one pending
//!    version per key, all answering to one fresh [`Record`] (the
//!    version's own for a one-key command). Before each link the writer
//!    prunes the key's chain below its final head at that horizon
//!    (as a tidy step would: under the chain's pruning claim). A key whose
//!    head is pending for another command that is ready (step 2) is
//!    committed for it (*helping*); one that is not ready yet is waited
//!    for a bounded spin and then *aborted*: its record goes from
//!    pending to aborted, never visible, and the writer links above its
//!    version, covering the newest committed version below.
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
//! 3. A several-key owner whose ready mark finds its record aborted (the
//!    mark and the abort are CASes on the same word: one of them wins)
//!    settles its versions `aborted`, retires the record and starts again
//!    from step 1 with fresh versions and a fresh record. Its aborted
//!    versions stay in their chains, invisible to every read, until a cut
//!    below a later committed version takes them.
//!
//! Invariants:
//! * Only a chain's head may be pending: a version is linked only on top of
//!   a committed or aborted head (or an empty chain). Below the head every
//!   version is final.
//! * Commit timestamps strictly grow along every chain (`ts > prev_ts`,
//!   `prev_ts` the newest committed version below; aborted versions have
//!   none).
//! * When `commit` returns, the clock reads at least `ts`, so every snapshot
//!   taken afterwards sees the commit.
//! * A command waits for another only briefly (a bounded spin), and only
//!   for a several-key command between its first link and its ready mark;
//!   then it aborts it. No thread waits for a thread that is not running.

use super::hold::Stage;
use super::index::{Entry, EntryRef, Guard};
use super::reclaim::Pin;
use super::version::{is_chain_end, marker, Record, State, Version};
use super::Inner;
use crate::store::Timestamp;
use crate::sync::{Ordering, SpinWait};
use crate::token::{Key, Value};
use smallvec::SmallVec;

/// The versions one command installed: inline for up to three keys (most
/// job lines write one to three pairs), so such a write allocates nothing
/// but its versions; longer commands spill to the heap.
pub(crate) type InstalledSet<'g> = SmallVec<[Installed<'g>; 3]>;

/// An aborted command's items, written again: each key, its value, and the
/// entry its aborted version was linked into.
type Retry<'g> = SmallVec<[(Key, Option<Value>, Option<EntryRef<'g>>); 3]>;

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
    /// The commit timestamp of the newest committed version it covers (or
    /// the entry's floor): the head it linked above, or the newest
    /// committed version below that head if it was aborted.
    pub(crate) prev_ts: Timestamp,
    /// Whether that committed version held a value: whether the key was
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
        pin: &Pin,
        mut hold: impl FnMut(Stage),
    ) -> (Timestamp, InstalledSet<'g>) {
        let mut installed = InstalledSet::new();
        match self.try_commit(items, &mut installed, guard, pin, &mut hold) {
            Some(ts) => (ts, installed),
            None => self.commit_again(installed, guard, pin, hold),
        }
    }

    /// [`Self::commit_batch`] after an abort: a writer of one of our keys
    /// gave up waiting for us between two links, so the command starts
    /// again with fresh versions (the aborted attempt's `installed` ones
    /// give each key, value and entry), as often as it takes. Out of line:
    /// rare.
    #[cold]
    #[inline(never)]
    fn commit_again<'g>(
        &'g self,
        mut installed: InstalledSet<'g>,
        guard: &'g Guard<'_>,
        pin: &Pin,
        mut hold: impl FnMut(Stage),
    ) -> (Timestamp, InstalledSet<'g>) {
        loop {
            let again: Retry<'g> = installed
                .drain(..)
                .map(|one| {
                    // SAFETY: our own version, retired at most (by a cut
                    // below a later version), and freed only after our pin
                    // ends.
                    let value = unsafe { &*one.version }.value();
                    (one.key, value, Some(one.entry))
                })
                .collect();
            if let Some(ts) =
                self.try_commit(again.into_iter(), &mut installed, guard, pin, &mut hold)
            {
                return (ts, installed);
            }
        }
    }

    /// One attempt at [`Self::commit_batch`], installing into the empty
    /// `installed`: the commit's timestamp, or `None` when the command was
    /// aborted between two of its links (its versions, still in
    /// `installed`, settled aborted and its record retired).
    fn try_commit<'g>(
        &'g self,
        items: impl ExactSizeIterator<Item = (Key, Option<Value>, Option<EntryRef<'g>>)>,
        installed: &mut InstalledSet<'g>,
        guard: &'g Guard<'_>,
        pin: &Pin,
        hold: &mut impl FnMut(Stage),
    ) -> Option<Timestamp> {
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
        self.install_all(items, installed, linking, guard, pin, hold);
        let lower = installed
            .iter()
            .map(|one| one.prev_ts + 1)
            .max()
            .unwrap_or(0);
        let Some(first) = installed.first() else {
            hold(Stage::Ready);
            return Some(self.clock.tick());
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
        if marked == State::Aborted {
            // The owner starts again: its versions stay where they are,
            // aborted, until cuts below later versions take them.
            self.settle_all(installed, shared, State::Aborted, pin);
            return None;
        }
        hold(Stage::Ready);
        let ts = self
            .commit_ready(record, marked)
            .expect("a record its owner marked ready commits");
        if !shared.is_null() {
            self.settle_all(installed, shared, State::Committed { ts }, pin);
        }
        // A horizon stays sound after it is computed (later snapshots read
        // a later clock), so the backlog is worked off with the same one.
        self.tidy(horizon, guard, pin);
        Some(ts)
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

    /// Settles every version a several-key command installed to its
    /// record's final state `last` (its commit, or its abort), then retires
    /// its `shared` record.
    fn settle_all(
        &self,
        installed: &InstalledSet<'_>,
        shared: *mut Record,
        last: State,
        pin: &Pin,
    ) {
        for one in installed {
            // SAFETY: our own version, alive while we stay pinned: a version
            // pruned by a later writer since the commit is only retired, and
            // freed after our pin ends.
            unsafe { &*one.version }.settle(last);
        }
        // SAFETY: every version pointing to the record is settled, so no
        // reader reaches it from now on; we alone retire it, once.
        unsafe { self.reclaim.retire_record(shared, pin) };
    }

    /// Installs a pending version for each of `items`, in order, into
    /// `installed`, as `linking` says, calling `hold` after each link.
    fn install_all<'g>(
        &'g self,
        items: impl ExactSizeIterator<Item = (Key, Option<Value>, Option<EntryRef<'g>>)>,
        installed: &mut InstalledSet<'g>,
        linking: Linking,
        guard: &'g Guard<'_>,
        pin: &Pin,
        hold: &mut impl FnMut(Stage),
    ) {
        installed.extend(items.enumerate().map(|(index, item)| {
            let mut at_prune = || hold(Stage::Pruned(index));
            let one = self.install(item, linking, guard, pin, &mut at_prune);
            hold(Stage::Linked(index + 1));
            one
        }));
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
        pin: &Pin,
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
    /// the final head it covers at the command's horizon (and running
    /// `pruned` then). Returns the covered version's timestamp and
    /// presence, or `None` if the entry is retired. A one-key command's
    /// version is linked ready.
    ///
    /// No other command's step is waited for but briefly. A pending head
    /// of another command that is ready is committed here
    /// ([`Self::commit_ready`]), so a writer preempted after its command is
    /// ready (a one-key command: from its link) stops nobody. One that is
    /// not ready yet (its owner is between two links) is waited for a
    /// bounded spin and then aborted ([`Self::wait_or_abort`]): its owner
    /// starts again, and we link above its version, which nobody will ever
    /// see, covering the newest committed version below it.
    fn link(
        &self,
        key: &Key,
        entry: &Entry,
        version: *mut Version,
        linking: Linking,
        pin: &Pin,
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
                let Some(covered) = self.covered_by(head, entry, &wait, &mut waited) else {
                    continue;
                };
                if !pruned_once {
                    // Once: a head linked since by another writer was
                    // pruned below by that writer, or by the claim's
                    // holder when that writer found the claim held.
                    pruned_once = true;
                    self.prune_below(key, entry, linking.horizon, pin);
                    pruned();
                }
                covered
            };
            if Self::publish(entry, head, version, covered.0, linking) {
                return Some(covered);
            }
        }
    }

    /// What a version linked above `head`, the head of `entry`, covers (its
    /// timestamp and presence) if `head` is final; `None` if it is another
    /// command's pending version, which this call committed (ready),
    /// waited a step for, or aborted (not ready): the caller looks again.
    /// The caller is pinned and loaded `head` from `entry`.
    fn covered_by(
        &self,
        head: *mut Version,
        entry: &Entry,
        wait: &SpinWait,
        waited: &mut bool,
    ) -> Option<(Timestamp, bool)> {
        // SAFETY: `head` was loaded from a live entry while the caller is
        // pinned; it is freed only after that pin ends.
        let top = unsafe { &*head };
        let look = top.look();
        match look.state {
            State::Committed { ts } => Some((ts, top.value().is_some())),
            State::Aborted => Some(self.covered_below_aborted(top, entry)),
            seen @ State::Pending { ready: true, .. } => {
                // Another command owns this key until it commits, and
                // anyone may commit it: commit it (helping).
                if self.commit_ready(look.record, seen).is_some() {
                    self.helps.add(1);
                }
                None
            }
            seen @ State::Pending { ready: false, .. } => {
                if !*waited {
                    *waited = true;
                    self.pending_waits.add(1);
                }
                self.wait_or_abort(look.record, seen, wait);
                None
            }
        }
    }

    /// Meets another command's version at a key's head in `seen`, pending
    /// and not ready (its owner is between two links): waits one step of
    /// `wait`, or, once `wait` is spent (the owner is likely not running),
    /// aborts the command, so that a preempted owner stops nobody. The
    /// caller then looks at the head again. We stay pinned throughout (a
    /// bounded spin), so `record` stays alive.
    fn wait_or_abort(&self, record: &Record, seen: State, wait: &SpinWait) {
        if !wait.is_spent() {
            wait.wait();
        } else if record.abort(seen) {
            self.aborts.add(1);
        }
    }

    /// What a version linked above `aborted`, the aborted head of `entry`,
    /// covers: the timestamp and presence of the newest committed version
    /// below it, or the entry's floor and absence if there is none.
    ///
    /// Below a chain's head every version is final (a version is linked
    /// only above a committed or aborted head), and a cut stores its marker
    /// only below a committed version, so the walk meets committed or
    /// aborted versions and ends at a committed one or at null. The caller
    /// is pinned and loaded `aborted` from a live entry.
    fn covered_below_aborted(&self, aborted: &Version, entry: &Entry) -> (Timestamp, bool) {
        // Acquire: pairs with the Release CAS that published the version
        // below (as the `next` loads of a read's walk).
        let mut p = aborted.next.load(Ordering::Acquire);
        while !is_chain_end(p) {
            // SAFETY: reached from a live entry while pinned: unlinked only
            // by a cut or with its whole entry, then freed after our pin.
            let below = unsafe { &*p };
            if let State::Committed { ts } = below.state() {
                return (ts, below.value().is_some());
            }
            debug_assert_eq!(below.state(), State::Aborted, "pending below a head");
            // Acquire: as above.
            p = below.next.load(Ordering::Acquire);
        }
        debug_assert!(p.is_null(), "a cut below a version that never committed");
        (self.floor_of(entry), false)
    }

    /// Links `version` above `head` (final, covering a commit at `prev_ts`,
    /// or the entry's floor) by CAS, armed ready first if it is a one-key
    /// command's; `false` when the head moved.
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
