//! Who is subscribed to which key.
//!
//! Workers look a key up after every commit, so lookups must be cheap and
//! never wait: the table is a `flurry` map from key to an immutable list of
//! subscribers, read under a `flurry` guard without locks. Changes
//! (subscribe, unsubscribe, a `DELETE` ending a key's subscriptions, a session
//! ending) are rare; they are serialized by one mutex and replace a key's
//! list as a whole (copy on write), so a reader sees either the old list or
//! the new one.
//!
//! Each slot holds at most `max_per_slot` subscriptions (`--max-subscriptions`),
//! so one client cannot grow the table without bound.
//!
//! A subscriber is a session slot and the slot's generation at subscribe
//! time. The generation is what keeps a notification meant for an old
//! session from reaching the next client in the same slot (see
//! [`super::slots`]).

use crate::sync::{self, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::token::Key;
use std::collections::BTreeSet;
use std::sync::Arc;

/// One session's subscription: which slot, and which session in that slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The session slot.
    pub slot: usize,
    /// The session's generation in that slot.
    pub generation: u64,
}

/// What [`Subscriptions::subscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription was made.
    Made,
    /// The slot was already subscribed to the key; nothing changed.
    Already,
    /// The slot holds its maximum of subscriptions; none was made.
    LimitReached,
}

/// The subscription table.
#[derive(Debug)]
pub struct Subscriptions {
    /// Hashed with the engines' fast key hasher: every commit looks each of
    /// its keys up here while anyone is subscribed.
    by_key: flurry::HashMap<Key, Arc<[Subscriber]>, ahash::RandomState>,
    /// The keys each slot is subscribed to; guards every change of `by_key`.
    by_slot: Mutex<Vec<BTreeSet<Key>>>,
    /// How many (key, slot) subscriptions exist, so that workers skip the
    /// lookup entirely while nobody is subscribed.
    count: AtomicUsize,
    /// The most subscriptions one slot may hold.
    max_per_slot: usize,
}

impl Subscriptions {
    /// An empty table for `slots` session slots, each holding at most
    /// `max_per_slot` subscriptions.
    pub fn new(slots: usize, max_per_slot: usize) -> Self {
        Self {
            by_key: flurry::HashMap::with_hasher(ahash::RandomState::new()),
            by_slot: Mutex::new(vec![BTreeSet::new(); slots]),
            count: AtomicUsize::new(0),
            max_per_slot,
        }
    }

    /// Calls `f` with the subscribers of `key`, without locking.
    pub fn for_each_subscriber(&self, key: &Key, mut f: impl FnMut(Subscriber)) {
        // Relaxed: a commit looks its keys' subscribers up holding their
        // key-lock stripes (`super::key_locks`), and a subscription is made
        // holding its key's stripe exclusively: the lock orders the two, so
        // a count of 0 here means no subscriber of this key yet.
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let guard = self.by_key.guard();
        if let Some(list) = self.by_key.get(key, &guard) {
            list.iter().copied().for_each(&mut f);
        }
    }

    /// Subscribes `subscriber` to `key`, unless it already is or its slot
    /// holds its maximum of subscriptions.
    pub fn subscribe(&self, key: Key, subscriber: Subscriber) -> Subscribed {
        let mut by_slot = self.lock();
        let keys = &mut by_slot[subscriber.slot];
        if keys.contains(&key) {
            return Subscribed::Already;
        }
        if keys.len() >= self.max_per_slot {
            return Subscribed::LimitReached;
        }
        keys.insert(key);
        let guard = self.by_key.guard();
        let mut list: Vec<Subscriber> = self
            .by_key
            .get(&key, &guard)
            .map(|list| list.to_vec())
            .unwrap_or_default();
        list.retain(|s| s.slot != subscriber.slot);
        list.push(subscriber);
        self.by_key.insert(key, list.into(), &guard);
        // Relaxed: the counter is a hint (see `for_each_subscriber`).
        self.count.fetch_add(1, Ordering::Relaxed);
        Subscribed::Made
    }

    /// Removes `slot`'s subscription to `key`; false if there was none.
    pub fn unsubscribe(&self, key: &Key, slot: usize) -> bool {
        let mut by_slot = self.lock();
        if !by_slot[slot].remove(key) {
            return false;
        }
        self.remove_from_key(key, |s| s.slot == slot);
        true
    }

