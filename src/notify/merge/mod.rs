//! Commit-order merge of the workers' notification rings, for one client.
//!
//! Every worker that commits a write of a subscribed key pushes
//! `(commit_ts, message)` onto its own SPSC ring to that client
//! ([`crate::ring`]). One ring per worker keeps pushes wait-free, but a client
//! must receive its notifications in commit order (SPEC §4), and two workers
//! can commit in one order and push in the other. The client's pipe writer
//! therefore merges the rings by timestamp, and emits a message only once no
//! earlier-committed message can still arrive. Per-worker *watermarks* tell
//! it when that is.
//!
//! # Protocol
//!
//! Commit timestamps come from one [`CommitClock`]. Worker `w` owns the
//! watermark `M[w]`, initially [`IDLE`]. For each commit it:
//!
//! 1. `begin`: reads `L = clock.now()` and stores `M[w] = L` (*Release*);
//! 2. commits, which takes a timestamp `ts > L` from the clock;
//! 3. pushes `(ts, message)` to the ring of each subscriber (*Release* on the
//!    ring's `tail`);
//! 4. `end`: stores `M[w] = IDLE` (*Release*).
//!
//! The pipe writer, in each round ([`Merger::collect_ready`]):
//!
//! a. reads `C = clock.now()` (*Acquire*);
//! b. reads every watermark (*Acquire*) and takes their minimum `W`;
//! c. drains every ring (*Acquire* on `tail`) onto the end of that ring's
//!    queue;
//! d. emits, smallest `(ts, ring)` first, every queued message with
//!    `ts <= min(C, W)`. The rest stay queued for a later round.
//!
//! **Each ring is sorted.** A ring has one producer, its worker, which
//! pushes a commit's messages before it begins the next commit; by K1 (the
//! next `begin` reads the clock after this commit took `ts`, and the next
//! timestamp is taken after that read) every later commit of the worker has
//! a larger timestamp. So a ring, and the queue it drains into, hold their
//! messages in `(ts, push order)` order, and the queues' fronts are the
//! candidates for the smallest message held: step (d) is a merge of sorted
//! runs, each message costing a comparison of the fronts, not a heap's
//! `log n` moves of the message.
//!
//! # What the clock must guarantee
//!
//! The two promises of [`Store::now`], which every engine keeps:
//!
//! * **(K1)** A timestamp taken after a call to `now()` returned `x`, by the
//!   same thread, is greater than `x`.
//! * **(K2)** If `now()` returns `x` and some commit took a timestamp
//!   `ts <= x`, then everything its worker did before taking `ts` happens
//!   before `now()` returns.
//!
//! A clock that takes timestamps with `fetch_add(1, AcqRel) + 1` (any
//! ordering that includes Release) and implements `now()` as an *Acquire*
//! load has both: K1 by coherence (the RMW comes after the load in the
//! clock's modification order, and the clock only grows), K2 because an
//! Acquire load that reads the RMW that took `ts`, or any later RMW (they all
//! continue its release sequence), synchronizes with it.
//!
//! # Theorem
//!
//! *If the writer emits a message `m` with timestamp `t`, every message for
//! this client with a timestamp `t' < t` has already been emitted or is
//! queued, ahead of `m`.* Hence messages leave in commit order; messages of
//! one commit (same `ts`, same ring) keep their push order, since they sit
//! in one queue in that order.
//!
//! *Proof.* Take `m'` with `t' < t`, committed by worker `w` as its `j`-th
//! commit. It suffices that `m'` was pushed before step (c) of the round that
//! emitted `m`, and that (c) saw it, i.e. that the push happens before the
//! writer's load of `w`'s ring `tail` in that round. Let `v` be the value the
//! writer read from `M[w]` in (b), written by worker `w`'s commit `k`:
//!
//! * `v = L_k`, the `begin` of commit `k`. Since `W <= L_k` and, by (d),
//!   `t <= W`, K1 gives `ts_k > L_k >= t > t'`; later commits of `w` have
//!   even larger timestamps (K1 again: each `begin` reads the clock after
//!   the previous commit took its timestamp). So `j < k`: `m'` was pushed
//!   before `w` stored `L_k` with Release, which the writer read with Acquire,
//!   so the push happens before (c).
//! * `v = IDLE`, the `end` of commit `k` (or the initial value, `k = 0`).
//!   Every commit `j <= k` pushed before that Release store, read by an
//!   Acquire load, so those pushes happen before (c). Suppose `j > k`; then
//!   commit `k + 1` exists and `ts_{k+1} <= ts_j = t' < t <= C`. By K2, the
//!   `begin` store of `L_{k+1}` happens before `now()` returned `C` in (a),
//!   and so before the load of `M[w]` in (b). By write-read coherence that
//!   load cannot then read `end_k`, which precedes `begin_{k+1}` in `M[w]`'s
//!   modification order. Contradiction: `j <= k`.
//!
//! In both cases `m'` reached its queue in this round or an earlier one,
//! and step (d) emits in `(ts, ring)` order, so `m'` leaves before `m`. ∎
//!
//! **Equal timestamps on different rings.** The theorem orders only
//! `t' < t`. Two commits on different workers may take the same timestamp
//! in the lock-free engine (a commit's timestamp is `max(tick, minimum)`,
//! `store/lockfree/write.rs`, and a minimum, one past its keys' last
//! versions, can equal another commit's tick); such commits share no key,
//! so they commute and either order is a commit order. Step (d) emits them
//! by ring index, deterministically.
//!
//! A worker that goes from idle to active between the writer's reads is
//! the `IDLE` case: either its new commit's timestamp exceeds `C` (so
//! nothing at or below `C` waits on it), or the writer's clock read already
//! synchronized with it and the watermark read cannot miss its `begin`.
//!
//! **Both bounds are needed.** Without the clock bound `t <= C`, a worker
//! seen idle in (b) could begin, commit `t'` and still be pushing while
//! another worker's later commit `t > t'`, pushed quickly, is drained and
//! emitted (the loom model `loom_tests/order.rs` finds exactly this).
//! Without the watermark bound `W`, a worker inside a commit with
//! `ts <= C` that has not pushed yet would be overtaken.
//!
//! **Emission bound `ts <= min(C, W)` rather than `ts < W`.** The proof
//! only needs `t <= L_k < ts_k`, so a message whose timestamp equals a
//! watermark may leave; this saves a round whenever a worker begins right
//! after a commit.
//!
//! **Nothing is lost.** Once every worker is idle and has pushed, a round's
//! `C` is at least every commit's timestamp and `W = IDLE`, so that round
//! emits every message.
//!
//! **No SeqCst is needed.** Every edge of the proof is a Release/Acquire pair
//! or coherence of a single location, which is also exactly what loom
//! models faithfully; so Release stores and Acquire loads of the watermarks
//! suffice, given K2 from the clock. If a store's clock could not promise
//! K2 (a Relaxed timestamp RMW), the fallback is a `fence(SeqCst)` between
//! `begin`'s store and taking the timestamp, and another between (a) and (b).
//!
//! # Liveness and memory
//!
//! A message waits in its queue only while some worker that may commit an
//! earlier timestamp is inside `begin..end`, that is for the length of one
//! commit and its pushes. The queues are not bounded by the rings' capacity:
//! a worker stalled inside a commit lets the others' messages pile up here.
//! Workers never block on it; a server that wants a hard bound stops
//! draining, the rings fill, and the client is disconnected as for a slow
//! reader.
//!
//! # Full rings
//!
//! A worker whose push finds the ring full must not skip the message: the
//! client would see a silent gap. The caller disconnects that client (drops
//! its `Merger`); the protocol above is unaffected because the worker still
//! ends its commit normally.

