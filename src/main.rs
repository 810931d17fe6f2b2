//! `kvs`: the key-value store server. All the work is in the library
//! ([`kvs::app::run`]); this binary sets up logging, parses the command
//! line, and turns the outcome into an exit status.

use clap::Parser;
use kvs::cli::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    init_logging();
    kvs::allocator::settle_huge_pages();
    let args = Args::parse();
    match kvs::app::run(&args) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            kvs::report(format_args!("kvs: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KVS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
}
