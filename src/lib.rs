//! `kvs`: a key-value store server for the operating-systems course's `.job`
//! files, built around a lock-free multi-version store.
//!
//! * [`token`]: keys and values (1–40 bytes, stored inline).
//! * [`store`]: the [`Store`](store::Store) interface and its engines.
//! * [`job`]: job files: parsing, running, output.
//! * [`backup`]: bounded, non-blocking backups.
//! * [`bench`](mod@bench): the `kvs-bench` load generator and its results tables.
//! * [`cli`]: the `kvs` command line.
//! * [`client`]: the client side of the pipe protocol (`kvs-client`).
//! * [`ring`]: the wait-free single-producer single-consumer ring that
//!   carries notifications from workers to a client's pipe writer.
//! * [`server`]: server mode: sessions over named pipes, subscriptions,
//!   notifications merged in commit order, signals.
//! * [`sync`]: the std/loom facade every synchronization primitive comes from.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod backup;
pub mod bench;
pub mod cli;
pub mod client;
pub mod job;
pub mod ring;
pub mod server;
pub mod store;
pub mod sync;
pub mod token;

/// Writes one line to standard error. The server must keep serving when its
/// stderr is closed or broken (`eprintln!` would panic), so a failed write
/// is ignored.
pub fn report(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
