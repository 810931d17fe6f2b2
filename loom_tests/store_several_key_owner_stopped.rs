//! Model 22: a several-key writer stopped between two links stops nobody.

use crate::{check, read, spawn_stopped_after_first_link, t, write, Gate, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::Arc;

/// Property: writer A (`WRITE [(a,1)(b,1)]`) stops for good right after
/// linking its version of `a`, its record not ready: it resumes only after
/// writer B has written `a` twice (`WRITE [(a,2)]`, then `WRITE [(a,3)]`)
/// and read `{a, b}`. B must finish all the same (a B that waited for A
/// would never finish, and loom reports the livelock), and A's attempt,
/// which B's first write aborted, is never seen: B's read sees `(3, 0)`.
/// B's second write prunes below `a = 2`, so it retires A's aborted
/// version before A, resumed, settles it and reads its value back to
/// start again. A then commits after B, so `a` and `b` end `1`, A's
/// timestamp is above B's, and the clock reads at least A's. Retired
/// memory is freed as early as crossbeam-epoch could
/// (`with_eager_reclamation`), so A touching its aborted version after
/// that free, or B reading A's record after A retired it, would be
/// reported.
///
/// Relies on: the abort in `link` (`Inner::wait_or_abort`: without it B
/// waits for A, and loom reports the livelock); aborted versions being
/// invisible to reads (`Version::visible_at`) and covered, by the next
/// writer, as the newest committed version below them
/// (`Inner::covered_below_aborted`); the owner's ready mark failing on
/// an aborted record, after which A settles its versions aborted and
/// starts again (`Inner::try_commit`); and A staying pinned from its
/// links through that settling (a cut version is freed only after every
/// pin that could reach it ends).
#[test]
fn a_several_key_writer_stopped_between_its_links_is_aborted_and_starts_again() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let b_done = Gate::new();
        let start = StartLine::new();
        let owner =
            spawn_stopped_after_first_link(&store, &start, &[("a", "1"), ("b", "1")], &b_done);
        start.cross();
        write(&*store, &[("a", "2")]);
        let ts_b = write(&*store, &[("a", "3")]);
        let seen = read(&*store, &["a", "b"]);
        b_done.open();
        let ts_a = owner.join().unwrap();
        assert_eq!(
            seen,
            [Some(t("3")), Some(t("0"))],
            "B's read after its writes"
        );
        assert!(ts_a > ts_b, "A committed before the writer that aborted it");
        assert_eq!(read(&*store, &["a", "b"]), [Some(t("1")), Some(t("1"))]);
        assert!(kvs::store::Store::now(&*store) >= ts_a);
    });
}
