//! The timed load: worker threads issuing reads and multi-key writes.
//!
//! A worker writes through the store directly, or through its server
//! [`WorkerPort`] when subscribers are attached, so that `--notify` measures
//! the exact path a job worker takes in server mode (commit, then push to
//! every subscriber's ring).

use super::latency::Latencies;
use super::mix::Mix;
use super::workload::{self, Rng};
use crate::server::notify::WorkerPort;
use crate::store::Store;
use crate::token::Token;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// A paced worker ahead of schedule sleeps only once it is this far ahead
/// (shorter sleeps overshoot by more than they wait).
const MIN_NAP: Duration = Duration::from_micros(100);

/// Where a worker's writes go.
pub enum Sink {
    /// Straight to the store.
    Store,
    /// Through the server's notification path; values carry their send time
    /// as nanoseconds since `epoch` (see [`workload::stamped_value`]).
    Port {
        /// This worker's port.
        port: Box<WorkerPort>,
        /// The instant send times are counted from.
        epoch: Instant,
    },
}

/// One worker's settings.
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
    /// Time between this worker's commands, if paced.
    pub pace: Option<Duration>,
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
}

impl WorkerStats {
    /// Adds another worker's figures to these.
    pub fn merge(&mut self, other: &WorkerStats) {
        self.ops += other.ops;
        self.reads.merge(&other.reads);
        self.writes.merge(&other.writes);
        self.keys_written += other.keys_written;
    }
}

impl Worker {
    /// Issues commands from the moment `start` opens until `stop` is set.
    pub fn run(mut self, start: &Barrier, stop: &AtomicBool) -> WorkerStats {
        let mut stats = WorkerStats::default();
        let mut drawn = Vec::with_capacity(workload::MAX_KEYS_PER_COMMAND);
        let mut out = Vec::with_capacity(workload::MAX_KEYS_PER_COMMAND);
        let mut seq = 0u64;
        start.wait();
        let began = Instant::now();
        // Relaxed: the flag only says when to stop; the statistics reach the
        // main thread through the join, not through this flag.
        while !stop.load(Ordering::Relaxed) {
            workload::draw_keys(&mut self.rng, &self.keys, &mut drawn);
            if self.mix.reads(self.rng.below(100) as u32) {
                let set = workload::read_set(&drawn);
                let began = Instant::now();
                self.store.read(&set, &mut out);
                stats.reads.record(began.elapsed());
            } else {
                seq += 1;
                stats.keys_written += self.write(&drawn, seq, &mut stats.writes);
            }
            stats.ops += 1;
            if let Some(pace) = self.pace {
                keep_pace(began, pace, stats.ops);
            }
        }
        stats
    }

    /// Writes the drawn keys; returns how many distinct keys it wrote.
    fn write(&mut self, drawn: &[Token], seq: u64, latencies: &mut Latencies) -> u64 {
        match &mut self.sink {
            Sink::Store => {
                let set = workload::write_set(drawn, workload::value(seq, self.value_bytes));
                let began = Instant::now();
                self.store.write(&set);
                latencies.record(began.elapsed());
                set.len() as u64
            }
            Sink::Port { port, epoch } => {
                let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let value = workload::stamped_value(sent, self.value_bytes);
                let set = workload::write_set(drawn, value);
                let began = Instant::now();
                port.write(&set);
                latencies.record(began.elapsed());
                set.len() as u64
            }
        }
    }
}

/// Sleeps while `done` commands at one per `pace` from `began` are ahead of
/// schedule by more than [`MIN_NAP`] (a worker that falls behind catches up
/// without sleeping).
fn keep_pace(began: Instant, pace: Duration, done: u64) {
    let due = began + pace.saturating_mul(u32::try_from(done).unwrap_or(u32::MAX));
    let now = Instant::now();
    if due > now + MIN_NAP {
        thread::sleep(due - now);
    }
}