    /// Ends every subscription to `key` (the key was deleted); returns how
    /// many there were.
    pub fn end_key(&self, key: &Key) -> usize {
        let mut by_slot = self.lock();
        let mut ended = 0;
        for keys in by_slot.iter_mut() {
            ended += usize::from(keys.remove(key));
        }
        if ended > 0 {
            self.remove_from_key(key, |_| true);
        }
        ended
    }

    /// Ends every subscription of `slot` (its session ended).
    pub fn end_slot(&self, slot: usize) {
        let mut by_slot = self.lock();
        let keys = std::mem::take(&mut by_slot[slot]);
        for key in &keys {
            self.remove_from_key(key, |s| s.slot == slot);
        }
    }

    /// Ends every subscription of every slot.
    pub fn clear(&self) {
        let slots = self.lock().len();
        (0..slots).for_each(|slot| self.end_slot(slot));
    }

    /// How many (key, slot) subscriptions exist.
    pub fn len(&self) -> usize {
        // Relaxed: a statistic.
        self.count.load(Ordering::Relaxed)
    }

    /// Whether nobody is subscribed to anything.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the subscribers of `key` that `gone` selects. Called with the
    /// `by_slot` lock held, which serializes every change of `by_key`.
    fn remove_from_key(&self, key: &Key, gone: impl Fn(&Subscriber) -> bool) {
        let guard = self.by_key.guard();
        let Some(list) = self.by_key.get(key, &guard) else {
            return;
        };
        let kept: Vec<Subscriber> = list.iter().copied().filter(|s| !gone(s)).collect();
        let removed = list.len() - kept.len();
        if kept.is_empty() {
            self.by_key.remove(key, &guard);
        } else {
            self.by_key.insert(*key, kept.into(), &guard);
        }
        // Relaxed: the counter is a hint (see `for_each_subscriber`).
        self.count.fetch_sub(removed, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<BTreeSet<Key>>> {
        // Every change below leaves both maps consistent before it can panic,
        // so a poisoned lock still guards sound data.
        sync::lock(&self.by_slot)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::Token;

    fn t(s: &str) -> Token {
        Token::try_from(s).unwrap()
    }

    fn subscribers(table: &Subscriptions, key: &str) -> Vec<Subscriber> {
        let mut found = Vec::new();
        table.for_each_subscriber(&t(key), |s| found.push(s));
        found
    }

    #[test]
    fn a_slot_holds_at_most_its_limit() {
        let table = Subscriptions::new(2, 2);
        let a = Subscriber {
            slot: 0,
            generation: 1,
        };
        assert_eq!(table.subscribe(t("x"), a), Subscribed::Made);
        assert_eq!(table.subscribe(t("y"), a), Subscribed::Made);
        assert_eq!(table.subscribe(t("z"), a), Subscribed::LimitReached);
        assert_eq!(table.subscribe(t("x"), a), Subscribed::Already);
        let other = Subscriber {
            slot: 1,
            generation: 1,
        };
        assert_eq!(table.subscribe(t("z"), other), Subscribed::Made);
        assert!(table.unsubscribe(&t("x"), 0));
        assert_eq!(table.subscribe(t("z"), a), Subscribed::Made);
        assert!(subscribers(&table, "x").is_empty());
    }

    #[test]
    fn subscribe_unsubscribe_and_end() {
        let table = Subscriptions::new(3, 10);
        let a = Subscriber {
            slot: 0,
            generation: 1,
        };
        let b = Subscriber {
            slot: 2,
            generation: 7,
        };
        table.subscribe(t("k"), a);
        table.subscribe(t("k"), b);
        table.subscribe(t("k"), a);
        table.subscribe(t("j"), a);
        assert_eq!(subscribers(&table, "k"), vec![a, b]);
        assert_eq!(table.len(), 3);
        assert!(table.unsubscribe(&t("k"), 0));
        assert!(!table.unsubscribe(&t("k"), 0));
        assert_eq!(subscribers(&table, "k"), vec![b]);
        assert_eq!(table.end_key(&t("k")), 1);
        assert!(subscribers(&table, "k").is_empty());
        assert!(!table.unsubscribe(&t("k"), 2));
        table.end_slot(0);
        assert!(subscribers(&table, "j").is_empty());
        assert!(table.is_empty());
    }
}