use crate::ring::Consumer;
use crate::store::{Store, Timestamp};
use crate::sync::{Arc, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::fmt;

/// The watermark of a worker that is not inside a commit.
pub const IDLE: Timestamp = Timestamp::MAX;

/// The commit clock, as the merge needs it. See the module docs for the two
/// guarantees (K1, K2) an implementation must give.
pub trait CommitClock {
    /// The latest timestamp taken so far (a lower bound of the next one).
    fn now(&self) -> Timestamp;
}

/// A clock whose timestamps are taken with `fetch_add(1, AcqRel) + 1` (or
/// any Release-or-stronger RMW that only increases it).
impl CommitClock for AtomicU64 {
    fn now(&self) -> Timestamp {
        // Acquire pairs with the Release half of the RMW that took each
        // timestamp (K2): a writer that sees `ts` sees that worker's `begin`.
        self.load(Ordering::Acquire)
    }
}

impl<C: CommitClock + ?Sized> CommitClock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: CommitClock + ?Sized> CommitClock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// A store's commit clock, owned, as the workers' gates and the slots'
/// mergers read it. The one adapter from [`Store::now`], which promises K1
/// and K2.
#[derive(Debug, Clone)]
pub struct StoreClock(pub std::sync::Arc<dyn Store>);

impl CommitClock for StoreClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// Adapts a closure to [`CommitClock`]; the closure must give K1 and K2.
#[derive(Debug, Clone, Copy)]
pub struct FnClock<F>(pub F);

impl<F: Fn() -> Timestamp> CommitClock for FnClock<F> {
    fn now(&self) -> Timestamp {
        (self.0)()
    }
}

/// One watermark per worker, each on its own cache line so a worker's
/// stores do not slow the others.
pub struct Watermarks {
    marks: Box<[CachePadded<AtomicU64>]>,
}

impl Watermarks {
    /// Creates watermarks for `workers` workers, all idle, and the one gate
    /// each worker publishes its watermark through.
    pub fn new(workers: usize) -> (Arc<Self>, Vec<WorkerGate>) {
        let marks = (0..workers)
            .map(|_| CachePadded::new(AtomicU64::new(IDLE)))
            .collect();
        let shared = Arc::new(Watermarks { marks });
        let gates = (0..workers)
            .map(|index| WorkerGate {
                marks: shared.clone(),
                index,
            })
            .collect();
        (shared, gates)
    }

    /// The smallest watermark: no worker can still commit a timestamp at or
    /// below it without having been seen here (step (b) of the protocol).
    pub fn min(&self) -> Timestamp {
        self.marks
            .iter()
            // Acquire pairs with the Release stores in `begin` and `end`:
            // every push the worker made before that store is visible to
            // the drain that follows.
            .map(|mark| mark.load(Ordering::Acquire))
            .min()
            .unwrap_or(IDLE)
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.marks.len()
    }
}

impl fmt::Debug for Watermarks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watermarks")
            .field("workers", &self.workers())
            .finish()
    }
}

