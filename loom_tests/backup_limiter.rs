//! Models of [`kvs::backup::BackupLimiter`].

use crate::check;
use kvs::backup::BackupLimiter;
use kvs::sync::{thread, Arc, AtomicUsize, Ordering};

/// Property: with `max = 1`, two backups never run at once, and a backup
/// that waits for the slot is always woken when the other ends (a lost
/// wake-up would leave a thread asleep forever, which loom reports as a
/// deadlock).
#[test]
fn at_most_max_in_flight_and_no_lost_wakeup() {
    check(Some(3), || {
        let limiter = Arc::new(BackupLimiter::new(1));
        let running = Arc::new(AtomicUsize::new(0));
        let backup = |limiter: Arc<BackupLimiter>, running: Arc<AtomicUsize>| {
            move || {
                let permit = BackupLimiter::acquire(&limiter);
                // SeqCst: a test-only counter; any ordering would do.
                let before = running.fetch_add(1, Ordering::SeqCst);
                assert_eq!(before, 0, "two backups in flight with max = 1");
                // SeqCst: as above.
                running.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            }
        };
        let other = thread::spawn(backup(limiter.clone(), running.clone()));
        backup(limiter.clone(), running)();
        other.join().unwrap();
        assert_eq!(limiter.in_flight(), 0);
    });
}

/// Property: `wait_idle` returns once the last running backup ends, however
/// its check interleaves with that backup's release (no lost wake-up).
#[test]
fn wait_idle_wakes_when_the_last_backup_ends() {
    check(Some(3), || {
        let limiter = Arc::new(BackupLimiter::new(2));
        let first = BackupLimiter::acquire(&limiter);
        let second = BackupLimiter::acquire(&limiter);
        let releaser = thread::spawn(move || {
            drop(first);
            drop(second);
        });
        limiter.wait_idle();
        assert_eq!(limiter.in_flight(), 0);
        releaser.join().unwrap();
    });
}
