//! `kvs`: a key-value store server for the operating-systems course's `.job`
//! files, built around a lock-free multi-version store.
//!
//! From the bottom up (each module builds only on those listed before
//! it; `tests/architecture.rs` holds the exact diagram):
//!
//! * [`allocator`]: the binaries' allocator (mimalloc) and its huge pages.
//! * [`token`]: keys and values (1–40 bytes, stored inline).
//! * [`sync`]: the std/loom facade every synchronization primitive comes from.
//! * [`ring`]: the wait-free single-producer single-consumer ring that
//!   carries notifications from workers to a client's pipe writer.
//! * [`store`]: the [`Store`](store::Store) interface and its engines.
//! * [`format`](mod@format): every byte-exact string and output format of the course.
//! * [`backup`]: bounded, non-blocking backups.
//! * [`job`]: job files: parsing and running them.
//! * [`protocol`]: the named-pipe wire format, and the bounded pipe I/O
//!   both ends use.
//! * [`notify`]: notifications from a worker's commit to a client's pipe:
//!   worker ports, the commit-order merge, the doorbell, session slots,
//!   subscriptions and the pipe writer.
//! * [`server`]: server mode: the register FIFO, sessions over named pipes,
//!   signals.
//! * [`client`]: the client side of the pipe protocol (`kvs-client`).
//! * [`bench`](mod@bench): the `kvs-bench` load generator and its results tables.
//! * [`cli`]: the `kvs` command line.
//! * [`app`]: what `kvs` runs, in batch and server mode alike.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
// `clippy.toml` keeps std's synchronization types out of code a loom model
// can reach. The check means something only under `--features loom`, where
// `crate::sync` re-exports loom's types (without it `crate::sync` *is*
// std's), so Cargo.toml allows the lint and it is turned on here then.
#![cfg_attr(feature = "loom", warn(clippy::disallowed_types))]

pub mod allocator;
pub mod app;
pub mod backup;
// std: the load generator's flags and counters are its own; no loom model
// runs it.
#[allow(clippy::disallowed_types)]
pub mod bench;
pub mod cli;
pub mod client;
pub mod format;
pub mod job;
pub mod notify;
pub mod pace;
pub mod protocol;
pub mod ring;
pub mod server;
pub mod store;
pub mod sync;
pub mod token;

/// Shows an error and each of its causes once, as `error: cause: root
/// cause` (the same text as anyhow's `{:#}`).
///
/// Every error type of the crate follows one rule, so that no cause is
/// printed twice: its message states only its own layer, and its cause is
/// returned by `source()` and never repeated in the message. Whoever shows
/// an error to a person therefore shows the whole chain, with this or with
/// anyhow's `{:#}`.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// Writes one line to standard error. The server must keep serving when its
/// stderr is closed or broken (`eprintln!` would panic), so a failed write
/// is ignored.
pub fn report(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::ErrorChain;
    use std::io;

    /// How often `needle` occurs in `text`.
    fn occurrences(text: &str, needle: &str) -> usize {
        text.matches(needle).count()
    }

    /// Every error type that wraps a cause, shown through the chain printer
    /// and through anyhow (directly and behind `io::Error::other`, as the
    /// server reports them), names that cause exactly once.
    #[test]
    fn every_cause_is_printed_once() {
        let root = || io::Error::from(io::ErrorKind::NotFound);
        let root_text = root().to_string();
        let token = crate::token::Token::new(b"").unwrap_err();
        let token_text = token.to_string();
        let wrapped: Vec<(Box<dyn std::error::Error + Send + Sync>, &str)> = vec![
            (
                Box::new(crate::job::JobError::Directory {
                    path: "/jobs".into(),
                    source: root(),
                }),
                &root_text,
            ),
            (
                Box::new(crate::server::fifo::FifoError::Io {
                    path: "/register".into(),
                    source: root(),
                }),
                &root_text,
            ),
            (
                Box::new(crate::server::instance::ClaimError::Io {
                    path: "/.register.lock".into(),
                    source: root(),
                }),
                &root_text,
            ),
            (
                Box::new(crate::job::ParseError::BadToken(token)),
                &token_text,
            ),
            (
                Box::new(crate::protocol::ProtocolError::BadKey(token)),
                &token_text,
            ),
        ];
        for (error, cause) in wrapped {
            let shown = ErrorChain(&*error).to_string();
            assert_eq!(occurrences(&shown, cause), 1, "{shown}");
            let through_io = anyhow::Error::new(io::Error::other(error)).context("stopped");
            let shown = format!("{through_io:#}");
            assert_eq!(occurrences(&shown, cause), 1, "{shown}");
        }
    }
}
