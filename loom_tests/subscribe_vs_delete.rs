//! A client's subscribe racing a job's delete of the same key, through the
//! server's real fan-out (`Shared::subscribe`, `WorkerPort::delete`, the
//! key locks, the subscription table and the commit-order merge).

use crate::{check, server_config, t, write, StartLine};
use kvs::notify::Note;
use kvs::server::{self, Config, Parts};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{Commit, KeySet};
use kvs::sync::{thread, Arc};

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
        let store = std::sync::Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("k", "1")]);
        let Parts {
            shared,
            mut ports,
            mut mergers,
            ..
        } = server::build(server_config(false), store);
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
            .hub
            .subscriptions()
            .for_each_subscriber(&t("k"), |_| left += 1);
        assert_eq!(left, 0, "a subscription outlived the delete");
    });
}

/// What the subscriber of `k` heard, as values (`None`: `DELETED`).
fn heard(notes: &[Note]) -> Vec<Option<String>> {
    notes
        .iter()
        .map(|note| note.value.map(|v| v.to_string()))
        .collect()
}

/// Property: `k` exists; one job deletes it while another writes it, and a
/// client subscribes to it. If the subscribe answers 1, the subscriber
/// hears exactly the commits to `k` after some point, in commit order, up to
/// and including the first `DELETED`; and it is still subscribed at the end
/// exactly when it heard no `DELETED` (a subscription is never ended
/// silently). If it answers 0, it hears nothing and is not subscribed.
///
/// Relies on, beyond the first model: the delete ending the key's
/// subscriptions before it releases the key's stripe (ended after the
/// release, the write can re-create `k` and the client subscribe to it in
/// between, and the delete then ends that new subscription unheard), and
/// the write holding the stripe too (without it, the write's lookup can
/// find the subscription after the delete pushed `DELETED` and before it
/// ended it: a value after `DELETED`). Each weakening makes this model fail.
#[test]
fn a_subscription_made_between_a_delete_and_a_rewrite_is_not_ended_silently() {
    check(Some(2), || {
        let store = std::sync::Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("k", "1")]);
        let Parts {
            shared,
            mut ports,
            mut mergers,
            ..
        } = server::build(
            Config {
                workers: 2,
                ..server_config(false)
            },
            store,
        );
        let (mut writer, mut deleter) = (ports.pop().expect("two"), ports.pop().expect("two"));
        let start = StartLine::new();
        let deleting = {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.cross();
                deleter.delete(&KeySet::from_keys([t("k")])).ts
            })
        };
        let writing = {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.cross();
                writer.write(&kvs::store::WriteSet::from_pairs([(t("k"), t("2"))]))
            })
        };
        start.cross();
        let subscribed = shared.subscribe(0, 1, t("k"));
        let deleted_at = deleting.join().expect("the delete finishes");
        let written_at = writing.join().expect("the write finishes");

        let mut notes: Vec<Note> = Vec::new();
        mergers[0].collect_ready(&mut notes);
        let heard = heard(&notes);
        let mut left = 0;
        shared
            .hub
            .subscriptions()
            .for_each_subscriber(&t("k"), |_| left += 1);
        if !subscribed {
            assert!(
                heard.is_empty() && left == 0,
                "answered 0: {heard:?}, {left} left"
            );
            return;
        }
        let mut commits = vec![(written_at, Some("2".to_string()))];
        commits.extend(deleted_at.map(|ts| (ts, None)));
        commits.sort();
        let explained = (0..=commits.len()).any(|from| {
            let rest = &commits[from..];
            let end = rest.iter().position(|(_, v)| v.is_none());
            let segment = &rest[..end.map_or(rest.len(), |i| i + 1)];
            let expected: Vec<_> = segment.iter().map(|(_, v)| v.clone()).collect();
            heard == expected && (left == 1) == end.is_none()
        });
        assert!(
            explained,
            "commits {commits:?}: heard {heard:?}, {left} subscription(s) left"
        );
    });
}
