//! Reading one key at a snapshot timestamp, without ever waiting.
//!
//! A read at `S` walks the key's chain from the newest version and returns
//! the first version whose record is visible at `S` (a pending record met on
//! the way is pushed past `S`, see [`Record::resolve_at`]).
//!
//! A read that is not registered (a plain `READ`) may be overtaken by a
//! pruner whose horizon passed `S`. It then finds, instead of the version it
//! needs, one of three signs that history older than some timestamp `> S`
//! is gone, and answers [`Seen::Stale`] so that the caller retries at a
//! fresh `S`:
//! * a `next` pointer holding the marker (older versions pruned);
//! * a retired entry (head is the marker) or no entry at all, while some
//!   tombstone newer than `S` has been retired (`retired > S`);
//! * an entry whose floor is above `S` (it replaced a retired entry, and
//!   its exhausted chain proves absence only back to the floor).
//!
//! A registered snapshot never meets any of them (every horizon is at most
//! its `S`), so for it the walk is wait-free.
//!
//! [`Record::resolve_at`]: super::version::Record::resolve_at

use super::index::{Entry, EntryRef, Guard};
use super::reclaim::Pin;
use super::version::marker;
use super::Inner;
use crate::store::{KeySet, Timestamp};
use crate::sync::Ordering;
use crate::token::Value;
use smallvec::SmallVec;

/// What a read of one key at `S` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The key's value at `S` (`None`: absent).
    Found(Option<Value>),
    /// Versions needed at `S` may be pruned: retry at a fresh timestamp.
    Stale,
}

/// Where [`Inner::read_all`] puts what it reads: emptied at every
/// (re)start, then one value per key.
pub(crate) trait Values<'g> {
    /// Forgets every value (a read restarting at a fresher timestamp).
    fn restart(&mut self);
    /// The next key's value, and the entry it was read from (`None`: the
    /// key had no entry in the index).
    fn found(&mut self, value: Option<Value>, entry: Option<EntryRef<'g>>);
}

impl Values<'_> for Vec<Option<Value>> {
    fn restart(&mut self) {
        self.clear();
    }

    fn found(&mut self, value: Option<Value>, _entry: Option<EntryRef<'_>>) {
        self.push(value);
    }
}

/// A delete's check of its keys: each value, inline, and the entry it was
/// found in, so that the delete's install need not look the key up again.
#[derive(Default)]
pub(crate) struct Checked<'g> {
    pub(crate) values: SmallVec<[Option<Value>; 3]>,
    pub(crate) entries: SmallVec<[Option<EntryRef<'g>>; 3]>,
}

impl<'g> Values<'g> for Checked<'g> {
    fn restart(&mut self) {
        self.values.clear();
        self.entries.clear();
    }

    fn found(&mut self, value: Option<Value>, entry: Option<EntryRef<'g>>) {
        self.values.push(value);
        self.entries.push(entry);
    }
}

impl Inner {
    /// Reads every key of `keys` at one fresh timestamp into `out`,
    /// restarting at a fresher one whenever a key's history at the last is
    /// gone (see the module docs).
    pub(crate) fn read_all<'g>(
        &'g self,
        keys: &KeySet,
        out: &mut impl Values<'g>,
        guard: &'g Guard<'_>,
        pin: &Pin,
    ) {
        'fresh: loop {
            out.restart();
            if keys.is_empty() {
                return;
            }
            let s = self.clock.now();
            for key in keys.keys() {
                let entry = self.index.get(key, guard);
                let seen = match &entry {
                    Some(entry) => self.read_entry(entry, s, pin),
                    None => self.absent_unless_retired_after(s),
                };
                match seen {
                    Seen::Found(value) => out.found(value, entry),
                    Seen::Stale => continue 'fresh,
                }
            }
            return;
        }
    }

    /// A key without a live entry is absent at `s`, unless a tombstone newer
    /// than `s` was retired (then the key may have had a value at `s`).
    fn absent_unless_retired_after(&self, s: Timestamp) -> Seen {
        // Acquire: pairs with the Release `fetch_max` in `retire_tombstone`,
        // which precedes the retirement this read may have observed.
        if self.retired.load(Ordering::Acquire) <= s {
            Seen::Found(None)
        } else {
            Seen::Stale
        }
    }

    /// The floor of `entry`, found in the index: fixed, on first use, to the
    /// `retired` watermark read now, after the entry's insertion (see
    /// `index.rs`).
    pub(crate) fn floor_of(&self, entry: &Entry) -> Timestamp {
        entry.floor(|| {
            // Acquire: pairs with the Release `fetch_max` in
            // `retire_tombstone`. (The value alone is what counts: the
            // retirement of an earlier entry of the key precedes its removal
            // from the index, which precedes this entry's insertion, which
            // precedes our lookup.)
            self.retired.load(Ordering::Acquire)
        })
    }

    /// The value of the key whose entry is `entry`, at `s`.
    pub(crate) fn read_entry(&self, entry: &Entry, s: Timestamp, _pin: &Pin) -> Seen {
        if s < self.floor_of(entry) {
            return Seen::Stale;
        }
        // Acquire: pairs with the Release CAS that linked the head version
        // (or the Release CAS that retired the entry).
        let mut p = entry.head.load(Ordering::Acquire);
        if p == marker() {
            return self.absent_unless_retired_after(s);
        }
        loop {
            if p.is_null() {
                return Seen::Found(None);
            }
            if p == marker() {
                return Seen::Stale;
            }
            // SAFETY: `p` was reached from a live entry while this thread is
            // pinned (`_pin`); a version unlinked meanwhile is only retired,
            // and freed after every such pin ends.
            let version = unsafe { &*p };
            if version.visible_at(s) {
                return Seen::Found(version.value());
            }
            // Acquire: pairs with the Release CAS that published this version
            // (and its `next`), and with the Release store of a pruning cut,
            // so a reader that sees the cut retries at `S >=` the pruner's
            // horizon.
            p = version.next.load(Ordering::Acquire);
        }
    }
}
