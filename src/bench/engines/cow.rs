//! A copy-on-write sharded store: each shard is an `Arc<HashMap>` behind a
//! reader-writer lock.
//!
//! A snapshot read-locks every shard (ascending, as any command does) and
//! clones each shard's `Arc`: O(shards) under the locks, however large the
//! store. The price moves to the writers: the first write to a shard that a
//! live snapshot still shares copies that whole shard (`Arc::make_mut`)
//! while holding the shard's write lock.
//!
//! Invariants (as the mutex engine's): a command locks all the shards it
//! touches, in ascending index, before touching any; the commit clock
//! advances while the write locks are held; a snapshot holds every read
//! lock at once, so it sees one instant.

use crate::store::mutex::{CopiedSnapshot, KeyHasher, Shard};
use crate::store::{Deletion, Engine, KeySet, Presence, Snapshot, Store, Timestamp, WriteSet};
use crate::token::{Key, Value};
use crossbeam_utils::CachePadded;
use parking_lot::{RwLock, RwLockWriteGuard};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Indices = SmallVec<[usize; 4]>;

/// The copy-on-write sharded store.
#[derive(Debug)]
pub struct CowStore {
    shards: Box<[CachePadded<RwLock<Arc<Shard>>>]>,
    hasher: KeyHasher,
    clock: CachePadded<AtomicU64>,
}

impl CowStore {
    /// An empty store with `count` shards (at least one).
    pub fn with_shards(count: usize) -> Self {
        let hasher = KeyHasher::new();
        let shards = (0..count.max(1))
            .map(|_| CachePadded::new(RwLock::new(Arc::new(Shard::with_hasher(hasher.clone())))))
            .collect();
        Self {
            shards,
            hasher,
            clock: CachePadded::new(AtomicU64::new(0)),
        }
    }

    fn shard_of(&self, key: &Key) -> usize {
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn shards_for<'k>(&self, keys: impl Iterator<Item = &'k Key>) -> Indices {
        let mut indices: Indices = keys.map(|key| self.shard_of(key)).collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }

    /// Write-locks the shards of `keys`, ascending.
    fn lock_for_write<'k>(&self, keys: impl Iterator<Item = &'k Key>) -> WriteLocked<'_> {
        let indices = self.shards_for(keys);
        let guards = indices.iter().map(|&i| self.shards[i].write()).collect();
        WriteLocked { indices, guards }
    }

    fn tick(&self) -> Timestamp {
        // Release: pairs with the Acquire load in `now` (the Store trait's K2).
        self.clock.fetch_add(1, Ordering::Release) + 1
    }
}

/// The write guards of one command's shards.
struct WriteLocked<'a> {
    indices: Indices,
    guards: SmallVec<[RwLockWriteGuard<'a, Arc<Shard>>; 4]>,
}

impl WriteLocked<'_> {
    /// Shard `index`, copied first if a snapshot still shares it.
    fn shard(&mut self, index: usize) -> &mut Shard {
        let slot = self
            .indices
            .binary_search(&index)
            .expect("a command only touches shards it locked");
        Arc::make_mut(&mut self.guards[slot])
    }
}

impl Store for CowStore {
    fn write(&self, batch: &WriteSet) -> Timestamp {
        let mut locked = self.lock_for_write(batch.pairs().iter().map(|(key, _)| key));
        for (key, value) in batch.pairs() {
            locked.shard(self.shard_of(key)).insert(*key, *value);
        }
        self.tick()
    }

    fn delete(&self, keys: &KeySet) -> Deletion {
        let mut locked = self.lock_for_write(keys.keys().iter());
        let removed: Presence = keys
            .keys()
            .iter()
            .map(|key| locked.shard(self.shard_of(key)).remove(key).is_some())
            .collect();
        let ts = removed.contains(&true).then(|| self.tick());
        Deletion { removed, ts }
    }

    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>) {
        out.clear();
        let indices = self.shards_for(keys.keys().iter());
        let guards: SmallVec<[_; 4]> = indices.iter().map(|&i| self.shards[i].read()).collect();
        out.extend(keys.keys().iter().map(|key| {
            let slot = indices
                .binary_search(&self.shard_of(key))
                .expect("locked above");
            guards[slot].get(key).copied()
        }));
    }

    fn snapshot(&self) -> Box<dyn Snapshot> {
        let guards: Vec<_> = self.shards.iter().map(|shard| shard.read()).collect();
        let shards = guards.iter().map(|shard| Arc::clone(shard)).collect();
        drop(guards);
        Box::new(SharedShards { shards })
    }

    fn now(&self) -> Timestamp {
        // Acquire: pairs with the Release RMW in `tick` (K2).
        self.clock.load(Ordering::Acquire)
    }

    fn engine(&self) -> Engine {
        // Not a server engine; it belongs to the locked family.
        Engine::Mutex
    }
}

/// The shards as they were at the snapshot's instant, shared with the store
/// until a writer copies one.
struct SharedShards {
    shards: Vec<Arc<Shard>>,
}

impl Snapshot for SharedShards {
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
        let total = self.shards.iter().map(|shard| shard.len()).sum();
        let mut pairs = Vec::with_capacity(total);
        for shard in &self.shards {
            pairs.extend(shard.iter().map(|(key, value)| (*key, *value)));
        }
        Box::new(CopiedSnapshot(pairs)).into_sorted_pairs()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::{key, value};

    #[test]
    fn a_snapshot_keeps_its_instant_while_writers_copy_shards() {
        let store = CowStore::with_shards(4);
        store.write(&WriteSet::from_pairs([
            (key("a"), value("1")),
            (key("b"), value("1")),
        ]));
        let snapshot = store.snapshot();
        store.write(&WriteSet::from_pairs([
            (key("a"), value("2")),
            (key("c"), value("2")),
        ]));
        store.delete(&KeySet::from_keys([key("b")]));
        assert_eq!(
            snapshot.into_sorted_pairs(),
            [(key("a"), value("1")), (key("b"), value("1"))]
        );
        let mut out = Vec::new();
        store.read(&KeySet::from_keys([key("a"), key("b"), key("c")]), &mut out);
        assert_eq!(out, [Some(value("2")), None, Some(value("2"))]);
    }
}