/// A worker's handle on its own watermark. There is one per worker; it is
/// not `Clone`, so no two threads ever write the same watermark.
pub struct WorkerGate {
    marks: Arc<Watermarks>,
    index: usize,
}

impl WorkerGate {
    /// Announces a commit: call before the commit takes its timestamp, and
    /// keep the guard until its messages are pushed. Dropping the guard (or
    /// [`CommitGuard::end`]) marks the worker idle again.
    pub fn begin<C: CommitClock + ?Sized>(&mut self, clock: &C) -> CommitGuard<'_> {
        let lower_bound = clock.now();
        // Release pairs with the writer's Acquire load in `Watermarks::min`:
        // a writer that reads this value also sees every push of this
        // worker's previous commits.
        self.mark().store(lower_bound, Ordering::Release);
        CommitGuard { gate: self }
    }

    /// This worker's index in the [`Watermarks`].
    pub fn index(&self) -> usize {
        self.index
    }

    fn mark(&self) -> &AtomicU64 {
        &self.marks.marks[self.index]
    }
}

impl fmt::Debug for WorkerGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerGate")
            .field("index", &self.index)
            .finish()
    }
}

/// A commit in progress on one worker; marks the worker idle when dropped.
#[must_use = "dropping the guard ends the commit at once"]
pub struct CommitGuard<'a> {
    gate: &'a mut WorkerGate,
}

impl CommitGuard<'_> {
    /// Ends the commit: all its messages have been pushed.
    pub fn end(self) {}
}

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        // Release pairs with the writer's Acquire load in `Watermarks::min`:
        // a writer that reads IDLE also sees every push of this commit.
        self.gate.mark().store(IDLE, Ordering::Release);
    }
}

impl fmt::Debug for CommitGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitGuard")
            .field("worker", &self.gate.index)
            .finish()
    }
}

/// Merges one client's rings (one per worker) into commit order.
pub struct Merger<T, C> {
    marks: Arc<Watermarks>,
    clock: C,
    rings: Vec<Consumer<(Timestamp, T)>>,
    /// What each ring has given up and the merge not yet emitted, in the
    /// ring's order, which is timestamp order (module doc, *Each ring is
    /// sorted*). Index `i` holds ring `i`'s messages.
    queues: Vec<VecDeque<(Timestamp, T)>>,
}

