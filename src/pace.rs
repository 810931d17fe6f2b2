//! Long background work (a backup: walking the store, sorting its pairs,
//! writing the file, freeing its buffer) hands the processor back at short
//! intervals.
//!
//! Invariant: between two yields a paced task does a bounded amount of
//! work (so many entries, comparisons or bytes), whatever its scheduling
//! priority.
//!
//! Why (our reading of the traces of paper §8.2): Linux's fair scheduler
//! takes a core from a running thread for another only when that other
//! thread wakes up, or at the running thread's tick (250 Hz on the machine
//! measured, whose kernel also does not pre-empt a system call). A worker
//! that is runnable without having just woken (it yields the core while it
//! waits, or its short sleep ended before it left the core) was seen
//! waiting 1 to 5 ms, runnable, while a backup writer, even one at
//! `SCHED_IDLE`, ran on its core, and behind the writer's long system
//! calls. A writer that yields often, and makes no long system call,
//! bounds that wait, at the price of one system call per interval.

use crate::sync::thread;
use crate::token::{Key, Value};

/// Key comparisons a sort makes between two yields.
const COMPARISONS_PER_YIELD: u32 = 4096;

/// Pairs a pass over sorted pairs reads between two yields.
const PAIRS_PER_YIELD: u32 = 16_384;

/// Bytes of a large buffer given back to the kernel between two yields.
const RELEASE_BYTES_PER_YIELD: usize = 1 << 20;

/// The smallest page size Linux uses.
pub(crate) const PAGE_BYTES: usize = 4096;

/// How many of the pages holding the `bytes` bytes from `start` are
/// resident (`mincore(2)`), and how many pages there are.
#[cfg(all(test, not(feature = "loom")))]
pub(crate) fn resident_pages(start: *const u8, bytes: usize) -> (usize, usize) {
    let first = start as usize / PAGE_BYTES * PAGE_BYTES;
    let pages = (start as usize + bytes - first).div_ceil(PAGE_BYTES);
    let mut resident = vec![0u8; pages];
    // SAFETY: [first, first + pages pages) lies within the mapping that
    // holds the buffer (whole pages of it), and `resident` has one byte per
    // page for the kernel to fill.
    let status = unsafe {
        libc::mincore(
            first as *mut libc::c_void,
            pages * PAGE_BYTES,
            resident.as_mut_ptr(),
        )
    };
    assert_eq!(status, 0, "mincore: {}", std::io::Error::last_os_error());
    (
        resident.iter().filter(|&&page| page & 1 == 1).count(),
        pages,
    )
}

/// Counts units of work and yields the processor after every `every`.
#[derive(Debug)]
pub struct Pacer {
    every: u32,
    done: u32,
}

impl Pacer {
    /// A pacer that yields after every `every` units (at least one).
    pub fn every(every: u32) -> Self {
        Self {
            every: every.max(1),
            done: 0,
        }
    }

    /// Counts one unit; returns whether this one ended an interval, after
    /// yielding.
    #[inline]
    pub fn step(&mut self) -> bool {
        let due = self.due();
        if due {
            thread::yield_now();
        }
        due
    }

    /// Counts one unit and returns whether this one ended an interval,
    /// without yielding: for a caller that yields its own way (unpinned,
    /// say).
    #[inline]
    pub fn due(&mut self) -> bool {
        self.done += 1;
        if self.done < self.every {
            return false;
        }
        self.done = 0;
        true
    }
}

/// Drops `buffer`, first giving its memory back to the kernel a megabyte at
/// a time (`madvise(MADV_DONTNEED)`) with a yield after each, so that
/// freeing a large buffer is not one long system call: unmapping a backup's
/// 85 MB of pairs at once took 1.8 to 14 ms (traced), during which the core
/// and the address space's lock stay taken. A buffer of a few megabytes or
/// less is simply dropped.
pub fn release<T: Copy>(mut buffer: Vec<T>) {
    give_back_pages(&mut buffer);
}

