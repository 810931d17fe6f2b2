//! Notifications: from a job worker's commit to a client's pipe, in commit
//! order, without the worker ever waiting for a client.
//!
//! ```text
//! job worker --Commit--> WorkerPort --commit--> Store
//!      |  push (ts, note) to each subscriber's ring, wait-free; ring the doorbell
//!      v
//! SPSC ring per (worker, slot) -> Merger per slot (commit order) -> pipe writer -> client's FIFO
//! ```
//!
//! Each piece keeps one invariant:
//!
//! * [`port`]: a worker's commit and its pushes run inside its watermark
//!   gate and hold the key locks of its keys, so a subscription hears
//!   exactly the commits to its key after it, `DELETED` last; a full ring
//!   ends the session before the gate closes, never leaving a silent gap.
//! * [`merge`]: a slot's merger emits a note only once no note with an
//!   earlier commit timestamp can still arrive (the watermark proof).
//! * [`doorbell`]: a worker's push never goes unnoticed by a pipe writer
//!   about to sleep, and costs a system call only when it really sleeps.
//! * [`slots`]: a note made for one session never reaches a later session
//!   of the same slot (generations), and an ended session stays ended.
//! * [`subscriptions`]: a lookup never waits and sees a key's subscriber
//!   list whole, old or new.
//! * [`key_locks`]: a key's subscribes and unsubscribes exclude its
//!   commits' fan-out. It lives here, beside the subscription table, because
//!   it is what makes a table change and a commit's lookup of the same key
//!   linearize; nothing outside notifications takes it.
//! * [`writer`]: a slot's pipe writer delivers the merged notes of the
//!   slot's current session only, keeping the rings drained while the
//!   client's pipe is full.
//!
//! [`build`] wires all of it for a server (or a benchmark): one [`Hub`],
//! one port per worker, one merger per slot.

pub mod doorbell;
pub mod key_locks;
pub mod merge;
pub mod port;
pub mod slots;
pub mod subscriptions;
pub mod writer;

use crate::store::{KeySet, Store};
use crate::token::Key;
use key_locks::KeyLocks;
use merge::{Merger, StoreClock, Watermarks};
pub use port::{Note, StampedNote, WorkerPort};
use slots::Slot;
use std::sync::Arc;
use subscriptions::{Subscribed, Subscriber, Subscriptions};

/// A slot's merger of the workers' rings, reading the store's clock.
pub type NoteMerger = Merger<Note, StoreClock>;

/// How many of each part the notification path is built with.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Session slots (clients served at once).
    pub sessions: usize,
    /// Job workers, each with its own port.
    pub workers: usize,
    /// Notes each (worker, slot) ring holds before the client counts as
    /// not reading.
    pub ring_capacity: usize,
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
}

/// The most memory the notification rings may reserve: a layout that asks
/// for more is refused at start-up with a message (see
/// [`Layout::check_ring_memory`]) rather than aborting on allocation.
pub const RING_MEMORY_BUDGET: u64 = 4 << 30;

impl Layout {
    /// Bytes the rings of this layout reserve: one ring per (worker, slot)
    /// of `ring_capacity` notes rounded up to a power of two (saturating).
    pub fn ring_bytes(&self) -> u64 {
        let cells = u64::try_from(self.ring_capacity)
            .ok()
            .and_then(u64::checked_next_power_of_two)
            .unwrap_or(u64::MAX);
        let note = std::mem::size_of::<StampedNote>() as u64;
        // As `build` counts them: at least one session and one worker.
        let count = |n: usize| u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        cells
            .saturating_mul(note)
            .saturating_mul(count(self.sessions))
            .saturating_mul(count(self.workers))
    }

    /// Refuses a layout whose rings would reserve more than
    /// [`RING_MEMORY_BUDGET`], naming the settings to lower.
    pub fn check_ring_memory(&self) -> Result<(), String> {
        let bytes = self.ring_bytes();
        if bytes <= RING_MEMORY_BUDGET {
            return Ok(());
        }
        Err(format!(
            "the notification rings would reserve {} MiB ({} sessions x {} workers x {} notes), \
             more than the {} MiB allowed: lower --ring-capacity, --max-sessions or MAX_THREADS",
            bytes / (1 << 20),
            self.sessions,
            self.workers,
            self.ring_capacity,
            RING_MEMORY_BUDGET >> 20
        ))
    }

