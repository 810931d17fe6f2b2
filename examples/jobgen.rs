//! Writes a job file of the course's mixed workload to stdout: 45 % WRITE,
//! 45 % READ and 10 % DELETE, each of 1 to 3 keys drawn uniformly from
//! `k0`..`k{KEYS-1}`. The same arguments always give the same file.
//!
//!   cargo run --release --example jobgen -- LINES KEYS [SEED] > x.job

use kvs::bench::workload::{draw_keys, key_table, value, Rng};
use kvs::token::Token;
use std::io::{self, BufWriter, Write};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `None`: absent; `Some(None)`: not a positive integer.
    let arg = |i: usize| {
        args.get(i)
            .map(|arg| arg.parse::<u64>().ok().filter(|&n| n > 0))
    };
    let (Some(Some(lines)), Some(Some(keys))) = (arg(0), arg(1)) else {
        usage()
    };
    let seed = match arg(2) {
        None => 1,
        Some(Some(seed)) => seed,
        Some(None) => usage(),
    };
    let keys = key_table(usize::try_from(keys).expect("a key count that fits memory"));
    let mut rng = Rng::new(seed, 0);
    let mut drawn = Vec::new();
    let mut out = BufWriter::new(io::stdout().lock());
    for seq in 0..lines {
        draw_keys(&mut rng, &keys, &mut drawn);
        let roll = rng.below(100);
        if roll < 45 {
            write_line(&mut out, &drawn, &value(seq, 8))?;
        } else {
            let word = if roll < 90 { "READ" } else { "DELETE" };
            key_line(&mut out, word, &drawn)?;
        }
    }
    out.flush()
}

fn usage() -> ! {
    eprintln!("usage: jobgen LINES KEYS [SEED]   (positive integers)");
    std::process::exit(2);
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
