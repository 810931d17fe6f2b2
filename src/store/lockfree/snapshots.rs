//! The registry of live snapshot timestamps, and the pruning horizon.
//!
//! A registered snapshot at `S` must keep, for every key, the newest version
//! visible at `S`. Pruners compute a *horizon* `H` and keep, for every key,
//! the newest version visible at `H`; that is safe when `H <= S` for every
//! registered `S`. The race is the classic one: a snapshot that has read the
//! clock but is not yet in the registry is invisible to a pruner.
//!
//! The registry is a fixed row of *seats*, one atomic word each: a live
//! snapshot occupies one seat with its lower bound. ("Seat" is used here
//! alone; a *slot* is a server session's, a *cell* a ring's.)
//!
//! The protocol, with one SeqCst fence on each side:
//!
//! ```text
//!   register                          horizon
//!   active += 1; seat = S1 (<= S)     h = clock.now()
//!   fence(SeqCst)   ── F1             fence(SeqCst)   ── F2
//!   S = clock.now()                   read active, high, seats
//! ```
//!
//! The fences are totally ordered. If F1 comes first, the pruner's reads see
//! the seat (or its later release), so `H <= S1 <= S`. If F2 comes first,
//! the snapshot's clock load cannot read an older value than the pruner's
//! (C++20 [atomics.order]/4.4), so `H <= h <= S`. Either way `H <= S`.
//!
//! Invariants:
//! * A seat holds `FREE` or the lower bound `S1` of one live snapshot.
//! * `active` counts registered snapshots (plus ones mid-registration); when
//!   it reads 0 after F2, no snapshot registered before F2 is live.
//! * Every seat ever claimed lies below `high`, which only grows.
//!
//! Ending a snapshot frees its seat, then fences (F3, SeqCst) and reports
//! whether it was the oldest; the engine then sweeps tombstones the registry
//! held back (`prune.rs` argues that none is stranded).

use crate::store::Timestamp;
use crate::sync::{fence, AtomicU64, AtomicUsize, Ordering, SpinWait};
use crossbeam_utils::CachePadded;

use super::clock::Clock;

/// A seat that holds no snapshot.
const FREE: Timestamp = Timestamp::MAX;

/// How many snapshots may be registered at once. The server holds at most
/// `max_backups` backups plus one `SHOW` per worker; past this, `register`
/// spins until a seat frees (documented, and far above any sane setting).
pub(crate) const SEATS: usize = 128;

/// Live snapshot timestamps, one cache-padded seat each.
pub(crate) struct Registry {
    seats: Box<[CachePadded<AtomicU64>]>,
    active: CachePadded<AtomicUsize>,
    high: CachePadded<AtomicUsize>,
}

impl Registry {
    /// An empty registry with `capacity` seats (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            seats: (0..capacity.max(1))
                .map(|_| CachePadded::new(AtomicU64::new(FREE)))
                .collect(),
            active: CachePadded::new(AtomicUsize::new(0)),
            high: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Registers a snapshot and returns `(seat, S)`: no pruner will remove a
    /// version visible at `S` until [`deregister`](Self::deregister)`(seat)`.
    pub(crate) fn register(&self, clock: &Clock) -> (usize, Timestamp) {
        // Relaxed: published to pruners by the SeqCst fence below.
        self.active.fetch_add(1, Ordering::Relaxed);
        let lower = clock.now();
        let seat = self.claim(lower);
        // Relaxed: published to pruners by the SeqCst fence below.
        self.high.fetch_max(seat + 1, Ordering::Relaxed);
        // F1: pairs with F2 in `horizon` (module docs).
        fence(Ordering::SeqCst);
        (seat, clock.now())
    }

    /// Claims a free seat, holding `lower` in it.
    fn claim(&self, lower: Timestamp) -> usize {
        let wait = SpinWait::new();
        loop {
            for (index, seat) in self.seats.iter().enumerate() {
                // Relaxed: the value is published by the fence in `register`;
                // the CAS only arbitrates ownership of the seat.
                if seat
                    .compare_exchange(FREE, lower, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return index;
                }
            }
            // Every seat is taken: wait for a snapshot to end.
            wait.wait();
        }
    }

    /// Ends the snapshot registered in `seat`; returns whether no snapshot
    /// older than it is still registered, so the horizon may have moved and
    /// tombstones it held back may now be retired.
    ///
    /// Ends with a SeqCst fence (F3) after freeing the seat: two snapshots
    /// ending at once cannot both see the other still registered (each
    /// fence orders one free before the other's reads), and a delete that
    /// counted a held-back tombstone before its own horizon's F2 is either
    /// seen by the caller's later read of that count or itself sees this
    /// seat free.
    pub(crate) fn deregister(&self, seat: usize) -> bool {
        let Some(cell) = self.seats.get(seat) else {
            return false;
        };
        // Relaxed: we own the seat; only we wrote it, when claiming it.
        let mine = cell.load(Ordering::Relaxed);
        // Release: the snapshot's reads of the versions it protected
        // happen before a pruner that sees the seat free frees them.
        cell.store(FREE, Ordering::Release);
        // Release: as above, for pruners that read the count with Acquire.
        self.active.fetch_sub(1, Ordering::Release);
        // F3: pairs with F3 of another ending snapshot, and with F2 of a
        // delete's horizon (see above).
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fences; the high mark only grows.
        let high = self.high.load(Ordering::Relaxed).min(self.seats.len());
        self.seats[..high]
            .iter()
            // Relaxed: ordered by F3. The answer only decides whether to
            // sweep: if a registrant racing us holds an older timestamp, it
            // is the one whose end triggers the sweep.
            .all(|other| other.load(Ordering::Relaxed) >= mine)
    }

    /// The pruning horizon: at most the timestamp of every registered
    /// snapshot, and at most the clock now.
    pub(crate) fn horizon(&self, clock: &Clock) -> Timestamp {
        let now = clock.now();
        // F2: pairs with F1 in `register` (module docs).
        fence(Ordering::SeqCst);
        // Acquire: the fences order registration; Acquire also pairs with
        // the Release of `deregister`, so the last snapshot's reads are over.
        if self.active.load(Ordering::Acquire) == 0 {
            return now;
        }
        // Relaxed: ordered by the fences.
        let high = self.high.load(Ordering::Relaxed).min(self.seats.len());
        self.seats[..high]
            .iter()
            // Acquire: pairs with the Release in `deregister`: a seat seen free
            // means that snapshot's reads are over.
            .map(|seat| seat.load(Ordering::Acquire))
            .fold(now, Timestamp::min)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn horizon_is_the_clock_without_snapshots_and_the_oldest_with() {
        let clock = Clock::new();
        let registry = Registry::with_capacity(4);
        clock.tick();
        clock.tick();
        assert_eq!(registry.horizon(&clock), 2);
        let (a, sa) = registry.register(&clock);
        assert_eq!(sa, 2);
        clock.tick();
        let (b, _) = registry.register(&clock);
        clock.tick();
        assert_eq!(registry.horizon(&clock), 2);
        assert!(registry.deregister(a), "a was the oldest");
        assert_eq!(registry.horizon(&clock), 3);
        let (c, _) = registry.register(&clock);
        assert!(!registry.deregister(c), "b is older than c");
        assert!(registry.deregister(b));
        assert_eq!(registry.horizon(&clock), 4);
    }
}
