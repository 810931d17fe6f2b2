//! Unlinking versions no snapshot can see, and retiring dead keys.
//!
//! *Pruning.* With horizon `H` (at most every registered snapshot's `S`,
//! see `snapshots.rs`), a chain needs, for every `S >= H`, only the newest
//! version visible at `S`, which is the newest version visible at `H` or a
//! newer one. So everything older than the newest committed version with
//! `ts <= H` is cut off and retired. A cut needs the entry's pruning claim
//! (tried, never waited for), so no two pruners ever cut the same chain at
//! once: normally a writer about to link above the chain's final head
//! (before its link, so that pruning never holds up another writer of the
//! key), or a tidy step working off the backlog (below). An entry remembers the
//! highest horizon it was pruned at; a write under an unmoved horizon
//! skips the walk, so a snapshot held open does not make hot-key writes
//! walk every version written since it began.
//!
//! *Tombstone retirement.* When a chain's head is a committed tombstone with
//! `ts <= H`, every registered snapshot sees the key absent, so the entry is
//! retired: its head is swapped from that tombstone to the marker by CAS.
//! A writer racing to link a version onto the same head does a CAS on the
//! same word: either the writer wins (the retirement fails, the write is in
//! the live entry) or the retirement wins (the writer sees the marker,
//! removes the dead entry from the index and links into a fresh one). The
//! write is never lost. Before the swap, `retired` is raised to the
//! tombstone's timestamp, so unregistered reads that find the key missing
//! know whether their `S` is recent enough to trust it.
//!
//! *Backlog.* A prune that leaves versions above its cut because the
//! horizon is held back queues the key with that horizon (once: the
//! entry's backlog bit, which changes only under the pruning claim, says
//! whether it is queued). Every write, delete and snapshot end then prunes
//! up to [`TIDY_PER_OPERATION`] queued keys whose horizon has moved, from
//! their committed head. A key whose claim is held goes back in the
//! queue, and so does one a writer has pruned meanwhile at the tidy
//! step's horizon or higher while the key was marked queued (that writer
//! did not queue it again). A tidy step may cut a chain whose entry is
//! being retired at the same moment: the retirer's deferred free walks
//! the chain from its top and stops at the marker the cut stored, which
//! happened before the cutter unpinned, so the two retired chains stay
//! disjoint.
//!
//! *Delayed retirement.* Retiring a dead key costs its removal from the
//! index (a bin lock), and a write that brings the key back then inserts
//! a fresh entry and index node; the course's workloads delete and write
//! the same keys again and again. So a store made by `LockFreeStore::new`
//! queues each delete's keys as dead, and deletes retire the oldest dead
//! keys only beyond [`RETIRE_DELAY`] of them, through the very step the
//! sweep takes (`retire_tombstone` on the head found now: a key written
//! again since is left alone, and its live entry simply carries on, the
//! tombstone below its new head pruned like any other version). Nothing
//! about visibility changes: a dead entry still in the index reads as
//! absent through its committed tombstone, as one held back by a snapshot
//! always did. A key may sit in the queue more than once, or after a sweep
//! retired it; its turn then finds nothing to do.
//!
//! Retired when: versions a snapshot kept go on the next write to the key
//! or, without one, through the backlog after the snapshot ends; dead
//! keys' tombstones go right after their delete, or, if a snapshot held
//! them back, by the sweep that runs when the oldest registered snapshot
//! ends while such tombstones are counted (`held_back`).
//!
//! *No tombstone is stranded.* Whoever finds a tombstone held back counts it
//! (`note_held_back`, Release) and then computes a horizon again (F2). The
//! snapshot holding it back frees its seat, fences (F3) and reads the count.
//! The fences are ordered: either the new horizon sees the seat free (and
//! the holder retries), or the ending snapshot sees the count (and sweeps,
//! if no older snapshot remains; that one then sees the count in turn).

use super::index::{Entry, Guard, PruningClaim};
use super::reclaim::Pin;
use super::version::{is_chain_end, marker, State, Version};
use super::write::InstalledSet;
use super::{Inner, WalkPace};

/// How many backlogged keys each write, delete and snapshot end prunes.
const TIDY_PER_OPERATION: usize = 2;

/// How many dead keys a store made by `LockFreeStore::new` leaves in its
/// index before deletes retire the oldest (module docs, *Delayed
/// retirement*): at most this many dead entries (and their tombstones)
/// wait, about 200 bytes each.
pub(crate) const RETIRE_DELAY: usize = 1024;
use crate::store::Timestamp;
use crate::sync::Ordering;
use crate::token::Key;

