//! Unlinking versions no snapshot can see, and retiring dead keys.
//!
//! *Pruning.* With horizon `H` (at most every registered snapshot's `S`,
//! see `snapshots.rs`), a chain needs, for every `S >= H`, only the newest
//! version visible at `S`, which is the newest version visible at `H` or a
//! newer one. So everything older than the newest committed version with
//! `ts <= H` is cut off and retired. Only the writer whose pending version
//! heads the chain prunes it, so no two pruners ever cut the same chain.
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
//! Freed when: a key's pinned versions go on the next write to that key;
//! dead keys' tombstones go right after their delete, or, if a snapshot
//! pinned them, by the sweep that runs when the last snapshot ends.

use super::index::{Entry, Guard};
use super::reclaim::Pin;
use super::version::{marker, State, Version};
use super::Inner;
use crate::store::Timestamp;
use crate::sync::Ordering;
use crate::token::Key;

impl Inner {
    /// Cuts, below `top` (a pending head this thread owns), every version
    /// older than the newest one visible at `horizon`.
    pub(crate) fn prune_below(&self, top: *mut Version, horizon: Timestamp, pin: &Pin) {
        // SAFETY: `top` is our own pending version; it stays linked (and so
        // alive) at least until we commit.
        // Acquire (also below): pairs with the Release CAS that published
        // each version, so its fields may be read.
        let mut p = unsafe { (*top).next.load(Ordering::Acquire) };
        while !p.is_null() && p != marker() {
            // SAFETY: reached through our own head while pinned: versions
            // below a pending head are changed only by its owner (us).
            let version = unsafe { &*p };
            if let State::Committed { ts } = version.record().state() {
                if ts <= horizon {
                    // Relaxed: only the head's owner writes `next` below it.
                    let tail = version.next.load(Ordering::Relaxed);
                    if !tail.is_null() && tail != marker() {
                        // Release: pairs with the Acquire `next` load of a
                        // reader that meets the cut, so its retry reads a
                        // clock at least our horizon.
                        version.next.store(marker(), Ordering::Release);
                        // SAFETY: the tail is now unlinked (the only link
                        // was the pointer we just replaced), we alone retire
                        // it, and detached chains are never written again.
                        unsafe { self.reclaim.retire(tail, pin) };
                    }
                    return;
                }
            }
            // Acquire: as above, pairs with the Release CAS that published
            // the next version.
            p = version.next.load(Ordering::Acquire);
        }
    }

    /// Retires `entry` if its head is still `top`, a committed tombstone
    /// visible at `horizon`. Returns whether it did.
    pub(crate) fn retire_tombstone(
        &self,
        key: &Key,
        entry: &Entry,
        top: *mut Version,
        horizon: Timestamp,
        guard: &Guard<'_>,
        pin: &Pin,
    ) -> bool {
        if top.is_null() || top == marker() {
            return false;
        }
        // SAFETY: `top` was loaded from `entry` while pinned.
        let version = unsafe { &*top };
        let ts = match version.record().state() {
            State::Committed { ts } if ts <= horizon && version.value().is_none() => ts,
            _ => return false,
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
            return false;
        }
        self.index.remove_if(key, entry, guard);
        // SAFETY: the head was the only link into the chain from `top`, and
        // our CAS replaced it: the chain is unlinked, ours alone to retire,
        // and nobody writes a retired entry's chain again.
        unsafe { self.reclaim.retire(top, pin) };
        true
    }

    /// Retires every dead key whose tombstone no snapshot can see any more.
    pub(crate) fn sweep_tombstones(&self) {
        let horizon = self.registry.horizon(&self.clock);
        let guard = self.index.guard();
        let pin = self.reclaim.pin();
        self.index.for_each(&guard, |key, entry| {
            // Acquire: pairs with the Release CAS that linked the head.
            let top = entry.head.load(Ordering::Acquire);
            self.retire_tombstone(key, entry, top, horizon, &guard, &pin);
        });
    }
}
