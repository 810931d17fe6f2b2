//! Waking an idle pipe writer without a system call on the worker's path.
//!
//! A client's pipe writer sleeps when its rings are empty. The workers that
//! push to those rings must wake it, but a wake-up is a system call (futex)
//! and most pushes find the writer already awake. A [`Doorbell`] makes the
//! common case one fence and one load on the worker's side; only a worker
//! that finds the writer actually asleep takes the lock and signals.
//!
//! # Protocol
//!
//! The state is `AWAKE`, `PARKED` (the writer announced it may sleep) or
//! `NOTIFIED` (a ringer claimed the wake-up).
//!
//! Writer, when a round found nothing to do ([`Doorbell::park_unless`]
//! takes these steps):
//!
//! 1. `prepare_park`: store `PARKED`, then `fence(SeqCst)`;
//! 2. re-check for work (load each ring's `tail`);
//! 3. work found: `cancel_park` (store `AWAKE`) and go on; otherwise `park`:
//!    under the mutex, wait on the condition variable while the state is
//!    still `PARKED`, then store `AWAKE`.
//!
//! Worker, after pushing a commit's messages (one ring per commit, not per
//! message):
//!
//! 1. `ring`: `fence(SeqCst)`, then load the state;
//! 2. if `PARKED`: take the mutex and, if the state is still `PARKED`, set
//!    it to `NOTIFIED` and signal (so one park costs at most one signal).
//!
//! # Why no wake-up is lost
//!
//! This is Dekker's pattern. The writer does *store state; fence; load
//! tail*, the worker *store tail; fence; load state*. Both fences are
//! SeqCst, so they are totally ordered. If the worker's fence comes first,
//! the writer's re-check (after its own fence) sees the new `tail` and does
//! not sleep. If the writer's fence comes first, the worker's load sees
//! `PARKED` or a later state: `PARKED` means the worker signals; `NOTIFIED`
//! means another worker signals; `AWAKE` can only be the writer's own store
//! after it woke, and its next `prepare_park` fence then comes after the
//! worker's fence, so that round's re-check sees the push.
//!
//! The signal itself cannot be missed: the writer tests the state and
//! starts waiting while holding the mutex, and the worker sets `NOTIFIED`
//! and signals while holding it too, so the writer either sees `NOTIFIED`
//! or is already waiting when the signal comes. A ringer's `NOTIFIED` may
//! overwrite the writer's own `AWAKE` or a later `PARKED`; that only causes
//! a spurious return from `park`, after which the writer re-checks. Only the
//! writer ever stores `PARKED`, so no ringer can put it to sleep.
//!
//! (An earlier version claimed the wake-up with a lock-free
//! `compare_exchange(PARKED, NOTIFIED)` before taking the mutex. loom 0.7
//! reported a deadlock for it whose trace we could not match to any
//! execution the C++ memory model allows: the writer, after re-acquiring
//! the mutex the ringer released after its exchange, still read `PARKED`,
//! which write-read coherence forbids. We did not pin down the cause inside
//! loom; doing the exchange under the mutex costs nothing extra, since the
//! slow path takes the mutex anyway, and loom accepts it.)
//!
//! # What a doorbell does not cover
//!
//! A message drained but held back by a watermark (an earlier commit still in
//! flight on another worker) is not "new work" in this sense: no push will
//! follow it to ring the bell. The writer then waits with
//! [`Doorbell::park_timeout`] (or spins briefly), since the wait lasts at
//! most one commit of the slow worker.

use crate::sync::{self, fence, AtomicUsize, Condvar, Mutex, Ordering};
use std::time::Duration;

/// The writer is running, or has not announced a sleep.
const AWAKE: usize = 0;
/// The writer announced it may sleep and is re-checking or sleeping.
const PARKED: usize = 1;
/// A ringer claimed the wake-up of a parked writer.
const NOTIFIED: usize = 2;

/// Lets one waiter sleep until any number of ringers have new work for it.
#[derive(Debug)]
pub struct Doorbell {
    state: AtomicUsize,
    lock: Mutex<()>,
    bell: Condvar,
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    /// A doorbell with the waiter awake.
    pub fn new() -> Self {
        Doorbell {
            state: AtomicUsize::new(AWAKE),
            lock: Mutex::new(()),
            bell: Condvar::new(),
        }
    }

