//! Models of the pipe writer's doorbell (`kvs::notify::doorbell`).

use crate::check;
use kvs::notify::doorbell::Doorbell;
use kvs::ring;
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// Longer than any model runs: under loom a timed park waits for a ring
/// (the timeout is not modelled), so a lost wake-up shows as a deadlock.
const NAP: Duration = Duration::from_secs(3600);

/// Two workers each push one value to their own ring and ring the client's
/// doorbell; the writer pops what it can and otherwise sleeps as the pipe
/// writer does ([`Doorbell::park_unless`]: prepare to park, re-check both
/// rings, park).
///
/// Property: no wake-up is lost. In every interleaving the writer ends up
/// with both values; a lost wake-up would leave it parked forever after the
/// workers finished, which loom reports as a deadlock.
///
/// Relies on: the SeqCst fence in `prepare_park` (Dekker's pattern with
/// the one in `ring`); without it loom reports that deadlock.
#[test]
fn doorbell_never_loses_a_wake_up() {
    check(Some(3), || {
        let bell = Arc::new(Doorbell::new());
        let mut rings = Vec::new();
        let mut workers = Vec::new();
        for value in 0..2u32 {
            let (mut tx, rx) = ring::channel(1);
            rings.push(rx);
            let bell = bell.clone();
            workers.push(thread::spawn(move || {
                tx.push(value).unwrap();
                bell.ring();
            }));
        }
        let mut received = 0;
        while received < 2 {
            let popped: usize = rings.iter_mut().map(|rx| rx.pop().map_or(0, |_| 1)).sum();
            if popped > 0 {
                received += popped;
                continue;
            }
            bell.park_unless(|| rings.iter_mut().any(|rx| !rx.is_empty()), NAP);
        }
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
