//! The global logical clock that orders commits.
//!
//! Invariants:
//! * The clock only grows: every change is a `fetch_add` (a tick) or a
//!   `fetch_max`. So a tick's result `t` is larger than every value the clock
//!   held before it, and a load that returns at least `t` read that tick or a
//!   later change — all of which are read-modify-writes, so they continue the
//!   tick's release sequence.
//! * A writer ticks only after installing all of its pending versions, with
//!   Release. A reader loads the clock with Acquire. So a reader whose
//!   snapshot `S` is at least a writer's tick sees every version the writer
//!   installed (the heart of snapshot consistency, `paper.md` §4).

use crate::store::Timestamp;
use crate::sync::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// The commit clock. Snapshots read it; commits tick and advance it.
#[derive(Debug)]
pub(crate) struct Clock {
    now: CachePadded<AtomicU64>,
}

impl Clock {
    /// A clock at 0: no commit is visible at 0.
    pub(crate) fn new() -> Self {
        Self {
            now: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The current time: a snapshot at it sees every commit that finished.
    #[inline]
    pub(crate) fn now(&self) -> Timestamp {
        // Acquire: pairs with the Release of `tick` (and of the later RMWs in
        // its release sequence): a snapshot at or past a writer's tick sees
        // that writer's pending versions.
        self.now.load(Ordering::Acquire)
    }

    /// Takes a fresh timestamp, larger than any the clock held before.
    #[inline]
    pub(crate) fn tick(&self) -> Timestamp {
        // AcqRel: Release publishes the caller's installed versions to every
        // `now` that reads this tick or later; Acquire orders this tick after
        // the ticks of writers whose commits the caller has seen.
        self.now.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Makes sure the clock reads at least `ts` from now on.
    #[inline]
    pub(crate) fn advance_to(&self, ts: Timestamp) {
        // Release: continues the release sequence of our tick for readers
        // that read this value (the value itself is what matters here).
        self.now.fetch_max(ts, Ordering::Release);
    }
}
