//! Attributing a command's latency to its own thread being switched out
//! (`kvs-bench --count-switches`), a diagnostic for oversubscribed runs.
//!
//! With more load threads than cores, a command whose thread the scheduler
//! preempts mid-command waits for that thread's next time slice, however
//! the store synchronizes; a command that waits for another thread (a lock,
//! a pending commit) waits too, but for a different reason. Reading the
//! thread's context-switch counts (`getrusage(RUSAGE_THREAD)`) before and
//! after each write tells the two apart: a write during which the count of
//! *voluntary* switches rose blocked (slept on something); one during which
//! only the *involuntary* count rose was preempted, or yielded the
//! processor (`sched_yield` counts as involuntary); one during which
//! neither rose ran throughout, and its latency is the store's own.
//!
//! The two system calls per write perturb the run (fewer commands, other
//! preemption points), so a run with the counts is compared only with
//! other runs that have them. A switch during one of the system calls
//! themselves is charged to the write between them, which errs towards
//! classing a fast write as switched: the latency of the writes that ran
//! throughout is, if anything, overstated.

use super::latency::Latencies;
use nix::sys::resource::{getrusage, UsageWho};
use std::ffi::c_long;
use std::time::Duration;

/// The calling thread's context switches so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    involuntary: c_long,
    voluntary: c_long,
}

impl Switches {
    /// The calling thread's counts now, or `None` if the kernel would not
    /// say (the write then goes unclassified).
    pub fn now() -> Option<Self> {
        let usage = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
        Some(Self {
            involuntary: usage.involuntary_context_switches(),
            voluntary: usage.voluntary_context_switches(),
        })
    }
}

/// What the writes of a run did while they ran.
#[derive(Debug, Default, Clone)]
pub struct SwitchStats {
    /// Latency of the writes during which their thread was never switched
    /// out.
    pub ran_throughout: Latencies,
    /// Writes during which their thread was switched out while runnable
    /// (preempted, or yielded) and never blocked.
    pub preempted: u64,
    /// Writes during which their thread blocked at least once.
    pub blocked: u64,
}

impl SwitchStats {
    /// Classifies one write of `latency` by its thread's counts `before`
    /// and `after` it.
    pub fn record(&mut self, before: Switches, after: Switches, latency: Duration) {
        if after.voluntary > before.voluntary {
            self.blocked += 1;
        } else if after.involuntary > before.involuntary {
            self.preempted += 1;
        } else {
            self.ran_throughout.record(latency);
        }
    }

    /// Adds another thread's figures to these.
    pub fn merge(&mut self, other: &SwitchStats) {
        self.ran_throughout.merge(&other.ran_throughout);
        self.preempted += other.preempted;
        self.blocked += other.blocked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(involuntary: c_long, voluntary: c_long) -> Switches {
        Switches {
            involuntary,
            voluntary,
        }
    }

    #[test]
    fn a_write_is_classed_by_the_switches_during_it() {
        let mut stats = SwitchStats::default();
        let latency = Duration::from_micros(3);
        stats.record(counts(4, 7), counts(4, 7), latency);
        stats.record(counts(4, 7), counts(5, 7), Duration::from_millis(90));
        stats.record(counts(4, 7), counts(5, 8), Duration::from_millis(2));
        stats.record(counts(4, 7), counts(4, 9), Duration::from_millis(1));
        assert_eq!((stats.preempted, stats.blocked), (1, 2));
        assert_eq!(stats.ran_throughout.count(), 1);
        let longest = stats.ran_throughout.max_us().expect("one write recorded");
        assert!((longest - 3.0).abs() < 0.01, "{longest}");
    }

    #[test]
    fn a_thread_that_sleeps_counts_a_voluntary_switch() {
        let before = Switches::now().expect("getrusage(RUSAGE_THREAD) works on Linux");
        std::thread::sleep(Duration::from_millis(2));
        let after = Switches::now().expect("getrusage(RUSAGE_THREAD) works on Linux");
        assert!(after.voluntary > before.voluntary);
    }
}
