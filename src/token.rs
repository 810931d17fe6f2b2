//! Keys and values: short byte strings stored inline.
//!
//! The course protocol fixes both at 1 to 40 bytes (a pipe message carries
//! them in 41-byte NUL-padded fields), so a [`Token`] keeps its bytes inline
//! instead of on the heap: copying one never allocates, which keeps reads and
//! notifications allocation-free on the hot path.
//!
//! Invariant: `len` is in `1..=MAX_TOKEN_LEN`, `bytes[..len]` holds only
//! [allowed bytes](is_token_byte) and `bytes[len..]` is all zero.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest key or value, in bytes.
pub const MAX_TOKEN_LEN: usize = 40;

/// A key or a value: 1 to 40 bytes, none of them whitespace, NUL, or one of
/// the job language's delimiters `( ) [ ] ,`.
#[derive(Clone, Copy)]
pub struct Token {
    len: u8,
    bytes: [u8; MAX_TOKEN_LEN],
}

/// A key of the store.
pub type Key = Token;
/// A value of the store.
pub type Value = Token;

/// Why a byte string is not a valid [`Token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Zero bytes long.
    #[error("empty key or value")]
    Empty,
    /// Over [`MAX_TOKEN_LEN`] bytes long.
    #[error("key or value longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    /// Holds a byte that [`is_token_byte`] rejects.
    #[error("key or value contains the forbidden byte {0:#04x}")]
    ForbiddenByte(u8),
}

/// Whether `byte` may appear in a key or value.
#[inline]
pub fn is_token_byte(byte: u8) -> bool {
    TOKEN_BYTES[usize::from(byte)]
}

/// Copies the token that starts `bytes` into `out` (all zero on entry) and
/// returns its length: its bytes up to the first that may not be in a
/// token, or `None` when there are none or more than [`MAX_TOKEN_LEN`]. With
/// [`Token::from_scanned`], what [`Token::scan_prefix`] is made of.
#[inline(always)]
pub(crate) fn scan_token_bytes(bytes: &[u8], out: &mut [u8; MAX_TOKEN_LEN]) -> Option<usize> {
    // The length is counted in a local: a field would be stored and
    // reloaded for every byte, since it could alias `out`.
    let mut len = 0;
    for &byte in bytes {
        if !is_token_byte(byte) {
            break;
        }
        *out.get_mut(len)? = byte;
        len += 1;
    }
    (len > 0).then_some(len)
}

/// [`is_token_byte`] as a table, so that validating a token costs one load
/// per byte.
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] =
            !b.is_ascii_whitespace() && !matches!(b, b'(' | b')' | b'[' | b']' | b',' | 0 | 0x0b);
        byte += 1;
    }
    table
};

