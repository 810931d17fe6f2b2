//! Writes and deletes held at a [`Stage`] of their commit: the store runs
//! every command through these with a hook that does nothing, and models
//! and tests pass one that holds the command there (to catch it pending,
//! between two links, or between a cut and its link).

use super::LockFreeStore;
use crate::store::{Deletion, KeySet, Timestamp, WriteSet};

/// A point inside `Inner::commit_batch` where a test or model may hold
/// the command (the store itself passes a hook that does nothing there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// This many of the command's versions are linked. For a several-key
    /// command the record is not ready: another writer of those keys waits
    /// for the owner a little, then aborts the command. A one-key
    /// command's version is linked ready: another writer of its key
    /// commits it for the owner.
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
    /// (another writer of that key waits a little, then aborts the command,
    /// which then starts again once `between` returns); a one-key
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

    /// Deletes `keys` like [`Store::delete`](crate::store::Store::delete),
    /// running `between` once its first tombstone is linked and before the
    /// next is (if some key is present, so that it installs tombstones).
    /// For tests that need a delete caught between two links.
    #[doc(hidden)]
    pub fn delete_pausing_after_first_link(
        &self,
        keys: &KeySet,
        between: impl FnOnce(),
    ) -> Deletion {
        self.delete_pinned(keys, once_at(Stage::Linked(1), between))
    }

    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `between` once the chain of its first key is pruned below
    /// its head and before that key's version is linked (if the head was
    /// final, committed or aborted, when it got there; else at the first
    /// final head it then finds). For models that need the cut made and
    /// not yet published by the link.
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
        self.write_holding(batch, once_at(at, between))
    }

    /// Writes `batch` like [`Store::write`](crate::store::Store::write),
    /// running `hold` at each stage.
    pub(super) fn write_holding(&self, batch: &WriteSet, hold: impl FnMut(Stage)) -> Timestamp {
        let inner = &*self.inner;
        let guard = inner.index.guard();
        let pin = inner.reclaim.pin();
        let items = batch
            .pairs()
            .iter()
            .map(|(key, value)| (*key, Some(*value), None));
        let (ts, _installed) = inner.commit_batch(items, &guard, &pin, hold);
        ts
    }
}

/// A hold that runs `between` the first time the commit reaches `at` (a
/// command started again after an abort passes `at` again, unheld).
fn once_at(at: Stage, between: impl FnOnce()) -> impl FnMut(Stage) {
    let mut between = Some(between);
    move |stage| {
        if stage == at {
            if let Some(between) = between.take() {
                between();
            }
        }
    }
}
