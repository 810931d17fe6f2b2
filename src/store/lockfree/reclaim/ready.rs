//! Chains whose grace period has passed, freed a few versions at a time.
//!
//! crossbeam-epoch runs deferred closures in batches, inside whichever
//! thread's pin happens to collect: up to 8 bags of 64 closures at once.
//! And a pruned chain is as long as the writes a snapshot's seat held back
//! on its key. If the closure freed its chain, one unlucky command would
//! pay for all of that at once (the write tail under backups, `paper.md`
//! §8.2). So the closure only moves its chain onto the ready list of the
//! thread that runs it, and every operation of that thread frees at most a
//! small budget of versions from the list (`free_some`), after its own work
//! and outside its pin; a snapshot's thread frees its whole list once it
//! gives up its seat (`free_some(usize::MAX)`), off every writer's path.
//!
//! A thread receives chains whenever one of its pins collects, not in
//! proportion to what it frees: a thread that rarely runs an operation
//! (a session's manager, whose only store operation is a subscription's
//! read) or one that re-pins while it waits could otherwise gather chains
//! it never frees. So a list holds at most [`MAX_WAITING_CHAINS`] chains;
//! a chain that finds it full is freed at once, as before the list.
//!
//! Freeing later than the grace period allows is always safe: nothing can
//! reach a chain once its grace has passed, and the list only delays the
//! free further. The list is this thread's alone, so it takes no atomic
//! and no lock; it is a plain stack, since which chain goes first does not
//! matter.
//!
//! Invariant: every chain on a list has passed its grace period, and the
//! list is its only owner; its first versions may already be freed, in
//! which case the list holds the rest (the cursor). Each chain keeps the
//! `live` counter of the store it came from, which it decrements by what
//! is freed. A thread that exits frees its whole list.

use super::super::version::{self, Blocks, Version};
use crate::sync::stat::Counter;
use std::cell::RefCell;
use std::sync::Arc;

/// The most chains a thread's ready list holds (see the module docs).
const MAX_WAITING_CHAINS: usize = 4096;

/// A chain on a ready list: the part not freed yet, and its store's
/// count of live versions.
struct ReadyChain {
    rest: *mut Version,
    live: Arc<Counter>,
}

impl ReadyChain {
    /// Frees at most `limit` versions from the front of the chain,
    /// returning how many; the chain keeps the rest.
    fn free_front(&mut self, limit: usize) -> usize {
        // SAFETY: per the module's invariant the chain is past its grace
        // period and owned by this list alone.
        let (freed, rest) = unsafe { version::free_chain_prefix(self.rest, limit, Blocks::Reuse) };
        self.rest = rest;
        self.live.add(-(freed as isize));
        freed
    }

    fn is_empty(&self) -> bool {
        version::is_chain_end(self.rest)
    }
}

/// One thread's chains waiting to be freed.
#[derive(Default)]
struct ReadyList(Vec<ReadyChain>);

impl ReadyList {
    /// Frees at most `budget` versions, emptying chains from the top of
    /// the stack; returns how many it freed.
    fn free_some(&mut self, budget: usize) -> usize {
        let mut freed = 0;
        while freed < budget {
            let Some(chain) = self.0.last_mut() else {
                break;
            };
            freed += chain.free_front(budget - freed);
            if chain.is_empty() {
                self.0.pop();
            }
        }
        freed
    }
}

impl Drop for ReadyList {
    fn drop(&mut self) {
        self.free_some(usize::MAX);
    }
}

thread_local! {
    static READY: RefCell<ReadyList> = RefCell::new(ReadyList::default());
}

/// Puts a chain whose grace period has passed on this thread's ready list,
/// or frees it at once if the list is full or not usable (the thread is
/// exiting, or the list is being worked on further up this thread's
/// stack).
///
/// # Safety
/// The chain from `first` is past its grace period: unlinked from every
/// entry, out of every thread's reach, and owned by the caller alone.
pub(super) unsafe fn push(first: *mut Version, live: Arc<Counter>) {
    let mut chain = Some(ReadyChain { rest: first, live });
    let _ = READY.try_with(|ready| {
        if let Ok(mut ready) = ready.try_borrow_mut() {
            if ready.0.len() < MAX_WAITING_CHAINS {
                ready.0.extend(chain.take());
            }
        }
    });
    if let Some(mut chain) = chain {
        chain.free_front(usize::MAX);
    }
}

