//! What one small allocation costs in resident memory under the crate's
//! global allocator (mimalloc as shipped, or `malloc` with
//! `--features system-allocator`): for each request size from 8 to 80
//! bytes, in a fresh process each, allocates a million blocks, writes to
//! each, and prints how much the resident set grew per block. The paper's §8.5 uses it to
//! say what shrinking a per-key allocation saves.
//!
//! ```text
//! cargo run --release --example blocksize
//! cargo run --release --example blocksize --features system-allocator
//! ```

use std::alloc::{alloc, dealloc, Layout};

/// Blocks per size: enough that the allocator's fixed costs vanish.
const BLOCKS: usize = 1_000_000;

fn main() -> anyhow::Result<()> {
    // As every binary of the crate starts (and so that the crate, with its
    // global allocator, is linked at all).
    kvs::allocator::settle_huge_pages();
    match std::env::args().nth(1) {
        Some(size) => measure(size.parse()?),
        None => table(),
    }
}

/// Runs this program once per size (a fresh heap each, so that no size
/// reuses another's freed pages) and prints the results as a table.
fn table() -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    println!("| request (bytes) | resident bytes per block |");
    println!("|---:|---:|");
    for size in (8..=80).step_by(8) {
        let out = std::process::Command::new(&me)
            .arg(size.to_string())
            .output()?;
        anyhow::ensure!(out.status.success(), "size {size}: {}", out.status);
        println!("| {size} | {} |", String::from_utf8(out.stdout)?.trim());
    }
    Ok(())
}

/// Allocates [`BLOCKS`] blocks of `size` bytes, writes to each, and prints
/// the resident set's growth per block.
fn measure(size: usize) -> anyhow::Result<()> {
    anyhow::ensure!(size > 0, "size must be positive");
    let layout = Layout::from_size_align(size, 8)?;
    // The pointers' own vector, made resident before the measurement.
    // (A zeroed vector's pages would become resident only as it is filled.)
    let mut blocks: Vec<*mut u8> = vec![std::ptr::NonNull::dangling().as_ptr(); BLOCKS];
    std::hint::black_box(&mut blocks);
    let before = resident_kib()?;
    for block in &mut blocks {
        // SAFETY: `layout`'s size is positive (checked above).
        let p = unsafe { alloc(layout) };
        anyhow::ensure!(!p.is_null(), "out of memory");
        // SAFETY: `p` points to `size` bytes just allocated; the write
        // makes the block resident.
        unsafe { p.write_bytes(1, size) };
        *block = p;
    }
    let grown = resident_kib()?.saturating_sub(before);
    println!("{:.1}", grown as f64 * 1024.0 / BLOCKS as f64);
    for block in blocks {
        // SAFETY: allocated above with the same layout, freed once.
        unsafe { dealloc(block, layout) };
    }
    Ok(())
}

/// The process's resident set (`VmRSS`), in KiB.
fn resident_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    let kib = line.split_whitespace().nth(1).unwrap_or_default();
    Ok(kib.parse()?)
}
