//! A client's subscribe racing a job's delete of the same key, through the
//! server's real fan-out (`Shared::subscribe`, `WorkerPort::delete`, the
//! key locks, the subscription table and the commit-order merge).

use crate::{check, t, write, StartLine};
use kvs::server::notify::Note;
use kvs::server::{self, Config, Parts};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::KeySet;
use kvs::sync::{thread, Arc};
use std::path::PathBuf;
use std::time::Duration;

fn config() -> Config {
    Config {
        register_fifo: PathBuf::from("/nonexistent"),
        register_mode: 0o600,
        max_sessions: 1,
        workers: 1,
        ring_capacity: 2,
        connect_timeout: Duration::from_millis(1),
        max_subscriptions: 4,
        reset_store_on_sigusr1: false,
    }
}

/// Property: the key `k` exists, and a subscribe to it races a delete of
/// it. If the subscribe answers 1, the subscription's notifications are
/// exactly the delete's `DELETED` (its linearization point came before the
/// delete, the only later commit); if it answers 0, there are none (it came
/// after). Either way no subscription to `k` is left: the delete ended the
/// one it notified, and none was made after it.
///
/// Relies on: the subscribe holding `k`'s key-lock stripe exclusively around
/// its read and its insertion, and the delete holding it around its commit,
/// its pushes and its ending of the subscriptions. Without the subscribe's
/// lock, the read can see `k` before the delete and the insertion land
/// after the delete's lookup: answered 1, never told of the delete, and
/// left subscribed.
#[test]
fn a_subscribe_racing_a_delete_hears_exactly_the_delete_or_nothing() {
    check(Some(3), || {
        let store = std::sync::Arc::new(LockFreeStore::with_snapshot_slots(1));
        write(&*store, &[("k", "1")]);
        let Parts {
            shared,
            mut ports,
            mut mergers,
            ..
        } = server::build(config(), store);
        let mut port = ports.pop().expect("one worker");
        let start = StartLine::new();
        let worker = {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.cross();
                port.delete(&KeySet::from_keys([t("k")]));
            })
        };
        start.cross();
        let subscribed = shared.subscribe(0, 1, t("k"));
        worker.join().expect("the worker finishes");

        let mut notes: Vec<Note> = Vec::new();
        mergers[0].collect_ready(&mut notes);
        let heard: Vec<Option<String>> = notes
            .iter()
            .map(|note| note.value.map(|v| v.to_string()))
            .collect();
        let expected: &[Option<String>] = if subscribed { &[None] } else { &[] };
        assert_eq!(heard, expected, "subscribe answered {subscribed}");
        let mut left = 0;
        shared
            .subscriptions
            .for_each_subscriber(&t("k"), |_| left += 1);
        assert_eq!(left, 0, "a subscription outlived the delete");
    });
}
