//! Model 17: a writer meeting a several-key command's version at a key's
//! head follows the address in the version's own word to the shared record
//! while the owner commits, settles and retires that record.

use crate::{check, read, spawn_writer, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::Arc;

/// Property: writer A (`WRITE [(a,1)(b,1)]`, one shared record) races
/// writer B (`WRITE [(a,2)]`), which may find A's version pending at `a`'s
/// head and take A's record from its own word (to help commit it, or to
/// wait for it), with a stand-in that frees the record as early as
/// crossbeam-epoch could. B never touches the record after its free (loom
/// reports it), the two commits fit one serial order (`a` ends as the
/// later one wrote it, `b` as A wrote it), and a last write, ordered after
/// both, prunes and frees what they left.
///
/// Relies on: the owner retiring the record only after settling every
/// version that names it (a reader or helper that read the address did so
/// pinned before the retirement); retiring it before the settling fails
/// the model (`Causality violation`).
#[test]
fn a_helper_never_touches_a_freed_shared_record() {
    check(Some(3), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let start = StartLine::new();
        let owner = spawn_writer(&store, &start, &[("a", "1"), ("b", "1")]);
        start.cross();
        let ts_b = write(&*store, &[("a", "2")]);
        let ts_a = owner.join().unwrap();
        assert_ne!(ts_a, ts_b);
        let last = if ts_a < ts_b { t("2") } else { t("1") };
        assert_eq!(read(&*store, &["a", "b"]), [Some(last), Some(t("1"))]);
        write(&*store, &[("a", "3"), ("b", "3")]);
    });
}
