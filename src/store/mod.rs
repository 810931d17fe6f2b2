//! The key-value store: one interface, two engines.
//!
//! * [`lockfree`] (the default): the research engine. A `flurry` map from each key to a
//!   chain of versions, a global commit clock, and multi-version snapshots:
//!   readers, `SHOW` and `BACKUP` never take a lock and never wait for a
//!   writer.
//! * [`mutex`]: the classic design every measurement is compared with:
//!   sharded reader-writer locks taken in ascending shard order.
//!
//! Both engines keep the same contract, which the job language relies on:
//! every method takes effect at a single instant (it is linearizable), and a
//! multi-key method is never seen half done by another method.

pub mod batch;
pub mod commit;
pub mod lockfree;
// std: the baseline engine is std's locks and clock by design; the loom
// models run the lock-free engine, never this one.
#[allow(clippy::disallowed_types)]
pub mod mutex;

pub use batch::{KeySet, Presence, WriteSet};
pub use commit::Commit;

use crate::token::{Key, Value};
use std::sync::Arc;

/// A commit's place in the store's total order of writes and deletes.
///
/// If one commit happens before another (in real time, or because they touch
/// a common key), its timestamp is smaller. Notifications use it to reach
/// each client in commit order.
pub type Timestamp = u64;

/// What a [`Store::delete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// For each key of the [`KeySet`], in its order: whether it was present
    /// (and so is now deleted).
    pub removed: Presence,
    /// The commit's timestamp, or `None` when no key was present and nothing
    /// was committed.
    pub ts: Option<Timestamp>,
}

/// A linearizable key-value store.
pub trait Store: Send + Sync {
    /// Sets every pair of `batch` at one instant and returns that commit's
    /// timestamp.
    fn write(&self, batch: &WriteSet) -> Timestamp;

    /// Deletes every present key of `keys` at one instant.
    fn delete(&self, keys: &KeySet) -> Deletion;

    /// Reads every key of `keys` at one instant, replacing the contents of
    /// `out` with one entry per key, in the set's order (`None`: absent).
    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>);

    /// Fixes the store's state at this instant. The returned snapshot may be
    /// read later, from another thread, while the store keeps changing.
    fn snapshot(&self) -> Box<dyn Snapshot>;

    /// The commit clock's current reading: a lower bound of the next
    /// commit's timestamp.
    ///
    /// Every engine keeps two promises here, which the notifications' merge
    /// of the workers' rings into commit order is proved from:
    ///
    /// * **(K1)** A commit that starts after `now()` returned `x`, on the
    ///   thread that called it, gets a timestamp greater than `x`.
    /// * **(K2)** If `now()` returns `x` and some commit took a timestamp
    ///   `ts <= x`, then everything that commit's thread did before taking
    ///   `ts` happens before `now()` returns.
    ///
    /// A clock that takes each timestamp with a Release (or stronger)
    /// read-modify-write that only increases it, and reads it here with an
    /// Acquire load, has both: K1 by coherence of the one location, K2
    /// because the load reads that RMW or a later one of its release
    /// sequence and so synchronizes with it.
    fn now(&self) -> Timestamp;

    /// The engine's name, as `--store` spells it.
    fn engine(&self) -> Engine;

    /// Deletes every key at one instant; returns the commit's timestamp, or
    /// `None` when the store was already empty.
    ///
    /// This default deletes the keys of a snapshot in one multi-key
    /// [`delete`](Store::delete). That delete is atomic, so no reader sees
    /// some of the keys gone and others still there; and when no write runs
    /// concurrently with the call, the keys of the snapshot are all the keys
    /// there are at the delete's commit, so the store is empty at that
    /// instant: the clear is linearizable there. A write of a new key
    /// concurrent with it could survive it (it is not in the snapshot)
    /// after some reader saw it beside keys the clear deletes, which no
    /// single instant explains; callers that write concurrently must hold
    /// those writes back meanwhile (the job runner's command gate, which a
    /// store reset holds exclusively, does). An engine that can empty
    /// itself atomically on its own overrides this.
    fn clear(&self) -> Option<Timestamp> {
        let keys = self
            .snapshot()
            .into_sorted_pairs()
            .into_iter()
            .map(|(key, _)| key);
        self.delete(&KeySet::from_keys(keys)).ts
    }
}

/// Names the engine behind a store handle; its contents are too large to
/// show and change under the reader.
impl std::fmt::Debug for dyn Store + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

/// A point-in-time view of a store.
pub trait Snapshot: Send {
    /// Every pair present at the snapshot's instant, in ascending key order.
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)>;
}

/// The store engines, as `--store` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Engine {
    /// Multi-version chains in a lock-free index (the default).
    #[value(name = "lockfree")]
    LockFree,
    /// Sharded reader-writer locks (the classic baseline).
    #[value(name = "mutex")]
    Mutex,
}

impl Engine {
    /// Every engine, for tests and benchmarks that compare them.
    pub const ALL: [Engine; 2] = [Engine::LockFree, Engine::Mutex];

    /// The name `--store` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Engine::LockFree => "lockfree",
            Engine::Mutex => "mutex",
        }
    }

    /// Opens an empty store of this engine.
    pub fn open(self) -> Arc<dyn Store> {
        match self {
            Engine::LockFree => Arc::new(lockfree::LockFreeStore::new()),
            Engine::Mutex => Arc::new(mutex::MutexStore::new()),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::Token;

    fn t(s: &str) -> Token {
        Token::try_from(s).unwrap()
    }

    #[test]
    fn clear_empties_the_store_at_one_commit() {
        for engine in Engine::ALL {
            let store = engine.open();
            assert_eq!(
                store.clear(),
                None,
                "{engine}: an empty store commits nothing"
            );
            let before = store.write(&WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("2"))]));
            let cleared = store.clear().expect("keys were present");
            assert!(cleared > before, "{engine}");
            assert!(store.snapshot().into_sorted_pairs().is_empty(), "{engine}");
            let mut values = Vec::new();
            store.read(&KeySet::from_keys([t("a"), t("b")]), &mut values);
            assert_eq!(values, [None, None], "{engine}");
            store.write(&WriteSet::from_pairs([(t("a"), t("3"))]));
            assert_eq!(store.snapshot().into_sorted_pairs(), [(t("a"), t("3"))]);
        }
    }
}
