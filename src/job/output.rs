//! The exact bytes a job writes to its `.out` file (and a backup to its
//! `.bck` file), as the course server prints them.

use crate::token::{Key, Value};
use std::io::{self, Write};

/// What `READ` prints for a missing key.
pub const READ_MISSING: &[u8] = b"KVSERROR";
/// What `DELETE` prints for a missing key.
pub const DELETE_MISSING: &[u8] = b"KVSMISSING";
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
#[inline(never)]
pub fn write_pair_list<'a>(
    out: &mut impl Write,
    pairs: impl IntoIterator<Item = (&'a Key, &'a [u8])>,
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (key, value) in pairs {
        out.write_all(b"(")?;
        out.write_all(key.as_bytes())?;
        out.write_all(b",")?;
        out.write_all(value)?;
        out.write_all(b")")?;
    }
    out.write_all(b"]\n")
}
