//! The open-loop schedule behind `--rate`: when each command is meant to
//! start, and how late it finished.
//!
//! Invariant: command `k` of thread `t` (of `T` threads, `R` commands per
//! second in all) is due at `(k * T + t) / R` seconds after the start,
//! whatever happened before it. A thread that falls behind issues its
//! overdue commands at once, one after another, and never skips one, and
//! each command's latency counts from its due time, not from when the
//! thread got round to it. A stall of `s` seconds therefore shows in the
//! `s * R / T` commands it delayed, as an open system (clients that do not
//! wait for each other) would see it, instead of in one slow sample: the
//! coordinated omission a closed loop makes.
//!
//! Time is read through [`Clock`], so the schedule's logic is tested with a
//! clock the test moves by hand.
//!
//! How a thread waits for its next command ([`Pause`]) decides what the
//! scheduler sees. Yielding keeps the load threads always runnable, as in
//! a server whose workers never run out of work: a backup writer then
//! shares the cores with them whatever its priority (measured, paper §8.2;
//! traced, a yielding load thread waits, runnable, while the writer runs
//! on its core). Sleeping
//! leaves the cores idle between commands, as in a server whose workers
//! block when they have nothing to do: a waking load thread then preempts
//! an idle-priority writer.

use std::thread;
use std::time::{Duration, Instant};

/// Nanoseconds per second.
const NANOS: u128 = 1_000_000_000;

/// A waiting thread sleeps only while its next command is at least this far
/// off (a shorter sleep overshoots by more than it waits) and yields the
/// core for the rest.
const MIN_NAP: Duration = Duration::from_micros(200);

/// Time since the run's start, and a way to wait for a moment of it.
pub trait Clock {
    /// Time elapsed since the start of the run.
    fn elapsed(&self) -> Duration;
    /// Returns once `elapsed()` has reached `moment` (at once if it has).
    fn wait_until(&mut self, moment: Duration);
}

/// How a thread waits for its next command's due time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pause {
    /// Sleep while the command is at least 200 µs off, then yield the core
    /// until it is due: the thread stays runnable.
    Yield,
    /// Sleep until the command is due (with the thread's timer slack set to
    /// 1 µs): the thread leaves the core between commands.
    Sleep,
}

/// The real clock: [`Instant`] since the run's start.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    start: Instant,
    pause: Pause,
}

impl RealClock {
    /// A clock whose zero is `start`, waiting as `pause` says. With
    /// [`Pause::Sleep`] it sets the calling thread's timer slack, so call it
    /// on the thread that will wait.
    pub fn new(start: Instant, pause: Pause) -> Self {
        if pause == Pause::Sleep {
            // A failure leaves the default slack (50 µs): sleeps end later,
            // which the latencies, counted from the due times, then show.
            let _ = nix::sys::prctl::set_timerslack(1_000);
        }
        Self { start, pause }
    }
}

impl Clock for RealClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn wait_until(&mut self, moment: Duration) {
        loop {
            let now = self.elapsed();
            if now >= moment {
                return;
            }
            let ahead = moment - now;
            if self.pause == Pause::Sleep {
                thread::sleep(ahead);
            } else if ahead > MIN_NAP {
                thread::sleep(ahead - MIN_NAP / 2);
            } else {
                // Two cores are shared with the store's own threads: give
                // the core away rather than spin on it.
                thread::yield_now();
            }
        }
    }
}

/// One thread's share of a fixed schedule of `rate` commands per second.
#[derive(Debug, Clone)]
pub struct Schedule {
    rate: u64,
    threads: u64,
    thread: u64,
    issued: u64,
}

impl Schedule {
    /// Thread `thread` (of `threads`) of a schedule of `rate` commands per
    /// second over all threads. The threads take turns slot by slot, so the
    /// commands of all of them together are evenly spaced.
    pub fn new(rate: u64, threads: usize, thread: usize) -> Self {
        assert!(rate > 0, "an open-loop schedule needs a positive rate");
        assert!(thread < threads, "thread {thread} of {threads}");
        Self {
            rate,
            threads: threads as u64,
            thread: thread as u64,
            issued: 0,
        }
    }

    /// When this thread's command number `k` (from 0) is due, from the start.
    pub fn due(&self, k: u64) -> Duration {
        let slot = u128::from(k) * u128::from(self.threads) + u128::from(self.thread);
        let nanos = slot * NANOS / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Waits (on `clock`) until the next command is due, unless it already
    /// is, and returns its due time: the moment its latency counts from.
    pub fn start_next(&mut self, clock: &mut impl Clock) -> Duration {
        let due = self.due(self.issued);
        self.issued += 1;
        clock.wait_until(due);
        due
    }

    /// The latency of a command due at `due` that finished just now.
    pub fn latency(due: Duration, clock: &impl Clock) -> Duration {
        clock.elapsed().saturating_sub(due)
    }

    /// Commands started so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Commands that were due by `now` but not started: the backlog a
    /// thread that fell behind leaves when the run stops.
    pub fn overdue(&self, now: Duration) -> u64 {
        let now = now.as_nanos();
        // Slots due by `now` are those with `slot * NANOS <= now * rate`.
        let due_slots = now * u128::from(self.rate) / NANOS + 1;
        let mine = if due_slots > u128::from(self.thread) {
            (due_slots - u128::from(self.thread)).div_ceil(u128::from(self.threads))
        } else {
            0
        };
        u64::try_from(mine)
            .unwrap_or(u64::MAX)
            .saturating_sub(self.issued)
    }
}
