//! The key index: each key to its [`Entry`], the head of its version chain.
//!
//! Normally a `flurry` concurrent hash map (whose own nodes `seize`
//! reclaims, separately from the version chains). flurry cannot run under
//! loom, so with `--features loom` a `Mutex<BTreeMap>` stands in behind the
//! same small interface. The models therefore trust the index to be a
//! linearizable map whose operations synchronize (an insert or removal
//! happens before any operation that observes it); flurry's own lock-free
//! internals are not model-checked here.
//!
//! Invariants:
//! * At most one entry per key is in the index at a time.
//! * An entry whose head is not the retirement marker is in the index: an
//!   entry is inserted before any version is linked into it, and removed only
//!   after its head was swapped to the marker, which is final.
//! * An entry's `floor` is at least the commit timestamp of every tombstone
//!   retired from an earlier entry of the same key; its own versions all
//!   commit later than `floor`.

use crate::store::Timestamp;
use crate::sync::{Arc, AtomicPtr};
use crate::token::Key;

use super::version::Version;

/// One key's place in the store.
pub(crate) struct Entry {
    /// The newest version; null for none yet; the marker once retired.
    pub(crate) head: AtomicPtr<Version>,
    /// A read at a snapshot below `floor` cannot trust this entry: earlier
    /// entries of the key may have held versions visible there.
    pub(crate) floor: Timestamp,
}

impl Entry {
    pub(crate) fn new(floor: Timestamp) -> Self {
        Self {
            head: AtomicPtr::new(std::ptr::null_mut()),
            floor,
        }
    }
}

#[cfg(not(feature = "loom"))]
mod imp {
    use super::*;

    /// Keeps the index's nodes alive while held.
    pub(crate) type Guard<'a> = flurry::Guard<'a>;
    /// A borrowed entry, valid while the guard lives.
    pub(crate) struct EntryRef<'g>(&'g Entry);

    impl std::ops::Deref for EntryRef<'_> {
        type Target = Entry;
        fn deref(&self) -> &Entry {
            self.0
        }
    }

    pub(crate) struct Index {
        map: flurry::HashMap<Key, Arc<Entry>>,
    }

    impl Index {
        pub(crate) fn new() -> Self {
            Self {
                map: flurry::HashMap::new(),
            }
        }

        pub(crate) fn guard(&self) -> Guard<'_> {
            self.map.guard()
        }

        pub(crate) fn get<'g>(&'g self, key: &Key, guard: &'g Guard<'_>) -> Option<EntryRef<'g>> {
            self.map.get(key, guard).map(|entry| EntryRef(entry))
        }

        /// The key's entry, inserting `make()` if there is none.
        pub(crate) fn get_or_insert<'g>(
            &'g self,
            key: &Key,
            make: impl FnOnce() -> Entry,
            guard: &'g Guard<'_>,
        ) -> EntryRef<'g> {
            if let Some(entry) = self.map.get(key, guard) {
                return EntryRef(entry);
            }
            match self.map.try_insert(*key, Arc::new(make()), guard) {
                Ok(entry) => EntryRef(entry),
                Err(taken) => EntryRef(taken.current),
            }
        }

        /// Removes the key's entry if it is still `entry`.
        pub(crate) fn remove_if(&self, key: &Key, entry: &Entry, guard: &Guard<'_>) {
            self.map.compute_if_present(
                key,
                |_, current| (!std::ptr::eq(&**current, entry)).then(|| Arc::clone(current)),
                guard,
            );
        }

        /// Calls `f` on every entry present throughout the iteration (and
        /// perhaps on entries inserted or removed meanwhile).
        pub(crate) fn for_each(&self, guard: &Guard<'_>, mut f: impl FnMut(&Key, &Entry)) {
            for (key, entry) in self.map.iter(guard) {
                f(key, entry);
            }
        }

        /// How many entries the index holds (tests).
        #[cfg(test)]
        pub(crate) fn guard_len(&self) -> usize {
            self.map.len()
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    use super::*;
    use crate::sync::Mutex;
    use std::collections::BTreeMap;
    use std::marker::PhantomData;

    /// Nothing to hold: the stand-in hands out owned references.
    pub(crate) struct Guard<'a>(PhantomData<&'a ()>);

    /// An owned reference standing in for flurry's guarded borrow.
    pub(crate) struct EntryRef<'g>(Arc<Entry>, PhantomData<&'g ()>);

    impl std::ops::Deref for EntryRef<'_> {
        type Target = Entry;
        fn deref(&self) -> &Entry {
            &self.0
        }
    }

    pub(crate) struct Index {
        map: Mutex<BTreeMap<Key, Arc<Entry>>>,
    }

    impl Index {
        pub(crate) fn new() -> Self {
            Self {
                map: Mutex::new(BTreeMap::new()),
            }
        }

        fn locked(&self) -> crate::sync::MutexGuard<'_, BTreeMap<Key, Arc<Entry>>> {
            self.map
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        pub(crate) fn guard(&self) -> Guard<'_> {
            Guard(PhantomData)
        }

        pub(crate) fn get<'g>(&'g self, key: &Key, _guard: &'g Guard<'_>) -> Option<EntryRef<'g>> {
            let entry = self.locked().get(key).cloned();
            entry.map(|entry| EntryRef(entry, PhantomData))
        }

        pub(crate) fn get_or_insert<'g>(
            &'g self,
            key: &Key,
            make: impl FnOnce() -> Entry,
            _guard: &'g Guard<'_>,
        ) -> EntryRef<'g> {
            if let Some(entry) = self.locked().get(key).cloned() {
                return EntryRef(entry, PhantomData);
            }
            // `make` reads shared state; call it outside the lock, as flurry's
            // caller would, so the model explores the same windows.
            let fresh = Arc::new(make());
            let entry = Arc::clone(self.locked().entry(*key).or_insert(fresh));
            EntryRef(entry, PhantomData)
        }

        pub(crate) fn remove_if(&self, key: &Key, entry: &Entry, _guard: &Guard<'_>) {
            let mut map = self.locked();
            if map
                .get(key)
                .is_some_and(|current| std::ptr::eq(&**current, entry))
            {
                map.remove(key);
            }
        }

        pub(crate) fn for_each(&self, _guard: &Guard<'_>, mut f: impl FnMut(&Key, &Entry)) {
            let entries: Vec<(Key, Arc<Entry>)> = self
                .locked()
                .iter()
                .map(|(key, entry)| (*key, Arc::clone(entry)))
                .collect();
            for (key, entry) in entries {
                f(&key, &entry);
            }
        }
    }
}

pub(crate) use imp::{EntryRef, Guard, Index};
