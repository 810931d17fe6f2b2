//! One store operation at a time, for instruction counting: fills a store
//! with `--keys` keys, then runs `--ops` READs of 1 key, then of 2, then of
//! 3, then as many WRITEs of 1, 2 and 3 keys, each kind inside its own
//! function so that `callgrind` reports its inclusive cost apart
//! (`benches/callgrind.sh --ops` divides it by `--ops`).
//!
//! Every command's keys are distinct and drawn uniformly from the whole
//! store (all present), and its argument set is built before the timed
//! function runs, so a function's cost is the store call alone plus a loop
//! step: what the engine spends on one command.
//!
//! With `--held`, a snapshot taken after the fill stays open through the
//! operations, as a backup's does while it writes its file: each write
//! then keeps the version the snapshot reads (the lock-free engine), and
//! its count says what an open snapshot costs a write.
//!
//! ```text
//! cargo run --release --example opcount -- --engine mutex --keys 1000 --ops 20000
//! ```

mod countkit;

use clap::Parser;
use countkit::{fill, Draw};
use kvs::store::{Engine, KeySet, Store, WriteSet};
use kvs::token::{Token, Value};
use std::hint::black_box;

#[derive(Parser)]
struct Args {
    /// The engine to measure.
    #[arg(long, value_enum)]
    engine: Engine,
    /// Keys in the store before the operations start.
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..))]
    keys: u32,
    /// Operations of each kind.
    #[arg(long, default_value_t = 20_000)]
    ops: usize,
    /// Hold a snapshot, taken after the fill, open through the operations.
    #[arg(long)]
    held: bool,
}

fn reads(draw: &mut Draw, ops: usize, width: usize) -> Vec<KeySet> {
    (0..ops)
        .map(|_| KeySet::from_keys(draw.distinct(width)))
        .collect()
}

fn writes(draw: &mut Draw, ops: usize, width: usize, value: Value) -> Vec<WriteSet> {
    (0..ops)
        .map(|_| WriteSet::from_pairs(draw.distinct(width).into_iter().map(|k| (k, value))))
        .collect()
}

fn read_all(store: &dyn Store, sets: &[KeySet]) {
    let mut out = Vec::with_capacity(3);
    for set in sets {
        store.read(set, &mut out);
        black_box(&out);
    }
}

fn write_all(store: &dyn Store, sets: &[WriteSet]) {
    for set in sets {
        black_box(store.write(set));
    }
}

// One function per kind, never inlined, so that each is a row of its own in
// the profile (the names are what `benches/callgrind.sh --ops` looks for).
// Each passes its width to `black_box`, so that no two have the same code
// (the compiler would merge identical functions into one row).

#[inline(never)]
fn read_1_key(store: &dyn Store, sets: &[KeySet]) {
    black_box(1u8);
    read_all(store, sets)
}

#[inline(never)]
fn read_2_keys(store: &dyn Store, sets: &[KeySet]) {
    black_box(2u8);
    read_all(store, sets)
}

#[inline(never)]
fn read_3_keys(store: &dyn Store, sets: &[KeySet]) {
    black_box(3u8);
    read_all(store, sets)
}

#[inline(never)]
fn write_1_key(store: &dyn Store, sets: &[WriteSet]) {
    black_box(1u8);
    write_all(store, sets)
}

#[inline(never)]
fn write_2_keys(store: &dyn Store, sets: &[WriteSet]) {
    black_box(2u8);
    write_all(store, sets)
}

#[inline(never)]
fn write_3_keys(store: &dyn Store, sets: &[WriteSet]) {
    black_box(3u8);
    write_all(store, sets)
}

fn main() {
    let args = Args::parse();
    let store = args.engine.open();
    let value = Token::try_from("value").expect("a valid value");
    let other = Token::try_from("other").expect("a valid value");
    fill(&*store, args.keys, value);
    let snapshot = args.held.then(|| store.snapshot());

    let mut draw = Draw::new(0x9E37_79B9_7F4A_7C15, args.keys);
    let read_sets: Vec<Vec<KeySet>> = (1..=3).map(|w| reads(&mut draw, args.ops, w)).collect();
    let write_sets: Vec<Vec<WriteSet>> = (1..=3)
        .map(|w| writes(&mut draw, args.ops, w, other))
        .collect();

    read_1_key(&*store, &read_sets[0]);
    read_2_keys(&*store, &read_sets[1]);
    read_3_keys(&*store, &read_sets[2]);
    write_1_key(&*store, &write_sets[0]);
    write_2_keys(&*store, &write_sets[1]);
    write_3_keys(&*store, &write_sets[2]);
    drop(snapshot);
}
