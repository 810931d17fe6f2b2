//! The baseline engine: a hash map split into shards, each behind a
//! reader-writer lock.
//!
//! This is the classic design of the course server, tuned the way its best
//! advocate would: many shards so that commands on different keys rarely
//! meet, each shard's lock on its own cache line, read locks for `READ`,
//! `parking_lot`'s reader-writer lock (measured against the standard
//! library's: `kvs-bench --lock`), the same fast hasher as the lock-free
//! engine (ahash; a key is hashed once per command, and that hash both
//! chooses its shard and finds it in the shard's table), no allocation per command (shard indices and guards are
//! kept inline), a snapshot buffer allocated and faulted in before any lock
//! is taken, and no lock held while a snapshot is sorted.
//!
//! Invariants:
//! * A command locks every shard it touches before it reads or changes any of
//!   them, and locks them in ascending shard index. Holding all of its locks
//!   at once makes the command atomic; the fixed order rules out deadlock.
//! * A snapshot read-locks every shard (ascending, like any other command) and
//!   copies them all before releasing any, so it sees one instant.
//! * A key's shard comes from bits 32 to 55 of its hash, which the shard's
//!   table uses for neither its bucket (the low bits) nor its tag (the top
//!   seven), so the keys of one shard still spread over all of its buckets.
//! * The commit clock is advanced while the committing command still holds
//!   its write locks, so two commands that share a key get timestamps in the
//!   order they took effect.

use super::batch::sort_short_by;
use super::{Deletion, Engine, KeySet, Presence, Snapshot, Store, Timestamp, WriteSet};
use crate::pace::PAGE_BYTES;
use crate::token::{Key, Value};
use crossbeam_utils::CachePadded;
use hashbrown::hash_map::RawEntryMut;
use smallvec::SmallVec;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

/// The default shard count (see [`MutexStore::new`]): what the engine used
/// on this 2-core machine before (16 per core). With fewer shards two
/// commands meet on a lock more often; with more, a snapshot takes more
/// locks and the locks spread over more cache lines. Provisional: a smoke
/// sweep on a loaded machine could not tell 8 to 128 shards apart, and
/// `benches/experiments.sh --only shards` is the sweep that decides it.
pub const DEFAULT_SHARDS: usize = 32;

/// The keys' hasher: ahash, the same hasher the lock-free engine's index
/// uses, so neither engine is measured with a slower hash than the other.
pub type KeyHasher = ahash::RandomState;

/// One shard's map: hashbrown's, whose raw entries take a hash computed
/// beforehand, so the hash that chose the shard is not computed again.
pub type Shard = hashbrown::HashMap<Key, Value, KeyHasher>;

/// Shard indices of one command: at most a few, kept inline (no allocation
/// per command).
type Indices = SmallVec<[usize; 4]>;

/// Each key's hash and shard, in the command's order.
type Placed = SmallVec<[(u64, usize); 4]>;

/// The most keys a command may name to take the array path of
/// [`Sharded::each_key_locked`].
const FEW_KEYS: usize = 4;

/// A reader-writer lock over one shard. Two are provided, so that the
/// standard library's and `parking_lot`'s can be measured against each other
/// on the same engine.
pub trait ShardLock: Send + Sync + 'static {
    /// A held read lock.
    type Read<'a>: Deref<Target = Shard>;
    /// A held write lock.
    type Write<'a>: DerefMut<Target = Shard>;
    /// A lock over `shard`.
    fn new(shard: Shard) -> Self;
    /// Takes the lock shared.
    fn read(&self) -> Self::Read<'_>;
    /// Takes the lock exclusive.
    fn write(&self) -> Self::Write<'_>;
}

/// `parking_lot`'s reader-writer lock: one CAS each way when uncontended,
/// and no poisoning.
pub type ParkingLotLock = parking_lot::RwLock<Shard>;

