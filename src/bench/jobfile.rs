//! The course's mixed job workload as a job file: 45 % `WRITE`, 45 % `READ`
//! and 10 % `DELETE`, each of 1 to 3 keys drawn uniformly from
//! `k0`..`k{KEYS-1}`, values spelling the line number. The same arguments
//! always give the same bytes, so the job-file experiment, the C yardstick's
//! test (which also checks that `kvs` finds no invalid line in it) and
//! `examples/jobgen.rs` all run one reproducible workload.

use super::workload::{draw_keys, key_table, value, Rng};
use crate::token::Token;
use std::io::{self, Write};

/// Bytes of every written value.
const VALUE_BYTES: usize = 8;

/// Writes `lines` commands over `keys` keys, drawn from `seed`, to `out`.
pub fn write_job(out: &mut impl Write, lines: u64, keys: usize, seed: u64) -> io::Result<()> {
    let keys = key_table(keys.max(1));
    let mut rng = Rng::new(seed, 0);
    let mut drawn = Vec::new();
    for seq in 0..lines {
        draw_keys(&mut rng, &keys, &mut drawn);
        let roll = rng.below(100);
        if roll < 45 {
            write_line(out, &drawn, &value(seq, VALUE_BYTES))?;
        } else {
            let word = if roll < 90 { "READ" } else { "DELETE" };
            key_line(out, word, &drawn)?;
        }
    }
    Ok(())
}

fn write_line(out: &mut impl Write, keys: &[Token], value: &Token) -> io::Result<()> {
    out.write_all(b"WRITE [")?;
    for key in keys {
        write!(out, "({key},{value})")?;
    }
    out.write_all(b"]\n")
}

fn key_line(out: &mut impl Write, word: &str, keys: &[Token]) -> io::Result<()> {
    write!(out, "{word} [")?;
    for (i, key) in keys.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        write!(out, "{comma}{key}")?;
    }
    out.write_all(b"]\n")
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_reproducible() {
        let mut first = Vec::new();
        write_job(&mut first, 2000, 50, 7).unwrap();
        let mut again = Vec::new();
        write_job(&mut again, 2000, 50, 7).unwrap();
        assert_eq!(first, again);
        let text = String::from_utf8(first).unwrap();
        assert_eq!(text.lines().count(), 2000);
        let count = |word: &str| text.lines().filter(|l| l.starts_with(word)).count();
        let (writes, reads, deletes) = (count("WRITE "), count("READ "), count("DELETE "));
        assert_eq!(writes + reads + deletes, 2000);
        // 45/45/10 within a few percent of 2,000 lines.
        assert!((800..1000).contains(&writes), "{writes}");
        assert!((800..1000).contains(&reads), "{reads}");
        assert!((120..280).contains(&deletes), "{deletes}");
    }
}