impl<T, C: CommitClock> Merger<T, C> {
    /// A merger over `rings`, watching the workers' `marks` and `clock`.
    pub fn new(marks: Arc<Watermarks>, clock: C, rings: Vec<Consumer<(Timestamp, T)>>) -> Self {
        let queues = rings.iter().map(|_| VecDeque::new()).collect();
        Merger {
            marks,
            clock,
            rings,
            queues,
        }
    }

    /// One round of the protocol: appends to `out`, in commit order, every
    /// message no earlier-committed message can still precede, and returns
    /// how many.
    pub fn collect_ready(&mut self, out: &mut Vec<T>) -> usize {
        // The order of these three steps is what the proof relies on.
        let clock = self.clock.now();
        let floor = self.marks.min();
        self.drain_rings();
        self.emit_up_to(clock.min(floor), out)
    }

    /// Drains the rings into the merge queues without emitting anything,
    /// while fewer than `limit` messages wait there: lets the pipe writer
    /// keep the rings empty while the client's pipe is full. Emitting stays
    /// the job of [`collect_ready`](Self::collect_ready), whose round reads
    /// the clock and the watermarks before its own drain, so messages
    /// drained here early change nothing about which it may emit.
    pub fn absorb(&mut self, limit: usize) {
        if self.held() < limit {
            self.drain_rings();
        }
    }

    /// Gives back the merge queues' memory beyond `keep` messages in all
    /// once they have emptied below that, so a burst does not pin its peak
    /// for good.
    pub fn shrink(&mut self, keep: usize) {
        if self.held() > keep {
            return;
        }
        let keep_each = keep.div_ceil(self.queues.len().max(1));
        for queue in &mut self.queues {
            if queue.capacity() > keep_each {
                queue.shrink_to(keep_each.max(queue.len()));
            }
        }
    }

    /// Whether any ring holds an undrained message: used to re-check before
    /// sleeping.
    pub fn rings_nonempty(&mut self) -> bool {
        self.rings.iter_mut().any(|ring| !ring.is_empty())
    }

    /// Whether every producer is gone and everything they pushed has been
    /// emitted.
    pub fn is_finished(&mut self) -> bool {
        self.held() == 0
            && self
                .rings
                .iter_mut()
                .all(|ring| ring.is_abandoned() && ring.is_empty())
    }

    fn drain_rings(&mut self) {
        for (ring, queue) in self.rings.iter_mut().zip(&mut self.queues) {
            ring.drain_with(|stamped| {
                debug_assert!(
                    queue.back().map_or(true, |(last, _)| *last <= stamped.0),
                    "a ring's timestamps went down"
                );
                queue.push_back(stamped);
            });
        }
    }

    /// Emits, smallest `(timestamp, ring)` first, every queued message with
    /// a timestamp at most `limit`. The queues are sorted runs, so the
    /// smallest front is the smallest message held; the queue that has it
    /// gives up messages until its front passes `limit` or another queue's.
    fn emit_up_to(&mut self, limit: Timestamp, out: &mut Vec<T>) -> usize {
        let before = out.len();
        while let Some(first) = self.earliest_front(usize::MAX) {
            let (ts, ring) = first;
            if ts > limit {
                break;
            }
            let next = self
                .earliest_front(ring)
                .unwrap_or((Timestamp::MAX, usize::MAX));
            let queue = &mut self.queues[ring];
            while let Some((ts, _)) = queue.front() {
                if *ts > limit || (*ts, ring) > next {
                    break;
                }
                if let Some((_, message)) = queue.pop_front() {
                    out.push(message);
                }
            }
        }
        out.len() - before
    }

    /// The smallest `(timestamp, ring)` among the queues' fronts, leaving
    /// out queue `except`.
    fn earliest_front(&self, except: usize) -> Option<(Timestamp, usize)> {
        self.queues
            .iter()
            .enumerate()
            .filter(|&(ring, _)| ring != except)
            .filter_map(|(ring, queue)| queue.front().map(|(ts, _)| (*ts, ring)))
            .min()
    }
}

impl<T, C> Merger<T, C> {
    /// Messages drained but not yet emitted.
    pub fn held(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }
}

impl<T, C> fmt::Debug for Merger<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merger")
            .field("rings", &self.rings.len())
            .field("held", &self.held())
            .finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests;
