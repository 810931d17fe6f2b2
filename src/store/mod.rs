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
pub mod lockfree;
pub mod mutex;

pub use batch::{KeySet, WriteSet};

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
    pub removed: Vec<bool>,
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

    /// The commit clock's current reading, with the two promises the
    /// notification merge relies on (see [`crate::server::order`]):
    /// a commit that starts after `now()` returned `x` gets a timestamp
    /// greater than `x` (K1), and if a commit took a timestamp `<= now()`,
    /// everything its thread did before taking it happens before `now()`
    /// returns (K2: an Acquire read of a clock advanced with Release).
    fn now(&self) -> Timestamp;

    /// The engine's name, as `--store` spells it.
    fn engine(&self) -> Engine;
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
