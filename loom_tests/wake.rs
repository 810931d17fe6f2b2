//! Models of the pipe writer's doorbell (`kvs::server::wake`).

use kvs::ring;
use kvs::server::wake::Doorbell;
use loom::sync::Arc;
use loom::thread;

/// Two workers each push one value to their own ring and ring the client's
/// doorbell; the writer pops what it can and otherwise prepares to park,
/// re-checks both rings, and parks.
///
/// Property: no wake-up is lost. In every interleaving the writer ends up
/// with both values; a lost wake-up would leave it parked forever after the
/// workers finished, which loom reports as a deadlock.
#[test]
fn doorbell_never_loses_a_wake_up() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
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
            bell.prepare_park();
            if rings.iter_mut().any(|rx| !rx.is_empty()) {
                bell.cancel_park();
            } else {
                bell.park();
            }
        }
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