/// Frees at most `budget` versions from this thread's ready list; returns
/// how many.
pub(super) fn free_some(budget: usize) -> usize {
    READY
        .try_with(|ready| {
            ready
                .try_borrow_mut()
                .map_or(0, |mut ready| ready.free_some(budget))
        })
        .unwrap_or(0)
}

/// How many chains this thread's ready list holds (tests).
#[cfg(test)]
pub(super) fn chains_waiting() -> usize {
    READY.with(|ready| ready.borrow().0.len())
}

#[cfg(test)]
mod tests {
    use super::super::Reclaimer;
    use super::*;

    /// A detached chain of `len` versions, counted live in `live`.
    fn chain(len: usize, live: &Counter) -> *mut Version {
        let mut first = version::marker();
        for _ in 0..len {
            let v = version::alloc(None, std::ptr::null());
            // Relaxed: the chain is unpublished, ours alone.
            // SAFETY: `v` was just allocated and is ours.
            unsafe { (*v).next.store(first, crate::sync::Ordering::Relaxed) };
            first = v;
        }
        live.add(len as isize);
        first
    }

    #[test]
    fn each_call_frees_at_most_its_budget_and_resumes_where_it_stopped() {
        let live = Arc::new(Counter::default());
        // SAFETY: fresh chains, never published, pushed once.
        unsafe {
            push(chain(5, &live), Arc::clone(&live));
            push(chain(3, &live), Arc::clone(&live));
        }
        assert_eq!(live.sum(), 8);
        assert_eq!(free_some(2), 2);
        assert_eq!(live.sum(), 6);
        assert_eq!(free_some(4), 4, "the rest of one chain, then the next");
        assert_eq!(chains_waiting(), 1);
        assert_eq!(free_some(100), 2);
        assert_eq!(live.sum(), 0);
        assert_eq!(chains_waiting(), 0);
        assert_eq!(free_some(1), 0);
    }

    /// Each store operation frees at most its budget from its thread's
    /// list, after its work, and repeated operations free the whole list.
    #[test]
    fn each_store_operation_frees_its_budget_of_waiting_versions() {
        use crate::store::lockfree::LockFreeStore;
        use crate::store::{Store, WriteSet};
        use crate::token::Token;
        let store = LockFreeStore::new();
        let key = Token::try_from("k").unwrap();
        let write = || store.write(&WriteSet::from_pairs([(key, key)]));
        let live = Arc::new(Counter::default());
        const LEN: usize = 100;
        // SAFETY: a fresh chain, never published, pushed once.
        unsafe { push(chain(LEN, &live), Arc::clone(&live)) };
        let budget = Reclaimer::free_budget(1) as isize;
        let mut writes = 0;
        while live.sum() > 0 && writes < 10_000 {
            let before = live.sum();
            write();
            writes += 1;
            let freed = before - live.sum();
            // Chains other threads' stores retire may land on this list
            // (this thread's pins run crossbeam's collections) and take
            // part of a budget, so a write may free fewer of ours.
            assert!(freed <= budget, "one write freed {freed} > {budget}");
        }
        assert_eq!(live.sum(), 0, "the list was not freed by {writes} writes");
        assert!(writes >= LEN / budget as usize);
    }

    #[test]
    fn a_chain_that_finds_the_list_full_is_freed_at_once() {
        let live = Arc::new(Counter::default());
        let counted = Arc::clone(&live);
        std::thread::spawn(move || {
            for _ in 0..MAX_WAITING_CHAINS + 3 {
                // SAFETY: fresh chains, never published, pushed once.
                unsafe { push(chain(2, &counted), Arc::clone(&counted)) };
            }
            assert_eq!(chains_waiting(), MAX_WAITING_CHAINS);
            assert_eq!(counted.sum(), 2 * MAX_WAITING_CHAINS as isize);
        })
        .join()
        .unwrap();
        assert_eq!(live.sum(), 0);
    }

    #[test]
    fn an_exiting_thread_frees_its_whole_list() {
        let live = Arc::new(Counter::default());
        let counted = Arc::clone(&live);
        std::thread::spawn(move || {
            // SAFETY: a fresh chain, never published, pushed once.
            unsafe { push(chain(4, &counted), Arc::clone(&counted)) };
            assert_eq!(free_some(1), 1);
        })
        .join()
        .unwrap();
        assert_eq!(live.sum(), 0);
    }
}
