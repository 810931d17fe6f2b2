//! The seam a job's writes and deletes go through.
//!
//! A job commits either straight to the store (batch mode) or through a
//! path that also tells subscribed clients what changed (server mode). The
//! job language does not care which: it hands its [`WriteSet`]s and
//! [`KeySet`]s to a [`Commit`] and reads the same answers back. Whatever
//! implements it keeps the store's contract: each call takes effect at one
//! instant, as the [`Store`] method of the same name does, and returns that
//! method's answer.

use super::{Deletion, KeySet, Store, Timestamp, WriteSet};

/// Where a job's writes and deletes are committed.
pub trait Commit {
    /// Sets every pair of `batch` at one instant (see [`Store::write`]).
    fn write(&mut self, batch: &WriteSet) -> Timestamp;

    /// Deletes every present key of `keys` at one instant (see
    /// [`Store::delete`]).
    fn delete(&mut self, keys: &KeySet) -> Deletion;
}

/// Commits straight to the store, telling no one.
impl<S: Store + ?Sized> Commit for &S {
    fn write(&mut self, batch: &WriteSet) -> Timestamp {
        Store::write(*self, batch)
    }

    fn delete(&mut self, keys: &KeySet) -> Deletion {
        Store::delete(*self, keys)
    }
}

/// Lends a commit path for a while (one job of a worker that runs many).
impl<C: Commit + ?Sized> Commit for &mut C {
    fn write(&mut self, batch: &WriteSet) -> Timestamp {
        (**self).write(batch)
    }

    fn delete(&mut self, keys: &KeySet) -> Deletion {
        (**self).delete(keys)
    }
}

/// A commit path has nothing worth showing but its presence.
impl std::fmt::Debug for dyn Commit + Send + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Commit")
    }
}
