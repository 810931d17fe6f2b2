//! flurry as a plain key-value map: one value per key, no versions, no
//! commit records, no snapshots registry.
//!
//! It exists to price multi-version concurrency control itself: the gap
//! between this engine and the lock-free one is what the versions cost.
//! It keeps none of the store's contract beyond single keys, so it is never
//! offered to the server:
//! * a multi-key write installs its keys one by one, and a multi-key read
//!   reads them one by one, so a read may see half of a write (torn);
//! * a snapshot is a walk over the live map, not one instant (a backup of it
//!   may mix states);
//! * the commit clock is ticked after the keys are installed and promises
//!   no order between commands on different keys.

use crate::store::mutex::{CopiedSnapshot, KeyHasher};
use crate::store::{Deletion, Engine, KeySet, Presence, Snapshot, Store, Timestamp, WriteSet};
use crate::token::{Key, Value};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// A flurry map from key to value.
#[derive(Debug)]
pub struct PlainFlurry {
    map: flurry::HashMap<Key, Value, KeyHasher>,
    clock: CachePadded<AtomicU64>,
}

impl Default for PlainFlurry {
    fn default() -> Self {
        Self::new()
    }
}

impl PlainFlurry {
    /// An empty map.
    pub fn new() -> Self {
        Self {
            map: flurry::HashMap::with_hasher(KeyHasher::new()),
            clock: CachePadded::new(AtomicU64::new(0)),
        }
    }

    fn tick(&self) -> Timestamp {
        // Release: pairs with the Acquire load in `now`.
        self.clock.fetch_add(1, Ordering::Release) + 1
    }
}

impl Store for PlainFlurry {
    fn write(&self, batch: &WriteSet) -> Timestamp {
        let guard = self.map.guard();
        for (key, value) in batch.pairs() {
            self.map.insert(*key, *value, &guard);
        }
        self.tick()
    }

    fn delete(&self, keys: &KeySet) -> Deletion {
        let guard = self.map.guard();
        let removed: Presence = keys
            .keys()
            .iter()
            .map(|key| self.map.remove(key, &guard).is_some())
            .collect();
        let ts = removed.contains(&true).then(|| self.tick());
        Deletion { removed, ts }
    }

    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>) {
        out.clear();
        let guard = self.map.guard();
        out.extend(
            keys.keys()
                .iter()
                .map(|key| self.map.get(key, &guard).copied()),
        );
    }

    fn snapshot(&self) -> Box<dyn Snapshot> {
        let guard = self.map.guard();
        // A walk over the live map, not one instant (see the module doc).
        let pairs = self.map.iter(&guard).map(|(k, v)| (*k, *v)).collect();
        Box::new(CopiedSnapshot(pairs))
    }

    fn now(&self) -> Timestamp {
        // Acquire: pairs with the Release RMW in `tick`.
        self.clock.load(Ordering::Acquire)
    }

    fn engine(&self) -> Engine {
        // Not a server engine; it belongs to the lock-free family.
        Engine::LockFree
    }
}
