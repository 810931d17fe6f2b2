//! `kvs-bench`: the load generator (see `kvs::bench`).

use clap::Parser;
use kvs::bench::{self, args::Args};
use kvs::server::wire::PipeWire;
use std::process::ExitCode;

fn main() -> ExitCode {
    kvs::allocator::settle_huge_pages();
    let args = match Args::parse().validate() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("kvs-bench: {message}");
            return ExitCode::from(2);
        }
    };
    // The notification rig speaks the server's own wire.
    match bench::run::<PipeWire>(&args) {
        Ok(report) if args.json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kvs-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