    /// Ringer: call after publishing work (after the pushes). No system call
    /// unless the waiter is parked.
    pub fn ring(&self) {
        // SeqCst fence pairs with the one in `prepare_park` (Dekker): either
        // the waiter's re-check sees our push, or we see its PARKED.
        fence(Ordering::SeqCst);
        // Relaxed: the fence above does the ordering; the value only picks
        // the slow path.
        if self.state.load(Ordering::Relaxed) == PARKED {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let _guard = sync::lock(&self.lock);
        // Relaxed: the mutex orders this with the waiter's load in `park`;
        // re-checked under it so that only one ringer signals per park.
        if self.state.load(Ordering::Relaxed) == PARKED {
            // Relaxed: as above, the mutex publishes it to the waiter.
            self.state.store(NOTIFIED, Ordering::Relaxed);
            self.bell.notify_one();
        }
    }

    /// Waiter, step 1: announce a possible sleep. The caller must then
    /// re-check for work and call [`park`](Self::park) or
    /// [`cancel_park`](Self::cancel_park).
    pub fn prepare_park(&self) {
        // Relaxed: the fence that follows orders it before the re-check.
        self.state.store(PARKED, Ordering::Relaxed);
        // SeqCst fence pairs with the one in `ring` (Dekker): either the
        // ringer sees PARKED, or our re-check sees its push.
        fence(Ordering::SeqCst);
    }

    /// Waiter: the re-check found work; stay awake.
    pub fn cancel_park(&self) {
        // Relaxed: a ringer that still sees PARKED only signals once more;
        // that wake-up is spurious and harmless.
        self.state.store(AWAKE, Ordering::Relaxed);
    }

    /// Waiter: sleep until a ringer rings (returns at once if one already
    /// did since `prepare_park`).
    pub fn park(&self) {
        let mut guard = sync::lock(&self.lock);
        // Relaxed: ringers store NOTIFIED under the same mutex, which
        // orders their store with this load.
        while self.state.load(Ordering::Relaxed) == PARKED {
            guard = sync::wait(&self.bell, guard);
        }
        drop(guard);
        self.cancel_park();
    }

    /// Waiter: like [`park`](Self::park), but gives up after `timeout`.
    /// Returns whether it was rung. (Under loom the timeout is not modeled:
    /// this waits for a ring.)
    pub fn park_timeout(&self, timeout: Duration) -> bool {
        let guard = sync::lock(&self.lock);
        // Relaxed: as in `park`.
        let rung = if self.state.load(Ordering::Relaxed) == PARKED {
            let guard = sync::wait_timeout(&self.bell, guard, timeout);
            // Relaxed: as in `park`.
            let rung = self.state.load(Ordering::Relaxed) != PARKED;
            drop(guard);
            rung
        } else {
            true
        };
        self.cancel_park();
        rung
    }

    /// Waiter, the whole sleep: announces it, re-checks with `work_ready`
    /// (which must load what the ringers publish before they ring), and
    /// parks for at most `timeout` unless work was found. Returns whether
    /// it slept and was rung.
    pub fn park_unless(&self, work_ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
        self.prepare_park();
        if work_ready() {
            self.cancel_park();
            return false;
        }
        self.park_timeout(timeout)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::ring;
    use std::sync::Arc;

    #[test]
    fn ring_without_a_sleeper_does_nothing() {
        let bell = Doorbell::new();
        bell.ring();
        bell.prepare_park();
        bell.cancel_park();
        bell.ring();
        bell.prepare_park();
        assert!(!bell.park_timeout(Duration::from_millis(1)));
    }

    #[test]
    fn a_ring_before_park_is_not_lost() {
        let bell = Doorbell::new();
        bell.prepare_park();
        bell.ring();
        // Returns at once: the ring came between prepare and park.
        bell.park();
        bell.prepare_park();
        bell.ring();
        assert!(bell.park_timeout(Duration::from_secs(60)));
    }

    /// A writer that sleeps whenever its ring is empty still receives every
    /// value of a producer that rings after each push.
    #[test]
    fn a_sleeping_consumer_gets_every_value() {
        const COUNT: u32 = 20_000;
        let bell = Arc::new(Doorbell::new());
        let (mut tx, mut rx) = ring::channel(16);
        let ringer = bell.clone();
        let producer = std::thread::spawn(move || {
            for value in 0..COUNT {
                let mut value = value;
                while let Err(ring::PushError::Full(back)) = tx.push(value) {
                    value = back;
                    std::thread::yield_now();
                }
                ringer.ring();
            }
        });
        let mut expected = 0;
        while expected < COUNT {
            match rx.pop() {
                Some(value) => {
                    assert_eq!(value, expected);
                    expected += 1;
                }
                None => {
                    bell.prepare_park();
                    if rx.is_empty() {
                        bell.park();
                    } else {
                        bell.cancel_park();
                    }
                }
            }
        }
        producer.join().unwrap();
    }
}
