//! Model 8: two multi-key writers sharing a key, against a reader.

use crate::{check, read, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::{thread, Arc};

/// Property: `WRITE [(a,1)(b,1)]` and `WRITE [(b,2)(c,2)]` racing a `read`
/// of `{a, b, c}`: the read sees one of the five states of a serial order
/// (neither, either one, both in either order), and afterwards `b` holds
/// the value of the writer with the larger commit timestamp.
///
/// Relies on: the second writer on `b` waiting for the first one's commit
/// (only a chain's head may be pending), so that the chain's order on a
/// shared key is commit order. (Dropping the `prev_ts + 1` lower bound is
/// not caught here: the second writer ticks after reading the first one
/// committed, and a tick exceeds every timestamp committed before it.)
#[test]
fn overlapping_multi_key_writes_are_seen_in_one_serial_order() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0"), ("b", "0"), ("c", "0")]);
        let start = StartLine::new();
        let spawn_writer = |pairs: [(&'static str, &'static str); 2]| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.cross();
                write(&*store, &pairs)
            })
        };
        let first = spawn_writer([("a", "1"), ("b", "1")]);
        let second = spawn_writer([("b", "2"), ("c", "2")]);
        start.cross();
        let seen: Vec<String> = read(&*store, &["a", "b", "c"])
            .iter()
            .map(|v| v.map_or_else(|| "-".to_string(), |v| v.to_string()))
            .collect();
        let seen = seen.concat();
        assert!(
            ["000", "110", "022", "122", "112"].contains(&seen.as_str()),
            "non-linearizable read: {seen}"
        );
        let (one, two) = (first.join().unwrap(), second.join().unwrap());
        let last = if one > two { t("1") } else { t("2") };
        assert_eq!(read(&*store, &["b"]), [Some(last)]);
    });
}
