//! Freeing as far as loom can tell: the models' stand-in for the epoch
//! (`reclaim/epoch.rs`) poisons a record or version where the real code
//! would free it, so that loom reports any access that does not happen
//! before the free.

use super::{Record, Version, FREED};

impl Record {
    /// Frees the record as far as loom can tell (`reclaim/epoch.rs`): takes
    /// the state word exclusively, so loom reports every access that does
    /// not happen before this, and leaves [`FREED`] for any that does.
    pub(crate) fn poison(&mut self) {
        self.state.with_mut(|word| {
            assert_ne!(*word, FREED, "double free of a record");
            *word = FREED;
        });
    }
}

impl Version {
    /// Frees the version as far as loom can tell (see [`Record::poison`]):
    /// its own word, body and `next` are taken exclusively. Returns the
    /// `next` pointer it held, leaving null.
    pub(crate) fn poison(&mut self) -> *mut Version {
        self.own.state.with_mut(|word| {
            assert_ne!(*word, FREED, "double free of a version");
            *word = FREED;
        });
        self.body.with_mut(|_| ());
        self.next
            .with_mut(|next| std::mem::replace(next, std::ptr::null_mut()))
    }
}
