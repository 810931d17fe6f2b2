//! Unit tests of versions, records and their state words.

use super::*;

#[test]
fn a_freed_block_is_reused_by_its_thread_and_released_at_teardown() {
    let first = alloc(None, std::ptr::null());
    let pooled = pool::len(&pool::VERSIONS);
    // SAFETY: never published; ours alone.
    assert_eq!(unsafe { free_chain(first, Blocks::Reuse) }, 1);
    assert_eq!(pool::len(&pool::VERSIONS), pooled + 1, "the block is kept");
    let again = alloc(Value::try_from("v").ok(), std::ptr::null());
    assert_eq!(pool::len(&pool::VERSIONS), pooled, "and handed out again");
    // SAFETY: `alloc` built a fresh version in it.
    assert_eq!(unsafe { &*again }.value(), Value::try_from("v").ok());
    // SAFETY: as above.
    assert_eq!(unsafe { free_chain(again, Blocks::Release) }, 1);
    assert_eq!(
        pool::len(&pool::VERSIONS),
        pooled,
        "a teardown returns blocks to the allocator"
    );
}

fn pending(min: Timestamp, ready: bool) -> State {
    State::Pending { min, ready }
}

#[test]
fn a_push_before_commit_raises_the_timestamp() {
    let record = Record::new();
    assert!(!record.resolve_at(7));
    assert_eq!(record.state(), pending(8, false));
    record.mark_ready(0);
    assert_eq!(record.commit(record.state(), || 3), Some(8));
    assert!(!record.resolve_at(7));
    assert!(record.resolve_at(8));
}

#[test]
fn a_commit_before_the_push_is_read_not_overwritten() {
    let record = Record::new();
    record.mark_ready(0);
    assert_eq!(record.commit(record.state(), || 5), Some(5));
    assert!(record.resolve_at(5));
    assert!(!record.resolve_at(4));
    assert_eq!(record.state(), State::Committed { ts: 5 });
}

#[test]
fn the_owner_commits_from_its_mark_past_a_later_push() {
    let record = Record::new();
    let marked = record.mark_ready(2);
    assert_eq!(marked, pending(2, true));
    assert!(!record.resolve_at(6), "a reader pushes after the mark");
    assert_eq!(record.commit(marked, || 3), Some(7));
    assert!(record.resolve_at(7) && !record.resolve_at(6));
}

#[test]
fn a_ready_state_the_word_never_held_commits_nothing() {
    let record = Record::new();
    assert_eq!(record.commit(pending(5, true), || 6), None);
    assert_eq!(record.state(), pending(0, false));
}

#[test]
fn a_record_not_ready_is_not_committed_and_takes_no_tick() {
    let record = Record::new();
    assert_eq!(
        record.commit(record.state(), || unreachable!("no tick")),
        None
    );
    assert_eq!(record.state(), pending(0, false));
}

#[test]
fn a_record_not_ready_is_aborted_past_pushes_and_stays_aborted() {
    let record = Record::new();
    let seen = record.state();
    assert!(!record.resolve_at(4), "pushed to 5");
    assert!(record.abort(seen), "the abort reads the push and wins");
    assert_eq!(record.state(), State::Aborted);
    assert!(!record.abort(State::Aborted), "aborted once");
    assert!(!record.resolve_at(u64::MAX >> 3), "never visible");
    assert_eq!(record.mark_ready(2), State::Aborted, "the owner learns");
    assert_eq!(record.state(), State::Aborted, "and does not undo it");
    assert_eq!(
        record.commit(State::Aborted, || unreachable!("no tick")),
        None
    );
}

#[test]
fn a_ready_record_is_not_aborted() {
    let record = Record::new();
    let seen = record.state();
    record.mark_ready(3);
    assert!(!record.abort(seen), "the mark came first");
    assert_eq!(record.state(), pending(3, true));
    assert_eq!(record.commit(record.state(), || 4), Some(4));
    assert!(!record.abort(seen), "nor a committed one");
    assert_eq!(record.state(), State::Committed { ts: 4 });
}

