//! The workers' side of notifications.
//!
//! In server mode every job worker owns a [`WorkerPort`]: its watermark gate
//! and the producer end of its ring to every session slot. A write or delete
//! runs inside the gate (see [`super::merge`]): the worker publishes a lower
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
//!
//! # Subscribing while the key is being written or deleted
//!
//! A subscribe answers whether the key exists, and the subscription must
//! then receive exactly the commits to the key that come after that answer,
//! in commit order, ending with the `DELETED` of the delete that ends it.
//! Checking the key and then adding the subscription are two steps, and a
//! commit's fan-out (commit, then look up the subscribers, then, for a
//! delete, end the key's subscriptions) is several more; interleaved, a
//! subscription could miss the delete that followed its check, be ended by
//! a delete it never heard of, or hear a write that came after its delete.
//!
//! So each commit holds the [`KeyLocks`](super::key_locks::KeyLocks)
//! stripes of its keys around its whole fan-out (shared for a write,
//! exclusively for a delete), and a subscribe or unsubscribe
//! ([`Hub::subscribe`], [`Hub::unsubscribe`]) holds its key's stripe
//! exclusively around its check and its change of the table. **Linearization point of a subscribe:
//! the store read that finds the key present, made while the session holds
//! the key's stripe exclusively.** Every commit to the key then lies wholly
//! before it (the read sees it; its subscriber lookup ran before the
//! subscription existed) or wholly after it (it takes its timestamp after
//! the read, so the read did not see it, and its lookup finds the
//! subscription, which the stripe's release published). The merge delivers
//! the later ones in commit order; a delete holds the stripe exclusively
//! until it has pushed `DELETED` and ended the subscription, so no write to
//! the key can push between the two, and `DELETED` is the last notification.
//! (Modelled in `loom_tests/subscribe_vs_delete.rs`.)

use super::key_locks::{Mode, Stripes};
use super::merge::{StoreClock, WorkerGate};
use super::Hub;
use crate::ring::Producer;
use crate::store::{Commit, Deletion, KeySet, Timestamp, WriteSet};
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

/// What a notification ring carries: the commit timestamp and the note.
pub type StampedNote = (Timestamp, Note);

/// One worker's gate and rings.
#[derive(Debug)]
pub struct WorkerPort {
    hub: Arc<Hub>,
    /// The store's clock, which the gate reads before each commit.
    clock: StoreClock,
    gate: WorkerGate,
    /// The producer end of this worker's ring to each slot, by slot index.
    rings: Vec<Producer<StampedNote>>,
    /// Slots pushed to during the current commit, to wake afterwards.
    touched: Vec<usize>,
    /// The key-lock stripes of the current commit.
    stripes: Stripes,
}

#[cfg(all(test, not(feature = "loom")))]
impl WorkerPort {
    /// Tests: holds this worker's watermark as a commit in progress does,
    /// until the guard drops, so later commits' notes wait in the merge.
    pub(super) fn hold_commit_open(&mut self) -> super::merge::CommitGuard<'_> {
        self.gate.begin(&self.clock)
    }
}

impl WorkerPort {
    /// A port for one worker (see [`super::build`]).
    pub(super) fn new(
        hub: Arc<Hub>,
        clock: StoreClock,
        gate: WorkerGate,
        rings: Vec<Producer<StampedNote>>,
    ) -> Self {
        Self {
            hub,
            clock,
            gate,
            rings,
            touched: Vec::new(),
            stripes: Stripes::new(),
        }
    }

    /// Runs one commit and its pushes holding the key locks of `keys` in
    /// `mode` and inside the worker's watermark gate (see [`super::merge`]);
    /// ends the subscriptions the commit asks to end before releasing the
    /// locks; then wakes the pipe writers it pushed to.
    fn gated<'k, R>(
        &mut self,
        keys: impl IntoIterator<Item = &'k Key>,
        mode: Mode,
        commit: impl FnOnce(&mut Pusher<'_>) -> R,
    ) -> R {
        let Self {
            hub,
            clock,
            gate,
            rings,
            touched,
            stripes,
        } = self;
        hub.locks.stripes_of(keys, stripes);
        let held = hub.locks.hold(stripes, mode);
        let guard = gate.begin(clock);
        let mut pusher = Pusher {
            hub,
            rings,
            touched,
            end_when_done: Vec::new(),
        };
        let result = commit(&mut pusher);
        guard.end();
        for key in &pusher.end_when_done {
            hub.subscriptions.end_key(key);
        }
        drop(held);
        self.wake_touched();
        result
    }

    fn wake_touched(&mut self) {
        for slot in self.touched.drain(..) {
            self.hub.slots[slot].wake_writer();
        }
    }
}

/// A worker's commits in server mode: each commit also reaches the
/// subscribers of the keys it changed, in commit order (module doc).
impl Commit for WorkerPort {
    /// Commits `batch` and notifies the subscribers of its keys.
    fn write(&mut self, batch: &WriteSet) -> Timestamp {
        let keys = batch.pairs().iter().map(|(key, _)| key);
        self.gated(keys, Mode::Concurrent, |pusher| {
            let ts = pusher.hub.store.write(batch);
            for (key, value) in batch.pairs() {
                pusher.push(ts, key, Some(*value));
            }
            ts
        })
    }

    /// Deletes `keys`, notifies the subscribers of those that were present,
    /// and ends their subscriptions, all before a later commit of those keys
    /// can look their subscribers up (module doc).
    fn delete(&mut self, keys: &KeySet) -> Deletion {
        self.gated(keys.keys(), Mode::Exclusive, |pusher| {
            let deletion = pusher.hub.store.delete(keys);
            if let Some(ts) = deletion.ts {
                for key in removed_keys(keys, &deletion) {
                    pusher.push(ts, key, None);
                }
            }
            pusher.end_when_done = removed_keys(keys, &deletion).copied().collect();
            deletion
        })
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
    hub: &'a Hub,
    rings: &'a mut [Producer<StampedNote>],
    touched: &'a mut Vec<usize>,
    /// Keys whose subscriptions end with this commit (a delete).
    end_when_done: Vec<Key>,
}

impl Pusher<'_> {
    /// Pushes `(ts, key, value)` to every subscriber of `key`; a subscriber
    /// whose ring is full has its session ended (module doc).
    fn push(&mut self, ts: Timestamp, key: &Key, value: Option<Value>) {
        let Self {
            hub,
            rings,
            touched,
            ..
        } = self;
        hub.subscriptions.for_each_subscriber(key, |subscriber| {
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
                hub.slots[subscriber.slot].end(subscriber.generation);
            }
            if !touched.contains(&subscriber.slot) {
                touched.push(subscriber.slot);
            }
        });
    }
}
