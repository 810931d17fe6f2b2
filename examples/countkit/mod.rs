//! What the instruction-counting examples (`opcount`, `notecount`) share:
//! their keys, a store filled with them, and a cheap seeded draw of key
//! sets, so that a count is the same from run to run.

use kvs::store::{Store, WriteSet};
use kvs::token::{Key, Token, Value};

/// Key number `i`.
pub fn key(i: u32) -> Key {
    Token::try_from(format!("key{i}").as_str()).expect("a valid key")
}

/// Writes keys `0..keys` to `store`, all with `value`, 64 to a command.
pub fn fill(store: &dyn Store, keys: u32, value: Value) {
    let all: Vec<u32> = (0..keys).collect();
    for chunk in all.chunks(64) {
        store.write(&WriteSet::from_pairs(
            chunk.iter().map(|&i| (key(i), value)),
        ));
    }
}

/// A seeded draw of key numbers below `keys` (xorshift64).
pub struct Draw {
    state: u64,
    keys: u32,
}

impl Draw {
    /// A draw from `seed`, which must not be zero.
    pub fn new(seed: u64, keys: u32) -> Self {
        assert!(seed != 0, "xorshift64 stays at zero");
        Self { state: seed, keys }
    }

    fn next(&mut self) -> u32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % u64::from(self.keys)) as u32
    }

    /// `width` distinct keys.
    pub fn distinct(&mut self, width: usize) -> Vec<Key> {
        let mut chosen: Vec<u32> = Vec::with_capacity(width);
        while chosen.len() < width {
            let next = self.next();
            if !chosen.contains(&next) {
                chosen.push(next);
            }
        }
        chosen.into_iter().map(key).collect()
    }
}
