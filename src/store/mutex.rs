//! The baseline engine: a hash map split into shards, each behind a
//! reader-writer lock.
//!
//! This is the classic design of the course server, tuned to be a fair
//! comparison rather than a straw man: many shards so that commands on
//! different keys rarely meet, read locks for `READ`, and no lock held while
//! a snapshot is sorted.
//!
//! Invariants:
//! * A command locks every shard it touches before it reads or changes any of
//!   them, and locks them in ascending shard index. Holding all of its locks
//!   at once makes the command atomic; the fixed order rules out deadlock.
//! * A snapshot read-locks every shard (ascending, like any other command) and
//!   copies them all before releasing any, so it sees one instant.
//! * The commit clock is advanced while the committing command still holds
//!   its write locks, so two commands that share a key get timestamps in the
//!   order they took effect.

use super::{Deletion, Engine, KeySet, Snapshot, Store, Timestamp, WriteSet};
use crate::token::{Key, Value};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How many shards per available core. More shards make two commands less
/// likely to meet on a lock; past a few dozen the gain is noise.
const SHARDS_PER_CORE: usize = 16;

type Shard = HashMap<Key, Value, RandomState>;

/// The sharded reader-writer-lock store.
pub struct MutexStore {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    clock: AtomicU64,
}

impl Default for MutexStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MutexStore {
    /// An empty store with a shard count sized for this machine.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_shards((cores * SHARDS_PER_CORE).next_power_of_two())
    }

    /// An empty store with `count` shards (at least one).
    pub fn with_shards(count: usize) -> Self {
        let hasher = RandomState::new();
        let shards = (0..count.max(1))
            .map(|_| RwLock::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        Self {
            shards,
            hasher,
            clock: AtomicU64::new(0),
        }
    }

    fn shard_of(&self, key: &Key) -> usize {
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    /// The shard indices `keys` fall in, ascending and unique: the order in
    /// which a command must lock them.
    fn shards_for<'k>(&self, keys: impl Iterator<Item = &'k Key>) -> Vec<usize> {
        let mut indices: Vec<usize> = keys.map(|key| self.shard_of(key)).collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }

    fn lock_for_write(&self, indices: &[usize]) -> Locked<RwLockWriteGuard<'_, Shard>> {
        Locked::new(indices, |i| write_lock(&self.shards[i]))
    }

    fn lock_for_read(&self, indices: &[usize]) -> Locked<RwLockReadGuard<'_, Shard>> {
        Locked::new(indices, |i| read_lock(&self.shards[i]))
    }

    /// The next commit timestamp. Called with the commit's write locks held.
    fn tick(&self) -> Timestamp {
        // Release: pairs with the Acquire load in `now`, so a reader of the
        // clock sees everything the committing thread did before (K2).
        self.clock.fetch_add(1, Ordering::Release) + 1
    }
}

/// The guards of the shards one command holds, looked up by shard index.
struct Locked<G> {
    indices: Vec<usize>,
    guards: Vec<G>,
}

impl<G> Locked<G> {
    /// Locks each of `indices` (ascending) with `lock`, in that order.
    fn new(indices: &[usize], lock: impl FnMut(usize) -> G) -> Self {
        Self {
            indices: indices.to_vec(),
            guards: indices.iter().copied().map(lock).collect(),
        }
    }

    fn shard(&mut self, index: usize) -> &mut G {
        let slot = self
            .indices
            .binary_search(&index)
            .expect("a command only touches shards it locked");
        &mut self.guards[slot]
    }
}

/// A poisoned lock means a thread panicked while holding it. Every update
/// here is a single `HashMap` call that leaves the map consistent, so the data
/// is still sound and the store keeps serving.
fn write_lock(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_lock(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store for MutexStore {
    fn write(&self, batch: &WriteSet) -> Timestamp {
        let indices = self.shards_for(batch.pairs().iter().map(|(key, _)| key));
        let mut locked = self.lock_for_write(&indices);
        for (key, value) in batch.pairs() {
            locked.shard(self.shard_of(key)).insert(*key, *value);
        }
        self.tick()
    }

    fn delete(&self, keys: &KeySet) -> Deletion {
        let indices = self.shards_for(keys.keys().iter());
        let mut locked = self.lock_for_write(&indices);
        let removed: Vec<bool> = keys
            .keys()
            .iter()
            .map(|key| locked.shard(self.shard_of(key)).remove(key).is_some())
            .collect();
        let ts = removed.contains(&true).then(|| self.tick());
        Deletion { removed, ts }
    }

    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>) {
        out.clear();
        if let [key] = keys.keys() {
            // One key needs one lock: skip the bookkeeping of a multi-key read.
            out.push(
                read_lock(&self.shards[self.shard_of(key)])
                    .get(key)
                    .copied(),
            );
            return;
        }
        let indices = self.shards_for(keys.keys().iter());
        let mut locked = self.lock_for_read(&indices);
        out.extend(
            keys.keys()
                .iter()
                .map(|key| locked.shard(self.shard_of(key)).get(key).copied()),
        );
    }

    fn snapshot(&self) -> Box<dyn Snapshot> {
        let all: Vec<usize> = (0..self.shards.len()).collect();
        let locked = self.lock_for_read(&all);
        let total = locked.guards.iter().map(|shard| shard.len()).sum();
        let mut pairs = Vec::with_capacity(total);
        for shard in &locked.guards {
            pairs.extend(shard.iter().map(|(key, value)| (*key, *value)));
        }
        drop(locked);
        Box::new(CopiedSnapshot { pairs })
    }

    fn now(&self) -> Timestamp {
        // Acquire: pairs with the Release RMW in `tick` (K2).
        self.clock.load(Ordering::Acquire)
    }

    fn engine(&self) -> Engine {
        Engine::Mutex
    }

    /// Empties every shard under all the write locks at once (taken in
    /// ascending order, like any command), so the clear is one instant even
    /// with writes running concurrently.
    fn clear(&self) -> Option<Timestamp> {
        let all: Vec<usize> = (0..self.shards.len()).collect();
        let mut locked = self.lock_for_write(&all);
        let mut removed = false;
        for shard in &mut locked.guards {
            removed |= !shard.is_empty();
            shard.clear();
        }
        removed.then(|| self.tick())
    }
}

/// A snapshot copied out under the locks; sorted only when read, off the
/// command's critical section.
struct CopiedSnapshot {
    pairs: Vec<(Key, Value)>,
}

impl Snapshot for CopiedSnapshot {
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
        let mut pairs = self.pairs;
        pairs.sort_unstable_by_key(|pair| pair.0);
        pairs
    }
}
