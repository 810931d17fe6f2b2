//! Every string and output format the course fixes byte for byte, in one
//! place: what a job writes to its `.out` file, what a backup writes to its
//! `.bck` file, the names of those files, the lines the server prints on
//! standard error, and the lines the client prints.
//!
//! Invariant: no other module spells one of these bytes itself; the course
//! tests compare outputs with `diff`, so a changed space here is a failed
//! test there. Only the wire protocol's fixed fields live elsewhere (in
//! the protocol module, below which this one sits), as does the job
//! language's syntax (the job parser, and the printer of commands that
//! mirrors it), which is read, not printed.

use crate::token::{Key, Token, Value, MAX_TOKEN_LEN};
use std::io::{self, Write};

/// The text `HELP` prints, byte for byte as the course server prints it.
pub const HELP_TEXT: &str = "Available commands:\n  \
WRITE [(key,value),(key2,value2),...]\n  \
READ [key,key2,...]\n  \
DELETE [key,key2,...]\n  \
SHOW\n  \
WAIT <delay_ms>\n  \
BACKUP\n  \
HELP\n";

/// What a job prints on stderr for an invalid line, as the course server does.
pub const INVALID_COMMAND: &str = "Invalid command. See HELP for usage";

/// What the server prints on stderr when a backup cannot be written.
pub const BACKUP_FAILED: &str = "Failed to perform backup.";

/// The extension of a job's output file: `X.job` writes `X.out`.
pub const OUTPUT_EXTENSION: &str = "out";

/// The file name of a job's `n`-th backup (from 1): `X-n.bck` for `X.job`.
pub fn backup_file_name(job_stem: &str, n: u64) -> String {
    format!("{job_stem}-{n}.bck")
}

/// What `READ` prints for a missing key.
pub const READ_MISSING: Token = Token::literal(b"KVSERROR");
/// What `DELETE` prints for a missing key.
pub const DELETE_MISSING: Token = Token::literal(b"KVSMISSING");
/// What `WAIT` prints before a positive delay.
pub const WAITING: &[u8] = b"Waiting...\n";

/// One `(k, v)` line per pair: the format of `SHOW` and of backup files.
pub fn write_show_lines(out: &mut impl Write, pairs: &[(Key, Value)]) -> io::Result<()> {
    for (key, value) in pairs {
        out.write_all(b"(")?;
        out.write_all(key.as_bytes())?;
        out.write_all(b", ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b")\n")?;
    }
    Ok(())
}

/// A bracketed list of `(k,v)` pairs on one line: `[(a,1)(b,KVSERROR)]`.
/// Kept out of line so that profiles show the output's cost by itself
/// (`benches/callgrind.sh`).
///
/// The line is put together in `scratch` and handed to `out` in one call
/// (or one per few pairs, for a long list), each token copied as its whole
/// padded field (a fixed-size copy) with the position then advanced by its
/// length: five `write_all` calls per pair, each with its own
/// variable-length copy, cost the job path more than the rest of the
/// output together (callgrind).
#[inline(never)]
pub fn write_pair_list<'a>(
    out: &mut impl Write,
    scratch: &mut ListScratch,
    pairs: impl IntoIterator<Item = (&'a Key, &'a Value)>,
) -> io::Result<()> {
    let line = &mut scratch.0;
    line[0] = b'[';
    let mut at = 1;
    for (key, value) in pairs {
        // Room for this pair and the closing `]\n`, or hand over the chunk.
        if at + PAIR_ROOM + 2 > line.len() {
            out.write_all(&line[..at])?;
            at = 0;
        }
        line[at] = b'(';
        at = put_token(line, at + 1, key);
        line[at] = b',';
        at = put_token(line, at + 1, value);
        line[at] = b')';
        at += 1;
    }
    line[at..at + 2].copy_from_slice(b"]\n");
    out.write_all(&line[..at + 2])
}

/// The room one pair may need while [`write_pair_list`] writes it: `(`,
/// `,`, `)` and two whole fields.
const PAIR_ROOM: usize = 2 * MAX_TOKEN_LEN + 3;

/// The buffer [`write_pair_list`] builds a line in: room for four pairs.
/// A job keeps one for all its lines, so none is zeroed per line.
#[derive(Debug)]
pub struct ListScratch([u8; 4 * PAIR_ROOM]);

impl Default for ListScratch {
    fn default() -> Self {
        Self([0; 4 * PAIR_ROOM])
    }
}

/// Copies `token`'s whole padded field into `line` at `at` (the bytes past
/// its length are overwritten by what follows it); the position after it.
#[inline(always)]
fn put_token(line: &mut [u8], at: usize, token: &Token) -> usize {
    line[at..at + MAX_TOKEN_LEN].copy_from_slice(token.padded_bytes());
    at + token.as_bytes().len()
}

/// The client's line after each server answer:
/// `Server returned <result> for operation: <operation>`.
pub fn write_server_returned(out: &mut impl Write, result: u8, operation: &str) -> io::Result<()> {
    writeln!(out, "Server returned {result} for operation: {operation}")
}

/// The client's line for one notification: `(key,value)`, the value being
/// `DELETED` for a deleted key (the key and value bytes as the server sent
/// them).
pub fn write_notification(out: &mut impl Write, key: &[u8], value: &[u8]) -> io::Result<()> {
    out.write_all(b"(")?;
    out.write_all(key)?;
    out.write_all(b",")?;
    out.write_all(value)?;
    out.write_all(b")\n")
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::{key, value};

    #[test]
    fn show_lines_and_pair_lists_are_the_courses_bytes() {
        let pairs = [(key("a"), value("1")), (key("b"), value("two"))];
        let mut show = Vec::new();
        write_show_lines(&mut show, &pairs).unwrap();
        assert_eq!(show, b"(a, 1)\n(b, two)\n");
        let mut list = Vec::new();
        let listed = [(&pairs[0].0, &pairs[0].1), (&pairs[1].0, &READ_MISSING)];
        write_pair_list(&mut list, &mut ListScratch::default(), listed).unwrap();
        assert_eq!(list, b"[(a,1)(b,KVSERROR)]\n");
        assert_eq!(DELETE_MISSING.as_bytes(), b"KVSMISSING");
        assert_eq!(backup_file_name("job", 2), "job-2.bck");
    }

    /// A list longer than one chunk of the line buffer, with tokens of
    /// every length up to the longest, comes out as the plain spelling.
    #[test]
    fn a_long_pair_list_is_written_whole_and_in_order() {
        let tokens: Vec<Token> = (1..=MAX_TOKEN_LEN)
            .map(|len| Token::new(&vec![b'a' + (len % 26) as u8; len]).unwrap())
            .collect();
        let pairs: Vec<(&Token, &Token)> = tokens.iter().zip(tokens.iter().rev()).collect();
        let mut expected = b"[".to_vec();
        for (key, value) in &pairs {
            expected
                .extend_from_slice(&[b"(", key.as_bytes(), b",", value.as_bytes(), b")"].concat());
        }
        expected.extend_from_slice(b"]\n");
        let mut list = Vec::new();
        write_pair_list(
            &mut list,
            &mut ListScratch::default(),
            pairs.iter().copied(),
        )
        .unwrap();
        assert_eq!(list, expected);
    }

    #[test]
    fn client_lines_are_the_courses_bytes() {
        let mut out = Vec::new();
        write_server_returned(&mut out, 0, "subscribe").unwrap();
        write_notification(&mut out, b"a", b"DELETED").unwrap();
        assert_eq!(
            out,
            b"Server returned 0 for operation: subscribe\n(a,DELETED)\n"
        );
    }
}
