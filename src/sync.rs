//! The one place the crate takes its synchronization primitives from.
//!
//! Normally these are `std`'s. Under `--features loom` they are loom's
//! model-checked twins, so the loom models in `loom_tests/` run the crate's
//! real synchronization code rather than copies of it. Every module whose
//! correctness depends on memory ordering imports from here and nowhere else.
//!
//! Loom's atomics panic when used outside `loom::model`, so under the feature
//! the ordinary tests and binaries are not meant to run: only the models are.

#[cfg(not(feature = "loom"))]
mod imp {
    pub use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };
    pub use std::thread;

    /// Waits out another thread's short step (a commit in flight, a slot
    /// about to be freed): spins briefly, then yields the processor, so a
    /// waiter never burns the time slice of a thread it waits for that the
    /// scheduler has put aside.
    #[derive(Debug, Default)]
    pub struct SpinWait(crossbeam_utils::Backoff);

    impl SpinWait {
        /// A fresh wait: the first steps spin.
        pub fn new() -> Self {
            Self::default()
        }

        /// One step of waiting.
        #[inline]
        pub fn wait(&self) {
            self.0.snooze();
        }

        /// Whether this wait has spun and yielded long enough (127 pause
        /// instructions, then four yields, each of which lets a runnable
        /// thread have the core) that the thread waited for is likely not
        /// running: a caller with another way out than waiting takes it
        /// then.
        #[inline]
        pub fn is_spent(&self) -> bool {
            self.0.is_completed()
        }
    }

    /// An `UnsafeCell` with loom's closure-based access API, so code written
    /// against it compiles unchanged under both std and loom.
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        pub const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared pointer to the contents.
        #[inline]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive pointer to the contents.
        #[inline]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    pub use loom::cell::UnsafeCell;
    pub use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use loom::sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };
    pub use loom::thread;

    /// Under loom a waiting thread must yield at every step, or the model
    /// never lets the thread it waits for make progress.
    #[derive(Debug, Default)]
    pub struct SpinWait(std::cell::Cell<bool>);

    impl SpinWait {
        /// A fresh wait.
        pub fn new() -> Self {
            Self::default()
        }

        /// One step of waiting: yield to the model's scheduler.
        #[inline]
        pub fn wait(&self) {
            self.0.set(true);
            loom::thread::yield_now();
        }

        /// Spent after one step: the model explores the thread waited for
        /// finishing during that yield, or not, and a smaller budget keeps
        /// the models small.
        #[inline]
        pub fn is_spent(&self) -> bool {
            self.0.get()
        }
    }
}

pub use imp::*;

/// Locks `mutex`, ignoring poisoning.
///
/// A poisoned mutex here still guards sound data, because no holder can
/// leave a partial update behind: the backup and doorbell mutexes guard
/// `()`; the retired-memory and index-node lists only see a whole `Vec`
/// push or take; a slot's writer session is replaced whole; and the
/// subscription maps are made consistent before any step that can panic.
/// Refusing the lock would only spread one thread's panic to every thread.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `condvar`, giving back `guard`'s lock, ignoring poisoning (for
/// the reason [`lock`] gives: a holder that panicked left nothing half
/// updated). A wake-up may be spurious: callers wait in a loop on their
/// condition.
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Like [`wait`], but gives up after `timeout` (whether it timed out, the
/// caller tells from its own condition). Under loom the timeout is not
/// modelled: this waits for a notification.
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, timeout)
        .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard)
}

/// Takes `lock` shared, ignoring poisoning.
///
/// Every `RwLock` here (the key stripes, the job gate) guards `()`: it only
/// excludes, so a holder that panicked left no data half updated.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes `lock` exclusively, ignoring poisoning: as for [`read`], the
/// lock guards `()`, so a holder that panicked left nothing half updated.
pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Statistics that order nothing, so loom need not explore them.
///
/// A counter here is only ever read as a number (tests, debugging); no code
/// decides what memory it may touch from its value. It is therefore always
/// `std`'s atomic, even under loom, where a model-checked twin would only
/// multiply the interleavings to explore without checking anything.
#[allow(clippy::disallowed_types)] // std on purpose, as said above.
pub mod stat {
    /// A relaxed event counter, split into cache-padded stripes so that
    /// threads counting at once do not contend on one cache line.
    #[derive(Debug, Default)]
    pub struct Counter {
        stripes: [crossbeam_utils::CachePadded<std::sync::atomic::AtomicIsize>; STRIPES],
    }

    const STRIPES: usize = 8;

    std::thread_local! {
        static STRIPE: usize = next_stripe();
    }

    fn next_stripe() -> usize {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        // Relaxed: only spreads threads over stripes; orders nothing.
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES
    }

    impl Counter {
        /// Adds `delta` (which may be negative).
        #[inline]
        pub fn add(&self, delta: isize) {
            let stripe = STRIPE.try_with(|s| *s).unwrap_or(0);
            // Relaxed: a statistic; nothing is published through it.
            self.stripes[stripe].fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
        }

        /// The sum of every stripe. Exact once the counting threads are
        /// quiescent; a racing read may be off by the events in flight.
        pub fn sum(&self) -> isize {
            self.stripes
                .iter()
                // Relaxed: a statistic; nothing is read through it.
                .map(|s| s.load(std::sync::atomic::Ordering::Relaxed))
                .sum()
        }
    }
}

/// Stop flags for the unit tests' threads.
#[cfg(all(test, not(feature = "loom")))]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its stop flag when dropped, on the normal path and when
    /// unwinding: made before any join, so a panicking thread cannot leave
    /// the threads that wait for the flag spinning forever.
    pub(crate) struct StopOnDrop<'a>(pub(crate) &'a AtomicBool);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            // Relaxed: a stop flag; the scope's join orders everything.
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