impl ShardLock for ParkingLotLock {
    type Read<'a> = parking_lot::RwLockReadGuard<'a, Shard>;
    type Write<'a> = parking_lot::RwLockWriteGuard<'a, Shard>;
    fn new(shard: Shard) -> Self {
        parking_lot::RwLock::new(shard)
    }
    fn read(&self) -> Self::Read<'_> {
        parking_lot::RwLock::read(self)
    }
    fn write(&self) -> Self::Write<'_> {
        parking_lot::RwLock::write(self)
    }
}

/// The standard library's reader-writer lock.
pub type StdLock = std::sync::RwLock<Shard>;

/// A poisoned lock means a thread panicked while holding it. Every update
/// here is a single `HashMap` call that leaves the map consistent, so the data
/// is still sound and the store keeps serving.
impl ShardLock for StdLock {
    type Read<'a> = std::sync::RwLockReadGuard<'a, Shard>;
    type Write<'a> = std::sync::RwLockWriteGuard<'a, Shard>;
    fn new(shard: Shard) -> Self {
        std::sync::RwLock::new(shard)
    }
    fn read(&self) -> Self::Read<'_> {
        std::sync::RwLock::read(self).unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    fn write(&self) -> Self::Write<'_> {
        std::sync::RwLock::write(self).unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The sharded reader-writer-lock store, with the lock that measured best
/// (`parking_lot`; see [`Sharded`] for the other).
pub type MutexStore = Sharded<ParkingLotLock>;

/// The sharded store over any [`ShardLock`]. Each shard sits on its own
/// cache line(s), so taking one shard's lock never invalidates the line of
/// another shard's lock in the other core's cache.
#[derive(Debug)]
pub struct Sharded<L> {
    shards: Box<[CachePadded<L>]>,
    hasher: KeyHasher,
    clock: CachePadded<AtomicU64>,
}

// No `Default`: `new` and `with_shards` are the only ways to build a store,
// so a constructor replaced by `Default::default()` (a mutation test's
// change) does not compile instead of recursing into itself forever.
impl<L: ShardLock> Sharded<L> {
    /// An empty store with [`DEFAULT_SHARDS`] shards.
    #[allow(clippy::new_without_default)] // see the comment above the impl
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// An empty store with `count` shards (at least one).
    pub fn with_shards(count: usize) -> Self {
        let hasher = KeyHasher::new();
        let shards = (0..count.max(1))
            .map(|_| CachePadded::new(L::new(Shard::with_hasher(hasher.clone()))))
            .collect();
        Self {
            shards,
            hasher,
            clock: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// How many shards the store has.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Runs `f` on every shard with all of their read locks held (taken in
    /// ascending order, as a snapshot takes them): one instant of the store,
    /// for callers that must see it without copying it (a fork-based backup
    /// forks inside `f`).
    pub fn with_all_read_locked<R>(&self, f: impl FnOnce(&[&Shard]) -> R) -> R {
        let guards: Vec<L::Read<'_>> = self.shards.iter().map(|shard| shard.read()).collect();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        f(&shards)
    }

    /// `key`'s hash and shard (see the module's invariants).
    fn place(&self, key: &Key) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        let shard = ((hash >> 32) & 0xff_ffff) as usize % self.shards.len();
        (hash, shard)
    }

    /// The hash and shard of each of `keys` (in their order; each key hashed
    /// once), and those shards ascending and unique: the order in which a
    /// command must lock them.
    fn shards_for<'k>(&self, keys: impl Iterator<Item = &'k Key>) -> (Placed, Indices) {
        let per_key: Placed = keys.map(|key| self.place(key)).collect();
        let mut order: Indices = per_key.iter().map(|&(_, shard)| shard).collect();
        order.sort_unstable();
        order.dedup();
        (per_key, order)
    }