    /// The most notes a slot's pipe writer holds in its merge queues, beyond
    /// what the rings hold, for a client whose pipe is full: four rings'
    /// worth per worker.
    pub fn held_limit(&self) -> usize {
        self.ring_capacity
            .saturating_mul(self.workers.max(1))
            .saturating_mul(4)
    }
}

/// What the workers' ports, the sessions and the pipe writers share: the
/// store, who is subscribed to what, the session slots, and the key locks
/// that make subscribes and commits of one key exclude each other.
#[derive(Debug)]
pub struct Hub {
    store: Arc<dyn Store>,
    subscriptions: Subscriptions,
    slots: Box<[Slot]>,
    locks: KeyLocks,
}

impl Hub {
    /// The store the workers commit to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Who is subscribed to what.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// The session slots.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Subscribes `subscriber` to `key` if the key exists ([`port`]'s
    /// module doc: the read is the subscription's linearization point).
    /// `None`: the key does not exist, and no subscription is made.
    pub fn subscribe(&self, key: Key, subscriber: Subscriber) -> Option<Subscribed> {
        let _excluding_commits = self.locks.hold_key(&key);
        let mut values = Vec::with_capacity(1);
        // The linearization point of the subscribe.
        self.store.read(&KeySet::from_keys([key]), &mut values);
        let exists = values.first().is_some_and(Option::is_some);
        exists.then(|| self.subscriptions.subscribe(key, subscriber))
    }

    /// Removes `slot`'s subscription to `key`; false if there was none. Its
    /// notifications are then exactly the commits to `key` between the
    /// subscribe and this call.
    pub fn unsubscribe(&self, key: &Key, slot: usize) -> bool {
        let _excluding_commits = self.locks.hold_key(key);
        self.subscriptions.unsubscribe(key, slot)
    }

    /// Ends every subscription and every session; the slots are free again
    /// at once.
    pub fn end_every_session(&self) {
        self.subscriptions.clear();
        for slot in self.slots.iter() {
            slot.end_current();
        }
    }

    /// Wakes every slot's pipe writer (to see a shutdown).
    pub fn wake_every_writer(&self) {
        for slot in self.slots.iter() {
            slot.wake_writer();
        }
    }
}

/// The notification path, built and not yet running.
#[derive(Debug)]
pub struct Wiring {
    /// What the ports, sessions and pipe writers share.
    pub hub: Arc<Hub>,
    /// One port per job worker.
    pub ports: Vec<WorkerPort>,
    /// One merger per slot, for its pipe writer.
    pub mergers: Vec<NoteMerger>,
}

/// Builds the hub over `store`, one ring per (worker, slot), the workers'
/// ports and the slots' mergers.
pub fn build(store: Arc<dyn Store>, layout: Layout) -> Wiring {
    let sessions = layout.sessions.max(1);
    let workers = layout.workers.max(1);
    let (marks, gates) = Watermarks::new(workers);
    let mut producers: Vec<Vec<_>> = (0..workers).map(|_| Vec::with_capacity(sessions)).collect();
    let mut consumers: Vec<Vec<_>> = (0..sessions).map(|_| Vec::with_capacity(workers)).collect();
    for worker_rings in &mut producers {
        for slot_rings in &mut consumers {
            let (producer, consumer) = crate::ring::channel::<StampedNote>(layout.ring_capacity);
            worker_rings.push(producer);
            slot_rings.push(consumer);
        }
    }
    let clock = StoreClock(Arc::clone(&store));
    let hub = Arc::new(Hub {
        store,
        subscriptions: Subscriptions::new(sessions, layout.max_subscriptions),
        slots: (0..sessions).map(|_| Slot::default()).collect(),
        locks: KeyLocks::default(),
    });
    let ports = gates
        .into_iter()
        .zip(producers)
        .map(|(gate, rings)| WorkerPort::new(Arc::clone(&hub), clock.clone(), gate, rings))
        .collect();
    let mergers = consumers
        .into_iter()
        .map(|rings| Merger::new(crate::sync::Arc::clone(&marks), clock.clone(), rings))
        .collect();
    Wiring {
        hub,
        ports,
        mergers,
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests;
