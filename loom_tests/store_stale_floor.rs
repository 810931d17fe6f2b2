//! Model 6: a fresh entry racing the retirement of the entry it replaces.

use crate::{check, read, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::{thread, Arc};

/// Property: a multi-key `read` of `{j, k}` is linearizable while a writer
/// creates a fresh entry for `k` across another entry's whole life. Writer
/// A runs `WRITE [(k,a)]` on an absent `k`; writer B runs
/// `WRITE [(j,1)(k,1)]`, `WRITE [(j,2)]`, `DELETE [k]` (which retires `k`'s
/// entry). `j = 1` holds only between B's first two commands, and `k` is
/// then `1` or `a`, never absent: `(1, None)` is in no linearization.
///
/// Relies on: a fresh entry proving absence only back to its own insertion.
/// A's entry may be made before B's retirement raises the `retired`
/// watermark, and inserted after; its floor must therefore be fixed only
/// once the entry is found in the index (`index.rs`, `Entry::floor`), or a
/// reader at a timestamp older than the retirement finds A's chain
/// exhausted and answers "absent".
#[test]
fn a_fresh_entry_never_proves_absence_before_its_insertion() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        let start = StartLine::new();
        let a = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.cross();
                write(&*store, &[("k", "a")]);
            })
        };
        let b = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.cross();
                write(&*store, &[("j", "1"), ("k", "1")]);
                write(&*store, &[("j", "2")]);
                store.delete(&KeySet::from_keys([t("k")]));
            })
        };
        start.cross();
        let seen = read(&*store, &["j", "k"]);
        let (j, k) = (
            seen[0].map(|v| v.to_string()),
            seen[1].map(|v| v.to_string()),
        );
        let legal = match j.as_deref() {
            None => matches!(k.as_deref(), None | Some("a")),
            Some("1") => matches!(k.as_deref(), Some("1") | Some("a")),
            Some("2") => matches!(k.as_deref(), None | Some("1") | Some("a")),
            _ => false,
        };
        assert!(legal, "non-linearizable read: j = {j:?}, k = {k:?}");
        a.join().unwrap();
        b.join().unwrap();
    });
}