    /// Runs `each` on every key of a command of several keys, in order,
    /// with the key's index, its hash and its shard's guard, while every
    /// shard the command touches is held through `lock` (taken in ascending
    /// order, each once). `each` says whether it changed the store; if any
    /// call did, the command's timestamp is taken while every lock is still
    /// held (the module's last invariant) and returned. Then the locks are
    /// released.
    ///
    /// A command of at most [`FEW_KEYS`] keys, which is nearly every one,
    /// keeps its hashes, shards and guards in fixed arrays and finds each
    /// key's guard by a short linear search; a longer one takes the general
    /// path ([`Sharded::shards_for`] and [`Locked`]).
    fn each_key_locked<'s, 'k, G>(
        &'s self,
        keys: impl ExactSizeIterator<Item = &'k Key>,
        lock: impl Fn(&'s L) -> G,
        mut each: impl FnMut(usize, u64, &mut G) -> bool,
    ) -> Option<Timestamp> {
        let mut changed = false;
        if keys.len() > FEW_KEYS {
            let (per_key, order) = self.shards_for(keys);
            let mut locked = Locked::new(order, |i| lock(&self.shards[i]));
            for (i, &(hash, shard)) in per_key.iter().enumerate() {
                changed |= each(i, hash, locked.shard(shard));
            }
            let ts = changed.then(|| self.tick());
            drop(locked);
            return ts;
        }
        let mut hashes = [0u64; FEW_KEYS];
        let mut shard_of = [0usize; FEW_KEYS];
        let mut order = [0usize; FEW_KEYS];
        let (mut count, mut distinct) = (0, 0);
        for key in keys {
            let (hash, shard) = self.place(key);
            (hashes[count], shard_of[count]) = (hash, shard);
            count += 1;
            if !order[..distinct].contains(&shard) {
                order[distinct] = shard;
                distinct += 1;
            }
        }
        let order = &mut order[..distinct];
        sort_short_by(order, |a, b| a < b);
        let mut guards: [Option<G>; FEW_KEYS] = [None, None, None, None];
        for (guard, &shard) in guards.iter_mut().zip(order.iter()) {
            *guard = Some(lock(&self.shards[shard]));
        }
        for i in 0..count {
            let slot = order.iter().position(|&shard| shard == shard_of[i]);
            let guard = slot.and_then(|slot| guards[slot].as_mut());
            let guard = guard.expect("every key's shard was locked above");
            changed |= each(i, hashes[i], guard);
        }
        let ts = changed.then(|| self.tick());
        drop(guards);
        ts
    }

    fn lock_for_write(&self, indices: Indices) -> Locked<L::Write<'_>> {
        Locked::new(indices, |i| self.shards[i].write())
    }

    fn lock_for_read(&self, indices: Indices) -> Locked<L::Read<'_>> {
        Locked::new(indices, |i| self.shards[i].read())
    }

    /// The next commit timestamp. Called with the commit's write locks held.
    fn tick(&self) -> Timestamp {
        // Release: pairs with the Acquire load in `now`, so a reader of the
        // clock sees everything the committing thread did before (K2).
        self.clock.fetch_add(1, Ordering::Release) + 1
    }

    /// A buffer for a snapshot's copy, allocated and touched before any
    /// lock is taken, so the copy under the locks takes no page faults.
    /// Sized from each shard's length read under its own brief lock, plus
    /// slack for what is written meanwhile (the copy grows it if needed).
    fn prefaulted_buffer(&self) -> Vec<(Key, Value)> {
        let estimate: usize = self.shards.iter().map(|shard| shard.read().len()).sum();
        let mut buffer = Vec::with_capacity(estimate + estimate / 16);
        let token = Key::new(b"x").expect("a letter is a valid token");
        touch_every_page(&mut buffer, (token, token));
        buffer
    }
}

/// Writes `sample` at least once into every page of `buffer`'s spare
/// capacity, so that the kernel maps those pages now rather than at the
/// first write to each. (Consecutive writes are less than a page apart.)
fn touch_every_page<T: Copy>(buffer: &mut Vec<T>, sample: T) {
    let per_page = (PAGE_BYTES / std::mem::size_of::<T>()).max(1);
    for page in buffer.spare_capacity_mut().chunks_mut(per_page) {
        page[0].write(sample);
    }
}

/// The guards of the shards one command holds, looked up by shard index.
struct Locked<G> {
    indices: Indices,
    guards: SmallVec<[G; 4]>,
}

