//! Model 4: tombstone retirement racing a write to the same key.

use crate::{check, read, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::{thread, Arc};

/// Property: `DELETE [a,b]` (which retires both dead entries right after it
/// commits) racing `WRITE [(a,1)]`: the write is never lost (afterwards `a`
/// holds `1` exactly when the write committed after the delete), and a
/// concurrent `read` of `{a, b}` never sees the delete half done (`a` gone
/// but `b` still `0`, or the reverse), even when it finds `a` in a fresh
/// entry that replaced the retired one.
///
/// Relies on: the CAS on the entry's head word that both the retirement and
/// the write's link do (one wins, the other sees it); and the Release order
/// of the retirement CAS after raising `retired`, paired with the writer's
/// Acquire head load, so the fresh entry's `floor` covers the retired
/// tombstone and an older reader retries instead of trusting it.
#[test]
fn retiring_a_tombstone_never_loses_a_racing_write() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let start = StartLine::new();
        let deleter = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.cross();
                store.delete(&KeySet::from_keys([t("a"), t("b")])).ts
            })
        };
        let writer = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.cross();
                write(&*store, &[("a", "1")])
            })
        };
        start.cross();
        let seen = read(&*store, &["a", "b"]);
        let legal = [
            [Some(t("0")), Some(t("0"))],
            [Some(t("1")), Some(t("0"))],
            [None, None],
            [Some(t("1")), None],
        ];
        assert!(
            legal.contains(&[seen[0], seen[1]]),
            "non-linearizable read: {seen:?}"
        );
        let deleted = deleter.join().unwrap().expect("both keys were present");
        let written = writer.join().unwrap();
        let expected = if written > deleted {
            Some(t("1"))
        } else {
            None
        };
        assert_eq!(read(&*store, &["a"]), [expected]);
    });
}