impl Token {
    /// Validates `raw` and copies it into a token.
    #[inline]
    pub fn new(raw: &[u8]) -> Result<Self, TokenError> {
        if raw.is_empty() {
            return Err(TokenError::Empty);
        }
        if raw.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        if let Some(&bad) = raw.iter().find(|&&b| !is_token_byte(b)) {
            return Err(TokenError::ForbiddenByte(bad));
        }
        let mut bytes = [0u8; MAX_TOKEN_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The token that starts `bytes`: its bytes up to the first byte that
    /// may not be in a token (or to the end), checked and copied in one
    /// pass. `None` when that prefix is empty or longer than
    /// [`MAX_TOKEN_LEN`]; [`Token::new`] says why.
    // Always inlined: returned from a call, the 41-byte token is copied
    // through memory on its way to the command's list (callgrind).
    #[inline(always)]
    pub fn scan_prefix(bytes: &[u8]) -> Option<Self> {
        let mut out = [0; MAX_TOKEN_LEN];
        let len = scan_token_bytes(bytes, &mut out)?;
        Some(Self::from_scanned(out, len))
    }

    /// The token whose bytes [`scan_token_bytes`] put in `bytes`, `len` of
    /// them. Built from the parts, so a parser can scan into a local array
    /// and construct the token only where it is stored.
    #[inline(always)]
    pub(crate) fn from_scanned(bytes: [u8; MAX_TOKEN_LEN], len: usize) -> Self {
        debug_assert!((1..=MAX_TOKEN_LEN).contains(&len));
        debug_assert!(bytes[len..].iter().all(|&b| b == 0));
        Self {
            len: len as u8,
            bytes,
        }
    }

    /// A token spelled by `text`, checked when the constant holding it is
    /// compiled (an invalid `text` fails the build).
    pub const fn literal(text: &[u8]) -> Self {
        assert!(!text.is_empty() && text.len() <= MAX_TOKEN_LEN);
        let mut bytes = [0; MAX_TOKEN_LEN];
        let mut i = 0;
        while i < text.len() {
            assert!(TOKEN_BYTES[text[i] as usize], "not a token byte");
            bytes[i] = text[i];
            i += 1;
        }
        Self {
            len: text.len() as u8,
            bytes,
        }
    }

    /// The token's bytes with their zero padding: all [`MAX_TOKEN_LEN`] of
    /// them, so that a writer may copy a fixed-size field and then count
    /// only [`Token::as_bytes`]'s length.
    #[inline]
    pub fn padded_bytes(&self) -> &[u8; MAX_TOKEN_LEN] {
        &self.bytes
    }

    /// The token's bytes, without padding.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The token as a 41-byte NUL-padded field, as the pipe protocol sends it.
    pub fn to_padded_field(&self) -> [u8; MAX_TOKEN_LEN + 1] {
        let mut field = [0u8; MAX_TOKEN_LEN + 1];
        field[..MAX_TOKEN_LEN].copy_from_slice(&self.bytes);
        field
    }
}

impl TryFrom<&str> for Token {
    type Error = TokenError;
    fn try_from(s: &str) -> Result<Self, TokenError> {
        Token::new(s.as_bytes())
    }
}

impl Token {
    /// The `index`th 8-byte word of the zero-padded bytes, its first byte
    /// the most significant, so that words compare as the bytes do.
    #[inline]
    fn word(&self, index: usize) -> u64 {
        let start = index * 8;
        let word: [u8; 8] = self.bytes[start..start + 8]
            .try_into()
            .expect("a token holds five whole words");
        u64::from_be_bytes(word)
    }

    /// How many words hold the token's bytes.
    #[inline]
    fn word_count(&self) -> usize {
        usize::from(self.len).div_ceil(8)
    }
}

impl PartialEq for Token {
    /// Same length and same words (the padding is zero in both): a word
    /// compare per 8 bytes instead of a call to compare 40.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && (0..self.word_count()).all(|i| self.word(i) == other.word(i))
    }
}

impl Eq for Token {}

impl Ord for Token {
    /// Ascending byte order, the order SHOW, READ and DELETE report in.
    /// Compared a word at a time: no token holds a NUL and the padding is
    /// NUL, so a token that is a prefix of another compares lower, as a
    /// byte string does.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        let words = self.word_count().max(other.word_count());
        (0..words)
            .map(|i| self.word(i).cmp(&other.word(i)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Token {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Token {
    /// The length, then the 8-byte words the bytes occupy: the padding is
    /// zero, so equal tokens give equal words, and a hasher takes a word in
    /// one step where a byte slice costs it a loop (keys are short: one or
    /// two words).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.len);
        let words = usize::from(self.len).div_ceil(8);
        for word in self.bytes.chunks_exact(8).take(words) {
            let word: [u8; 8] = word.try_into().expect("chunks of eight bytes");
            state.write_u64(u64::from_le_bytes(word));
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Tokens for unit tests, written as text: `key("a")`, `value("anna")`.
#[cfg(test)]
pub mod testing {
    use super::{Key, Token, Value};

    /// The key `text`. A text that is not a valid token fails the test.
    pub fn key(text: &str) -> Key {
        Token::try_from(text).unwrap_or_else(|error| panic!("{text:?} is not a token: {error}"))
    }

    /// The value `text`. A text that is not a valid token fails the test.
    pub fn value(text: &str) -> Value {
        key(text)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_forty_plain_bytes() {
        assert_eq!(Token::new(b"a").unwrap().as_bytes(), b"a");
        let forty = [b'x'; 40];
        assert_eq!(Token::new(&forty).unwrap().as_bytes(), &forty);
    }

    #[test]
    fn rejects_empty_long_and_delimiters() {
        assert_eq!(Token::new(b""), Err(TokenError::Empty));
        assert_eq!(Token::new(&[b'x'; 41]), Err(TokenError::TooLong));
        for bad in [b"a b", b"a,b", b"a(b", b"a)b", b"a[b", b"a]b", b"a\tb"] {
            assert!(Token::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Token::new(b"a\0"), Err(TokenError::ForbiddenByte(0)));
    }

    #[test]
    fn the_byte_table_matches_the_token_rules() {
        for byte in 0..=u8::MAX {
            let allowed = !byte.is_ascii_whitespace() && !b"()[],\0\x0b".contains(&byte);
            assert_eq!(is_token_byte(byte), allowed, "{byte:#04x}");
        }
    }

    #[test]
    fn scan_prefix_stops_at_the_first_delimiter_and_bounds_the_length() {
        let scan = |bytes: &[u8]| Token::scan_prefix(bytes).map(|t| t.as_bytes().to_vec());
        assert_eq!(scan(b"key,rest"), Some(b"key".to_vec()));
        assert_eq!(scan(b"k)"), Some(b"k".to_vec()));
        assert_eq!(scan(b"abc"), Some(b"abc".to_vec()));
        assert_eq!(scan(b",abc"), None);
        assert_eq!(scan(b""), None);
        assert_eq!(scan(&[b'x'; 40]), Some(vec![b'x'; 40]));
        assert_eq!(scan(&[b'x'; 41]), None);
        let mut padded = [b'y'; 41];
        padded[40] = b']';
        assert_eq!(scan(&padded), Some(vec![b'y'; 40]));
        assert_eq!(
            Token::scan_prefix(b"ab c"),
            Some(Token::new(b"ab").unwrap())
        );
    }

    #[test]
    fn orders_by_bytes_not_length() {
        let b = Token::new(b"b").unwrap();
        let aa = Token::new(b"aa").unwrap();
        let a = Token::new(b"a").unwrap();
        assert!(a < aa && aa < b);
    }

    #[test]
    fn compares_and_orders_as_its_byte_strings_do() {
        // Across word boundaries, prefixes, high bytes and the longest.
        let texts: [&[u8]; 10] = [
            b"a",
            b"aa",
            b"aaaaaaaa",
            b"aaaaaaaa\x01",
            b"aaaaaaaab",
            b"aaaaaaab",
            b"b",
            b"\xff",
            b"\x01",
            &[b'z'; 40],
        ];
        for x in texts {
            for y in texts {
                let (tx, ty) = (Token::new(x).unwrap(), Token::new(y).unwrap());
                assert_eq!(tx.cmp(&ty), x.cmp(y), "{x:?} {y:?}");
                assert_eq!(tx == ty, x == y, "{x:?} {y:?}");
            }
        }
    }

    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;

    #[test]
    fn equal_tokens_hash_alike_and_different_ones_apart() {
        // Equal tokens hash alike (what the store's indexes rely on);
        // different ones hash apart, also across a word boundary and when
        // one is a prefix of the other, so an index never degrades into
        // one bucket.
        let state = RandomState::new();
        let hash = |bytes: &[u8]| state.hash_one(Token::new(bytes).unwrap());
        assert_eq!(hash(b"key"), hash(b"key"));
        let forty = [b'x'; 40];
        assert_eq!(hash(&forty), hash(&forty));
        let distinct: [&[u8]; 7] = [
            b"key",
            b"kez",
            b"ke",
            b"aaaaaaaa",
            b"aaaaaaaab",
            b"aaaaaaab",
            &forty,
        ];
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn displays_its_bytes_and_debugs_them_quoted() {
        let token = Token::new(b"a\xffb").unwrap();
        assert_eq!(token.to_string(), "a\u{fffd}b");
        assert_eq!(format!("{:?}", Token::new(b"k\"v").unwrap()), r#""k\"v""#);
    }

    #[test]
    fn padded_field_is_nul_terminated() {
        let field = Token::new(b"key").unwrap().to_padded_field();
        assert_eq!(&field[..4], b"key\0");
        assert!(field[3..].iter().all(|&b| b == 0));
    }
}
