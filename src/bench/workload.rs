//! What the load generator's commands touch: key names, values, the random
//! draws, and the preloaded store.
//!
//! Everything here is per thread and allocation-free once built, so the
//! timed loop measures the store, not the generator.

use crate::store::{KeySet, Store, WriteSet};
use crate::token::{Token, MAX_TOKEN_LEN};

/// How many pairs one preload commit writes (fewer, larger commits make
/// preloading a million keys quick without changing what is measured).
const PRELOAD_BATCH: usize = 256;

/// Hex digits of a value that carries a send time (see [`stamped_value`]).
pub const STAMP_DIGITS: usize = 16;

/// The byte values are padded with.
const PAD: u8 = b'v';

/// The name of key number `index`: `k0`, `k1`, ...
pub fn key(index: usize) -> Token {
    Token::new(format!("k{index}").as_bytes()).expect("a k and decimal digits form a valid token")
}

/// Every key of a store of `count` keys, built once so commands copy them.
pub fn key_table(count: usize) -> Vec<Token> {
    (0..count).map(key).collect()
}

/// A value of `len` bytes (1 to 40) that spells `seq` in hex, padded.
pub fn value(seq: u64, len: usize) -> Token {
    padded(&hex(seq, 1), len)
}

/// A value of `len` bytes (at least [`STAMP_DIGITS`]) whose first 16 bytes
/// are `nanos` in fixed-width hex: the notification reader recovers the
/// send time from it, so no shared table is needed to measure delivery.
pub fn stamped_value(nanos: u64, len: usize) -> Token {
    padded(&hex(nanos, STAMP_DIGITS), len.max(STAMP_DIGITS))
}

/// The send time a [`stamped_value`] carries, if the bytes are one.
pub fn stamp_of(value: &[u8]) -> Option<u64> {
    // By hand rather than `from_str_radix` on a checked `str`: the reader
    // decodes every notification, and those two were most of its work.
    value
        .get(..STAMP_DIGITS)?
        .iter()
        .try_fold(0u64, |n, &digit| {
            Some(n << 4 | u64::from(hex_value(digit)?))
        })
}

/// The value of one hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `n` in lower-case hex, zero-padded to at least `width` digits (1 to 16),
/// with no allocation and no formatter: the load threads stamp every
/// write, and `format!` made that a fifth of a write's instructions.
fn hex(n: u64, width: usize) -> Vec16 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let significant = STAMP_DIGITS - n.leading_zeros() as usize / 4;
    let len = significant.max(width).clamp(1, STAMP_DIGITS);
    let mut out = Vec16 {
        bytes: [b'0'; STAMP_DIGITS],
        len,
    };
    for (place, byte) in out.bytes[..len].iter_mut().rev().enumerate() {
        *byte = DIGITS[(n >> (4 * place)) as usize & 0xf];
    }
    out
}

/// Up to 16 bytes on the stack.
struct Vec16 {
    bytes: [u8; STAMP_DIGITS],
    len: usize,
}

impl std::ops::Deref for Vec16 {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn padded(text: &[u8], len: usize) -> Token {
    let len = len.clamp(1, MAX_TOKEN_LEN);
    let mut bytes = [PAD; MAX_TOKEN_LEN];
    let used = text.len().min(len);
    bytes[..used].copy_from_slice(&text[..used]);
    Token::new(&bytes[..len]).expect("hex digits and padding form a valid token")
}

/// Writes keys `0..count`, `PRELOAD_BATCH` per commit.
pub fn preload(store: &dyn Store, keys: &[Token], value_bytes: usize) {
    let filler = value(0, value_bytes);
    for chunk in keys.chunks(PRELOAD_BATCH) {
        store.write(&WriteSet::from_pairs(chunk.iter().map(|&k| (k, filler))));
    }
}

/// A small, fast generator (xorshift64*), one per thread: no shared state,
/// and the same seed gives the same command stream.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The generator of thread `stream` for run seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        // SplitMix64 of the pair, so that nearby seeds and streams still
        // start far apart (xorshift needs a non-zero state).
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self { state: z | 1 }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound > 0`; the slight bias of a modulo is
    /// irrelevant at these bounds).
    #[inline]
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// The most keys one command touches.
pub const MAX_KEYS_PER_COMMAND: usize = 3;

/// Draws the 1 to 3 keys of one command into `out`.
#[inline]
pub fn draw_keys(rng: &mut Rng, keys: &[Token], out: &mut Vec<Token>) {
    out.clear();
    let count = 1 + rng.below(MAX_KEYS_PER_COMMAND);
    for _ in 0..count {
        out.push(keys[rng.below(keys.len())]);
    }
}

/// The read set of drawn keys.
pub fn read_set(drawn: &[Token]) -> KeySet {
    KeySet::from_keys(drawn.iter().copied())
}

/// The write set giving every drawn key `value`.
pub fn write_set(drawn: &[Token], value: Token) -> WriteSet {
    WriteSet::from_pairs(drawn.iter().map(|&k| (k, value)))
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn hex_spells_what_the_formatter_spells() {
        let mut rng = Rng::new(3, 0);
        let samples = [0, 1, 0xf, 0x10, 0xabc, u64::MAX]
            .into_iter()
            .chain((0..1000).map(|_| rng.next_u64() >> (rng.next_u64() % 64)));
        for n in samples {
            assert_eq!(&*hex(n, 1), format!("{n:x}").as_bytes());
            assert_eq!(&*hex(n, STAMP_DIGITS), format!("{n:016x}").as_bytes());
            assert_eq!(stamp_of(format!("{n:016X}vv").as_bytes()), Some(n));
        }
        assert_eq!(stamp_of(b"00000000000000g0"), None);
        assert_eq!(stamp_of(b"+000000000000000"), None);
    }

    #[test]
    fn values_have_the_requested_length() {
        for len in [1, 8, 16, 40] {
            assert_eq!(value(0xabc, len).as_bytes().len(), len);
        }
        assert_eq!(value(0xabc, 5).as_bytes(), b"abcvv");
    }

    #[test]
    fn stamps_round_trip() {
        let v = stamped_value(123_456_789, 20);
        assert_eq!(v.as_bytes().len(), 20);
        assert_eq!(stamp_of(v.as_bytes()), Some(123_456_789));
        assert_eq!(stamp_of(b"short"), None);
    }

    #[test]
    fn draws_one_to_three_keys_in_range() {
        let keys = key_table(10);
        let mut rng = Rng::new(7, 0);
        let mut out = Vec::new();
        for _ in 0..1000 {
            draw_keys(&mut rng, &keys, &mut out);
            assert!((1..=3).contains(&out.len()));
        }
        assert_ne!(Rng::new(7, 0).next_u64(), Rng::new(7, 1).next_u64());
    }
}