impl<G> Locked<G> {
    /// Locks each of `indices` (ascending) with `lock`, in that order.
    fn new(indices: Indices, lock: impl FnMut(usize) -> G) -> Self {
        let guards = indices.iter().copied().map(lock).collect();
        Self { indices, guards }
    }

    fn shard(&mut self, index: usize) -> &mut G {
        let slot = self
            .indices
            .binary_search(&index)
            .expect("a command only touches shards it locked");
        &mut self.guards[slot]
    }
}

impl<L: ShardLock> Store for Sharded<L> {
    fn write(&self, batch: &WriteSet) -> Timestamp {
        if let [(key, value)] = batch.pairs() {
            // One key needs one lock: skip the bookkeeping of a multi-key write.
            let (hash, shard) = self.place(key);
            let mut locked = self.shards[shard].write();
            insert_hashed(&mut locked, hash, *key, *value);
            return self.tick();
        }
        let pairs = batch.pairs();
        let keys = pairs.iter().map(|(key, _)| key);
        let ts = self.each_key_locked(keys, L::write, |i, hash, shard| {
            let (key, value) = pairs[i];
            insert_hashed(shard, hash, key, value);
            true
        });
        ts.expect("a write changes every key it names")
    }

    fn delete(&self, keys: &KeySet) -> Deletion {
        if let [key] = keys.keys() {
            // One key needs one lock, as in `write`.
            let (hash, shard) = self.place(key);
            let mut locked = self.shards[shard].write();
            let removed = remove_hashed(&mut locked, hash, key);
            let ts = removed.then(|| self.tick());
            return Deletion {
                removed: Presence::from_slice(&[removed]),
                ts,
            };
        }
        let keys = keys.keys();
        let mut removed = Presence::new();
        let ts = self.each_key_locked(keys.iter(), L::write, |i, hash, shard| {
            let gone = remove_hashed(shard, hash, &keys[i]);
            removed.push(gone);
            gone
        });
        Deletion { removed, ts }
    }

    fn read(&self, keys: &KeySet, out: &mut Vec<Option<Value>>) {
        out.clear();
        if let [key] = keys.keys() {
            // One key needs one lock: skip the bookkeeping of a multi-key read.
            let (hash, shard) = self.place(key);
            out.push(get_hashed(&self.shards[shard].read(), hash, key));
            return;
        }
        let keys = keys.keys();
        // A read changes nothing, so it takes no timestamp.
        self.each_key_locked(keys.iter(), L::read, |i, hash, shard| {
            out.push(get_hashed(shard, hash, &keys[i]));
            false
        });
    }

    fn snapshot(&self) -> Box<dyn Snapshot> {
        let mut pairs = self.prefaulted_buffer();
        let all: Indices = (0..self.shards.len()).collect();
        let locked = self.lock_for_read(all);
        for shard in &locked.guards {
            pairs.extend(shard.iter().map(|(key, value)| (*key, *value)));
        }
        drop(locked);
        Box::new(CopiedSnapshot(pairs))
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
        let all: Indices = (0..self.shards.len()).collect();
        let mut locked = self.lock_for_write(all);
        let mut removed = false;
        for shard in &mut locked.guards {
            removed |= !shard.is_empty();
            shard.clear();
        }
        removed.then(|| self.tick())
    }
}

/// Sets `key` to `value` in `shard`, `hash` being the key's hash.
fn insert_hashed(shard: &mut Shard, hash: u64, key: Key, value: Value) {
    match shard.raw_entry_mut().from_key_hashed_nocheck(hash, &key) {
        RawEntryMut::Occupied(mut entry) => {
            entry.insert(value);
        }
        RawEntryMut::Vacant(entry) => {
            entry.insert_hashed_nocheck(hash, key, value);
        }
    }
}

/// Removes `key` from `shard`, `hash` being its hash; whether it was there.
fn remove_hashed(shard: &mut Shard, hash: u64, key: &Key) -> bool {
    match shard.raw_entry_mut().from_key_hashed_nocheck(hash, key) {
        RawEntryMut::Occupied(entry) => {
            entry.remove();
            true
        }
        RawEntryMut::Vacant(_) => false,
    }
}