#[test]
fn a_version_settled_aborted_is_never_visible_and_names_no_record() {
    let shared = Record::new();
    let version = Version::new(None, &shared);
    assert!(shared.abort(shared.state()));
    assert_eq!(version.state(), State::Aborted, "through the shared record");
    version.settle(State::Aborted);
    assert!(Record::named(version.own.word()).is_none());
    assert_eq!(version.state(), State::Aborted);
    assert!(!version.visible_at(u64::MAX >> 3));
}

#[test]
fn the_owners_lower_bound_and_pushes_keep_each_other() {
    let record = Record::new();
    assert!(!record.resolve_at(4));
    record.mark_ready(3);
    assert_eq!(record.state(), pending(5, true), "the push is kept");
    assert!(!record.resolve_at(8));
    assert_eq!(record.state(), pending(9, true), "ready survives a push");
    let other = Record::new();
    other.mark_ready(6);
    assert_eq!(other.state(), pending(6, true), "the owner's bound counts");
    assert_eq!(other.commit(other.state(), || 2), Some(6));
}

#[test]
fn the_second_committer_reads_the_first_ones_timestamp() {
    let record = Record::new();
    record.mark_ready(0);
    assert_eq!(record.commit(record.state(), || 4), Some(4));
    assert_eq!(
        record.commit(record.state(), || unreachable!("no tick")),
        Some(4)
    );
}

/// Commits the command of `version` from a fresh look at it, as a
/// helper does.
fn commit_seen(version: &Version, tick: impl FnOnce() -> Timestamp) -> Option<Timestamp> {
    let look = version.look();
    look.record.commit(look.state, tick)
}

#[test]
fn a_version_is_one_allocator_block_of_64_bytes() {
    assert_eq!(std::mem::size_of::<Version>(), 64);
}

#[test]
fn a_one_key_version_is_its_own_record() {
    let version = Version::new(None, std::ptr::null());
    assert!(!version.visible_at(4));
    assert_eq!(version.state(), pending(5, false));
    // SAFETY: a one-key version (no shared record).
    unsafe { version.owners_record(std::ptr::null()) }.mark_ready(0);
    assert_eq!(commit_seen(&version, || 2), Some(5));
    assert!(version.visible_at(5));
    assert_eq!(version.state(), State::Committed { ts: 5 });
}

#[test]
fn versions_sharing_a_record_commit_together_and_settle_to_it() {
    let shared = Record::new();
    let a = Version::new(None, &shared);
    let b = Version::new(None, &shared);
    // A push through one version is a push on the shared record.
    assert!(!a.visible_at(6));
    assert_eq!(b.state(), pending(7, false));
    // Marked ready by the owner, committed through a look at the other.
    // SAFETY: `shared` is the live record both were made with.
    unsafe { a.owners_record(&shared) }.mark_ready(0);
    assert_eq!(commit_seen(&b, || 3), Some(7));
    // Committed but not settled: both answer through the shared record.
    assert!(a.visible_at(7) && !a.visible_at(6));
    a.settle(State::Committed { ts: 7 });
    b.settle(State::Committed { ts: 7 });
    assert_eq!(a.own.state(), State::Committed { ts: 7 });
    assert_eq!(b.state(), State::Committed { ts: 7 });
    assert!(b.visible_at(7) && !b.visible_at(6));
    assert_eq!(commit_seen(&a, || unreachable!("no tick")), Some(7));
    assert!(
        std::ptr::eq(a.look().record, &a.own),
        "settled: asks its own word"
    );
}

#[test]
fn pushes_only_raise_the_minimum() {
    let record = Record::new();
    assert!(!record.resolve_at(9));
    assert!(!record.resolve_at(2));
    assert_eq!(record.state(), pending(10, false));
}

/// A demanded minimum that would reach the address bit is refused (in
/// debug builds) rather than read later as a shared record's address.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "a minimum overflowed into the state word's flags")]
fn a_minimum_at_the_address_bit_is_refused() {
    let version = Version::new(None, std::ptr::null());
    version.visible_at((1 << 61) - 1);
}
