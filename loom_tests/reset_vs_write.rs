//! SIGUSR1's store reset (`--reset-on-sigusr1`) racing a job's write of a
//! subscribed key, through the server's real reset
//! (`Shared::reset_store_and_sessions`), command gate, fan-out and
//! subscription table.

use crate::{check, read, server_config, t, write, StartLine};
use kvs::job::CommandGate;
use kvs::notify::Note;
use kvs::server::{self, Parts};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{Commit, WriteSet};
use kvs::sync::{thread, Arc};
use std::fs::OpenOptions;

/// Property: a session subscribed to `k` before a reset hears nothing
/// committed after the reset emptied the store. The reset deletes `k`
/// without a `DELETED`, so a later write of `k` reaching that subscription
/// would be a value after a deletion it never heard of; and the session's
/// pipe writer may drain and deliver such a note before it sees the session
/// end, so the note must never be pushed. Here: if the job's write of `k`
/// came after the reset (the store holds `k` at the end), no note was
/// pushed for it; if it came before, its note was.
///
/// Relies on: the reset ending the subscriptions before it lets job
/// commands run again (inside the command gate). Ending them after the gate
/// opens leaves a window in which the write finds the old subscription.
#[test]
fn a_write_after_a_reset_reaches_no_subscription_made_before_it() {
    check(Some(3), || {
        let store = std::sync::Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("k", "1")]);
        let Parts {
            shared,
            mut ports,
            mut mergers,
            ..
        } = server::build(server_config(true), store.clone());
        let null = OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null opens");
        let generation = shared.hub.slots()[0].begin(null);
        assert!(shared.subscribe(0, generation, t("k")));
        let gate = Arc::new(CommandGate::default());
        let mut port = ports.pop().expect("one worker");
        let start = StartLine::new();
        let worker = {
            let (start, gate) = (Arc::clone(&start), Arc::clone(&gate));
            let hub = std::sync::Arc::clone(&shared.hub);
            thread::spawn(move || {
                start.cross();
                let _command = gate.enter();
                // Exploration aid, no effect (slot 0 holds no subscription
                // to `j`): the table's lock is a step loom sees the reset
                // take, so it also tries this write before the reset's
                // change of the table. The table's map itself is not
                // modelled, and its lookup alone would not make loom try
                // that order.
                assert!(!hub.subscriptions().unsubscribe(&t("j"), 0));
                port.write(&WriteSet::from_pairs([(t("k"), t("2"))]));
            })
        };
        start.cross();
        shared.reset_store_and_sessions(&gate);
        worker.join().expect("the worker finishes");

        let write_came_after_reset = read(&*store, &["k"])[0].is_some();
        let mut notes: Vec<Note> = Vec::new();
        mergers[0].collect_ready(&mut notes);
        let expected = usize::from(!write_came_after_reset);
        assert_eq!(
            notes.len(),
            expected,
            "write after the reset: {write_came_after_reset}"
        );
    });
}
