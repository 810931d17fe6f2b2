//! A stand-in for the backup thread that never touches the store: the
//! control that tells a backup's cost to the writers apart from the cost
//! of one more busy thread on the same cores.
//!
//! Backups every 10 ms run back to back at the sizes the paper measures
//! (each takes longer than the period), so the backup thread is runnable
//! for the whole load. A hog is runnable for the whole load too:
//! * [`Hog::Spin`] only takes a core's time (no memory traffic);
//! * [`Hog::Stream`] also sweeps a buffer as large as a large store's
//!   backup reads, reading and writing one word per cache line, so the
//!   writers lose cache and memory bandwidth as well as time;
//! * [`Hog::Hold`] is the opposite: it takes the backups' snapshots and
//!   holds each as long as a backup of a large store takes, but never
//!   reads them and sleeps meanwhile, so the writers pay what an open
//!   snapshot costs the store (versions kept, pruning held back) and
//!   nothing of a busy thread.
//!
//! Whatever a backup costs the writers beyond what a stream hog costs is
//! the store's share (pins held, reclamation held back, longer chains);
//! what the hog costs alone is the machine's, which no store removes.

use crate::store::Store;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// What the stand-in thread does for the whole timed load.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Hog {
    /// Spin on the core: time only.
    Spin,
    /// Sweep [`STREAM_BYTES`] of memory: time, cache and bandwidth.
    Stream,
    /// Hold a snapshot open for [`HOLD`] at a time, asleep: the store's
    /// share alone.
    Hold,
}

/// How long the hold hog keeps each snapshot: about what a backup of 1M
/// keys takes on the machines measured (two or three per 2-second run).
pub const HOLD: Duration = Duration::from_millis(800);

/// The hold hog's sleep between two looks at the stop flag.
const HOLD_NAP: Duration = Duration::from_millis(5);

/// The stream hog's buffer: about what a backup of 1M keys reads.
pub const STREAM_BYTES: usize = 256 << 20;

/// Words per 64-byte cache line.
const LINE_WORDS: usize = 64 / std::mem::size_of::<u64>();

/// Spin iterations between two looks at the stop flag.
const SPIN_ROUND: u32 = 4096;

/// Runs `hog` from the moment `start` opens until `stop` is set; returns
/// how many rounds it made (sweeps of the buffer, spin rounds, or
/// snapshots held), so a run shows the hog did run.
pub fn run(hog: Hog, store: &dyn Store, start: &Barrier, stop: &AtomicBool) -> u64 {
    match hog {
        Hog::Spin => busy(false, start, stop),
        Hog::Stream => busy(true, start, stop),
        Hog::Hold => {
            start.wait();
            hold(store, stop)
        }
    }
}

/// Spins, or sweeps (`stream`) a buffer of [`STREAM_BYTES`], until `stop`;
/// returns the rounds made.
fn busy(stream: bool, start: &Barrier, stop: &AtomicBool) -> u64 {
    // Allocated and faulted in before the barrier: the timed load pays for
    // the sweeps, not for the first touch of the buffer.
    let mut buffer = if stream {
        vec![1u64; STREAM_BYTES / std::mem::size_of::<u64>()]
    } else {
        Vec::new()
    };
    start.wait();
    let mut rounds = 0u64;
    // Relaxed: the flag carries no data; the count leaves by join.
    while !stop.load(Ordering::Relaxed) {
        if stream {
            sweep(&mut buffer);
        } else {
            spin_round();
        }
        rounds += 1;
    }
    rounds
}

/// Takes a snapshot, keeps it [`HOLD`] unread while asleep, drops it,
/// and again, until `stop`; returns how many it held.
fn hold(store: &dyn Store, stop: &AtomicBool) -> u64 {
    let mut held = 0u64;
    // Relaxed: as in `busy`.
    while !stop.load(Ordering::Relaxed) {
        let snapshot = store.snapshot();
        let taken = Instant::now();
        // Relaxed: as in `busy`.
        while taken.elapsed() < HOLD && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(HOLD_NAP);
        }
        drop(snapshot);
        held += 1;
    }
    held
}

fn spin_round() {
    for i in 0..SPIN_ROUND {
        black_box(i);
        std::hint::spin_loop();
    }
}

/// Reads and rewrites one word of every cache line of `buffer`.
fn sweep(buffer: &mut [u64]) {
    for line in buffer.chunks_exact_mut(LINE_WORDS) {
        line[0] = black_box(line[0].wrapping_add(1));
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn each_hog_runs_until_stopped() {
        let store = crate::store::lockfree::LockFreeStore::new();
        for hog in [Hog::Spin, Hog::Stream, Hog::Hold] {
            let (start, stop) = (Barrier::new(2), AtomicBool::new(false));
            let rounds = thread::scope(|scope| {
                let handle = scope.spawn(|| run(hog, &store, &start, &stop));
                start.wait();
                thread::sleep(Duration::from_millis(50));
                // Relaxed: as in `busy`.
                stop.store(true, Ordering::Relaxed);
                handle.join().expect("the hog panicked")
            });
            assert!(rounds > 0, "{hog:?} made no round");
        }
    }

    #[test]
    fn a_sweep_touches_every_line_once() {
        let mut buffer = vec![0u64; 4 * LINE_WORDS];
        sweep(&mut buffer);
        let touched: Vec<u64> = buffer.iter().step_by(LINE_WORDS).copied().collect();
        assert_eq!(touched, [1, 1, 1, 1]);
        assert_eq!(buffer.iter().sum::<u64>(), 4);
    }
}
