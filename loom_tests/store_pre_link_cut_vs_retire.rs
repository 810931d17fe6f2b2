//! Model 21: a writer's cut before its link racing a delete that retires
//! the key's entry.

use crate::{check, read, spawn_writer, store_with_a_written_twice, t, StartLine};
use kvs::store::{KeySet, Store};

/// Property: `a` holds `a=1 → a=0`; writer W (`WRITE [(a,2)]`) prunes the
/// chain below its committed head before linking, while `DELETE [a]`
/// commits a tombstone and retires `a`'s entry (a store made with
/// `with_eager_reclamation` retires each delete's keys at once). The
/// write is never lost: `a` reads `2` afterwards unless the delete
/// committed later, and the delete reports `a` removed. No version is
/// retired twice or read after its free (the eager stand-in), and once a
/// sweep has run and every retired version is freed at most three are
/// alive.
///
/// Relies on: the cut's marker store before the cut tail is retired
/// (`cut_from`): the retirer's deferred free walks the chain from its top
/// and stops at the marker, so the cut tail and the retired chain stay
/// disjoint. Retiring the tail without storing the marker fails the
/// model (a version retired twice).
#[test]
fn a_cut_before_a_link_and_an_entry_retirement_free_each_version_once() {
    check(Some(2), || {
        let store = store_with_a_written_twice();
        let start = StartLine::new();
        let writer = spawn_writer(&store, &start, &[("a", "2")]);
        start.cross();
        let deleted = store.delete(&KeySet::from_keys([t("a")]));
        let ts_w = writer.join().unwrap();
        let seen = read(&*store, &["a"]);
        match deleted.ts {
            Some(ts_d) if ts_d > ts_w => assert_eq!(seen, [None], "the later delete"),
            _ => assert_eq!(seen, [Some(t("2"))], "the later write"),
        }
        assert_eq!(deleted.removed[..], [true]);
        store.sweep();
        // A read after the sweep: its unpin frees what is left blocked.
        let _ = read(&*store, &["a"]);
        let live = store.live_versions();
        assert!(live <= 3, "{live} versions alive");
    });
}
