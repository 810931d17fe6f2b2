//! The binaries' allocator: mimalloc, without transparent huge pages unless
//! asked for.
//!
//! Every binary, test and example built on this crate allocates through
//! mimalloc: a thread takes and frees small blocks from pages of its own,
//! without a lock, and a block freed by another thread (a version the
//! lock-free engine reclaims on whichever thread collects its epoch) goes
//! back to its page's list without one either. Against the C library's
//! malloc it saves the lock-free engine 489 instructions per job command
//! at 100k keys (`paper.md` §9.1); the mutex engine allocates nothing per
//! command. `--features system-allocator` builds with the C library's
//! malloc instead, for that comparison (experiments `allocator` and
//! `allocjobs`): on job files the two take the same time for both engines;
//! in `kvs-bench` mimalloc is the faster for the mutex engine at 100k and
//! 1M keys and the slower for the lock-free one, so the paper's comparison
//! keeps it, the baseline's choice.
//!
//! Where the kernel offers transparent huge pages on request, mimalloc asks
//! for them on all its memory. The binaries turn them off for their process
//! at start-up ([`settle_huge_pages`]), because of what they cost a server:
//! an idle one holds about 50 MiB instead of about 9 (a first touch of each
//! notification ring makes 2 MiB resident), and a huge page's first fault
//! can hold a pipe writer for milliseconds, long enough for a subscriber's
//! ring to fill and its session to end under a paced load it follows
//! easily without them (`paper.md`, *The allocator*). On job files at
//! 100k keys they save the lock-free engine about a tenth of its time and
//! cost the mutex engine about as much on one thread. The two huge pages
//! mimalloc touched before `main` stay (and are used);
//! `MIMALLOC_ALLOW_THP=0` in the environment avoids even those, and
//! `MIMALLOC_ALLOW_THP=1` keeps huge pages everywhere, which a large store
//! without subscribers may prefer.

/// The environment variable by which mimalloc's own option for transparent
/// huge pages is set; while it is unset, [`settle_huge_pages`] turns them
/// off.
pub const ALLOW_THP_VARIABLE: &str = "MIMALLOC_ALLOW_THP";

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (and the processes it
/// starts), unless [`ALLOW_THP_VARIABLE`] is set: then mimalloc follows it
/// (`1` keeps them, `0` turns them off itself). Called first thing by each
/// binary; the few pages mimalloc mapped before that are not made huge
/// afterwards, since the kernel checks the process's setting at each fault.
/// A kernel without the setting (before Linux 3.15) leaves them as they
/// are, which is logged, not fatal. Built with the C library's malloc,
/// which never asks for huge pages, it does nothing.
pub fn settle_huge_pages() {
    if cfg!(feature = "system-allocator") || std::env::var_os(ALLOW_THP_VARIABLE).is_some() {
        return;
    }
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(%error, "transparent huge pages left as the kernel sets them");
    }
}
