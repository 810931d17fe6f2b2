//! Under loom, blocks go straight back to the allocator: the models check
//! the synchronization, which the pool (`pool.rs`) does not take part in.

/// Stands in for a free list.
pub(super) struct List;
pub(super) static VERSIONS: List = List;
pub(super) static RECORDS: List = List;

pub(super) fn make<T>(_list: &List, value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// # Safety
/// `block` came from [`make`], holds a live value, and nothing
/// references it any more.
pub(super) unsafe fn give<T>(_list: &List, block: *mut T) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(block) });
}