/// Empties `buffer` and, if it holds at least four megabytes, gives its
/// pages back to the kernel a megabyte at a time with a yield after each;
/// its capacity stays, now backed by zero-filled pages on next touch.
pub(crate) fn give_back_pages<T: Copy>(buffer: &mut Vec<T>) {
    buffer.clear();
    let bytes = buffer.capacity() * std::mem::size_of::<T>();
    if bytes < 4 * RELEASE_BYTES_PER_YIELD {
        return;
    }
    for (at, len) in release_steps(buffer.as_ptr() as usize, bytes) {
        // The buffer holds no element any more (`T: Copy` has no destructor
        // to run); a failure leaves the pages to the buffer's free.
        // SAFETY: [at, at + len) is whole pages of `buffer`'s allocation
        // (`release_steps`); the kernel only zero-fills them on next touch.
        let _ = unsafe { libc::madvise(at as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        thread::yield_now();
    }
}

/// The whole pages of the `bytes` bytes from `start`, as (address, length)
/// steps of at most [`RELEASE_BYTES_PER_YIELD`], in order.
fn release_steps(start: usize, bytes: usize) -> impl Iterator<Item = (usize, usize)> {
    let end = (start + bytes) / PAGE_BYTES * PAGE_BYTES;
    let first = start.next_multiple_of(PAGE_BYTES).min(end);
    (first..end)
        .step_by(RELEASE_BYTES_PER_YIELD)
        .map(move |at| (at, RELEASE_BYTES_PER_YIELD.min(end - at)))
}

/// Removes every pair but the first of each run with one key from sorted
/// `pairs`, yielding every 16,384 pairs (`PAIRS_PER_YIELD`).
pub fn dedup_sorted_pairs(pairs: &mut Vec<(Key, Value)>) {
    let mut pacer = Pacer::every(PAIRS_PER_YIELD);
    let mut kept = 0;
    for next in 0..pairs.len() {
        pacer.step();
        if kept == 0 || pairs[kept - 1].0 != pairs[next].0 {
            pairs[kept] = pairs[next];
            kept += 1;
        }
    }
    pairs.truncate(kept);
}

/// Sorts `pairs` by key (not stably; keys are expected unique), yielding
/// after every 4,096 comparisons (`COMPARISONS_PER_YIELD`): a million pairs take
/// hundreds of milliseconds to sort.
pub fn sort_pairs(pairs: &mut [(Key, Value)]) {
    let mut pacer = Pacer::every(COMPARISONS_PER_YIELD);
    pairs.sort_unstable_by(|a, b| {
        pacer.step();
        a.0.cmp(&b.0)
    });
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::key;

    #[test]
    fn a_pacer_ends_an_interval_after_every_n_steps() {
        let mut pacer = Pacer::every(3);
        let ends: Vec<bool> = (0..7).map(|_| pacer.step()).collect();
        assert_eq!(ends, [false, false, true, false, false, true, false]);
    }

    #[test]
    fn a_pacer_of_zero_ends_an_interval_at_every_step() {
        let mut pacer = Pacer::every(0);
        assert!((0..3).all(|_| pacer.step()));
    }

    #[test]
    fn deduplicating_keeps_the_first_pair_of_each_key_in_order() {
        let pair = |k: &str, v: &str| (key(k), key(v));
        let mut pairs = vec![
            pair("a", "1"),
            pair("a", "2"),
            pair("b", "3"),
            pair("c", "4"),
            pair("c", "5"),
            pair("c", "6"),
        ];
        dedup_sorted_pairs(&mut pairs);
        assert_eq!(pairs, [pair("a", "1"), pair("b", "3"), pair("c", "4")]);
        let mut none: Vec<(Key, Value)> = Vec::new();
        dedup_sorted_pairs(&mut none);
        assert!(none.is_empty());
    }

    /// The steps cover exactly the whole pages inside the buffer, a
    /// megabyte at most each, without gaps.
    #[test]
    fn release_steps_cover_the_whole_pages_inside_the_buffer() {
        let start = 3 * PAGE_BYTES + 16;
        let bytes = 5 * RELEASE_BYTES_PER_YIELD + 100;
        let steps: Vec<(usize, usize)> = release_steps(start, bytes).collect();
        assert_eq!(steps.first().map(|step| step.0), Some(4 * PAGE_BYTES));
        let (last, len) = *steps.last().unwrap();
        assert_eq!(last + len, (start + bytes) / PAGE_BYTES * PAGE_BYTES);
        for pair in steps.windows(2) {
            assert_eq!(pair[0].0 + pair[0].1, pair[1].0, "a gap or an overlap");
        }
        assert!(steps.iter().all(|&(at, len)| at % PAGE_BYTES == 0
            && len % PAGE_BYTES == 0
            && (1..=RELEASE_BYTES_PER_YIELD).contains(&len)));
        assert_eq!(release_steps(16, PAGE_BYTES).count(), 0, "no whole page");
    }

    fn pairs_of(bytes: usize) -> Vec<(Key, Value)> {
        vec![(key("k"), key("v")); bytes / std::mem::size_of::<(Key, Value)>()]
    }

    /// 64 MiB of written pairs are resident; given back, none is (but
    /// perhaps the partial pages at either end).
    #[test]
    fn a_large_buffer_given_back_keeps_no_page_resident() {
        let mut buffer = pairs_of(64 << 20);
        let bytes = buffer.capacity() * std::mem::size_of::<(Key, Value)>();
        let (before, pages) = resident_pages(buffer.as_ptr().cast(), bytes);
        assert_eq!(before, pages, "written pages are resident");
        give_back_pages(&mut buffer);
        let (after, _) = resident_pages(buffer.as_ptr().cast(), bytes);
        assert!(after <= 2, "{after} of {pages} pages still resident");
        assert!(buffer.is_empty());
    }

    /// A buffer under four megabytes is only emptied: giving back its few
    /// pages would cost more system calls than the free saves.
    #[test]
    fn a_small_buffer_given_back_keeps_its_pages() {
        let mut buffer = pairs_of(2 << 20);
        let bytes = buffer.capacity() * std::mem::size_of::<(Key, Value)>();
        give_back_pages(&mut buffer);
        let (after, pages) = resident_pages(buffer.as_ptr().cast(), bytes);
        assert_eq!(after, pages);
        assert!(buffer.is_empty());
    }

    #[test]
    fn sorting_pairs_orders_them_by_key() {
        let mut pairs: Vec<(Key, Value)> = (0..10_000u32)
            .map(|i| {
                (
                    key(&format!("k{}", (i * 7919) % 10_000)),
                    key(&format!("v{i}")),
                )
            })
            .collect();
        let mut expected = pairs.clone();
        expected.sort_by_key(|pair| pair.0);
        sort_pairs(&mut pairs);
        assert_eq!(pairs, expected);
    }
}