/// `key`'s value in `shard`, `hash` being its hash.
fn get_hashed(shard: &Shard, hash: u64, key: &Key) -> Option<Value> {
    shard
        .raw_entry()
        .from_key_hashed_nocheck(hash, key)
        .map(|(_, value)| *value)
}

/// A snapshot copied out (under the locks, here), in no particular order;
/// sorted only when read, off the command's critical section.
#[derive(Debug)]
pub struct CopiedSnapshot(pub Vec<(Key, Value)>);

impl Snapshot for CopiedSnapshot {
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
        let mut pairs = self.0;
        crate::pace::sort_pairs(&mut pairs);
        pairs
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::pace::resident_pages;
    use crate::token::testing::{key, value};
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::sync::Arc;

    thread_local! {
        /// Run once by the next [`HookLock`] write guard, just after it
        /// unlocks its shard.
        static AFTER_UNLOCK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// `parking_lot`'s lock, whose write guard runs [`AFTER_UNLOCK`] on the
    /// same thread right after releasing the shard: another command can
    /// then run, deterministically, in the instant between a command's
    /// unlock and whatever it does after.
    struct HookLock(parking_lot::RwLock<Shard>);

    struct HookWrite<'a>(Option<parking_lot::RwLockWriteGuard<'a, Shard>>);

