//! The pause `fork()` inflicts on a process holding the store: the price of
//! the course's (and Redis's) fork-based backup, for comparison with a
//! snapshot's start.
//!
//! The kernel copies the parent's page tables (not its pages) before
//! `fork()` returns, so the pause grows with resident memory. The child
//! exits at once; only the parent's stall is timed.

use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use std::time::{Duration, Instant};

/// Times `runs` forks of the calling process; returns each pause.
///
/// Call it while no other thread of the process runs (the benchmark's load
/// threads are not started in this mode): the child then inherits no lock
/// held mid-update, and it touches nothing anyway.
pub fn time_forks(runs: usize) -> nix::Result<Vec<Duration>> {
    let mut pauses = Vec::with_capacity(runs);
    for _ in 0..runs {
        let began = Instant::now();
        // SAFETY: the child runs only `_exit`, which is async-signal-safe,
        // so nothing the fork left in an inconsistent state (another
        // thread's lock, the allocator) is ever used in it.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // SAFETY: `_exit` ends the child at once without running
                // destructors or atexit handlers, which must not run in a
                // forked copy of a multi-threaded process.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                pauses.push(began.elapsed());
                waitpid(child, None)?;
            }
        }
    }
    Ok(pauses)
}

/// The median of `samples` (the upper one for an even count).
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(median(&[]), None);
    }
}
