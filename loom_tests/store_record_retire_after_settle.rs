//! Model 11: a reader following a version to its command's shared record
//! while the command's owner settles and retires that record, with a
//! reclamation stand-in that really frees.

use crate::{check, read, spawn_writer, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::Arc;

/// Property: a `read` of `{a}` racing `WRITE [(a,1)(b,1)]` sees `0` or
/// `1`, and never touches the write's shared record after it is freed. The
/// store frees retired memory as early as crossbeam-epoch could (once every
/// thread pinned at the retirement has unpinned), and loom reports any
/// access to freed memory that is not ordered before the free.
///
/// Relies on: the owner retiring the record only after settling every
/// version that points to it (`write.rs`, step 3). A reader then follows a
/// version's pointer to the record only if it read the version's own word
/// unsettled, so it was pinned before the retirement, and the free waits
/// for its unpin. Retired before the settling, the record can be freed
/// while a reader that pinned after the retirement still follows a pointer
/// to it.
#[test]
fn a_shared_record_is_freed_only_after_every_reader_that_can_reach_it() {
    check(None, || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let start = StartLine::new();
        let writer = spawn_writer(&store, &start, &[("a", "1"), ("b", "1")]);
        start.cross();
        let seen = read(&*store, &["a"]);
        assert!(
            seen == [Some(t("0"))] || seen == [Some(t("1"))],
            "read {seen:?}"
        );
        writer.join().unwrap();
        // The stand-in frees for real: a last write, ordered after both
        // threads, prunes the first versions, and its unpin frees them
        // (each key then keeps its two newest versions).
        write(&*store, &[("a", "2"), ("b", "2")]);
        assert_eq!(store.live_versions(), 4, "pruned versions not freed");
    });
}
