//! Concurrent transfers that keep sums constant: every multi-key `read` and
//! every snapshot must see the sums hold, for every engine.
//!
//! Two kinds of writers run at once:
//! * owners: each owns a group of keys interleaved in key order with the
//!   other owners' groups, and moves amounts inside its group with one
//!   multi-key write (it knows its own balances, so no read is needed);
//! * resetters: all write the whole shared group at once with a new random
//!   split of the same total, so they conflict on every key.
//!
//! A torn read or snapshot would show a sum off its constant.

#![cfg(not(feature = "loom"))]

mod common;

use common::stop::StopOnDrop;
use kvs::store::{Engine, KeySet, Store, WriteSet};
use kvs::token::Token;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const OWNERS: usize = 3;
const PER_OWNER: usize = 3;
const SHARED: usize = 4;
const OWNER_TOTAL: u64 = 300;
const SHARED_TOTAL: u64 = 1000;
const ROUNDS: u64 = 20_000;

fn t(s: &str) -> Token {
    Token::try_from(s).unwrap()
}

fn owned_key(owner: usize, i: usize) -> Token {
    // Interleaved: owner 0 has o0, o3, o6; owner 1 has o1, o4, o7; ...
    t(&format!("o{}", i * OWNERS + owner))
}

fn shared_key(i: usize) -> Token {
    t(&format!("s{i}"))
}

fn num(v: Token) -> u64 {
    std::str::from_utf8(v.as_bytes()).unwrap().parse().unwrap()
}

/// A small deterministic generator (no shared state between threads).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn split(rng: &mut Lcg, total: u64, parts: usize) -> Vec<u64> {
    let mut cuts: Vec<u64> = (0..parts - 1).map(|_| rng.next() % (total + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(parts);
    let mut last = 0;
    for cut in cuts {
        out.push(cut - last);
        last = cut;
    }
    out.push(total - last);
    out
}

fn write_group(store: &dyn Store, keys: &[Token], values: &[u64]) {
    let set = WriteSet::from_pairs(
        keys.iter()
            .zip(values)
            .map(|(k, v)| (*k, t(&v.to_string()))),
    );
    store.write(&set);
}

fn all_keys() -> Vec<Token> {
    let mut keys: Vec<Token> = (0..OWNERS)
        .flat_map(|o| (0..PER_OWNER).map(move |i| owned_key(o, i)))
        .collect();
    keys.extend((0..SHARED).map(shared_key));
    keys
}

/// Checks both sums over `(key, value)` pairs; panics with the pairs if off.
fn check(pairs: &[(Token, u64)], what: &str) {
    let owned: u64 = pairs
        .iter()
        .filter(|(k, _)| k.as_bytes()[0] == b'o')
        .map(|(_, v)| v)
        .sum();
    let shared: u64 = pairs
        .iter()
        .filter(|(k, _)| k.as_bytes()[0] == b's')
        .map(|(_, v)| v)
        .sum();
    assert_eq!(owned, OWNER_TOTAL * OWNERS as u64, "{what} torn: {pairs:?}");
    assert_eq!(shared, SHARED_TOTAL, "{what} torn: {pairs:?}");
}

fn run(engine: Engine) {
    let store = engine.open();
    for owner in 0..OWNERS {
        let keys: Vec<Token> = (0..PER_OWNER).map(|i| owned_key(owner, i)).collect();
        let mut values = vec![0; PER_OWNER];
        values[0] = OWNER_TOTAL;
        write_group(&*store, &keys, &values);
    }
    let shared: Vec<Token> = (0..SHARED).map(shared_key).collect();
    let mut initial = vec![0; SHARED];
    initial[0] = SHARED_TOTAL;
    write_group(&*store, &shared, &initial);

    let done = Arc::new(AtomicBool::new(false));
    // Every thread starts at once, the checkers spawned first, so that no
    // writer can finish before a checker has looked; waiting is each
    // thread's first step, before anything that could panic.
    // The owners' writers, the two resetters, the two checkers.
    let start = Arc::new(std::sync::Barrier::new(OWNERS + 2 + 2));
    let reader = {
        let (store, done, start) = (Arc::clone(&store), Arc::clone(&done), Arc::clone(&start));
        std::thread::spawn(move || {
            start.wait();
            let keys = KeySet::from_keys(all_keys());
            let mut out = Vec::new();
            let mut seen = Seen::default();
            // Relaxed: a stop flag; the join below orders everything.
            while !done.load(Ordering::Relaxed) {
                store.read(&keys, &mut out);
                let pairs: Vec<(Token, u64)> = keys
                    .keys()
                    .iter()
                    .zip(&out)
                    .map(|(k, v)| (*k, num(v.expect("every key is always present"))))
                    .collect();
                check(&pairs, "read");
                seen.record(pairs);
            }
            seen.changes
        })
    };
    let snapshotter = {
        let (store, done, start) = (Arc::clone(&store), Arc::clone(&done), Arc::clone(&start));
        std::thread::spawn(move || {
            start.wait();
            let mut seen = Seen::default();
            // Relaxed: a stop flag; the join below orders everything.
            while !done.load(Ordering::Relaxed) {
                let pairs: Vec<(Token, u64)> = store
                    .snapshot()
                    .into_sorted_pairs()
                    .into_iter()
                    .map(|(k, v)| (k, num(v)))
                    .collect();
                assert_eq!(pairs.len(), OWNERS * PER_OWNER + SHARED);
                assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "unsorted");
                check(&pairs, "snapshot");
                seen.record(pairs);
            }
            seen.changes
        })
    };
    let mut writers = Vec::new();
    for owner in 0..OWNERS {
        let store = Arc::clone(&store);
        let start = Arc::clone(&start);
        writers.push(std::thread::spawn(move || {
            start.wait();
            let keys: Vec<Token> = (0..PER_OWNER).map(|i| owned_key(owner, i)).collect();
            let mut rng = Lcg(owner as u64 + 1);
            for _ in 0..ROUNDS {
                write_group(&*store, &keys, &split(&mut rng, OWNER_TOTAL, PER_OWNER));
            }
        }));
    }
    for resetter in 0..2 {
        let store = Arc::clone(&store);
        let shared = shared.clone();
        let start = Arc::clone(&start);
        writers.push(std::thread::spawn(move || {
            start.wait();
            let mut rng = Lcg(100 + resetter);
            for _ in 0..ROUNDS {
                write_group(&*store, &shared, &split(&mut rng, SHARED_TOTAL, SHARED));
            }
        }));
    }
    // Stops the checkers even if a writer's join panics.
    let stop = StopOnDrop(&done);
    for writer in writers {
        writer.join().unwrap();
    }
    drop(stop);
    let read_changes = reader.join().unwrap();
    let snapshot_changes = snapshotter.join().unwrap();
    // A checker that only ever saw one state ran beside no write, and its
    // checks proved nothing about torn states.
    assert!(
        read_changes > 0 && snapshot_changes > 0,
        "{engine:?}: the checks never overlapped a write \
         ({read_changes} read changes, {snapshot_changes} snapshot changes)"
    );
}

/// How often a checker saw the state differ from its previous look.
#[derive(Default)]
struct Seen {
    last: Option<Vec<(Token, u64)>>,
    changes: u64,
}

impl Seen {
    fn record(&mut self, pairs: Vec<(Token, u64)>) {
        if self.last.as_ref().is_some_and(|last| *last != pairs) {
            self.changes += 1;
        }
        self.last = Some(pairs);
    }
}

#[test]
fn transfers_keep_their_sums_for_every_reader_and_snapshot() {
    for engine in Engine::ALL {
        run(engine);
    }
}