impl Inner {
    /// Cuts, below the chain's current head (a writer about to link above
    /// its final head), every version older than the newest one
    /// visible at `horizon`; queues the key on the backlog if a snapshot
    /// keeps the chain longer than that.
    ///
    /// Skips the walk when the chain was already pruned at `horizon` or
    /// later: a version linked above the head that prune read commits at a
    /// tick taken after that prune's horizon (its link follows that read of
    /// the head), so there is nothing new to cut but, at most, below a
    /// version whose writer found the claim held, which the next prune at
    /// a higher horizon takes. A snapshot held open therefore costs each
    /// write to a hot key nothing here; the walk runs once per key each
    /// time the horizon moves.
    ///
    /// The walk starts at the head loaded under the claim, not at the one
    /// the caller saw: a writer that found the claim held leaves the chain
    /// to the claim's holder and may link meanwhile, so a holder that gave
    /// up on a moved head would leave the chain to nobody (model 19).
    pub(crate) fn prune_below(&self, key: &Key, entry: &Entry, horizon: Timestamp, pin: &Pin) {
        let Some(mut claim) = entry.claim_pruning() else {
            // Another writer or a tidy step is cutting the chain; it
            // queues the key again if it stays long.
            return;
        };
        if horizon <= claim.pruned_at() {
            // The head, at least, stays above the cut.
            self.backlog_push(key, &mut claim, horizon);
            return;
        }
        self.cut_below_head(key, entry, &mut claim, horizon, pin);
    }

    /// Cuts `entry`'s chain, whose `claim` the caller holds, below the
    /// newest version visible at `horizon`, walking from the head it loads
    /// now; records the horizon, and queues the key if versions stay above
    /// the cut.
    fn cut_below_head(
        &self,
        key: &Key,
        entry: &Entry,
        claim: &mut PruningClaim<'_>,
        horizon: Timestamp,
        pin: &Pin,
    ) {
        // Acquire: pairs with the Release CAS that linked the head. A head
        // loaded under the claim cannot be cut out while we hold it (only a
        // cut unlinks below a head), so the walk starts inside the chain;
        // an entry retired meanwhile holds the marker, where the walk ends.
        let head = entry.head.load(Ordering::Acquire);
        let walked = self.cut_from(head, horizon, pin);
        self.pruning_walk.add(walked as isize);
        claim.set_pruned_at(horizon);
        if walked > 1 {
            self.backlog_push(key, claim, horizon);
        }
    }

    /// Walks down from `first` to the newest version committed at or
    /// before `horizon` and cuts everything below it; returns how many
    /// versions it visited. The caller holds the chain's pruning claim and
    /// is pinned, and `first` was reached from a live entry.
    fn cut_from(&self, first: *mut Version, horizon: Timestamp, pin: &Pin) -> usize {
        let mut walked = 0;
        let mut p = first;
        while !is_chain_end(p) {
            walked += 1;
            // SAFETY: reached from a live entry while pinned: a version is
            // unlinked only by a cut (which needs the claim we hold) or with
            // its whole entry, and then freed only after our pin ends.
            let version = unsafe { &*p };
            if let State::Committed { ts } = version.state() {
                if ts <= horizon {
                    // Relaxed: only the claim's holder writes `next` below
                    // the head, and the claim orders us after the last one.
                    let tail = version.next.load(Ordering::Relaxed);
                    if !is_chain_end(tail) {
                        // Release: pairs with the Acquire `next` load of a
                        // reader that meets the cut, so its retry reads a
                        // clock at least our horizon.
                        version.next.store(marker(), Ordering::Release);
                        // If the entry was retired meanwhile, its retirer's
                        // free stops at the marker we stored before our pin
                        // ended, so the two chains stay disjoint.
                        // SAFETY: the tail is now unlinked (its only link was
                        // the pointer just replaced) and ours alone to retire.
                        unsafe { self.reclaim.retire(tail, pin) };
                    }
                    return walked;
                }
            }
            // Acquire: pairs with the Release CAS that published the next
            // version.
            p = version.next.load(Ordering::Acquire);
        }
        walked
    }

    /// Queues `key`, whose chain `claim` holds, to be pruned once the
    /// horizon passes `horizon`, unless it is queued already. (The flag
    /// only avoids duplicates; a tidy step looks the key up afresh and
    /// claims the chain before touching it.)
    fn backlog_push(&self, key: &Key, claim: &mut PruningClaim<'_>, horizon: Timestamp) {
        if !claim.is_backlogged() {
            claim.set_backlogged(true);
            self.backlog.push((*key, horizon));
        }
    }

    /// Works off up to [`TIDY_PER_OPERATION`] keys of the backlog: chains
    /// a snapshot kept long, pruned now at `horizon` if it has passed the
    /// one they were queued at. Bounded work, and it never waits: a chain
    /// whose claim is held is left to its holder.
    ///
    /// Inline, so that the usual case, an empty backlog, costs a write two
    /// loads and no call.
    #[inline]
    pub(crate) fn tidy(&self, horizon: Timestamp, guard: &Guard<'_>, pin: &Pin) {
        if !self.backlog.is_empty() {
            self.tidy_backlog(horizon, guard, pin);
        }
    }