    impl Deref for HookWrite<'_> {
        type Target = Shard;
        fn deref(&self) -> &Shard {
            self.0.as_ref().expect("held until dropped")
        }
    }

    impl DerefMut for HookWrite<'_> {
        fn deref_mut(&mut self) -> &mut Shard {
            self.0.as_mut().expect("held until dropped")
        }
    }

    impl Drop for HookWrite<'_> {
        fn drop(&mut self) {
            drop(self.0.take());
            if let Some(hook) = AFTER_UNLOCK.with(|hook| hook.borrow_mut().take()) {
                hook();
            }
        }
    }

    impl ShardLock for HookLock {
        type Read<'a> = parking_lot::RwLockReadGuard<'a, Shard>;
        type Write<'a> = HookWrite<'a>;
        fn new(shard: Shard) -> Self {
            Self(parking_lot::RwLock::new(shard))
        }
        fn read(&self) -> Self::Read<'_> {
            self.0.read()
        }
        fn write(&self) -> Self::Write<'_> {
            HookWrite(Some(self.0.write()))
        }
    }

    /// Runs `first` on a one-shard store whose shard, once `first` unlocks
    /// it, is written by a second command of `keys` (all set to `B`) before
    /// `first` returns; the two commands' timestamps, and `keys`' values.
    fn overtaken_after_unlock(
        keys: &[&str],
        first: impl FnOnce(&Sharded<HookLock>) -> Option<Timestamp>,
    ) -> (Option<Timestamp>, Timestamp, Vec<Option<Value>>) {
        let store = Arc::new(Sharded::<HookLock>::with_shards(1));
        let set = KeySet::from_keys(keys.iter().map(|k| key(k)));
        let second_write = WriteSet::from_pairs(keys.iter().map(|k| (key(k), value("B"))));
        let second_ts = Arc::new(std::sync::Mutex::new(None));
        let (other, seen) = (Arc::clone(&store), Arc::clone(&second_ts));
        AFTER_UNLOCK.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || {
                *seen.lock().unwrap() = Some(other.write(&second_write));
            }));
        });
        let first_ts = first(&store);
        let second_ts = second_ts.lock().unwrap().expect("the second write ran");
        let mut values = Vec::new();
        store.read(&set, &mut values);
        (first_ts, second_ts, values)
    }

    /// The module's last invariant: a command of several keys takes its
    /// timestamp before it releases its locks, so a command that changes
    /// the same keys after it gets a later one (the notification merge
    /// orders by timestamp). Two keys take the array path, five the
    /// general one.
    #[test]
    fn a_several_key_write_is_timestamped_before_it_unlocks() {
        for keys in [&["a", "b"][..], &["a", "b", "c", "d", "e"]] {
            let first = WriteSet::from_pairs(keys.iter().map(|k| (key(k), value("A"))));
            let (first_ts, second_ts, values) =
                overtaken_after_unlock(keys, |store| Some(store.write(&first)));
            assert!(first_ts.unwrap() < second_ts, "{} keys", keys.len());
            assert!(values.iter().all(|v| *v == Some(value("B"))));
        }
    }

    #[test]
    fn a_several_key_delete_is_timestamped_before_it_unlocks() {
        for keys in [&["a", "b"][..], &["a", "b", "c", "d", "e"]] {
            let set = KeySet::from_keys(keys.iter().map(|k| key(k)));
            let filled = WriteSet::from_pairs(keys.iter().map(|k| (key(k), value("A"))));
            let (first_ts, second_ts, values) = overtaken_after_unlock(keys, |store| {
                // Fill without firing the hook: it is armed already, so
                // fill through the shard's lock directly.
                let mut shard = store.shards[0].0.write();
                for (k, v) in filled.pairs() {
                    shard.insert(*k, *v);
                }
                drop(shard);
                store.delete(&set).ts
            });
            assert!(first_ts.unwrap() < second_ts, "{} keys", keys.len());
            assert!(values.iter().all(|v| *v == Some(value("B"))));
        }
    }

    /// The snapshot's buffer is mapped before the locks are taken: every
    /// page of it is resident once touched. The allocator may hand the
    /// test memory another test touched and freed (mimalloc keeps freed
    /// segments for reuse), so the buffer's pages are given back to the
    /// kernel first: only the touch can make them resident again.
    #[test]
    fn touching_every_page_maps_the_whole_buffer() {
        let pair = (key("x"), key("x"));
        let capacity = (64 << 20) / std::mem::size_of_val(&pair);
        let mut buffer: Vec<(Key, Value)> = Vec::with_capacity(capacity);
        crate::pace::give_back_pages(&mut buffer);
        let bytes = capacity * std::mem::size_of_val(&pair);
        let (before, _) = resident_pages(buffer.as_ptr().cast(), bytes);
        touch_every_page(&mut buffer, pair);
        let (after, pages) = resident_pages(buffer.as_ptr().cast(), bytes);
        assert!(
            before < pages / 2,
            "{before} of {pages} pages resident before"
        );
        assert_eq!(after, pages, "pages resident after touching");
    }

    /// The snapshot's buffer has room for every key the store holds.
    #[test]
    fn a_snapshot_buffer_has_room_for_every_key() {
        let store = MutexStore::new();
        for chunk in (0..1000).collect::<Vec<u32>>().chunks(10) {
            let pairs = chunk.iter().map(|i| (key(&format!("k{i}")), key("v")));
            store.write(&WriteSet::from_pairs(pairs));
        }
        assert!(store.prefaulted_buffer().capacity() >= 1000);
    }

    #[test]
    fn a_store_has_the_shards_it_was_asked_for_and_at_least_one() {
        assert_eq!(MutexStore::new().shard_count(), DEFAULT_SHARDS);
        assert_eq!(MutexStore::with_shards(5).shard_count(), 5);
        assert_eq!(Sharded::<StdLock>::with_shards(0).shard_count(), 1);
    }

    /// Every shard gets some of a thousand keys: placement uses the hash's
    /// bits, not a constant. (A shard missing all of them by chance has a
    /// probability below 10^-12.)
    #[test]
    fn keys_spread_over_every_shard() {
        let store = MutexStore::with_shards(DEFAULT_SHARDS);
        let used: HashSet<usize> = (0..1000)
            .map(|i| store.place(&key(&format!("k{i}"))).1)
            .collect();
        assert_eq!(used.len(), DEFAULT_SHARDS);
    }

    /// The hash `place` returns is the one the shard's table computes, so a
    /// key found by that hash is found again after the table grows (and
    /// rehashes with its own hasher).
    #[test]
    fn a_keys_placement_hash_is_its_tables_hash() {
        let store = MutexStore::new();
        for i in 0..100 {
            let key = key(&format!("k{i}"));
            assert_eq!(store.place(&key).0, store.hasher.hash_one(key));
        }
    }
}
