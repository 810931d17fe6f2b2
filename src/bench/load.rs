//! The timed load: worker threads issuing reads and multi-key writes.
//!
//! A worker commits its writes through a [`Commit`] path: the store itself,
//! or a server worker's notification port when subscribers are attached, so
//! that `--notify` measures the exact path a job worker takes in server mode
//! (commit, then push to every subscriber's ring).

use super::latency::Latencies;
use super::mix::Mix;
use super::schedule::{Clock, Pause, RealClock, Schedule};
use super::switches::{SwitchStats, Switches};
use super::workload::{self, Rng};
use crate::store::{Commit, Store};
use crate::token::Token;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Where a worker's writes go.
#[derive(Debug)]
pub enum Sink {
    /// Straight to the store.
    Store,
    /// Through the server's notification path; values carry their send time
    /// as nanoseconds since `epoch` (see [`workload::stamped_value`]).
    Port {
        /// This worker's port.
        port: Box<dyn Commit + Send>,
        /// The instant send times are counted from.
        epoch: Instant,
    },
}

/// One worker's settings.
#[derive(Debug)]
pub struct Worker {
    /// The store read from (and written to, without a port).
    pub store: Arc<dyn Store>,
    /// Where writes go.
    pub sink: Sink,
    /// The preloaded keys.
    pub keys: Arc<[Token]>,
    /// The command mix.
    pub mix: Mix,
    /// Length of written values.
    pub value_bytes: usize,
    /// This worker's command stream.
    pub rng: Rng,
    /// This worker's share of the open-loop schedule (`None`: closed loop,
    /// each command issued as soon as the previous one returns).
    pub schedule: Option<Schedule>,
    /// How the worker waits for a command's due time (open loop).
    pub pause: Pause,
    /// Whether to class each write by its thread's context switches
    /// (`--count-switches`, [`super::switches`]).
    pub count_switches: bool,
    /// With `--warmup-ms`: commands that begin before this instant are run
    /// and measured like the others, and what they measured is dropped.
    pub record_from: Option<Instant>,
}

/// What one worker did.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Commands completed.
    pub ops: u64,
    /// Latency of each read command.
    pub reads: Latencies,
    /// Latency of each write command.
    pub writes: Latencies,
    /// Keys written, summed over write commands (each is one notification
    /// per subscriber).
    pub keys_written: u64,
    /// Open loop: commands that were due when the run stopped but had not
    /// started (a thread that fell behind its schedule leaves them).
    pub overdue: u64,
    /// With `--count-switches`: the writes classed by their thread's
    /// context switches.
    pub switches: Option<SwitchStats>,
}

impl WorkerStats {
    /// Adds another worker's figures to these.
    pub fn merge(&mut self, other: &WorkerStats) {
        self.ops += other.ops;
        self.reads.merge(&other.reads);
        self.writes.merge(&other.writes);
        self.keys_written += other.keys_written;
        self.overdue += other.overdue;
        if let Some(theirs) = &other.switches {
            self.switches
                .get_or_insert_with(Default::default)
                .merge(theirs);
        }
    }
}

impl Worker {
    /// Issues commands from the moment `start` opens until `stop` is set.
    ///
    /// Closed loop, a command's latency is the time its store call took;
    /// open loop, it counts from the command's due time on the schedule,
    /// so time spent waiting behind a slow command is part of it.
    pub fn run(mut self, start: &Barrier, stop: &AtomicBool) -> WorkerStats {
        let mut stats = self.fresh_stats();
        let mut drawn = Vec::with_capacity(workload::MAX_KEYS_PER_COMMAND);
        let mut out = Vec::with_capacity(workload::MAX_KEYS_PER_COMMAND);
        let mut seq = 0u64;
        start.wait();
        let mut clock = RealClock::new(Instant::now(), self.pause);
        // Relaxed: the flag only says when to stop; the statistics reach the
        // main thread through the join, not through this flag.
        while !stop.load(Ordering::Relaxed) {
            if self.warm_up_ends_now() {
                // What the warm-up measured is dropped.
                stats = self.fresh_stats();
            }
            let due = self.schedule.as_mut().map(|s| s.start_next(&mut clock));
            workload::draw_keys(&mut self.rng, &self.keys, &mut drawn);
            let reads = self.mix.reads(self.rng.below(100) as u32);
            if reads {
                let set = workload::read_set(&drawn);
                let began = clock.elapsed();
                self.store.read(&set, &mut out);
                let latency = Schedule::latency(due.unwrap_or(began), &clock);
                stats.reads.record(latency);
            } else {
                seq += 1;
                let before = stats.switches.as_ref().and_then(|_| Switches::now());
                let (written, began) = self.write(&drawn, seq, &clock);
                let latency = Schedule::latency(due.unwrap_or(began), &clock);
                stats.writes.record(latency);
                stats.keys_written += written;
                if let (Some(switches), Some(before)) = (&mut stats.switches, before) {
                    if let Some(after) = Switches::now() {
                        switches.record(before, after, latency);
                    }
                }
            }
            stats.ops += 1;
        }
        if let Some(schedule) = &self.schedule {
            stats.overdue = schedule.overdue(clock.elapsed());
        }
        stats
    }

    /// Empty statistics for this worker's run.
    fn fresh_stats(&self) -> WorkerStats {
        WorkerStats {
            switches: self.count_switches.then(SwitchStats::default),
            ..WorkerStats::default()
        }
    }

    /// Whether the warm-up ends at this command: true once, at the first
    /// command that begins at or after `record_from`; the clock is not
    /// read again afterwards.
    fn warm_up_ends_now(&mut self) -> bool {
        match self.record_from {
            Some(from) if Instant::now() >= from => {
                self.record_from = None;
                true
            }
            _ => false,
        }
    }

    /// Writes the drawn keys; returns how many distinct keys it wrote and
    /// when (on `clock`) the store call began.
    fn write(&mut self, drawn: &[Token], seq: u64, clock: &RealClock) -> (u64, Duration) {
        let mut direct = &*self.store;
        let (commit, value): (&mut dyn Commit, _) = match &mut self.sink {
            Sink::Store => (&mut direct, workload::value(seq, self.value_bytes)),
            Sink::Port { port, epoch } => {
                let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                (&mut **port, workload::stamped_value(sent, self.value_bytes))
            }
        };
        let set = workload::write_set(drawn, value);
        let began = clock.elapsed();
        commit.write(&set);
        (set.len() as u64, began)
    }
}
