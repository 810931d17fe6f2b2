//! One notification's path, stage by stage, for instruction counting: the
//! deterministic companion of `kvs-bench --notify 1`, whose threads make
//! callgrind's totals vary with how they were scheduled.
//!
//! Fills a store with `--keys` keys and subscribes one session to every key,
//! then commits `--ops` WRITEs of 1, 2 and 3 keys in turn (two notes per
//! write on average) through a worker's real [`WorkerPort`], in batches of
//! `--batch` writes. After each batch the same thread does what the slot's
//! pipe writer and the client would: one merge round, the wire encoding of
//! every note, and the client's decoding of every record. A further
//! `--ops` WRITEs go straight to the store, for the commit's cost without
//! any of it. Each stage runs inside its own function, so that `callgrind`
//! reports its inclusive cost apart (`benches/callgrind.sh --notes` divides
//! it by `--ops`):
//!
//! | function | what it counts |
//! |---|---|
//! | `commit_plain` | `Store::write`, nobody told |
//! | `commit_notified` | `WorkerPort::write`: key-lock stripes, watermark gate, the store's commit, subscriber lookups, ring pushes, doorbell |
//! | `merge_round` | `Merger::collect_ready`: clock and watermark reads, ring drain, commit-order merge |
//! | `encode_notes` | the pipe writer's encoding, 82 bytes a note |
//! | `decode_notes` | the client's decoding of those bytes |
//!
//! What is left out: the kernel's pipe (one `write` and one `read` per
//! batch), the pipe writer's and the client's wake-ups, and the bench's own
//! timing. Those are what the whole-process count in
//! `results/notifycost/NOTES.md` adds.
//!
//! ```text
//! cargo run --release --example notecount -- --engine lockfree --keys 10000 --ops 60000
//! ```

mod countkit;

use clap::Parser;
use countkit::{fill, key, Draw};
use kvs::notify::subscriptions::Subscriber;
use kvs::notify::writer::Wire;
use kvs::notify::{self, Layout, Note, NoteMerger, WorkerPort};
use kvs::protocol::{decode_notification, NOTIFICATION_LEN};
use kvs::server::wire::PipeWire;
use kvs::store::{Commit, Engine, Store, WriteSet};
use kvs::token::{Token, Value};
use std::hint::black_box;

#[derive(Parser)]
struct Args {
    /// The engine to measure.
    #[arg(long, value_enum)]
    engine: Engine,
    /// Keys in the store, every one subscribed to.
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..))]
    keys: u32,
    /// Writes through the notification path, and as many straight to the
    /// store.
    #[arg(long, default_value_t = 60_000)]
    ops: usize,
    /// Writes between two merge rounds (the pipe writer's batch).
    #[arg(long, default_value_t = 32)]
    batch: usize,
}

/// Writes of 1, 2, 3, 1, ... distinct keys, drawn from `seed`.
fn writes(keys: u32, count: usize, value: Value, seed: u64) -> Vec<WriteSet> {
    let mut draw = Draw::new(seed, keys);
    (0..count)
        .map(|op| WriteSet::from_pairs(draw.distinct(op % 3 + 1).into_iter().map(|k| (k, value))))
        .collect()
}

// One function per stage, never inlined, so that each is a row of its own
// in the profile (the names are what `benches/callgrind.sh --notes` looks
// for).

#[inline(never)]
fn commit_plain(store: &dyn Store, sets: &[WriteSet]) {
    for set in sets {
        black_box(store.write(set));
    }
}

#[inline(never)]
fn commit_notified(port: &mut WorkerPort, sets: &[WriteSet]) {
    for set in sets {
        black_box(port.write(set));
    }
}

#[inline(never)]
fn merge_round(merger: &mut NoteMerger, ready: &mut Vec<Note>) {
    ready.clear();
    black_box(merger.collect_ready(ready));
}

#[inline(never)]
fn encode_notes(ready: &[Note], bytes: &mut Vec<u8>) {
    bytes.clear();
    for note in ready {
        PipeWire::encode(note, bytes);
    }
}

#[inline(never)]
fn decode_notes(bytes: &[u8]) {
    for record in bytes.chunks_exact(NOTIFICATION_LEN) {
        if let Ok(record) = <&[u8; NOTIFICATION_LEN]>::try_from(record) {
            black_box(decode_notification(record));
        }
    }
}

fn main() {
    let args = Args::parse();
    let store = args.engine.open();
    let value = Token::try_from("value").expect("a valid value");
    fill(&*store, args.keys, value);

    let batch = args.batch.max(1);
    let mut wiring = notify::build(
        store.clone(),
        Layout {
            sessions: 1,
            workers: 1,
            ring_capacity: batch * 3,
            max_subscriptions: args.keys as usize,
        },
    );
    let subscriber = Subscriber {
        slot: 0,
        generation: 1,
    };
    for i in 0..args.keys {
        wiring.hub.subscribe(key(i), subscriber);
    }
    let (mut port, mut merger) = (wiring.ports.remove(0), wiring.mergers.remove(0));

    let other = Token::try_from("other").expect("a valid value");
    commit_plain(
        &*store,
        &writes(args.keys, args.ops, other, 0x2545_F491_4F6C_DD1D),
    );
    let notified = writes(args.keys, args.ops, other, 0x9E37_79B9_7F4A_7C15);
    let (mut ready, mut bytes) = (Vec::new(), Vec::new());
    let mut delivered = 0;
    for sets in notified.chunks(batch) {
        commit_notified(&mut port, sets);
        merge_round(&mut merger, &mut ready);
        encode_notes(&ready, &mut bytes);
        decode_notes(&bytes);
        delivered += ready.len();
    }
    eprintln!("{} writes, {delivered} notes delivered", args.ops);
}
