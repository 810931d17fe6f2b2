//! Writes a job file of the course's mixed workload to stdout (see
//! `kvs::bench::jobfile`): 45 % WRITE, 45 % READ and 10 % DELETE, each of
//! 1 to 3 keys drawn uniformly from `k0`..`k{KEYS-1}`. The same arguments
//! always give the same file.
//!
//!   cargo run --release --example jobgen -- LINES KEYS [SEED] > x.job

use kvs::bench::jobfile::write_job;
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
    let keys = usize::try_from(keys).expect("a key count that fits memory");
    let mut out = BufWriter::new(io::stdout().lock());
    write_job(&mut out, lines, keys, seed)?;
    out.flush()
}

fn usage() -> ! {
    eprintln!("usage: jobgen LINES KEYS [SEED]   (positive integers)");
    std::process::exit(2);
}
