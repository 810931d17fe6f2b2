//! Model 1: a multi-key writer against a multi-key reader.

use crate::{check, read, spawn_writer, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::Arc;

/// Property: a `read` of `{a, b}` racing a `WRITE [(a,1)(b,1)]` sees all of
/// the write or none of it: `(0, 0)` or `(1, 1)`, never a mix.
///
/// Relies on: the writer's clock tick (Release) after installing its pending
/// versions, and the reader's Acquire load of the clock: a reader whose
/// snapshot is at or past the tick sees the versions on every key.
#[test]
fn multi_key_read_sees_all_or_none_of_a_multi_key_write() {
    check(None, || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let start = StartLine::new();
        let writer = spawn_writer(&store, &start, &[("a", "1"), ("b", "1")]);
        start.cross();
        let seen = read(&*store, &["a", "b"]);
        assert!(
            seen == [Some(t("0")), Some(t("0"))] || seen == [Some(t("1")), Some(t("1"))],
            "torn read: {seen:?}"
        );
        writer.join().unwrap();
    });
}
