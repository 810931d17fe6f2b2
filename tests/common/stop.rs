//! A stop path for every thread a test starts.

use std::sync::atomic::{AtomicBool, Ordering};

/// Sets its flag when dropped: created before the test joins anything, it
/// stops the flag's loops whether the test goes on normally or a join
/// panics on the way (without it, a panicking worker would leave the other
/// threads spinning and the test hanging).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        // Relaxed: a stop request carries no data; the joins order the rest.
        self.0.store(true, Ordering::Relaxed);
    }
}
