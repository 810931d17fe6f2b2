//! The workers' side of notifications.
//!
//! In server mode every job worker owns a [`WorkerPort`]: its watermark gate
//! and the producer end of its ring to every session slot. A write or delete
//! runs inside the gate (see [`super::order`]): the worker publishes a lower
//! bound of its commit timestamp, commits, pushes `(ts, note)` to the ring of
//! every subscriber of every key it changed, and goes idle. Pushing never
//! blocks and never makes a system call; the only system call is the wake-up
//! of a pipe writer that is asleep.
//!
//! A push that finds a ring full means that client has stopped reading. The
//! note is not skipped (that would be a silent gap): the client's session is
//! ended, before the gate closes, so that its pipe writer, which checks for
//! the end after every drain, never emits anything committed after the
//! missing note.

use super::order::{CommitClock, WorkerGate};
use super::slots::Slot;
use super::subscriptions::Subscriptions;
use crate::ring::Producer;
use crate::store::{Deletion, KeySet, Store, Timestamp, WriteSet};
use crate::token::{Key, Value};
use std::sync::Arc;

/// One notification, tagged with the session it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// The generation of the subscription's session (see [`super::slots`]).
    pub generation: u64,
    /// The key written or deleted.
    pub key: Key,
    /// The new value; `None` when the key was deleted.
    pub value: Option<Value>,
}

/// A notification ring entry: the commit timestamp and the note.
pub type Entry = (Timestamp, Note);

/// The commit clock of a store, owned, as a client's merger reads it.
#[derive(Clone)]
pub struct StoreClock(pub Arc<dyn Store>);

impl CommitClock for StoreClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

impl CommitClock for dyn Store {
    fn now(&self) -> Timestamp {
        Store::now(self)
    }
}

/// What the workers share: the store, the subscriptions and the slots.
pub struct Fanout {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Who is subscribed to what.
    pub subscriptions: Arc<Subscriptions>,
    /// The session slots.
    pub slots: Arc<[Slot]>,
}

/// One worker's gate and rings.
pub struct WorkerPort {
    fanout: Arc<Fanout>,
    gate: WorkerGate,
    /// The producer end of this worker's ring to each slot, by slot index.
    rings: Vec<Producer<Entry>>,
    /// Slots pushed to during the current commit, to wake afterwards.
    touched: Vec<usize>,
}

impl WorkerPort {
    /// A port for one worker.
    pub fn new(fanout: Arc<Fanout>, gate: WorkerGate, rings: Vec<Producer<Entry>>) -> Self {
        Self {
            fanout,
            gate,
            rings,
            touched: Vec::new(),
        }
    }

    /// Commits `batch` and notifies the subscribers of its keys.
    pub fn write(&mut self, batch: &WriteSet) -> Timestamp {
        self.gated(|pusher| {
            let ts = pusher.fanout.store.write(batch);
            for (key, value) in batch.pairs() {
                pusher.push(ts, key, Some(*value));
            }
            ts
        })
    }

    /// Deletes `keys`, notifies the subscribers of those that were present,
    /// and ends their subscriptions.
    pub fn delete(&mut self, keys: &KeySet) -> Deletion {
        let deletion = self.gated(|pusher| {
            let deletion = pusher.fanout.store.delete(keys);
            if let Some(ts) = deletion.ts {
                for key in removed_keys(keys, &deletion) {
                    pusher.push(ts, key, None);
                }
            }
            deletion
        });
        for key in removed_keys(keys, &deletion) {
            self.fanout.subscriptions.end_key(key);
        }
        deletion
    }

    /// Runs one commit and its pushes inside the worker's watermark gate
    /// (see [`super::order`]), then wakes the pipe writers it pushed to.
    fn gated<R>(&mut self, commit: impl FnOnce(&mut Pusher<'_>) -> R) -> R {
        let Self {
            fanout,
            gate,
            rings,
            touched,
        } = self;
        let guard = gate.begin(&*fanout.store);
        let result = commit(&mut Pusher {
            fanout,
            rings,
            touched,
        });
        guard.end();
        self.wake_touched();
        result
    }

    fn wake_touched(&mut self) {
        for slot in self.touched.drain(..) {
            self.fanout.slots[slot].wake_writer();
        }
    }
}

/// The keys of `keys` that the deletion removed.
fn removed_keys<'a>(keys: &'a KeySet, deletion: &'a Deletion) -> impl Iterator<Item = &'a Key> {
    keys.keys()
        .iter()
        .zip(&deletion.removed)
        .filter_map(|(key, removed)| removed.then_some(key))
}

/// A commit's access to the subscribers' rings.
struct Pusher<'a> {
    fanout: &'a Fanout,
    rings: &'a mut [Producer<Entry>],
    touched: &'a mut Vec<usize>,
}

impl Pusher<'_> {
    /// Pushes `(ts, key, value)` to every subscriber of `key`; a subscriber
    /// whose ring is full has its session ended (module doc).
    fn push(&mut self, ts: Timestamp, key: &Key, value: Option<Value>) {
        let Self {
            fanout,
            rings,
            touched,
        } = self;
        fanout.subscriptions.for_each_subscriber(key, |subscriber| {
            let note = Note {
                generation: subscriber.generation,
                key: *key,
                value,
            };
            let Some(ring) = rings.get_mut(subscriber.slot) else {
                return;
            };
            if ring.push((ts, note)).is_err() {
                // The client is not reading: end its session rather than
                // leave a gap (module doc).
                fanout.slots[subscriber.slot].end(subscriber.generation);
            }
            if !touched.contains(&subscriber.slot) {
                touched.push(subscriber.slot);
            }
        });
    }
}