    /// [`Self::tidy`] once the backlog was seen non-empty.
    fn tidy_backlog(&self, horizon: Timestamp, guard: &Guard<'_>, pin: &Pin) {
        for _ in 0..TIDY_PER_OPERATION {
            let Some((key, queued_at)) = self.backlog.pop() else {
                return;
            };
            if horizon <= queued_at {
                // The snapshot that kept it long is still open.
                self.backlog.push((key, queued_at));
                return;
            }
            let Some(entry) = self.index.get(&key, guard) else {
                continue;
            };
            let Some(claim) = entry.claim_pruning() else {
                // Its holder sees the key still queued (the flag changes
                // only under the claim), so it is left in the queue.
                self.backlog.push((key, queued_at));
                continue;
            };
            self.prune_head(&key, &entry, claim, horizon, pin);
        }
    }

    /// [`Self::tidy`] at a fresh horizon (a snapshot's end, when the
    /// horizon may have just moved).
    pub(crate) fn tidy_now(&self) {
        if self.backlog.is_empty() {
            return;
        }
        let guard = self.index.guard();
        let pin = self.reclaim.pin();
        self.tidy(self.registry.horizon(&self.clock), &guard, &pin);
    }

    /// Prunes a chain from its head, whoever wrote it (a tidy step that
    /// took the key off the backlog and holds its `claim`).
    fn prune_head(
        &self,
        key: &Key,
        entry: &Entry,
        mut claim: PruningClaim<'_>,
        horizon: Timestamp,
        pin: &Pin,
    ) {
        if horizon <= claim.pruned_at() {
            // A writer pruned the chain at a horizon at least ours since
            // the key was queued. While the key is marked queued, that
            // writer did not queue it again however long the chain stayed,
            // so this item stands for it: it goes back, at that horizon.
            // (Unmarked, the item is a stale duplicate and goes.)
            if claim.is_backlogged() {
                self.backlog.push((*key, claim.pruned_at()));
            }
            return;
        }
        // Cleared before the walk, so that a chain still long after this
        // step is queued again.
        claim.set_backlogged(false);
        self.cut_below_head(key, entry, &mut claim, horizon, pin);
    }

    /// Retires `entry` if its head is still `top`, a committed tombstone
    /// visible at `horizon`.
    pub(crate) fn retire_tombstone(
        &self,
        key: &Key,
        entry: &Entry,
        top: *mut Version,
        horizon: Timestamp,
        guard: &Guard<'_>,
        pin: &Pin,
    ) -> Retire {
        if is_chain_end(top) {
            return Retire::Moot;
        }
        // SAFETY: `top` was loaded from `entry` while pinned.
        let version = unsafe { &*top };
        if version.value().is_some() {
            return Retire::Moot;
        }
        let ts = match version.state() {
            State::Committed { ts } if ts <= horizon => ts,
            State::Committed { .. } => return Retire::HeldBack,
            // An aborted delete's tombstone: the key's state is below it,
            // and the aborted command's owner links above it again.
            State::Pending { .. } | State::Aborted => return Retire::Moot,
        };
        // Release: pairs with the Acquire loads of `retired` by readers and
        // writers who observe this retirement (through the head or the
        // index); it must precede the swap that makes the retirement visible.
        self.retired.fetch_max(ts, Ordering::Release);
        if entry
            .head
            .compare_exchange(
                top,
                marker(),
                // Release: a thread that sees the marker sees `retired >= ts`.
                Ordering::Release,
                // Relaxed: on failure we give up; the head moved on.
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Retire::Moot;
        }
        self.index.remove_if(key, entry, guard);
        // Only a tidy step that loaded the head before our CAS (so pinned
        // before this retirement) may still cut the chain (module docs).
        // SAFETY: the head was the only link into the chain from `top`, and
        // our CAS replaced it: the chain is unlinked and ours to retire.
        unsafe { self.reclaim.retire(top, pin) };
        Retire::Done
    }

