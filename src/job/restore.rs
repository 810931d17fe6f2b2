//! `--restore FILE.bck`: loading a backup into the store before anything
//! runs.
//!
//! A backup is the `SHOW` format (see [`crate::format::write_show_lines`]):
//! one `(key, value)` line per key, keys in ascending byte order, each key
//! once. The whole file is parsed before the store is touched, so a
//! malformed file leaves the store empty and nothing runs; the error names
//! the file, the line and what is wrong with it.

use crate::store::{Store, WriteSet};
use crate::token::{Key, Token, TokenError, Value};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How many pairs go into one store commit while loading (the store is not
/// shared yet, so the grouping only saves commits).
const PAIRS_PER_COMMIT: usize = 4096;

/// Why a backup cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file cannot be read.
    #[error("cannot read the backup {}", path.display())]
    Io {
        /// The backup file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A line is not a `(key, value)` line of a backup.
    #[error("{}, line {line}: {reason}", path.display())]
    Malformed {
        /// The backup file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: LineError,
    },
}

/// What is wrong with one line of a backup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not `(key, value)`.
    #[error("expected a line \"(key, value)\"")]
    NotAPair,
    /// The key or the value breaks the token rules.
    #[error("bad key or value")]
    BadToken(#[source] TokenError),
    /// The key was on an earlier line too.
    #[error("the key {0} appears twice")]
    RepeatedKey(Key),
}

/// Parses one backup line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<(Key, Value), LineError> {
    let inner = line
        .strip_prefix(b"(")
        .and_then(|rest| rest.strip_suffix(b")"))
        .ok_or(LineError::NotAPair)?;
    let split = inner
        .windows(2)
        .position(|pair| pair == b", ")
        .ok_or(LineError::NotAPair)?;
    let (key, value) = (&inner[..split], &inner[split + 2..]);
    let token = |raw| Token::new(raw).map_err(LineError::BadToken);
    Ok((token(key)?, token(value)?))
}

/// Parses a whole backup: its pairs, in file order.
pub fn parse(path: &Path, text: &[u8]) -> Result<Vec<(Key, Value)>, RestoreError> {
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if body.is_empty() {
        return Ok(pairs);
    }
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let malformed = |reason| RestoreError::Malformed {
            path: path.to_path_buf(),
            line: index + 1,
            reason,
        };
        let (key, value) = parse_line(line).map_err(malformed)?;
        if !seen.insert(key) {
            return Err(malformed(LineError::RepeatedKey(key)));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Loads the backup at `path` into `store`; returns how many keys it held.
/// On any error the store is left untouched.
pub fn restore(path: &Path, store: &dyn Store) -> Result<usize, RestoreError> {
    let text = fs::read(path).map_err(|source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let pairs = parse(path, &text)?;
    for chunk in pairs.chunks(PAIRS_PER_COMMIT) {
        store.write(&WriteSet::from_pairs(chunk.iter().copied()));
    }
    Ok(pairs.len())
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::{key, value};

    #[test]
    fn parses_show_lines_and_names_the_bad_one() {
        let path = Path::new("x.bck");
        assert_eq!(
            parse(path, b"(a, 1)\n(b, two)\n").unwrap(),
            [(key("a"), value("1")), (key("b"), value("two"))]
        );
        assert!(parse(path, b"").unwrap().is_empty());
        assert_eq!(parse(path, b"(a, 1)").unwrap().len(), 1);
        for (text, line, reason) in [
            (&b"(a, 1)\n(b,2)\n"[..], 2, LineError::NotAPair),
            (b"(a, 1)\n\n", 2, LineError::NotAPair),
            (b"a, 1\n", 1, LineError::NotAPair),
            (b"(a, 1)\n(a, 2)\n", 2, LineError::RepeatedKey(key("a"))),
            (
                b"(a, 1 2)\n",
                1,
                LineError::BadToken(Token::new(b"1 2").unwrap_err()),
            ),
        ] {
            match parse(path, text) {
                Err(RestoreError::Malformed {
                    line: l, reason: r, ..
                }) => {
                    assert_eq!(
                        (l, r),
                        (line, reason),
                        "{:?}",
                        String::from_utf8_lossy(text)
                    );
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
            }
        }
    }
}
