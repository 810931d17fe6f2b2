//! Signals, handled by one thread.
//!
//! SIGINT, SIGTERM and SIGUSR1 are blocked in the main thread before any
//! other thread starts, so every thread inherits the mask and none of them
//! is ever interrupted by these signals; one thread takes them with
//! `sigwait` and acts on them as ordinary code, not in a signal handler.
//! SIGPIPE is ignored by the Rust runtime, so a write to a vanished client
//! returns `EPIPE` instead of killing the server.

use nix::sys::signal::{SigSet, Signal};
use std::io;
use std::thread::{self, JoinHandle};

/// What a handled signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGUSR1: end every session, keep serving.
    ResetSessions,
    /// SIGINT or SIGTERM: shut down gracefully.
    Shutdown,
}

/// Blocks the handled signals in the calling thread (and so in every thread
/// it starts afterwards).
pub fn block() -> io::Result<SigSet> {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGUSR1] {
        set.add(signal);
    }
    set.thread_block().map_err(io::Error::from)?;
    Ok(set)
}

/// Starts the signal thread; it calls `on_signal` for each signal and
/// returns after the first shutdown request.
pub fn spawn(
    set: SigSet,
    on_signal: impl Fn(Request) + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let request = match set.wait() {
                Ok(Signal::SIGUSR1) => Request::ResetSessions,
                Ok(_) => Request::Shutdown,
                Err(error) => {
                    tracing::error!(%error, "sigwait failed");
                    continue;
                }
            };
            on_signal(request);
            if request == Request::Shutdown {
                return;
            }
        })
}