    /// Offers the keys a delete just committed tombstones on for
    /// retirement: at once when the store has no retirement delay;
    /// otherwise it queues them as dead and retires the oldest dead keys
    /// beyond the delay, at most one more than it queued, so the queue
    /// stays near the delay and no delete pays for more than its share.
    pub(crate) fn retire_dead(&self, installed: &InstalledSet<'_>, guard: &Guard<'_>, pin: &Pin) {
        if self.retire_delay == 0 {
            let own = installed.iter().map(|one| Dead {
                key: one.key,
                entry: &one.entry,
                top: one.version,
            });
            self.retire_tombstones(own.collect(), guard, pin);
            return;
        }
        for one in installed {
            self.dead.push(one.key);
        }
        let mut due = DeadSet::new();
        for _ in 0..=installed.len() {
            if self.dead.len() <= self.retire_delay {
                break;
            }
            let Some(key) = self.dead.pop() else {
                break;
            };
            // Gone already (a sweep, or an earlier turn of the same key).
            let Some(entry) = self.index.get(&key, guard) else {
                continue;
            };
            // Acquire: pairs with the Release CAS that linked the head. As
            // in the sweep: whatever the head is now, `retire_tombstone`
            // retires only a committed tombstone no snapshot can see, and
            // a key written again since its delete is left alone.
            let top = entry.head.load(Ordering::Acquire);
            due.push(Dead {
                key,
                entry: entry.into_ref(),
                top,
            });
        }
        if !due.is_empty() {
            self.retire_tombstones(due, guard, pin);
        }
    }

    /// Retires the dead keys `due` (each with the head it was found with),
    /// counting those a registered snapshot holds back (and looking again
    /// at a fresher horizon: no tombstone is stranded, see the module
    /// docs).
    fn retire_tombstones(&self, mut waiting: DeadSet<'_>, guard: &Guard<'_>, pin: &Pin) {
        let mut horizon = self.registry.horizon(&self.clock);
        loop {
            waiting.retain(|one| {
                self.retire_tombstone(&one.key, one.entry, one.top, horizon, guard, pin)
                    == Retire::HeldBack
            });
            if waiting.is_empty() {
                return;
            }
            // Count them, then look again: a snapshot that ended meanwhile
            // either shows in the new horizon or sweeps them itself.
            self.note_held_back(waiting.len());
            let next = self.registry.horizon(&self.clock);
            if next <= horizon {
                return;
            }
            horizon = next;
        }
    }

    /// Counts `n` tombstones a registered snapshot held back, so that the
    /// end of the oldest snapshot sweeps them ([`Self::sweep_if_held_back`]).
    pub(crate) fn note_held_back(&self, n: usize) {
        // Release: pairs with the Acquire swap of a sweep, which then sees
        // the committed tombstones counted here. The caller computes a
        // horizon next, whose F2 orders this before its registry reads
        // (see `Registry::deregister`).
        self.held_back.fetch_add(n, Ordering::Release);
    }

    /// Sweeps if a registered snapshot held some tombstone back. Called
    /// when the oldest snapshot ends, after `Registry::deregister`'s F3.
    pub(crate) fn sweep_if_held_back(&self) {
        // Relaxed: ordered after F3 by the caller; see `note_held_back`.
        if self.held_back.load(Ordering::Relaxed) > 0 {
            self.sweep_tombstones();
        }
    }

    /// Retires every dead key whose tombstone no snapshot can see any more.
    ///
    /// The walk is paced by [`WalkPace`] (it holds no version across
    /// entries), so a sweep of a large index does not hold back reclamation
    /// or keep the core; it keeps flurry's guard throughout, which holds
    /// back only the freeing of index nodes removed meanwhile.
    pub(crate) fn sweep_tombstones(&self) {
        let guard = self.index.guard();
        let mut pin = self.reclaim.pin();
        let mut horizon = self.registry.horizon(&self.clock);
        loop {
            // Acquire: pairs with the Release of `note_held_back`, so the
            // walk below sees the tombstones counted so far committed; one
            // counted later is recounted by whoever holds it back.
            self.held_back.swap(0, Ordering::Acquire);
            let mut held_back = 0;
            let mut pace = WalkPace::new();
            self.index.for_each(&guard, |key, entry| {
                pace.step(&self.reclaim, &mut pin);
                // Acquire: pairs with the Release CAS that linked the head.
                let top = entry.head.load(Ordering::Acquire);
                if self.retire_tombstone(key, entry, top, horizon, &guard, &pin) == Retire::HeldBack
                {
                    held_back += 1;
                }
            });
            if held_back == 0 {
                return;
            }
            // Counted before the next horizon's F2: a snapshot that ended
            // meanwhile is either seen gone (the horizon moved: sweep again)
            // or sees the count after its F3 and sweeps when it is oldest.
            self.note_held_back(held_back);
            let next = self.registry.horizon(&self.clock);
            if next <= horizon {
                return;
            }
            horizon = next;
        }
    }
}

/// A dead key offered for retirement: its entry, and the head found there.
struct Dead<'g> {
    key: Key,
    entry: &'g Entry,
    top: *mut Version,
}

/// A delete's dead keys, inline for the usual one to three (plus one).
type DeadSet<'g> = smallvec::SmallVec<[Dead<'g>; 4]>;

/// What became of a tombstone offered for retirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retire {
    /// The entry is retired.
    Done,
    /// A registered snapshot may still see the key: retry when it ends.
    HeldBack,
    /// Nothing to retire: the head moved on, or is not a committed tombstone.
    Moot,
}
