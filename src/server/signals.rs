//! Signals, handled by one thread.
//!
//! SIGINT, SIGTERM, SIGHUP and SIGUSR1 are blocked in the main thread before
//! any other thread starts, so every thread inherits the mask and none of
//! them is ever interrupted by these signals; one thread takes them with
//! `sigwait` and acts on them as ordinary code, not in a signal handler.
//! SIGPIPE is ignored by the Rust runtime, so a write to a vanished client
//! returns `EPIPE` instead of killing the server.
//!
//! SIGHUP asks for the same graceful shutdown as SIGINT and SIGTERM (a
//! server whose terminal hangs up stops cleanly instead of dying). Once a
//! shutdown has started, the thread keeps waiting: a second SIGINT, SIGTERM
//! or SIGHUP means the user will not wait for it to finish (a backup still
//! writing, a client still draining), and the process exits at once with
//! status 1.

use nix::sys::signal::{SigSet, Signal};
use std::io;
use std::thread::{self, JoinHandle};

/// What a handled signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGUSR1: end every session, keep serving.
    ResetSessions,
    /// SIGINT, SIGTERM or SIGHUP: shut down gracefully.
    Shutdown,
}

/// Blocks the handled signals in the calling thread (and so in every thread
/// it starts afterwards).
pub fn block() -> io::Result<SigSet> {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ] {
        set.add(signal);
    }
    set.thread_block().map_err(io::Error::from)?;
    Ok(set)
}

/// The status a second shutdown signal exits with.
pub const FORCED_EXIT_STATUS: i32 = 1;

/// Starts the signal thread; it calls `on_signal` for each signal. After the
/// first shutdown request it stays until the process exits, and a second
/// one exits the process at once with [`FORCED_EXIT_STATUS`].
pub fn spawn(
    set: SigSet,
    on_signal: impl Fn(Request) + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut shutting_down = false;
            loop {
                let (signal, request) = match set.wait() {
                    Ok(Signal::SIGUSR1) => (Signal::SIGUSR1, Request::ResetSessions),
                    Ok(signal) => (signal, Request::Shutdown),
                    Err(error) => {
                        tracing::error!(%error, "sigwait failed");
                        continue;
                    }
                };
                if request == Request::Shutdown && shutting_down {
                    crate::report(format_args!(
                        "kvs: {signal} during shutdown: exiting at once"
                    ));
                    std::process::exit(FORCED_EXIT_STATUS);
                }
                shutting_down |= request == Request::Shutdown;
                on_signal(request);
            }
        })
}
